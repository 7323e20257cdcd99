"""The one place `svi ask` reads a results directory (tables, panel, gate, config, the paper's sources).

Everything else in :mod:`analysis.ask` works on the :class:`RunTables` returned here, so that when the results
directory gets its own object (``analysis.results``), only this module changes.  Reading is light: the result
tables (parquet), the panel, ``fit/gate.json`` and ``tables/UNPUBLISHABLE``; the posterior is never opened (the
fit's configuration comes from ``models/default.toml`` unless the tables directory holds a copy).

A results directory whose fit failed the convergence gate is refused here, with the reason, before any answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis.errors import SVIError

#: tables of every fit (analysis.summaries.summarise)
POSTERIOR_TABLES = ("trust_effects", "health_alpha", "value_index", "ranks", "trapped_value", "avoidable_deaths")
#: optional tables another step may add; their answers say so when they are absent
OPTIONAL_TABLES = ("shmi_funnel", "trend")


class GateRefusal(SVIError):
    """The results failed (or cannot show they passed) the convergence gate: nothing is answered from them."""


@dataclass
class RunTables:
    """A results directory's tables and context, read once."""

    out: Path
    tables: dict[str, pd.DataFrame]
    panel: pd.DataFrame
    gate: dict
    config: dict
    kind: str = "unknown"  # synthetic | real
    funnel: pd.DataFrame | None = None  # NHS Digital SHMI banding of the panel (org_code index)
    extra: dict = field(default_factory=dict)

    @property
    def period(self) -> str:
        if "period" not in self.panel:
            return "n/a"
        return ", ".join(sorted(self.panel["period"].astype(str).unique()))

    def table(self, name: str) -> pd.DataFrame | None:
        return self.tables.get(name)


def display_name(name: str) -> str:
    """The report's readable form of a published (capitals) trust name."""
    from analysis.report import display_name as dn

    return dn(name)


def papers_dir() -> Path:
    from analysis.resources import papers_dir as pd_

    return pd_()


def check_gate(out: Path) -> dict:
    """The gate record; a :class:`GateRefusal` when the fit failed the gate or no record says it passed."""
    from analysis.results import ResultsDir

    rd = ResultsDir(out)
    unpub, gpath = rd.unpublishable, rd.gate
    if unpub.exists():
        reason = unpub.read_text().strip().splitlines()
        raise GateRefusal(
            f"the results in {out} failed the convergence gate ({reason[0][:200] if reason else 'tables/UNPUBLISHABLE'}"
            "), so svi ask does not answer from them: their numbers may not describe the posterior. Fix the fit "
            f"(`svi diagnose --out {out}` says where it fails), refit with `svi fit --out {out}`, then ask again.")
    if not gpath.exists():
        raise GateRefusal(f"{gpath} is missing, so svi ask cannot tell whether the fit behind {out / 'tables'} passed "
                          f"the convergence gate; refit with `svi fit --out {out}` (or `svi run --out {out}`), then "
                          "ask again.")
    try:
        gate = json.loads(gpath.read_text())
    except ValueError as exc:
        raise GateRefusal(f"{gpath} is not valid JSON ({exc}); refit with `svi fit --out {out}`.") from None
    if not isinstance(gate, dict) or gate.get("passed") is not True:
        failing = ", ".join(map(str, (gate.get("failing") or [])[:5])) if isinstance(gate, dict) else ""
        raise GateRefusal(
            f"the fit in {out / 'fit'} failed the convergence gate{f' (failing: {failing})' if failing else ''}, so "
            "svi ask does not answer from it. Run `svi diagnose --out " f"{out}` to see where, refit with `svi fit "
            f"--out {out}`, then ask again.")
    return gate


def load(out: str | Path) -> RunTables:
    """Read a results directory written by `svi run` / `svi fit` (gate checked first)."""
    out = Path(out)
    tdir = out / "tables"
    if not tdir.is_dir():
        raise SVIError(f"{out} holds no result tables ({tdir} is missing). Run `svi run --out {out}` (or `svi fit "
                       f"--out {out}`) first, or point --out at a results directory.")
    gate = check_gate(out)
    missing = [n for n in POSTERIOR_TABLES if not (tdir / f"{n}.parquet").exists()]
    if missing:
        raise SVIError(f"{tdir} is incomplete (missing: {', '.join(missing)}); recompute the tables with `svi "
                       f"summarise --out {out}`.")
    tables = {}
    for n in POSTERIOR_TABLES + OPTIONAL_TABLES:
        p = tdir / f"{n}.parquet"
        if p.exists():
            try:
                tables[n] = pd.read_parquet(p)
            except Exception as exc:
                raise SVIError(f"{p} cannot be read ({type(exc).__name__}): the file is damaged; recompute the "
                               f"tables with `svi summarise --out {out}`.") from None
    ppath = out / "panel" / "panel.parquet"
    if not ppath.exists():
        raise SVIError(f"panel not found: {ppath}; the results directory is incomplete: rebuild it with "
                       f"`svi run --out {out}`.")
    panel = pd.read_parquet(ppath)
    manifest = {}
    mpath = out / "panel" / "manifest.json"
    if mpath.exists():
        try:
            manifest = json.loads(mpath.read_text())
        except ValueError:
            manifest = {}
    from models.config import load_config

    config = load_config()
    run = RunTables(out=out, tables=tables, panel=panel, gate=gate, config=config,
                    kind=str(manifest.get("kind", "unknown")))
    run.funnel = _funnel(run)
    return run


def _funnel(run: RunTables) -> pd.DataFrame | None:
    """NHS Digital's SHMI banding: the ``shmi_funnel`` table when the run wrote one, else computed from the panel
    with the published method (:mod:`analysis.shmi_funnel`)."""
    t = run.tables.get("shmi_funnel")
    if t is not None and "org_code" in t:
        return t.set_index("org_code")
    cols = ["shmi_observed_deaths", "shmi_expected_deaths", "shmi_value"]
    pan = run.panel.drop_duplicates("org_code")
    if not all(c in pan for c in cols):
        return None
    from analysis.shmi_funnel import shmi_banding

    try:
        f = shmi_banding(pan.reset_index(drop=True), observed=cols[0], expected=cols[1], shmi=cols[2],
                         label="org_code")
    except ValueError:
        return None
    return f.set_index("org_code")
