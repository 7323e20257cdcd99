"""Benchmark ``svi report --all``: wall time for the paper and every trust appendix, per-appendix time, CPU time
(this process and its workers), and load on the machine while it ran.  Run on demand:

    python benchmarks/bench_report.py --out /path/to/results         # a finished results directory
    python benchmarks/bench_report.py --out results --repeat 2        # twice (the second with warm caches)

Target (issue 5): all appendices in under 30 s on 2 cores.  The command runs in a subprocess (as a user runs it),
so the CPU figures include the worker processes.  Writes into ``<out>/reports/`` like the command itself.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

TARGET_S = 30.0


def run_once(out: Path, paper: bool) -> dict:
    cmd = [sys.executable, "-m", "analysis.cli", "report", "--all", "--out", str(out)]
    if not paper:
        cmd.append("--no-paper")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"svi report failed ({p.returncode}):\n{p.stderr[-2000:]}")
    m = re.search(r"(\d+) appendices ([\d.]+) s", p.stdout)
    mp = re.search(r"paper ([\d.]+) s", p.stdout)
    n, app_s = (int(m.group(1)), float(m.group(2))) if m else (0, float("nan"))
    return {"appendices": n, "appendix_s": app_s, "per_appendix_s": round(app_s / n, 3) if n else None,
            "paper_s": float(mp.group(1)) if mp else None, "command_wall_s": round(wall, 1),
            "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
            "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2),
            "cores": os.cpu_count(), "target_s": TARGET_S, "meets_target": bool(m) and app_s < TARGET_S}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results", help="results directory (panel/, fit/, tables/)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--no-paper", action="store_true", help="appendices only")
    a = ap.parse_args(argv)
    out = Path(a.out).resolve()
    rows = []
    for i in range(a.repeat):
        r = run_once(out, paper=not a.no_paper)
        r["run"] = i + 1
        rows.append(r)
        print(json.dumps(r), flush=True)
    cols = ["run", "appendices", "appendix_s", "per_appendix_s", "paper_s", "command_wall_s", "cpu_s", "load_before",
            "meets_target"]
    print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    print(f"\ntarget: all appendices in < {TARGET_S:.0f} s on 2 cores; cpu_s / 2 is the wall time to expect on an "
          "otherwise idle 2-core machine (load_before > 0 means other work shared the cores).")


if __name__ == "__main__":
    main()
