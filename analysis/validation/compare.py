"""Comparing model variants: by integrated LOO, and by how many trusts change the category a board would read.

Categories are the ones the board appendix prints (value position and need-adjusted mortality), defined in
:mod:`analysis.summaries.derived`.

The headline totals (trapped value, avoidable deaths) are compared with their intervals.
"""

from __future__ import annotations

import pandas as pd

import arviz as az

from analysis.summaries import derived


def categories(tables: dict) -> pd.DataFrame:
    """Each trust's value and mortality category (the rule: :mod:`analysis.summaries.derived`) and median rank."""
    out = derived.categories(tables).set_index("org_code")
    rk = tables["ranks"]
    out["rank_median"] = rk[rk.scope == "national"].set_index("org_code").rank_median
    return out


def headline_totals(tables: dict) -> dict:
    """The national trapped value and avoidable deaths (:func:`analysis.summaries.derived.headlines`)."""
    h = derived.headline_values(derived.headlines(tables))
    keys = ["trapped_value_median", "trapped_value_lo95", "trapped_value_hi95"]
    if "avoidable_deaths" in tables:
        keys += ["avoidable_deaths_median", "avoidable_deaths_lo95", "avoidable_deaths_hi95"]
    return {k: h[k] for k in keys}


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
