"""Atomic output: a failure never leaves a half-written file behind, and nothing a command did not write is deleted.

Every writer renders into a temporary file (or directory) beside the destination and ``os.replace``s it into
place, which is atomic on POSIX file systems.  Temporary names carry the writer's process id
(``.<name>.tmp-<pid>-<random>``, ``.<name>.old-<pid>``), so the next writer or reader of the same output can tell
debris left by a killed process from a run still in progress, and cleans it up or restores the previous output
(:func:`recover`), saying so on the ``svi`` logger.

A whole output directory (:func:`atomic_dir`) is replaced only when the command owns it: it is new, empty, or
holds the marker file ``.svi-output.json`` that the same command wrote there and nothing else than the files that
marker lists.  Anything else (an ordinary file, a results directory, a folder of the user's) is refused with
:class:`~analysis.errors.OutputError`, before any work is lost.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd

from analysis.errors import OutputError

log = logging.getLogger("svi")

#: Marker written into every directory :func:`atomic_dir` produces: who wrote it and which files it holds.
MARKER = ".svi-output.json"

#: Temporary files and directories of this process not yet published (see :func:`discard_in_progress`).
_IN_PROGRESS: set[Path] = set()


def discard_in_progress() -> None:
    """Remove this process's temporary outputs still being written; for a process about to end at once
    (:mod:`analysis.interrupt`), so that it leaves no debris for the next run to clean up."""
    for tmp in list(_IN_PROGRESS):
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


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
    recover(dest)
    if dest.is_dir():
        raise OutputError(f"cannot write the file {dest}: a directory of that name is in the way. Nothing was "
                          "changed; move the directory or choose another output path.")
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(dest), suffix=suffix or dest.suffix or ".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    _IN_PROGRESS.add(tmp_path)
    try:
        yield tmp_path
        _publish_mode(tmp_path)
        os.replace(tmp_path, dest)
    finally:
        _IN_PROGRESS.discard(tmp_path)
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


def _tmp_prefix(dest: Path) -> str:
    return f".{dest.name}.tmp-{os.getpid()}-"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        p.unlink(missing_ok=True)


def recover(dest: str | Path) -> list[str]:
    """Clean up after a writer of ``dest`` that was killed; returns what was done (also logged as notes).

    * ``.<name>.old-<pid>`` of a dead process: the previous output, moved aside just before the new one was moved
      in.  If ``dest`` is missing the kill came between the two renames: the previous output is restored.
      Otherwise the new output is in place and the old copy is removed.
    * ``.<name>.tmp-<pid>-*`` of a dead process (and the unnamed ``.<name>.<8 characters>`` temporaries of
      versions before process ids were recorded): an unfinished output, removed.

    Entries of a process still running are left alone (another svi may be writing the same output).
    """
    dest = Path(dest)
    parent = dest.parent
    done: list[str] = []
    if not parent.is_dir():
        return done
    prefix = f".{dest.name}."
    try:
        # a moved-aside previous version first: restoring it is what matters most
        entries = sorted((p for p in parent.iterdir() if p.name.startswith(prefix)),
                         key=lambda p: (not p.name.startswith(f"{prefix}old-"), p.name))
    except OSError:
        return done
    for entry in entries:
        rest = entry.name[len(prefix):]
        m_old = re.fullmatch(r"old-(\d+)", rest)
        m_tmp = re.fullmatch(r"tmp-(\d+)-.+", rest)
        legacy = re.fullmatch(r"[a-z0-9_]{8}(\.[A-Za-z0-9]+)?", rest)
        if not (m_old or m_tmp or legacy):
            continue
        pid = int((m_old or m_tmp).group(1)) if (m_old or m_tmp) else None
        if pid is not None and _alive(pid):
            continue
        who = f"process {pid}" if pid is not None else "an earlier run"
        if m_old and not dest.exists() and not dest.is_symlink():
            os.replace(entry, dest)
            done.append(f"{dest} was missing: {who} was stopped while swapping in a new version, after moving the "
                        f"previous one aside to {entry.name}; the previous version has been restored")
        elif m_old:
            _remove(entry)
            done.append(f"removed {entry}, the previous version of {dest.name} kept aside by {who}, which was stopped "
                        f"after the new version was in place")
        else:
            _remove(entry)
            done.append(f"removed {entry}, an unfinished output left by {who}, which was stopped while writing "
                        f"{dest.name}; {dest} itself was not changed")
    for msg in done:
        log.warning(msg)
    return done


def _listing(names: list[str], n: int = 6) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def check_owned(dest: str | Path, owner: str, legacy: Callable[[Path], bool] | None = None,
                hint: str = "") -> None:
    """Refuse (``OutputError``) unless ``dest`` may be replaced by ``owner``: it does not exist, is an empty
    directory, or is a directory ``owner`` wrote (its marker, or ``legacy(dest)`` for outputs of versions that
    wrote no marker) holding nothing else.  Never changes anything."""
    dest = Path(dest)
    hint = f" {hint}" if hint else ""
    for anc in [dest, *dest.parents]:
        if anc.exists() or anc.is_symlink():
            if not anc.is_dir():
                what = "is an existing file" if anc == dest else f"is inside {anc}, which is an existing file"
                raise OutputError(f"{dest} {what}, not a directory {owner} wrote; {owner} would have replaced it. "
                                  f"Nothing was changed. Move or rename the file, or give another output "
                                  f"directory.{hint}")
            break
    if not dest.is_dir():
        return
    if dest.is_symlink():
        raise OutputError(f"{dest} is a symbolic link; {owner} replaces its output directory as a whole and will "
                          f"not replace a link. Nothing was changed. Give the link's target or a new directory.{hint}")
    names = sorted(p.name for p in dest.iterdir())
    if not names:
        return
    marker = dest / MARKER
    if marker.is_file():
        try:
            doc = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            doc = {}
        if doc.get("written_by") == owner:
            foreign = [n for n in names if n != MARKER and n not in set(doc.get("files", []))]
            if not foreign:
                return
            raise OutputError(f"{dest} was written by {owner}, but it now also holds {_listing(foreign)}, which "
                              f"{owner} did not write and would have deleted. Nothing was changed. Move those files "
                              f"elsewhere, or give another output directory.{hint}")
        if doc.get("written_by"):
            raise OutputError(f"{dest} was written by {doc['written_by']}, not by {owner}; {owner} would have "
                              f"replaced all of it. Nothing was changed. Give another output directory.{hint}")
    elif legacy is not None and legacy(dest):
        return
    from analysis.results import PARTS, ResultsDir

    parts = [n for n in names if n in PARTS]
    fit = ResultsDir(dest).posterior
    if fit.exists() or len(parts) >= 2:
        held = (f"{fit.relative_to(dest)}, " if fit.exists() else "") + _listing([p + "/" for p in parts])
        raise OutputError(f"{dest} is a results directory (it holds {held}); {owner} writes only its own part and "
                          f"would have replaced all of it. Nothing was changed.{hint}")
    raise OutputError(f"{dest} already exists and holds {_listing(names)}, which {owner} did not write; it would "
                      f"have replaced the whole directory. Nothing was changed. Give a new or empty directory, or "
                      f"move these files elsewhere.{hint}")


@contextlib.contextmanager
def atomic_dir(dest: str | Path, owner: str | None = None, legacy: Callable[[Path], bool] | None = None,
               hint: str = "") -> Iterator[Path]:
    """Build a whole output directory in a sibling temp dir, then swap it in.

    If the body raises, the previous contents of ``dest`` are untouched.  With ``owner`` (the command, e.g.
    ``"svi data build"``) an existing ``dest`` is replaced only if :func:`check_owned` allows it, and the new
    directory records its owner and files in :data:`MARKER`.
    """
    dest = Path(dest)
    recover(dest)
    if owner is not None:
        check_owned(dest, owner, legacy, hint)
    elif dest.exists() and not dest.is_dir():
        raise OutputError(f"{dest} is an existing file, not an output directory. Nothing was changed; move the file "
                          "or give another output directory.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(dest), dir=dest.parent))
    _IN_PROGRESS.add(tmp)
    try:
        yield tmp
        if owner is not None:
            files = sorted(p.name for p in tmp.iterdir() if p.name != MARKER)
            (tmp / MARKER).write_text(json.dumps({"written_by": owner, "files": files}, indent=2) + "\n",
                                      encoding="utf-8")
            _publish_mode(tmp / MARKER)
        _publish_mode(tmp, directory=True)
        old = None
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
            os.replace(dest, old)
        os.replace(tmp, dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        _IN_PROGRESS.discard(tmp)
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
