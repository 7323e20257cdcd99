"""Check that two versions of the code compute the same result tables from one saved fit (a refactoring check).

    python benchmarks/tables_identical.py --results /tmp/base-run --base main            # main against this tree
    python benchmarks/tables_identical.py --results /tmp/base-run --base 83684bd --head arch --report 3

``--results`` is a finished results directory (``svi run --out``) made with the model code both versions share
(the saved fit's model id includes a hash of models/value_model.py, so ``svi summarise`` refuses a fit of other
model code).  For each version the script copies the results' ``panel/`` and ``fit/`` into a scratch directory,
runs ``svi summarise`` there with that version's code (a ``git archive`` of the commit, or this working tree for
``--head .``), and compares every file in the two ``tables/`` byte for byte.  A table the head adds is listed as
an addition; a table that differs or that the head lost is a failure (exit status 1).

With ``--report N`` it also renders the paper and the board documents of the first N trusts with each version
and compares their text (``pdftotext``; the PDFs themselves carry creation dates).  With ``--claims`` it re-tests
the claims from the saved fit alone (the other variants not fitted) with each version and compares every file of
``claims/`` (the manifest without its creation time).  With ``--figures N`` it draws the paper's figures and the
first N trusts' appendix figures with each version and compares the SVG files byte for byte.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def checkout(ref: str, scratch: Path) -> Path:
    """The code of ``ref``: this working tree for ".", else a ``git archive`` of the commit."""
    if ref == ".":
        return REPO
    dest = scratch / f"code-{ref.replace('/', '_')}"
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def svi(code: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(code), "SVI_REPORT_ENGINE": "inprocess"}
    p = subprocess.run([sys.executable, "-m", "analysis.cli", *args], cwd=code, env=env, capture_output=True,
                       text=True)
    if p.returncode != 0:
        raise SystemExit(f"svi {' '.join(args)} failed with the code in {code}:\n{p.stderr[-3000:]}")
    return p


def summarise(code: Path, results: Path, dest: Path, seed: str | None) -> Path:
    """``svi summarise`` on a copy of ``results``' panel and fit; returns the copy."""
    for part in ("panel", "fit"):
        shutil.copytree(results / part, dest / part)
    svi(code, "summarise", "--out", str(dest), *(["--seed", seed] if seed else []))
    return dest


def compare_tables(base: Path, head: Path) -> tuple[list[str], list[str], list[str]]:
    """(identical, differing or lost, added) file names of the two tables/ directories."""
    b = {p.name for p in (base / "tables").iterdir() if p.is_file()}
    h = {p.name for p in (head / "tables").iterdir() if p.is_file()}
    b.discard(".svi-output.json")  # the ownership marker lists the files, so it differs whenever a table is added
    h.discard(".svi-output.json")
    same, bad = [], []
    for name in sorted(b):
        if name in h and filecmp.cmp(base / "tables" / name, head / "tables" / name, shallow=False):
            same.append(name)
        else:
            bad.append(name + ("" if name in h else " (missing in head)"))
    return same, bad, sorted(h - b)


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def compare_reports(code_b: Path, base: Path, code_h: Path, head: Path, n: int) -> list[str]:
    vi = __import__("pandas").read_parquet(base / "tables" / "value_index.parquet")
    codes = sorted(vi.org_code[vi.measure == "value_index"].unique())[:n]
    args = ["report", *sum((["--trust", c] for c in codes), [])]
    svi(code_b, *args, "--out", str(base))
    svi(code_h, *args, "--out", str(head))
    pdfs = sorted(p.relative_to(base) for p in (base / "reports").rglob("*.pdf"))
    bad = []
    for rel in pdfs:
        if not (head / rel).exists() or pdf_text(base / rel) != pdf_text(head / rel):
            bad.append(str(rel))
    shown = ", ".join(codes[:5]) + (f" and {len(codes) - 5} more trusts" if len(codes) > 5 else "")
    print(f"reports: {len(pdfs) - len(bad)} of {len(pdfs)} PDFs have the same text (the paper and the board "
          f"documents of {shown})")
    return bad


CLAIMS_SNIPPET = """
import sys
from pathlib import Path
from analysis.claims import run_claims
from analysis.fitting import convergence_gate, load_fit
from analysis.panel import read_panel
from models.config import load_config, merge
from models.value_model import prepare
import json
res, out = Path(sys.argv[1]), Path(sys.argv[2])
panel = read_panel(res / "panel" / "panel.parquet")
idata = load_fit(res / "fit" / "posterior.nc")
cfg = merge(load_config(), json.loads(idata.attrs["svi_config"]))
run_claims(panel, out=out, fits={"base": (idata, prepare(panel, cfg), convergence_gate(idata, cfg), cfg)},
           fit_missing=False, echo=lambda *a: None)
"""


def compare_claims(code_b: Path, base: Path, code_h: Path, head: Path) -> list[str]:
    import json

    for code, out in ((code_b, base), (code_h, head)):
        env = {**os.environ, "PYTHONPATH": str(code)}
        p = subprocess.run([sys.executable, "-c", CLAIMS_SNIPPET, str(out), str(out)], cwd=code, env=env,
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"claims failed with the code in {code}:\n{p.stderr[-3000:]}")
    names = sorted(p.name for p in (base / "claims").iterdir() if p.name != ".svi-output.json")
    bad = []
    for name in names:
        a, b = base / "claims" / name, head / "claims" / name
        if name == "manifest.json" and b.exists():
            strip = lambda f: {k: v for k, v in json.loads(f.read_text()).items() if k != "created"}
            same = strip(a) == strip(b)
        else:
            same = b.exists() and filecmp.cmp(a, b, shallow=False)
        if not same:
            bad.append(f"claims/{name}")
    print(f"claims: {len(names) - len(bad)} of {len(names)} files identical ({', '.join(names)})")
    return bad


FIGURES_SNIPPET = """
import sys
from pathlib import Path
from analysis.figures import AppendixFigures, paper_figures
from analysis.report import load_results
out, n = Path(sys.argv[1]), int(sys.argv[2])
res = load_results(out)
paper_figures(res.figdata, out / "figures" / "paper")
af = AppendixFigures(res.figdata)
for code in res.codes[:n]:
    af.write(code, out / "figures" / code)
"""


def compare_figures(code_b: Path, base: Path, code_h: Path, head: Path, n: int) -> list[str]:
    """The SVG figures of the paper and of the first ``n`` trusts' appendices, byte for byte."""
    for code, out in ((code_b, base), (code_h, head)):
        env = {**os.environ, "PYTHONPATH": str(code)}
        p = subprocess.run([sys.executable, "-c", FIGURES_SNIPPET, str(out), str(n)], cwd=code, env=env,
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"figures failed with the code in {code}:\n{p.stderr[-3000:]}")
    svgs = sorted(p.relative_to(base) for p in (base / "figures").rglob("*.svg"))
    bad = [str(r) for r in svgs if not (head / r).exists() or not filecmp.cmp(base / r, head / r, shallow=False)]
    print(f"figures: {len(svgs) - len(bad)} of {len(svgs)} SVG files identical (the paper's and {n} trusts')")
    return bad


def fit_seed(results: Path) -> str | None:
    """The sampler seed recorded with the fit (``svi summarise`` checks the config, seed included)."""
    import json

    import h5netcdf

    with h5netcdf.File(results / "fit" / "posterior.nc", "r") as f:
        cfg = f.attrs.get("svi_config")
    return str(json.loads(cfg)["sampler"]["seed"]) if cfg else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, required=True, help="a finished results directory (panel/ and fit/)")
    ap.add_argument("--base", default="main", help="git ref of the reference code (default main)")
    ap.add_argument("--head", default=".", help="git ref of the code to check ('.' = this working tree)")
    ap.add_argument("--report", type=int, default=0, metavar="N", help="also compare the paper's and N trusts' "
                    "board documents' text")
    ap.add_argument("--figures", type=int, default=0, metavar="N", help="also compare the SVG figures of the paper "
                    "and of N trusts' appendices byte for byte")
    ap.add_argument("--claims", action="store_true", help="also compare the claims re-tested from the saved fit")
    ap.add_argument("--keep", type=Path, help="keep the scratch directories here")
    a = ap.parse_args(argv)
    if a.keep is not None:
        a.keep.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="svi-identical-", dir=a.keep))
    if a.keep is not None:
        print(f"scratch directories kept in {scratch}")
    try:
        seed = fit_seed(a.results)
        code_b, code_h = checkout(a.base, scratch), checkout(a.head, scratch)
        base = summarise(code_b, a.results, scratch / "base", seed)
        head = summarise(code_h, a.results, scratch / "head", seed)
        same, bad, added = compare_tables(base, head)
        print(f"tables: {len(same)} identical, {len(bad)} different or missing, {len(added)} added "
              f"(base {a.base}, head {a.head}, fit {a.results})")
        for name in bad:
            print(f"  DIFFERENT  {name}")
        for name in added:
            print(f"  added      {name}")
        others = []
        if a.report:
            others += [f"report {r}" for r in compare_reports(code_b, base, code_h, head, a.report)]
        if a.claims:
            others += compare_claims(code_b, base, code_h, head)
        if a.figures:
            others += compare_figures(code_b, base, code_h, head, a.figures)
        for r in others:
            print(f"  DIFFERENT  {r}")
        bad += others
        print("IDENTICAL" if not bad else "DIFFERENT")
        return 1 if bad else 0
    finally:
        if a.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
