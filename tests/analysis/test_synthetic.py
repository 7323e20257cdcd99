import json

import numpy as np
import pandas as pd

from analysis.calibration import load_calibration
from analysis.panel import build, build_and_write, panel_hash
from analysis.schema import SIZE_CLASSES
from analysis.synthetic import INDICATORS, generate


def test_seeded_and_reproducible():
    a, ta, _, _ = generate(7)
    b, tb, _, _ = generate(7)
    c, _, _, _ = generate(8)
    pd.testing.assert_frame_equal(a, b)
    assert ta == tb
    assert panel_hash(a) == panel_hash(b) != panel_hash(c)


def test_structure_matches_real_panel():
    cal = load_calibration()
    p, truth, trusts, _ = generate()
    assert len(p) == cal["n_trusts"] == 129
    assert p.size_class.value_counts().to_dict() == {k: v for k, v in cal["size_class_counts"].items() if v}
    assert p.region.value_counts().to_dict() == cal["region_counts"]
    assert p.shmi_observed_deaths.notna().sum() == (p.size_class != "specialist").sum()
    assert np.array(truth["mu"]).shape == (len(SIZE_CLASSES), len(INDICATORS))


def test_calibrated_spreads():
    """Spreads of the synthetic indicators are within 35% of the real panel's."""
    cal = load_calibration()
    p, *_ = generate()
    log_shmi = np.log(p.shmi_observed_deaths / p.shmi_expected_deaths).std()
    cost = np.log(p.ncc_actual_cost_total_gbp_m / p.ncc_expected_cost_total_gbp_m)
    rtt = np.log(p.rtt_waiting_under_18w / (p.rtt_total_waiting - p.rtt_waiting_under_18w))
    fft = np.log(p.fft_positive / (p.fft_responses - p.fft_positive))
    for sim, real in ((log_shmi, cal["log_shmi_sd"]), (cost.std(), cal["cost_index"]["total"]["sd"]),
                      (rtt.std(), cal["rtt"]["logit_sd"]), (fft.std(), cal["fft"]["logit_sd"])):
        assert abs(sim / real - 1) < 0.35, (sim, real)
    assert abs(cost.mean() - cal["cost_index"]["total"]["mean"]) < 0.05


def test_truth_written_beside_panel(tmp_path):
    r = build_and_write(None, tmp_path / "syn", seed=3)
    truth = json.loads((tmp_path / "syn/truth.json").read_text())
    assert truth["seed"] == 3 and (tmp_path / "syn/truth_trusts.parquet").exists()
    t = pd.read_parquet(tmp_path / "syn/truth_trusts.parquet")
    assert list(t.org_code) == list(r.panel.org_code)


def test_true_effects_generate_the_counts():
    p, truth, trusts, _ = generate(11)
    # observed/expected tracks exp(true theta) for SHMI
    m = p.shmi_expected_deaths.notna()
    ratio = np.log(p.shmi_observed_deaths[m] / p.shmi_expected_deaths[m])
    assert np.corrcoef(ratio, trusts.theta_shmi[m])[0, 1] > 0.9


def test_build_default_is_synthetic():
    assert build().kind == "synthetic"
