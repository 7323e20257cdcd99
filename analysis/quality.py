"""The data-quality report: every trust in, every trust excluded and why, every changed value.

A :class:`QualityReport` is filled while the panel is assembled and written
beside it as Markdown (for people) and CSV/JSON (for machines).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from analysis import io

ACTIONS = ("set missing", "repaired", "derived", "imputed", "flagged", "column rejected")


@dataclass
class Finding:
    org_code: str | None
    column: str | None  # panel column affected (None for whole-column findings)
    action: str
    reason: str
    source: str = ""
    line: int | None = None
    raw_column: str | None = None
    old: object = None
    new: object = None

    def __post_init__(self):
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}")


@dataclass
class QualityReport:
    kind: str  # "real" or "synthetic"
    included: list[dict] = field(default_factory=list)
    excluded: list[dict] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    inputs: dict = field(default_factory=dict)  # raw file (path under raw/) -> rows, sha256; written in the manifest
    #: one row per official publication: used or not, the columns it supplies, the trusts it covers and those that
    #: fell back (analysis.precedence)
    sources: list[dict] = field(default_factory=list)
    column_sources: dict = field(default_factory=dict)  # panel column -> where its values came from (manifest)
    dictionary: dict = field(default_factory=dict)  # panel column -> source and period, for panel_dictionary.csv
    #: the reference list of open acute trusts the panel was checked against (None: no check, e.g. synthetic), and
    #: every trust of that list the panel lacks, with the reason
    reference: str | None = None
    missing: list[dict] = field(default_factory=list)

    def include(self, org_code: str, org_name: str, **extra) -> None:
        self.included.append({"org_code": org_code, "org_name": org_name, **extra})

    def exclude(self, org_code: str, org_name: str | None, reason: str, source: str = "", line: int | None = None):
        self.excluded.append({"org_code": org_code, "org_name": org_name, "reason": reason,
                              "source": source, "line": line})

    def add(self, *args, **kwargs) -> Finding:
        f = Finding(*args, **kwargs)
        self.findings.append(f)
        return f

    # ------------------------------------------------------------------ views
    def findings_frame(self) -> pd.DataFrame:
        cols = list(Finding.__dataclass_fields__)
        return pd.DataFrame([asdict(f) for f in self.findings], columns=cols)

    def counts(self) -> dict:
        f = self.findings_frame()
        return {
            "trusts_included": len(self.included),
            "organisations_excluded": len(self.excluded),
            "findings": len(f),
            "findings_by_action": f["action"].value_counts().to_dict() if len(f) else {},
            **({"reference": self.reference, "reference_trusts_missing": len(self.missing),
                "missing_trusts": [{k: m[k] for k in ("org_code", "org_name", "category")} for m in self.missing]}
               if self.reference else {}),
        }

    def markdown(self) -> str:
        f = self.findings_frame()
        lines = [f"# Data-quality report ({self.kind} panel)", ""]
        c = self.counts()
        lines += [f"- Trusts in the panel: **{c['trusts_included']}**",
                  f"- Organisations excluded: **{c['organisations_excluded']}**",
                  *([f"- Acute trusts in the reference list ({self.reference}) but not in the panel: "
                     f"**{len(self.missing)}**"] if self.reference else []),
                  f"- Value findings: **{c['findings']}** "
                  + ", ".join(f"{k}: {v}" for k, v in sorted(c["findings_by_action"].items())), ""]
        if self.notes:
            lines += ["## Notes", ""] + [f"- {n}" for n in self.notes] + [""]
        if self.sources:
            lines += ["## Sources of the panel columns", "",
                      "Official publications in the download cache supersede the shared compilation for the columns "
                      "they supply; every other column, and every column whose publication is not used, comes from "
                      "the compilation (manifest.json lists the source of every column).", "",
                      "| publication | panel columns | status | source | detail |", "|---|---|---|---|---|"]
            lines += [f"| {s['publication']} | {s['columns']} | {s['status']} | {s['source']} | {s['detail']} |"
                      for s in self.sources]
            lines.append("")
        col = f[f["org_code"].isna() & f["line"].isna()] if len(f) else f
        area = f[f["org_code"].isna() & f["line"].notna()] if len(f) else f
        if len(col):
            lines += ["## Whole-column findings", "", "| source | raw column | action | reason |", "|---|---|---|---|"]
            lines += [f"| {r.source} | {r.raw_column} | {r.action} | {r.reason} |" for r in col.itertuples()]
            lines.append("")
        if len(area):
            lines += ["## Values set missing in area and lookup files", "",
                      "| panel column | action | old | source:line (raw column) | reason |", "|---|---|---|---|---|"]
            for r in area.sort_values(["source", "line"]).itertuples():
                lines.append(f"| {r.column} | {r.action} | {_fmt(r.old)} | {r.source}:{int(r.line)} ({r.raw_column}) "
                             f"| {r.reason} |")
            lines.append("")
        row = f[f["org_code"].notna()] if len(f) else f
        if len(row):
            lines += ["## Value findings (by trust)", "",
                      "| trust | column | action | old | new | source:line (raw column) | reason |",
                      "|---|---|---|---|---|---|---|"]
            for r in row.sort_values(["org_code", "column"]).itertuples():
                where = r.source + ("" if pd.isna(r.line) else f":{int(r.line)}")
                where += f" ({r.raw_column})" if isinstance(r.raw_column, str) else ""
                lines.append(f"| {r.org_code} | {r.column} | {r.action} | {_fmt(r.old)} | {_fmt(r.new)} | {where} | {r.reason} |")
            lines.append("")
        if self.missing:
            lines += ["## Acute trusts missing from the panel", "",
                      f"Open acute trusts in the reference list ({self.reference}), followed to their current "
                      "successor, that the panel lacks: they have no indicators here, are not ranked, and are not in "
                      "any national total.", "", "| code | name | CQC category | reason |", "|---|---|---|---|"]
            lines += [f"| {m['org_code']} | {m['org_name']} | {m['category']} | {m['reason']} |" for m in self.missing]
            lines.append("")
        if self.excluded:
            ex = pd.DataFrame(self.excluded)
            lines += ["## Excluded organisations", ""]
            for reason, grp in ex.groupby("reason", sort=True):
                codes = ", ".join(f"{c}" for c in grp["org_code"])
                lines += [f"- **{reason}** ({len(grp)}): {codes}"]
            lines.append("")
        lines += ["## Trusts in the panel", "", "| code | name |", "|---|---|"]
        lines += [f"| {t['org_code']} | {t['org_name']} |" for t in sorted(self.included, key=lambda t: t["org_code"])]
        return "\n".join(lines) + "\n"

    def write(self, out_dir: Path) -> list[Path]:
        out_dir = Path(out_dir)
        paths = [io.write_text(out_dir / "quality_report.md", self.markdown())]
        paths += io.write_table(self.findings_frame().astype({"old": str, "new": str}), out_dir / "quality_findings",
                                formats=("csv",))
        paths += io.write_table(pd.DataFrame(self.excluded, columns=["org_code", "org_name", "reason", "source", "line"]),
                                out_dir / "quality_excluded", formats=("csv",))
        if self.reference:
            paths += io.write_table(pd.DataFrame(self.missing, columns=["org_code", "org_name", "category", "reason"]),
                                    out_dir / "quality_missing", formats=("csv",))
        paths.append(io.write_json(out_dir / "quality_summary.json", {**self.counts(), "notes": self.notes}))
        return paths


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
