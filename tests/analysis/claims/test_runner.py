"""``svi claims`` end to end on constructed posteriors (no sampling)."""

import json

import pandas as pd
import pytest

from analysis import claims as C
from models.config import load_config
from models.value_model import prepare
from tests.analysis.claims.conftest import _fake_idata

# ----------------------------------------------------------------------------- run_claims end to end, no sampling

def test_run_claims_writes_table_figures_and_manifest(tmp_path, monkeypatch, base_setup):
    panel, _, _ = base_setup
    from analysis import variants

    calls = []

    def fake_fit_cached(panel_, cfg, directory, echo=print, compiled=None):
        calls.append((directory, cfg))
        d = prepare(panel_, cfg)
        return _fake_idata(d, S=120, worse_large=0.3), d, None

    monkeypatch.setattr(variants, "fit_cached", fake_fit_cached)
    printed = []
    res = C.run_claims(panel, out=tmp_path, quick=True, seed=11, echo=printed.append)
    # one fit per variant, in the layout svi validate shares, with the quick sampler and the seed
    assert [p.name for p, _ in calls] == list(C.VARIANTS_USED)
    assert all(p.parent == tmp_path / "variants" for p, _ in calls)
    # refit variants other than the default draw VARIANT_DRAWS_FACTOR times as many
    assert all(cfg["sampler"]["seed"] == 11 and cfg["sampler"]["draws"] == variants.QUICK_SAMPLER["draws"] *
               (1 if p.name == "base" else variants.VARIANT_DRAWS_FACTOR) for p, cfg in calls)
    assert calls[1][1]["peer_groups"]["column"] == "national" and calls[2][1]["need"]["covariates"] == []

    out = tmp_path / "claims"
    df = pd.read_csv(out / "claims.csv")
    assert set(df.claim) == {1, 2, 3, 4, 5} and df.primary.sum() == 5
    assert df.verdict.isin([C.SUPPORTED, C.NOT_SUPPORTED, C.NOT_TESTABLE]).all()
    prim = df[df.primary].set_index("claim")
    assert prim.loc[1, "verdict"] == C.SUPPORTED  # the fake posterior makes the largest 35% dearer
    assert df[df.scenario == "mff"].verdict.eq(C.NOT_TESTABLE).all()  # synthetic: no MFF
    for f in ("claims_regions.csv", "claims_trusts.csv", "claims_productivity.svg", "claims_sensitivity.svg"):
        assert (out / f).exists()
    m = json.loads((out / "manifest.json").read_text())
    assert m["producer"] == "svi claims"
    ids = [it["id"] for it in m["items"]]
    assert ids == ["claims_method"] + [f"claim_{i}" for i in range(1, 6)]
    for it in m["items"][1:]:
        assert it["extra"]["verdict"] in (C.SUPPORTED, C.NOT_SUPPORTED, C.NOT_TESTABLE)
        assert "Verdict" in it["text"] and "Caveats" in it["text"]
    c1 = m["items"][1]["extra"]
    assert c1["probability"] == 1.0 and c1["lo95"] <= c1["median"] <= c1["hi95"]
    text = "\n".join(printed)
    assert "verdict" in text and "Sensitivity checks" in text and "--quick" in text
    assert res.headline().shape[0] == 5


def test_run_claims_with_given_fits_does_not_fit(tmp_path, monkeypatch, base_setup):
    panel, cfg, d = base_setup
    from analysis import variants

    monkeypatch.setattr(variants, "fit_cached", lambda *a, **k: pytest.fail("must not fit"))
    fits = {"base": (_fake_idata(d, S=80), d, None, cfg)}
    res = C.run_claims(panel, out=tmp_path, fits=fits, fit_missing=False, echo=lambda *_: None)
    assert set(res.table[res.table.variant == "national"].verdict) == {C.NOT_RUN}
    assert (tmp_path / "claims" / "manifest.json").exists()


def test_failed_gates_are_flagged(tmp_path, base_setup):
    from analysis.fitting import GateResult

    panel, cfg, d = base_setup
    ok, bad = GateResult(True, 1.0, 1000, 1000, 0), GateResult(False, 1.05, 50, 50, 3, ["mu"])
    nat = load_config(overrides={"peer_groups": {"column": "national"}})
    d_nat = prepare(panel, nat)
    fits = {"base": (_fake_idata(d, S=60), d, ok, cfg), "national": (_fake_idata(d_nat, S=60), d_nat, bad, nat)}
    res = C.run_claims(panel, out=tmp_path, fits=fits, fit_missing=False, echo=lambda *_: None)
    t = res.table
    assert t[t.variant == "national"].note.str.contains("FAILED the convergence gate").all()
    assert not t[t.variant == "base"].note.str.contains("FAILED").any()
    m = json.loads((tmp_path / "claims" / "manifest.json").read_text())
    assert m["items"][0]["passed"] is True and "diagnosis only" in m["items"][0]["text"]
    # a failed base fit marks every item failed
    fits["base"] = (fits["base"][0], d, bad, cfg)
    C.run_claims(panel, out=tmp_path, fits=fits, fit_missing=False, echo=lambda *_: None)
    m = json.loads((tmp_path / "claims" / "manifest.json").read_text())
    assert all(it["passed"] is False for it in m["items"])


def test_data_dir_is_the_one_recorded_for_this_panel(tmp_path, base_setup):
    from analysis.panel import panel_hash

    panel, _, _ = base_setup
    out = tmp_path / "res"
    (out / "panel").mkdir(parents=True)
    (out / "panel" / "manifest.json").write_text(json.dumps(
        {"kind": "real", "data_dir": str(tmp_path), "panel_hash": panel_hash(panel)}))
    assert C.find_data_dir(panel, out) == tmp_path
    (out / "panel" / "manifest.json").write_text(json.dumps(
        {"kind": "real", "data_dir": str(tmp_path), "panel_hash": "other"}))
    assert C.find_data_dir(panel, out) is None
