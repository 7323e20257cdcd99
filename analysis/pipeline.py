"""Panel -> fit -> tables, with the convergence gate deciding whether results may be published.

Layout under ``out``::

    fit/posterior.nc          ArviZ InferenceData (model id in its attributes)
    fit/gate.json             the convergence gate's verdict and figures
    tables/*.parquet, *.csv   trust effects, Health Alpha, value index, ranks, trapped value, avoidable deaths
    tables/UNPUBLISHABLE      present only when the gate failed; reports refuse to render from such tables
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import io
from analysis.fitting import convergence_gate, fit, gate_record, load_fit, save_fit
from analysis.summaries import summarise
from models.config import load_config
from models.value_model import prepare


def fit_and_summarise(panel: pd.DataFrame, out: str | Path, seed: int | None = None, config: str | Path | None = None,
                      overrides: dict | None = None, echo=print) -> dict:
    cfg = load_config(config, overrides)
    if seed is not None:
        cfg["sampler"]["seed"] = seed
    out = Path(out)
    idata, data, gate = fit(panel, cfg, echo=echo)
    save_fit(idata, out / "fit" / "posterior.nc")
    io.write_json(out / "fit" / "gate.json", gate_record(gate, idata))
    tables = write_tables(idata, data, cfg, gate, out, echo)
    return {"idata": idata, "data": data, "gate": gate, "tables": tables, "config": cfg}


def summarise_saved(panel: pd.DataFrame, out: str | Path, config: str | Path | None = None, seed: int | None = None,
                    echo=print) -> dict:
    """Tables from a saved fit; refuses a fit made from another panel, config (seed included) or model code."""
    cfg = load_config(config)
    if seed is not None:
        cfg["sampler"]["seed"] = seed
    out = Path(out)
    idata = load_fit(out / "fit" / "posterior.nc", panel, cfg)
    data = prepare(panel, cfg)
    gate = convergence_gate(idata, cfg)
    echo(gate.text())
    return {"tables": write_tables(idata, data, cfg, gate, out, echo), "gate": gate}


#: The command that owns ``tables/`` (see analysis.io.atomic_dir): only its own files are ever replaced.
TABLES_OWNER = "svi fit/summarise"
TABLE_SUFFIXES = (".parquet", ".csv")


def _legacy_tables(d: Path) -> bool:
    """A tables directory written before the ownership marker: only tables and the files written beside them."""
    return all(p.suffix in TABLE_SUFFIXES or p.name in ("model_notes.txt", "UNPUBLISHABLE", "model.json")
               for p in d.iterdir())


def write_tables(idata, data, cfg, gate, out: Path, echo) -> dict:
    """The result tables, with ``model.json`` naming the fit they came from (the report checks it)."""
    tables = summarise(idata, data, cfg)
    with io.atomic_dir(out / "tables", owner=TABLES_OWNER, legacy=_legacy_tables) as tmp:
        for name, t in tables.items():
            io.write_table(t, tmp / name)
        io.write_json(tmp / "model.json", {"model_id": idata.attrs.get("svi_model_id"),
                                           "panel_hash": idata.attrs.get("svi_panel_hash")})
        if data.notes:
            io.write_text(tmp / "model_notes.txt", "\n".join(data.notes) + "\n")
        if not gate.passed:
            io.write_text(tmp / "UNPUBLISHABLE", gate.text() + "\n")
    if not gate.passed:
        echo("!" * 78)
        echo("!! CONVERGENCE GATE FAILED: tables are written for diagnosis only and marked UNPUBLISHABLE;")
        echo("!! appendices will not be rendered from them.")
        echo("!" * 78)
    echo(headline(tables))
    echo(f"tables written to {out / 'tables'}")
    return tables


def headline(tables: dict) -> str:
    lines = []
    tv = tables["trapped_value"]
    eng = tv[(tv.org_code == "ENGLAND") & (tv.setting == "total")]
    if len(eng):
        r = eng.iloc[0]
        lines.append(f"trapped value (total cost, {r.benchmark}): GBP {r['median']:,.0f}m "
                     f"[95% CrI {r.lo95:,.0f}-{r.hi95:,.0f}m]")
    if "avoidable_deaths" in tables:
        ad = tables["avoidable_deaths"]
        r = ad[ad.org_code == "ENGLAND"].iloc[0]
        lines.append(f"avoidable deaths ({r.benchmark}): {r['median']:,.0f} [95% CrI {r.lo95:,.0f}-{r.hi95:,.0f}]")
    rk = tables["ranks"]
    nat = rk[rk.scope == "national"].dropna(subset=["rank_median"])
    width = (nat.rank_hi95 - nat.rank_lo95).median()
    lines.append(f"national ranks: median width of 95% rank interval {width:.0f} places of {int(nat.n_ranked.max())}; "
                 f"{(nat.p_top_quartile > 0.9).sum()} trusts with P(top quartile) > 0.9")
    return "\n".join(lines)
