"""Variant configs: each is the default plus its own overrides; comparison fits take smaller steps."""

import pytest

from analysis.variants import QUICK_SAMPLER, REFIT_VARIANTS, VARIANT_DRAWS_FACTOR, VARIANT_SAMPLER, variant_config
from models.config import load_config


def test_base_variant_is_the_default_config():
    assert variant_config("base") == load_config()


@pytest.mark.parametrize("name", [n for n in REFIT_VARIANTS if n != "base"])
def test_refit_variants_add_their_overrides_and_the_variant_sampler(name):
    cfg = variant_config(name, {"sampler": QUICK_SAMPLER})
    assert cfg["sampler"]["target_accept"] == VARIANT_SAMPLER["target_accept"]
    assert cfg["sampler"]["chains"] == QUICK_SAMPLER["chains"]  # the caller's overrides survive
    assert cfg["sampler"]["draws"] == QUICK_SAMPLER["draws"] * VARIANT_DRAWS_FACTOR > QUICK_SAMPLER["draws"]
    assert variant_config(name)["sampler"]["draws"] == load_config()["sampler"]["draws"] * VARIANT_DRAWS_FACTOR
    assert cfg != load_config(overrides={"sampler": {**QUICK_SAMPLER, **VARIANT_SAMPLER,  # and the variant's own
                                                     "draws": cfg["sampler"]["draws"]}})


def test_summary_variants_keep_the_default_sampler():
    assert variant_config("weights_equal")["sampler"] == load_config()["sampler"]


def test_equal_weights_cover_every_indicator_of_the_model():
    """Equal weights are derived from the config's indicators (six by default), including one a panel adds."""
    from analysis.synthetic import add_indicator, generate

    cfg = variant_config("weights_equal")
    w = cfg["value"]["quality_weights"]
    assert set(w) >= set(cfg["quality"]["indicators"]) and len(cfg["quality"]["indicators"]) == 6
    assert len({w[k] for k in cfg["quality"]["indicators"]}) == 1
    panel, *_ = generate(3)
    panel, _ = add_indicator(panel, "readmissions", 3, 0.0, 0.1, den_per_gbp_m=5.0)  # a when_present record
    panel["readmissions_spells"] = panel["readmissions_expected"] * 10
    cfg = variant_config("weights_equal", panel=panel)
    assert "readmissions" in cfg["quality"]["indicators"]
    assert len({cfg["value"]["quality_weights"][k] for k in cfg["quality"]["indicators"]}) == 1
