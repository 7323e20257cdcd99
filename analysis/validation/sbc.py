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
sampling); :func:`replication` is one replication, a pure task of :mod:`analysis.sweeps`; :func:`run_sbc` runs
them as a sweep (serially, or on a Dask cluster), checkpointed and with a progress bar.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

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


def simulate_data(d: ModelData, prior: dict[str, np.ndarray], rng: np.random.Generator,
                  cfg: dict | None = None) -> dict:
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
        # with period noise (cfg) the observed period's logit is theta plus its shock, as the model says
        y[ok, k] = rec.fam.simulate(rng, d.n[ok, k], theta[ok, k], prior.get(disp) if disp else None,
                                    period_var=rec.fam.period_variance(rec, cfg) if cfg else 0.0)
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


@dataclass
class SBCSetup:
    """What every replication needs, shipped once to each worker: the panel and the SBC config.

    The first replication in a process prepares the data and builds and compiles the model; the rest reuse them
    (:func:`analysis.sweeps.cached`, keyed by ``key``: model id and sampler).  ``local`` holds data and a model
    already compiled in this process (serial runs); it is never sent to a worker.
    """

    panel: pd.DataFrame | None
    cfg: dict
    key: str
    local: tuple | None = field(default=None, repr=False, compare=False)

    def __getstate__(self):
        return {**self.__dict__, "local": None}

    def load(self) -> tuple[ModelData, object]:
        """(data, compiled model) in this process."""
        if self.local is not None:
            return self.local
        if self.panel is None:
            raise ValueError("SBCSetup without a panel can only run where its model was compiled (serially)")
        from analysis.sweeps import cached

        return cached(("sbc", self.key), self._build)

    def _build(self):
        from analysis.fitting import compile_model
        from models.value_model import build_model, prepare

        d = prepare(self.panel, self.cfg)
        return d, compile_model(build_model(d, self.cfg), self.cfg)


def replication(setup: SBCSetup, rep: int, prior: dict, seed: int, L: int = 99) -> dict:
    """One SBC replication (a sweep task): simulate from prior draw ``rep``, refit, rank the truth.

    Pure: data come from ``rng([seed, rep])`` and the sampler seed is ``seed + 1000 + rep``, so the result is the
    same in any process.  Returns ``{"rep", "ranks": [{parameter, element, rank}], "diag": {...}}``; only
    ``diag["seconds"]`` depends on the machine."""
    from analysis import fitting

    d, compiled = setup.load()
    sim = simulate_data(d, prior, np.random.default_rng([seed, rep]), setup.cfg)
    # a PyMC model's data are changed in place: put the panel's data back afterwards, even when sampling fails
    # (nutpie's with_data returns a copy instead)
    restore = ({name: compiled[name].get_value() for name in data_updates(d, {"y": d.y, "cost_y": d.cost_y})}
               if isinstance(compiled, pm.Model) else {})
    t0 = time.perf_counter()
    try:
        idata = fitting.sample(fitting.with_data(compiled, **data_updates(d, sim)), setup.cfg, seed=seed + 1000 + rep)
    finally:
        if restore:
            pm.set_data(restore, model=compiled)
    seconds = time.perf_counter() - t0
    rk = ranks_of({**prior, "u": sim["u"]}, _posterior_arrays(idata), d, L=L, cells=tracked_cells(d))
    steps = idata.sample_stats["n_steps"].values if "n_steps" in idata.sample_stats else np.array([np.nan])
    diag = {"rep": int(rep), "seconds": round(seconds, 2), "divergences": int(idata.sample_stats["diverging"].sum()),
            "mean_steps": float(np.nanmean(steps)), "sd0_true_min": float(np.min(prior["sd0"])),
            "nu_c_true": float(prior["nu_c"])}
    return {"rep": int(rep), "ranks": rk.to_dict("records"), "diag": diag}


#: the per-replication diagnostics, in the order of the replications table
DIAG_COLUMNS = ["rep", "seconds", "divergences", "mean_steps", "sd0_true_min", "nu_c_true"]


class SBCStore:
    """Checkpoint of finished replications: ``rep-<r>.json`` per replication (atomic), and the ``ranks.csv`` /
    ``replications.csv`` of versions that checkpointed all replications in one table (read only)."""

    def __init__(self, directory: str | Path):
        from analysis.sweeps import JsonStore

        self.directory = Path(directory)
        self.json = JsonStore(directory)
        self.legacy: dict[int, dict] = {}
        if (self.directory / "ranks.csv").exists() and (self.directory / "replications.csv").exists():
            old_r, old_d = pd.read_csv(self.directory / "ranks.csv"), pd.read_csv(self.directory / "replications.csv")
            for row in old_d.to_dict("records"):
                r = int(row["rep"])
                rk = old_r.loc[old_r.rep == r, ["parameter", "element", "rank"]]
                self.legacy[r] = {"rep": r, "ranks": rk.to_dict("records"), "diag": row}

    def load(self, task):
        return self.json.load(task) or self.legacy.get(int(task.args["rep"]))

    def save(self, task, result) -> None:
        self.json.save(task, result)

    def __str__(self) -> str:
        return str(self.directory)


def run_sbc(d: ModelData, model: pm.Model, compiled, cfg: dict, reps: int, seed: int, L: int = 99,
            progress: bool = True, echo=print, checkpoint=None, engine=None, panel: pd.DataFrame | None = None,
            key: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run ``reps`` replications as a sweep (:mod:`analysis.sweeps`); returns (ranks, per-replication diagnostics).

    Replication r always uses prior draw r (drawn here, from ``model``) and the seeds of :func:`replication`, so
    the results are the same whatever ``engine`` runs them (default: serially in this process).  Serially,
    ``compiled`` (``model`` compiled for the configured sampler, :func:`analysis.fitting.compile_model`) is used
    when given; otherwise, and always on a cluster, each process compiles the model from ``panel`` once (``key``
    names it, e.g. the model id).  With ``checkpoint`` (a directory, keyed by the caller to the model, sampler
    and seed) each finished replication is saved as it arrives, and finished ones are not run again.
    """
    from analysis.sweeps import Engine, MemoryStore, Sweep, Task

    engine = engine or Engine("serial")
    local = (d, compiled) if compiled is not None and engine.serial else None
    if local is None and panel is None:
        if engine.serial and checkpoint is not None:
            local = (d, None)  # only finished replications can be read back: running one fails
        else:
            raise ValueError("run_sbc needs the compiled model (serial) or the panel (to compile it on workers)")
    setup = SBCSetup(panel, cfg, key or "local", local)
    priors = draw_prior(model, reps, seed)
    tasks = [Task(f"rep-{r:05d}", replication, {"rep": r, "prior": p, "seed": seed, "L": L})
             for r, p in enumerate(priors)]
    store = SBCStore(checkpoint) if checkpoint is not None else MemoryStore()
    sweep = Sweep("SBC", tasks, context=setup, store=store, unit="replication",
                  note=lambda res: f"{res['diag']['divergences']} divergences")
    results = engine.run(sweep, progress=progress, echo=echo)
    ranks = pd.concat([pd.DataFrame(res["ranks"]).assign(rep=int(res["rep"])) for res in results.values()],
                      ignore_index=True)
    ranks = ranks[["rep", "parameter", "element", "rank"]].sort_values("rep", kind="stable").reset_index(drop=True)
    # fixed column order: a replication read back from its checkpoint (JSON with sorted keys) has its keys sorted
    diag = pd.DataFrame([res["diag"] for res in results.values()])
    diag = diag[[c for c in DIAG_COLUMNS if c in diag] + [c for c in diag if c not in DIAG_COLUMNS]]
    diag = diag.sort_values("rep").reset_index(drop=True)
    return ranks, diag


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
