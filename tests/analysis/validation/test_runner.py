"""`svi validate` end to end on the synthetic panel, reusing the session's fit (quick mode)."""

import json

import pandas as pd
import pytest

from analysis.fitting import save_fit
from analysis.manifest import read_manifest
from analysis.validation.runner import run_validate


def _validate(s, tmp_path, sbc_reps):
    # the session's quick fit is exactly the quick base variant: fit_cached finds and reuses it
    save_fit(s["idata"], tmp_path / "variants" / "base" / "posterior.nc")
    lines = []
    res = run_validate(s["panel"], tmp_path, sbc_reps=sbc_reps, quick=True, variants=["base"], echo=lines.append)
    assert any("reusing saved fit" in line for line in lines)
    man = read_manifest(tmp_path / "validation")
    for it in man["items"]:
        for f in (it["table"], it["figure"]):
            if f:
                assert (tmp_path / "validation" / f).exists()
    return res, man


def test_validate_writes_every_check_and_a_manifest(synthetic_posterior, tmp_path):
    """Every check but SBC, whose one quick replication compiles the full model a second time with nutpie (minutes):
    the SBC machinery is tested on the small model (test_sbc.py, test_sweeps_dask.py) and inside `svi validate` by
    the slow test below."""
    s = synthetic_posterior
    _, man = _validate(s, tmp_path, sbc_reps=0)
    ids = [it["id"] for it in man["items"]]
    for want in ("diagnostics", "loo", "loo_pit", "ppc", "variants", "shmi", "glmm_trust_effects",
                 "prior_predictive", "power_scaling"):
        assert want in ids, (want, ids)
    assert "sbc" not in ids  # no replications asked for: no SBC item, rather than an empty one
    var = pd.read_csv(tmp_path / "validation" / "variants.csv")
    assert {"base", "benchmark_best_quartile", "weights_equal", "weights_dirichlet"} <= set(var.variant)
    base = var.set_index("variant").loc["base"]
    assert base.value_changed == 0 and base.mortality_changed == 0
    # the best-quartile benchmark releases more than the median benchmark
    assert var.set_index("variant").loc["benchmark_best_quartile", "trapped_value_median"] > base.trapped_value_median
    summary = json.loads((tmp_path / "validation" / "validation.json").read_text())
    assert summary["shmi_banding"]["n_trusts"] == int(s["data"].observed[:, 0].sum())


@pytest.mark.slow  # compiles the full model with nutpie for SBC: run with --run-slow
def test_validate_runs_quick_sbc_and_says_it_is_not_evidence(synthetic_posterior, tmp_path):
    s = synthetic_posterior
    _, man = _validate(s, tmp_path, sbc_reps=1)
    # quick SBC is never evidence; it refits with nutpie (compiled once) and says so when the fits used another sampler
    sbc_item = next(it for it in man["items"] if it["id"] == "sbc")
    assert sbc_item["passed"] is False
    assert "refitted with nutpie" in sbc_item["text"]
    assert (s["cfg"]["sampler"]["name"] == "nutpie") != (f"The fits above use {s['cfg']['sampler']['name']}" in
                                                          sbc_item["text"])
