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
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from analysis.trend.fit import fit_trend
    from analysis.trend.years import read_year_panel
    from models.trend_model import load_trend_config

    panel = read_year_panel(args.panel)
    cfg = load_trend_config()
    print(f"load average at start: {os.getloadavg()}")
    for seed in args.seeds:
        t0 = time.perf_counter()
        idata, d, gate, st = fit_trend(panel, cfg, seed=seed, echo=lambda *a: None)
        wall = time.perf_counter() - t0
        print(f"seed {seed}: total {wall:.1f} s (sampling {idata.attrs['svi_wall_seconds']} s, states "
              f"{idata.attrs['svi_states_seconds']} s), max R-hat {gate.max_rhat:.4f}, min bulk ESS "
              f"{gate.min_ess_bulk:.0f}, min tail ESS {gate.min_ess_tail:.0f}, divergences {gate.divergences}, "
              f"{'PASSED' if gate.passed else 'FAILED'}; attempts {idata.attrs['svi_attempts']}", flush=True)
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
