"""Build the canonical panel (real or synthetic) and write it with its quality report.

Output directory layout (written atomically: the whole directory appears only
when every file in it has been written)::

    panel.parquet, panel.csv        the panel (schema: analysis/schema.py)
    panel_dictionary.csv            every column's meaning, unit, source, period
    quality_report.md (+ .csv/.json) trusts in, trusts excluded and why, every changed value
    truth.json, truth_trusts.parquet  (synthetic only) the true parameters
    manifest.json                   kind, seed or data dir, row counts, content hash
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis import io, schema
from analysis.quality import QualityReport

DEFAULT_SEED = 20260401


def panel_hash(panel: pd.DataFrame) -> str:
    """Content hash of a panel (row order and dtypes normalised)."""
    p = panel[list(schema.COLUMN_NAMES)].sort_values(["org_code", "period"]).reset_index(drop=True)
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

    def summary_text(self) -> str:
        p = self.panel
        lines = [f"SVI panel ({self.kind}), period {', '.join(sorted(p.period.unique()))}: {len(p)} acute trusts"]
        lines.append("  size classes: " + ", ".join(f"{k} {v}" for k, v in p.size_class.value_counts().items()))
        lines.append(f"  with SHMI: {p.shmi_observed_deaths.notna().sum()}, RTT: {p.rtt_total_waiting.notna().sum()}, "
                     f"A&E: {p.ae_attendances.notna().sum()}, FFT: {p.fft_responses.notna().sum()}, "
                     f"NCC cost: {p.ncc_expected_cost_total_gbp_m.notna().sum()}")
        sh = p.shmi_observed_deaths / p.shmi_expected_deaths
        ci = p.ncc_actual_cost_total_gbp_m / p.ncc_expected_cost_total_gbp_m
        lines.append(f"  SHMI (O/E) median {sh.median():.3f} [IQR {sh.quantile(.25):.3f}-{sh.quantile(.75):.3f}]; "
                     f"cost index (actual/expected) median {ci.median():.3f} [IQR {ci.quantile(.25):.3f}-{ci.quantile(.75):.3f}]")
        c = self.report.counts()
        lines.append(f"  quality report: {c['organisations_excluded']} organisations excluded, {c['findings']} value findings "
                     + str(c["findings_by_action"]))
        if self.out is not None:
            lines.append(f"  written to {self.out}")
        return "\n".join(lines)


def build(data_dir: str | Path | None = None, seed: int = DEFAULT_SEED) -> PanelResult:
    if data_dir is None:
        from analysis.synthetic import generate

        panel, truth, trusts, report = generate(seed)
        return PanelResult(panel, report, "synthetic", truth=truth, truth_trusts=trusts, extra={"seed": seed})
    from analysis.real_panel import build_real_panel

    panel, report = build_real_panel(data_dir)
    return PanelResult(panel, report, "real", extra={"data_dir": str(Path(data_dir).resolve())})


def write(result: PanelResult, out: str | Path) -> PanelResult:
    out = Path(out)
    with io.atomic_dir(out) as tmp:
        io.write_table(result.panel, tmp / "panel")
        io.write_table(schema.dictionary(), tmp / "panel_dictionary", formats=("csv",))
        result.report.write(tmp)
        if result.truth is not None:
            io.write_json(tmp / "truth.json", result.truth)
            io.write_table(result.truth_trusts, tmp / "truth_trusts")
        io.write_json(tmp / "manifest.json", {"kind": result.kind, "n_trusts": len(result.panel),
                                              "panel_hash": panel_hash(result.panel), **result.extra})
    result.out = out
    return result


def build_and_write(data_dir: str | Path | None = None, out: str | Path = "results/panel",
                    seed: int = DEFAULT_SEED) -> PanelResult:
    return write(build(data_dir, seed), out)


def read_panel(path: str | Path) -> pd.DataFrame:
    """Read and validate a panel written by :func:`write` (a directory or a .parquet/.csv file)."""
    path = Path(path)
    if path.is_dir():
        path = path / "panel.parquet"
    df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    return schema.validate_panel(df)
