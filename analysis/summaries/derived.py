"""Tables derived from the posterior tables and the panel, saved beside them: the reports only format these.

* :func:`shmi_funnel`   NHS Digital's SHMI funnel (:mod:`analysis.shmi_funnel`) of the panel: each trust's band,
  with the fitted overdispersion (``phi``) and between-trust variance (``tau2``);
* :func:`categories`    the categories a board reads: value position (national rank quartiles) and need-adjusted
  mortality (the rule is written here and only here);
* :func:`headlines`     the national figures (``measure``, ``value``): trapped value, avoidable deaths, rank widths,
  counts of trusts credibly above or below expectation, the funnel's parameters;
* :func:`need_context`  each trust's need and case-mix and its indicators beside its peers' (median and range,
  the trust itself left out) and England's, and each peer group's medians.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.shmi_funnel import shmi_banding
from analysis.summaries.trapped import trapped_headlines

#: panel columns of the need and case-mix context (on the panel's scale)
NEED_COLUMNS = ("imd_score", "share_aged_75_plus", "health_index_score", "ncc_expected_cost_total_gbp_m",
                "ncc_actual_cost_total_gbp_m", "catchment_population")


# ----------------------------------------------------------------------------- SHMI funnel

def shmi_funnel(panel: pd.DataFrame) -> pd.DataFrame:
    """The SHMI funnel of every trust with published observed and expected deaths (the published SHMI is banded
    when every such trust has one, else O/E).  Empty (same columns) with fewer than three such trusts."""
    p = panel.drop_duplicates("org_code")
    p = p[p.shmi_observed_deaths.notna() & p.shmi_expected_deaths.notna()].reset_index(drop=True)
    has_value = "shmi_value" in p.columns and p.shmi_value.notna().all()
    try:
        return shmi_banding(p, observed="shmi_observed_deaths", expected="shmi_expected_deaths",
                            shmi="shmi_value" if has_value else None, label="org_code")
    except ValueError:  # fewer than three trusts with SHMI: no funnel
        return shmi_banding(_three_trusts(), label="org_code").iloc[:0]


def _three_trusts() -> pd.DataFrame:
    return pd.DataFrame({"org_code": ["A", "B", "C"], "observed_deaths": [1.0, 2.0, 3.0],
                         "expected_deaths": [1.0, 2.0, 3.0]})


# ----------------------------------------------------------------------------- categories a board reads

def value_category(p_top, p_bottom) -> np.ndarray:
    """Value position from the national rank quartiles: P(top quartile) >= 0.9 "very likely", >= 0.5 "likely"
    best quarter; the same for the lowest quarter; otherwise "uncertain"."""
    p_top, p_bottom = np.asarray(p_top, float), np.asarray(p_bottom, float)
    return np.select([np.isnan(p_top), p_top >= 0.9, p_top >= 0.5, p_bottom >= 0.9, p_bottom >= 0.5],
                     ["not ranked", "best quarter (very likely)", "best quarter (likely)",
                      "lowest quarter (very likely)", "lowest quarter (likely)"], "uncertain")


def mortality_category(lo95, hi95) -> np.ndarray:
    """Need-adjusted mortality: the 95% interval of the SHMI ratio to expectation above 1, below 1, or across it."""
    lo95, hi95 = np.asarray(lo95, float), np.asarray(hi95, float)
    return np.select([np.isnan(lo95), lo95 > 1, hi95 < 1], ["no SHMI", "higher than expected", "lower than expected"],
                     "as expected")


def categories(tables: dict) -> pd.DataFrame:
    """Each ranked trust's value and mortality category (``org_code``, ``value``, ``mortality``)."""
    rk = tables["ranks"]
    nat = rk[rk.scope == "national"].set_index("org_code")
    ha = tables["health_alpha"]
    sh = ha[ha.measure == "shmi_ratio_to_expected"].set_index("org_code")
    out = pd.DataFrame({"value": value_category(nat.p_top_quartile, nat.p_bottom_quartile)}, index=nat.index)
    out["mortality"] = pd.Series(mortality_category(sh.lo95, sh.hi95), index=sh.index).reindex(out.index)
    out["mortality"] = out["mortality"].fillna("no SHMI")
    return out.rename_axis("org_code").reset_index()


# ----------------------------------------------------------------------------- national headlines

def headlines(tables: dict, funnel: pd.DataFrame | None = None) -> pd.DataFrame:
    """The national figures as a ``measure`` -> ``value`` table (NaN where the results have none)."""
    nan = float("nan")
    h: dict[str, float] = {}
    h.update(trapped_headlines(tables))  # gross and net trapped value, avoidable deaths, their null references
    rk = tables["ranks"]
    nat = rk[rk.scope == "national"].dropna(subset=["rank_median"])
    width = nat.rank_hi95 - nat.rank_lo95
    h.update({"ranks_n": float(nat.n_ranked.max()), "rank_width_median": float(width.median()),
              "rank_width_min": float(width.min()), "rank_width_max": float(width.max()),
              "ranks_top90": float((nat.p_top_quartile > 0.9).sum()),
              "ranks_bottom90": float((nat.p_bottom_quartile > 0.9).sum())})
    vi = tables["value_index"]
    val = vi[vi.measure == "value_index"]
    h.update({"value_above": float((val.lo95 > 0).sum()), "value_below": float((val.hi95 < 0).sum()),
              "value_n": float(val["median"].notna().sum()),
              "n_trusts": float(val.org_code.nunique()), "n_peer_groups": float(vi.peer_group.dropna().nunique())})
    ha = tables["health_alpha"]
    sh = ha[ha.measure == "shmi_ratio_to_expected"].dropna(subset=["median"])
    h.update({"shmi_n": float(len(sh)), "shmi_above": float((sh.lo95 > 1).sum()),
              "shmi_below": float((sh.hi95 < 1).sum())})
    h.update(mortality_agreement(sh, funnel))
    if funnel is not None and len(funnel):
        bands = funnel.band.value_counts()
        kept = funnel.in_fit & ~funnel.trimmed.astype(bool)
        h.update({"funnel_n": float(funnel.in_fit.sum()), "funnel_phi": float(funnel.phi.iloc[0]),
                  "funnel_tau2": float(funnel.tau2.iloc[0]), "funnel_kept": float(kept.sum()),
                  "funnel_higher": float(bands.get(1, 0)), "funnel_lower": float(bands.get(3, 0)),
                  "funnel_as_expected": float(bands.get(2, 0))})
    else:
        h.update({k: nan for k in ("funnel_n", "funnel_phi", "funnel_tau2", "funnel_kept", "funnel_higher",
                                   "funnel_lower", "funnel_as_expected")})
    return pd.DataFrame({"measure": list(h), "value": list(h.values())})


def mortality_agreement(shmi_ratio: pd.DataFrame, funnel: pd.DataFrame | None) -> dict[str, float]:
    """How the model's need-adjusted mortality flags (95% interval of the ratio wholly above or below 1) line up
    with NHS Digital's published banding, over the trusts that have both: ``mortality_<model>_<band>`` counts, each
    of model and band one of ``higher``, ``lower``, ``as_expected``."""
    cats = ("higher", "lower", "as_expected")
    out = {f"mortality_{m}_{b}": float("nan") for m in cats for b in cats}
    if funnel is None or not len(funnel) or shmi_ratio is None or not len(shmi_ratio):
        return out
    sh = shmi_ratio.set_index("org_code")
    f = funnel[funnel.in_fit.astype(bool)].set_index("org_code")
    both = sh.index.intersection(f.index)
    model = pd.Series(np.select([sh.lo95.reindex(both) > 1, sh.hi95.reindex(both) < 1], ["higher", "lower"],
                                "as_expected"), index=both)
    band = f.band.reindex(both).map({1: "higher", 2: "as_expected", 3: "lower"})
    for m in cats:
        for b in cats:
            out[f"mortality_{m}_{b}"] = float(((model == m) & (band == b)).sum())
    return out


def headline_values(table: pd.DataFrame) -> dict[str, float]:
    """A :func:`headlines` table as a dictionary."""
    return dict(zip(table.measure, table.value.astype(float)))


# ----------------------------------------------------------------------------- need and peer context

def need_context(tables: dict, panel: pd.DataFrame) -> pd.DataFrame:
    """Each trust's need, case-mix and Health Alpha beside its peers' and England's; each peer group's medians.

    Rows ``scope = "trust"``: ``org_code``, ``column`` (a panel column of :data:`NEED_COLUMNS` or a Health Alpha
    measure), ``value`` (the trust's), ``peer_median``, ``peer_min``, ``peer_max`` (the trust's peer group without
    it), ``england_median``.  Rows ``scope = "peer group"``: ``peer_group``, ``column``, ``value`` (the group's
    median).  Panel columns are on the panel's scale; missing values are left out of every median."""
    vi = tables["value_index"]
    info = vi[vi.measure == "value_index"].set_index("org_code")
    codes = list(info.index)
    group = info.peer_group.to_numpy()
    pan = panel.drop_duplicates("org_code").set_index("org_code")
    rows = []
    for col in NEED_COLUMNS:
        if col not in pan.columns:
            continue
        vals = pd.to_numeric(pan[col], errors="coerce").reindex(info.index).to_numpy(float)
        allv = vals[~np.isnan(vals)]
        england = float(np.median(allv)) if allv.size else np.nan
        for i, code in enumerate(codes):
            peers = group == group[i]
            peers[i] = False
            pv = vals[peers]
            pv = pv[~np.isnan(pv)]
            rows.append({"scope": "trust", "org_code": code, "peer_group": group[i], "column": col, "value": vals[i],
                         "peer_median": float(np.median(pv)) if pv.size else np.nan,
                         "peer_min": float(pv.min()) if pv.size else np.nan,
                         "peer_max": float(pv.max()) if pv.size else np.nan, "england_median": england})
    ha = tables["health_alpha"]
    alpha = {m: g.set_index("org_code") for m, g in ha.groupby("measure")}
    members = {g: list(idx) for g, idx in info.groupby("peer_group").groups.items()}
    # every indicator's Health Alpha measures (not the composite), in the table's order: the records' order
    for m in ha.measure[ha.indicator != "combined"].unique():
        t = alpha[m]
        for i, code in enumerate(codes):
            peers = [c for c in members[group[i]] if c != code]
            rows.append({"scope": "trust", "org_code": code, "peer_group": group[i], "column": m,
                         "value": t["median"].get(code, np.nan), "peer_median": t["median"].reindex(peers).median()})
    for g, idx in members.items():
        sub = pan.reindex(idx)
        for col in NEED_COLUMNS:
            if col in sub:
                rows.append({"scope": "peer group", "peer_group": g, "column": col, "value": sub[col].median()})
    cols = ["scope", "org_code", "peer_group", "column", "value", "peer_median", "peer_min", "peer_max",
            "england_median"]
    return pd.DataFrame(rows, columns=cols)


# ----------------------------------------------------------------------------- all of them

def derived_tables(tables: dict, panel: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The derived tables of a fit's tables and its panel, by name (see :data:`analysis.results.DERIVED_TABLES`)."""
    funnel = shmi_funnel(panel)
    return {"shmi_funnel": funnel, "categories": categories(tables), "headlines": headlines(tables, funnel),
            "need_context": need_context(tables, panel)}
