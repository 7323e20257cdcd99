"""Panel -> fit -> tables, with the convergence gate deciding whether results may be published.

The layout of the results directory is :mod:`analysis.results`'s; the tables are :mod:`analysis.summaries`'s.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.fitting import convergence_gate, fit, gate_record
from analysis.results import ResultsDir
from analysis.summaries import derived_tables, summarise
from analysis.summaries.derived import headline_values
from models.config import for_panel, load_config
from models.value_model import prepare


def fit_and_summarise(panel: pd.DataFrame, out: str | Path, seed: int | None = None, config: str | Path | None = None,
                      overrides: dict | None = None, echo=print) -> dict:
    cfg = for_panel(load_config(config, overrides), panel)  # + indicators whose data the panel has (readmissions)
    if seed is not None:
        cfg["sampler"]["seed"] = seed
    res = ResultsDir(out)
    idata, data, gate = fit(panel, cfg, echo=echo)
    res.save_fit(idata, gate_record(gate, idata))
    tables = write_tables(idata, data, cfg, gate, res, echo, panel)
    return {"idata": idata, "data": data, "gate": gate, "tables": tables, "config": cfg}


def summarise_saved(panel: pd.DataFrame, out: str | Path, config: str | Path | None = None, seed: int | None = None,
                    echo=print) -> dict:
    """Tables from a saved fit; refuses a fit made from another panel, config (seed included) or model code."""
    cfg = for_panel(load_config(config), panel)
    if seed is not None:
        cfg["sampler"]["seed"] = seed
    res = ResultsDir(out)
    idata = res.load_fit(panel, cfg)
    data = prepare(panel, cfg)
    gate = convergence_gate(idata, cfg)
    echo(gate.text())
    return {"tables": write_tables(idata, data, cfg, gate, res, echo, panel), "gate": gate}


def write_tables(idata, data, cfg, gate, res: ResultsDir, echo, panel: pd.DataFrame) -> dict:
    """The result tables and those derived from them, with ``model.json`` naming the fit they came from (the report
    checks it)."""
    tables = summarise(idata, data, cfg)
    tables.update(derived_tables(tables, panel))
    res.write_tables(tables, {"model_id": idata.attrs.get("svi_model_id"),
                              "panel_hash": idata.attrs.get("svi_panel_hash")},
                     notes=data.notes, unpublishable=None if gate.passed else gate.text())
    if not gate.passed:
        echo("!" * 78)
        echo("!! CONVERGENCE GATE FAILED: tables are written for diagnosis only and marked UNPUBLISHABLE;")
        echo("!! appendices will not be rendered from them.")
        echo("!" * 78)
    echo(headline(tables))
    echo(f"tables written to {res.tables_dir}")
    return tables


def headline(tables: dict) -> str:
    """The national figures in three lines, for the log."""
    h = headline_values(tables["headlines"])
    lines = []
    if h["trapped_value_mean"] == h["trapped_value_mean"]:
        bench = tables["trapped_value"].benchmark.iloc[0]
        what = "sum of care settings" if h.get("trapped_value_is_gross") else "total cost"
        lines.append(f"trapped value ({what}, {bench}): GBP {h['trapped_value_mean']:,.0f}m "
                     f"[95% CrI {h['trapped_value_lo95']:,.0f}-{h['trapped_value_hi95']:,.0f}m]; null reference "
                     f"GBP {h['trapped_value_null_mean']:,.0f}m; net of settings, all costs GBP "
                     f"{h['trapped_value_net_mean']:,.0f}m")
    if "avoidable_deaths" in tables:
        bench = tables["avoidable_deaths"].benchmark.iloc[0]
        lines.append(f"avoidable deaths ({bench}): {h['avoidable_deaths_mean']:,.0f} "
                     f"[95% CrI {h['avoidable_deaths_lo95']:,.0f}-{h['avoidable_deaths_hi95']:,.0f}]; null reference "
                     f"{h['avoidable_deaths_null_mean']:,.0f} [{h['avoidable_deaths_null_lo95']:,.0f}-"
                     f"{h['avoidable_deaths_null_hi95']:,.0f}]")
    lines.append(f"national ranks: median width of 95% rank interval {h['rank_width_median']:.0f} places of "
                 f"{int(h['ranks_n'])}; {int(h['ranks_top90'])} trusts with P(top quartile) > 0.9")
    return "\n".join(lines)
