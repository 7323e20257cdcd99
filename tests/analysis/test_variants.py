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
