"""Prior sensitivity: prior predictive checks and power-scaling of each hyperprior.

* Prior predictive: data simulated from the prior on the panel's structure (the SBC simulator), summarised with the
  posterior predictive statistics; the observed statistic should sit inside the prior predictive range (the
  priors allow the data) without the priors being so wide that they put most mass on absurd data.
* Power-scaling (Kallioinen, Paananen, Buerkner & Vehtari 2023; ArviZ ``psens``): raise one hyperprior group to
  the power alpha near 1 and measure how far each posterior quantity moves (cumulative Jensen-Shannon distance per
  unit log2 alpha).  Above 0.05 the prior is informative for that quantity; if the likelihood sensitivity is also
  high the prior and data conflict, if it is low the data say little about it.  The log prior of each group is
  PyMC's own (``pm.compute_log_prior``), so the priors are not restated here.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

import arviz as az

from analysis.validation import ppc, sbc
from models.value_model import ModelData

#: hyperprior groups that are power-scaled together
PRIOR_GROUPS = {
    "peer means (mu)": ["mu"],
    "need coefficients (beta)": ["beta_q"],  # beta's prior, on the QR coordinates the model samples
    "trust-effect scales and correlation": ["chol", "sd0", "loading", "s_scale", "scale_dev", "scale_dev_z"],
    "cost peer means (mu_c)": ["mu_c"],
    "cost need coefficients (beta_c)": ["beta_c_q"],
    "cost scales and tail (sigma_c, nu_c)": ["sd0_c", "s_scale_c", "scale_dev_c", "scale_dev_c_z", "nu_c"],
    "SHMI dispersion": ["shmi_inv_dispersion"],
}
#: posterior quantities whose sensitivity is reported
TARGETS = ["mu", "beta", "sd0", "sigma", "corr", "mu_c", "beta_c", "sigma_c", "nu_c"]


def prior_predictive(model: pm.Model, d: ModelData, n: int = 200, seed: int = 0) -> pd.DataFrame:
    """Observed statistics against their prior predictive distribution (same statistics as the PPC)."""
    rng = np.random.default_rng(seed)
    sims = [sbc.simulate_data(d, p, rng) for p in sbc.draw_prior(model, n, seed)]
    rows = []
    for k, ind in enumerate(d.indicators):
        ok = d.observed[:, k]
        if not ok.any():
            continue
        nn = d.n[ok, k]
        rep = np.stack([ppc._scale(ind, s["y"][ok, k], nn) for s in sims])
        yr = np.stack([s["y"][ok, k] for s in sims])
        rows += _rows(ind, statistics_pair(ind, rep, ppc._scale(ind, d.y[ok, k], nn), yr, d.y[ok, k], nn))
    for j, o in enumerate(d.cost_outcomes):
        ok = ~np.isnan(d.cost_y[:, j])
        rep = np.stack([s["cost_y"][ok, j] for s in sims])
        rows += _rows(f"cost_{o}", statistics_pair("cost", rep, d.cost_y[ok, j]))
    return pd.DataFrame(rows)


def statistics_pair(ind, rep, obs, y_rep=None, y=None, n=None):
    return ppc.statistics(obs, ind, y, n), ppc.statistics(rep, ind, y_rep, n)


def _rows(name, pair):
    t_obs, t_rep = pair
    out = []
    for stat, tr in t_rep.items():
        to = float(t_obs[stat])
        lo, med, hi = np.quantile(tr, [0.005, 0.5, 0.995])
        out.append({"outcome": name, "statistic": stat, "observed": to, "prior_median": float(med),
                    "prior_lo99": float(lo), "prior_hi99": float(hi),
                    "prior_quantile_of_observed": float(np.mean(tr <= to)), "inside_99": bool(lo <= to <= hi)})
    return out


def with_log_densities(idata, model: pm.Model, loglik: np.ndarray, n_draws: int = 1000) -> az.InferenceData:
    """Thinned posterior with ``log_prior`` (PyMC, per free variable) and a summed ``log_likelihood`` group."""
    post = idata.posterior
    D = post.sizes["draw"]
    step = max(1, int(np.ceil(post.sizes["chain"] * D / n_draws)))
    sub = post.isel(draw=slice(0, None, step))
    names = [v.name for v in model.free_RVs if v.name in sub and v.name != "theta_obs"]
    small = az.InferenceData(posterior=sub)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lp = pm.compute_log_prior(small, var_names=names, model=model, extend_inferencedata=False,
                                  progressbar=False)
    C = post.sizes["chain"]
    ll = loglik.reshape(C, D, -1)[:, ::step]
    small.add_groups(log_prior=lp, log_likelihood=xr.Dataset(
        {"y": (("chain", "draw", "obs"), ll)}, coords={"chain": sub.chain, "draw": sub.draw}))
    return small


def _worst_element(da: xr.DataArray) -> tuple[float, str, int, int]:
    """Largest sensitivity of a quantity, the label of its element (e.g. ``mu[specialist, ae]``), how many elements
    reach 0.05, of how many.  Constant elements (NaN, see :func:`power_scaling`) are not counted."""
    vals = np.asarray(da.values, float)
    ok = np.isfinite(vals)
    if not ok.any():
        return 0.0, str(da.name), 0, 0
    idx = np.unravel_index(np.nanargmax(vals), vals.shape)
    label = ", ".join(str(da[dim].values[i]) for dim, i in zip(da.dims, idx))
    return (float(vals[idx]), f"{da.name}[{label}]" if label else str(da.name), int((vals[ok] >= 0.05).sum()),
            int(ok.sum()))


def power_scaling(ld: az.InferenceData) -> pd.DataFrame:
    """Prior-group and likelihood power-scaling sensitivity of each target quantity (max over its elements)."""
    targets = [v for v in TARGETS if v in ld.posterior]
    have = set(ld.log_prior.data_vars)
    rows = []
    # constant elements (a correlation matrix's diagonal) have no sensitivity; psens returns noise for them
    varying = {v: ld.posterior[v].std(("chain", "draw")) > 1e-9 for v in targets}  # 1 +- rounding is constant

    def sensitivity(**kw) -> dict[str, tuple[float, str, int, int]]:
        ds = az.psens(ld, var_names=targets, **kw)
        return {v: _worst_element(ds[v].where(varying[v])) for v in targets if v in ds}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        like = sensitivity(component="likelihood")
        for group, members in PRIOR_GROUPS.items():
            comp = [m for m in members if m in have]
            if not comp:
                continue
            for v, (s, el, n_over, n) in sensitivity(component="prior", component_var_names=comp).items():
                rows.append({"prior_group": group, "quantity": v, "prior_sensitivity": s,
                             "likelihood_sensitivity": like[v][0], "most_sensitive": el,
                             "n_sensitive": n_over, "elements": n})
    df = pd.DataFrame(rows)
    df["diagnosis"] = np.select(
        [(df.prior_sensitivity >= 0.05) & (df.likelihood_sensitivity >= 0.05), df.prior_sensitivity >= 0.05],
        ["prior-data conflict", "weak likelihood (prior informative)"], "-")
    return df
