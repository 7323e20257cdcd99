"""The null reference of avoidable deaths on real fits of the value model (slow): on a synthetic panel whose SHMI
deaths carry no trust effect, the national total lies within its null reference; on the default synthetic panel,
whose trusts do differ, it lies above it."""

import numpy as np
import pytest

from analysis.fitting import fit
from analysis.summaries import summarise
from analysis.synthetic import generate
from analysis.variants import QUICK_SAMPLER
from models.config import load_config


def _null_row(panel, seed=1):
    cfg = load_config(overrides={"sampler": {**QUICK_SAMPLER, "seed": seed}})
    idata, d, _ = fit(panel, cfg, echo=lambda *a: None)
    nr = summarise(idata, d, cfg)["null_reference"].set_index("measure")
    return nr.loc["avoidable_deaths"]


@pytest.mark.slow
def test_avoidable_deaths_within_null_when_no_trust_differs_and_above_when_they_do():
    panel, _, trusts, _ = generate(20260401)
    rng = np.random.default_rng(5)
    m = (trusts.theta_shmi - trusts.u_shmi).to_numpy()  # need-adjusted rate with every trust effect set to zero
    E = panel.shmi_expected_deaths.to_numpy()
    null_panel = panel.copy()
    ok = ~np.isnan(E)
    null_panel.loc[ok, "shmi_observed_deaths"] = rng.poisson(E[ok] * np.exp(m[ok])).astype(float)
    null_panel["shmi_value"] = null_panel.shmi_observed_deaths / null_panel.shmi_expected_deaths
    r0 = _null_row(null_panel)
    assert r0.null_lo95 <= r0.estimate_mean <= r0.null_hi95
    r1 = _null_row(panel)
    assert r1.estimate_lo95 > r1.null_hi95
