"""Agreement with a frequentist mixed model of the same quality model (issue 4).

The frequentist fit.  For each indicator k separately, trust i's outcome is put on the model's linear-predictor
scale with its known sampling variance,

    SHMI:          y[i] = log((O + 0.5) / E),                  v[i] = 1 / (O + 0.5)
    RTT, A&E, FFT: y[i] = log((s + 0.5) / (n - s + 0.5)),      v[i] = 1 / (s + 0.5) + 1 / (n - s + 0.5)

(log rate ratio and Cox's empirical logit, both the standard delta-method transforms), and fitted with the
linear mixed model with the same fixed effects as the Bayesian model and a random trust intercept,

    y[i] = mu[g(i)] + beta . x[i] + u[i] + e[i],   u[i] ~ N(0, tau^2[g(i)]),   e[i] ~ N(0, v[i])  (v known),

i.e. a random-effects meta-regression: the additive over-dispersion model that NHS Digital's SHMI funnel and the
Spiegelhalter (2005) funnel plots use, here with peer-group means and need covariates.  It is fitted twice: with
one between-trust variance per peer group, tau^2[g], as the Bayesian model has one scale sigma[g,k] per peer group
and indicator (the like-for-like comparison, on which the agreement check passes or fails), and with one national
tau^2 (the usual funnel-plot model, reported beside it, so that a reader sees how much of any disagreement is only
the single national scale; on the real panel it is most of the cancer standards', whose specialist trusts have a
spread three times the national one and a few dozen patients each: benchmarks/RESULTS.md).  It is the normal
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
(tested).

One tau^2 per peer group (:func:`paule_mandel_groups`).  The fixed effects stay shared (the need coefficients are
national in both models), so the groups cannot be fitted one by one; each group's tau^2[g] solves its own part of
the generalised Q, ``Q_g = sum_{i in g} w_i r_i^2 = n_g - sum_{i in g} h_ii`` (its expectation under the model; h
the hat diagonal of the WLS fit), all groups jointly: Paule-Mandel's method-of-moments principle (DerSimonian &
Kacker 2007) applied per group, the separate-variance subgroup model of Rubio-Aparicio et al. (2017) with shared
covariates.  With one group it is exactly the national estimator (tested), so the two fits differ only in the
variance structure, not in the estimator.  The same model is metafor's location-scale model with a categorical
scale predictor (``rma(y ~ X, v, scale = ~ 0 + group)``, Viechtbauer & Lopez-Lopez 2022), fitted there by
REML; neither statsmodels nor scipy has it (statsmodels ``MixedLM`` estimates the residual variance, above), so the
per-group root search is glue too, with ``scipy.optimize.brentq``.  A group with fewer than ``MIN_GROUP_TRUSTS``
trusts reporting the indicator keeps the national tau^2 (its own equation would rest on two or three residual
degrees of freedom; real panel: multi-service trusts for FFT), and a group with no trust reporting it (specialist
trusts for SHMI) has no tau and no trust effect; the validation text names both.  Measured on data simulated from
known per-group variances (groups of 10 to 50 trusts, 400 replications): each tau^2[g] unbiased within 1.5 Monte
Carlo SE (tested).  The trust effect is the BLUP (empirical Bayes estimate)
``u[i] = lambda[i] (y[i] - X[i] b)`` with ``lambda[i] = tau^2 / (tau^2 + v[i])`` and prediction-error variance
``lambda[i] v[i] + lambda[i]^2 X[i] V_b X[i]'`` (Henderson), conditional on tau^2.

Where the Bayesian answer differs, and why (measured by :func:`compare`):

* **Scale of shrinkage.**  The Bayesian model shrinks each trust toward its peer group's need-adjusted mean with a
  peer-specific scale sigma[g,k]; the per-group mixed model with a moment estimate tau[g] from that group's trusts
  alone (the Bayesian scales are partially pooled across groups through the log multipliers), the national one
  with one tau for all.  Trusts whose group's two scales differ are shrunk by a different amount:
  ``(lambda_B - lambda_G) (y - X b)``.
* **Expectation.**  The two fits estimate mu and beta with different weights (trust effects correlated across
  indicators vs independent; in the national fit also peer-specific vs national scale), and the Bayesian peer means
  are partially pooled toward the indicator's national centre (mu[g,k] ~ Normal(centre[k], r[k])) where the GLMM's
  are unpooled fixed effects.  A small group with a large spread (specialist trusts) has an almost equally weighted
  mean of its few trusts in the per-group GLMM, which the pooling moves most, so the expectation a trust is
  compared with differs: ``lambda_B (X b_G - X b_B)``.
* **Everything else** (the remainder): the Bayesian model borrows strength across a trust's correlated indicators,
  uses the exact count likelihood rather than the normal approximation, and averages over the uncertainty in the
  scales, which the mixed model plugs in as point estimates.
* **Between-trust SD.**  tau is a moment estimate with no prior and a Q-profile interval; the Bayesian
  national-equivalent SD (root mean square of sigma[g(i),k] over the trusts reporting k) is a posterior mean under
  half-normal priors, and the peer scales themselves can differ from tau.

Pure pieces: :func:`transformed_outcome`, :func:`generalised_q`, :func:`paule_mandel_tau2`, :func:`q_profile`,
:func:`group_q`, :func:`paule_mandel_groups`, :func:`fit_indicator`, :func:`fit_glmm`, :func:`compare`,
:func:`agreement_figure`; :func:`run_glmm` fits both GLMMs and writes the tables, the figure and the manifest items.

References: Paule & Mandel (1982) J Res Natl Bur Stand 87:377; DerSimonian & Kacker (2007) Contemp Clin Trials
28:105; Viechtbauer (2007) Stat Med 26:37; Rubio-Aparicio et al. (2017) Br J Math Stat Psychol 70:439;
Viechtbauer & Lopez-Lopez (2022) Res Synth Methods 13:697.
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


# ----------------------------------------------------------------------------- a between-trust variance per peer group

#: a peer group with fewer trusts reporting an indicator than this keeps the national tau^2 (see paule_mandel_groups)
MIN_GROUP_TRUSTS = 5


def _wls_np(eff: np.ndarray, var: np.ndarray, X: np.ndarray, tau2_i: np.ndarray):
    """Weights, residuals and hat diagonal of the WLS fit with weights 1 / (v + tau2_i) (tau2_i per trust).

    The same fit as :func:`_wls` in closed form (QR of the weighted design); the root searches call it thousands of
    times, where statsmodels' GLM set-up would dominate."""
    w = 1 / (var + tau2_i)
    sw = np.sqrt(w)
    q, r = np.linalg.qr(X * sw[:, None])
    b = np.linalg.solve(r, q.T @ (eff * sw))
    return w, eff - X @ b, np.sum(q**2, axis=1)


def group_q(eff: np.ndarray, var: np.ndarray, X: np.ndarray, grp: np.ndarray, tau2: np.ndarray):
    """Per group g: the generalised Q restricted to its trusts and its expectation under the model.

    ``Q_g = sum_{i in g} w_i r_i^2`` with ``w_i = 1 / (v_i + tau2[g(i)])`` and r the WLS residuals; when the
    tau^2's are the true ones ``E[Q_g] = n_g - sum_{i in g} h_ii`` (h the hat diagonal), since Cov(r) = W^-1 - X
    (X'WX)^-1 X'.  Summed over groups this is the usual Q with expectation N - p.  Returns (Q_g, E[Q_g]), each (G,).
    """
    w, res, h = _wls_np(eff, var, X, np.asarray(tau2, float)[grp])
    G = len(tau2)
    return np.bincount(grp, w * res**2, G), np.bincount(grp, 1 - h, G)


def _group_root(eff, var, X, grp, tau2, g, target=None) -> float:
    """tau2[g] >= 0 solving Q_g = E[Q_g] (or Q_g = ``target``) with the other groups' tau^2 held; 0 if below at 0."""
    t = np.array(tau2, float)

    def f(s):
        t[g] = s
        q, e = group_q(eff, var, X, grp, t)
        return q[g] - (e[g] if target is None else target)

    if f(0.0) <= 0:
        return 0.0
    hi = float(np.var(eff[grp == g])) + float(np.median(var[grp == g])) + 1e-12
    while f(hi) > 0:
        hi *= 4
    return float(optimize.brentq(f, 0.0, hi, xtol=1e-12, rtol=1e-10))


@dataclass
class GroupTau2:
    """Per-group Paule-Mandel estimates: tau^2 per group, which groups were estimated, their Q-profile intervals."""

    tau2: np.ndarray           # (G,) the estimate (the national tau^2 where ``estimated`` is False)
    estimated: np.ndarray      # (G,) bool: the group's own estimate (False: too few trusts, national tau^2 used)
    national: float            # the one-tau^2 Paule-Mandel estimate
    national_ci: tuple         # its Q-profile interval at ``level``
    ci: np.ndarray             # (G, 2) approximate Q-profile 95 % interval (the national one for a fallback group)
    n: np.ndarray              # (G,) trusts per group
    df: np.ndarray             # (G,) E[Q_g] at the estimate: the group's residual degrees of freedom
    sweeps: int


def paule_mandel_groups(eff: np.ndarray, var: np.ndarray, X: np.ndarray, grp: np.ndarray,
                        min_trusts: int = MIN_GROUP_TRUSTS, level: float = 0.95, tol: float = 1e-10,
                        max_sweeps: int = 500) -> GroupTau2:
    """Paule-Mandel between-trust variance per group, with fixed effects shared across groups.

    Solves, jointly, one generalised-Q equation per group, ``Q_g(tau^2) = E[Q_g] = n_g - sum_{i in g} h_ii`` (see
    :func:`group_q`): the method-of-moments principle of Paule-Mandel (DerSimonian & Kacker 2007) applied to each
    group's part of Q, as in subgroup meta-analysis with separate between-study variances (Rubio-Aparicio et al.
    2017), but with the need coefficients shared by all groups as in the Bayesian model.  With one group the
    equation is ``Q = N - p``, the national estimator.  Solved by Gauss-Seidel: each group's root by ``brentq``
    with the others held, until no tau^2 moves by more than ``tol`` (relative).  A group with fewer than
    ``min_trusts`` trusts keeps the national tau^2 (its own moment equation would rest on a handful of residual
    degrees of freedom).  The interval of an estimated group is its Q-profile (Viechtbauer 2007) with the other
    groups held at their estimates and the chi-square on ``E[Q_g]`` degrees of freedom: approximate, since the
    residual degrees of freedom are shared across groups.
    """
    eff, var, grp = np.asarray(eff, float), np.asarray(var, float), np.asarray(grp, int)
    G = int(grp.max()) + 1
    n = np.bincount(grp, minlength=G)
    national = paule_mandel_tau2(eff, var, X)
    nat_ci = q_profile(eff, var, X, level)
    est = n >= min_trusts
    tau2 = np.full(G, national)
    sweeps = 0
    if est.any():
        for sweeps in range(1, max_sweeps + 1):
            old = tau2.copy()
            for g in np.nonzero(est)[0]:
                tau2[g] = _group_root(eff, var, X, grp, tau2, g)
            if np.max(np.abs(tau2 - old)) <= tol * (1 + np.max(tau2)):
                break
        else:
            raise RuntimeError(f"per-group Paule-Mandel did not converge in {max_sweeps} sweeps (last {tau2})")
    df = group_q(eff, var, X, grp, tau2)[1]
    a = (1 - level) / 2
    ci = np.tile(np.asarray(nat_ci, float), (G, 1))
    for g in np.nonzero(est)[0]:
        ci[g] = [_group_root(eff, var, X, grp, tau2, g, stats.chi2.ppf(1 - a, df[g])),
                 _group_root(eff, var, X, grp, tau2, g, stats.chi2.ppf(a, df[g]))]
    return GroupTau2(tau2, est, national, tuple(nat_ci), ci, n, df, sweeps)


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
    """The mixed model of one indicator: fixed effects, tau^2 (national, and per peer group) with intervals, BLUPs.

    ``scale`` is "national" (one tau^2 for every trust) or "peer" (tau^2 per peer group, :func:`paule_mandel_groups`);
    ``tau2_trust`` is the tau^2 each trust was shrunk with.  In a national fit every group's tau^2 is the national
    one and ``group_own`` is all False."""

    rows: np.ndarray          # trust indices (into d.trusts) that report the indicator
    columns: list[tuple[str, str]]
    params: np.ndarray        # fixed effects
    cov: np.ndarray           # their covariance (tau^2 plugged in)
    tau2: float               # the national (one-tau^2) Paule-Mandel estimate
    tau2_ci: tuple[float, float]
    eff: np.ndarray           # transformed outcome
    var: np.ndarray           # its sampling variance
    fixed: np.ndarray         # X b
    fixed_se: np.ndarray
    shrinkage: np.ndarray     # lambda = tau^2 / (tau^2 + v), with the trust's tau^2
    blup: np.ndarray
    blup_se: np.ndarray
    scale: str = "national"
    peer_names: list[str] = None          # peer groups with trusts reporting the indicator, in d.peer_groups order
    tau2_group: np.ndarray = None         # (G',) tau^2 per such group
    tau2_group_ci: np.ndarray = None      # (G', 2)
    group_own: np.ndarray = None          # (G',) bool: estimated from the group's own trusts (False: national)
    n_group: np.ndarray = None            # (G',) trusts per group
    tau2_trust: np.ndarray = None         # per row


def fit_indicator(d: ModelData, k: int, per_group: bool = False, min_trusts: int = MIN_GROUP_TRUSTS) -> IndicatorFit:
    """Fit the random-effects meta-regression of indicator ``k`` over the trusts that report it.

    ``per_group``: one between-trust variance per peer group (:func:`paule_mandel_groups`; groups with fewer than
    ``min_trusts`` reporting trusts keep the national tau^2), as the Bayesian model has one scale per peer group;
    otherwise one national tau^2."""
    rows = np.nonzero(d.observed[:, k])[0]
    eff, var = transformed_outcome(d.y[rows, k], d.n[rows, k], d.indicators[k])
    X, columns = design(d, rows)
    if len(rows) <= X.shape[1]:
        raise ValueError(f"{d.indicators[k]}: {len(rows)} trusts for {X.shape[1]} fixed effects")
    present = sorted(set(d.g[rows].tolist()))
    grp = np.searchsorted(present, d.g[rows])
    if per_group:
        gt = paule_mandel_groups(eff, var, X, grp, min_trusts)
        tau2, tau2_ci = gt.national, gt.national_ci
        tg, tg_ci, own, n_g = gt.tau2, gt.ci, gt.estimated, gt.n
    else:
        tau2 = paule_mandel_tau2(eff, var, X)
        tau2_ci = q_profile(eff, var, X)
        n_g = np.bincount(grp, minlength=len(present))
        tg, tg_ci, own = np.full(len(present), tau2), np.tile(tau2_ci, (len(present), 1)), np.zeros(len(present), bool)
    t_i = tg[grp]
    res = _wls(eff, var, X, t_i)
    b, V = np.asarray(res.params), np.asarray(res.cov_params())
    fixed = X @ b
    fixed_var = np.einsum("ij,jk,ik->i", X, V, X)
    lam = t_i / (t_i + var)
    return IndicatorFit(rows, columns, b, V, tau2, tau2_ci, eff, var, fixed, np.sqrt(fixed_var),
                        lam, lam * (eff - fixed), np.sqrt(lam * var + lam**2 * fixed_var),
                        "peer" if per_group else "national", [d.peer_groups[gi] for gi in present], tg, tg_ci, own,
                        n_g, t_i)


@dataclass
class GlmmFit:
    """The frequentist fit of every indicator, as tables."""

    trust_effects: pd.DataFrame   # one row per trust x observed indicator
    parameters: pd.DataFrame      # peer means, need coefficients, between-trust SD per indicator (and per peer group)
    fits: dict[str, IndicatorFit]
    scale: str = "national"


def fit_glmm(d: ModelData, per_group: bool = False, min_trusts: int = MIN_GROUP_TRUSTS) -> GlmmFit:
    """Fit every indicator; tables of trust effects (BLUPs) and parameters.

    ``parameters``: the between-trust SD has no standard error (tau^2 is a moment estimate); its interval is the
    square root of the Q-profile interval, and ``se`` is left empty.  ``sd_between`` is the national tau in either
    fit; with ``per_group`` there is also one ``sd_between[<group>]`` row per peer group reporting the indicator
    (kind ``peer_sd``), whose ``source`` says whether it is the group's own estimate or the national fallback.
    """
    te, par, fits = [], [], {}
    peer = d.trusts.peer_group.to_numpy()
    for k, ind in enumerate(d.indicators):
        if not d.observed[:, k].any():
            continue
        f = fits[ind] = fit_indicator(d, k, per_group, min_trusts)
        t = d.trusts.iloc[f.rows]
        te.append(pd.DataFrame({
            "org_code": t.org_code.to_numpy(), "indicator": ind, "peer_group": t.peer_group.to_numpy(),
            "denominator": d.n[f.rows, k], "min_count": _min_count(d.y[f.rows, k], d.n[f.rows, k], ind),
            "effect": f.eff, "sampling_se": np.sqrt(f.var),
            "glmm_fixed": f.fixed, "glmm_fixed_se": f.fixed_se, "glmm_tau": np.sqrt(f.tau2_trust),
            "glmm_shrinkage": f.shrinkage, "glmm_blup": f.blup, "glmm_blup_se": f.blup_se}))
        se = np.sqrt(np.diag(f.cov))
        for j, (kind, name) in enumerate(f.columns):
            par.append({"indicator": ind, "parameter": f"{'mu' if kind == 'peer_mean' else 'beta'}[{name}]",
                        "kind": kind, "estimate": f.params[j], "se": se[j],
                        "lo95": f.params[j] - Z95 * se[j], "hi95": f.params[j] + Z95 * se[j],
                        "n_trusts": len(f.rows) if kind == "need_coef" else int(np.sum(peer[f.rows] == name))})
        par.append({"indicator": ind, "parameter": "sd_between", "kind": "between_sd", "estimate": np.sqrt(f.tau2),
                    "se": np.nan, "lo95": np.sqrt(f.tau2_ci[0]), "hi95": np.sqrt(f.tau2_ci[1]),
                    "n_trusts": len(f.rows), "source": "national"})
        if per_group:
            for j, name in enumerate(f.peer_names):
                par.append({"indicator": ind, "parameter": f"sd_between[{name}]", "kind": "peer_sd",
                            "estimate": np.sqrt(f.tau2_group[j]), "se": np.nan,
                            "lo95": np.sqrt(f.tau2_group_ci[j, 0]), "hi95": np.sqrt(f.tau2_group_ci[j, 1]),
                            "n_trusts": int(f.n_group[j]), "source": _scale_source(f, j)})
    return GlmmFit(pd.concat(te, ignore_index=True), pd.DataFrame(par), fits, "peer" if per_group else "national")


def _scale_source(f: IndicatorFit, j: int) -> str:
    """Where the tau of peer group ``j`` comes from, in words."""
    if f.scale == "national":
        return "national"
    if f.group_own[j]:
        return "peer group"
    return f"national (fallback: only {int(f.n_group[j])} trusts report it)"


def absent_groups(d: ModelData, f: IndicatorFit) -> list[str]:
    """Peer groups with no trust reporting the indicator: no tau, no trust effect (e.g. SHMI at specialist trusts)."""
    return [p for p in d.peer_groups if p not in f.peer_names]


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
                f"{row.glmm_shrinkage:.3f}; {row.peer_group} scale {row.bayes_peer_sd:.3f} vs GLMM τ "
                f"{row.glmm_tau:.3f}, {row.glmm_scale})")
    if row.main_source == "expectation":
        return (f"expectation: the need-adjusted peer expectation differs by {row.glmm_fixed - row.bayes_fixed:+.3f} "
                f"(GLMM minus Bayesian)")
    rec = registry.get(row.indicator)
    count = rec.fam.min_count_text(row.min_count, rec)
    return (f"other: borrowing from the trust's correlated indicators, the exact count likelihood ({count}) and the "
            "uncertainty in the scales")


def compare(d: ModelData, idata, glmm: GlmmFit, national: GlmmFit | None = None) -> dict[str, pd.DataFrame]:
    """Posterior of the Bayesian model against the mixed model: trust effects, parameters and per-indicator agreement.

    ``glmm`` is the fit compared (the per-peer-group fit in :func:`run_glmm`: like for like); ``national``, when
    given, is the one-tau fit reported beside it as context (``national_*`` columns).

    Returns ``{"trust_effects", "agreement", "parameters", "largest"}``:

    * ``trust_effects``: per trust x observed indicator, the BLUP and the posterior of u, their difference split
      into ``diff_shrinkage = (lambda_B - lambda_G)(y - X b_G)``, ``diff_expectation = lambda_B (X b_G - X b_B)``
      and ``diff_other`` (the rest), where lambda_B = s^2 / (s^2 + v) with s^2 the posterior mean of sigma[g,k]^2;
      ``glmm_in_credible`` says whether the BLUP is inside the 95 % credible interval of u (``flag`` when not);
    * ``agreement``: per indicator, Pearson and Spearman correlation, slope (posterior mean on BLUP), mean and
      maximum absolute difference, share of BLUPs inside the credible interval, tau vs the Bayesian SD, mean
      shrinkage factors, the peer groups on the national fallback or absent, and the national fit's correlations;
    * ``parameters``: mu, beta, the between-trust SD (Bayesian: root mean square of sigma[g(i),k] over the trusts
      reporting k, per draw; GLMM: the national tau) and each peer group's sigma[g,k] against the GLMM's tau for
      that group (``glmm_scale`` says whether it is the group's own or the national one): posterior mean and 95 %
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
                       glmm_tau=np.sqrt(f.tau2_trust), bayes_shrinkage=lam_b,
                       glmm_scale=[_scale_source(f, f.peer_names.index(p)) for p in t.peer_group])
        nf = national.fits[ind] if national is not None else None
        if nf is not None:
            tab["national_blup"], tab["national_shrinkage"] = nf.blup, nf.shrinkage
            tab["glmm_tau_national"] = np.sqrt(nf.tau2_trust)
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
                        "glmm_hi95": f.params[j] + Z95 * np.sqrt(f.cov[j, j]), "glmm_scale": f.scale})
        tau, (tlo, thi) = np.sqrt(f.tau2), np.sqrt(f.tau2_ci)
        pooled = np.sqrt(np.mean(sigma[:, d.g[r], k] ** 2, axis=1))
        par.append({"indicator": ind, "parameter": "sd_between", "kind": "between_sd",
                    **{a: float(b) for a, b in _interval(pooled).items()},
                    "glmm_estimate": tau, "glmm_se": np.nan, "glmm_lo95": tlo, "glmm_hi95": thi,
                    "glmm_scale": "national", "n_trusts": len(r)})
        for j, name in enumerate(f.peer_names):
            gi = d.peer_groups.index(name)
            lo, hi = np.sqrt(f.tau2_group_ci[j])
            par.append({"indicator": ind, "parameter": f"sigma[{name}]", "kind": "peer_sd",
                        **{a: float(b) for a, b in _interval(sigma[:, gi, k]).items()},
                        "glmm_estimate": np.sqrt(f.tau2_group[j]), "glmm_se": np.nan, "glmm_lo95": lo,
                        "glmm_hi95": hi, "glmm_scale": _scale_source(f, j), "n_trusts": int(f.n_group[j]),
                        "national_tau": tau})

        slope = np.polyfit(tab.glmm_blup, tab.bayes_mean, 1)[0]
        row = {"indicator": ind, "n_trusts": len(tab),
               "correlation": float(np.corrcoef(tab.glmm_blup, tab.bayes_mean)[0, 1]),
               "spearman": float(stats.spearmanr(tab.glmm_blup, tab.bayes_mean)[0]),
               "slope": float(slope), "mean_abs_diff": float(tab["diff"].abs().mean()),
               "max_abs_diff": float(tab["diff"].abs().max()),
               "share_in_credible": float(tab.glmm_in_credible.mean()),
               "glmm_tau": tau, "bayes_sd_between": float(pooled.mean()),
               "mean_glmm_shrinkage": float(f.shrinkage.mean()), "mean_bayes_shrinkage": float(lam_b.mean()),
               "scale": f.scale,
               "fallback_groups": ", ".join(f"{p} ({int(f.n_group[j])} trusts)" for j, p in enumerate(f.peer_names)
                                            if f.scale == "peer" and not f.group_own[j]),
               "absent_groups": ", ".join(absent_groups(d, f))}
        if nf is not None:
            row.update(national_correlation=float(np.corrcoef(nf.blup, tab.bayes_mean)[0, 1]),
                       national_spearman=float(stats.spearmanr(nf.blup, tab.bayes_mean)[0]),
                       national_slope=float(np.polyfit(nf.blup, tab.bayes_mean, 1)[0]),
                       national_share_in_credible=float(((nf.blup >= tab.bayes_lo95) &
                                                         (nf.blup <= tab.bayes_hi95)).mean()),
                       mean_national_shrinkage=float(nf.shrinkage.mean()))
        agr.append(row)

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
    weights = ("the Bayesian peer means are partially pooled toward the national centre where the GLMM's are "
               "fixed effects, and the Bayesian trust effects are correlated across indicators"
               ) if row.glmm_scale == "peer" else (
              "the two fits weight trusts differently (peer-specific vs national scale) and the Bayesian trust "
              "effects are correlated across indicators")
    if row.kind == "peer_sd":
        if row.glmm_scale == "peer group":
            why = (f"the GLMM's own τ for this peer group is a moment estimate from {row.n_trusts} trusts without "
                   "prior; the Bayesian σ is a posterior mean, partially pooled toward the indicator's other peer "
                   "groups through the hierarchy on the log scale multipliers")
        elif row.glmm_scale == "national":
            why = "this peer group's between-trust spread differs from the single national τ the GLMM assumes"
        else:
            why = (f"the GLMM uses the national τ for this peer group ({row.glmm_scale}); the Bayesian model "
                   "estimates the group's own scale, partially pooled toward the other groups")
    else:
        why = {"peer_mean": weights, "need_coef": weights,
               "between_sd": "τ is a moment estimate plugged in without prior; the Bayesian SD is a posterior mean "
                             "under half-normal priors with peer-specific scales"}[row.kind]
    return f"{where}: {why}"


# ----------------------------------------------------------------------------- figure and manifest items

def agreement_figure(cmp: dict[str, pd.DataFrame]):
    """GLMM BLUP against posterior mean of each trust effect, one panel per indicator, with the identity line.

    Grey bars are the 95 % credible intervals; red points are BLUPs outside them.  When the comparison carries the
    national-tau fit as context, its BLUPs are drawn as open grey circles at the same posterior means, so a point
    that moves between the two fits shows where one national scale changes the shrinkage.
    """
    from matplotlib.figure import Figure

    from analysis.figures import WIDTH

    te, agr = cmp["trust_effects"], cmp["agreement"].set_index("indicator")
    inds = list(agr.index)
    ncol = 2
    nrow = -(-len(inds) // ncol)
    fig = Figure(figsize=(WIDTH, 3.0 * nrow), layout="constrained")
    axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
    context = "national_blup" in te.columns
    for ax, ind in zip(axes, inds):
        t = te[te.indicator == ind]
        xs = [t.glmm_blup] + ([t.national_blup] if context else [])
        lo = min(min(x.min() for x in xs), t.bayes_lo95.min())
        hi = max(max(x.max() for x in xs), t.bayes_hi95.max())
        ax.plot([lo, hi], [lo, hi], color="0.4", lw=0.8, ls="--", zorder=1)
        ax.vlines(t.glmm_blup, t.bayes_lo95, t.bayes_hi95, color="0.8", lw=0.6, zorder=2)
        if context:
            ax.scatter(t.national_blup, t.bayes_mean, s=12, facecolors="none", edgecolors="0.55", lw=0.6, zorder=2,
                       label="GLMM, national τ")
        out = ~t.glmm_in_credible
        ax.scatter(t.glmm_blup[~out], t.bayes_mean[~out], s=9, color="#005EB8", zorder=3,
                   label="GLMM, τ per peer group" if context else "GLMM")
        ax.scatter(t.glmm_blup[out], t.bayes_mean[out], s=12, color="#D5281B", zorder=4)
        a = agr.loc[ind]
        title = f"{registry.get(ind).label}: r = {a.correlation:.3f}, slope = {a.slope:.2f}"
        if context:
            title += f"\n(national τ: r = {a.national_correlation:.3f}, slope = {a.national_slope:.2f})"
        ax.set_title(title, fontsize=8)
        scale = registry.get(ind).effect_unit
        ax.set_xlabel(f"GLMM BLUP ({scale})", fontsize=8)
        ax.set_ylabel("posterior mean of u", fontsize=8)
        ax.tick_params(labelsize=7, length=3)
    if context and inds:
        axes[0].legend(fontsize=6, loc="upper left", frameon=False)
    for ax in axes[len(inds):]:
        ax.set_visible(False)
    return fig


def _fmt_share(x: float) -> str:
    return f"{100 * x:.0f}%"


def _scale_notes(agr: pd.DataFrame) -> str:
    """Sentences naming the peer groups on the national fallback and those with no data, per indicator."""
    notes = []
    for a in agr.itertuples():
        lab = registry.get(a.indicator).label
        if a.absent_groups:
            notes.append(f"{lab}: no trust in the {a.absent_groups} group(s) reports it, so there is neither τ nor "
                         "a trust effect to compare")
        if a.fallback_groups:
            notes.append(f"{lab}: too few reporting trusts in {a.fallback_groups} for a group's own τ, so the "
                         "national τ is used there (fallback)")
    return ("" if not notes else "Peer groups without their own τ: " + "; ".join(notes) + ".\n\n")


def _moves_text(te: pd.DataFrame) -> str:
    """Per indicator, the peer group whose BLUPs move most between the national and the per-group fit, and why."""
    lines = []
    for ind, t in te.groupby("indicator", sort=False):
        mv = (t.glmm_blup - t.national_blup).abs().groupby(t.peer_group).mean()
        g = mv.idxmax()
        tg = t[t.peer_group == g]
        lines.append(f"* {registry.get(ind).label}: {g} (mean move {mv[g]:.3f}; τ {tg.glmm_tau.iloc[0]:.3f} for "
                     f"the group vs national {tg.glmm_tau_national.iloc[0]:.3f}, Bayesian σ "
                     f"{tg.bayes_peer_sd.iloc[0]:.3f}; weight on own data {tg.glmm_shrinkage.mean():.3f} vs "
                     f"{tg.national_shrinkage.mean():.3f}, Bayesian {tg.bayes_shrinkage.mean():.3f}; median "
                     f"{registry.get(ind).denominator_text} {tg.denominator.median():,.0f}).")
    return "\n".join(lines)


def _trust_text(cmp: dict[str, pd.DataFrame]) -> str:
    te, agr, lg = cmp["trust_effects"], cmp["agreement"], cmp["largest"]
    comp = te[["diff_shrinkage", "diff_expectation", "diff_other"]].abs().mean()
    main = te.main_source.value_counts()
    nat = "national_correlation" in agr.columns
    per_group = nat or (agr.scale == "peer").any()
    if nat:
        head = ("| Indicator | Trusts | r | Spearman | Slope | Max abs. diff. | BLUP in 95% CrI | r, national τ | "
                "Spearman, national τ | Slope, national τ | Weight on own data: GLMM / national τ / Bayes |\n"
                "|---|---|---|---|---|---|---|---|---|---|---|\n")
        rows = "\n".join(
            f"| {registry.get(a.indicator).label} | {a.n_trusts} | {a.correlation:.3f} | {a.spearman:.3f} | "
            f"{a.slope:.2f} | {a.max_abs_diff:.3f} | {_fmt_share(a.share_in_credible)} | "
            f"{a.national_correlation:.3f} | {a.national_spearman:.3f} | {a.national_slope:.2f} | "
            f"{a.mean_glmm_shrinkage:.3f} / {a.mean_national_shrinkage:.3f} / {a.mean_bayes_shrinkage:.3f} |"
            for a in agr.itertuples())
    else:
        head = ("| Indicator | Trusts | r | Spearman | Slope | Mean abs. diff. | Max abs. diff. | BLUP in 95% CrI | "
                "GLMM τ | Bayes SD | GLMM weight on own data | Bayes weight on own data |\n"
                "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
        rows = "\n".join(
            f"| {registry.get(a.indicator).label} | {a.n_trusts} | {a.correlation:.3f} | {a.spearman:.3f} | "
            f"{a.slope:.2f} | {a.mean_abs_diff:.3f} | {a.max_abs_diff:.3f} | {_fmt_share(a.share_in_credible)} | "
            f"{a.glmm_tau:.3f} | {a.bayes_sd_between:.3f} | {a.mean_glmm_shrinkage:.3f} | "
            f"{a.mean_bayes_shrinkage:.3f} |"
            for a in agr.itertuples())
    largest = "\n".join(f"* {registry.get(r.indicator).label}, {r.org_code} ({r.peer_group}, "
                        f"{registry.get(r.indicator).denominator_text} {r.denominator:,.0f}): "
                        f"BLUP {r.glmm_blup:+.3f}, posterior mean {r.bayes_mean:+.3f} "
                        f"[{r.bayes_lo95:+.3f}, {r.bayes_hi95:+.3f}]; {r.explanation}."
                        for r in lg.itertuples())
    n_out = int((~te.glmm_in_credible).sum())
    scale_txt = ("one random trust intercept whose variance τ²_g is estimated separately for each peer group "
                 "(Paule-Mandel per group with the fixed effects shared, as the Bayesian model has one scale per "
                 "peer group and indicator)" if per_group else
                 "one random trust intercept with a national between-trust variance τ² (Paule-Mandel)")
    nat_txt = ("The agreement check (r at least "
               f"{MIN_CORRELATION}) uses this per-peer-group fit, the like-for-like comparison. The same model with "
               "one national τ² per indicator is reported beside it as context: its r and slope show how much of the "
               "disagreement is only the GLMM forcing one scale on peer groups whose spread differs.\n\n"
               if nat else "")
    moves = ("Where one national τ changes the answer: the peer group whose BLUPs move most between the two fits, "
             "per indicator (τ and weights from the per-group fit first):\n\n" + _moves_text(te) + "\n\n"
             if nat else "")
    return (
        "Each quality indicator was refitted as a frequentist random-effects meta-regression (a linear mixed model on "
        "log(O/E) for SHMI and the empirical logit for RTT, A&E and FFT, with the delta-method sampling variance held "
        f"fixed): the same peer-group means and need covariates as the Bayesian model, {scale_txt}, fixed effects "
        "from statsmodels GLM with weights 1/(v + τ²), and trust effects as BLUPs (empirical Bayes).\n\n"
        + nat_txt + _scale_notes(agr) +
        f"Over {len(te)} trust-indicator effects, {n_out} BLUPs fall outside the Bayesian 95% credible interval of the "
        f"same effect ({_fmt_share(n_out / len(te))}).\n\n"
        f"{head}{rows}\n\n"
        "Slope is the least-squares slope of the posterior mean on the BLUP (below 1: the Bayesian model shrinks "
        "more). Weight on own data is the shrinkage factor s²/(s² + v), with s the GLMM's τ for the trust "
        "(its peer group's, or the national one) or the trust's peer-group scale (Bayesian), averaged over "
        "trusts.\n\n"
        + moves +
        "Where the GLMM and the Bayesian model differ.  Each trust's difference (posterior mean minus BLUP) is split "
        "into a shrinkage part (the Bayesian peer-group scale against the GLMM's τ), an expectation part (the "
        "need-adjusted peer expectation the trust is compared with) and the rest (borrowing across the trust's "
        "correlated indicators, the exact Poisson/binomial likelihood instead of the normal approximation, and "
        f"uncertainty in the scales, which the GLMM plugs in). Mean absolute sizes: shrinkage "
        f"{comp.diff_shrinkage:.4f}, expectation {comp.diff_expectation:.4f}, rest {comp.diff_other:.4f}; the "
        f"largest part is the expectation for {main.get('expectation', 0)}, the shrinkage for "
        f"{main.get('shrinkage', 0)} and the rest for {main.get('other', 0)} of the {len(te)} effects.  The trusts "
        f"that differ most:\n\n{largest}\n")


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
    per_group = (psd.glmm_scale != "national").any()
    if per_group:
        own = psd.glmm_scale == "peer group"
        nat_in = (psd.national_tau >= psd.bayes_lo95) & (psd.national_tau <= psd.bayes_hi95)
        by_ind = "\n".join(
            f"* {registry.get(ind).label} (national τ {g.national_tau.iloc[0]:.3f}): " + ", ".join(
                f"{r.parameter[6:-1]} {r.glmm_estimate:.3f}{'' if r.glmm_scale == 'peer group' else '*'} / "
                f"{r.bayes_mean:.3f}" for r in g.itertuples()) + "."
            for ind, g in psd.groupby("indicator", sort=False))
        peer_para = (
            f"The Bayesian model lets the scale differ by peer group (posterior means {spread_txt}); so does the "
            f"GLMM compared here (Paule-Mandel τ per peer group, {int(own.sum())} of {len(psd)} group scales "
            "estimated from the group's own trusts, the rest the national τ). The GLMM's τ for the group lies inside "
            f"{int(psd.glmm_in_credible.sum())} of {len(psd)} peer-group credible intervals; the single national τ "
            f"would lie inside {int(nat_in.sum())}.\n\nPer peer group, GLMM τ / Bayesian σ (posterior mean; * the "
            f"national τ, used where a group has too few trusts):\n\n{by_ind}\n\n")
        why_scale = ("estimates each peer group's τ by moments from that group's trusts alone (a group of a few "
                     "trusts gets a noisy τ),")
    else:
        peer_para = (f"The Bayesian model lets the scale differ by peer group (posterior means {spread_txt}); the "
                     f"single national τ lies inside {int(psd.glmm_in_credible.sum())} of {len(psd)} peer-group "
                     "credible intervals.\n\n")
        why_scale = "uses one national τ per indicator"
    peer_txt = ("" if peer_out.empty else "The GLMM's τ lies outside for " + "; ".join(
        f"{r.indicator} {r.parameter} ({r.bayes_mean:.3f} [{r.bayes_lo95:.3f}, {r.bayes_hi95:.3f}] vs τ "
        f"{r.glmm_estimate:.3f}, {r.glmm_scale})" for r in peer_out.itertuples()) + ".")
    return (
        f"{int(main.glmm_in_credible.sum())} of {len(main)} GLMM estimates "
        f"({_fmt_share(main.glmm_in_credible.mean())}) "
        f"lie inside the Bayesian 95% credible interval of the same parameter ({kinds}); the GLMM's 95% interval "
        f"overlaps the credible interval for {int(main.intervals_overlap.sum())} of {len(main)}.\n\n"
        + (f"Outside the credible interval:\n\n{lines}\n\n" if len(outside) else "")
        + "Between-trust SD (GLMM: national Paule-Mandel τ with its Q-profile 95% interval; Bayesian: root mean "
        "square of the peer-group scales over the trusts reporting the indicator, posterior mean and 95% "
        f"interval):\n\n{sd}\n\n{peer_para}" + (f"{peer_txt}\n\n" if peer_txt else "") +
        "Why the answers differ at all: the GLMM treats τ² and the fixed effects as known once estimated (plug-in "
        f"standard errors and BLUPs, no uncertainty in τ), {why_scale} and fits each indicator separately on a "
        "normal approximation with the peer means as fixed effects; the Bayesian model averages over the scales, "
        "pools the peer groups' scales partially toward each other and their means toward the national centre, and "
        "shares strength across correlated indicators through the exact count likelihood.\n")


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

    Two GLMMs: one between-trust variance per peer group (the Bayesian model's structure: the like-for-like
    comparison) and one national variance (context).  The trust-effect item passes when, with the per-group GLMM,
    every indicator's correlation is at least ``MIN_CORRELATION``; the national fit's correlations are reported
    beside (``national_correlation``) and do not enter the verdict.  The parameter item passes when every GLMM 95 %
    interval of a peer mean, need coefficient and between-trust SD overlaps the corresponding credible interval.
    """
    from analysis.figures import save

    out_dir = Path(out_dir)
    national = fit_glmm(d)
    cmp = compare(d, idata, fit_glmm(d, per_group=True), national=national)
    io.write_table(_display(cmp["trust_effects"], TRUST_COLUMNS, "diff"), out_dir / "glmm_trust_effects",
                   formats=("csv",))
    io.write_table(_display(cmp["parameters"], PARAMETER_COLUMNS, "z"), out_dir / "glmm_parameters", formats=("csv",))
    save(agreement_figure(cmp), out_dir / "glmm_agreement.png")
    agr, p = cmp["agreement"].set_index("indicator"), cmp["parameters"]
    main = p[p.kind != "peer_sd"]
    psd = p[p.kind == "peer_sd"]
    extra_trust = {"correlation": agr.correlation.to_dict(), "spearman": agr.spearman.to_dict(),
                   "slope": agr.slope.to_dict(), "mean_abs_diff": agr.mean_abs_diff.to_dict(),
                   "max_abs_diff": agr.max_abs_diff.to_dict(), "share_in_credible": agr.share_in_credible.to_dict(),
                   "min_correlation": MIN_CORRELATION, "scale": "peer",
                   "national_correlation": agr.national_correlation.to_dict(),
                   "national_spearman": agr.national_spearman.to_dict(),
                   "national_slope": agr.national_slope.to_dict(),
                   "fallback_groups": {i: v for i, v in agr.fallback_groups.items() if v},
                   "absent_groups": {i: v for i, v in agr.absent_groups.items() if v}}
    extra_par = {"share_in_credible": float(main.glmm_in_credible.mean()), "n_parameters": len(main),
                 "share_overlap": float(main.intervals_overlap.mean()),
                 "share_peer_sd_in_credible": float(psd.glmm_in_credible.mean()),
                 "share_national_tau_in_peer_credible": float(((psd.national_tau >= psd.bayes_lo95)
                                                               & (psd.national_tau <= psd.bayes_hi95)).mean()),
                 "glmm_tau": agr.glmm_tau.to_dict(), "bayes_sd_between": agr.bayes_sd_between.to_dict(),
                 "glmm_tau_peer": {i: dict(zip(g.parameter.str[6:-1], g.glmm_estimate))
                                   for i, g in psd.groupby("indicator", sort=False)}}
    return [
        Item("glmm_trust_effects", "Agreement with a frequentist mixed model: trust effects", _trust_text(cmp),
             table="glmm_trust_effects.csv", figure="glmm_agreement.png",
             caption="GLMM trust effects (BLUPs, between-trust variance per peer group) against Bayesian posterior "
                     "means, by indicator; grey bars are 95% credible intervals, red points BLUPs outside them, open "
                     "grey circles the BLUPs with one national variance, the dashed line is identity.",
             passed=bool((agr.correlation >= MIN_CORRELATION).all()), extra=extra_trust),
        Item("glmm_parameters", "Agreement with a frequentist mixed model: parameters", _param_text_md(cmp),
             table="glmm_parameters.csv", passed=bool(main.intervals_overlap.all()), extra=extra_par),
    ]
