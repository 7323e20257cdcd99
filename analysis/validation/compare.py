"""Comparing model variants: by integrated LOO, and by how many trusts change the category a board would read.

Categories are the ones the board appendix prints:

* value position (national ranks): P(top quartile) >= 0.9 "very likely best quarter", >= 0.5 "likely best
  quarter", P(bottom quartile) >= 0.9 / >= 0.5 likewise for the lowest quarter, otherwise "uncertain";
* need-adjusted mortality: the 95% interval of the SHMI ratio to need-adjusted expectation is above 1, below 1,
  or contains 1.

The headline totals (trapped value, avoidable deaths) are compared with their intervals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import arviz as az


def value_category(p_top, p_bottom) -> np.ndarray:
    p_top, p_bottom = np.asarray(p_top, float), np.asarray(p_bottom, float)
    return np.select([np.isnan(p_top), p_top >= 0.9, p_top >= 0.5, p_bottom >= 0.9, p_bottom >= 0.5],
                     ["not ranked", "best quarter (very likely)", "best quarter (likely)",
                      "lowest quarter (very likely)", "lowest quarter (likely)"], "uncertain")


def mortality_category(lo95, hi95) -> np.ndarray:
    lo95, hi95 = np.asarray(lo95, float), np.asarray(hi95, float)
    return np.select([np.isnan(lo95), lo95 > 1, hi95 < 1], ["no SHMI", "higher than expected", "lower than expected"],
                     "as expected")


def categories(tables: dict) -> pd.DataFrame:
    """Each trust's value and mortality category from a set of result tables."""
    rk = tables["ranks"]
    nat = rk[rk.scope == "national"].set_index("org_code")
    ha = tables["health_alpha"]
    sh = ha[ha.measure == "shmi_ratio_to_expected"].set_index("org_code")
    out = pd.DataFrame({"value": value_category(nat.p_top_quartile, nat.p_bottom_quartile)}, index=nat.index)
    out["mortality"] = pd.Series(mortality_category(sh.lo95, sh.hi95), index=sh.index).reindex(out.index)
    out["mortality"] = out["mortality"].fillna("no SHMI")
    out["rank_median"] = nat.rank_median
    return out


def headline_totals(tables: dict) -> dict:
    tv = tables["trapped_value"]
    t = tv[(tv.org_code == "ENGLAND") & (tv.setting == "total")].iloc[0]
    out = {"trapped_value_median": float(t["median"]), "trapped_value_lo95": float(t.lo95),
           "trapped_value_hi95": float(t.hi95)}
    if "avoidable_deaths" in tables:
        a = tables["avoidable_deaths"]
        a = a[a.org_code == "ENGLAND"].iloc[0]
        out.update({"avoidable_deaths_median": float(a["median"]), "avoidable_deaths_lo95": float(a.lo95),
                    "avoidable_deaths_hi95": float(a.hi95)})
    return out


def category_changes(base: pd.DataFrame, other: pd.DataFrame) -> dict:
    """How many trusts change value / mortality category, and Spearman correlation of median ranks."""
    j = base.merge(other, left_index=True, right_index=True, suffixes=("_base", "_var"))
    return {"value_changed": int((j.value_base != j.value_var).sum()),
            "mortality_changed": int((j.mortality_base != j.mortality_var).sum()),
            "rank_spearman": float(j.rank_median_base.corr(j.rank_median_var, method="spearman")),
            "max_rank_shift": float((j.rank_median_base - j.rank_median_var).abs().max()),
            "n_trusts": int(len(j))}


def loo_compare(loos: dict[str, az.ELPDData]) -> pd.DataFrame:
    """ArviZ model comparison of the variants' integrated LOO (same observations in every variant)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmp = az.compare(loos, ic="loo")
    cmp = cmp.reset_index().rename(columns={"index": "variant"})
    return cmp[["variant", "rank", "elpd_loo", "p_loo", "elpd_diff", "dse", "weight", "warning"]]


def transition_table(base: pd.DataFrame, other: pd.DataFrame, column: str = "value") -> pd.DataFrame:
    """Cross-tabulation of categories, base (rows) vs variant (columns)."""
    j = base.merge(other, left_index=True, right_index=True, suffixes=("_base", "_var"))
    return pd.crosstab(j[f"{column}_base"], j[f"{column}_var"])
