"""Build the canonical panel (real or synthetic) and write it with its quality report.

Output directory layout (written atomically: the whole directory appears only
when every file in it has been written)::

    panel.parquet, panel.csv        the panel (schema: analysis/schema.py)
    panel_dictionary.csv            every column's meaning, unit, source, period
    quality_report.md (+ .csv/.json) trusts in, trusts excluded and why, every changed value
    truth.json, truth_trusts.parquet  (synthetic only) the true parameters
    equity_access.csv               (real data, only when the WLMDS IMD-decile file is present) each trust's gap in the
                                    share waiting within 18 weeks, most minus least deprived quintile (analysis.equity_access)
    manifest.json                   kind, seed or the files read (rows, sha256), the source of every column, content hash
    .svi-output.json                marks the directory as written by `svi data build` (see analysis.io)

Nothing in these files depends on where the raw data or the output lie: the same data give byte-identical
outputs from any path.  ``--out`` replaces only a directory this command wrote (``analysis.io.check_owned``);
a results directory, an ordinary file or a folder of other files is refused without touching it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import io, schema
from analysis.errors import DataError, SVIError
from analysis.quality import QualityReport

DEFAULT_SEED = 20260401
OWNER = "svi data build"
#: Every file a panel directory may hold (versions before the ownership marker are recognised by these).
PANEL_FILES = frozenset({"panel.parquet", "panel.csv", "panel_dictionary.csv", "quality_report.md",
                         "quality_findings.csv", "quality_excluded.csv", "quality_summary.json", "truth.json",
                         "truth_trusts.parquet", "truth_trusts.csv", "manifest.json", io.MARKER,
                         # the trust x financial-year panel beside the cross-section (analysis/trend/years.py)
                         "panel_years.parquet", "panel_years.csv", "panel_years_dictionary.csv",
                         "panel_years_report.md", "panel_years_findings.csv", "panel_years_successors.csv",
                         "panel_years_coverage.csv",
                         # the equity-of-access table, written only when its publication is present
                         "equity_access.csv"})
#: A build whose raw file has fewer rows than this share of the previous build's is reported.
ROW_DROP_WARN = 0.9


def panel_hash(panel: pd.DataFrame) -> str:
    """Content hash of a panel (row order and dtypes normalised; optional columns only where the panel has them, so a
    panel without them hashes as before they existed)."""
    p = panel[schema.present_columns(panel)].sort_values(["org_code", "period"]).reset_index(drop=True)
    h = hashlib.sha256(pd.util.hash_pandas_object(p, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass
class PanelResult:
    panel: pd.DataFrame
    report: QualityReport
    kind: str
    out: Path | None = None
    truth: dict | None = None
    truth_trusts: pd.DataFrame | None = None
    extra: dict = field(default_factory=dict)
    years: object = None  # the trust x financial-year panel (analysis.trend.years.YearPanelResult), real data only
    equity: pd.DataFrame | None = None  # equity-of-access table (analysis.equity_access), when its file is present

    def summary_text(self) -> str:
        p = self.panel
        lines = [f"SVI panel ({self.kind}), period {', '.join(sorted(p.period.unique()))}: {len(p)} acute trusts"]
        lines.append("  size classes: " + ", ".join(f"{k} {v}" for k, v in p.size_class.value_counts().items()))
        from models import indicators as registry

        have = [f"{r.short}: {int(np.isfinite(r.counts(p)[1]).sum())}" for r in registry.INDICATORS.values()
                if all(c in p for c in r.columns)]  # every indicator whose columns the panel has
        lines.append(f"  with {', '.join(have)}, NCC cost: {p.ncc_expected_cost_total_gbp_m.notna().sum()}")
        sh = p.shmi_observed_deaths / p.shmi_expected_deaths
        ci = p.ncc_actual_cost_total_gbp_m / p.ncc_expected_cost_total_gbp_m
        lines.append(f"  SHMI (O/E) median {sh.median():.3f} [IQR {sh.quantile(.25):.3f}-{sh.quantile(.75):.3f}]; "
                     f"cost index (actual/expected) median {ci.median():.3f} [IQR {ci.quantile(.25):.3f}-{ci.quantile(.75):.3f}]")
        c = self.report.counts()
        lines.append(f"  quality report: {c['organisations_excluded']} organisations excluded, {c['findings']} value findings "
                     + str(c["findings_by_action"]))
        if self.years is not None:
            lines.append("  " + self.years.summary_text().replace("\n", "\n  "))
        if self.equity is not None:
            lines.append(f"  equity of access: a gap for {int(self.equity.gap_pp_median.notna().sum())} of "
                         f"{len(self.equity)} trusts (equity_access.csv)")
        if self.out is not None:
            lines.append(f"  written to {self.out}")
        return "\n".join(lines)


def build(data_dir: str | Path | None = None, seed: int = DEFAULT_SEED,
          cache_dir: str | Path | None = None) -> PanelResult:
    """The synthetic default (no ``data_dir``), or the real panel from the compilation in ``data_dir`` with the
    official publications of the download cache (``cache_dir``, default ``$SVI_DATA_DIR`` or the default cache)
    superseding the columns they supply (:mod:`analysis.precedence`)."""
    if data_dir is None:
        from analysis.synthetic import generate

        panel, truth, trusts, report = generate(seed)
        return PanelResult(panel, report, "synthetic", truth=truth, truth_trusts=trusts, extra={"seed": seed})
    from analysis.real_panel import build_real_panel

    panel, report = build_real_panel(data_dir, cache_dir=cache_dir)
    result = PanelResult(panel, report, "real", extra={"inputs": report.inputs, "column_sources": report.column_sources})
    from analysis import equity_access

    located = equity_access.locate(data_dir, cache_dir)
    if located is not None:  # absent: nothing is written and nothing in the report or manifest changes
        result.equity, sentence, rows = equity_access.build_table(located, panel["org_code"].tolist())
        report.notes.append(sentence)
        report.inputs[located.file] = {"sha256": located.sha256, "rows": rows}
    from analysis.sources.monthly import MONTHLY_SOURCES
    from analysis.trend.years import build_from_data_dir

    absent = [f for s in MONTHLY_SOURCES.values() for f, p in zip(s.files, s.paths(Path(data_dir))) if not p.exists()]
    if absent:  # a data directory without the monthly files: the cross-section alone, and the report says why
        report.notes.append(f"No year panel (panel_years.*): raw/{', raw/'.join(absent)} not found; the trend model "
                            "needs the monthly files listed in PROVENANCE.md (sections 1, 3 and 10).")
    else:
        result.years = build_from_data_dir(data_dir, panel)  # the year panel, written beside the cross-section
        cancer = report.column_sources.get("cancer_fds_total", {})
        if cancer.get("official") and cancer.get("covered"):  # the year panel reads the compiled file alone
            result.years.notes.append(
                f"Cancer counts: every year from raw/{cancer['compiled'][0]}; the cross-section's 2025/26 counts came "
                f"from the official files ({cancer['file']}) for {cancer['covered']} trusts, so its 2025/26 cancer "
                "counts can differ from this panel's (quality_report.md compares the two sources).")
    return result


def _legacy_panel(d: Path) -> bool:
    """A panel directory written before the ownership marker: its manifest and only panel files."""
    try:
        doc = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and "panel_hash" in doc and {p.name for p in d.iterdir()} <= PANEL_FILES


def _hint(out: Path) -> str:
    from analysis.results import ResultsDir

    res = ResultsDir(out)
    if res.panel_dir.is_dir() or res.fit.path.is_dir():
        return (f"To rebuild the panel of this results directory give --out {res.panel_dir} (or `svi run --out "
                f"{out}`); to keep it, give a new directory.")
    return ""


def check_out(out: str | Path) -> None:
    """Refuse, before any work, an ``--out`` that the panel build does not own (see :func:`analysis.io.check_owned`)."""
    out = Path(out)
    io.recover(out)
    io.check_owned(out, OWNER, _legacy_panel, _hint(out))


def _compare_with_previous(result: PanelResult, out: Path) -> None:
    """Report raw files with markedly fewer rows than in the build this one replaces (a cut-off file)."""
    try:
        old = json.loads((out / "manifest.json").read_text(encoding="utf-8")).get("inputs") or {}
    except (OSError, ValueError, AttributeError):
        return
    for f, now in (result.extra.get("inputs") or {}).items():
        before = (old.get(f) or {}).get("rows") if isinstance(old.get(f), dict) else None
        if before and now.get("rows", 0) < ROW_DROP_WARN * before:
            msg = (f"raw/{f} has {now['rows']} data rows, against {before} in the build this one replaces: check "
                   "that the file is complete")
            result.report.notes.append(msg)
            io.log.warning(msg)


def write(result: PanelResult, out: str | Path) -> PanelResult:
    out = Path(out)
    check_out(out)
    _compare_with_previous(result, out)
    with io.atomic_dir(out, owner=OWNER, legacy=_legacy_panel, hint=_hint(out)) as tmp:
        io.write_table(result.panel, tmp / "panel")
        io.write_table(schema.dictionary(result.report.dictionary, present=result.panel.columns),
                       tmp / "panel_dictionary", formats=("csv",))
        result.report.write(tmp)
        if result.truth is not None:
            io.write_json(tmp / "truth.json", result.truth)
            io.write_table(result.truth_trusts, tmp / "truth_trusts")
        if result.years is not None:
            from analysis.trend.years import write_into

            write_into(result.years, tmp)
        if result.equity is not None:
            io.write_table(result.equity, tmp / "equity_access", formats=("csv",))
        io.write_json(tmp / "manifest.json", {"kind": result.kind, "n_trusts": len(result.panel),
                                              "panel_hash": panel_hash(result.panel), **result.extra})
    result.out = out
    return result


def build_and_write(data_dir: str | Path | None = None, out: str | Path = "results/panel",
                    seed: int = DEFAULT_SEED, cache_dir: str | Path | None = None) -> PanelResult:
    check_out(out)  # refuse a bad --out before the work, not after
    return write(build(data_dir, seed, cache_dir=cache_dir), out)


REBUILD = "rebuild it with `svi data build --out DIR` (add --data-dir for real data)"


def read_panel(path: str | Path) -> pd.DataFrame:
    """Read and validate a panel written by :func:`write` (a directory or a .parquet/.csv file).

    Every way this can fail (missing, empty, damaged or foreign file; a value outside its plausible range) raises
    :class:`DataError` naming the file and what to do."""
    path = Path(path)
    io.recover(path)
    if path.is_dir():
        path = path / "panel.parquet"
    if not path.exists():
        where = path.parent
        raise SVIError(f"no panel at {path}" + ("" if where.exists() else f" ({where} does not exist)")
                       + f"; {REBUILD}, or give the panel directory it was written to")
    if path.is_dir():
        raise DataError(path, f"is a directory, not a panel file; {REBUILD}")
    try:
        if path.suffix == ".parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, dtype={c.name: str for c in schema.COLUMNS if c.dtype == "str"})
    except Exception as exc:  # pyarrow raises its own types (ArrowInvalid, OSError) for damaged files
        what = "empty" if path.stat().st_size == 0 else f"not a readable {path.suffix.lstrip('.') or 'panel'} file"
        raise DataError(path, f"{what} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                              f"the file is damaged or was not written by svi; {REBUILD}") from None
    return schema.validate_panel(df, source=path)
