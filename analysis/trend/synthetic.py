"""Synthetic year panels drawn from the dynamic model's own structure (recovery test, SBC, backtest plumbing).

:func:`template` lays out trusts, peer groups, need covariates, years and which indicator is observed in which year
(and with which denominator); :func:`draw_truth` draws every parameter, from the model's priors (SBC) or fixed
near the real panel's estimates (recovery); :func:`simulate` draws the trust states and the data: binomial counts
(``counts=True``: also tests the normal approximation on the logit scale) or the model's Gaussian likelihood exactly
(SBC).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from models.trend_model import TrendData, break_steps, step_layout, transform

PEERS = ("large", "medium", "small", "teaching")


def template(n_trusts: int = 60, years=(2019, 2020, 2021, 2022, 2023), indicators=("rtt", "ae"),
             first_year: dict | None = None, seed: int = 1, cfg: dict | None = None) -> TrendData:
    """Structure of a synthetic panel: every indicator observed from ``first_year[ind]`` (default: the first year)
    to the last year, denominators log-normal around the real panel's (RTT ~ 30,000 waiting; A&E ~ 150,000 a year;
    cancer ~ 2,000; SHMI expected deaths ~ 1,500), 3% of trust-years missing at random."""
    rng = np.random.default_rng(seed)
    years = list(years)
    N, K, T = n_trusts, len(indicators), len(years)
    g = np.arange(N) % len(PEERS)
    x = rng.standard_normal((N, 2))
    typical = {"rtt": 30_000, "ae": 150_000, "cancer_fds": 8_000, "cancer_62d": 1_500, "cancer_31d": 2_000,
               "shmi": 1_500, "fft": 20_000}
    n = np.full((N, K, T), np.nan)
    for k, ind in enumerate(indicators):
        t0 = years.index((first_year or {}).get(ind, years[0]))
        size = typical[ind] * np.exp(0.5 * rng.standard_normal(N))
        for t in range(t0, T):
            n[:, k, t] = np.round(size * np.exp(0.05 * rng.standard_normal(N)))
    n[rng.random(n.shape) < 0.03] = np.nan
    trusts = pd.DataFrame({"org_code": [f"S{i:03d}" for i in range(N)], "org_name": [f"Trust {i}" for i in range(N)],
                           "region": "Synthetic", "size_class": [PEERS[j] for j in g]})
    trusts["peer_group"] = trusts["size_class"]
    has = ~np.isnan(n)
    anyk = has.any(axis=0)
    first = np.array([np.nonzero(anyk[k])[0][0] for k in range(K)])
    last = np.array([np.nonzero(anyk[k])[0][-1] for k in range(K)])
    dyn = anyk.sum(axis=1) >= int(((cfg or {}).get("indicators") or {}).get("min_years_dynamic", 3))
    wide = break_steps(years, list(indicators), cfg) if cfg else np.zeros((K, T), bool)
    nan = np.full((N, K, T), np.nan)
    return TrendData(trusts, list(PEERS), g, years, list(indicators), nan.copy(), nan.copy(), n, nan.copy(),
                     ["need_a", "need_b"], x, first, last, dyn, wide)


def draw_truth(d: TrendData, cfg: dict, rng: np.random.Generator, from_prior: bool = True) -> dict:
    """Every parameter of the model: from its prior (SBC) or, with ``from_prior=False``, fixed values like the
    real panel's estimates (sigma 0.4-0.5, rho 0.8-0.9, tau 0.05, national steps 0.2)."""
    N, K, T = d.shape
    G, P = len(d.peer_groups), d.x.shape[1]
    pr = cfg["priors"]
    scale = np.array([float(pr["scale"][i]) for i in d.indicators])
    centre = np.where(np.array(d.indicators) == "shmi", 0.0, 0.6)  # SHMI log O/E about 0; shares about 65%
    if from_prior:
        mu0 = centre + scale * rng.standard_normal((G, K))
        beta = (scale / 2)[:, None] * rng.standard_normal((K, P))
        sigma = np.abs(scale * rng.standard_normal(K))
        rho = rng.beta(float(pr["rho_a"]), float(pr["rho_b"]), K)
        tau = np.abs(scale * float(pr["tau"]) * rng.standard_normal(K))
        s_c = scale * abs(float(pr["national_step"]) * rng.standard_normal())
    else:
        mu0 = centre + 0.3 * rng.standard_normal((G, K))
        beta = 0.1 * rng.standard_normal((K, P))
        sigma = np.full(K, 0.45)
        rho = np.full(K, 0.85)
        tau = np.full(K, 0.05)
        s_c = 0.45 * scale
    tau = np.where(d.dynamic, tau, 0.0)
    rho = np.where(d.dynamic, rho, 0.5)
    M = np.zeros((K, T))
    for k in range(K):
        for t in range(d.first[k] + 1, d.last[k] + 1):
            sd = scale[k] if d.wide_step[k, t] else s_c[k]
            M[k, t] = M[k, t - 1] + sd * rng.standard_normal()
        M[k, d.last[k] + 1:] = M[k, d.last[k]]
    mu = mu0[:, :, None] + M[None]
    return {"mu0": mu0, "beta": beta, "sigma": sigma, "rho": rho, "tau": tau, "s_c": s_c, "M": M, "mu": mu}


def simulate(d: TrendData, truth: dict, rng: np.random.Generator, counts: bool = True) -> tuple[TrendData, np.ndarray]:
    """Data for ``truth`` on the structure of ``d``: returns (data, true states u (N, K, T))."""
    N, K, T = d.shape
    u = np.empty((N, K, T))
    s = truth["sigma"]
    r = truth["rho"]
    u[:, :, 0] = s * rng.standard_normal((N, K))
    for t in range(1, T):
        u[:, :, t] = r * u[:, :, t - 1] + s * np.sqrt(1 - r**2) * rng.standard_normal((N, K))
    theta = truth["mu"][d.g] + (d.x @ truth["beta"].T)[:, :, None] + u
    out = copy.deepcopy(d)
    has = ~np.isnan(d.n)
    for k, ind in enumerate(d.indicators):
        n = d.n[:, k, :]
        ok = has[:, k, :]
        if counts:
            eta = theta[:, k, :] + truth["tau"][k] * rng.standard_normal((N, T))
            if ind == "shmi":
                y = rng.poisson(np.where(ok, n, 0) * np.exp(eta)).astype(float)
            else:
                y = rng.binomial(np.where(ok, n, 0).astype(np.int64), 1 / (1 + np.exp(-eta))).astype(float)
            y[~ok] = np.nan
            z, v = transform(y, n, ind)
        else:
            y = np.full((N, T), np.nan)
            _, v = transform(n * (0.5 if ind != "shmi" else 1.0), n, ind)  # sampling variance at a typical share
            z = theta[:, k, :] + np.sqrt(v + truth["tau"][k] ** 2) * rng.standard_normal((N, T))
        z[~ok], v[~ok] = np.nan, np.nan
        out.z[:, k, :], out.v[:, k, :], out.y[:, k, :] = z, v, y
    return out, u


__all__ = ["template", "draw_truth", "simulate", "step_layout"]
