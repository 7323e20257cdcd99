import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """The real data directory: $SVI_SHARED_DATA, else ../shared/data beside the checkout."""
    env = os.environ.get("SVI_SHARED_DATA")
    cand = Path(env) if env else REPO.parent / "shared" / "data"
    return cand if (cand / "raw").is_dir() else None


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False, help="run slow (long model fit) tests")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def no_download_cache(tmp_path_factory, monkeypatch):
    """Tests never read a developer's download cache: official publications in $SVI_DATA_DIR or data/cache would
    change the panel a test builds.  Tests of the official path pass their own cache."""
    monkeypatch.setenv("SVI_DATA_DIR", str(tmp_path_factory.getbasetemp() / "no-download-cache"))


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    d = shared_data_dir()
    if d is None:
        pytest.skip("real data not found: set SVI_SHARED_DATA or place shared/ beside the checkout")
    return d


@pytest.fixture(scope="session")
def synthetic_compiled():
    """The default synthetic panel and its value model, compiled once for every test that samples.

    Compiling (nutpie: numba) takes minutes and sampler settings are read at sampling time, so one compiled
    model serves the reproducibility and recovery tests.
    """
    from analysis.fitting import compile_model
    from analysis.synthetic import generate
    from models.config import load_config
    from models.value_model import build_model, prepare

    panel, truth, trusts, _ = generate(20260401)
    cfg = load_config()
    data = prepare(panel, cfg)
    return {"panel": panel, "truth": truth, "trusts": trusts, "cfg": cfg, "data": data,
            "compiled": compile_model(build_model(data, cfg), cfg)}


@pytest.fixture(scope="session")
def synthetic_posterior(synthetic_compiled):
    """A short fit of the compiled synthetic model (QUICK_SAMPLER: 2 chains x 300 draws), stamped like a saved fit.

    For checks that need a posterior of the real model but not a converged one (validation plumbing, LOO, PPC).
    """
    from analysis.fitting import sample, stamp
    from analysis.variants import QUICK_SAMPLER
    from models.config import load_config

    s = synthetic_compiled
    cfg = load_config(overrides={"sampler": {**QUICK_SAMPLER, "seed": 20260401}})
    idata = stamp(sample(s["compiled"], cfg), s["panel"], cfg)
    return {**s, "idata": idata, "cfg": cfg}


@pytest.fixture(scope="session")
def dask_engine():
    """A 2-worker LocalCluster (one thread each, no dashboard) shared by the sweep tests: its workers keep the
    models they compiled, as in a real sweep."""
    from analysis.sweeps import Engine

    with Engine.open("local", workers=2, dashboard=False, echo=lambda *_: None) as eng:
        yield eng
