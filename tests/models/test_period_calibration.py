"""Calibration of the period-noise option on a small synthetic panel with a known long-run truth (issue 19, item 6).

The first 60 trusts of the seed-20260401 synthetic panel, whose RTT, A&E and FFT months stray from each trust's
long-run rate by the period-noise SDs of models/period_noise.toml; fitted with the production sampler, option on.
Measured (benchmarks/RESULTS.md, "Period noise"): option on, 90% intervals cover the long-run rate for 85% of
these trusts on RTT (60) and A&E (54); option off, 22% and 24%.  The bar, 75%, is about 3.5 binomial standard errors
below 90% for 54-60 trusts (a calibrated model fails it well under 1% of the time) and far above what the option-off
model reaches, so the test fails if the option stops widening the intervals.  The convergence gate is not asserted:
on this 60-trust panel (peer groups of a few trusts) both fits diverged (off 6, on 49 divergences after the retry),
where the full 129-trust panel passed with 0 (RESULTS.md); that is for the gate benchmark to settle.
"""

import tomllib

import pytest

from analysis.fitting import fit
from analysis.recovery import period_calibration
from analysis.synthetic import generate
from models.config import PERIOD_NOISE, load_config

BAR = 0.75


@pytest.mark.slow
def test_period_noise_covers_the_long_run_rate():
    sd = {k: float(v) for k, v in tomllib.loads(PERIOD_NOISE.read_text())["sd"].items()}
    panel, _, trusts, _ = generate(20260401, period_sd=sd)
    panel = panel.sort_values("org_code").iloc[:60].reset_index(drop=True)
    cfg = load_config(overrides={"quality": {"period_noise": "estimated"}})
    idata, data, gate = fit(panel, cfg, echo=lambda *a: None)
    tab = period_calibration(idata, data, trusts).set_index("indicator")
    for ind in ("rtt", "ae"):
        assert tab.loc[ind, "coverage"] >= BAR, tab
    # a calibrated 95% flag is on the wrong side of 0 for at most 2.5% of trusts; allow 2 of about 60
    assert (tab.loc[["rtt", "ae"], "flagged_wrong"] * tab.loc[["rtt", "ae"], "n_trusts"]).max() <= 2, tab
