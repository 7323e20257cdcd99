"""Agreement with NHS Digital's SHMI method on the same data.

Re-bands every trust with the published method (``analysis/shmi_funnel.py``), checks the banding against the
banding published with the data (real panel), and cross-tabulates it with the Bayesian need-adjusted mortality
category, explaining where they differ: NHS Digital compares each trust with the national ratio and widens its
limits by one national overdispersion (tau^2), with no adjustment for deprivation or peer group; the Bayesian
category asks whether a trust's mortality is credibly above or below the expectation for a trust of its peer group
and need, with trust-level uncertainty only (the hierarchy's spread is not added to the limits).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.shmi_funnel import BAND_LABELS, funnel_plot
from analysis.summaries.derived import mortality_category, shmi_funnel


def banding_agreement(panel: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """NHS Digital banding of the panel, with the published banding beside it where the panel has one."""
    res = shmi_funnel(panel)
    p = panel.drop_duplicates("org_code").set_index("org_code")
    res["org_name"] = res.org_code.map(p.org_name)
    res["published_band"] = res.org_code.map(p.shmi_banding_published).astype("Int64")
    res["published_label"] = res.published_band.map(BAND_LABELS).astype("string")
    pub = res.published_band.notna()
    res["matches_published"] = pd.array(np.where(pub, res.band == res.published_band, pd.NA), dtype="boolean")
    summary = {"n_trusts": int(len(res)), "n_published": int(pub.sum()),
               "n_match": int(res.matches_published.sum()) if pub.any() else 0,
               "mismatches": res.loc[pub & ~res.matches_published.fillna(False), "org_code"].tolist(),
               "tau2": float(res.attrs["tau2"]), "phi": float(res.attrs["phi"]),
               "n_trimmed_low": int(res.attrs["n_trimmed_low"]), "n_trimmed_high": int(res.attrs["n_trimmed_high"]),
               "band_counts": {BAND_LABELS[b]: int((res.band == b).sum()) for b in BAND_LABELS}}
    return res, summary


def cross_tab(banding: pd.DataFrame, health_alpha: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """NHS Digital band vs Bayesian need-adjusted category; returns (cross-tab, per-trust table)."""
    sh = health_alpha[health_alpha.measure == "shmi_ratio_to_expected"].set_index("org_code")
    b = banding.set_index("org_code")
    j = b[["org_name", "ratio", "band_label"]].join(sh[["peer_group", "median", "lo95", "hi95"]], how="left")
    j["bayes_category"] = mortality_category(j.lo95, j.hi95)
    j = j.rename(columns={"ratio": "shmi", "band_label": "nhs_band", "median": "need_adjusted_ratio"})
    return pd.crosstab(j.nhs_band, j.bayes_category), j.reset_index()


def plot_funnel(banding: pd.DataFrame, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    funnel_plot(banding, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
