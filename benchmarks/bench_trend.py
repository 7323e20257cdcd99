"""Time the dynamic model's fit on the real year panel over seeds: wall time, the gate's verdict.

    python benchmarks/bench_trend.py --panel results/panel --seeds 1 2 3

Prints one line per seed (wall seconds of sampling and of the state draws, R-hat, ESS, divergences, verdict) and the
machine's load average at the start and end (a shared machine's load inflates wall time; see RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--panel", required=True, help="panel directory holding panel_years.parquet")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--config", help="trend TOML overriding models/trend.toml (e.g. fewer draws)")
    ap.add_argument("--truncate", type=int, nargs="*", default=[],
                    help="also gate the first N draws of each chain (what a run with draws = N would have drawn: "
                         "numpyro's draws after warm-up do not depend on how many follow)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from analysis.fitting import convergence_gate
    from analysis.trend.fit import fit_trend
    from models.trend_model import GATE_VARS
    from analysis.trend.years import read_year_panel
    from models.trend_model import load_trend_config

    panel = read_year_panel(args.panel)
    cfg = load_trend_config(args.config)
    print(f"load average at start: {os.getloadavg()}")
    for seed in args.seeds:
        t0 = time.perf_counter()
        idata, d, gate, st = fit_trend(panel, cfg, seed=seed, echo=lambda *a: None)
        wall = time.perf_counter() - t0
        print(f"seed {seed}: total {wall:.1f} s (sampling {idata.attrs['svi_wall_seconds']} s, states "
              f"{idata.attrs['svi_states_seconds']} s), max R-hat {gate.max_rhat:.4f}, min bulk ESS "
              f"{gate.min_ess_bulk:.0f}, min tail ESS {gate.min_ess_tail:.0f}, divergences {gate.divergences}, "
              f"{'PASSED' if gate.passed else 'FAILED'}; attempts {idata.attrs['svi_attempts']}", flush=True)
        # sampler work, robust to the machine's load: leapfrog steps (gradients) per draw and ESS per gradient
        ss = idata.sample_stats
        steps = ss["n_steps"].values if "n_steps" in ss else None
        if steps is not None:
            total = float(steps.sum())
            chains = ", ".join(f"{m:.1f}" for m in steps.mean(axis=1))
            print(f"  leapfrog steps per draw: mean {steps.mean():.1f} (chains {chains}); "
                  f"tree depth mean {ss['tree_depth'].values.mean():.2f}, max {int(ss['tree_depth'].values.max())}; "
                  f"step size {float(ss['step_size'].values.mean()):.3f}; min bulk ESS per 1,000 gradients "
                  f"{1000 * gate.min_ess_bulk / total:.2f}; sampling {idata.attrs.get('svi_sampling_seconds')} s, "
                  f"compile {idata.attrs.get('svi_compile_seconds')} s; load average now {os.getloadavg()}", flush=True)
        for n in args.truncate:
            g = convergence_gate(idata.isel(draw=slice(0, n)), cfg, GATE_VARS)
            print(f"  first {n} draws: max R-hat {g.max_rhat:.4f}, min bulk ESS {g.min_ess_bulk:.0f}, min tail ESS "
                  f"{g.min_ess_tail:.0f}, divergences {g.divergences}, {'PASSED' if g.passed else 'FAILED'}",
                  flush=True)
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
