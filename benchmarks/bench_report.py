"""Benchmark ``svi report --all``: wall time for the paper and every trust's three board documents (opening slide,
full appendix, one-page handout), per-trust time, CPU time (this process and its workers), and load on the machine
while it ran.  Run on demand:

    python benchmarks/bench_report.py --out /path/to/results         # a finished results directory
    python benchmarks/bench_report.py --out results --repeat 2        # twice (the second with warm caches)

Target (issue 5): every trust's board documents in under 30 s on 2 cores.  The command runs in a subprocess (as a
user runs it), so the CPU figures include the worker processes.  Writes into ``<out>/reports/`` like the command.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from analysis.results import ResultsDir  # noqa: E402

TARGET_S = 30.0
KINDS = ("slide", "appendix", "handout")


def run_once(out: Path, paper: bool) -> dict:
    cmd = [sys.executable, "-m", "analysis.cli", "report", "--all", "--out", str(out)]
    if not paper:
        cmd.append("--no-paper")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    start = time.time()
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"svi report failed ({p.returncode}):\n{p.stderr[-2000:]}")
    # the command reports the board files it wrote ("<files> appendices <s> s"); count the trusts and check that
    # each got its three documents in this run
    m = re.search(r"(\d+) appendices ([\d.]+) s", p.stdout)
    mp = re.search(r"paper ([\d.]+) s", p.stdout)
    files, app_s = (int(m.group(1)), float(m.group(2))) if m else (0, float("nan"))
    adir = ResultsDir(out).appendices_dir
    fresh = {k: {f.name[: -len(f"_{k}.pdf")] for f in adir.glob(f"*_{k}.pdf") if f.stat().st_mtime >= start - 1}
             for k in KINDS}
    trusts = len(fresh["appendix"])
    complete = bool(trusts) and all(fresh[k] == fresh["appendix"] for k in KINDS) and files == 3 * trusts
    return {"trusts": trusts, "files": files, "complete": complete, "appendix_s": app_s,
            "per_trust_s": round(app_s / trusts, 3) if trusts else None,
            "paper_s": float(mp.group(1)) if mp else None, "command_wall_s": round(wall, 1),
            "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
            "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2),
            "cores": os.cpu_count(), "target_s": TARGET_S, "meets_target": complete and app_s < TARGET_S}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="results", help="results directory (panel/, fit/, tables/)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--no-paper", action="store_true", help="board documents only")
    a = ap.parse_args(argv)
    out = Path(a.out).resolve()
    rows = []
    for i in range(a.repeat):
        r = run_once(out, paper=not a.no_paper)
        r["run"] = i + 1
        rows.append(r)
        print(json.dumps(r), flush=True)
    cols = ["run", "trusts", "files", "appendix_s", "per_trust_s", "paper_s", "command_wall_s", "cpu_s", "load_before",
            "meets_target"]
    print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    print(f"\ntarget: every trust's slide, appendix and handout in < {TARGET_S:.0f} s on 2 cores; cpu_s / 2 is the "
          "wall time to expect on an otherwise idle 2-core machine (load_before > 0: other work shared the cores).")


if __name__ == "__main__":
    main()
