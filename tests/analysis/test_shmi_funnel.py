"""SHMI banding (analysis.shmi_funnel): synthetic known answers, parity with NHS Digital's published bands."""

from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analysis.shmi_funnel import (  # noqa: E402
    BAND_LABELS,
    Z95,
    Z998,
    band,
    control_limits,
    dersimonian_laird_tau2,
    fit_funnel,
    funnel_plot,
    overdispersion_phi,
    shmi_banding,
    trim_mask,
    z_scores,
)


def _observed_for(z, expected):
    """Observed counts that give exactly the z-scores ``z`` at ``expected``."""
    z = np.asarray(z, float)
    e = np.asarray(expected, float)
    return e * np.exp(z / np.sqrt(e))


# --------------------------------------------------------------------------- z-scores


def test_z_scores_known_values():
    e = np.array([100.0, 400.0, 2500.0])
    assert np.allclose(z_scores(e, e), 0.0)
    assert np.allclose(z_scores(e * math.e, e), np.sqrt(e))
    assert np.allclose(z_scores(_observed_for([1.5, -2.0, 0.3], e), e), [1.5, -2.0, 0.3])


@pytest.mark.parametrize("o,e", [([0.0, 5.0], [5.0, 5.0]), ([1.0, np.nan], [1.0, 1.0]), ([1.0, 2.0], [1.0, -2.0])])
def test_z_scores_reject_non_positive_or_missing(o, e):
    with pytest.raises(ValueError):
        z_scores(o, e)


# --------------------------------------------------------------------------- trimming


@pytest.mark.parametrize("n,k", [(9, 0), (10, 1), (20, 2), (59, 5), (110, 11), (118, 11), (119, 11), (129, 12)])
def test_floor_trim_removes_exactly_floor_ten_percent_at_each_end(n, k):
    rng = np.random.default_rng(n)
    z = rng.normal(size=n)
    keep = trim_mask(z, 0.1)
    order = np.argsort(z)
    assert keep.sum() == n - 2 * k
    assert not keep[order[:k]].any() and not keep[order[n - k:]].any()
    assert keep[order[k:n - k]].all()


def test_floor_trim_breaks_ties_by_position_but_still_drops_k_each_end():
    z = np.array([0.0] * 6 + [-3.0, -3.0, 5.0, 5.0, 5.0, 1.0] + [0.5] * 8)  # n = 20 -> k = 2
    keep = trim_mask(z, 0.1)
    assert keep.sum() == 16
    assert not keep[6] and not keep[7]  # both -3s
    assert keep[[8, 9, 10]].sum() == 1  # of the three tied 5s, the two last in position are dropped
    assert not keep[9] and not keep[10]


def test_groups_rule_matches_floor_except_when_n_mod_10_is_9():
    for n in range(10, 140):
        z = np.linspace(-3, 3, n)
        floor_keep, group_keep = trim_mask(z, 0.1, "floor"), trim_mask(z, 0.1, "groups")
        if n % 10 == 9:
            assert group_keep.sum() == floor_keep.sum() - 1
            assert not group_keep[-(n // 10) - 1] and floor_keep[-(n // 10) - 1]  # one more at the top
        else:
            assert np.array_equal(floor_keep, group_keep), n


def test_trim_rejects_bad_arguments():
    with pytest.raises(ValueError):
        trim_mask([0.0, np.inf], 0.1)
    with pytest.raises(ValueError):
        trim_mask([0.0, 1.0], 0.5)
    with pytest.raises(ValueError):
        trim_mask([0.0, 1.0], 0.1, "median")


# --------------------------------------------------------------------------- phi, tau^2, limits


def test_no_overdispersion_gives_tau2_zero_and_poisson_limits():
    rng = np.random.default_rng(1)
    e = rng.uniform(200, 5000, size=60)
    z = rng.uniform(-0.9, 0.9, size=60)  # mean z^2 ~ 0.27 < 1: under-dispersed
    fit = fit_funnel(_observed_for(z, e), e)
    assert fit.phi < 1
    assert fit.tau2 == 0.0
    lo, hi = fit.limits(e)
    assert np.allclose(lo, np.exp(-1.96 / np.sqrt(e)))
    assert np.allclose(hi, np.exp(1.96 / np.sqrt(e)))
    lo, hi = fit.limits(e, Z998)
    assert np.allclose(hi, np.exp(3.09 / np.sqrt(e)))
    assert np.allclose(lo * hi, 1.0)  # symmetric on the log scale


def test_tau2_is_zero_at_exactly_phi_equal_n_minus_one_over_n():
    assert dersimonian_laird_tau2(phi=9 / 10, weights=np.full(10, 50.0)) == 0.0
    assert dersimonian_laird_tau2(phi=0.1, weights=[10.0, 20.0]) == 0.0


def test_tau2_equal_weights_closed_form():
    # equal weights w: denominator = n*w - w = (n-1) w, so tau2 = (n*phi - (n-1)) / ((n-1) w)
    n, w, phi = 12, 250.0, 3.0
    assert dersimonian_laird_tau2(phi, np.full(n, w)) == pytest.approx((n * phi - (n - 1)) / ((n - 1) * w))


def test_hand_computed_tiny_example():
    # Ten trusts, 10% trim -> the lowest (z=-5, E=50) and highest (z=6, E=400) are dropped.
    z = np.array([-5.0, -2.0, -1.0, -1.0, 0.0, 1.0, 1.0, 2.0, 3.0, 6.0])
    e = np.array([50.0] + [100.0] * 8 + [400.0])
    fit = fit_funnel(_observed_for(z, e), e)
    assert np.allclose(fit.z, z)
    assert fit.kept.tolist() == [False] + [True] * 8 + [False]
    assert (fit.n_kept, fit.n_trimmed_low, fit.n_trimmed_high) == (8, 1, 1)
    # phi = (4+1+1+0+1+1+4+9)/8 = 21/8
    assert fit.phi == pytest.approx(21 / 8)
    # tau2 = (8*21/8 - 7) / (800 - 80000/800) = 14 / 700 = 0.02
    assert fit.tau2 == pytest.approx(0.02)
    lo, hi = fit.limits([100.0])
    assert hi[0] == pytest.approx(math.exp(1.96 * math.sqrt(0.01 + 0.02)))  # 1.40421...
    assert lo[0] == pytest.approx(math.exp(-1.96 * math.sqrt(0.03)))
    lo, hi = fit.limits(e)
    ratio = np.exp(z / np.sqrt(e))
    # z=-5 at E=50: 0.4931 < exp(-1.96*sqrt(0.04)) = 0.6757; z=6 at E=400: 1.3499 > exp(1.96*0.15) = 1.3418;
    # z=3 at E=100: 1.3499 < 1.4042 -> as expected
    assert band(ratio, lo, hi).tolist() == [3, 2, 2, 2, 2, 2, 2, 2, 2, 1]
    # phi / tau2 from the parts agree with fit_funnel
    assert overdispersion_phi(z, fit.kept) == pytest.approx(fit.phi)
    assert dersimonian_laird_tau2(fit.phi, e[fit.kept]) == pytest.approx(fit.tau2)


def test_fit_is_permutation_invariant():
    rng = np.random.default_rng(7)
    e = rng.uniform(300, 6000, size=45)
    o = _observed_for(rng.normal(scale=3, size=45), e)
    a = fit_funnel(o, e)
    p = rng.permutation(45)
    b = fit_funnel(o[p], e[p])
    assert a.phi == pytest.approx(b.phi) and a.tau2 == pytest.approx(b.tau2)
    assert np.array_equal(a.kept[p], b.kept)


def test_band_boundaries_are_as_expected():
    assert band([1.2, 1.2, 0.8, 0.8, 1.0], [0.8] * 5, [1.2] * 5).tolist() == [2, 2, 2, 2, 2]
    assert band([1.2000001, 0.7999999], [0.8, 0.8], [1.2, 1.2]).tolist() == [1, 3]


def test_control_limits_on_a_grid_narrow_towards_exp_of_tau():
    grid = np.geomspace(10, 1e7, 50)
    lo, hi = control_limits(grid, tau2=0.01)
    assert np.all(np.diff(hi) < 0) and np.all(np.diff(lo) > 0)
    assert hi[-1] == pytest.approx(math.exp(1.96 * 0.1), rel=1e-4)
    with pytest.raises(ValueError):
        control_limits(grid, tau2=-0.1)


# --------------------------------------------------------------------------- pandas wrapper


def _synthetic_frame(n=80, seed=3):
    rng = np.random.default_rng(seed)
    e = rng.uniform(400, 6000, size=n)
    log_ratio = rng.normal(scale=0.08, size=n)  # tau ~ 0.08: clearly over-dispersed
    o = rng.poisson(e * np.exp(log_ratio)).astype(float)
    return pd.DataFrame({"org_code": [f"T{i:02d}" for i in range(n)], "obs": o, "exp": e})


def test_wrapper_matches_pure_functions_and_reports_fit():
    df = _synthetic_frame()
    res = shmi_banding(df, observed="obs", expected="exp")
    fit = fit_funnel(df.obs.to_numpy(), df.exp.to_numpy())
    assert res.attrs["phi"] == pytest.approx(fit.phi) and res.attrs["tau2"] == pytest.approx(fit.tau2)
    assert (res.tau2 == fit.tau2).all() and (res.phi == fit.phi).all()
    assert res.attrs["n_kept"] == 64 and res.attrs["n_trimmed_low"] == 8 and res.attrs["n_trimmed_high"] == 8
    assert res.trimmed.sum() == 16
    assert np.allclose(res.z, fit.z)
    lo, hi = control_limits(df.exp, fit.tau2, Z95)
    assert np.allclose(res.lower95, lo) and np.allclose(res.upper95, hi)
    assert res.band.tolist() == band(df.obs / df.exp, lo, hi).tolist()
    assert set(res.band.unique()) <= {1, 2, 3}
    assert (res.band_label == res.band.map(BAND_LABELS)).all()
    # band 1/3 exactly when |adjusted z| > 1.96
    assert ((res.band != 2) == (res.z_adjusted.abs() > Z95)).all()
    assert list(res.org_code) == list(df.org_code) and res.index.equals(df.index)


def test_wrapper_uses_shmi_column_for_banding_when_given():
    df = _synthetic_frame()
    df["shmi"] = df.obs / df.exp
    df.loc[0, "shmi"] = 10.0  # the published ratio is what gets banded
    res = shmi_banding(df, observed="obs", expected="exp", shmi="shmi")
    assert res.loc[0, "ratio"] == 10.0 and res.loc[0, "band"] == 1
    base = shmi_banding(df, observed="obs", expected="exp")
    assert res.attrs["tau2"] == pytest.approx(base.attrs["tau2"])  # fit is on the counts


def test_wrapper_leaves_missing_rows_out_of_the_fit():
    df = _synthetic_frame()
    full = shmi_banding(df, observed="obs", expected="exp")
    df2 = pd.concat([df, pd.DataFrame({"org_code": ["NA1", "NA2"], "obs": [np.nan, 0.0], "exp": [100.0, 50.0]})],
                    ignore_index=True)
    res = shmi_banding(df2, observed="obs", expected="exp")
    assert res.band.isna().sum() == 2 and not res.in_fit.iloc[-2:].any()
    assert res.attrs["tau2"] == pytest.approx(full.attrs["tau2"])
    with pytest.raises(KeyError):
        shmi_banding(df, observed="nope", expected="exp")


# --------------------------------------------------------------------------- plot


def test_funnel_plot_smoke(tmp_path):
    import matplotlib.pyplot as plt

    res = shmi_banding(_synthetic_frame(), observed="obs", expected="exp")
    fig = funnel_plot(res, highlight="T05")
    assert isinstance(fig, matplotlib.figure.Figure)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Expected deaths" and ax.get_ylabel() == "SHMI"
    assert len(ax.lines) >= 4  # 95% and 99.8% upper and lower
    assert any(t.get_text() == "T05" for t in ax.texts)
    fig.savefig(tmp_path / "funnel.png")
    assert (tmp_path / "funnel.png").stat().st_size > 0
    plt.close(fig)

    fig, ax = plt.subplots()
    assert funnel_plot(res, ax=ax, highlight=["T01", "T02"]) is fig
    with pytest.raises(KeyError):
        funnel_plot(res, ax=ax, highlight="ZZZ")
    plt.close(fig)


# --------------------------------------------------------------------------- parity with the published SHMI


def _trust_profiles() -> Path | None:
    env = os.environ.get("SVI_SHARED_DATA")
    base = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"
    f = base / "raw" / "trustpulse" / "trust_profiles.csv"
    return f if f.is_file() else None


@pytest.fixture(scope="module")
def published():
    f = _trust_profiles()
    if f is None:
        pytest.skip("real data absent: raw/trustpulse/trust_profiles.csv not under $SVI_SHARED_DATA or ../shared/data")
    cols = ["org_code", "Trust_type", "shmi_value_latest", "shmi_banding_latest",
            "observed_deaths_latest", "expected_deaths_latest"]
    df = pd.read_csv(f, usecols=cols)
    df = df[(df.Trust_type == "Acute trust") & df.shmi_value_latest.notna()].reset_index(drop=True)
    assert len(df) == 118
    return df


COUNTS = dict(observed="observed_deaths_latest", expected="expected_deaths_latest")


def test_reproduces_all_118_published_bands(published):
    res = shmi_banding(published, shmi="shmi_value_latest", **COUNTS)
    pub = published.shmi_banding_latest.astype(int)
    differ = published.org_code[res.band.astype(int) != pub].tolist()
    assert differ == [], f"bands differ for {differ}"
    assert (res.attrs["n_kept"], res.attrs["n_trimmed_low"], res.attrs["n_trimmed_high"]) == (96, 11, 11)
    assert res.attrs["phi"] == pytest.approx(15.9767, abs=1e-3)
    assert res.attrs["tau2"] == pytest.approx(0.006647, abs=1e-6)
    assert pub.value_counts().to_dict() == {2: 101, 1: 9, 3: 8}


@pytest.mark.parametrize(
    "variant",
    ["counts, band O/E", "z from published SHMI", "groups rule", "exact normal quantiles"],
)
def test_other_reasonable_input_choices_also_reproduce(published, variant):
    df = published.copy()
    kw = dict(shmi="shmi_value_latest", **COUNTS)
    if variant == "counts, band O/E":
        kw["shmi"] = None
    elif variant == "z from published SHMI":
        df["obs_from_shmi"] = df.shmi_value_latest * df.expected_deaths_latest
        kw["observed"] = "obs_from_shmi"
    elif variant == "groups rule":
        kw["rule"] = "groups"
    else:
        kw.update(z95=1.959963984540054, z998=3.090232306167813)
    res = shmi_banding(df, **kw)
    assert (res.band.astype(int) == df.shmi_banding_latest.astype(int)).all()
    assert 0.00648 <= res.attrs["tau2"] <= 0.00751


def test_trimming_twelve_per_end_does_not_reproduce(published):
    # floor(0.102 * 118) = 12: the "round(10%)" reading; R quantile() cuts with strict '<' also drop 12 + 12.
    res = shmi_banding(published, shmi="shmi_value_latest", fraction=0.102, **COUNTS)
    assert res.attrs["n_kept"] == 94
    differ = set(published.org_code[res.band.astype(int) != published.shmi_banding_latest.astype(int)])
    assert differ == {"R0D", "RA2", "RKB"}


def test_funnel_plot_on_real_data(published):
    import matplotlib.pyplot as plt

    res = shmi_banding(published, shmi="shmi_value_latest", **COUNTS)
    fig = funnel_plot(res, highlight="RA2")
    assert any(t.get_text() == "RA2" for t in fig.axes[0].texts)
    plt.close(fig)
