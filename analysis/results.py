"""A results directory (``svi run --out``): the one place that knows its layout.

Every command reads and writes ``results/`` through :class:`ResultsDir`, which owns the paths below, saving and
loading their parts, and the check that panel, fit and tables come from one run::

    panel/                      the panel (analysis.panel): panel.parquet, manifest.json, panel_dictionary.csv, ...
    fit/posterior.nc            ArviZ InferenceData (model id, config and timings in its attributes)
    fit/gate.json               the convergence gate's verdict and figures
    fit/diagnostics/            ``svi diagnose``
    tables/<name>.parquet, .csv the result tables (analysis.summaries)
    tables/model.json           which fit (and panel) the tables were computed from
    tables/model_notes.txt      notes of the model data (e.g. indicators dropped)
    tables/UNPUBLISHABLE        present only when the gate failed: board documents refuse to render
    reports/                    methodology.html/.pdf; appendices/<CODE>_<kind>.pdf
    validation/, claims/        ``svi validate``, ``svi claims`` (each with manifest.json)
    variants/<name>/            refits of the model variants: posterior.nc, gate.json (like fit/)
    variants/sbc/<key>/         checkpoints of the validation sweeps (analysis.sweeps): rep-NNNNN.json per finished
    variants/backtest/<key>/    SBC replication, year-YYYY.json per finished backtest year; a rerun resumes there
    trend/                      ``svi trend fit``: posterior.nc, gate.json, the tables of TREND_TABLES, model_notes.txt
                                and UNPUBLISHABLE when its gate failed (a FitDir holding its own tables)
    validation/backtest/        ``svi validate --backtest``: summary, per_trust, gates (tables) and overall.json

Only light modules are imported here (the command line imports it at start-up); pandas and the modelling stack
are imported by the methods that need them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from analysis.errors import OutputError, SVIError

if TYPE_CHECKING:
    import pandas as pd

PANEL, FIT, TABLES, REPORTS, VALIDATION, VARIANTS, CLAIMS, TREND = (
    "panel", "fit", "tables", "reports", "validation", "variants", "claims", "trend")
#: every part of a results directory (used to recognise one)
PARTS = (PANEL, FIT, TABLES, REPORTS, VALIDATION, VARIANTS, CLAIMS, TREND)

#: the result tables of every fit (analysis.summaries.summarise), in the order they are written
POSTERIOR_TABLES = ("trust_effects", "health_alpha", "value_index", "ranks", "trapped_value", "avoidable_deaths",
                    "benchmark_sensitivity", "null_reference", "value_drivers", "equity_lens")
#: tables derived from those and the panel (analysis.summaries.derived_tables): what the reports show beside them
DERIVED_TABLES = ("shmi_funnel", "categories", "headlines", "need_context")
TABLE_NAMES = POSTERIOR_TABLES + DERIVED_TABLES

#: the command that owns ``tables/`` (analysis.io.atomic_dir): only its own files are ever replaced
TABLES_OWNER = "svi fit/summarise"
TABLE_SUFFIXES = (".parquet", ".csv")
#: the marker a failed gate leaves beside the tables it refused to publish
UNPUBLISHABLE = "UNPUBLISHABLE"
_TABLE_SIDE_FILES = ("model_notes.txt", UNPUBLISHABLE, "model.json")
#: the tables of the multi-year fit (``svi trend fit``, analysis.trend.movements), written in trend/
TREND_TABLES = ("health_alpha", "movements", "value_movement", "trends", "hyperparameters")
#: the tables of the backtest (``svi validate --backtest``), written in validation/backtest/
BACKTEST_TABLES = ("summary", "per_trust", "gates")


class FitDir:
    """A directory holding one saved fit and its gate record: ``fit/`` or ``variants/<name>/``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def posterior(self) -> Path:
        return self.path / "posterior.nc"

    @property
    def gate(self) -> Path:
        return self.path / "gate.json"

    @property
    def diagnostics(self) -> Path:
        return self.path / "diagnostics"

    @property
    def unpublishable(self) -> Path:
        """Present only when the fit here failed the gate (a directory that holds its own tables: ``trend/``)."""
        return self.path / UNPUBLISHABLE

    def table(self, name: str, suffix: str = ".parquet") -> Path:
        """A table written beside the fit (``trend/``: :data:`TREND_TABLES`)."""
        return self.path / f"{name}{suffix}"

    @property
    def model_notes(self) -> Path:
        return self.path / "model_notes.txt"

    def save(self, idata, gate_record: dict) -> None:
        """The posterior and its gate record, each written atomically."""
        from analysis import io
        from analysis.fitting import save_fit

        save_fit(idata, self.posterior)
        io.write_json(self.gate, gate_record)

    def load(self, panel: pd.DataFrame | None = None, cfg: dict | None = None):
        """The saved posterior; with ``panel`` and ``cfg`` a fit of other inputs (model id) is refused."""
        from analysis.fitting import load_fit

        return load_fit(self.posterior, panel, cfg)

    def read_gate(self) -> dict:
        """The gate record, ``{}`` when there is none."""
        return _read_json(self.gate, "refit with `svi fit`") if self.gate.exists() else {}


class ResultsDir:
    """Paths and reading/writing of one results directory (see the module docstring for the layout)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.fit = FitDir(self.root / FIT)

    def __repr__(self) -> str:
        return f"ResultsDir({str(self.root)!r})"

    def __truediv__(self, part: str) -> Path:
        if part not in PARTS:
            raise KeyError(f"{part!r} is not a part of a results directory ({', '.join(PARTS)})")
        return self.root / part

    # ------------------------------------------------------------------ paths
    @property
    def panel_dir(self) -> Path:
        return self.root / PANEL

    @property
    def panel_file(self) -> Path:
        return self.panel_dir / "panel.parquet"

    @property
    def panel_manifest(self) -> Path:
        return self.panel_dir / "manifest.json"

    @property
    def panel_dictionary(self) -> Path:
        return self.panel_dir / "panel_dictionary.csv"

    @property
    def quality_summary(self) -> Path:
        return self.panel_dir / "quality_summary.json"

    @property
    def equity_access(self) -> Path:
        """The equity-of-access table (analysis.equity_access): written by ``svi data build`` only when its
        publication is present."""
        return self.panel_dir / "equity_access.csv"

    @property
    def posterior(self) -> Path:
        return self.fit.posterior

    @property
    def gate(self) -> Path:
        return self.fit.gate

    @property
    def tables_dir(self) -> Path:
        return self.root / TABLES

    def table(self, name: str, suffix: str = ".parquet") -> Path:
        return self.tables_dir / f"{name}{suffix}"

    @property
    def tables_model(self) -> Path:
        return self.tables_dir / "model.json"

    @property
    def model_notes(self) -> Path:
        return self.tables_dir / "model_notes.txt"

    @property
    def unpublishable(self) -> Path:
        return self.tables_dir / UNPUBLISHABLE

    @property
    def reports_dir(self) -> Path:
        return self.root / REPORTS

    @property
    def paper_html(self) -> Path:
        return self.reports_dir / "methodology.html"

    @property
    def paper_pdf(self) -> Path:
        return self.reports_dir / "methodology.pdf"

    @property
    def appendices_dir(self) -> Path:
        return self.reports_dir / "appendices"

    def board_pdf(self, code: str, kind: str) -> Path:
        """A trust's board document: ``reports/appendices/<CODE>_<kind>.pdf`` (slide, appendix, handout)."""
        return self.appendices_dir / f"{code}_{kind}.pdf"

    def legacy_appendix(self, code: str) -> Path:
        """The single combined appendix PDF of earlier versions (removed when the three documents are written)."""
        return self.appendices_dir / f"appendix-{code}.pdf"

    @property
    def validation_dir(self) -> Path:
        return self.root / VALIDATION

    @property
    def claims_dir(self) -> Path:
        return self.root / CLAIMS

    def variant(self, name: str) -> FitDir:
        return FitDir(self.root / VARIANTS / name)

    @property
    def trend(self) -> FitDir:
        """``trend/``: the multi-year fit, its gate record and its tables (owned by ``svi trend fit``)."""
        return FitDir(self.root / TREND)

    @property
    def backtest_dir(self) -> Path:
        """``validation/backtest/``: the backtest's tables (owned by ``svi validate --backtest``)."""
        return self.validation_dir / "backtest"

    def backtest_table(self, name: str, suffix: str = ".parquet") -> Path:
        return self.backtest_dir / f"{name}{suffix}"

    @property
    def backtest_overall(self) -> Path:
        return self.backtest_dir / "overall.json"

    def sbc_checkpoint(self, key: str) -> Path:
        """One file per finished SBC replication (``svi validate``; key: model id with the SBC sampler)."""
        return self.root / VARIANTS / "sbc" / key

    def backtest_checkpoint(self, key: str) -> Path:
        """One file per finished backtest year (``svi validate --backtest``; key: :func:`analysis.trend.backtest.backtest_key`)."""
        return self.root / VARIANTS / "backtest" / key

    # ------------------------------------------------------------------ checks
    def check_out(self, *parts: str) -> None:
        """Refuse, before any work, a results directory where a file is in the way of it or of ``parts``."""
        out = self.root
        for anc in [out, *out.parents]:
            if anc.exists():
                if not anc.is_dir():
                    raise OutputError(f"--out {out}: {anc} is an existing file, not a results directory. Nothing was "
                                      "changed; give a directory (new, or one written by `svi run`).")
                break
        for part in parts:
            p = self / part
            if p.exists() and not p.is_dir():
                raise OutputError(f"--out {out}: {p} is a file, but this command writes a directory there. "
                                  "Nothing was changed; move the file or give another --out.")

    # ------------------------------------------------------------------ the fit
    def save_fit(self, idata, gate_record: dict) -> None:
        self.fit.save(idata, gate_record)

    def load_fit(self, panel: pd.DataFrame | None = None, cfg: dict | None = None):
        return self.fit.load(panel, cfg)

    def read_attrs(self) -> dict:
        """Root attributes of the saved fit (model id, config, gate, timings) without loading the draws."""
        path = self.posterior
        if not path.exists():
            return {}
        try:
            import h5netcdf

            with h5netcdf.File(path, "r") as f:
                attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
                if "posterior" in f.groups and "created_at" in f.groups["posterior"].attrs:
                    attrs["created_at"] = str(f.groups["posterior"].attrs["created_at"])
                return attrs
        except Exception as exc:  # truncated, damaged or not netCDF at all
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            raise SVIError(f"{path} cannot be read as a saved fit ({type(exc).__name__}: {first}): the file is "
                           f"damaged or incomplete, e.g. cut short by a full disk or an interrupted copy. Run `svi fit "
                           f"--out {self.root}` again to recreate it, then `svi report --out {self.root}`.") from None

    def read_sample_stats(self) -> dict:
        """Chains, draws, divergences per chain, mean tree depth and step size of the saved fit ({} if unreadable)."""
        path = self.posterior
        if not path.exists():
            return {}
        try:
            import xarray as xr

            with xr.open_dataset(path, group="sample_stats", engine="h5netcdf") as ss:
                out = {"chains": int(ss.sizes.get("chain", 0)), "draws": int(ss.sizes.get("draw", 0))}
                if "diverging" in ss:
                    out["divergences_by_chain"] = [int(v) for v in ss["diverging"].sum("draw").values]
                for name, key in (("tree_depth", "depth"), ("tree_depth", "tree_depth"), ("step_size", "step_size"),
                                  ("n_steps", "n_steps")):
                    if key in ss and name not in out:
                        out[name] = float(ss[key].mean())
                return out
        except Exception:
            return {}

    def fit_config(self, attrs: dict) -> dict:
        """The config the fit was made with (recorded in its attributes); a fit without one is refused."""
        if not attrs.get("svi_config"):
            raise SVIError(f"{self.posterior} does not record the model configuration it was fitted with (written by "
                           f"an older svi), so its results cannot be described. Refit with `svi fit --out "
                           f"{self.root}`, then try again.")
        return json.loads(attrs["svi_config"])

    # ------------------------------------------------------------------ the panel
    def read_panel(self) -> pd.DataFrame:
        from analysis import io
        from analysis.panel import read_panel

        if not self.panel_file.exists():
            raise SVIError(f"panel not found: {self.panel_file} (the report draws need and case-mix from it); the "
                           f"results directory is incomplete: rebuild it with `svi run --out {self.root}`")
        io.recover(self.panel_dir)
        return read_panel(self.panel_file)

    def read_panel_manifest(self) -> dict:
        return _read_json(self.panel_manifest, "rebuild the panel") if self.panel_manifest.exists() else {}

    def read_quality_summary(self) -> dict:
        return _read_json(self.quality_summary, "rebuild the panel") if self.quality_summary.exists() else {}

    def read_dictionary(self) -> pd.DataFrame | None:
        import pandas as pd

        return pd.read_csv(self.panel_dictionary) if self.panel_dictionary.exists() else None

    # ------------------------------------------------------------------ tables
    @staticmethod
    def _legacy_tables(d: Path) -> bool:
        """A tables directory written before the ownership marker: only tables and the files written beside them."""
        return all(p.suffix in TABLE_SUFFIXES or p.name in _TABLE_SIDE_FILES for p in d.iterdir())

    def write_tables(self, tables: dict[str, pd.DataFrame], model: dict, notes: list[str] | None = None,
                     unpublishable: str | None = None) -> Path:
        """Replace ``tables/`` as a whole (atomically, only when ``svi fit/summarise`` owns it)."""
        from analysis import io

        with io.atomic_dir(self.tables_dir, owner=TABLES_OWNER, legacy=self._legacy_tables) as tmp:
            for name, t in tables.items():
                io.write_table(t, tmp / name)
            io.write_json(tmp / self.tables_model.name, model)
            if notes:
                io.write_text(tmp / self.model_notes.name, "\n".join(notes) + "\n")
            if unpublishable is not None:
                io.write_text(tmp / self.unpublishable.name, unpublishable + "\n")
        return self.tables_dir

    def read_tables(self, names=TABLE_NAMES) -> dict[str, pd.DataFrame]:
        """The result tables; missing or damaged ones are an error saying how to make them again."""
        import pandas as pd

        tdir = self.tables_dir
        missing = [n for n in names if not self.table(n).exists()]
        if not tdir.is_dir() or missing:
            again = ("recompute them from the saved fit with `svi summarise --out " f"{self.root}`"
                     if tdir.is_dir() and (set(missing) <= set(DERIVED_TABLES) or self.posterior.exists()) else "run `svi run` or `svi fit` first")
            raise SVIError(f"{self.root} holds no complete result tables (missing in {tdir}: "
                           f"{', '.join(missing) or 'all'}); {again}")
        tables = {}
        for n in names:
            try:
                tables[n] = pd.read_parquet(self.table(n))
            except Exception as exc:
                raise SVIError(f"{self.table(n)} cannot be read ({type(exc).__name__}): the file is damaged; "
                               f"recompute the tables with `svi summarise --out {self.root}`") from None
        return tables

    def read_tables_model(self) -> dict:
        if not self.tables_model.exists():
            raise SVIError(f"{self.tables_dir} does not say which fit it was computed from (no model.json: written "
                           f"by an older svi), so it cannot be checked against fit/posterior.nc. Recompute the tables "
                           f"with `svi summarise --out {self.root}`, then render again.")
        doc = _read_json(self.tables_model, f"recompute the tables with `svi summarise --out {self.root}`")
        return doc if isinstance(doc, dict) else {}

    def read_text(self, path: Path) -> str | None:
        return path.read_text() if path.exists() else None

    def check_same_run(self, panel: pd.DataFrame, attrs: dict, gate: dict, tables_id: dict) -> None:
        """Refuse results whose panel, fit and tables come from different runs (as ``svi summarise`` refuses a fit
        made from another panel): documents would print one run's data beside another run's estimates."""
        from analysis.panel import panel_hash

        out = self.root
        fit_id = attrs.get("svi_model_id")
        problems = []
        if tables_id.get("model_id") != fit_id:
            problems.append(f"the tables were computed from fit {tables_id.get('model_id')}, but fit/posterior.nc is "
                            f"fit {fit_id}")
        if gate.get("model_id") not in (None, fit_id):
            problems.append(f"fit/gate.json belongs to fit {gate.get('model_id')}, not to fit/posterior.nc ({fit_id})")
        have = panel_hash(panel)
        if attrs.get("svi_panel_hash") != have:
            problems.append(f"panel/ (content hash {have}) is not the panel the fit was made from "
                            f"({attrs.get('svi_panel_hash') or 'not recorded'})")
        elif tables_id.get("panel_hash") not in (None, have):
            problems.append(f"the tables were computed on another panel ({tables_id.get('panel_hash')}, now {have})")
        if problems:
            raise SVIError(f"the results in {out} mix runs: {'; '.join(problems)}. Rendering them would print one "
                           "run's numbers beside another's estimates. Refit on the current panel with `svi fit --out "
                           f"{out}` (or, when only the tables are stale, recompute them with `svi summarise --out "
                           f"{out}`), then render again.")

    # ------------------------------------------------------------------ validation and claims manifests
    def read_manifest(self, part: str) -> dict | None:
        """The manifest of ``validation/`` or ``claims/``, None when there is none; a malformed one is an error (the
        paper must not quietly drop a section its reviewers expect)."""
        from analysis.manifest import read_manifest

        directory = self / part
        try:
            doc = read_manifest(directory)
        except (ValueError, OSError) as exc:
            raise SVIError(f"{directory / 'manifest.json'} cannot be read ({exc}); run the step again") from exc
        if doc is not None and (not isinstance(doc, dict) or not isinstance(doc.get("items"), list)):
            raise SVIError(f"{directory / 'manifest.json'} has no list of items; run the step again")
        return doc


def _read_json(path: Path, todo: str):
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise SVIError(f"{path} is not valid JSON ({exc}); the results directory is damaged: {todo}") from None
