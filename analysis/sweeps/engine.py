"""The task layer: tasks, checkpoint stores, and an engine that runs them serially or on Dask ``distributed``."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from analysis import io
from analysis.errors import SVIError

#: environment variable naming the scheduler when ``--scheduler`` is not given
SCHEDULER_ENV = "SVI_SCHEDULER"
#: how long to wait for a remote scheduler to answer, and for it to have a worker
CONNECT_TIMEOUT = "10s"
WORKER_WAIT_SECONDS = 60
#: tasks sample with their chains in parallel (``analysis.fitting.sample``: up to 2 cores each), so a local
#: cluster gets one single-threaded worker per 2 cores; more workers than that oversubscribe the cores
#: (measured in benchmarks/RESULTS.md, "Validation sweeps on Dask")
CORES_PER_TASK = 2


class SweepError(SVIError):
    """Tasks of a sweep failed twice (each is retried once); every other task's result was saved."""

    def __init__(self, message: str, failures: dict[str, BaseException]):
        super().__init__(message)
        self.failures = failures


@dataclass(frozen=True)
class Task:
    """One unit of work: ``fn(context, **args)``.

    ``fn`` must be a module-level function (workers import it by name) and pure: its result depends on the
    context and ``args`` only (seeds are arguments), so it is the same serially, on a local or a remote cluster.
    ``key`` is unique within its sweep and names its checkpoint.
    """

    key: str
    fn: Callable[..., Any]
    args: dict = field(default_factory=dict)


class Store(Protocol):
    """Where a sweep's finished tasks are kept: ``load`` returns a saved result or None; ``save`` is atomic."""

    def load(self, task: Task) -> Any | None: ...

    def save(self, task: Task, result: Any) -> None: ...


class MemoryStore:
    """No checkpoint: every task runs."""

    def load(self, task: Task) -> None:
        return None

    def save(self, task: Task, result: Any) -> None:
        pass

    def __str__(self) -> str:
        return "memory"


class JsonStore:
    """One JSON file per finished task, ``<directory>/<key>.json``, written atomically (:func:`analysis.io.write_json`).

    Floats are written with ``repr`` precision, so a result read back equals the one computed."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def path(self, task: Task) -> Path:
        return self.directory / f"{task.key}.json"

    def load(self, task: Task) -> Any | None:
        import json

        p = self.path(task)
        io.recover(p)
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # damaged (not by io.write_json, which is atomic): run the task again
            return None

    def save(self, task: Task, result: Any) -> None:
        io.write_json(self.path(task), result)

    def __str__(self) -> str:
        return str(self.directory)


@dataclass
class Sweep:
    """Tasks sharing one context (sent to the cluster once, as a task of its own, and passed as each task's first
    argument)."""

    name: str
    tasks: list[Task]
    context: Any = None
    store: Any = field(default_factory=MemoryStore)
    #: singular noun for messages, e.g. "replication"
    unit: str = "task"
    #: short progress note for a finished task's result (e.g. its divergences)
    note: Callable[[Any], str] | None = None


# ------------------------------------------------------------------------------------------------ worker cache
_CACHE: OrderedDict = OrderedDict()
#: compiled models kept per process (each can hold hundreds of MB of compiled code)
CACHE_SIZE = 2


def cached(key, build: Callable[[], Any]) -> Any:
    """``build()`` once per process and ``key``: a worker compiles a model for its first task and reuses it for the
    rest (the driver does the same in serial mode).  The least recently used entry is dropped beyond CACHE_SIZE."""
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    value = build()
    _CACHE[key] = value
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return value


def _identity(x: Any) -> Any:
    return x


def _call(fn: Callable, context: Any, args: dict) -> Any:
    return fn(context, **args)


def source_version() -> str:
    """svi's version and a hash of every source file of its packages (``analysis``, ``models``): a task's result
    depends on more than the model code (simulation, forecasting, scoring), so a remote worker must run exactly
    this code for its results to equal a serial run's."""
    import hashlib

    import analysis
    import models
    from analysis.fitting import code_version

    h = hashlib.sha256()
    for pkg in (analysis, models):
        root = Path(pkg.__file__).parent
        for f in sorted(root.rglob("*")):
            if f.suffix in (".py", ".toml") and "__pycache__" not in f.parts:
                h.update(f"{pkg.__name__}/{f.relative_to(root).as_posix()}".encode())
                h.update(f.read_bytes())
    return f"{code_version().split('+')[0]}+{h.hexdigest()[:10]}"


# ------------------------------------------------------------------------------------------------ engine
def default_workers() -> int:
    """Workers of the default local cluster: one per CORES_PER_TASK cores this process may use (at least one)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // CORES_PER_TASK)


def _address(text: str) -> str:
    text = text.strip()
    if "://" in text:
        return text
    if re.fullmatch(r"[A-Za-z0-9_.\-\[\]:]+:\d+", text):
        return f"tcp://{text}"
    raise SVIError(f"--scheduler {text!r} is neither 'serial', 'local' nor a scheduler address such as "
                   f"tcp://10.0.0.5:8786 (host:port is read as tcp://host:port). Nothing was run; give one of "
                   f"these (or set ${SCHEDULER_ENV}).")


def _unreachable(address: str, exc: BaseException) -> SVIError:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return SVIError(f"cannot reach the Dask scheduler at {address} ({first}). Nothing was run. Check that the "
                    f"scheduler is running (`dask scheduler` prints its address), that this machine can reach that "
                    f"host and port, and that the address is right (--scheduler or ${SCHEDULER_ENV}); or run on "
                    f"this machine with --scheduler local (a local cluster) or --scheduler serial.")


def check_scheduler(scheduler: str | None) -> str:
    """Fail early (before any work) on a scheduler that is malformed or refuses connections; returns "serial",
    "local" or the address.  A TCP address is probed with one connection (Dask's own connect retries for
    CONNECT_TIMEOUT before giving up)."""
    import socket
    from urllib.parse import urlsplit

    choice = (scheduler or os.environ.get(SCHEDULER_ENV) or "local").strip()
    if choice in ("serial", "local"):
        return choice
    address = _address(choice)
    parts = urlsplit(address)
    if parts.scheme == "tcp" and parts.hostname and parts.port:
        try:
            socket.create_connection((parts.hostname, parts.port), timeout=5).close()
        except OSError as exc:
            raise _unreachable(address, exc) from None
    return address


class Engine:
    """Runs sweeps: ``serial`` (this process), ``local`` (a LocalCluster) or a remote scheduler's address.

    Open it with :meth:`open` (a context manager: a local cluster is stopped at the end)."""

    def __init__(self, mode: str, client=None, cluster=None, address: str | None = None):
        self.mode, self.client, self.cluster, self.address = mode, client, cluster, address

    @property
    def serial(self) -> bool:
        return self.mode == "serial"

    @property
    def n_workers(self) -> int:
        return 1 if self.client is None else len(self.client.scheduler_info(n_workers=-1)["workers"])

    def describe(self) -> str:
        if self.serial:
            return "serially in this process"
        where = "a local Dask cluster" if self.mode == "local" else f"the Dask cluster at {self.address}"
        return f"on {where} ({self.n_workers} worker{'s' if self.n_workers != 1 else ''})"

    @classmethod
    @contextlib.contextmanager
    def open(cls, scheduler: str | None = None, workers: int | None = None, dashboard: bool = True,
             echo=print) -> Iterator["Engine"]:
        """``scheduler``: "serial", "local" (default; also when None and ``$SVI_SCHEDULER`` is unset) or an address.
        ``workers``: size of a local cluster (default :func:`default_workers`)."""
        choice = (scheduler or os.environ.get(SCHEDULER_ENV) or "local").strip()
        if choice == "serial":
            yield cls("serial")
            return
        try:
            from distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - a dependency of svi
            raise SVIError("Dask's distributed package is not installed, so validation cannot run on a cluster. "
                           "Install it (pip install 'distributed>=2026.1'), or run with --scheduler serial.") from None
        if choice == "local":
            n = workers or default_workers()
            dash = ":0" if dashboard and _has_bokeh() else None
            # one thread per worker: a task's sampler runs its own chain threads (see CORES_PER_TASK); the nanny
            # sets OMP/MKL/OpenBLAS to one thread in each worker (distributed.nanny.pre-spawn-environ)
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=dash, silence_logs=logging.ERROR)
            try:
                client = Client(cluster)
            except BaseException:
                cluster.close()
                raise
            eng = cls("local", client, cluster, cluster.scheduler_address)
        else:
            address = check_scheduler(choice)
            try:
                client = Client(address, timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError, ValueError) as exc:
                raise _unreachable(address, exc) from None
            eng = cls("remote", client, None, address)
            try:
                client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
            except (TimeoutError, OSError):
                client.close()
                raise SVIError(f"the Dask scheduler at {address} has no workers after {WORKER_WAIT_SECONDS} s. "
                               f"Nothing was run. Start workers with `dask worker {address} --nthreads 1` on "
                               f"machines that have svi installed, then run the command again.") from None
            eng._check_code(echo)
        try:
            services = eng.client.scheduler_info().get("services", {})
            if "dashboard" in services:
                echo(f"Dask dashboard: {eng.client.dashboard_link}")
            yield eng
        finally:
            eng.client.close()
            if eng.cluster is not None:
                eng.cluster.close()

    def _check_code(self, echo) -> None:
        """Every worker of a remote cluster must run this svi code (same sources), or its results differ."""
        mine = source_version()
        theirs = self.client.run(source_version)
        other = {w: v for w, v in theirs.items() if v != mine}
        if other:
            w, v = next(iter(other.items()))
            self.client.close()
            raise SVIError(f"{len(other)} of {len(theirs)} workers of the Dask cluster at {self.address} run other "
                           f"svi code (e.g. {w}: {v}; here: {mine}), so their results would not match a serial run. "
                           f"Nothing was run. Install this svi version on every worker and restart them.")

    # -------------------------------------------------------------------------------------------- running
    def run(self, sweep: Sweep, progress: bool = True, echo=print) -> dict[str, Any]:
        """Run the sweep's unfinished tasks; returns every task's result keyed by task key, in task order.

        Finished tasks (in ``sweep.store``) are not run again; each new result is saved as soon as it arrives.
        A task that raises is retried once (on Dask: possibly on another worker; a task on a worker that dies is
        rescheduled by the scheduler).  Tasks that still fail are reported together in a :class:`SweepError` once
        the rest have finished and been saved."""
        results: dict[str, Any] = {}
        todo: list[Task] = []
        for t in sweep.tasks:
            r = sweep.store.load(t)
            if r is None:
                todo.append(t)
            else:
                results[t.key] = r
        if results:
            echo(f"{sweep.name}: reusing {len(results)} finished {sweep.unit}s from {sweep.store}")
        failures: dict[str, BaseException] = {}
        if todo:
            bar = _bar(sweep, len(sweep.tasks), len(results), progress)
            runner = self._serial if self.serial else self._dask
            try:
                for task, ok, value in runner(sweep, todo):
                    if ok:
                        sweep.store.save(task, value)
                        results[task.key] = value
                        for line in (value.get("log", []) if isinstance(value, dict) else []):
                            echo(f"  [{task.key}] {line}")
                    else:
                        failures[task.key] = value
                    note = (sweep.note(value) if ok and sweep.note else "") if ok else "failed"
                    bar(task.key, note)
            finally:
                bar(None, None)
        if failures:
            first = next(iter(failures.values()))
            detail = "; ".join(f"{k}: {type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:200]}"
                               for k, e in list(failures.items())[:5])
            more = f" and {len(failures) - 5} more" if len(failures) > 5 else ""
            raise SweepError(
                f"{len(failures)} of {len(sweep.tasks)} {sweep.name} {sweep.unit}s failed twice (each is retried "
                f"once): {detail}{more}. The {len(results)} finished {sweep.unit}s are saved in {sweep.store}; "
                f"remove the cause and run the same command again to resume (finished {sweep.unit}s are not run "
                f"again). Add --debug to see the first failure's traceback.", failures) from first
        return {t.key: results[t.key] for t in sweep.tasks}

    def _serial(self, sweep: Sweep, todo: list[Task]):
        for t in todo:
            for attempt in (1, 2):
                try:
                    value = _call(t.fn, sweep.context, t.args)
                except Exception as exc:  # noqa: BLE001 - reported with the sweep's other failures
                    if attempt == 2:
                        yield t, False, exc
                else:
                    yield t, True, value
                    break

    def _dask(self, sweep: Sweep, todo: list[Task]):
        from distributed import as_completed

        client = self.client
        token = uuid.uuid4().hex[:8]
        # the context as a task of its own, not scattered: the scheduler keeps its (small) input and computes it
        # again if every worker holding it dies, where scattered data would be lost with them (and every task
        # needing it cancelled)
        ctx = (client.submit(_identity, sweep.context, key=f"svi-{sweep.name}-context-{token}", pure=False)
               if sweep.context is not None else None)
        futures = {}
        for t in todo:
            fut = client.submit(_call, t.fn, ctx, t.args, key=f"svi-{sweep.name}-{t.key}-{token}", retries=1,
                                pure=False)
            futures[fut] = t
        try:
            # this client's loop: as_completed otherwise follows the process's default client, and waits forever
            # when that is another one (a second Client in the same process)
            for fut in as_completed(list(futures), loop=client.loop):
                t = futures.pop(fut)
                if fut.status == "finished":
                    yield t, True, fut.result()
                elif fut.status == "error":
                    yield t, False, fut.exception()
                else:  # cancelled: the scheduler lost it (or was stopped)
                    yield t, False, SVIError(f"the Dask scheduler dropped the task ({fut.status})")
                fut.release()
        finally:
            for fut in futures:  # an interrupted sweep: stop what is still queued
                fut.cancel()
            if ctx is not None:
                ctx.release()


def _has_bokeh() -> bool:
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


def _bar(sweep: Sweep, total: int, done: int, enabled: bool):
    """A tqdm bar over tasks on stderr; returns update(key, note), and update(None, None) closes it."""
    if not enabled:
        return lambda key, note: None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=done, desc=sweep.name, unit=sweep.unit[:4], file=sys.stderr)
    def update(key, note):
        if key is None:
            bar.close()
            return
        bar.update(1)
        bar.set_postfix_str(f"{key}{': ' + note if note else ''}")

    return update
