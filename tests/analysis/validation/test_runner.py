"""`svi validate` end to end on the synthetic panel, reusing the session's fit (quick mode)."""

import json

import pandas as pd

from analysis.fitting import save_fit
from analysis.manifest import read_manifest
from analysis.validation.runner import run_validate


def test_validate_writes_every_check_and_a_manifest(synthetic_posterior, tmp_path):
    s = synthetic_posterior
    # the session's quick fit is exactly the quick base variant: fit_cached finds and reuses it
    save_fit(s["idata"], tmp_path / "variants" / "base" / "posterior.nc")
    lines = []
    res = run_validate(s["panel"], tmp_path, sbc_reps=1, quick=True, variants=["base"], echo=lines.append)
    assert any("reusing saved fit" in line for line in lines)
    man = read_manifest(tmp_path / "validation")
    ids = [it["id"] for it in man["items"]]
    for want in ("diagnostics", "loo", "loo_pit", "ppc", "variants", "shmi", "glmm_trust_effects",
                 "prior_predictive", "power_scaling", "sbc"):
        assert want in ids, (want, ids)
    for it in man["items"]:
        for f in (it["table"], it["figure"]):
            if f:
                assert (tmp_path / "validation" / f).exists()
    # quick SBC is never evidence; it refits with nutpie (compiled once) and says so when the fits used another sampler
    sbc_item = next(it for it in man["items"] if it["id"] == "sbc")
    assert sbc_item["passed"] is False
    assert "refitted with nutpie" in sbc_item["text"]
    assert (s["cfg"]["sampler"]["name"] == "nutpie") != (f"The fits above use {s['cfg']['sampler']['name']}" in
                                                          sbc_item["text"])
    var = pd.read_csv(tmp_path / "validation" / "variants.csv")
    assert {"base", "benchmark_best_quartile", "weights_equal", "weights_dirichlet"} <= set(var.variant)
    base = var.set_index("variant").loc["base"]
    assert base.value_changed == 0 and base.mortality_changed == 0
    # the best-quartile benchmark releases more than the median benchmark
    assert var.set_index("variant").loc["benchmark_best_quartile", "trapped_value_median"] > base.trapped_value_median
    summary = json.loads((tmp_path / "validation" / "validation.json").read_text())
    assert summary["shmi_banding"]["n_trusts"] == int(s["data"].observed[:, 0].sum())
