"""Null distribution of the gate's max R-hat: chains that mix perfectly at each parameter's measured ESS.
For each gated parameter of a real fit, simulate 4 stationary AR(1) chains whose ESS matches the measured bulk
ESS, compute rank-normalised split R-hat (ArviZ), take the max over parameters; repeat.
Usage: python benchmarks/bench_rhat_null.py FIT.nc 1000,2000 200   (a saved fit; draws per chain; replications)
Figures: benchmarks/RESULTS.md (issue 12)."""
import sys
from pathlib import Path

import arviz as az
import numpy as np
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from models.value_model import GATE_VARS
idata = az.from_netcdf(sys.argv[1])
draws_list = [int(x) for x in sys.argv[2].split(",")]
reps = int(sys.argv[3])
post = idata.posterior
names = [v for v in GATE_VARS if v in post]
post = post.assign({v: post[v].fillna(0.0) for v in names})
ess = az.ess(post[names], method="bulk")
vals = []
for v in names:
    e = np.asarray(ess[v]).ravel()
    sd = np.asarray(post[v].std(("chain", "draw"))).ravel()
    vals.append(e[(sd > 0) & np.isfinite(e)])
e = np.concatenate(vals)
n0 = post.sizes["draw"] * post.sizes["chain"]
print("params", e.size, "ESS quantiles", np.percentile(e, [0, 5, 50]).round(0))
rng = np.random.default_rng(1)
for draws in draws_list:
    # ESS scales with draws; AR(1) rho so that N(1-rho)/(1+rho) = ESS; antithetic (ESS > N) -> negative rho
    ratio = np.clip(e / n0, 0.05, 3.0)
    rho = (1 - ratio) / (1 + ratio)
    mx = []
    for r in range(reps):
        x = np.empty((e.size, 4, draws))
        x[..., 0] = rng.standard_normal((e.size, 4))
        eps = rng.standard_normal((e.size, 4, draws)) * np.sqrt(1 - rho**2)[:, None, None]
        for t in range(1, draws):
            x[..., t] = rho[:, None] * x[..., t - 1] + eps[..., t]
        ds = xr.Dataset({"p": (("param", "chain", "draw"), x)}).transpose("chain", "draw", "param")
        rh = np.asarray(az.rhat(ds)["p"])
        mx.append(rh.max())
    mx = np.array(mx)
    print(f"draws {draws}: max R-hat median {np.median(mx):.4f}, 90% {np.percentile(mx,90):.4f}, "
          f"P(max > 1.01) = {(mx > 1.01).mean():.3f} over {reps} reps")
