"""Ctrl-C during a long compiled computation stops the command at once and leaves nothing behind.

Python runs its SIGINT handler only between bytecodes of the main thread.  While a sampler runs one long compiled
call (numpyro's chains are a single XLA computation), the ``KeyboardInterrupt`` waits until the call returns, or
lands in whatever Python code runs first, such as a garbage-collection callback of jax, which swallows it: the
fit then runs to the end and writes its outputs as if nothing had happened.

:func:`hard_interrupt` guards such a call.  The C-level signal handler writes the signal number to a pipe
(:func:`signal.set_wakeup_fd`) even while the main thread is inside compiled code; a watcher thread reading that
pipe removes the temporary outputs still in progress (:func:`analysis.io.discard_in_progress`), says so, and ends
the process with status 130, as the shell does for Ctrl-C.  Nothing is published during the guarded call, so
nothing half-finished can be left: outputs are published only after sampling, atomically (:mod:`analysis.io`).

The guard is a no-op outside the main thread (a worker of a sweep) and when someone else owns SIGINT (a notebook
kernel installs its own handler, and interrupting a notebook cell must not end the kernel).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Iterator

#: Exit status of a command stopped by Ctrl-C (128 + SIGINT), as the shell reports it.
STATUS = 128 + int(signal.SIGINT)

_WAKE = b"\xff"  # written by the guard itself to release the watcher; the kernel writes the signal number


def _message(what: str) -> str:
    return (f"svi: interrupted during {what}. Nothing from this step was written (outputs are published only "
            "after it finishes); files written by earlier steps are complete.\n")


@contextlib.contextmanager
def hard_interrupt(what: str = "sampling") -> Iterator[None]:
    """Run the body so that Ctrl-C ends the process at once, with nothing from the body published."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    from analysis import io

    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    try:
        previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    except ValueError:  # not the main interpreter
        os.close(read_fd)
        os.close(write_fd)
        yield
        return
    signal.signal(signal.SIGINT, lambda signum, frame: None)  # the watcher acts; the main thread carries on
    released = threading.Event()

    def watch() -> None:
        byte = os.read(read_fd, 1)
        if released.is_set() or byte == _WAKE:
            return
        sys.stderr.write(_message(what))
        sys.stderr.flush()
        io.discard_in_progress()
        os._exit(STATUS)

    watcher = threading.Thread(target=watch, name="svi-interrupt", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        released.set()
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.write(write_fd, _WAKE)
        watcher.join(timeout=5)
        os.close(read_fd)
        os.close(write_fd)
