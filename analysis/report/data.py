"""Results access for the documents: everything they draw on, read through :class:`analysis.results.ResultsDir`
and checked to come from one run (panel, fit and tables)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.errors import SVIError
from analysis.results import BACKTEST_TABLES, CLAIMS, TABLE_NAMES, TREND_TABLES, VALIDATION, ResultsDir
from analysis.summaries.derived import headline_values

#: the producers whose manifests the paper renders (directories of the results)
MANIFEST_KINDS = (VALIDATION, CLAIMS)


class UnpublishableError(SVIError):
    """The results failed the convergence gate: trust appendices must not be rendered from them."""


@dataclass
class Results:
    """Everything the documents draw on, read from one results directory."""

    out: Path
    tables: dict[str, pd.DataFrame]
    panel: pd.DataFrame
    gate: dict
    attrs: dict
    config: dict
    manifest: dict
    quality: dict
    dictionary: pd.DataFrame | None
    unpublishable: str | None
    model_notes: str | None
    manifests: dict  # "validation" / "claims" -> (directory, manifest or None), see analysis.manifest
    sample_stats: dict = field(default_factory=dict)
    findings: pd.DataFrame | None = None  # panel/quality_findings.csv: why values were set missing
    trend: "Trend | None" = None  # the multi-year fit's tables and why they are (not) shown
    #: panel/equity_access.csv (analysis.equity_access): None when the run's data held no WLMDS IMD-decile file
    equity_access: pd.DataFrame | None = None
    _fig: object = None

    @property
    def headlines(self) -> dict[str, float]:
        return headline_values(self.tables["headlines"])

    @property
    def codes(self) -> list[str]:
        vi = self.tables["value_index"]
        return sorted(vi.loc[vi.measure == "value_index", "org_code"].unique())

    @property
    def figdata(self):
        if self._fig is None:
            from analysis.figures import FigureData

            self._fig = FigureData.from_tables(self.tables, self.panel,
                                               self.trend.tables if self.trend is not None and self.trend.ok else None)
        return self._fig


@dataclass
class Trend:
    """The multi-year fit (``svi trend fit``) as the documents use it: its tables when it passed its gate, else the
    one sentence that says why the documents show no movements; and the backtest (``svi validate --backtest``)."""

    tables: dict[str, pd.DataFrame] | None
    gate: dict
    reason: str  # why the movements are not shown ("" when they are); plain text, the documents escape it
    backtest: dict | None = None  # {"summary", "gates": DataFrame, "overall": dict}, None when not run
    short: str = ""  # the reason in a few words, for the slide's and the handout's one line

    @property
    def ok(self) -> bool:
        return self.tables is not None


def load_trend(rd: ResultsDir, panel_hash: str | None = None) -> Trend:
    """The trend fit of ``rd``: shown only when its gate passed (gate.json says so and no UNPUBLISHABLE marker)
    and, given the value-index fit's ``panel_hash``, when it was made from the same data build (the hash of the
    cross-section beside its year panel, recorded by ``svi trend fit``; a fit that records none, written by an
    older svi, is not checked).  A fit that passed but whose tables are missing or unreadable is an error (a page
    the board expects would otherwise vanish quietly)."""
    fd = rd.trend
    backtest = load_backtest(rd)
    if not fd.path.is_dir():
        return Trend(None, {}, "no multi-year (trend) fit is in these results (the command svi trend fit writes one)",
                     backtest, short="no multi-year fit is in these results")
    gate = fd.read_gate()
    if fd.unpublishable.exists() or not (isinstance(gate, dict) and gate.get("passed") is True):
        why = "its convergence gate failed" if gate else "it records no convergence gate"
        return Trend(None, gate if isinstance(gate, dict) else {}, f"the multi-year (trend) fit in these results is not "
                     f"shown because {why} (see {fd.gate})", backtest, short=f"the multi-year fit is not shown: {why}")
    made_from = gate.get("cross_section_panel_hash")
    if panel_hash is not None and made_from is not None and made_from != panel_hash:
        return Trend(None, gate, f"the multi-year (trend) fit in these results is not shown because it was made from "
                     f"another data build than the value index (its panel {made_from}, the value index's "
                     f"{panel_hash}); run `svi trend fit --out {rd.root}` on the current panel, then render again",
                     backtest, short="the multi-year fit is not shown: it comes from another data build")
    tables = {}
    for name in TREND_TABLES:
        path = fd.table(name)
        if not path.exists():
            if name == "hyperparameters":  # written by later versions of `svi trend fit`: the paper says so
                continue
            raise SVIError(f"{path} is missing: the trend fit in {fd.path} is incomplete, so its movements cannot be "
                           f"shown. Run `svi trend fit --out {rd.root}` again, then render again.")
        try:
            tables[name] = pd.read_parquet(path)
        except Exception as exc:
            raise SVIError(f"{path} cannot be read ({type(exc).__name__}): the file is damaged. Run `svi trend fit "
                           f"--out {rd.root}` again, then render again.") from None
    need = {"health_alpha": {"org_code", "indicator", "period", "median", "lo80", "hi80", "lo95", "hi95"},
            "movements": {"org_code", "indicator", "from", "to", "span", "median", "lo95", "hi95", "p_improved"},
            "trends": {"indicator", "scope", "period", "level_median", "level_lo95", "level_hi95"}}
    for name, cols in need.items():
        missing = sorted(cols - set(tables[name].columns))
        if missing:
            raise SVIError(f"{fd.table(name)} lacks the column(s) {', '.join(missing)} (written by another version "
                           f"of svi). Run `svi trend fit --out {rd.root}` again, then render again.")
    return Trend(tables, gate, "", backtest)


def load_backtest(rd: ResultsDir) -> dict | None:
    """The backtest's summary, gates and overall scores, None when it was not run."""
    if not rd.backtest_overall.exists():
        return None
    import json

    try:
        overall = json.loads(rd.backtest_overall.read_text())
        tabs = {n: pd.read_parquet(rd.backtest_table(n)) for n in BACKTEST_TABLES if n != "per_trust"
                and rd.backtest_table(n).exists()}
    except Exception as exc:
        raise SVIError(f"the backtest in {rd.backtest_dir} cannot be read ({type(exc).__name__}: {exc}); run `svi "
                       f"validate --backtest --out {rd.root}` again") from None
    return {"overall": overall if isinstance(overall, dict) else {}, **tabs}


def load_results(out: str | Path) -> Results:
    """Everything the documents draw on, read through :class:`analysis.results.ResultsDir` and checked to come
    from one run."""
    rd = ResultsDir(out)
    out = rd.root
    tables = rd.read_tables(TABLE_NAMES)
    panel = rd.read_panel()
    if not rd.posterior.exists():
        raise SVIError(f"no fit at {rd.posterior}: the tables in {rd.tables_dir} cannot be checked against the fit "
                       f"they were computed from, so they are not rendered. Run `svi fit --out {out}` (or `svi run "
                       f"--out {out}`) first.")
    tables_id = rd.read_tables_model()
    gate = rd.fit.read_gate()
    attrs = rd.read_attrs()
    rd.check_same_run(panel, attrs, gate if isinstance(gate, dict) else {}, tables_id)
    config = rd.fit_config(attrs)
    unpub, notes = rd.read_text(rd.unpublishable), rd.read_text(rd.model_notes)
    return Results(out=out, tables=tables, panel=panel, gate=gate, attrs=attrs, config=config,
                   manifest=rd.read_panel_manifest(), quality=rd.read_quality_summary(),
                   dictionary=rd.read_dictionary(), unpublishable=unpub.strip() if unpub is not None else None,
                   model_notes=notes, manifests={kind: (rd / kind, rd.read_manifest(kind)) for kind in MANIFEST_KINDS},
                   sample_stats=rd.read_sample_stats(), findings=_read_findings(rd.panel_dir / "quality_findings.csv"),
                   trend=load_trend(rd, attrs.get("svi_panel_hash")), equity_access=read_equity_access(rd.equity_access))


def read_equity_access(path: Path) -> pd.DataFrame | None:
    """The run's equity-of-access table, or None when the panel build wrote none (its publication was absent).  A
    table that is there but unreadable, or lacks a column the documents read, is an error: the documents would
    otherwise say the publication was absent when it was not."""
    from analysis.report.equity import ACCESS_COLUMNS

    if not path.exists():
        return None
    try:
        table = pd.read_csv(path, dtype={"org_code": str, "period": str, "note": str}, keep_default_na=False,
                            na_values=[""])
    except Exception as exc:  # pandas' parser errors have no common base worth naming
        raise SVIError(f"{path} cannot be read ({exc}): rebuild the panel with `svi data build` (it rewrites the "
                       f"equity-of-access table), then refit") from exc
    missing = [c for c in ACCESS_COLUMNS if c not in table.columns]
    if missing:
        raise SVIError(f"{path}, line 1: no column {', '.join(repr(c) for c in missing)} (the header has "
                       f"{', '.join(map(str, table.columns))}): it was not written by this version's `svi data "
                       f"build`; rebuild the panel, then refit")
    table["note"] = table["note"].fillna("")
    return table


def _read_findings(path: Path) -> pd.DataFrame | None:
    """The panel's data-quality findings (one row per value set missing, repaired, derived...), or None."""
    if not path.exists():
        return None
    try:
        return pd.read_csv(path, dtype=str)
    except Exception:  # the findings only explain missing values; the documents then give the generic reason
        return None


def config_value(res: Results, *keys, default="n/a"):
    d = res.config
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d
