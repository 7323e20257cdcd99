"""Ctrl-C inside a guarded compiled call ends the process at once and leaves no temporary output behind."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from analysis.interrupt import STATUS, hard_interrupt

# A guarded call that Python cannot interrupt between bytecodes: the SIGINT handler installed by the guard does
# nothing, so only the watcher can end the process.  An output directory is in progress when the signal comes.
SCRIPT = textwrap.dedent("""
    import signal, sys, time
    from pathlib import Path
    from analysis import io
    from analysis.interrupt import hard_interrupt

    out = Path(sys.argv[1])
    # as in a command run from a terminal; a process started in the background inherits SIGINT ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with io.atomic_dir(out / "results") as tmp, io.atomic_path(out / "fit.nc") as part:
        (tmp / "half.csv").write_text("a,b\\n")
        part.write_text("half")
        with hard_interrupt("sampling"):
            print("ready", flush=True)
            for _ in range(600):
                time.sleep(0.05)
    print("finished", flush=True)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_in_guarded_call_exits_130_and_leaves_nothing(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == STATUS == 130
    assert time.monotonic() - t0 < 10  # at once, not after the 30 s body
    assert "finished" not in out
    assert "interrupted during sampling" in err and "Nothing from this step was written" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert sorted(os.listdir(tmp_path)) == []  # neither the directory nor the file in progress is left


def test_an_ignored_sigint_is_left_ignored():
    """A background process (SIGINT ignored) gets no guard: Ctrl-C is not meant for it."""
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with hard_interrupt():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, old)


@pytest.fixture
def terminal_sigint():
    """SIGINT handled as in a command run from a terminal (a test run started in the background inherits it
    ignored, and the guard then rightly does nothing)."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def test_guard_restores_the_handler_and_ignores_its_own_release(terminal_sigint):
    before = signal.getsignal(signal.SIGINT)
    with hard_interrupt():
        assert signal.getsignal(signal.SIGINT) is not before
    assert signal.getsignal(signal.SIGINT) is before
    assert not [t for t in threading.enumerate() if t.name == "svi-interrupt"]


def test_guard_is_a_no_op_off_the_main_thread(terminal_sigint):
    seen = []

    def worker():
        with hard_interrupt():
            seen.append(signal.getsignal(signal.SIGINT))

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [signal.default_int_handler]


def test_guard_leaves_a_foreign_handler_alone(terminal_sigint):
    def mine(signum, frame):
        pass

    old = signal.signal(signal.SIGINT, mine)
    try:
        with hard_interrupt():
            assert signal.getsignal(signal.SIGINT) is mine
    finally:
        signal.signal(signal.SIGINT, old)
