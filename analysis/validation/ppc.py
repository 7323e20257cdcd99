"""Posterior predictive checks of every likelihood.

Each trust-indicator cell has its own effect theta[i,k], so replicating y from the posterior theta reproduces any
data set (a check that cannot fail).  The replicates here are *hierarchical*: for each posterior draw a new set of
trusts is drawn from the fitted hierarchy, theta_rep[i] ~ MvNormal(mu[g(i)] + beta x[i], Sigma[g(i)]), then the
counts from the likelihood with each trust's own denominators; cost residuals from the Student-t.  This asks
whether the spread, tails and extremes of real trusts are those the model implies.  Test statistics are computed
on the same scale a reviewer reads (log O/E for SHMI, logit proportions, log cost ratios); the posterior
predictive p-value is P(T(y_rep) >= T(y)).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.summaries import stack_draws
from models import indicators as registry
from models.value_model import ModelData


def _scale(ind: str, y, n):
    """The reviewer's scale: log(O/E) for SHMI, empirical logit for the proportions (the record's family)."""
    return registry.get(ind).fam.reviewer_scale(y, n)


def statistics(z: np.ndarray, ind: str, y=None, n=None) -> dict[str, np.ndarray]:
    """Test statistics over trusts (last axis): spread, extremes and, for SHMI, funnel outliers."""
    out = {"sd": np.std(z, axis=-1, ddof=1), "min": np.min(z, axis=-1), "max": np.max(z, axis=-1),
           "iqr": np.subtract(*np.percentile(z, [75, 25], axis=-1))}
    if y is not None and ind in registry.INDICATORS and registry.get(ind).fam.funnel:
        # trusts outside the Poisson 99.8% funnel around the national ratio: the overdispersion the SHMI method sees
        ratio = y.sum(-1, keepdims=True) / n.sum(-1)
        zz = (y - ratio * n) / np.sqrt(ratio * n)
        out["n_outside_99.8"] = np.sum(np.abs(zz) > 3.09, axis=-1).astype(float)
    return out


def replicate(idata, d: ModelData, cfg: dict, n_draws: int = 1000, seed: int = 0) -> dict[str, dict]:
    """Hierarchical replicates: {outcome: {"y": (D, n_obs) replicated on the reviewer's scale, "obs": observed}}."""
    rng = np.random.default_rng(seed)
    post = idata.posterior
    S = post.sizes["chain"] * post.sizes["draw"]
    idx = np.linspace(0, S - 1, min(n_draws, S)).round().astype(int)
    mu = stack_draws(post, "mu")[idx]
    K = mu.shape[-1]
    beta = stack_draws(post, "beta")[idx] if "beta" in post else np.zeros((len(idx), K, 0))
    sig = stack_draws(post, "sigma")[idx][:, d.g]
    R = stack_draws(post, "corr")[idx]
    L = np.linalg.cholesky(R)
    D, N = len(idx), d.N
    eta = mu[:, d.g] + np.einsum("np,dkp->dnk", d.x, beta)
    theta = eta + sig * np.einsum("dkl,dnl->dnk", L, rng.standard_normal((D, N, K)))
    out = {}
    for k, ind in enumerate(d.indicators):
        ok = d.observed[:, k]
        n = d.n[ok, k]
        th = theta[:, ok, k]
        fam = registry.get(ind).fam
        disp = fam.dispersion_var(registry.get(ind))
        yr = fam.simulate(rng, n, th, stack_draws(post, disp)[idx][:, None] if disp and disp in post
                           else None, period_var=fam.period_variance(registry.get(ind), cfg)).astype(float)
        out[ind] = {"rep": _scale(ind, yr, n), "obs": _scale(ind, d.y[ok, k], n), "y_rep": yr, "y": d.y[ok, k],
                    "n": n}
    mc = stack_draws(post, "cost_expectation")[idx]
    sc = stack_draws(post, "sigma_c")[idx][:, d.g]
    nu = stack_draws(post, "nu_c")[idx]
    for j, o in enumerate(d.cost_outcomes):
        ok = ~np.isnan(d.cost_y[:, j])
        yr = mc[:, ok, j] + sc[:, ok, j] * rng.standard_t(nu[:, None], size=(D, ok.sum()))
        out[f"cost_{o}"] = {"rep": yr, "obs": d.cost_y[ok, j]}
    return out


def ppc_table(reps: dict[str, dict]) -> pd.DataFrame:
    """Observed statistic, replicated 95% interval and posterior predictive p-value, per outcome and statistic."""
    rows = []
    for name, r in reps.items():
        ind = name if not name.startswith("cost_") else "cost"
        t_obs = statistics(r["obs"], ind, r.get("y"), r.get("n"))
        t_rep = statistics(r["rep"], ind, r.get("y_rep"), r.get("n"))
        for stat, tr in t_rep.items():
            to = float(t_obs[stat])
            p = float(np.mean(tr >= to))
            rows.append({"outcome": name, "statistic": stat, "observed": to, "rep_median": float(np.median(tr)),
                         "rep_lo95": float(np.quantile(tr, 0.025)), "rep_hi95": float(np.quantile(tr, 0.975)),
                         "ppp": p, "extreme": bool(min(p, 1 - p) < 0.01)})
    return pd.DataFrame(rows)


def plot_ppc(reps: dict[str, dict], path, statistic: str = "sd") -> None:
    """Histogram of the replicated statistic with the observed value, one panel per outcome."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(reps)
    ncol = 4
    nrow = int(np.ceil(len(names) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.6 * ncol, 2.0 * nrow), squeeze=False)
    for ax, name in zip(axes.flat, names):
        r = reps[name]
        ind = name if not name.startswith("cost_") else "cost"
        tr = statistics(r["rep"], ind)[statistic]
        to = float(statistics(r["obs"], ind)[statistic])
        ax.hist(tr, bins=30, color="#9bb7cc", edgecolor="white")
        ax.axvline(to, color="#b2182b", lw=1.5)
        ax.set_title(f"{name}: p = {np.mean(tr >= to):.2f}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(f"Hierarchical posterior predictive check: {statistic} across trusts (red: observed)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
