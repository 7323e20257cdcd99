"""SBC and variant sweeps on Dask (issue 18): a 2-worker LocalCluster, and a scheduler and two workers started as
separate processes on 127.0.0.1, one of which is killed mid-sweep.  Results must equal a serial run's, seed for
seed (only the timings differ)."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from analysis.fitting import compile_model, model_id
from analysis.results import ResultsDir
from analysis.sweeps import Engine
from analysis.validation import sbc
from models.config import merge
from models.value_model import build_model, prepare
from tests.small_model import SMALL

#: a tiny SBC: the machinery, not evidence
TINY = {"chains": 2, "tune": 150, "draws": 150}
SEED = 11
REPS = 3


@pytest.fixture(scope="module")
def tiny(synthetic_compiled):
    s = synthetic_compiled
    cfg = merge(s["cfg"], {"sampler": TINY, **SMALL})
    data = prepare(s["panel"], cfg)
    model = build_model(data, cfg)
    return {**s, "cfg": cfg, "data": data, "model": model, "compiled": compile_model(model, cfg),
            "key": model_id(s["panel"], cfg)}


@pytest.fixture(scope="module")
def serial_reference(tiny):
    """REPS replications serially in this process."""
    return sbc.run_sbc(tiny["data"], tiny["model"], tiny["compiled"], tiny["cfg"], reps=REPS, seed=SEED,
                       progress=False)


def _same(got, want, reps):
    ranks, diag = got
    want_ranks, want_diag = want
    pd.testing.assert_frame_equal(ranks, want_ranks[want_ranks.rep < reps].reset_index(drop=True))
    cols = [c for c in want_diag.columns if c != "seconds"]
    pd.testing.assert_frame_equal(diag[cols], want_diag.loc[want_diag.rep < reps, cols].reset_index(drop=True))


def _sbc(tiny, engine, reps, checkpoint=None, echo=lambda *_: None):
    return sbc.run_sbc(tiny["data"], tiny["model"], None, tiny["cfg"], reps=reps, seed=SEED, progress=False,
                       echo=echo, checkpoint=checkpoint, engine=engine, panel=tiny["panel"], key=tiny["key"])


def test_sbc_on_a_local_cluster_equals_the_serial_run_and_resumes_from_its_checkpoint(tiny, serial_reference,
                                                                                      dask_engine, tmp_path):
    got = _sbc(tiny, dask_engine, reps=2, checkpoint=tmp_path)
    _same(got, serial_reference, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep-00000.json", "rep-00001.json"]
    # read back (serially, where nothing may be sampled: no compiled model, no panel): the same results
    lines = []
    again = sbc.run_sbc(tiny["data"], tiny["model"], None, tiny["cfg"], reps=2, seed=SEED, progress=False,
                        echo=lines.append, checkpoint=tmp_path)
    assert "reusing 2 finished replications" in lines[0]
    _same(again, serial_reference, 2)


def test_a_variant_sweep_on_a_local_cluster_saves_each_fit_where_fit_cached_finds_it(synthetic_compiled,
                                                                                     dask_engine, tmp_path):
    from analysis.variants import fit_variants, variant_config

    over = {"sampler": {**TINY, "tune": 100, "draws": 100, "seed": 5, "retry_target_accept": 0.0}, **SMALL}
    configs = {name: variant_config(name, over) for name in ("base", "national")}
    panel = synthetic_compiled["panel"]
    lines = []
    fits = fit_variants(panel, configs, tmp_path, engine=dask_engine, echo=lines.append, progress=False)
    assert list(fits) == ["base", "national"]
    assert sum("fitted" in line for line in lines) == 2  # the workers' fit messages, relayed by the driver
    for name, (idata, data, gate) in fits.items():
        fd = ResultsDir(tmp_path).variant(name)
        assert fd.posterior.is_file() and fd.gate.is_file()
        assert idata.attrs["svi_model_id"] == model_id(panel, configs[name])
    assert len(fits["national"][1].peer_groups) == 1 < len(fits["base"][1].peer_groups)
    # the same config fitted serially in this process: the same draws, bit for bit
    serial = fit_variants(panel, {"national": configs["national"]}, tmp_path / "serial", echo=lambda *_: None,
                          progress=False)
    assert serial["national"][0].attrs["svi_posterior_hash"] == fits["national"][0].attrs["svi_posterior_hash"]
    # a second sweep (here serial) fits nothing: it finds both saved fits, unchanged
    lines = []
    again = fit_variants(panel, configs, tmp_path, echo=lines.append, progress=False)
    assert sum("reusing saved fit" in line for line in lines) == 2
    for name in configs:
        assert again[name][0].attrs["svi_posterior_hash"] == fits[name][0].attrs["svi_posterior_hash"]


# ------------------------------------------------------------------------------------------------ remote cluster
def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def remote_cluster(tmp_path):
    """`dask scheduler` and two `dask worker`s (one thread, no nanny: a killed worker stays dead, like a lost
    machine), each its own process on 127.0.0.1.  Yields (address, {worker pid: Popen})."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[3]), os.environ.get("PYTHONPATH", "")])}
    log = open(tmp_path / "cluster.log", "w")
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", str(port), "--no-dashboard"], env=env, stdout=log, stderr=log)]
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or procs[0].poll() is not None:
                    raise RuntimeError((tmp_path / "cluster.log").read_text())
                time.sleep(0.3)
        workers = {}
        for _ in range(2):
            p = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                                  "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"], env=env, stdout=log,
                                 stderr=log)
            procs.append(p)
            workers[p.pid] = p
        yield address, workers
    finally:  # workers first, then the scheduler: SIGTERM (a clean close), SIGKILL if one is still up after 15 s
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=30)
        log.close()


@pytest.mark.slow  # separate scheduler and worker processes, each compiling its own model: run with --run-slow
def test_a_sweep_on_a_remote_cluster_survives_a_killed_worker(tiny, serial_reference, remote_cluster, tmp_path):
    from distributed import Client

    address, workers = remote_cluster
    result, errors = {}, []
    ckpt = tmp_path / "ckpt"
    with Engine.open(address, echo=lambda *_: None) as engine:
        def sweep():
            try:
                result["sbc"] = _sbc(tiny, engine, reps=REPS, checkpoint=ckpt)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
                errors.append(exc)

        th = threading.Thread(target=sweep)
        th.start()
        killed = None
        with Client(address, timeout="10s") as watcher:
            watcher.wait_for_workers(2, timeout=120)
            pids = watcher.run(os.getpid)  # worker address -> pid
            deadline = time.time() + 1800
            # mid-sweep: a replication finished and another is assigned to a worker, which is then killed
            while killed is None and th.is_alive() and time.time() < deadline:
                busy = {w: keys for w, keys in watcher.processing().items() if keys}
                if ckpt.is_dir() and any(ckpt.glob("rep-*.json")) and busy:
                    addr = next(iter(busy))
                    killed = (pids[addr], list(busy[addr]))
                    os.kill(pids[addr], signal.SIGKILL)
                    break
                time.sleep(0.5)
        th.join(timeout=1800)
    assert not errors, errors
    assert killed is not None, "the sweep ended before a worker could be killed"
    assert workers[killed[0]].wait(timeout=30) == -signal.SIGKILL
    assert len(killed[1]) >= 1
    _same(result["sbc"], serial_reference, REPS)  # every replication, including the killed worker's, as serially
    assert sorted(p.name for p in ckpt.iterdir()) == [f"rep-{r:05d}.json" for r in range(REPS)]
    # and a rerun on the cluster resumes from the checkpoint: nothing left to submit
    lines = []
    with Engine.open(address, echo=lambda *_: None) as engine:
        again = _sbc(tiny, engine, reps=REPS, checkpoint=ckpt, echo=lines.append)
    assert f"reusing {REPS} finished replications" in lines[0]
    _same(again, serial_reference, REPS)


def test_the_cli_reports_an_unreachable_scheduler_without_a_traceback(tmp_path, capsys):
    from analysis.cli import main

    port = _free_port()  # nothing listens there
    status = main(["validate", "--out", str(tmp_path / "res"), "--quick", "--scheduler", f"127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert status == 2
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in err and "Traceback" not in err
    assert not (tmp_path / "res" / "validation").exists()


