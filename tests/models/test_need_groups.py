"""Need covariates per peer group (config need.by_group): validation, masking of the covariate matrix, the need term
of a group without covariates, and the documents' text generated from the config (no sampling)."""

import numpy as np
import pandas as pd
import pytest

from analysis.report import need as need_text
from analysis.summaries.equity import need_terms
from analysis.synthetic import generate
from models.config import ConfigError, load_config
from models.value_model import prepare
from tests.analysis.summaries.test_equity import _with_need
from tests.analysis.summaries.test_posterior import _fake_idata


@pytest.fixture(scope="module")
def panel():
    return generate(9)[0]


def _spec(d):
    return (d.trusts.peer_group == "specialist").to_numpy()


@pytest.mark.parametrize("by, msg", [
    ({"specalist": []}, r"need\.by_group\.specalist: no such peer group.*'specialist'.*Correct the name"),
    ({"specialist": ["imd"]}, r"\['imd'\] not in need\.covariates.*subset"),
    ({"specialist": "imd_score"}, r"must be a list of covariate names"),
])
def test_bad_by_group_is_an_actionable_config_error(by, msg):
    with pytest.raises(ConfigError, match=msg):
        load_config(overrides={"need": {"by_group": by}})


def test_a_group_the_panel_lacks_is_named_with_the_panels_groups(panel):
    cfg = load_config(overrides={"peer_groups": {"column": "region"}, "need": {"by_group": {"Londn": []}}})
    with pytest.raises(ConfigError, match=r"\['Londn'\] not a peer group of this panel.*'London'"):
        prepare(panel, cfg)
    # a size class the panel's grouping does not use (the default specialist rule under regions) is not an error
    d = prepare(panel, load_config(overrides={"peer_groups": {"column": "region"}}))
    assert (d.need_mask.all())


def test_a_covariate_that_applies_to_no_trust_is_an_error(panel):
    groups = sorted(panel.size_class.unique())
    cfg = load_config(overrides={"need": {"by_group": {g: ["imd_score"] for g in groups}}})
    with pytest.raises(ConfigError, match=r"share_aged_75_plus.*apply to no trust"):
        prepare(panel, cfg)


def test_default_masks_specialist_trusts_and_standardises_over_the_rest(panel):
    d = prepare(panel, load_config())
    spec = _spec(d)
    assert spec.sum() >= 2 and (d.x[spec] == 0).all() and not d.need_mask[spec].any()
    assert d.need_mask[~spec].all()
    assert np.allclose(d.x[~spec].mean(0), 0, atol=1e-12) and np.allclose(d.x[~spec].std(0, ddof=1), 1)
    # every covariate applies again without the rule: standardised over all trusts, specialist rows not zero
    d_all = prepare(panel, load_config(overrides={"need": {"by_group": {"specialist": list(d.need_names)}}}))
    assert d_all.need_mask.all() and (d_all.x[spec] != 0).any()
    assert np.allclose(d_all.x.mean(0), 0, atol=1e-12)


def test_a_group_may_keep_some_covariates(panel):
    d = prepare(panel, load_config(overrides={"need": {"by_group": {"specialist": ["imd_score"]}}}))
    spec, j = _spec(d), d.need_names.index("imd_score")
    assert (d.x[spec][:, j] != 0).any() and (np.delete(d.x[spec], j, axis=1) == 0).all()


def test_specialist_values_do_not_enter_the_model(panel):
    """The specialist trusts' catchment values change neither the covariate matrix nor the model's density (so
    neither the need effects' likelihood nor their estimate): the coefficients are estimated from the other groups."""
    cfg = load_config()
    other = panel.copy()
    spec_rows = other.size_class == "specialist"
    for c in ("imd_score", "share_aged_75_plus", "health_index_score"):
        other.loc[spec_rows, c] = other.loc[spec_rows, c] * 3.0 + 7.0
    d0, d1 = prepare(panel, cfg), prepare(other, cfg)
    np.testing.assert_array_equal(d0.x, d1.x)
    np.testing.assert_array_equal(d0.need_mean, d1.need_mean)
    # the model is built from ModelData alone (build_model(d, cfg)): identical data, identical model and density
    import dataclasses

    for f in dataclasses.fields(d0):
        a, b = getattr(d0, f.name), getattr(d1, f.name)
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b, err_msg=f.name)
        elif isinstance(a, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b)
        else:
            assert a == b, f.name
    # and the same change with the rule off does change the model: the test can fail
    cfg_all = load_config(overrides={"need": {"by_group": {"specialist": list(d0.need_names)}}})
    assert not np.array_equal(prepare(panel, cfg_all).x, prepare(other, cfg_all).x)


def test_a_trust_of_a_group_without_covariates_has_need_term_zero(panel):
    d = prepare(panel, load_config())
    K, J, P = len(d.indicators), len(d.cost_outcomes), d.x.shape[1]
    bq, bc = np.full((K, P), 0.3), np.full((J, P), 0.2)
    q, c = need_terms(_with_need(_fake_idata(d), d, bq, bc).posterior, d)
    spec = _spec(d)
    assert (q[:, spec] == 0).all() and (c[:, spec] == 0).all()
    assert (np.abs(q[:, ~spec]) > 0).mean() > 0.9


def test_documents_text_follows_the_config():
    groups = ["large", "medium", "specialist", "teaching"]
    cfg = load_config()
    text = need_text.groups_text(cfg, groups)
    assert "the specialist group not at all" in text and "large, medium, teaching groups" in text
    t = need_text.trust_text(cfg, "specialist")
    assert t["covariates"] == "none" and t["applies"] == "no" and "not adjusted for catchment need" in t["sentence"]
    t = need_text.trust_text(cfg, "large")
    assert t["applies"] == "yes" and "IMD 2019 score" in t["sentence"] and "aged 75" in t["sentence"]
    # a different rule gives a different text
    cfg2 = load_config(overrides={"need": {"by_group": {"specialist": ["imd_score"]}}})
    assert "the specialist group only by IMD 2019 score" in need_text.groups_text(cfg2, groups)
    t2 = need_text.trust_text(cfg2, "specialist")
    assert t2["covariates"] == "IMD 2019 score" and "aged 75" not in t2["sentence"]
    cfg3 = load_config(overrides={"need": {"by_group": {"specialist": list(cfg["need"]["covariates"])}}})
    assert need_text.groups_text(cfg3, groups) == ""


def test_equity_text_of_a_group_without_need_covariates():
    import pandas as pd

    from analysis.report.equity import paper_equity, trust_equity
    t = trust_equity(None, "X", "Alder Hey", need_applies=False)
    assert t["has"] == "no" and "not adjusted for catchment need" in t["text"]
    # the paper's counts leave out trusts whose value index the adjustment does not touch
    tab = pd.DataFrame({"rank_adjusted_median": [1.0, 2.0, 3.0], "value_adjusted_median": [0.5, 0.1, 0.2],
                        "value_unadjusted_median": [0.5, 0.3, 0.0], "places_up_lo95": [0, 1, -3],
                        "places_up_hi95": [0, 4, -1], "places_up_median": [0.0, 2.0, -2.0]})
    p = paper_equity(tab)
    assert p["n"] == "2" and p["up"] == "1" and p["down"] == "1"
