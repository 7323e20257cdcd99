"""svi works from its wheel, not only from a source checkout.

Builds the wheel (pip wheel, build isolation: setuptools and wheel come from the package index), installs it
into a fresh virtual environment (``--system-site-packages`` only to reuse the installed PyMC/JAX stack; svi
itself is imported from the venv, which the test checks), and runs ``svi data fetch``, ``svi data build`` and
``svi report`` there, from a directory outside the checkout: the papers, the download registry, the default
config and the synthetic calibration must all come from the installed package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

# (the labelled questions svi ask learns from are package data of analysis.ask, in analysis/ask/questions/)
SOURCE = ["analysis", "models", "papers", "data/registry.toml", "data/README.md", "pyproject.toml", "README.md"]


def _run(cmd: list, cwd: Path, env: dict, timeout: int = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _results_from(panel_dir: Path, out: Path) -> str:
    """A results directory for ``svi report``: a constructed posterior of the panel (nothing samples) with a passing
    gate, saved and summarised by the pipeline's own functions, as ``svi fit`` would (``ResultsDir.save_fit``, then
    ``analysis.pipeline.write_tables``: every result table, derived ones included, and ``model.json``), so that a table
    added to the pipeline is written here too.  Returns one trust code."""
    import arviz as az

    from analysis.fitting import GateResult, gate_record
    from analysis.panel import panel_hash, read_panel
    from analysis.pipeline import write_tables
    from analysis.results import ResultsDir
    from models.config import for_panel, load_config
    from models.value_model import prepare

    panel = read_panel(panel_dir)
    cfg = for_panel(load_config(), panel)  # the config `svi fit` would fit this panel with
    d = prepare(panel, cfg)
    rng = np.random.default_rng(0)
    S, N, K, J = 200, d.N, len(d.indicators), len(d.cost_outcomes)
    u = rng.normal(0, 0.08, (N, K))
    theta = np.log(np.where(d.observed, d.y, 1) / np.where(d.observed, d.n, 1))
    theta[:, 0] = np.log(np.nanmean(d.y[:, 0] / d.n[:, 0])) + u[:, 0]
    cost = np.where(np.isnan(d.cost_y), 0, d.cost_y) - rng.normal(0, 0.08, (N, J))
    post = {"u": u[None, None] + rng.normal(0, 0.03, (1, S, N, K)),
            "theta": theta[None, None] + rng.normal(0, 0.02, (1, S, N, K)),
            "sd0": np.full((1, S, K), 0.1), "sd0_c": np.full((1, S, J), 0.08),
            "cost_expectation": cost[None, None] + rng.normal(0, 0.02, (1, S, N, J))}
    idata = az.from_dict(posterior=post, dims={"u": ["trust", "indicator"], "theta": ["trust", "indicator"],
                                               "cost_expectation": ["trust", "cost_outcome"]})
    # a one-chain constructed posterior cannot certify itself: the gate's verdict is given, not computed
    gate = GateResult(passed=True, max_rhat=1.003, min_ess_bulk=900.0, min_ess_tail=650.0, divergences=0)
    idata.attrs.update({"svi_model_id": "wheeltest0001", "svi_config": json.dumps(cfg, default=str),
                        "svi_code_version": "test", "svi_compile_seconds": 1.0, "svi_sampling_seconds": 1.0,
                        "svi_gate": gate.text(), "svi_panel_hash": panel_hash(panel)})
    res = ResultsDir(out)
    res.save_fit(idata, gate_record(gate, idata))
    write_tables(idata, d, cfg, gate, res, lambda *a: None, panel)
    return str(panel["org_code"].iloc[0])


def test_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    pytest.importorskip("typst")
    pytest.importorskip("pypandoc")
    src = tmp_path / "src"
    for part in SOURCE:  # a clean copy: building never writes into the checkout
        (src / part).parent.mkdir(parents=True, exist_ok=True)
        if (REPO / part).is_dir():
            shutil.copytree(REPO / part, src / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copyfile(REPO / part, src / part)
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", venv], tmp_path, dict(os.environ))
    py, svi = venv / "bin" / "python", venv / "bin" / "svi"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SVI_DATA_DIR", "VIRTUAL_ENV")}
    env.update(SVI_REPORT_ENGINE="inprocess", XDG_CACHE_HOME=str(tmp_path / "xdg"), PYTHONNOUSERSITE="1")
    _run([py, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", src], tmp_path, env)
    wheel = next((tmp_path / "dist").glob("svi-*.whl"))
    # the labelled questions ship as package data of analysis.ask; no test file ships with them
    import zipfile

    from analysis.ask.learned import QUESTION_FILES

    names = zipfile.ZipFile(wheel).namelist()
    assert {f"analysis/ask/questions/{f}" for f in QUESTION_FILES} <= set(names)
    assert not [n for n in names if n.startswith("tests/") or n.rsplit("/", 1)[-1].startswith(("test_", "conftest"))]
    _run([py, "-m", "pip", "install", "--no-deps", "--ignore-installed", "-q", wheel], tmp_path, env)

    run = tmp_path / "run"  # outside the checkout and the source copy
    run.mkdir()
    where = _run([py, "-c", "import analysis, models; print(analysis.__file__); print(models.__file__)"], run, env)
    assert all(line.startswith(str(venv)) for line in where.stdout.split()), where.stdout
    # svi ask's learned model reads the packaged questions
    fitted = _run([py, "-c", "from analysis.ask.learned import question_dir, training_rows; "
                   "print(question_dir()); print(len(training_rows()))"], run, env)
    qdir, n = fitted.stdout.split()
    assert qdir.startswith(str(venv)) and int(n) >= 936, fitted.stdout

    # the registry ships with the package: fetch an official file from a local mirror into the default cache
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    shutil.copyfile(REPO / "tests/fixtures/official/Monthly-AE-March-2026.csv",
                    mirror / "Monthly-AE-March-2026-revised-flkg42.csv")
    fetched = _run([svi, "data", "fetch", "ae_monthly", "--base-url", mirror.as_uri()], run, env)
    assert fetched.stdout.strip() == str(tmp_path / "xdg" / "svi" / "Monthly-AE-March-2026-revised-flkg42.csv")

    # the synthetic default needs the shipped calibration; the report needs the shipped papers
    built = _run([svi, "data", "build", "--out", run / "results" / "panel"], run, env)
    assert "SVI panel (synthetic)" in built.stdout
    code = _results_from(run / "results" / "panel", run / "results")
    _run([svi, "report", "--out", run / "results", "--trust", code], run, env)
    reports = run / "results" / "reports"
    assert (reports / "methodology.pdf").stat().st_size > 10_000
    assert (reports / "appendices" / f"{code}_appendix.pdf").stat().st_size > 10_000
    assert not (run / "papers").exists() and not (run / "data").exists()  # nothing looked for beside the cwd

    shared = Path(os.environ.get("SVI_SHARED_DATA", REPO.parent / "shared" / "data"))
    if (shared / "raw").is_dir():  # the real panel from the wheel: identical to the checkout's
        from analysis.panel import build as build_panel

        _run([svi, "data", "build", "--data-dir", shared, "--cache-dir", tmp_path / "empty", "--out",
              run / "real"], run, env)
        ours = build_panel(shared, cache_dir=tmp_path / "empty").panel
        pd.testing.assert_frame_equal(pd.read_parquet(run / "real" / "panel.parquet"), ours)
