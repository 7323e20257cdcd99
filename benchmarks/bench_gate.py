"""Gate benchmark: does the default fit pass the convergence gate whatever the seed?  Run on demand:

    python benchmarks/bench_gate.py --data-dir ../shared/data                 # real and synthetic, seeds 1-20
    python benchmarks/bench_gate.py --panels synthetic --seeds 1 2 3          # a few seeds of one panel
    python benchmarks/bench_gate.py --data-dir ../shared/data --record gate.jsonl   # resumable record
    python benchmarks/bench_gate.py --panels real --config candidate.toml --record cand.jsonl  # a candidate default

Each fit runs in its own process with the default config (sampler, priors, parameterisation), exactly as
``svi fit`` samples it, so compilation is never cached between seeds.  Per seed it prints the *first attempt's*
gate verdict, divergences, min bulk and tail ESS, max R-hat and sampling time, then what ``svi fit`` would publish
after its one refit at a higher target acceptance (only a fit failing on divergences alone is refitted), and,
when there were divergences, the peer group x outcome cell they sit in (:mod:`analysis.diagnostics`).

A board's result must not hinge on the seed: the target is every seed passing at the first attempt, on both
panels, with sampling time no worse than before the change (figures in ``benchmarks/RESULTS.md``).  With
``--record FILE`` every finished seed is appended to FILE as one JSON line and seeds already there are skipped, so
an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
args = json.loads(sys.argv[1])
res = {"panel": args["panel"], "seed": args["seed"]}
try:
    from analysis.fitinfo import attempts
    from analysis.fitting import fit
    from analysis.panel import read_panel
    from models.config import load_config
    panel = read_panel(args["panel_dir"])
    cfg = load_config(args.get("config"), overrides={"sampler": {"seed": args["seed"]}})
    t = time.perf_counter()
    idata, data, gate = fit(panel, cfg, echo=lambda *a: None, retry=True)
    att = attempts(idata.attrs)
    first = att[0]
    res.update(first_passed=first["passed"], divergences=first["divergences"], min_ess_bulk=round(first["min_ess_bulk"]),
               min_ess_tail=round(first["min_ess_tail"]), max_rhat=round(first["max_rhat"], 4),
               sampling_s=first["sampling_seconds"], wall_s=round(time.perf_counter() - t, 1),
               attempts=len(att), final_passed=gate.passed, final_divergences=gate.divergences,
               final_target_accept=att[-1]["target_accept"])
    if first.get("divergences_at"):
        res["where"] = first["divergences_at"]
except Exception as exc:  # report, do not crash the benchmark
    res["error"] = f"{type(exc).__name__}: {exc}"[:300]
res["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print("RESULT " + json.dumps(res))
"""

COLUMNS = ["panel", "seed", "first_passed", "divergences", "min_ess_bulk", "min_ess_tail", "max_rhat", "sampling_s",
           "wall_s", "attempts", "final_passed", "peak_rss_mb"]


def build_panels(panels: list[str], data_dir: str | None, tmp: Path) -> dict[str, Path]:
    """Build each panel once (the synthetic default, and the real one from ``data_dir``) into ``tmp``."""
    from analysis.panel import build_and_write

    out = {}
    for name in panels:
        if name == "real" and not data_dir:
            raise SystemExit("the real panel needs --data-dir (e.g. ../shared/data)")
        out[name] = tmp / name
        build_and_write(data_dir=data_dir if name == "real" else None, out=out[name])
    return out


def run_seed(panel: str, panel_dir: Path, seed: int, timeout: float, config: Path | None = None) -> dict:
    t = time.perf_counter()
    payload = json.dumps({"panel": panel, "panel_dir": str(panel_dir), "seed": seed,
                          "config": str(config) if config else None})
    try:
        p = subprocess.run([sys.executable, "-c", CHILD, payload], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"panel": panel, "seed": seed, "error": f"did not finish within {timeout:.0f} s (stopped)"}
    line = [l for l in p.stdout.splitlines() if l.startswith("RESULT ")]
    r = json.loads(line[-1][7:]) if line else {"panel": panel, "seed": seed,
                                                "error": " ".join(p.stderr.strip().splitlines()[-1:])}
    r["process_s"] = round(time.perf_counter() - t, 1)
    return r


def summarise(rows: list[dict]) -> str:
    """Per panel: seeds passing at the first attempt and after the refit, and sampling time median [range]."""
    import numpy as np

    out = ["| panel | seeds | passed, first attempt | passed, after refit | divergences, total | "
           "min bulk ESS [range] | min tail ESS [range] | sampling s, median [range] |",
           "|---|---|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["panel"] for r in rows):
        rs = [r for r in rows if r["panel"] == name]
        ok = [r for r in rs if "error" not in r]
        if not ok:
            out.append(f"| {name} | {len(rs)} | 0 | 0 | - | - | - | failed |")
            continue
        v = lambda key: np.array([r[key] for r in ok], float)
        rng = lambda key, d=0: f"{v(key).min():.{d}f}-{v(key).max():.{d}f}"
        out.append(f"| {name} | {len(rs)} | {sum(bool(r['first_passed']) for r in ok)} | "
                   f"{sum(bool(r['final_passed']) for r in ok)} | {int(v('divergences').sum())} | {rng('min_ess_bulk')} | "
                   f"{rng('min_ess_tail')} | {np.median(v('sampling_s')):.1f} [{rng('sampling_s', 1)}] |")
    return "\n".join(out)


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(c, r.get("error", "") if c == "first_passed" else ""))
                                       for c in COLUMNS) + " |")
    return "\n".join(lines)


def main(argv=None):
    # SIGTERM (kill, pkill) as an exception: subprocess.run then kills the seed's fit on its way out, which
    # otherwise outlives the benchmark and keeps sampling
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None, help="real data directory (needed for the real panel)")
    ap.add_argument("--panels", nargs="+", default=["real", "synthetic"], choices=["real", "synthetic"])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(1, 21)), help="sampler seeds (default 1-20)")
    ap.add_argument("--record", type=Path, default=None, help="append each seed's result here; skip seeds in it")
    ap.add_argument("--timeout", type=float, default=1200, help="stop one fit after this many seconds")
    ap.add_argument("--config", type=Path, default=None,
                    help="TOML overriding models/default.toml (e.g. a candidate default); use its own --record")
    a = ap.parse_args(argv)
    done = []
    if a.record and a.record.exists():
        done = [json.loads(l) for l in a.record.read_text().splitlines() if l.strip()]
    have = {(r["panel"], r["seed"]) for r in done if "error" not in r}
    rows = [r for r in done if r["panel"] in a.panels and r["seed"] in a.seeds and "error" not in r]
    with tempfile.TemporaryDirectory(prefix="svi-gate-") as tmp:
        # seed by seed across the panels, so that a run stopped early still covers every panel
        todo = [(p, s) for s in a.seeds for p in a.panels if (p, s) not in have]
        dirs = build_panels(sorted({p for p, _ in todo}), a.data_dir, Path(tmp)) if todo else {}
        for panel, seed in todo:
            r = run_seed(panel, dirs[panel], seed, a.timeout, a.config)
            if a.config:
                r["config"] = str(a.config)
            rows.append(r)
            print(json.dumps(r), flush=True)
            if a.record:
                with a.record.open("a") as f:
                    f.write(json.dumps(r) + "\n")
    rows.sort(key=lambda r: (a.panels.index(r["panel"]), r["seed"]))
    print("\n" + table(rows) + "\n\n" + summarise(rows))
    where = [f"{r['panel']} seed {r['seed']}: {r['where']}" for r in rows if r.get("where")]
    if where:
        print("\nwhere the divergences sat:\n" + "\n".join(where))


if __name__ == "__main__":
    main()
