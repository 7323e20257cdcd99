"""Simulation-based calibration (Talts et al. 2018) of the value model.

Each replication draws every hyperparameter from the model's own prior (``pm.draw`` on the PyMC model, so the
priors are never restated here), draws the trust effects from the hierarchy and the data from the likelihood on
the real panel's structure (same trusts, peer groups, need covariates, denominators, expected deaths and
missingness), refits the model to the simulated data with the configured sampler (nutpie: the compiled model's
``with_data``, no recompilation; PyMC and numpyro: the model's ``pm.Data`` set in place, compiled again by
``pm.sample``), and records the rank of each true value among L thinned posterior draws.  If the sampler and the
model are right, each rank is uniform on 0..L; histograms with binomial bands and a chi-square test per parameter
show whether they are.

Pure pieces: :func:`draw_prior`, :func:`simulate_data`, :func:`ranks_of`, :func:`uniformity` (testable without
sampling); :func:`run_sbc` drives the replications with a progress bar.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pymc as pm
from scipy import stats

from models import indicators as registry
from models.value_model import ModelData

#: scalar / array hyperparameters whose prior draw is also their true value in a replication
HYPER = ("mu", "beta", "sd0", "s_scale", "sigma", "corr", "loading", "shmi_inv_dispersion",
         "mu_c", "beta_c", "sd0_c", "s_scale_c", "sigma_c", "nu_c")
#: the subset whose ranks are tested (sigma / sigma_c are functions of the tested scales; corr's diagonal is 1)
TESTED = ("mu", "beta", "sd0", "s_scale", "corr", "loading", "shmi_inv_dispersion", "mu_c", "beta_c", "sd0_c",
          "s_scale_c", "nu_c", "u")
#: how many trust-indicator effects (u) are tracked per replication (spread over indicators and peer groups)
N_TRUST_CELLS = 12


def draw_prior(model: pm.Model, n: int, seed: int) -> list[dict[str, np.ndarray]]:
    """n joint draws of the hyperparameters from the model's prior (the model's own distributions)."""
    names = [v for v in HYPER if v in model.named_vars]
    draws = pm.draw([model[v] for v in names], draws=n, random_seed=seed)
    draws = [np.asarray(a)[None] if n == 1 else np.asarray(a) for a in draws]  # pm.draw drops the axis when n = 1
    return [{v: draws[j][r] for j, v in enumerate(names)} for r in range(n)]


def simulate_data(d: ModelData, prior: dict[str, np.ndarray], rng: np.random.Generator) -> dict:
    """Trust effects and data for one prior draw, on the structure of ``d``.

    Returns ``{"theta": (N,K), "u": (N,K), "y": (N,K) nan where unobserved, "cost_y": (N,J) nan where unobserved}``.
    """
    N, K = d.y.shape
    beta = prior.get("beta", np.zeros((K, 0)))
    eta = prior["mu"][d.g] + d.x @ beta.T
    R = prior["corr"]
    L = np.linalg.cholesky(R)
    sig = prior["sigma"][d.g]  # (N, K)
    u = sig * (rng.standard_normal((N, K)) @ L.T)
    theta = eta + u
    y = np.full((N, K), np.nan)
    for k, ind in enumerate(d.indicators):
        ok = d.observed[:, k]
        rec = registry.get(ind)
        disp = rec.fam.dispersion_var(rec)
        y[ok, k] = rec.fam.simulate(rng, d.n[ok, k], theta[ok, k], prior.get(disp) if disp else None)
    beta_c = prior.get("beta_c", np.zeros((len(d.cost_outcomes), 0)))
    m_c = prior["mu_c"][d.g] + d.x @ beta_c.T
    t = rng.standard_t(prior["nu_c"], size=m_c.shape)
    cost_y = np.where(np.isnan(d.cost_y), np.nan, m_c + prior["sigma_c"][d.g] * t)
    return {"theta": theta, "u": u, "y": y, "cost_y": cost_y}


def data_updates(d: ModelData, sim: dict) -> dict[str, np.ndarray]:
    """The ``pm.Data`` values of the simulated data, named as in ``build_model``."""
    up = {}
    for k, ind in enumerate(d.indicators):
        ok = d.observed[:, k]
        if ok.any():
            up[f"y_{ind}"] = sim["y"][ok, k]
    for j, out in enumerate(d.cost_outcomes):
        ok = ~np.isnan(d.cost_y[:, j])
        up[f"y_cost_{out}"] = sim["cost_y"][ok, j]
    return up


def tracked_cells(d: ModelData, n: int = N_TRUST_CELLS) -> list[tuple[int, int]]:
    """Observed trust-indicator cells whose effect u is ranked: spread evenly over indicators and trusts."""
    rows, cols = np.nonzero(d.observed)
    idx = np.linspace(0, len(rows) - 1, min(n, len(rows))).round().astype(int)
    return [(int(rows[i]), int(cols[i])) for i in idx]


def _flat(name: str, arr: np.ndarray, d: ModelData) -> dict[str, float]:
    """Named scalars of one parameter (off-diagonal lower triangle only for a correlation matrix)."""
    arr = np.asarray(arr, float)
    if name == "corr":
        i, j = np.tril_indices(arr.shape[-1], -1)
        return {f"corr[{d.indicators[a]},{d.indicators[b]}]": float(arr[..., a, b]) for a, b in zip(i, j)}
    if arr.ndim == 0:
        return {name: float(arr)}
    out = {}
    for ix in np.ndindex(arr.shape):
        out[f"{name}[{','.join(map(str, ix))}]"] = float(arr[ix])
    return out


def ranks_of(truth: dict[str, np.ndarray], posterior: dict[str, np.ndarray], d: ModelData, L: int = 99,
             cells: list[tuple[int, int]] | None = None) -> pd.DataFrame:
    """Rank of each true scalar among L evenly thinned posterior draws (0..L).

    ``posterior[v]`` has draws on the first axis.  Ties (a constant parameter) are broken at random, as in SBC.
    """
    rng = np.random.default_rng(0)
    rows = []
    for v in TESTED:
        if v == "u":
            if cells is None or "u" not in posterior:
                continue
            tv = {f"u[{d.trusts.org_code.iloc[i]},{d.indicators[k]}]": truth["u"][i, k] for i, k in cells}
            pv = {f"u[{d.trusts.org_code.iloc[i]},{d.indicators[k]}]": posterior["u"][:, i, k] for i, k in cells}
        elif v in truth and v in posterior:
            tv = _flat(v, truth[v], d)
            draws = np.asarray(posterior[v], float)
            pv = {}
            for s in range(draws.shape[0]):
                for key, val in _flat(v, draws[s], d).items():
                    pv.setdefault(key, []).append(val)
        else:
            continue
        for key, t in tv.items():
            p = np.asarray(pv[key], float)
            p = p[np.linspace(0, len(p) - 1, L).round().astype(int)]
            below, ties = int(np.sum(p < t)), int(np.sum(p == t))
            rows.append({"parameter": v, "element": key, "rank": below + int(rng.integers(0, ties + 1))})
    return pd.DataFrame(rows)


def uniformity(ranks: pd.DataFrame, L: int = 99, bins: int = 10) -> pd.DataFrame:
    """Chi-square test of uniform ranks, per parameter (its elements pooled) and per element.

    Returns one row per parameter and per element with the chi-square statistic, degrees of freedom, p-value and the
    number of replications.  Pooling the elements of a parameter (e.g. the 24 peer means) gives the test power with
    few replications; the element rows find which element is off.
    """
    edges = np.linspace(0, L + 1, bins + 1)
    out = []
    for level, key in (("parameter", "parameter"), ("element", "element")):
        for name, grp in ranks.groupby(key, sort=False):
            counts, _ = np.histogram(grp["rank"], bins=edges)
            n = counts.sum()
            chi2, p = stats.chisquare(counts)
            out.append({"level": level, "name": name, "parameter": grp["parameter"].iloc[0], "n": int(n),
                        "chi2": float(chi2), "df": bins - 1, "p_value": float(p)})
    return pd.DataFrame(out)


def verdict(unif: pd.DataFrame, alpha: float = 0.01) -> dict:
    """Pass when no parameter's pooled ranks reject uniformity at a Bonferroni-corrected level alpha / #parameters."""
    par = unif[unif.level == "parameter"]
    thr = alpha / max(len(par), 1)
    failing = par.loc[par.p_value < thr, "name"].tolist()
    return {"passed": not failing, "threshold": thr, "alpha": alpha, "n_parameters": int(len(par)),
            "failing": failing, "min_p": float(par.p_value.min()) if len(par) else float("nan")}


def _posterior_arrays(idata) -> dict[str, np.ndarray]:
    post = idata.posterior
    return {v: post[v].values.reshape((-1,) + post[v].shape[2:]) for v in post.data_vars
            if v in TESTED or v == "u"}


def run_sbc(d: ModelData, model: pm.Model, compiled, cfg: dict, reps: int, seed: int, L: int = 99,
            progress: bool = True, echo=print, checkpoint=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run ``reps`` replications; returns (ranks, per-replication diagnostics).

    ``compiled`` is ``model`` compiled for the configured sampler (:func:`analysis.fitting.compile_model`); each
    replication swaps in simulated data with :func:`analysis.fitting.with_data` (nutpie: no recompilation; for
    PyMC and numpyro the model's data are set in place and restored at the end).
    Chains run in parallel on the available cores.  Replication r always uses prior draw r and sampler seed
    seed + 1000 + r, so a run is reproducible and can be resumed: with ``checkpoint`` (a directory, keyed by the
    caller to the model, sampler and seed) finished replications are saved after each one and reused.
    """
    from analysis import io
    from analysis.fitting import sample, with_data

    priors = draw_prior(model, reps, seed)
    cells = tracked_cells(d)
    all_ranks, diag = [], []
    if checkpoint is not None and (checkpoint / "ranks.csv").exists():
        old_r, old_d = pd.read_csv(checkpoint / "ranks.csv"), pd.read_csv(checkpoint / "replications.csv")
        done = sorted(set(old_d.rep) & set(range(reps)))
        all_ranks.append(old_r[old_r.rep.isin(done)])
        diag += old_d[old_d.rep.isin(done)].to_dict("records")
        if done:
            echo(f"SBC: reusing {len(done)} finished replications from {checkpoint}")
    done = {int(x["rep"]) for x in diag}
    bar = _progress(reps, progress)
    # a PyMC model's data are changed in place by each replication: put the panel's data back afterwards, even
    # when a replication fails (nutpie's with_data returns a copy instead)
    restore = ({name: compiled[name].get_value() for name in data_updates(d, {"y": d.y, "cost_y": d.cost_y})}
               if isinstance(compiled, pm.Model) else {})
    try:
        for r, prior in enumerate(priors):
            if r in done:
                continue
            sim = simulate_data(d, prior, np.random.default_rng([seed, r]))
            t0 = time.perf_counter()
            idata = sample(with_data(compiled, **data_updates(d, sim)), cfg, seed=seed + 1000 + r)
            post = _posterior_arrays(idata)
            truth = {**prior, "u": sim["u"]}
            rk = ranks_of(truth, post, d, L=L, cells=cells)
            rk.insert(0, "rep", r)
            all_ranks.append(rk)
            div = int(idata.sample_stats["diverging"].sum())
            steps = idata.sample_stats["n_steps"].values if "n_steps" in idata.sample_stats else np.array([np.nan])
            diag.append({"rep": r, "seconds": round(time.perf_counter() - t0, 2), "divergences": div,
                         "mean_steps": float(np.nanmean(steps)), "sd0_true_min": float(np.min(prior["sd0"])),
                         "nu_c_true": float(prior["nu_c"])})
            if checkpoint is not None:
                io.write_table(pd.concat(all_ranks, ignore_index=True), checkpoint / "ranks", formats=("csv",))
                io.write_table(pd.DataFrame(diag), checkpoint / "replications", formats=("csv",))
            bar(len(diag), f"rep {r + 1}/{reps}: {div} divergences")
    finally:
        if restore:
            pm.set_data(restore, model=compiled)
    ranks = pd.concat(all_ranks, ignore_index=True).sort_values(["rep"], kind="stable").reset_index(drop=True)
    return ranks, pd.DataFrame(diag).sort_values("rep").reset_index(drop=True)


def _progress(total: int, enabled: bool):
    """A tqdm progress bar (stderr) when enabled; returns update(done, note)."""
    if not enabled:
        return lambda done, note="": None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="SBC", unit="rep")

    def update(done, note=""):
        bar.n = done
        bar.set_postfix_str(note)
        bar.refresh()
        if done >= total:
            bar.close()

    return update


def plot_ranks(ranks: pd.DataFrame, unif: pd.DataFrame, path, L: int = 99, bins: int = 10) -> None:
    """Rank histogram per parameter (elements pooled) with the 99% band of a uniform histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    par = unif[unif.level == "parameter"].reset_index(drop=True)
    n = len(par)
    ncol = 4
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.6 * ncol, 2.0 * nrow), squeeze=False)
    edges = np.linspace(0, L + 1, bins + 1)
    for ax, (_, row) in zip(axes.flat, par.iterrows()):
        r = ranks.loc[ranks.parameter == row["name"], "rank"]
        m = len(r)
        lo, hi = stats.binom.ppf([0.005, 0.995], m, 1 / bins)
        ax.axhspan(lo, hi, color="0.85", lw=0)
        ax.axhline(m / bins, color="0.5", lw=0.8)
        ax.hist(r, bins=edges, color="#1f5f8b", edgecolor="white")
        ax.set_title(f"{row['name']}  (p = {row.p_value:.2f})", fontsize=8)
        ax.set_xticks([])
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle("SBC rank histograms (grey: 99% band under uniformity)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
