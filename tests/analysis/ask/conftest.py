"""A results directory for `svi ask`, built without sampling (as in tests/analysis/test_report.py): the synthetic
panel with its trusts given the codes and names of real acute trusts (so the evaluation questions name trusts that
exist), a constructed posterior put through ``analysis.summaries.summarise``, and a passing gate.

The trust names come from the shared data directory when it is present (the 129 acute trusts of the trust profiles,
never a copy of them in the repository), else from ``fixture_trusts.csv``: a few trusts written by hand, enough for
the name tests (ambiguous Sheffield and Liverpool, codes that are English words) but not for the evaluation set,
whose accuracy tests then skip."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import arviz as az
import numpy as np
import pytest

from analysis import io
from analysis.ask.evaluate import acute_trust_pairs, read_pairs, register_of
from analysis.panel import build, write
from analysis.summaries import summarise
from models.config import load_config
from models.value_model import prepare
from tests.conftest import shared_data_dir

HERE = Path(__file__).parent
GATE = {"passed": True, "max_rhat": 1.003, "min_ess_bulk": 900.0, "min_ess_tail": 700.0, "divergences": 0,
        "failing": [], "model_id": "asktest"}


def _posterior(d, S: int = 200, seed: int = 0):
    rng = np.random.default_rng(seed)
    N, K, J = d.N, len(d.indicators), len(d.cost_outcomes)
    u = rng.normal(0, 0.1, (N, K))
    theta = np.log(np.where(d.observed, d.y, 1) / np.where(d.observed, d.n, 1))
    theta[:, 0] = np.log(np.nanmean(d.y[:, 0] / d.n[:, 0])) + u[:, 0]
    resid = rng.normal(0, 0.1, (N, J))
    cost_exp = np.where(np.isnan(d.cost_y), 0, d.cost_y) - resid
    post = {"u": u[None, None] + rng.normal(0, 0.04, (1, S, N, K)),
            "theta": theta[None, None] + rng.normal(0, 0.01, (1, S, N, K)),
            "sd0": np.full((1, S, K), 0.1), "sd0_c": np.full((1, S, J), 0.08),
            "cost_expectation": cost_exp[None, None] + rng.normal(0, 0.03, (1, S, N, J))}
    return az.from_dict(posterior=post, dims={"u": ["trust", "indicator"], "theta": ["trust", "indicator"],
                                              "cost_expectation": ["trust", "cost_outcome"]})


def register_pairs() -> list[tuple[str, str]]:
    """The acute trusts of the shared data when present, else the hand-made fixture."""
    d = shared_data_dir()
    return acute_trust_pairs(d) if d is not None else read_pairs(HERE / "fixture_trusts.csv")


@pytest.fixture(scope="session")
def reg():
    return register_of(register_pairs())


@pytest.fixture(scope="session")
def real_reg():
    """The register of every acute trust: the evaluation questions name trusts the fixture does not hold."""
    d = shared_data_dir()
    if d is None:
        pytest.skip("the evaluation set needs the real trust list: set SVI_SHARED_DATA or place shared/ beside the "
                    "checkout")
    return register_of(acute_trust_pairs(d))


@pytest.fixture(scope="session")
def results(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("askresults")
    import dataclasses

    built = build(None, 11)
    panel = built.panel.copy()
    pairs = register_pairs()
    # without the shared data: the fixture's trusts, then made-up ones (no digits: every number in an answer must be
    # a fact, and a trust list is printed in some answers)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    extra = [f"Z{a}{b}" for a in letters for b in letters][: max(0, len(panel) - len(pairs))]
    pairs += [(c, f"Synthetic {c} NHS Trust") for c in extra]
    panel["org_code"] = [c for c, _ in pairs[: len(panel)]]
    panel["org_name"] = [n for _, n in pairs[: len(panel)]]
    pr = write(dataclasses.replace(built, panel=panel), out / "panel")
    cfg = load_config()
    d = prepare(pr.panel, cfg)
    for name, t in summarise(_posterior(d), d, cfg).items():
        io.write_table(t, out / "tables" / name)
    io.write_json(out / "fit" / "gate.json", GATE)
    return out


@pytest.fixture(scope="session")
def asker(results):
    from analysis.ask import Asker

    return Asker.open(results)


@pytest.fixture
def copy_results(results, tmp_path):
    """A copy of the results directory a test may damage."""
    dst = tmp_path / "res"
    shutil.copytree(results, dst)
    return dst


def read_json(p: Path) -> dict:
    return json.loads(p.read_text())
