"""Download the official publications in the registry into the local cache.

``svi data fetch`` calls :func:`run_fetch`.  For every requested entry of
``data/registry.toml`` it

1. reuses the cached copy when it is verified: it matches the pinned SHA-256,
   or, for an unpinned entry, the SHA-256 recorded in the cache manifest when
   it was downloaded (``force`` downloads again regardless);
2. otherwise streams the file (standard-library ``urllib`` only) into a
   temporary file beside its destination, hashing it on the way, with a
   progress bar on the terminal;
3. checks the size against ``Content-Length`` and the hash against the pin,
   and only then moves the file into place atomically: a failed, truncated or
   mismatching download never leaves a file (or a partial one) in the cache;
4. records the file in the cache manifest (``fetch_manifest.json``) and, when
   the entry is unpinned, warns with the hash to pin.

``base_url`` points at a mirror that holds the same file names: it replaces
the directory of each official URL.  Nothing is downloaded until every
requested name has been checked against the registry.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from tqdm import tqdm

from analysis.errors import ChecksumError, SVIError, SVIWarning
from analysis.io import atomic_path, write_json
from analysis.registry import Entry, Registry, load_registry, resolve_cache_dir

log = logging.getLogger(__name__)

MANIFEST_NAME = "fetch_manifest.json"
"""File in the cache directory that records every download (entry, URL, size, SHA-256)."""

USER_AGENT = "svi-data-fetch/0.1 (Python urllib; research use of official NHS statistics)"
DEFAULT_TIMEOUT = 60.0
_CHUNK = 1 << 16


class FetchError(SVIError):
    """A publication could not be downloaded (HTTP error, network failure, truncated or wrong content)."""


class UnpinnedDownloadWarning(SVIWarning):
    """A file was downloaded for a registry entry without a pinned SHA-256."""


def run_fetch(names: Iterable[str] | None, cache_dir: str | Path | None = None, base_url: str | None = None,
              force: bool = False, *, registry: Registry | str | Path | None = None,
              timeout: float = DEFAULT_TIMEOUT, progress: bool | None = None) -> list[Path]:
    """Download registry entries into the cache and return their paths, in request order.

    Parameters
    ----------
    names
        Registry entry names; ``None`` (or empty) fetches every entry.
    cache_dir
        Cache directory; default ``$SVI_DATA_DIR``, else ``data/cache`` (see
        :func:`analysis.registry.resolve_cache_dir`).
    base_url
        Mirror holding the same file names; replaces the directory of each URL.
    force
        Download again even when a verified copy is cached.
    registry
        A loaded :class:`~analysis.registry.Registry` or the path of a registry
        file; default ``data/registry.toml``.
    timeout
        Seconds to wait for the server on connect and between reads.
    progress
        Show a progress bar: ``None`` shows one only on a terminal.

    Raises
    ------
    RegistryError
        The registry is malformed or a name is unknown (nothing is downloaded).
    FetchError
        An entry has no URL, or a download failed.
    ChecksumError
        A download does not match its pinned SHA-256.
    """
    reg = registry if isinstance(registry, Registry) else load_registry(registry)
    entries = reg.select(list(names) if names else None)
    _check_urls(entries, base_url, reg.path)
    cache = resolve_cache_dir(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    manifest = Manifest.load(cache)
    paths = []
    for entry in entries:
        paths.append(_fetch_one(entry, cache, manifest, base_url=base_url, force=force, timeout=timeout,
                                progress=progress, registry_path=reg.path))
    return paths


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Manifest:
    """The cache manifest: one record per downloaded file, keyed by file name."""

    path: Path
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, cache_dir: Path) -> Manifest:
        path = cache_dir / MANIFEST_NAME
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            files = data["files"]
            if not isinstance(files, dict):
                raise TypeError("'files' is not an object")
        except (ValueError, KeyError, TypeError) as exc:
            warnings.warn(f"ignoring unreadable cache manifest {path} ({exc}); unpinned files will be "
                          "downloaded again", SVIWarning, stacklevel=3)
            return cls(path)
        return cls(path, files)

    def record(self, entry: Entry, *, url: str, sha256: str, size: int) -> None:
        self.files[entry.filename] = {
            "entry": entry.name,
            "url": url,
            "registry_url": entry.url,
            "sha256": sha256,
            "pinned": entry.pinned,
            "bytes": size,
            "downloaded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    def save(self) -> None:
        write_json(self.path, {"schema_version": 1, "files": self.files})


def _check_urls(entries: list[Entry], base_url: str | None, registry_path: Path) -> None:
    missing = [e for e in entries if e.download_url(base_url) is None]
    if not missing:
        return
    lines = [f"  - '{e.name}': open {e.source_page}, copy the link to the file and set url (and filename, "
             f"its last part; url_verified = true once checked) for this entry in {registry_path}"
             for e in missing]
    others = [e.name for e in entries if e not in missing]
    hint = f"\nTo fetch the others now: svi data fetch {' '.join(others)}" if others else ""
    raise FetchError("no download URL is known for " + ", ".join(f"'{e.name}'" for e in missing)
                     + " (the official link could not be confirmed when the registry was written):\n"
                     + "\n".join(lines)
                     + "\nOr download through a mirror that holds the same file names with --base-url."
                     + hint)


def _fetch_one(entry: Entry, cache: Path, manifest: Manifest, *, base_url: str | None, force: bool,
               timeout: float, progress: bool | None, registry_path: Path) -> Path:
    dest = cache / entry.filename
    if dest.exists() and not force:
        if _cached_copy_verified(entry, dest, manifest):
            log.info("%s: using verified cached copy %s", entry.name, dest)
            return dest
        log.warning("%s: cached copy %s is not verified; downloading it again", entry.name, dest)
    url = entry.download_url(base_url)
    assert url is not None  # checked by _check_urls
    digest, size = _download(entry, url, dest, timeout=timeout, progress=progress,
                             registry_path=registry_path, base_url=base_url)
    manifest.record(entry, url=url, sha256=digest, size=size)
    manifest.save()
    if entry.pinned:
        log.info("%s: downloaded %s (%d bytes, sha256 verified)", entry.name, dest, size)
    else:
        warnings.warn(
            f"'{entry.name}' is not pinned: {dest} was downloaded without a checksum to verify it against. "
            f"Its sha256 {digest} is recorded in {manifest.path}. Once you have checked the file, pin it by "
            f"setting sha256 = \"{digest}\" for '{entry.name}' in {registry_path}.",
            UnpinnedDownloadWarning, stacklevel=3)
    return dest


def _cached_copy_verified(entry: Entry, dest: Path, manifest: Manifest) -> bool:
    """True when ``dest`` matches the pin, or (unpinned) the hash recorded when it was downloaded."""
    return cached_copy_verified(entry, dest, manifest) is not None


def cached_copy_verified(entry: Entry, path: Path, manifest: Manifest) -> str | None:
    """The SHA-256 of a cached copy when it is verified, else ``None``.

    Verified means: it matches the registry's pinned SHA-256; or, for an unpinned entry, the SHA-256 that
    ``svi data fetch`` recorded in the cache manifest when it downloaded the file from the registry's URL.
    """
    actual = sha256_file(path)
    if entry.pinned:
        return actual if actual == entry.sha256 else None
    record = manifest.files.get(entry.filename)
    ok = bool(record) and record.get("sha256") == actual and record.get("registry_url") == entry.url
    return actual if ok else None


def _download(entry: Entry, url: str, dest: Path, *, timeout: float, progress: bool | None,
              registry_path: Path, base_url: str | None) -> tuple[str, int]:
    """Stream ``url`` to ``dest`` atomically; return (sha256, bytes). Raises on any failure."""
    request = Request(url, headers={"User-Agent": USER_AGENT})
    try:
        response = urlopen(request, timeout=timeout)
    except HTTPError as exc:
        raise FetchError(_http_error_message(entry, url, exc.code, exc.reason, dest, registry_path,
                                             base_url)) from None
    except (URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"could not download '{entry.name}' from {url}: {reason}. Nothing was written to "
                         f"{dest}. Check your internet connection (or proxy), or fetch from a mirror with "
                         "--base-url.") from None
    with response:
        content_type = response.headers.get_content_type()
        if content_type == "text/html" and not entry.filename.lower().endswith((".htm", ".html")):
            raise FetchError(f"could not download '{entry.name}': {url} returned a web page (text/html) instead "
                             f"of '{entry.filename}'. The link may now point to a landing or sign-in page; "
                             f"find the file on {entry.source_page or 'the publication page'} and update url in "
                             f"{registry_path}. Nothing was written to {dest}.")
        length = response.headers.get("Content-Length")
        expected_size = int(length) if length and length.isdigit() else None
        digest = hashlib.sha256()
        size = 0
        with atomic_path(dest) as tmp:
            try:
                with tmp.open("wb") as out, _progress_bar(entry.name, expected_size, progress) as bar:
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                        bar.update(len(chunk))
            except (http.client.HTTPException, OSError) as exc:
                raise FetchError(f"download of '{entry.name}' from {url} was interrupted after {size} bytes "
                                 f"({exc.__class__.__name__}: {exc}). The partial file was discarded; nothing "
                                 f"was written to {dest}. Try again.") from None
            if expected_size is not None and size != expected_size:
                raise FetchError(f"download of '{entry.name}' from {url} is truncated: received {size} of "
                                 f"{expected_size} bytes. The partial file was discarded; nothing was written "
                                 f"to {dest}. Try again.")
            actual = digest.hexdigest()
            if entry.pinned and actual != entry.sha256:
                raise ChecksumError(_checksum_message(entry, url, actual, dest, registry_path, base_url))
    return actual, size


def _http_error_message(entry: Entry, url: str, code: int, reason: str, dest: Path, registry_path: Path,
                        base_url: str | None) -> str:
    msg = f"could not download '{entry.name}': HTTP {code} {reason} from {url}. Nothing was written to {dest}."
    if base_url:
        return msg + f" Check that the mirror {base_url} holds '{entry.filename}'."
    msg += (f" The file may have been moved or re-issued by the publisher: find the current link on "
            f"{entry.source_page or 'the publication page'} and update url, filename and sha256 for "
            f"'{entry.name}' in {registry_path}.")
    if not entry.url_verified:
        msg += " (This URL was never confirmed: url_verified = false in the registry.)"
    return msg


def _checksum_message(entry: Entry, url: str, actual: str, dest: Path, registry_path: Path,
                      base_url: str | None) -> str:
    kept = (f"The cached file {dest} was left unchanged; delete it if it is not the file you expect."
            if dest.exists() else f"Nothing was written to {dest}.")
    where = (f"check that the mirror {base_url} holds the right file, or " if base_url else "")
    return (f"checksum mismatch for registry entry '{entry.name}' (file '{entry.filename}', from {url}):\n"
            f"  expected sha256 (registry): {entry.sha256}\n"
            f"  actual sha256 (download):   {actual}\n"
            f"The download was discarded. {kept}\n"
            f"What to do: if the publisher has re-issued the file (see "
            f"{entry.source_page or 'the publication page'}), check the new file and then set "
            f"sha256 = \"{actual}\" for '{entry.name}' in {registry_path} (a re-issue may also change url, "
            f"filename and period); otherwise {where}try again later, as the download may have been "
            f"corrupted in transit.")


@contextmanager
def _progress_bar(name: str, total: int | None, progress: bool | None) -> Iterator[tqdm]:
    disable = None if progress is None else not progress  # None: only on a terminal
    bar = tqdm(total=total, desc=name, unit="B", unit_scale=True, unit_divisor=1024, disable=disable,
               leave=False, dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()
