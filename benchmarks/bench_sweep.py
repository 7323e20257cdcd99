"""SBC throughput on Dask (issue 18): replications per minute with 1 and 2 local workers, and the scheduler's
overhead per task, for the estimate in benchmarks/RESULTS.md ("Validation sweeps on Dask").

    python benchmarks/bench_sweep.py --reps 6 --workers 1 2 --record /tmp/sweep.jsonl

Each setting runs on a fresh LocalCluster (one thread per worker).  Every worker first compiles the model (timed
separately: a worker pays it once per sweep), then the replications run on the synthetic panel with the SBC sampler
of ``svi validate`` (analysis/validation/runner.py SBC_SAMPLER).  The scheduler overhead is the wall time per task
of a sweep of no-op tasks.  The workers' CPU seconds per replication are recorded too: unlike wall time they
hardly depend on what else runs on the machine.  The machine's load average is recorded with every figure: a shared machine slows
everything.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def noop(context, i: int) -> int:
    return i


def _cpu() -> float:
    """CPU seconds of this process (a worker's, with client.run), all threads."""
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system


def _warm(setup) -> float:
    t = time.perf_counter()
    setup.load()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=6)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--noop-tasks", type=int, default=400)
    ap.add_argument("--seed", type=int, default=20260401)
    ap.add_argument("--record", type=Path, default=None)
    args = ap.parse_args()

    from analysis.fitting import model_id
    from analysis.sweeps import Engine, Sweep, Task
    from analysis.synthetic import generate
    from analysis.validation import sbc
    from analysis.validation.runner import SBC_SAMPLER
    from models.config import load_config, merge
    from models.value_model import build_model, prepare

    panel, *_ = generate(args.seed)
    cfg = merge(load_config(), {"sampler": {**SBC_SAMPLER, "seed": args.seed}})
    data = prepare(panel, cfg)
    model = build_model(data, cfg)
    key = model_id(panel, cfg)
    rows = []
    for n in args.workers:
        with Engine.open("local", workers=n, dashboard=False, echo=lambda *_: None) as eng:
            setup = sbc.SBCSetup(panel, cfg, key)
            workers = list(eng.client.scheduler_info(n_workers=-1)["workers"])
            load0 = os.getloadavg()[0]
            t0 = time.perf_counter()
            futs = [eng.client.submit(_warm, setup, workers=[w], pure=False, allow_other_workers=False)
                    for w in workers]
            compile_s = [f.result() for f in futs]
            t_compile = time.perf_counter() - t0
            cpu0 = eng.client.run(_cpu)
            t1 = time.perf_counter()
            ranks, diag = sbc.run_sbc(data, model, None, cfg, reps=args.reps, seed=args.seed, progress=False,
                                      echo=lambda *_: None, engine=eng, panel=panel, key=key)
            wall = time.perf_counter() - t1
            cpu1 = eng.client.run(_cpu)
            cpu = sum(cpu1[w] - cpu0[w] for w in cpu1)
            t2 = time.perf_counter()
            eng.run(Sweep("noop", [Task(f"n{i}", noop, {"i": i}) for i in range(args.noop_tasks)]), progress=False)
            overhead = (time.perf_counter() - t2) / args.noop_tasks
            row = {"workers": n, "reps": args.reps, "compile_wall_s": round(t_compile, 1),
                   "compile_s_per_worker": [round(c, 1) for c in compile_s], "sweep_wall_s": round(wall, 1),
                   "reps_per_min": round(60 * args.reps / wall, 2),
                   "cpu_s_per_rep": round(cpu / args.reps, 1), "task_s_median": float(diag.seconds.median()), "task_s_mean": round(float(diag.seconds.mean()), 2),
                   "overhead_ms_per_task": round(1000 * overhead, 2), "loadavg_start": round(load0, 1),
                   "loadavg_end": round(os.getloadavg()[0], 1), "cores": len(os.sched_getaffinity(0))}
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.record:
            with open(args.record, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
