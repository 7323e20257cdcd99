"""The embedded default: a seeded synthetic panel with known true parameters.

Same schema and trust structure as the real panel (129 acute trusts; size
classes and regions in the real proportions), invented codes and names, drawn
from the generative model that ``models/value_model.py`` fits, with the scale
of every quantity calibrated to the real panel (``synthetic_calibration.json``).

Generative model (k = quality indicator, j = cost outcome, g = peer group):

* need covariates (IMD, income, health deprivation, share 75+, Health Index)
  ~ multivariate normal with the real mean and covariance; the model's three
  need covariates are IMD score, share aged 75+ and Health Index,
  standardised with this panel's own mean and SD (``x``) over the trusts the
  default config's ``need.by_group`` applies them to, 0 for the others
  (specialist trusts: no need term);
* quality: ``theta[i,k] = mu[g,k] + beta[k] . x[i] + u[i,k]`` with
  ``u[i] = sigma[g,:] * (L z[i])``, ``L`` the Cholesky factor of the true
  correlation ``R`` and ``z ~ N(0, I)``; SHMI observed deaths ~
  Poisson(E exp(theta)), RTT within 18 weeks, A&E within 4 hours, FFT
  positive and the cancer 28-day (FDS) and 62-day standards ~ Binomial(n, logistic(theta)); cancer counts are a
  year's (denominators calibrated to the real 2025/26 sums), missing for a few trusts at random as in the real
  panel (five trusts absent from the source), and drawn from their own random stream so that the four other
  indicators' draws are those of the panel before cancer waits were added;
* cost: ``log(actual/expected)[i,j] = mu_c[g,j] + beta_c[j] . x[i] +
  sigma_c[g,j] * t_nu`` for j in total, APC, outpatients, A&E (Student-t).

``truth.json`` beside the panel holds every parameter; ``truth_trusts.parquet``
holds each trust's true effects.

Period shocks (``period_sd``): the binomial indicators' counts are those of the panel's period (one month for RTT,
A&E and FFT; a year for the cancer standards), so each trust's observed logit is its long-run ``theta`` plus a
period shock ``eps ~ Normal(0, period_sd^2)`` drawn from its own random stream (so the rest of the panel is the same
as without it); ``theta_<k>`` in the trust table stays the long-run logit and ``eps_<k>`` is the shock.  By default
(``period_sd="model"``) the SDs are those the default model assumes, tau / sqrt(M) from ``quality.period_noise_sd``
and ``quality.period_months`` (none when the default config turns the option off), so the embedded truth is drawn
from the model that is fitted to it; a dict gives the SDs (the calibration check of
``benchmarks/bench_period_calibration.py``); ``None`` or ``{}`` draws no shock.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import schema
from analysis.calibration import NEED_COLUMNS, load_calibration
from analysis.quality import QualityReport
from analysis.trend.years import CROSS_SECTION_CANCER as _CANCER  # the cancer standards: their own random stream
from models import indicators as registry
from models.config import load_config, need_covariates_by_group

PERIOD = "2025/26"
#: the indicators and cost outcomes drawn with their calibrated generators below (models/indicators.py records);
#: any other registered indicator can be added to a panel with :func:`add_indicator`
INDICATORS = ("shmi", "rtt", "ae", "fft", *_CANCER)
COST_OUTCOMES = ("total", "apc", "op", "ae")
MODEL_NEED = ("imd_score", "share_aged_75_plus", "health_index_score")
PLACES = ("Northbrook", "St Aldhelm's", "Castlefield", "Riverside", "Kings Weston", "Harbourne", "Ashby & Vale",
          "Moorgate", "Fernleigh", "Oakhampton", "Westmere", "Thornbury", "Lindell", "Bramwell", "Eastcombe",
          "Highcross", "Portwood", "Silverdale", "Marlow & Fen", "Greystone", "Redcliffe", "Whitfield")


def _names(n: int, size: np.ndarray, rng: np.random.Generator) -> list[str]:
    names = []
    for i in range(n):
        place = PLACES[i % len(PLACES)]
        suffix = "" if i < len(PLACES) else f" {chr(ord('A') + i // len(PLACES) - 1)}"
        kind = {"teaching": "University Teaching Hospitals", "specialist": "Specialist Hospital",
                "multi-service": "Health & Care"}.get(size[i], "Hospitals")
        names.append(f"{place}{suffix} {kind} NHS {'Foundation ' if rng.random() < 0.6 else ''}Trust")
    return names


def true_parameters(rng: np.random.Generator, cal: dict, crng: np.random.Generator | None = None) -> dict:
    """Draw the true parameters, scaled to the real panel's spreads (the cancer standards' from ``crng``)."""
    crng = crng if crng is not None else rng
    G, K0 = len(schema.SIZE_CLASSES), len(INDICATORS) - len(_CANCER)
    P = len(MODEL_NEED)

    def draw(centre, spread, r, K):
        # spread of theta: ~30% from peer group means, ~35% from need, the rest from trust effects (variance shares)
        mu = centre + r.normal(0, 1, (G, K)) * spread * np.sqrt(0.10)
        beta = r.normal(0, 1, (K, P)) * spread[:, None] * np.sqrt(0.30 / P)
        sigma = spread * np.sqrt(0.60) * np.exp(r.normal(0, 0.15, (G, K)))
        return mu, beta, sigma

    mu, beta, sigma = draw(np.array([0.0, cal["rtt"]["logit_mean"], cal["ae"]["logit_mean"], cal["fft"]["logit_mean"]]),
                           np.array([cal["log_shmi_sd"], cal["rtt"]["logit_sd"], cal["ae"]["logit_sd"],
                                     cal["fft"]["logit_sd"]]), rng, K0)
    mu2, beta2, sigma2 = draw(np.array([cal[k]["logit_mean"] for k in _CANCER]),
                              np.array([cal[k]["logit_sd"] for k in _CANCER]), crng, len(_CANCER))
    mu, beta, sigma = np.hstack([mu, mu2]), np.vstack([beta, beta2]), np.hstack([sigma, sigma2])
    # a moderately correlated quality structure (one latent factor plus noise); the cancer standards load like RTT
    # (waiting times of another service)
    load = np.array([-0.5, 0.5, 0.4, 0.3, 0.4, 0.4])
    R = np.outer(load, load)
    np.fill_diagonal(R, 1.0)
    Jc = len(COST_OUTCOMES)
    cmean = np.array([cal["cost_index"][j]["mean"] for j in COST_OUTCOMES])
    csd = np.array([cal["cost_index"][j]["sd"] for j in COST_OUTCOMES])
    mu_c = cmean + rng.normal(0, 1, (G, Jc)) * csd * np.sqrt(0.15)
    beta_c = rng.normal(0, 1, (Jc, len(MODEL_NEED))) * csd[:, None] * np.sqrt(0.25 / len(MODEL_NEED))
    sigma_c = csd * np.sqrt(0.5) * np.exp(rng.normal(0, 0.15, (G, Jc)))
    return {"mu": mu, "beta": beta, "sigma": sigma, "R": R, "mu_c": mu_c, "beta_c": beta_c, "sigma_c": sigma_c,
            "nu_c": 5.0}


def model_period_sd(cfg: dict | None = None) -> dict:
    """The period-shock SD of each synthetic binomial indicator that the config's model assumes: tau / sqrt(M) with
    the option on, none with it off."""
    q = (cfg or load_config())["quality"]
    if q.get("period_noise", "off") == "off":
        return {}
    sd, months = q.get("period_noise_sd", {}), q.get("period_months", {})
    return {k: float(sd[k]) / float(months.get(k, 1)) ** 0.5 for k in INDICATORS if k in sd}


def generate(seed: int = 20260401, period_sd: dict | str | None = "model"
             ) -> tuple[pd.DataFrame, dict, pd.DataFrame, QualityReport]:
    """Return (panel, truth, per-trust truth table, quality report); ``period_sd``: see the module's docstring."""
    if isinstance(period_sd, str):
        if period_sd != "model":
            raise ValueError(f"period_sd must be a dict of SDs, None or 'model' (got {period_sd!r})")
        period_sd = model_period_sd()
    cal = load_calibration()
    rng = np.random.default_rng(seed)
    sizes = np.repeat(list(cal["size_class_counts"]), list(cal["size_class_counts"].values()))
    n = len(sizes)
    rng.shuffle(sizes)
    regions = np.repeat(list(cal["region_counts"]), list(cal["region_counts"].values()))
    rng.shuffle(regions)
    g = np.array([schema.SIZE_CLASSES.index(s) for s in sizes])

    # need: real mean and covariance; clip to the plausible domain
    need = rng.multivariate_normal(cal["need_mean"], cal["need_cov"], size=n)
    need_df = pd.DataFrame(need, columns=NEED_COLUMNS)
    need_df["imd_income_score"] = need_df["imd_income_score"].clip(0.01, 0.6)
    need_df["share_aged_75_plus"] = need_df["share_aged_75_plus"].clip(0.01, 0.4)
    need_df["imd_score"] = need_df["imd_score"].clip(1, 80)
    X = need_df[list(MODEL_NEED)].to_numpy()
    # as the default model adjusts (config need.by_group: none for specialist trusts): each covariate standardised
    # over the trusts it applies to, 0 for the others, so the truth is the model's own parameterisation
    applies = need_covariates_by_group(schema.SIZE_CLASSES, load_config())
    mask = np.array([[c in applies[s] for c in MODEL_NEED] for s in sizes], bool)
    Xa = np.where(mask, X, np.nan)
    x_mean, x_sd = np.nanmean(Xa, 0), np.nanstd(Xa, 0, ddof=1)
    x = np.where(mask, (X - x_mean) / x_sd, 0.0)

    crng = np.random.default_rng([seed, 15])  # the cancer standards' own stream (module docstring)
    tp = true_parameters(rng, cal, crng)
    L = np.linalg.cholesky(tp["R"])
    K0 = len(INDICATORS) - len(_CANCER)
    # L is lower triangular: the first K0 columns of z are those of the four-indicator panel
    z = np.hstack([rng.normal(size=(n, K0)), crng.normal(size=(n, len(_CANCER)))]) @ L.T
    u = tp["sigma"][g] * z
    theta = tp["mu"][g] + x @ tp["beta"].T + u
    eps = None
    if period_sd:
        bad = sorted(set(period_sd) - {k for k in INDICATORS if registry.get(k).family == "binomial"})
        if bad:
            raise ValueError(f"period_sd: {bad} are not binomial indicators of the synthetic panel")
        prng = np.random.default_rng([seed, 19])  # its own stream: the panel's other draws are unchanged
        eps = np.hstack([prng.standard_normal((n, K0)), prng.standard_normal((n, len(_CANCER)))]) * np.array(
            [period_sd.get(k, 0.0) for k in INDICATORS])

    # size: expected cost by size class (log-normal), then volumes proportional to it
    lc = np.array([rng.normal(*cal["log_expected_cost_by_size"][s]) for s in sizes])
    exp_cost = np.exp(lc)
    p = pd.DataFrame({"period": PERIOD, "org_code": [f"S{i + 1:03d}" for i in range(n)],
                      "org_name": _names(n, sizes, rng), "region": regions,
                      "trust_type": np.where(sizes == "specialist", "acute specialist", "acute non-specialist"),
                      "size_class": sizes})
    # SHMI (non-specialist only)
    E = np.round(exp_cost * cal["shmi_expected_per_gbp_m"] * np.exp(rng.normal(0, 0.15, n)))
    has_shmi = sizes != "specialist"
    O = rng.poisson(E * np.exp(theta[:, 0])).astype(float)
    p["shmi_expected_deaths"] = np.where(has_shmi, E, np.nan)
    p["shmi_observed_deaths"] = np.where(has_shmi, O, np.nan)
    p["shmi_spells"] = np.where(has_shmi, np.round(E * cal["shmi_spells_per_expected_death"]
                                                   * np.exp(rng.normal(0, 0.1, n))), np.nan)
    p["shmi_value"] = p.shmi_observed_deaths / p.shmi_expected_deaths
    p["shmi_banding_published"] = np.nan

    def binom(key, k, missing_share, r=rng):
        den = np.round(exp_cost * np.exp(cal[key]["log_den_per_gbp_m"] + r.normal(0, 0.3, n)))
        th = theta[:, k] if eps is None else theta[:, k] + eps[:, k]  # the observed month's logit
        num = r.binomial(den.astype(np.int64), 1 / (1 + np.exp(-th))).astype(float)
        miss = r.random(n) < missing_share
        return np.where(miss, np.nan, num), np.where(miss, np.nan, den)

    p["rtt_waiting_under_18w"], p["rtt_total_waiting"] = binom("rtt", 1, cal["rtt"]["share_missing"])
    p["rtt_waiting_over_52w"] = np.round((p.rtt_total_waiting - p.rtt_waiting_under_18w) * 0.03)
    within, att = binom("ae", 2, cal["ae"]["share_missing"])
    specialist_no_ae = (sizes == "specialist") & (rng.random(n) < 0.5)
    att = np.where(specialist_no_ae, np.nan, att)
    within = np.where(specialist_no_ae, np.nan, within)
    p["ae_attendances"], p["ae_over_4h"] = att, att - within
    p["ae_type1_attendances"] = np.round(att * 0.7)
    p["ae_type1_over_4h"] = np.minimum(np.round(p["ae_over_4h"] * 0.97), p["ae_type1_attendances"])
    p["fft_positive"], p["fft_responses"] = binom("fft", 3, cal["fft"]["share_missing"])
    p["cancer_fds_28d_pct"] = np.where(has_shmi, np.clip(rng.normal(77, 6, n), 0, 100), np.nan)
    p["cancer_62d_pct"] = np.where(has_shmi, np.clip(rng.normal(71, 8.5, n), 0, 100), np.nan)

    for k in _CANCER:
        kk = INDICATORS.index(k)
        rec = registry.get(k)
        p[rec.numerator], p[rec.denominator] = binom(k, kk, cal[k]["share_missing"], crng)

    # cost: Student-t log cost indices per outcome
    t = rng.standard_t(tp["nu_c"], size=(n, len(COST_OUTCOMES)))
    v = tp["sigma_c"][g] * t
    ci = tp["mu_c"][g] + x @ tp["beta_c"].T + v
    for jj, j in enumerate(COST_OUTCOMES):
        share = cal["cost_index"][j]["median_share_of_total_expected"]
        e_j = exp_cost * share * (np.exp(rng.normal(0, 0.1, n)) if j != "total" else 1.0)
        a_j = e_j * np.exp(ci[:, jj])
        req = registry.COST_OUTCOMES[j].requires  # a setting the trust does not provide has no cost (A&E)
        if req:
            e_j = np.where(np.isnan(p[req].to_numpy(float)), np.nan, e_j)
            a_j = np.where(np.isnan(p[req].to_numpy(float)), np.nan, a_j)
        p[registry.COST_OUTCOMES[j].expected] = np.round(e_j, 2)
        p[registry.COST_OUTCOMES[j].actual] = np.round(a_j, 2)

    p["workforce_fte"] = np.round(exp_cost * cal["fte_per_gbp_m"] * np.exp(rng.normal(0, 0.1, n)), 1)
    p["workforce_nursing_fte"] = np.round(exp_cost * cal["nursing_fte_per_gbp_m"] * np.exp(rng.normal(0, 0.1, n)), 1)
    p["workforce_medical_fte"] = np.round(exp_cost * cal["medical_fte_per_gbp_m"] * np.exp(rng.normal(0, 0.1, n)), 1)
    p["beds_ga_available"] = np.round(exp_cost * cal["beds_per_gbp_m"] * np.exp(rng.normal(0, 0.15, n)))
    p["catchment_population"] = np.where(has_shmi, np.round(exp_cost * cal["catchment_per_gbp_m"]
                                                            * np.exp(rng.normal(0, 0.2, n))), np.nan)
    for c in NEED_COLUMNS:
        p[c] = need_df[c].to_numpy()
    p["catchment_weight_coverage"] = 1.0
    panel = schema.validate_panel(p)

    truth = {"seed": seed, "indicators": list(INDICATORS), "cost_outcomes": list(COST_OUTCOMES),
             "peer_groups": list(schema.SIZE_CLASSES), "need_covariates": list(MODEL_NEED),
             "need_standardisation": {"mean": x_mean.tolist(), "sd": x_sd.tolist()},
             "need_by_group": {g: list(c) for g, c in applies.items()},
             **{k: (np.asarray(v).tolist() if not np.isscalar(v) else v) for k, v in tp.items()}}
    if eps is not None:
        truth["period_sd"] = {k: float(v) for k, v in period_sd.items()}
    trusts = pd.DataFrame({"org_code": p.org_code, "peer_group": sizes})
    for kk, k in enumerate(INDICATORS):
        trusts[f"u_{k}"] = u[:, kk]
        trusts[f"theta_{k}"] = theta[:, kk]
        if eps is not None:
            trusts[f"eps_{k}"] = eps[:, kk]
    for jj, j in enumerate(COST_OUTCOMES):
        trusts[f"cost_effect_{j}"] = v[:, jj]
    rep = QualityReport(kind="synthetic")
    rep.notes.append(f"Synthetic panel, seed {seed}: invented trusts drawn from the documented generative model "
                     "(analysis/synthetic.py), calibrated to the real panel's summary figures.")
    rep.notes.append("Published SHMI banding is not simulated (column left empty).")
    for r in panel.itertuples():
        rep.include(r.org_code, r.org_name, size_class=r.size_class)
    return panel, truth, trusts, rep


def add_indicator(panel: pd.DataFrame, name: str, seed: int, centre: float, spread: float,
                  den_per_gbp_m: float = 100.0, share_missing: float = 0.0) -> tuple[pd.DataFrame, np.ndarray]:
    """The panel with the numerator and denominator columns of registered indicator ``name`` drawn from its
    record's likelihood family: linear predictor ``centre + spread z`` (z standard normal, no need or peer
    effects), denominators (trials, or expected events) proportional to the trust's expected cost.  Returns (panel,
    true linear predictor).  For an indicator without a calibrated generator above, e.g. a test's toy record; the
    record's numerator must be a column name."""
    rec = registry.get(name)
    if not isinstance(rec.numerator, str):
        raise ValueError(f"indicator {name!r}: add_indicator needs a numerator column, not a function")
    rng = np.random.default_rng([seed, len(name)])
    n = len(panel)
    theta = centre + spread * rng.standard_normal(n)
    den = np.round(panel["ncc_expected_cost_total_gbp_m"].to_numpy(float) * den_per_gbp_m
                   * np.exp(rng.normal(0, 0.3, n)))
    num = rec.fam.simulate(rng, den, theta).astype(float)
    miss = rng.random(n) < share_missing
    out = panel.copy()
    out[rec.numerator] = np.where(miss, np.nan, num)
    out[rec.denominator] = np.where(miss, np.nan, den)
    return out, theta
