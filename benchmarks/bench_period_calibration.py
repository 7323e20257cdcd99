"""Calibration of the period-noise option on a synthetic panel with a known long-run truth (issue 19, item 6).

    python benchmarks/bench_period_calibration.py                      # SDs of models/period_noise.toml
    python benchmarks/bench_period_calibration.py --sd 0.1 --seed 7    # the issue's SD 0.1 for every indicator
    python benchmarks/bench_period_calibration.py --modes estimated    # one fit only
    python benchmarks/bench_period_calibration.py --trusts 60          # the first 60 trusts (the slow test's panel)

The synthetic panel (analysis/synthetic.py, ``generate(seed, period_sd=...)``) gives each trust a long-run logit
theta per indicator; RTT, A&E and FFT are observed in one month whose logit is theta plus a shock of the given SD.
The model is fitted with ``quality.period_noise`` "off" (today's default) and "estimated" (the shock's SD, M = 1),
with the default sampler, and for each indicator the script reports (analysis/recovery.py, period_calibration):
90% interval coverage of the long-run theta, the median interval width, the share of trusts flagged (95% interval
of the trust effect, whose sign is Health Alpha's, excluding 0), flags on the true side of 0 and on the wrong side,
and the gate.  Each fit runs in its own subprocess; one JSON line per mode is printed and appended to ``--out``.
SHMI (a 12-month figure, no shock) is reported for reference.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
from analysis.fitting import fit
from analysis.recovery import period_calibration
from analysis.synthetic import generate
from models.config import load_config
a = json.loads(sys.argv[1])
panel, truth, trusts, _ = generate(a["seed"], period_sd=a["sd"])
if a["trusts"]:  # a smaller panel: the first trusts by code (the slow test's)
    panel = panel.sort_values("org_code").iloc[:a["trusts"]].reset_index(drop=True)
q = {"period_noise": a["mode"]}
if a["mode"] != "off":
    q["period_noise_sd"] = a["sd"]
cfg = load_config(overrides={"quality": q, "sampler": {"seed": a["sampler_seed"]}})
t = time.perf_counter()
idata, data, gate = fit(panel, cfg, echo=lambda *x: None)
tab = period_calibration(idata, data, trusts)
print("RESULT " + json.dumps({"mode": a["mode"], "panel_seed": a["seed"], "trusts": len(panel), "sampler_seed": a["sampler_seed"],
                              "sd": a["sd"], "wall_s": round(time.perf_counter() - t, 1), "gate_passed": gate.passed,
                              "divergences": gate.divergences, "max_rhat": round(gate.max_rhat, 4),
                              "min_ess_bulk": round(gate.min_ess_bulk), "table": tab.round(4).to_dict("records")}))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=20260401, help="synthetic panel seed")
    ap.add_argument("--sampler-seed", type=int, default=20260401)
    ap.add_argument("--sd", type=float, default=None, help="one period-noise SD for RTT, A&E and FFT (default: "
                    "models/period_noise.toml's estimates)")
    ap.add_argument("--trusts", type=int, default=0, help="fit only the first N trusts by code (0: all)")
    ap.add_argument("--modes", nargs="+", default=["off", "estimated"], choices=["off", "estimated"])
    ap.add_argument("--out", type=Path, default=None, help="append the JSON lines here")
    a = ap.parse_args(argv)
    est = tomllib.loads((REPO / "models" / "period_noise.toml").read_text())["sd"]
    sd = {k: (a.sd if a.sd is not None else float(v)) for k, v in est.items()}
    for mode in a.modes:
        arg = json.dumps({"mode": mode, "seed": a.seed, "sampler_seed": a.sampler_seed, "sd": sd, "trusts": a.trusts})
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", CHILD, arg], cwd=REPO, capture_output=True, text=True)
        line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            print(f"{mode}: failed after {time.perf_counter() - t:.0f} s:\n{p.stderr[-2000:]}", file=sys.stderr)
            return 1
        res = json.loads(line[7:])
        print(json.dumps(res), flush=True)
        if a.out is not None:
            with a.out.open("a") as f:
                f.write(json.dumps(res) + "\n")
        print(f"period_noise={mode}: gate {'passed' if res['gate_passed'] else 'FAILED'} "
              f"({res['divergences']} divergences, max R-hat {res['max_rhat']}, min bulk ESS {res['min_ess_bulk']}), "
              f"{res['wall_s']:.0f} s")
        for r in res["table"]:
            print(f"  {r['indicator']:5s} coverage {r['coverage']:.0%} (width {r['width']:.3f})  flagged "
                  f"{r['flagged']:.0%} = right side {r['flagged_right']:.0%} + wrong side {r['flagged_wrong']:.0%};"
                  f"  |true u| beyond half-width {r['truly_beyond']:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
