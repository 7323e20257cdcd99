"""Process-level setup that must run before PyTensor is imported.

PyTensor looks for a BLAS at import time and, after a plain pip install, warns
"could not link to a BLAS installation" and falls back to slow NumPy C-API
calls.  Debian's ``libopenblas-dev`` is not detected on its own; telling
PyTensor the linker flag is enough (measured in ``../shared/TOOLCHAIN.md``:
one log-density+gradient call 200 us -> 114 us).
"""

from __future__ import annotations

import ctypes.util
import os


def configure_pytensor_blas() -> str | None:
    """Point PyTensor at OpenBLAS when it is installed and not configured.

    Respects a user's own ``blas__ldflags`` in ``PYTENSOR_FLAGS``.  Returns the
    flag it set, or ``None`` when it changed nothing.
    """
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    if "blas__ldflags" in flags or "blas.ldflags" in flags:
        return None
    if ctypes.util.find_library("openblas") is None:
        return None
    new = "blas__ldflags=-lopenblas"
    os.environ["PYTENSOR_FLAGS"] = f"{flags},{new}" if flags else new
    return new
