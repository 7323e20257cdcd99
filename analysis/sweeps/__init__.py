"""Validation sweeps as tasks on a Dask cluster (issue 18).

A sweep is a list of independent tasks.  A task is a pure function of (a shared context, small arguments such as
a seed or a replication number) returning a small result; the driver writes each result atomically under the
results directory as soon as it arrives (a :class:`Store`), so a sweep that dies, or loses a worker, resumes where
it stopped, and a task is a function of its inputs only, so it gives the same result wherever it runs.

* :class:`Task`, :class:`Sweep`, :class:`JsonStore`: what to run and where its results are kept.
* :class:`Engine`: runs sweeps serially in this process (``--scheduler serial``), on a ``LocalCluster`` sized to
  the machine (the default), or on an existing cluster (``--scheduler tcp://HOST:PORT`` or ``$SVI_SCHEDULER``).
  Tasks that fail are retried once, then reported together after every other task has finished.
* :func:`cached`: a per-process cache, so each worker compiles a model once and reuses it across its tasks.

SBC replications (:mod:`analysis.validation.sbc`) and refit variants (:mod:`analysis.variants`) are sweeps; a
backtest year or a point of a sensitivity grid is another task function with its own store.
"""

from analysis.sweeps.engine import (SCHEDULER_ENV, Engine, JsonStore, MemoryStore, Sweep, SweepError, Task, cached,
                                    default_workers)

__all__ = ["SCHEDULER_ENV", "Engine", "JsonStore", "MemoryStore", "Sweep", "SweepError", "Task", "cached",
           "default_workers"]
