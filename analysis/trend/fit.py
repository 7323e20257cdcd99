"""Fit the dynamic model (``models/trend_model.py``), gate it, and draw the trust states.

The sampler sees the hyperparameters and peer paths; each trust's states u[i,k,t] are then drawn exactly, draw by
draw, by forward filtering and backward sampling (FFBS, Carter & Kohn 1994; Fruhwirth-Schnatter 1994) given that
draw's hyperparameters, so ``posterior["u"]`` is a draw from the joint posterior like any sampled variable.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from analysis.fitting import GateResult, convergence_gate, divergences_only, posterior_hash, sample
from models import trend_model
from models.trend_model import GATE_VARS, TrendData, build_model, prepare


def code_version() -> str:
    return hashlib.sha256(Path(trend_model.__file__).read_bytes()).hexdigest()[:10]


def year_panel_hash(panel: pd.DataFrame) -> str:
    p = panel.sort_values(["org_code", "year"]).reset_index(drop=True)
    return hashlib.sha256(pd.util.hash_pandas_object(p, index=False).to_numpy().tobytes()).hexdigest()[:16]


def model_id(panel: pd.DataFrame, cfg: dict, years=None) -> str:
    payload = json.dumps({"config": {k: cfg.get(k) for k in ("peer_groups", "need", "indicators", "priors",
                                                               "sampler")},
                          "panel": year_panel_hash(panel), "code": code_version(),
                          "years": None if years is None else list(map(int, years))}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------- hyperparameter draws

def _full(post, name: str, idx: np.ndarray, K: int, fill) -> np.ndarray:
    """(D, K) from a posterior variable defined on the indicators ``idx`` only; ``fill`` (D, K) elsewhere."""
    out = np.array(fill, float, copy=True)
    if name in post:
        a = post[name].values.reshape(-1, len(idx))
        out[:, idx] = a
    return out


def hyper_draws(idata: az.InferenceData, d: TrendData, cfg: dict, rng: np.random.Generator) -> dict:
    """Every draw's hyperparameters as flat (D, ...) arrays; s_c / s_e of indicators without steps in the fit
    (one year of data) are drawn from their priors (needed only to forecast)."""
    from models.trend_model import step_layout

    post = idata.posterior
    K = len(d.indicators)
    D = post.sizes["chain"] * post.sizes["draw"]
    pr = cfg["priors"]
    scale = np.array([float(pr["scale"][i]) for i in d.indicators])
    lay = step_layout(d)
    kd = np.nonzero(d.dynamic)[0]
    ks = np.unique(lay["nat"][:, 0]) if len(lay["nat"]) else np.zeros(0, int)
    kp = np.unique(lay["peer"][:, 1]) if len(lay["peer"]) else np.zeros(0, int)
    prior_sc = np.abs(rng.standard_normal((D, K))) * scale * float(pr["national_step"])
    prior_se = np.abs(rng.standard_normal((D, K))) * scale * float(pr["peer_step"])
    out = {
        "mu": post["mu"].values.reshape(D, *post["mu"].shape[2:]),
        "beta": post["beta"].values.reshape(D, K, -1) if "beta" in post else np.zeros((D, K, 0)),
        "sigma": post["sigma"].values.reshape(D, K),
        "rho": _full(post, "rho", kd, K, np.full((D, K), 0.5)),
        "tau": _full(post, "tau", kd, K, np.zeros((D, K))),
        # one relative step SD for all indicators (models/trend_model.py): an indicator with one year of data
        # takes it too, for forecasting
        "s_c": (post["s_c_rel"].values.reshape(D, 1) * scale[None] if "s_c_rel" in post
                else _full(post, "s_c", ks, K, prior_sc)),
        "s_e": _full(post, "s_e", kp, K, prior_se) if pr.get("peer_steps", False) else np.zeros((D, K)),
        "scale": scale,
        # innovation-variance multipliers of the trust effects by year (priors.volatility_step; 1 when off)
        "vol": (np.exp(post["h"].values.reshape(D, K, -1)) if "h" in post
                else np.ones((D, K, len(d.years)))),
        "s_h": post["s_h"].values.reshape(D) if "s_h" in post else np.zeros(D),
    }
    return out


def expectation(h: dict, d: TrendData, sl=slice(None)) -> np.ndarray:
    """(D, N, K, T) peer mean + need effect of each trust, for the draws ``sl``."""
    mu = h["mu"][sl][:, d.g]  # (D, N, K, T)
    if d.x.shape[1]:
        mu = mu + np.einsum("np,dkp->dnk", d.x, h["beta"][sl])[..., None]
    return mu


def ffbs(resid, R, obs, sigma, rho, rng, vol=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward filtering, backward sampling of the AR(1) states, vectorised over draws (leading axis).

    ``resid``, ``R`` (D, N, K, T); ``obs`` (N, K, T); ``sigma``, ``rho`` (D, K); ``vol`` (D, K, T), optional:
    multiplier of the innovation variance of the step into year t.  Returns the sampled states (D, N, K, T) and
    the filtered mean and variance of the last year (D, N, K), from which forecasts start."""
    D, N, K, T = resid.shape
    s2 = (sigma**2)[:, None, :]
    r = rho[:, None, :]
    q0 = s2 * (1 - r**2)
    vol = np.ones((D, K, T)) if vol is None else vol
    q = q0
    a = np.zeros((D, N, K))
    P = np.broadcast_to(s2, (D, N, K)).copy()
    af = np.empty((D, N, K, T))
    Pf = np.empty((D, N, K, T))
    for t in range(T):
        o = obs[None, :, :, t]
        S = P + R[..., t]
        Kg = np.where(o, P / S, 0.0)
        a = a + Kg * np.where(o, resid[..., t] - a, 0.0)
        P = P * (1 - Kg)
        af[..., t], Pf[..., t] = a, P
        if t + 1 < T:
            q = q0 * vol[:, None, :, t + 1]
        a, P = r * a, r**2 * P + q
    u = np.empty((D, N, K, T))
    u[..., T - 1] = af[..., T - 1] + np.sqrt(Pf[..., T - 1]) * rng.standard_normal((D, N, K))
    for t in range(T - 2, -1, -1):
        q = q0 * vol[:, None, :, t + 1]
        Pp = r**2 * Pf[..., t] + q
        J = r * Pf[..., t] / Pp
        m = af[..., t] + J * (u[..., t + 1] - r * af[..., t])
        var = np.maximum(Pf[..., t] - J * r * Pf[..., t], 0.0)
        u[..., t] = m + np.sqrt(var) * rng.standard_normal((D, N, K))
    return u, af[..., T - 1], Pf[..., T - 1]


def draw_states(idata: az.InferenceData, d: TrendData, cfg: dict, seed: int, chunk: int = 500) -> dict:
    """Trust states u (D, N, K, T) for every posterior draw, and the last year's filtered moments."""
    rng = np.random.default_rng(seed)
    h = hyper_draws(idata, d, cfg, rng)
    D = h["sigma"].shape[0]
    obs = d.obs
    z = np.where(obs, d.z, 0.0)
    u = np.empty((D, *d.shape), np.float32)
    a_last = np.empty((D, *d.shape[:2]))
    P_last = np.empty((D, *d.shape[:2]))
    for s in range(0, D, chunk):
        sl = slice(s, min(D, s + chunk))
        resid = z[None] - expectation(h, d, sl)
        R = np.where(obs, d.v, 1.0)[None] + (h["tau"][sl] ** 2)[:, None, :, None]
        uu, a, P = ffbs(resid, R, obs, h["sigma"][sl], h["rho"][sl], rng, vol=h["vol"][sl])
        u[sl], a_last[sl], P_last[sl] = uu, a, P
    return {"u": u, "a_last": a_last, "P_last": P_last, "hyper": h}


# ------------------------------------------------------------------------------------------------- fit

def fit_trend(panel: pd.DataFrame, cfg: dict, seed: int | None = None, years=None, echo=print, retry: bool = True,
              progress: bool = False):
    """Build, sample, gate; then draw the states.  Returns (idata with ``u`` in the posterior, data, gate,
    states dict).  A fit failing on divergences alone is refitted once at ``sampler.retry_target_accept``."""
    d = prepare(panel, cfg, years)
    idata, gate, st = fit_data(d, cfg, seed=seed, echo=echo, retry=retry, progress=progress)
    idata.attrs["svi_trend_model_id"] = model_id(panel, cfg, years)
    return idata, d, gate, st


def fit_data(d: TrendData, cfg: dict, seed: int | None = None, echo=print, retry: bool = True,
             progress: bool = False):
    """:func:`fit_trend` on prepared data (synthetic panels, SBC): returns (idata, gate, states)."""
    model = build_model(d, cfg)
    s = cfg["sampler"]
    seed = int(s["seed"] if seed is None else seed)
    accept = [float(s["target_accept"])]
    if retry and float(s.get("retry_target_accept", 0)) > accept[0]:
        accept.append(float(s["retry_target_accept"]))
    attempts = []
    for n, ta in enumerate(accept):
        t0 = time.perf_counter()
        idata = sample(model, {**cfg, "sampler": {**s, "target_accept": ta}}, seed=seed, progress=progress)
        wall = time.perf_counter() - t0
        gate = convergence_gate(idata, cfg, GATE_VARS)
        attempts.append({"attempt": n + 1, "target_accept": ta, "passed": gate.passed, "wall_seconds": round(wall, 2),
                         "divergences": gate.divergences, "max_rhat": gate.max_rhat,
                         "min_ess_bulk": gate.min_ess_bulk, "min_ess_tail": gate.min_ess_tail})
        N, K, T = d.shape
        echo(f"trend model: {N} trusts x {K} indicators x {T} years ({d.years[0]}-{d.years[-1]}) with {s['name']} "
             f"in {wall:.1f} s{f' (target_accept {ta:g})' if n else ''}")
        echo("  " + gate.text())
        if gate.passed or not divergences_only(gate) or n + 1 == len(accept):
            break
        echo(f"  failed on divergences alone ({gate.divergences}): refitting once at target_accept {accept[n + 1]:g}")
    t0 = time.perf_counter()
    st = draw_states(idata, d, cfg, seed)
    C, Dr = idata.posterior.sizes["chain"], idata.posterior.sizes["draw"]
    u = st["u"].reshape(C, Dr, *d.shape)
    idata.posterior["u"] = xr.DataArray(u, dims=("chain", "draw", "trust", "indicator", "year"),
                                        coords={"trust": d.trusts.org_code.tolist(), "indicator": d.indicators,
                                                "year": d.years})
    idata.attrs.update({"svi_trend_code": code_version(),
                        "svi_seed": seed, "svi_gate_passed": int(gate.passed), "svi_gate": gate.text(),
                        "svi_attempts": json.dumps(attempts), "svi_states_seconds": round(time.perf_counter() - t0, 2),
                        "svi_wall_seconds": round(sum(a["wall_seconds"] for a in attempts), 2),
                        "svi_config": json.dumps(cfg, sort_keys=True, default=str),
                        "svi_years": json.dumps([int(y) for y in d.years])})
    idata.attrs["svi_posterior_hash"] = posterior_hash(idata)
    return idata, gate, st


def gate_record(gate: GateResult, idata) -> dict:
    return {"passed": gate.passed, "max_rhat": gate.max_rhat, "min_ess_bulk": gate.min_ess_bulk,
            "min_ess_tail": gate.min_ess_tail, "divergences": gate.divergences, "failing": gate.failing,
            "model_id": idata.attrs.get("svi_trend_model_id"), "posterior_hash": idata.attrs.get("svi_posterior_hash"),
            "attempts": json.loads(idata.attrs.get("svi_attempts") or "[]"),
            "wall_seconds": idata.attrs.get("svi_wall_seconds")}
