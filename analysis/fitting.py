"""Fitting, the convergence gate, and saving/loading fits with a model id.

The model id hashes the model-relevant config, the panel's content hash, the
package version and the source of ``models/value_model.py`` and
``models/indicators.py``; it is stored in
the InferenceData attributes, and loading a fit against other inputs raises
:class:`FitMismatchError`.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd

from analysis import io
from analysis.errors import FitMismatchError
from analysis.fitinfo import timing_text
from analysis.panel import panel_hash
from models import indicators, value_model
from models.config import model_relevant
from models.value_model import GATE_VARS, ModelData, build_model, parameterisation, prepare


def code_version() -> str:
    try:
        v = metadata.version("svi")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        v = "0+unknown"
    # the model is value_model.py and the indicator records whose families build its likelihood
    src = Path(value_model.__file__).read_bytes() + Path(indicators.__file__).read_bytes()
    return f"{v}+{hashlib.sha256(src).hexdigest()[:10]}"


def model_id(panel: pd.DataFrame, cfg: dict) -> str:
    payload = json.dumps({"config": model_relevant(cfg), "panel": panel_hash(panel), "code": code_version()},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def compile_model(model, cfg: dict):
    """Compile once (nutpie: numba); the result can be sampled many times with different seeds.

    PyMC's NUTS and numpyro compile inside ``pm.sample``, at every call, so for them the "compiled" model is the
    PyMC model itself (which is why SBC, refitting a model a hundred times, uses nutpie)."""
    if cfg["sampler"]["name"] == "nutpie":
        import nutpie

        return nutpie.compile_pymc_model(model)
    return model


def with_data(compiled, **updates):
    """``compiled`` (from :func:`compile_model`) with its observed ``pm.Data`` replaced: nutpie returns a copy
    without recompiling; a PyMC model is changed in place (``pm.set_data``), which the next ``pm.sample`` picks up."""
    import pymc as pm

    if isinstance(compiled, pm.Model):
        pm.set_data(updates, model=compiled)
        return compiled
    return compiled.with_data(**updates)


def jax_host_devices(chains: int) -> int:
    """Number of XLA devices jax will use, asking for enough for every chain if jax has not started yet.

    numpyro runs chains in parallel only across devices, and on a CPU jax has one device unless XLA_FLAGS says
    otherwise before jax is imported; with fewer devices than chains numpyro draws the chains one after another.
    The count is fixed for the life of the process, so it is at least 8 (a later fit may run more chains than the
    first); idle devices cost nothing.  A user's own ``--xla_force_host_platform_device_count`` is respected."""
    import os
    import sys

    if "jax" not in sys.modules:
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_force_host_platform_device_count" not in flags:
            n = max(int(chains), 8)
            os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()
    import jax

    return jax.local_device_count()


def sample(model_or_compiled, cfg: dict, seed: int | None = None, progress: bool = False) -> az.InferenceData:
    """Draw from the posterior with the configured sampler; times are stored in the attributes.

    Ctrl-C while the sampler runs ends the process at once, publishing nothing (:mod:`analysis.interrupt`)."""
    from analysis.interrupt import hard_interrupt

    s = cfg["sampler"]
    seed = s["seed"] if seed is None else seed
    name = s["name"]
    t0 = time.perf_counter()
    if name == "nutpie":
        import nutpie

        import pymc as pm

        compiled = model_or_compiled
        if isinstance(compiled, pm.Model):
            compiled = compile_model(compiled, cfg)
        t1 = time.perf_counter()
        with hard_interrupt("sampling"):
            idata = nutpie.sample(compiled, draws=s["draws"], tune=s["tune"], chains=s["chains"],
                                  cores=min(s["chains"], 2), seed=seed, target_accept=s["target_accept"],
                                  progress_bar=progress, save_warmup=False)
    else:
        import pymc as pm

        kw = {}
        if name == "numpyro":
            kw = {"nuts_sampler": "numpyro", "nuts_sampler_kwargs": {"chain_method": "parallel"}}
            devices = jax_host_devices(s["chains"])
        t1 = time.perf_counter()
        with model_or_compiled, hard_interrupt("sampling"):
            idata = pm.sample(draws=s["draws"], tune=s["tune"], chains=s["chains"], cores=min(s["chains"], 2),
                              random_seed=seed, target_accept=s["target_accept"], progressbar=progress,
                              compute_convergence_checks=False, **kw)
    t2 = time.perf_counter()
    idata.attrs["svi_compile_seconds"] = round(t1 - t0, 2)
    idata.attrs["svi_sampling_seconds"] = round(t2 - t1, 2)
    idata.attrs["svi_seed"] = int(seed)
    if name == "numpyro":
        idata.attrs["svi_parallel_chains"] = int(devices >= s["chains"])
    return idata


@dataclass
class GateResult:
    passed: bool
    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    divergences: int
    failing: list[str] = field(default_factory=list)

    def text(self) -> str:
        head = "PASSED" if self.passed else "FAILED: results are NOT publishable"
        s = (f"convergence gate {head}: max R-hat {self.max_rhat:.4f}, min bulk ESS {self.min_ess_bulk:.0f}, "
             f"min tail ESS {self.min_ess_tail:.0f}, divergences {self.divergences}")
        if self.failing:
            s += "\n  failing parameters: " + ", ".join(self.failing[:25]) + (" ..." if len(self.failing) > 25 else "")
        return s


def gate_record(gate: GateResult, idata: az.InferenceData) -> dict:
    """The gate's verdict and figures as written to ``gate.json`` beside a saved fit, with every fitting attempt
    (:func:`fit` refits once when the first attempt failed on divergences alone)."""
    return {"passed": gate.passed, "max_rhat": gate.max_rhat, "min_ess_bulk": gate.min_ess_bulk,
            "min_ess_tail": gate.min_ess_tail, "divergences": gate.divergences, "failing": gate.failing,
            "model_id": idata.attrs["svi_model_id"], "posterior_hash": idata.attrs.get("svi_posterior_hash"),
            "attempts": json.loads(idata.attrs.get("svi_attempts") or "[]")}


def convergence_gate(idata: az.InferenceData, cfg: dict, var_names=GATE_VARS) -> GateResult:
    """The gate on ``var_names`` (default: the value model's; the trend model passes its own)."""
    g = cfg["gate"]
    post = idata.posterior
    names = [v for v in var_names if v in post]
    # marginalised cells (a trust's missing indicator) are NaN in u: fill them with a constant so ArviZ does not
    # warn; constant elements are skipped below
    post = post.assign({v: post[v].fillna(0.0) for v in names})
    with warnings.catch_warnings():  # constant elements make ArviZ divide by zero; they are skipped below
        warnings.simplefilter("ignore", RuntimeWarning)
        rhat = az.rhat(post[names])  # rank-normalised split R-hat
        ess_b = az.ess(post[names], method="bulk")
        ess_t = az.ess(post[names], method="tail")
    failing, mr, mb, mt = [], 0.0, np.inf, np.inf
    for v in names:
        r, b, t = (np.asarray(a[v]) for a in (rhat, ess_b, ess_t))
        constant = np.asarray(post[v].std(("chain", "draw"))) == 0  # e.g. the unit diagonal of a correlation matrix
        r, b, t = (np.where(constant, np.nan, a) for a in (r, b, t))
        if np.all(constant):
            continue
        mr, mb, mt = max(mr, np.nanmax(r)), min(mb, np.nanmin(b)), min(mt, np.nanmin(t))
        bad = (r > g["rhat_max"]) | (b < g["ess_bulk_min"]) | (t < g["ess_tail_min"])
        if bad.any():
            dims = [dname for dname in post[v].dims if dname not in ("chain", "draw")]
            idx = np.argwhere(bad) if bad.ndim else [()]
            for ix in idx[:5]:
                labels = [str(post[v].coords[dn].values[i]) if dn in post[v].coords else str(i)
                          for dn, i in zip(dims, ix)]
                failing.append(v + (f"[{','.join(labels)}]" if labels else ""))
    stats = getattr(idata, "sample_stats", None)
    if stats is None or "diverging" not in stats:
        failing.append("divergence information missing (no sample_stats.diverging): cannot certify the fit")
        div = -1
    else:
        div = int(stats["diverging"].sum())
    passed = not failing and div <= g["max_divergences"]
    return GateResult(passed, float(mr), float(mb), float(mt), div, failing)


def posterior_hash(idata: az.InferenceData) -> str:
    """sha256 of every posterior array (names, shapes and bytes, in name order): the same seed on the same machine
    gives the same hash; another machine's floating point may not (see the README on reproducibility)."""
    h = hashlib.sha256()
    post = idata.posterior
    for name in sorted(post.data_vars):
        a = np.ascontiguousarray(post[name].values)
        h.update(f"{name}{a.shape}{a.dtype}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def stamp(idata: az.InferenceData, panel: pd.DataFrame, cfg: dict) -> az.InferenceData:
    """Record what a fit was made from: model id, config, panel hash, code version, sampler."""
    idata.attrs.update({"svi_model_id": model_id(panel, cfg), "svi_config": json.dumps(cfg, sort_keys=True, default=str),
                        "svi_panel_hash": panel_hash(panel), "svi_code_version": code_version(),
                        "svi_sampler": cfg["sampler"]["name"], "svi_posterior_hash": posterior_hash(idata)})
    return idata


def fit(panel: pd.DataFrame, cfg: dict, seed: int | None = None, progress: bool = False, echo=print,
        retry: bool = True) -> tuple[az.InferenceData, ModelData, GateResult]:
    """Build, sample and gate the model.

    With ``retry``, a fit that fails the gate on divergences alone (every R-hat and ESS within bounds) is sampled
    once more, with the same seed, at the config's ``sampler.retry_target_accept``: divergences mean the step size
    was too large for some region of the posterior, which a higher target acceptance shrinks.  A fit failing on
    R-hat or ESS is not retried (more of the same sampler would not be evidence of convergence).  Both attempts
    are recorded in the attributes (``svi_attempts``) and reported; the fit returned is the last one, and it is
    publishable only if it passed."""
    data = prepare(panel, cfg)
    param = parameterisation(data, cfg)  # once: the model's parameterisation and the record of it
    model = build_model(data, cfg, noncentred=param["noncentred"], scales_centred=param["scales_centred"])
    attempts = []
    s = cfg["sampler"]
    accept = [float(s["target_accept"])]
    if retry and float(s.get("retry_target_accept", 0)) > accept[0]:
        accept.append(float(s["retry_target_accept"]))
    for n, ta in enumerate(accept):
        run_cfg = {**cfg, "sampler": {**s, "target_accept": ta}}
        t0 = time.perf_counter()
        idata = sample(model, run_cfg, seed=seed, progress=progress)
        wall = time.perf_counter() - t0
        gate = convergence_gate(idata, cfg)
        attempts.append({"attempt": n + 1, "target_accept": ta, "passed": gate.passed, "divergences": gate.divergences,
                         "max_rhat": gate.max_rhat, "min_ess_bulk": gate.min_ess_bulk,
                         "min_ess_tail": gate.min_ess_tail, "wall_seconds": round(wall, 2),
                         "sampling_seconds": idata.attrs["svi_sampling_seconds"]})
        if gate.divergences > 0:  # where they sat, before a refit replaces these draws (analysis.diagnostics)
            from analysis.diagnostics import where
            attempts[-1]["divergences_at"] = where(idata)
        echo(f"fitted {data.N} trusts x {len(data.indicators)} indicators + {len(data.cost_outcomes)} cost outcomes "
             f"with {s['name']} in {wall:.1f} s ({timing_text(idata.attrs, s['name'], 1)}"
             f"{f', target_accept {ta:g}' if n else ''})")
        echo(gate.text())
        if "divergences_at" in attempts[-1]:
            echo("  " + attempts[-1]["divergences_at"])
        if gate.passed or not divergences_only(gate) or n + 1 == len(accept):
            break
        echo(f"the fit failed the gate on divergences alone ({gate.divergences}): refitting once at target_accept "
             f"{accept[n + 1]:g} (a smaller step size), same seed")
    stamp(idata, panel, cfg)
    table = param["table"]
    nc = table[(table.parameterisation == "non-centred") & (table.n_trusts > 0)]
    st = param["scale_table"]
    cells = [f"{r.peer_group} x {r.indicator}" + (f" (partially, weight {r.noncentring:.2f})" if r.noncentring < 1 else "")
             for r in nc.itertuples()]
    idata.attrs.update({"svi_noncentred": ";".join(cells),
                        "svi_centred_scales": ";".join(f"{r.block} {r.outcome}" for r in st.itertuples()
                                                       if r.parameterisation == "centred"),
                        "svi_wall_seconds": round(sum(a["wall_seconds"] for a in attempts), 2),
                        "svi_gate_passed": int(gate.passed), "svi_gate": gate.text(),
                        "svi_target_accept": attempts[-1]["target_accept"],
                        "svi_attempts": json.dumps(attempts)})
    return idata, data, gate


def divergences_only(gate: GateResult) -> bool:
    """The gate failed on divergent transitions and on nothing else."""
    return not gate.passed and not gate.failing and gate.divergences > 0


def save_fit(idata: az.InferenceData, path: str | Path) -> Path:
    from analysis.errors import SVIError

    path = Path(path)
    try:
        with io.atomic_path(path, suffix=".nc") as tmp:
            idata.to_netcdf(str(tmp), engine="h5netcdf")
    except OSError as exc:
        raise SVIError(f"the fit could not be saved to {path} ({exc.strerror or exc}); nothing was replaced. Free "
                       "disk space or choose another --out, and fit again.") from None
    return path


def load_fit(path: str | Path, panel: pd.DataFrame | None = None, cfg: dict | None = None) -> az.InferenceData:
    """Load a saved fit; with ``panel`` and ``cfg``, refuse one made from other inputs.

    A missing, damaged or foreign file raises :class:`SVIError` naming it and how to make it again."""
    from analysis.errors import SVIError

    path = Path(path)
    from analysis.results import FIT

    results = path.parent.parent if path.parent.name == FIT else path.parent
    if not path.exists():
        raise SVIError(f"no saved fit at {path}: {results} holds no fit yet (or it was moved). Run `svi fit --out "
                       f"{results}` (or `svi run --out {results}`) to make one.")
    if path.is_dir():
        raise SVIError(f"{path} is a directory, not a saved fit (a netCDF file written by `svi fit`).")
    try:
        idata = az.from_netcdf(str(path), engine="h5netcdf")
    except Exception as exc:  # h5py/netCDF raise OSError, ValueError, KeyError... for damaged or foreign files
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise SVIError(f"{path} cannot be read as a saved fit ({type(exc).__name__}: {first}): the file is damaged "
                       "or incomplete, e.g. cut short by a full disk or an interrupted copy. Run `svi fit --out "
                       f"{results}` again to recreate it.") from None
    if "posterior" not in idata.groups():
        raise SVIError(f"{path} holds no posterior draws, so it is not a fit written by `svi fit`; run `svi fit "
                       f"--out {results}` again.")
    if panel is not None and cfg is not None:
        want, have = model_id(panel, cfg), idata.attrs.get("svi_model_id")
        if want != have:
            why = []
            if idata.attrs.get("svi_panel_hash") != panel_hash(panel):
                why.append("the panel differs")
            if idata.attrs.get("svi_code_version") != code_version():
                why.append(f"the model code differs ({idata.attrs.get('svi_code_version')} vs {code_version()})")
            saved_cfg = json.loads(idata.attrs.get("svi_config", "{}"))
            if saved_cfg and model_relevant(saved_cfg) != model_relevant(cfg):
                why.append("the model config differs")
            raise FitMismatchError(f"saved fit {path} has model id {have}, but these inputs give {want} "
                                   f"({'; '.join(why) or 'unknown reason'}); refit with `svi fit`")
    return idata
