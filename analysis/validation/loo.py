"""Leave-one-out predictive checks: PSIS-LOO with Pareto-k diagnostics, integrated LOO, and LOO-PIT.

Every trust-indicator cell has its own trust effect theta[i,k], so the ordinary (conditional) PSIS-LOO leaves
out an observation whose parameter the posterior has pinned on it: its importance weights are heavy-tailed and
most Pareto k exceed 0.7 (measured in ``../shared/TOOLCHAIN.md``, and reported again here).  The integrated LOO
(Vehtari, Mononen, Tolvanen, Sivula & Winther 2016) integrates the left-out cell's own effect out of its
likelihood, conditional on everything else in the draw — the peer mean, need coefficients, peer scale, the
correlation, and the trust's other indicators' effects:

    p(y[i,k] | rest_s) = integral p(y[i,k] | theta) N(theta | m_s, v_s) dtheta,
    m_s, v_s = mean and variance of theta[i,k] given theta[i,-k] under MvNormal(eta[i], Sigma[g(i)])

computed by adaptive Gauss-Hermite quadrature (centred at the mode of the integrand, 24 nodes).  The importance
ratios 1 / p(y[i,k] | rest_s) are then smooth and PSIS (ArviZ) is reliable; its Pareto k are reported.  Cost
outcomes have no trust-specific parameter (Student-t residuals), so their plain PSIS-LOO is already integrated.

LOO-PIT: the probability integral transform of each observation under its leave-one-out predictive, with the
PSIS weights; counts are randomised at ties so the PIT is uniform under a correct model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy import special, stats

import arviz as az

from analysis.summaries import stack_draws
from models import indicators as registry
from models.value_model import ModelData

N_NODES = 24


# --------------------------------------------------------------------------------------------- likelihood pieces
def count_loglik(kind: str, y, n, theta, alpha=None):
    """log p(y | theta) and its first two derivatives in theta, for one indicator's likelihood.

    kind "poisson": y ~ Poisson(n e^theta) (n = expected deaths); "negbin": NB2 with mean n e^theta and
    shape alpha; "binomial": y ~ Binomial(n, logistic(theta)).
    """
    if kind == "poisson":
        lam = n * np.exp(theta)
        ll = y * np.log(n) + y * theta - lam - special.gammaln(y + 1)
        return ll, y - lam, -lam
    if kind == "negbin":
        lam = n * np.exp(theta)
        ll = (special.gammaln(y + alpha) - special.gammaln(alpha) - special.gammaln(y + 1)
              + alpha * np.log(alpha / (alpha + lam)) + y * np.log(lam / (alpha + lam)))
        g = y - (y + alpha) * lam / (alpha + lam)
        h = -(y + alpha) * alpha * lam / (alpha + lam) ** 2
        return ll, g, h
    if kind == "binomial":
        p = special.expit(theta)
        ll = (special.gammaln(n + 1) - special.gammaln(y + 1) - special.gammaln(n - y + 1)
              + y * theta - n * np.logaddexp(0, theta))
        return ll, y - n * p, -n * p * (1 - p)
    if kind == "betabinomial":  # period noise: alpha is the period variance tau^2 / M (models/indicators.py)
        a, b = registry.Binomial.beta_shapes(theta, alpha)
        ll = (special.gammaln(n + 1) - special.gammaln(y + 1) - special.gammaln(n - y + 1)
              + special.betaln(y + a, n - y + b) - special.betaln(a, b))
        p = special.expit(theta)
        info = n * p * (1 - p)  # the binomial's, discounted by the period variance (normal approximation)
        return ll, (y - n * p) / (1 + info * alpha), -info / (1 + info * alpha)
    raise ValueError(kind)


def integrated_loglik(kind: str, y, n, m, v, alpha=None, nodes: int = N_NODES):
    """log of integral p(y | theta) N(theta | m, v) dtheta, elementwise (adaptive Gauss-Hermite).

    "betabinomial" (period noise of variance ``alpha``) integrates the binomial over theta + eps instead, i.e. with
    variance v + alpha: the logit-normal mixture the beta-binomial stands in for."""
    if kind == "betabinomial":
        return integrated_loglik("binomial", y, n, m, np.asarray(v, float) + alpha, nodes=nodes)
    y, n, m, v = np.broadcast_arrays(np.asarray(y, float), np.asarray(n, float), np.asarray(m, float),
                                     np.asarray(v, float))
    # start at the data's own estimate, then Newton on the (log-concave) integrand
    if kind == "binomial":
        th = special.logit(np.clip((y + 0.5) / (n + 1), 1e-9, 1 - 1e-9))
    else:
        th = np.log((y + 0.5) / n)
    th = np.where(np.isfinite(th), th, m)
    for _ in range(30):
        _, g, h = count_loglik(kind, y, n, th, alpha)
        g = g - (th - m) / v
        h = h - 1 / v
        step = g / h
        th = th - step
        if np.nanmax(np.abs(step)) < 1e-10:
            break
    _, _, h = count_loglik(kind, y, n, th, alpha)
    sd = 1 / np.sqrt(-(h - 1 / v))
    x, w = np.polynomial.hermite.hermgauss(nodes)
    t = th[..., None] + np.sqrt(2) * sd[..., None] * x
    a = None if alpha is None else np.asarray(alpha)[..., None]
    ll, _, _ = count_loglik(kind, y[..., None], n[..., None], t, a)
    lp = -0.5 * (t - m[..., None]) ** 2 / v[..., None] - 0.5 * np.log(2 * np.pi * v[..., None])
    return special.logsumexp(ll + lp + x**2 + np.log(w), axis=-1) + np.log(np.sqrt(2) * sd)


def conditional_moments(theta, eta, sig, R, obs):
    """Mean and variance of theta[i,k] given the trust's other observed theta, for every observed cell.

    theta, eta: (S, N, K); sig: (S, N, K) trust-effect scales; R: (S, K, K) correlation; obs: (N, K) mask.
    Returns (m, v), each (S, N, K), NaN where the cell is unobserved.
    """
    S, N, K = theta.shape
    m = np.full((S, N, K), np.nan)
    v = np.full((S, N, K), np.nan)
    for pattern in np.unique(obs, axis=0):
        rows = np.nonzero((obs == pattern).all(axis=1))[0]
        present = np.nonzero(pattern)[0]
        for k in present:
            o = [j for j in present if j != k]
            sk = sig[:, rows, k]
            if not o:
                m[:, rows, k] = eta[:, rows, k]
                v[:, rows, k] = sk**2
                continue
            so = sig[:, rows][:, :, o]                                    # (S, n, |o|)
            Roo = R[:, o][:, :, o]                                        # (S, |o|, |o|)
            Rko = R[:, k, o]                                              # (S, |o|)
            Soo = so[:, :, :, None] * Roo[:, None] * so[:, :, None, :]    # (S, n, |o|, |o|)
            Sko = sk[:, :, None] * Rko[:, None, :] * so                   # (S, n, |o|)
            resid = theta[:, rows][:, :, o] - eta[:, rows][:, :, o]
            sol = np.linalg.solve(Soo, np.stack([resid, Sko], axis=-1))   # (S, n, |o|, 2)
            m[:, rows, k] = eta[:, rows, k] + np.sum(Sko * sol[..., 0], axis=-1)
            v[:, rows, k] = sk**2 - np.sum(Sko * sol[..., 1], axis=-1)
    return m, v


# --------------------------------------------------------------------------------------------- pointwise tables
def _kind(d: ModelData, k: int, cfg: dict) -> str:
    rec = registry.get(d.indicators[k])
    return rec.fam.loglik_kind(rec, cfg)


def pointwise_loglik(idata, d: ModelData, cfg: dict) -> dict:
    """Pointwise log-likelihoods, (S, n_obs) each, with the cells they belong to.

    Returns {"cells": DataFrame(org_code, block, outcome), "conditional": quality given theta,
    "integrated": quality with theta[i,k] integrated out, "cost": Student-t cost, "nchain": chains}.
    """
    post = idata.posterior
    nchain = post.sizes["chain"]
    theta = stack_draws(post, "theta")
    S, N, K = theta.shape
    mu = stack_draws(post, "mu")
    beta = stack_draws(post, "beta") if "beta" in post else np.zeros((S, K, 0))
    eta = mu[:, d.g] + np.einsum("np,skp->snk", d.x, beta)
    sig = stack_draws(post, "sigma")[:, d.g]
    R = stack_draws(post, "corr")
    # the negative binomial's shape, from the dispersion parameter the record's family names (SHMI's)
    disp = next((v for v in (registry.get(i).fam.dispersion_var(registry.get(i)) for i in d.indicators)
                 if v and v in post), None)
    alpha = 1 / stack_draws(post, disp) ** 2 if disp else None
    obs = d.observed
    m, v = conditional_moments(np.nan_to_num(theta), eta, sig, R, obs)
    cells, cond, integ = [], [], []
    for k, ind in enumerate(d.indicators):
        ok = np.nonzero(obs[:, k])[0]
        kind = _kind(d, k, cfg)
        rec = registry.get(ind)
        a = (alpha[:, None] if kind == "negbin" else rec.fam.period_variance(rec, cfg) if kind == "betabinomial"
             else None)
        ll, _, _ = count_loglik(kind, d.y[ok, k][None], d.n[ok, k][None], theta[:, ok, k], a)
        cond.append(ll)
        integ.append(integrated_loglik(kind, d.y[ok, k][None], d.n[ok, k][None], m[:, ok, k], v[:, ok, k], a))
        cells.append(pd.DataFrame({"org_code": d.trusts.org_code.to_numpy()[ok], "block": "quality",
                                   "outcome": ind, "i": ok, "k": k}))
    mc = stack_draws(post, "cost_expectation")
    sc = stack_draws(post, "sigma_c")[:, d.g]
    nu = stack_draws(post, "nu_c")
    cost, ccells = [], []
    for j, out in enumerate(d.cost_outcomes):
        ok = np.nonzero(~np.isnan(d.cost_y[:, j]))[0]
        cost.append(stats.t.logpdf(d.cost_y[ok, j][None], nu[:, None], mc[:, ok, j], sc[:, ok, j]))
        ccells.append(pd.DataFrame({"org_code": d.trusts.org_code.to_numpy()[ok], "block": "cost",
                                    "outcome": out, "i": ok, "k": j}))
    return {"cells": pd.concat(cells + ccells, ignore_index=True), "conditional": np.concatenate(cond, axis=1),
            "integrated": np.concatenate(integ, axis=1), "cost": np.concatenate(cost, axis=1), "nchain": nchain,
            "moments": (m, v), "alpha": alpha}


def as_inference_data(ll: np.ndarray, nchain: int) -> az.InferenceData:
    """Wrap an (S, n_obs) pointwise log-likelihood as InferenceData for ArviZ's LOO functions."""
    S, n = ll.shape
    arr = ll.reshape(nchain, S // nchain, n)
    ds = xr.Dataset({"y": (("chain", "draw", "obs"), arr)},
                    coords={"chain": np.arange(nchain), "draw": np.arange(S // nchain), "obs": np.arange(n)})
    post = xr.Dataset({"dummy": (("chain", "draw"), np.zeros((nchain, S // nchain)))},
                      coords={"chain": np.arange(nchain), "draw": np.arange(S // nchain)})
    return az.InferenceData(posterior=post, log_likelihood=ds)


def loo(ll: np.ndarray, nchain: int):
    """ArviZ PSIS-LOO (pointwise) of an (S, n_obs) log-likelihood."""
    import warnings

    with warnings.catch_warnings():  # ArviZ warns when k > 0.7; the k are reported instead
        warnings.simplefilter("ignore")
        return az.loo(as_inference_data(ll, nchain), pointwise=True)


def loo_summary(pw: dict) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """PSIS-LOO of the conditional and integrated quality likelihoods and the cost likelihood.

    Returns (summary table, pointwise table, ELPDData objects by name).
    """
    res = {"quality_conditional": loo(pw["conditional"], pw["nchain"]),
           "quality_integrated": loo(pw["integrated"], pw["nchain"]),
           "cost": loo(pw["cost"], pw["nchain"]),
           "total_integrated": loo(np.concatenate([pw["integrated"], pw["cost"]], axis=1), pw["nchain"])}
    rows = []
    for name, r in res.items():
        k = np.asarray(r.pareto_k)
        rows.append({"likelihood": name, "n_obs": int(k.size), "elpd_loo": float(r.elpd_loo), "se": float(r.se),
                     "p_loo": float(r.p_loo), "k_le_0.5": int((k <= 0.5).sum()),
                     "k_0.5_0.7": int(((k > 0.5) & (k <= 0.7)).sum()), "k_gt_0.7": int((k > 0.7).sum()),
                     "max_k": float(k.max())})
    cells = pw["cells"]
    nq = pw["integrated"].shape[1]
    point = cells.copy()
    point["elpd_integrated"] = np.concatenate([np.asarray(res["quality_integrated"].loo_i),
                                               np.asarray(res["cost"].loo_i)])
    point["k_integrated"] = np.concatenate([np.asarray(res["quality_integrated"].pareto_k),
                                            np.asarray(res["cost"].pareto_k)])
    point["k_conditional"] = np.concatenate([np.asarray(res["quality_conditional"].pareto_k),
                                             np.full(len(cells) - nq, np.nan)])
    return pd.DataFrame(rows), point, res


def loo_pit(pw: dict, d: ModelData, cfg: dict, idata, seed: int = 0) -> np.ndarray:
    """LOO-PIT of every cell in ``pw["cells"]`` order (quality: integrated predictive; cost: Student-t)."""
    rng = np.random.default_rng(seed)
    m, v = pw["moments"]
    cells = pw["cells"]
    qual = cells.block == "quality"
    lw_q, _ = az.psislw(-pw["integrated"].T.copy())  # (n_obs, S), normalised log weights
    lw_c, _ = az.psislw(-pw["cost"].T.copy())
    pit = np.empty(len(cells))
    alpha = pw["alpha"]
    for c, row in enumerate(cells[qual].itertuples()):
        i, k = row.i, row.k
        th = rng.normal(m[:, i, k], np.sqrt(v[:, i, k]))
        kind = _kind(d, k, cfg)
        n = d.n[i, k]
        if kind in ("binomial", "betabinomial"):
            if kind == "betabinomial":  # the period's own logit: the long-run one plus its shock, as the model says
                rec = registry.get(d.indicators[k])
                th = th + rng.normal(0.0, np.sqrt(rec.fam.period_variance(rec, cfg)), len(th))
            yrep = rng.binomial(int(n), special.expit(th))
        else:
            lam = n * np.exp(th)
            if kind == "negbin":
                lam = rng.gamma(alpha, lam / alpha)
            yrep = rng.poisson(lam)
        y = d.y[i, k]
        u = (yrep < y) + rng.random(len(th)) * (yrep == y)
        pit[c] = float(np.sum(np.exp(lw_q[c]) * u))
    post = idata.posterior
    mc, sc, nu = stack_draws(post, "cost_expectation"), stack_draws(post, "sigma_c"), stack_draws(post, "nu_c")
    for c, row in enumerate(cells[~qual].itertuples()):
        i, j = row.i, row.k
        cdf = stats.t.cdf(d.cost_y[i, j], nu, mc[:, i, j], sc[:, d.g[i], j])
        pit[qual.sum() + c] = float(np.sum(np.exp(lw_c[c]) * cdf))
    return np.clip(pit, 0, 1)


def pit_uniformity(pit: np.ndarray, groups: pd.Series) -> pd.DataFrame:
    """Kolmogorov-Smirnov test of uniform LOO-PIT, per group (likelihood) and overall."""
    rows = []
    for name, idx in list(groups.groupby(groups).groups.items()) + [("all", groups.index)]:
        p = pit[np.asarray(idx)]
        ks = stats.kstest(p, "uniform")
        rows.append({"outcome": name, "n": int(len(p)), "ks_statistic": float(ks.statistic),
                     "p_value": float(ks.pvalue), "share_below_0.025": float(np.mean(p < 0.025)),
                     "share_above_0.975": float(np.mean(p > 0.975))})
    return pd.DataFrame(rows)


def plot_loo_pit(pit: np.ndarray, groups: pd.Series, path) -> None:
    """ECDF of LOO-PIT minus the uniform CDF, per outcome, with the 95% simultaneous (DKW) band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(groups))
    ncol = 4
    nrow = int(np.ceil(len(names) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.6 * ncol, 2.1 * nrow), squeeze=False, sharey=True)
    grid = np.linspace(0, 1, 201)
    for ax, name in zip(axes.flat, names):
        p = np.sort(pit[(groups == name).to_numpy()])
        ecdf = np.searchsorted(p, grid, side="right") / len(p)
        eps = np.sqrt(np.log(2 / 0.05) / (2 * len(p)))
        ax.fill_between(grid, -eps, eps, color="0.85", lw=0)
        ax.plot(grid, ecdf - grid, color="#1f5f8b", lw=1.2)
        ax.axhline(0, color="0.4", lw=0.6)
        ax.set_title(f"{name} (n = {len(p)})", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle("LOO-PIT: ECDF minus uniform (grey: 95% band)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
