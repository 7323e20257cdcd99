"""Benchmark the value-model fit for each sampler: wall time, compile and sampling time, min bulk ESS,
ESS per second of sampling, divergences, peak memory.  Run on demand:

    python benchmarks/bench_fit.py --data-dir ../shared/data            # real panel, every sampler
    python benchmarks/bench_fit.py --samplers nutpie                    # synthetic default, one sampler
    python benchmarks/bench_fit.py --data-dir ../shared/data --samplers nutpie --tune 1000 --draws 1000
    python benchmarks/bench_fit.py --data-dir ../shared/data --samplers nutpie numpyro --seeds 1 2 3

With several ``--seeds`` every sampler runs once per seed, and a summary gives each sampler's median wall and
sampling time, its range, and how many seeds passed the gate: one seed is not enough to choose a default.

A sampler that has not finished within ``--timeout`` seconds is stopped and reported as such (PyMC's own NUTS
needs far longer than nutpie on this model); a sampler whose package is not installed (numpyro needs jax) is
reported with the import error.

Each sampler runs in its own subprocess so that peak memory (max RSS) is its own.  Target (issue 3): a
converged real-panel fit in under 60 s of sampling on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CHILD = r"""
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
from analysis.panel import build
from analysis.fitting import fit
from models.config import load_config
args = json.loads(sys.argv[1])
res = {"sampler": args["sampler"], "seed": args.get("seed")}
try:
    panel = build(args["data_dir"]).panel
    over = {"name": args["sampler"], **{k: args[k] for k in ("tune", "draws", "seed") if args.get(k)}}
    cfg = load_config(overrides={"sampler": over})
    t = time.perf_counter()
    idata, data, gate = fit(panel, cfg, echo=lambda *a: None)
    res.update(wall_s=round(time.perf_counter() - t, 1), compile_s=idata.attrs["svi_compile_seconds"],
               sampling_s=idata.attrs["svi_sampling_seconds"], min_ess_bulk=round(gate.min_ess_bulk),
               max_rhat=round(gate.max_rhat, 4), divergences=gate.divergences, gate_passed=gate.passed)
    res["ess_per_s"] = round(gate.min_ess_bulk / max(res["sampling_s"], 1e-9), 1)
except Exception as exc:  # report, do not crash the benchmark
    res["error"] = f"{type(exc).__name__}: {exc}"[:300]
res["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print("RESULT " + json.dumps(res))
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None, help="real data directory (default: synthetic panel)")
    ap.add_argument("--samplers", nargs="+", default=["nutpie", "pymc", "numpyro"])
    ap.add_argument("--tune", type=int, default=None, help="tuning draws per chain (default: the config's)")
    ap.add_argument("--draws", type=int, default=None, help="posterior draws per chain (default: the config's)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[None], help="sampler seeds (default: the config's)")
    ap.add_argument("--timeout", type=float, default=1800, help="stop a sampler after this many seconds")
    a = ap.parse_args(argv)
    rows = []
    for seed, s in ((seed, s) for seed in a.seeds for s in a.samplers):
        t = time.perf_counter()
        payload = json.dumps({"sampler": s, "data_dir": a.data_dir, "tune": a.tune, "draws": a.draws, "seed": seed})
        try:
            p = subprocess.run([sys.executable, "-c", CHILD, payload], capture_output=True, text=True,
                               timeout=a.timeout)
        except subprocess.TimeoutExpired:
            r = {"sampler": s, "seed": seed, "error": f"did not finish within {a.timeout:.0f} s (stopped)"}
        else:
            line = [l for l in p.stdout.splitlines() if l.startswith("RESULT ")]
            r = json.loads(line[-1][7:]) if line else {"sampler": s, "seed": seed,
                                                                "error": p.stderr.strip().splitlines()[-1:]}
        r.setdefault("process_s", round(time.perf_counter() - t, 1))
        rows.append(r)
        print(json.dumps(r), flush=True)
    cols = ["sampler", "seed", "wall_s", "compile_s", "sampling_s", "min_ess_bulk", "ess_per_s", "max_rhat", "divergences",
            "gate_passed", "peak_rss_mb"]
    print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, r.get("error", ""))) if c != "sampler" else r["sampler"] for c in cols) + " |")
    if len(a.seeds) > 1:
        print("\n" + summarise(rows))
    print(f"\npanel: {'real, ' + a.data_dir if a.data_dir else 'synthetic default'}; tune/draws: "
          f"{a.tune or 'config'}/{a.draws or 'config'}; target: < 60 s sampling, gate passed")


def summarise(rows: list[dict]) -> str:
    """Per sampler over seeds: median and range of wall and sampling time, median ESS/s, gate passes."""
    import numpy as np

    out = ["| sampler | runs | gate passed | wall s, median [range] | sampling s, median [range] | ESS/s, median |",
           "|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["sampler"] for r in rows):
        ok = [r for r in rows if r["sampler"] == name and "error" not in r]
        n = sum(r["sampler"] == name for r in rows)
        if not ok:
            out.append(f"| {name} | {n} | 0 | failed | failed | - |")
            continue

        def med(key):
            v = np.array([r[key] for r in ok], float)
            return f"{np.median(v):.1f} [{v.min():.1f}-{v.max():.1f}]"

        passed = sum(bool(r["gate_passed"]) for r in ok)
        out.append(f"| {name} | {n} | {passed} | {med('wall_s')} | {med('sampling_s')} | "
                   f"{np.median([r['ess_per_s'] for r in ok]):.1f} |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
