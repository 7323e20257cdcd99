"""Results access for the documents: everything they draw on, read through :class:`analysis.results.ResultsDir`
and checked to come from one run (panel, fit and tables)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.errors import SVIError
from analysis.results import CLAIMS, TABLE_NAMES, VALIDATION, ResultsDir
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

            self._fig = FigureData.from_tables(self.tables, self.panel)
        return self._fig


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
                   sample_stats=rd.read_sample_stats(), findings=_read_findings(rd.panel_dir / "quality_findings.csv"))


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
