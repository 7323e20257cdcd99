"""Agreement with a frequentist mixed model of the same quality model (issue 4).

The frequentist fit.  For each indicator k separately, trust i's outcome is put on the model's linear-predictor
scale with its known sampling variance,

    SHMI:          y[i] = log((O + 0.5) / E),                  v[i] = 1 / (O + 0.5)
    RTT, A&E, FFT: y[i] = log((s + 0.5) / (n - s + 0.5)),      v[i] = 1 / (s + 0.5) + 1 / (n - s + 0.5)

(log rate ratio and Cox's empirical logit, both the standard delta-method transforms), and fitted with the
linear mixed model with the same fixed effects as the Bayesian model and a random trust intercept,

    y[i] = mu[g(i)] + beta . x[i] + u[i] + e[i],   u[i] ~ N(0, tau^2),   e[i] ~ N(0, v[i])  (v known),

i.e. a random-effects meta-regression: the additive over-dispersion model that NHS Digital's SHMI funnel and the
Spiegelhalter (2005) funnel plots use, here with peer-group means and need covariates.  It is the normal
approximation of the Bayesian model's Poisson / binomial likelihood (each trust's likelihood for theta replaced by
a normal with the delta-method variance): accurate for SHMI, RTT and A&E (hundreds of deaths, thousands of
patients per trust), weakest for FFT at trusts with few responses or few negative ones, which :func:`compare`
shows as the part of the difference the shrinkage and the expectation do not explain.  (Measured on data simulated
from one national tau on the synthetic panel's structure, 60 data sets: tau^2 within 1 % on average for SHMI, RTT
and A&E, 6 % low for FFT.)

Why this and not a count GLMM.  statsmodels 0.15 has no maximum-likelihood GLMM for counts: its
``PoissonBayesMixedGLM`` / ``BinomialBayesMixedGLM`` are *Bayesian* (variational or Laplace posterior mode with
normal priors), take no offset (the SHMI's expected deaths cannot enter as log E) and model Bernoulli rows, so the
binomial indicators would need one row per patient (millions).  ``MixedLM`` is a linear mixed model but always
estimates the residual variance: it cannot hold the within-trust variances v[i] fixed, which is what separates
sampling noise from real between-trust variation.  The meta-regression above is the established frequentist
model that keeps both.

How it is fitted, and what is glue.  For a given tau^2 the fixed effects are the weighted least-squares fit with
weights 1 / (v + tau^2) and the scale held at 1 -- statsmodels ``GLM(..., var_weights=w).fit(scale=1.0)``, the
replication of random-effects meta-analysis that statsmodels documents in its meta-analysis notebook; its Pearson
chi-square is the generalised Q statistic.  tau^2 is the Paule-Mandel (empirical Bayes) estimate: the root of
``Q(tau^2) = N - p`` (DerSimonian & Kacker 2007; recommended by Veroniki et al. 2016 and Langan et al. 2019), found
with ``scipy.optimize.brentq``, with the Q-profile 95 % interval (Viechtbauer 2007) from the same function.
statsmodels implements Paule-Mandel only without covariates (``combine_effects(..., method_re="pm")``), so this
root search is the one piece of glue written here; with an intercept alone it reproduces statsmodels' estimate
(tested).  The trust effect is the BLUP (empirical Bayes estimate)
``u[i] = lambda[i] (y[i] - X[i] b)`` with ``lambda[i] = tau^2 / (tau^2 + v[i])`` and prediction-error variance
``lambda[i] v[i] + lambda[i]^2 X[i] V_b X[i]'`` (Henderson), conditional on tau^2.

Where the Bayesian answer differs, and why (measured by :func:`compare`):

* **Scale of shrinkage.**  The Bayesian model shrinks each trust toward its peer group's need-adjusted mean with a
  peer-specific scale sigma[g,k]; the mixed model uses one national tau per indicator.  Trusts in peer groups whose
  scale differs from tau are shrunk by a different amount: ``(lambda_B - lambda_G) (y - X b)``.
* **Expectation.**  The two fits estimate mu and beta with different weights (peer-specific vs national scale;
  trust effects correlated across indicators vs independent), so the expectation a trust is compared with differs:
  ``lambda_B (X b_G - X b_B)``.
* **Everything else** (the remainder): the Bayesian model borrows strength across a trust's correlated indicators,
  uses the exact count likelihood rather than the normal approximation, and averages over the uncertainty in the
  scales, which the mixed model plugs in as point estimates.
* **Between-trust SD.**  tau is a moment estimate with no prior and a Q-profile interval; the Bayesian
  national-equivalent SD (root mean square of sigma[g(i),k] over the trusts reporting k) is a posterior mean under
  half-normal priors, and the peer scales themselves can differ from tau.

Pure pieces: :func:`transformed_outcome`, :func:`generalised_q`, :func:`paule_mandel_tau2`, :func:`q_profile`,
:func:`fit_indicator`, :func:`fit_glmm`, :func:`compare`, :func:`agreement_figure`; :func:`run_glmm` writes the
tables, the figure and the manifest items.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, stats

from analysis import io
from analysis.manifest import Item
from models import indicators as registry
from models.value_model import ModelData

#: the check passes when, for every indicator, posterior means and BLUPs of the trust effects correlate at least this
MIN_CORRELATION = 0.9
#: trusts listed per indicator as differing most between the two fits
N_LARGEST = 3
Z95 = stats.norm.ppf(0.975)


# ----------------------------------------------------------------------------- the frequentist fit (pure)

def transformed_outcome(y: np.ndarray, n: np.ndarray, indicator: str) -> tuple[np.ndarray, np.ndarray]:
    """(effect, sampling variance) on the linear-predictor scale: log(O/E) for SHMI, empirical logit otherwise.

    The 0.5 corrections keep zero counts finite (e.g. an FFT trust with no negative responses); they matter only
    where a count is small, which is where the normal approximation is weakest anyway.
    """
    y, n = np.asarray(y, float), np.asarray(n, float)
    return registry.get(indicator).fam.glmm_outcome(y, n)


def _min_count(y: np.ndarray, n: np.ndarray, indicator: str) -> np.ndarray:
    """Observed deaths (SHMI), else the smaller of successes and failures: where the normal approximation is weakest."""
    return registry.get(indicator).fam.min_count(y, n)


def _wls(eff: np.ndarray, var: np.ndarray, X: np.ndarray, tau2: float):
    """Fixed-effect fit for a given tau^2: GLM Gaussian with var_weights 1/(v + tau^2) and scale held at 1."""
    return sm.GLM(eff, X, family=sm.families.Gaussian(), var_weights=1 / (var + tau2)).fit(scale=1.0)


def generalised_q(eff: np.ndarray, var: np.ndarray, X: np.ndarray, tau2: float) -> float:
    """Generalised Q: the weighted residual sum of squares (Pearson chi-square) at tau^2; decreasing in tau^2."""
    return float(_wls(eff, var, X, tau2).pearson_chi2)


def _root(eff, var, X, target: float) -> float:
    """tau^2 >= 0 with Q(tau^2) = target (0 when Q(0) is already at or below it)."""
    f = lambda t: generalised_q(eff, var, X, t) - target
    if f(0.0) <= 0:
        return 0.0
    hi = float(np.var(eff)) + float(np.median(var))
    while f(hi) > 0:
        hi *= 4
    return float(optimize.brentq(f, 0.0, hi, xtol=1e-12, rtol=1e-10))


def paule_mandel_tau2(eff: np.ndarray, var: np.ndarray, X: np.ndarray) -> float:
    """Paule-Mandel between-trust variance for a meta-regression: the root of Q(tau^2) = N - p."""
    return _root(eff, var, X, len(eff) - X.shape[1])


def q_profile(eff: np.ndarray, var: np.ndarray, X: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Q-profile confidence interval for tau^2 (Viechtbauer 2007): Q(tau^2) between the chi-square(N - p) quantiles."""
    df = len(eff) - X.shape[1]
    a = (1 - level) / 2
    return _root(eff, var, X, stats.chi2.ppf(1 - a, df)), _root(eff, var, X, stats.chi2.ppf(a, df))


def design(d: ModelData, rows: np.ndarray) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Fixed-effect design for the trusts ``rows``: one column per peer group present, then the need covariates.

    Returns the matrix and each column's (kind, name): ("peer_mean", group) or ("need_coef", covariate).
    """
    present = [gi for gi in range(len(d.peer_groups)) if np.any(d.g[rows] == gi)]
    peers = np.column_stack([(d.g[rows] == gi).astype(float) for gi in present])
    X = np.column_stack([peers, d.x[rows]])
    return X, [("peer_mean", d.peer_groups[gi]) for gi in present] + [("need_coef", c) for c in d.need_names]


@dataclass
class IndicatorFit:
    """The mixed model of one indicator: fixed effects, tau^2 and its interval, BLUPs."""

    rows: np.ndarray          # trust indices (into d.trusts) that report the indicator
    columns: list[tuple[str, str]]
    params: np.ndarray        # fixed effects
    cov: np.ndarray           # their covariance (tau^2 plugged in)
    tau2: float
    tau2_ci: tuple[float, float]
    eff: np.ndarray           # transformed outcome
    var: np.ndarray           # its sampling variance
    fixed: np.ndarray         # X b
    fixed_se: np.ndarray
    shrinkage: np.ndarray     # lambda = tau^2 / (tau^2 + v)
    blup: np.ndarray
    blup_se: np.ndarray


def fit_indicator(d: ModelData, k: int) -> IndicatorFit:
    """Fit the random-effects meta-regression of indicator ``k`` over the trusts that report it."""
    rows = np.nonzero(d.observed[:, k])[0]
    eff, var = transformed_outcome(d.y[rows, k], d.n[rows, k], d.indicators[k])
    X, columns = design(d, rows)
    if len(rows) <= X.shape[1]:
        raise ValueError(f"{d.indicators[k]}: {len(rows)} trusts for {X.shape[1]} fixed effects")
    tau2 = paule_mandel_tau2(eff, var, X)
    res = _wls(eff, var, X, tau2)
    b, V = np.asarray(res.params), np.asarray(res.cov_params())
    fixed = X @ b
    fixed_var = np.einsum("ij,jk,ik->i", X, V, X)
    lam = tau2 / (tau2 + var)
    return IndicatorFit(rows, columns, b, V, tau2, q_profile(eff, var, X), eff, var, fixed, np.sqrt(fixed_var),
                        lam, lam * (eff - fixed), np.sqrt(lam * var + lam**2 * fixed_var))


@dataclass
class GlmmFit:
    """The frequentist fit of every indicator, as tables."""

    trust_effects: pd.DataFrame   # one row per trust x observed indicator
    parameters: pd.DataFrame      # peer means, need coefficients, between-trust SD per indicator
    fits: dict[str, IndicatorFit]


def fit_glmm(d: ModelData) -> GlmmFit:
    """Fit every indicator; tables of trust effects (BLUPs) and parameters.

    ``parameters``: the between-trust SD has no standard error (tau^2 is a moment estimate); its interval is the
    square root of the Q-profile interval, and ``se`` is left empty.
    """
    te, par, fits = [], [], {}
    peer = d.trusts.peer_group.to_numpy()
    for k, ind in enumerate(d.indicators):
        if not d.observed[:, k].any():
            continue
        f = fits[ind] = fit_indicator(d, k)
        t = d.trusts.iloc[f.rows]
        te.append(pd.DataFrame({
            "org_code": t.org_code.to_numpy(), "indicator": ind, "peer_group": t.peer_group.to_numpy(),
            "denominator": d.n[f.rows, k], "min_count": _min_count(d.y[f.rows, k], d.n[f.rows, k], ind),
            "effect": f.eff, "sampling_se": np.sqrt(f.var),
            "glmm_fixed": f.fixed, "glmm_fixed_se": f.fixed_se, "glmm_shrinkage": f.shrinkage,
            "glmm_blup": f.blup, "glmm_blup_se": f.blup_se}))
        se = np.sqrt(np.diag(f.cov))
        for j, (kind, name) in enumerate(f.columns):
            par.append({"indicator": ind, "parameter": f"{'mu' if kind == 'peer_mean' else 'beta'}[{name}]",
                        "kind": kind, "estimate": f.params[j], "se": se[j],
                        "lo95": f.params[j] - Z95 * se[j], "hi95": f.params[j] + Z95 * se[j],
                        "n_trusts": len(f.rows) if kind == "need_coef" else int(np.sum(peer[f.rows] == name))})
        par.append({"indicator": ind, "parameter": "sd_between", "kind": "between_sd", "estimate": np.sqrt(f.tau2),
                    "se": np.nan, "lo95": np.sqrt(f.tau2_ci[0]), "hi95": np.sqrt(f.tau2_ci[1]),
                    "n_trusts": len(f.rows)})
    return GlmmFit(pd.concat(te, ignore_index=True), pd.DataFrame(par), fits)


# ----------------------------------------------------------------------------- comparison with the posterior (pure)

def _draws(post, name: str, **sel) -> np.ndarray:
    """(S, ...) draws of ``name`` with its coordinates put in the model data's order."""
    a = post[name].sel(**sel) if sel else post[name]
    v = a.values
    return v.reshape((-1,) + v.shape[2:])


def _interval(draws: np.ndarray) -> dict[str, np.ndarray]:
    return {"bayes_mean": draws.mean(0), "bayes_sd": draws.std(0, ddof=1),
            "bayes_lo95": np.quantile(draws, 0.025, axis=0), "bayes_hi95": np.quantile(draws, 0.975, axis=0)}


def _source_text(row) -> str:
    """One line naming the largest of the three components of a trust's difference, with its numbers."""
    if row.main_source == "shrinkage":
        more = "more" if row.bayes_shrinkage < row.glmm_shrinkage else "less"
        return (f"shrinkage: the Bayesian model shrinks {more} (weight on own data {row.bayes_shrinkage:.3f} vs "
                f"{row.glmm_shrinkage:.3f}; {row.peer_group} scale {row.bayes_peer_sd:.3f} vs national τ "
                f"{row.glmm_tau:.3f})")
    if row.main_source == "expectation":
        return (f"expectation: the need-adjusted peer expectation differs by {row.glmm_fixed - row.bayes_fixed:+.3f} "
                f"(GLMM minus Bayesian)")
    rec = registry.get(row.indicator)
    count = rec.fam.min_count_text(row.min_count, rec)
    return (f"other: borrowing from the trust's correlated indicators, the exact count likelihood ({count}) and the "
            "uncertainty in the scales")


def compare(d: ModelData, idata, glmm: GlmmFit) -> dict[str, pd.DataFrame]:
    """Posterior of the Bayesian model against the mixed model: trust effects, parameters and per-indicator agreement.

    Returns ``{"trust_effects", "agreement", "parameters", "largest"}``:

    * ``trust_effects``: per trust x observed indicator, the BLUP and the posterior of u, their difference split
      into ``diff_shrinkage = (lambda_B - lambda_G)(y - X b_G)``, ``diff_expectation = lambda_B (X b_G - X b_B)``
      and ``diff_other`` (the rest), where lambda_B = s^2 / (s^2 + v) with s^2 the posterior mean of sigma[g,k]^2;
      ``glmm_in_credible`` says whether the BLUP is inside the 95 % credible interval of u (``flag`` when not);
    * ``agreement``: per indicator, Pearson and Spearman correlation, slope (posterior mean on BLUP), mean and
      maximum absolute difference, share of BLUPs inside the credible interval, tau vs the Bayesian SD, mean
      shrinkage factors;
    * ``parameters``: mu, beta, the between-trust SD (Bayesian: root mean square of sigma[g(i),k] over the trusts
      reporting k, per draw) and each peer group's sigma[g,k] against the national tau: posterior mean and 95 %
      interval vs the GLMM estimate and 95 % interval;
    * ``largest``: the ``N_LARGEST`` trusts per indicator whose two estimates differ most (with denominators).
    """
    post = idata.posterior
    codes = d.trusts.org_code.tolist()
    u = _draws(post, "u", trust=codes, indicator=d.indicators)                        # (S, N, K)
    mu = _draws(post, "mu", peer=d.peer_groups, indicator=d.indicators)               # (S, G, K)
    sigma = _draws(post, "sigma", peer=d.peer_groups, indicator=d.indicators)         # (S, G, K)
    beta = (_draws(post, "beta", indicator=d.indicators, need=d.need_names) if d.need_names
            else np.zeros((mu.shape[0], len(d.indicators), 0)))                       # (S, K, P)
    fixed_b = mu.mean(0)[d.g] + d.x @ beta.mean(0).T                                  # (N, K) mean of mu + beta x
    sig2 = (sigma**2).mean(0)                                                         # (G, K)

    te, par, agr = [], [], []
    for k, ind in enumerate(d.indicators):
        if ind not in glmm.fits:
            continue
        f = glmm.fits[ind]
        r = f.rows
        t = glmm.trust_effects[glmm.trust_effects.indicator == ind].reset_index(drop=True)
        iv = _interval(u[:, r, k])
        lam_b = sig2[d.g[r], k] / (sig2[d.g[r], k] + f.var)
        tab = t.assign(**iv, bayes_fixed=fixed_b[r, k], bayes_peer_sd=np.sqrt(sig2[d.g[r], k]),
                       glmm_tau=np.sqrt(f.tau2), bayes_shrinkage=lam_b)
        tab["diff"] = tab.bayes_mean - tab.glmm_blup
        tab["diff_shrinkage"] = (lam_b - f.shrinkage) * (f.eff - f.fixed)
        tab["diff_expectation"] = lam_b * (f.fixed - fixed_b[r, k])
        tab["diff_other"] = tab["diff"] - tab.diff_shrinkage - tab.diff_expectation
        parts = tab[["diff_shrinkage", "diff_expectation", "diff_other"]].abs().to_numpy()
        tab["main_source"] = np.array(["shrinkage", "expectation", "other"])[parts.argmax(1)]
        tab["glmm_in_credible"] = (tab.glmm_blup >= tab.bayes_lo95) & (tab.glmm_blup <= tab.bayes_hi95)
        tab["flag"] = np.where(tab.glmm_in_credible, "", "GLMM outside 95% credible interval")
        tab["explanation"] = [_source_text(row) for row in tab.itertuples()]
        te.append(tab)

        # parameters: peer means and need coefficients
        for j, (kind, name) in enumerate(f.columns):
            dr = mu[:, d.peer_groups.index(name), k] if kind == "peer_mean" else beta[:, k, d.need_names.index(name)]
            par.append({"indicator": ind, "parameter": f"{'mu' if kind == 'peer_mean' else 'beta'}[{name}]",
                        "kind": kind, **{a: float(b) for a, b in _interval(dr).items()}, "glmm_estimate": f.params[j],
                        "glmm_se": np.sqrt(f.cov[j, j]), "glmm_lo95": f.params[j] - Z95 * np.sqrt(f.cov[j, j]),
                        "glmm_hi95": f.params[j] + Z95 * np.sqrt(f.cov[j, j])})
        tau, (tlo, thi) = np.sqrt(f.tau2), np.sqrt(f.tau2_ci)
        pooled = np.sqrt(np.mean(sigma[:, d.g[r], k] ** 2, axis=1))
        par.append({"indicator": ind, "parameter": "sd_between", "kind": "between_sd",
                    **{a: float(b) for a, b in _interval(pooled).items()},
                    "glmm_estimate": tau, "glmm_se": np.nan, "glmm_lo95": tlo, "glmm_hi95": thi})
        for gi in sorted(set(d.g[r])):
            par.append({"indicator": ind, "parameter": f"sigma[{d.peer_groups[gi]}]", "kind": "peer_sd",
                        **{a: float(b) for a, b in _interval(sigma[:, gi, k]).items()},
                        "glmm_estimate": tau, "glmm_se": np.nan, "glmm_lo95": tlo, "glmm_hi95": thi})

        slope = np.polyfit(tab.glmm_blup, tab.bayes_mean, 1)[0]
        agr.append({"indicator": ind, "n_trusts": len(tab),
                    "correlation": float(np.corrcoef(tab.glmm_blup, tab.bayes_mean)[0, 1]),
                    "spearman": float(stats.spearmanr(tab.glmm_blup, tab.bayes_mean)[0]),
                    "slope": float(slope), "mean_abs_diff": float(tab["diff"].abs().mean()),
                    "max_abs_diff": float(tab["diff"].abs().max()),
                    "share_in_credible": float(tab.glmm_in_credible.mean()),
                    "glmm_tau": tau, "bayes_sd_between": float(pooled.mean()),
                    "mean_glmm_shrinkage": float(f.shrinkage.mean()), "mean_bayes_shrinkage": float(lam_b.mean())})

    trust = pd.concat(te, ignore_index=True)
    params = pd.DataFrame(par)
    est = params.glmm_estimate
    params["glmm_in_credible"] = (est >= params.bayes_lo95) & (est <= params.bayes_hi95)
    params["intervals_overlap"] = (params.glmm_lo95 <= params.bayes_hi95) & (params.glmm_hi95 >= params.bayes_lo95)
    params["z"] = (params.glmm_estimate - params.bayes_mean) / params.bayes_sd
    params["explanation"] = [_param_text(row) for row in params.itertuples()]
    largest = (trust.assign(abs_diff=trust["diff"].abs())
               .sort_values(["indicator", "abs_diff"], ascending=[True, False])
               .groupby("indicator", sort=False).head(N_LARGEST).drop(columns="abs_diff").reset_index(drop=True))
    return {"trust_effects": trust, "agreement": pd.DataFrame(agr), "parameters": params, "largest": largest}


def _param_text(row) -> str:
    """Why a parameter row differs (empty when the GLMM estimate is inside the credible interval)."""
    if row.glmm_in_credible:
        return ""
    where = f"GLMM {row.glmm_estimate:.3f} is {row.z:+.1f} posterior SD from the posterior mean {row.bayes_mean:.3f}"
    weights = ("the two fits weight trusts differently (peer-specific vs national scale) and the Bayesian trust "
               "effects are correlated across indicators")
    why = {"peer_mean": weights, "need_coef": weights,
           "between_sd": "τ is a moment estimate plugged in without prior; the Bayesian SD is a posterior mean "
                         "under half-normal priors with peer-specific scales",
           "peer_sd": "this peer group's between-trust spread differs from the single national τ the GLMM assumes"}
    return f"{where}: {why[row.kind]}"


# ----------------------------------------------------------------------------- figure and manifest items

def agreement_figure(cmp: dict[str, pd.DataFrame]):
    """GLMM BLUP against posterior mean of each trust effect, one panel per indicator, with the identity line.

    Grey bars are the 95 % credible intervals; red points are BLUPs outside them.
    """
    from matplotlib.figure import Figure

    from analysis.figures import WIDTH

    te, agr = cmp["trust_effects"], cmp["agreement"].set_index("indicator")
    inds = list(agr.index)
    ncol = 2
    nrow = -(-len(inds) // ncol)
    fig = Figure(figsize=(WIDTH, 3.0 * nrow), layout="constrained")
    axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
    for ax, ind in zip(axes, inds):
        t = te[te.indicator == ind]
        lo, hi = min(t.glmm_blup.min(), t.bayes_lo95.min()), max(t.glmm_blup.max(), t.bayes_hi95.max())
        ax.plot([lo, hi], [lo, hi], color="0.4", lw=0.8, ls="--", zorder=1)
        ax.vlines(t.glmm_blup, t.bayes_lo95, t.bayes_hi95, color="0.8", lw=0.6, zorder=2)
        out = ~t.glmm_in_credible
        ax.scatter(t.glmm_blup[~out], t.bayes_mean[~out], s=9, color="#005EB8", zorder=3)
        ax.scatter(t.glmm_blup[out], t.bayes_mean[out], s=12, color="#D5281B", zorder=4)
        a = agr.loc[ind]
        ax.set_title(f"{registry.get(ind).label}: r = {a.correlation:.3f}, slope = {a.slope:.2f}", fontsize=8)
        scale = registry.get(ind).effect_unit
        ax.set_xlabel(f"GLMM BLUP ({scale})", fontsize=8)
        ax.set_ylabel("posterior mean of u", fontsize=8)
        ax.tick_params(labelsize=7, length=3)
    for ax in axes[len(inds):]:
        ax.set_visible(False)
    return fig


def _fmt_share(x: float) -> str:
    return f"{100 * x:.0f}%"


def _trust_text(cmp: dict[str, pd.DataFrame]) -> str:
    te, agr, lg = cmp["trust_effects"], cmp["agreement"], cmp["largest"]
    comp = te[["diff_shrinkage", "diff_expectation", "diff_other"]].abs().mean()
    main = te.main_source.value_counts()
    rows = "\n".join(
        f"| {registry.get(a.indicator).label} | {a.n_trusts} | {a.correlation:.3f} | {a.spearman:.3f} | "
        f"{a.slope:.2f} | {a.mean_abs_diff:.3f} | {a.max_abs_diff:.3f} | {_fmt_share(a.share_in_credible)} | "
        f"{a.glmm_tau:.3f} | {a.bayes_sd_between:.3f} | {a.mean_glmm_shrinkage:.3f} | {a.mean_bayes_shrinkage:.3f} |"
        for a in agr.itertuples())
    largest = "\n".join(f"* {registry.get(r.indicator).label}, {r.org_code} ({r.peer_group}, "
                        f"{registry.get(r.indicator).denominator_text} {r.denominator:,.0f}): "
                        f"BLUP {r.glmm_blup:+.3f}, posterior mean {r.bayes_mean:+.3f} "
                        f"[{r.bayes_lo95:+.3f}, {r.bayes_hi95:+.3f}]; {r.explanation}."
                        for r in lg.itertuples())
    n_out = int((~te.glmm_in_credible).sum())
    return (
        "Each quality indicator was refitted as a frequentist random-effects meta-regression (a linear mixed model on "
        "log(O/E) for SHMI and the empirical logit for RTT, A&E and FFT, with the delta-method sampling variance held "
        "fixed): the same peer-group means and need covariates as the Bayesian model, one random trust intercept with "
        "a national between-trust variance τ² (Paule-Mandel), fixed effects from statsmodels GLM with weights "
        "1/(v + τ²), and trust effects as BLUPs (empirical Bayes).\n\n"
        f"Over {len(te)} trust-indicator effects, {n_out} BLUPs fall outside the Bayesian 95% credible interval of the "
        f"same effect ({_fmt_share(n_out / len(te))}).\n\n"
        "| Indicator | Trusts | r | Spearman | Slope | Mean abs. diff. | Max abs. diff. | BLUP in 95% CrI | GLMM τ | "
        "Bayes SD | GLMM weight on own data | Bayes weight on own data |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        f"{rows}\n\n"
        "Slope is the least-squares slope of the posterior mean on the BLUP (below 1: the Bayesian model shrinks "
        "more). Weight on own data is the shrinkage factor s²/(s² + v), with s the national τ (GLMM) or the "
        "trust's peer-group scale (Bayesian), averaged over trusts.\n\n"
        "Where the two differ.  Each trust's difference (posterior mean minus BLUP) is split into a shrinkage part "
        "(the Bayesian peer-specific scale against the national τ), an expectation part (the need-adjusted peer "
        "expectation the trust is compared with) and the rest (borrowing across the trust's correlated indicators, "
        "the exact Poisson/binomial likelihood instead of the normal approximation, and uncertainty in the scales, "
        f"which the GLMM plugs in). Mean absolute sizes: shrinkage {comp.diff_shrinkage:.4f}, expectation "
        f"{comp.diff_expectation:.4f}, rest {comp.diff_other:.4f}; the largest part is the expectation for "
        f"{main.get('expectation', 0)}, the shrinkage for {main.get('shrinkage', 0)} and the rest for "
        f"{main.get('other', 0)} of the {len(te)} effects.  The trusts that differ most:\n\n{largest}\n")


def _param_text_md(cmp: dict[str, pd.DataFrame]) -> str:
    p = cmp["parameters"]
    main = p[p.kind != "peer_sd"]
    psd = p[p.kind == "peer_sd"]
    by_kind = main.groupby("kind", sort=False).glmm_in_credible.agg(["sum", "size"])
    names = {"peer_mean": "peer-group means", "need_coef": "need coefficients", "between_sd": "between-trust SDs"}
    kinds = ", ".join(f"{int(r['sum'])} of {int(r['size'])} {names[k]}" for k, r in by_kind.iterrows())
    outside = main[~main.glmm_in_credible]
    lines = "\n".join(f"* {r.indicator} {r.parameter}: {r.explanation}." for r in outside.itertuples())
    sd = "\n".join(
        f"* {registry.get(r.indicator).label}: GLMM τ {r.glmm_estimate:.3f} "
        f"[{r.glmm_lo95:.3f}, {r.glmm_hi95:.3f}], Bayesian {r.bayes_mean:.3f} [{r.bayes_lo95:.3f}, {r.bayes_hi95:.3f}]."
        for r in p[p.kind == "between_sd"].itertuples())
    spread = psd.groupby("indicator", sort=False).agg(lo=("bayes_mean", "min"), hi=("bayes_mean", "max"))
    spread_txt = "; ".join(f"{registry.get(i).label} {r.lo:.3f} to {r.hi:.3f}" for i, r in spread.iterrows())
    peer_out = psd[~psd.glmm_in_credible]
    peer_txt = ("" if peer_out.empty else " It lies outside for " + "; ".join(
        f"{r.indicator} {r.parameter} ({r.bayes_mean:.3f} [{r.bayes_lo95:.3f}, {r.bayes_hi95:.3f}] vs τ "
        f"{r.glmm_estimate:.3f})" for r in peer_out.itertuples()) + ".")
    return (
        f"{int(main.glmm_in_credible.sum())} of {len(main)} GLMM estimates "
        f"({_fmt_share(main.glmm_in_credible.mean())}) "
        f"lie inside the Bayesian 95% credible interval of the same parameter ({kinds}); the GLMM's 95% interval "
        f"overlaps the credible interval for {int(main.intervals_overlap.sum())} of {len(main)}.\n\n"
        + (f"Outside the credible interval:\n\n{lines}\n\n" if len(outside) else "")
        + "Between-trust SD (GLMM: Paule-Mandel τ with its Q-profile 95% interval; Bayesian: root mean square of "
        "the peer-group scales over the trusts reporting the indicator, posterior mean and 95% interval):\n\n"
        f"{sd}\n\n"
        f"The Bayesian model lets the scale differ by peer group (posterior means {spread_txt}); the single national "
        f"τ lies inside {int(psd.glmm_in_credible.sum())} of {len(psd)} peer-group credible intervals.{peer_txt}\n\n"
        "Why the answers differ at all: the GLMM treats τ² and the fixed effects as known once estimated (plug-in "
        "standard errors and BLUPs, no uncertainty in τ), uses one national τ per indicator and fits each "
        "indicator separately on a normal approximation; the Bayesian model averages over the scales, shrinks each "
        "trust toward its peer group with that group's own scale, and shares strength across correlated indicators "
        "through the exact count likelihood.\n")


#: leading columns of the written tables: the report shows a manifest table's first 8 columns and 25 rows
TRUST_COLUMNS = ["org_code", "indicator", "peer_group", "denominator", "glmm_blup", "bayes_mean", "diff",
                 "glmm_in_credible"]
PARAMETER_COLUMNS = ["indicator", "parameter", "glmm_estimate", "glmm_se", "bayes_mean", "bayes_lo95", "bayes_hi95",
                     "glmm_in_credible"]


def _display(df: pd.DataFrame, first: list[str], key: str) -> pd.DataFrame:
    """``first`` columns, then the rest; rows by decreasing absolute ``key`` (largest disagreements first)."""
    order = df[key].abs().sort_values(ascending=False, kind="stable").index
    return df.loc[order, first + [c for c in df.columns if c not in first]].reset_index(drop=True)


def run_glmm(d: ModelData, idata, out_dir: str | Path) -> list[Item]:
    """Fit, compare, write ``glmm_trust_effects.csv``, ``glmm_parameters.csv``, ``glmm_agreement.png``; manifest items.

    The trust-effect item passes when every indicator's correlation is at least ``MIN_CORRELATION``; the parameter
    item when every GLMM 95 % interval of a peer mean, need coefficient and between-trust SD overlaps the
    corresponding credible interval.
    """
    from analysis.figures import save

    out_dir = Path(out_dir)
    cmp = compare(d, idata, fit_glmm(d))
    io.write_table(_display(cmp["trust_effects"], TRUST_COLUMNS, "diff"), out_dir / "glmm_trust_effects",
                   formats=("csv",))
    io.write_table(_display(cmp["parameters"], PARAMETER_COLUMNS, "z"), out_dir / "glmm_parameters", formats=("csv",))
    save(agreement_figure(cmp), out_dir / "glmm_agreement.png")
    agr, p = cmp["agreement"].set_index("indicator"), cmp["parameters"]
    main = p[p.kind != "peer_sd"]
    extra_trust = {"correlation": agr.correlation.to_dict(), "spearman": agr.spearman.to_dict(),
                   "slope": agr.slope.to_dict(), "mean_abs_diff": agr.mean_abs_diff.to_dict(),
                   "max_abs_diff": agr.max_abs_diff.to_dict(), "share_in_credible": agr.share_in_credible.to_dict(),
                   "min_correlation": MIN_CORRELATION}
    extra_par = {"share_in_credible": float(main.glmm_in_credible.mean()), "n_parameters": len(main),
                 "share_overlap": float(main.intervals_overlap.mean()),
                 "share_peer_sd_in_credible": float(p[p.kind == "peer_sd"].glmm_in_credible.mean()),
                 "glmm_tau": agr.glmm_tau.to_dict(), "bayes_sd_between": agr.bayes_sd_between.to_dict()}
    return [
        Item("glmm_trust_effects", "Agreement with a frequentist mixed model: trust effects", _trust_text(cmp),
             table="glmm_trust_effects.csv", figure="glmm_agreement.png",
             caption="GLMM trust effects (BLUPs) against Bayesian posterior means, by indicator; grey bars are 95% "
                     "credible intervals, red points BLUPs outside them, the dashed line is identity.",
             passed=bool((agr.correlation >= MIN_CORRELATION).all()), extra=extra_trust),
        Item("glmm_parameters", "Agreement with a frequentist mixed model: parameters", _param_text_md(cmp),
             table="glmm_parameters.csv", passed=bool(main.intervals_overlap.all()), extra=extra_par),
    ]
