"""Atomic output: a failure never leaves a half-written file behind.

Every writer renders into a temporary file in the destination directory and
``os.replace``s it into place, which is atomic on POSIX file systems.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pandas as pd


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish_mode(path: Path, directory: bool = False) -> None:
    """mkstemp/mkdtemp create owner-only (0600/0700) entries; give outputs the usual umask-based mode."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


@contextlib.contextmanager
def atomic_path(dest: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; move it into place on success."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix or dest.suffix or ".tmp",
                               dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _publish_mode(tmp_path)
        os.replace(tmp_path, dest)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(dest: str | Path, text: str) -> Path:
    with atomic_path(dest) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(dest)


def write_json(dest: str | Path, obj: Any) -> Path:
    return write_text(dest, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_table(df: pd.DataFrame, dest_stem: str | Path, formats: tuple[str, ...] = ("parquet", "csv")) -> list[Path]:
    """Write ``df`` as ``<stem>.parquet`` and ``<stem>.csv``, each atomically."""
    dest_stem = Path(dest_stem)
    out = []
    for fmt in formats:
        dest = dest_stem.with_suffix(f".{fmt}")
        with atomic_path(dest) as tmp:
            if fmt == "parquet":
                df.to_parquet(tmp, index=False)
            elif fmt == "csv":
                df.to_csv(tmp, index=False)
            else:  # pragma: no cover - programming error
                raise ValueError(f"unknown format {fmt}")
        out.append(dest)
    return out


@contextlib.contextmanager
def atomic_dir(dest: str | Path) -> Iterator[Path]:
    """Build a whole output directory in a sibling temp dir, then swap it in.

    If the body raises, the previous contents of ``dest`` are untouched.
    """
    import shutil

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        yield tmp
        _publish_mode(tmp, directory=True)
        old = None
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
            os.replace(dest, old)
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
