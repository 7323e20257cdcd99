"""Cost of one log density + gradient evaluation of the dynamic model, as numpyro computes it (JAX's autodiff of
the jaxified log density), on the real year panel: robust to a shared machine's load where wall time is not.

    python benchmarks/bench_trend_grad.py --panel results/panel [--reference OLD_trend_model.py] [--repeats 15]

``--reference`` times another version of models/trend_model.py too (e.g. ``git show REV:models/trend_model.py >
/tmp/old.py``), interleaved with this one so that both see the same load, and checks that both give the same log
density and gradient.  Prints the best and median milliseconds per evaluation over the repeats.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
import warnings


def _load(path: str):
    spec = importlib.util.spec_from_file_location("trend_model_reference", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--panel", required=True, help="panel directory holding panel_years.parquet")
    ap.add_argument("--reference", help="another models/trend_model.py to time and compare against")
    ap.add_argument("--config", help="trend TOML overriding models/trend.toml")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--calls", type=int, default=200, help="evaluations per repeat")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    from pymc.sampling.jax import get_jaxified_logp

    from analysis.trend.years import read_year_panel
    from models import trend_model

    panel = read_year_panel(args.panel)
    cfg = trend_model.load_trend_config(args.config)
    mods = {"this": trend_model}
    if args.reference:
        mods["reference"] = _load(args.reference)
    fns, pts = {}, None
    for name, mod in mods.items():
        model = mod.build_model(mod.prepare(panel, cfg), cfg)
        if pts is None:
            rng = np.random.default_rng(0)
            ip = model.initial_point()
            names = [v.name for v in model.value_vars]
            pts = [[ip[n] + 0.1 * rng.standard_normal(np.shape(ip[n])) for n in names] for _ in range(3)]
        fns[name] = jax.jit(jax.value_and_grad(get_jaxified_logp(model, negative_logp=False)))
        jax.block_until_ready(fns[name](pts[0]))
    if "reference" in fns:
        for p in pts:
            (v0, g0), (v1, g1) = fns["this"](p), fns["reference"](p)
            g0, g1 = np.concatenate([np.ravel(x) for x in g0]), np.concatenate([np.ravel(x) for x in g1])
            print(f"potential (-log density) {float(v0):.10g} vs reference {float(v1):.10g}; max gradient difference relative "
                  f"to the largest component {np.abs(g0 - g1).max() / np.abs(g1).max():.2e}")
    times = {n: [] for n in fns}
    print(f"load average at start: {os.getloadavg()}")
    for _ in range(args.repeats):
        for name, f in fns.items():
            t0 = time.perf_counter()
            for i in range(args.calls):
                out = f(pts[i % 3])
            jax.block_until_ready(out)
            times[name].append((time.perf_counter() - t0) / args.calls * 1e3)
    for name, t in times.items():
        print(f"{name}: {min(t):.3f} ms per log density + gradient (best of {args.repeats} x {args.calls}), "
              f"median {np.median(t):.3f} ms")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
