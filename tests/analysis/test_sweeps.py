"""The sweep engine (analysis/sweeps): same results serially and on a Dask cluster, checkpoints, retries, errors.

Task functions here are cheap and pure; the SBC and variant sweeps on a cluster are tested in
tests/analysis/validation/test_sweeps_dask.py."""

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest

from analysis.errors import SVIError
from analysis.sweeps import Engine, JsonStore, MemoryStore, Sweep, SweepError, Task


def draw(context, seed: int, n: int) -> dict:
    """A pure task: a function of its context and seed only."""
    x = np.random.default_rng([context["base"], seed]).normal(size=n)
    return {"seed": seed, "mean": float(x.mean()), "pid": os.getpid()}


def flaky(context, seed: int, marker: str) -> dict:
    """Fails the first time it runs for a seed (anywhere: the marker is a file), then succeeds."""
    m = Path(marker) / f"seen-{seed}"
    if not m.exists():
        m.write_text("x")
        raise RuntimeError(f"first attempt of {seed} fails")
    return {"seed": seed}


def broken(context, seed: int) -> dict:
    if seed == 2:
        raise ValueError("seed 2 is broken")
    return {"seed": seed}


def pause(context, seed: int, seconds: float) -> dict:
    import time

    time.sleep(seconds)
    return {"seed": seed}


def refuse(context, seed: int) -> dict:
    raise AssertionError(f"finished task {seed} was run again")


def _sweep(fn, store=None, seeds=range(6), **args):
    tasks = [Task(f"t{s}", fn, {"seed": s, **args}) for s in seeds]
    return Sweep("test", tasks, context={"base": 7}, store=store or MemoryStore())


def _values(res):
    return {k: {kk: vv for kk, vv in v.items() if kk != "pid"} for k, v in res.items()}


def test_a_cluster_gives_the_serial_results_and_spreads_the_tasks(dask_engine):
    serial = Engine("serial").run(_sweep(draw, n=50), progress=False)
    dist = dask_engine.run(_sweep(draw, n=50), progress=False)
    assert list(dist) == [f"t{s}" for s in range(6)]  # task order, whatever the completion order
    assert _values(dist) == _values(serial)
    assert len({v["pid"] for v in dist.values()} - {os.getpid()}) == 2  # both workers, not this process


def test_a_sweep_is_followed_through_its_own_client_when_another_comes_and_goes(dask_engine):
    """Another client in the process (here one watching the same scheduler, as the killed-worker test does) becomes
    Dask's default while a sweep runs, and is closed: the sweep must still see its results."""
    import threading
    import time

    from distributed import Client

    done = {}
    watcher = Client(dask_engine.address, timeout="10s")
    th = threading.Thread(target=lambda: done.setdefault("r", dask_engine.run(
        _sweep(pause, seeds=range(4), seconds=1.5), progress=False)), daemon=True)
    th.start()
    time.sleep(1.0)  # the sweep is waiting for its first result
    watcher.close()
    th.join(timeout=120)
    assert "r" in done, "the sweep never saw its results"
    assert [r["seed"] for r in done["r"].values()] == [0, 1, 2, 3]


@pytest.mark.parametrize("where", ["serial", "dask"])
def test_finished_tasks_are_checkpointed_and_not_run_again(where, dask_engine, tmp_path):
    eng = Engine("serial") if where == "serial" else dask_engine
    first = eng.run(_sweep(draw, store=JsonStore(tmp_path), seeds=range(3), n=5), progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t0.json", "t1.json", "t2.json"]
    assert json.loads((tmp_path / "t1.json").read_text()) == first["t1"]
    lines = []
    again = eng.run(_sweep(refuse, store=JsonStore(tmp_path), seeds=range(3)), progress=False, echo=lines.append)
    assert again == first and "reusing 3 finished tasks" in lines[0]


@pytest.mark.parametrize("where", ["serial", "dask"])
def test_a_failing_task_is_retried_once(where, dask_engine, tmp_path):
    eng = Engine("serial") if where == "serial" else dask_engine
    res = eng.run(_sweep(flaky, seeds=range(3), marker=str(tmp_path)), progress=False)
    assert [r["seed"] for r in res.values()] == [0, 1, 2]


@pytest.mark.parametrize("where", ["serial", "dask"])
def test_tasks_failing_twice_are_reported_after_the_others_are_saved(where, dask_engine, tmp_path):
    eng = Engine("serial") if where == "serial" else dask_engine
    with pytest.raises(SweepError, match=r"1 of 4 test tasks failed twice.*t2: ValueError: seed 2 is broken") as e:
        eng.run(_sweep(broken, store=JsonStore(tmp_path / "ck"), seeds=range(4)), progress=False)
    assert set(e.value.failures) == {"t2"}
    assert "run the same command again to resume" in str(e.value)
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["t0.json", "t1.json", "t3.json"]


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_an_unreachable_scheduler_is_one_actionable_paragraph():
    addr = f"tcp://127.0.0.1:{_closed_port()}"
    with pytest.raises(SVIError) as e:
        with Engine.open(addr):
            pass
    msg = str(e.value)
    assert f"cannot reach the Dask scheduler at {addr}" in msg and "--scheduler local" in msg
    with pytest.raises(SVIError, match="neither 'serial', 'local' nor a scheduler address"):
        with Engine.open("my laptop"):
            pass


def test_the_scheduler_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("SVI_SCHEDULER", "serial")
    with Engine.open() as eng:
        assert eng.serial and eng.describe() == "serially in this process"


def test_the_cli_refuses_workers_without_a_local_cluster_and_an_unreachable_scheduler_for_the_backtest(tmp_path,
                                                                                                     capsys):
    from analysis.cli import main

    out = tmp_path / "res"
    assert main(["validate", "--out", str(out), "--quick", "--scheduler", "serial", "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert "--workers 2 sets the size of a local cluster, but the sweeps would run serially" in err
    assert "Traceback" not in err
    addr = f"tcp://127.0.0.1:{_closed_port()}"
    assert main(["validate", "--backtest", "--out", str(out), "--panel", str(tmp_path / "nowhere"),
                 "--scheduler", addr]) == 2
    err = capsys.readouterr().err
    assert f"cannot reach the Dask scheduler at {addr}" in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())  # nothing was built or written
