"""The download registry of official publications (``data/registry.toml``).

Each ``[[publication]]`` table in the registry names one file published by
NHS England, NHS Digital, MHCLG or OHID, where to download it, how to check
it and which function in :mod:`analysis.sources.official` parses it.  This module
loads and validates the registry and resolves the local cache directory; the
download itself lives in :mod:`analysis.fetch`.

Fields of an entry (all strings unless stated)::

    name          identifier used on the command line: lower case, digits, "_"
    description   what the file is, in one sentence
    publisher     organisation that publishes the file
    url           direct download link; "" when it could not be confirmed
    url_verified  bool: true when the link was confirmed, false when it is a
                  best determination (or empty) and must be checked on
                  ``source_page`` before relying on it
    source_page   publication (landing) page on which the link is listed
    filename      file name in the cache, equal to the last part of ``url``
    sha256        pinned SHA-256 of the file (64 hex digits), or "" (unpinned)
    parser        dotted name of the parsing function, "module.function"
    licence       licence of the data
    period        the period the data cover
    notes         optional free text (caveats, re-issues, how to update)

A pinned ``sha256`` is verified on every download and before a cached copy is
reused.  Unpinned entries are downloaded anyway; the hash actually received is
recorded in the cache manifest so that a person can check the file and then
pin it.  Every problem is reported as a :class:`RegistryError` that names the
registry file, the entry and the field.
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urlparse

import pandas as pd

from analysis import resources
from analysis.errors import SVIError

CACHE_DIR_ENV = "SVI_DATA_DIR"
"""Environment variable naming the cache directory when ``--cache-dir`` is not given."""

SCHEMA_VERSION = 1

_REQUIRED_FIELDS = ("name", "description", "publisher", "url", "filename", "sha256", "parser",
                    "licence", "period")
_OPTIONAL_FIELDS: dict[str, Any] = {"url_verified": False, "source_page": "", "notes": ""}
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_PARSER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")

Parser = Callable[[Path], pd.DataFrame]


class RegistryError(SVIError):
    """The registry is malformed, or names an entry that does not exist."""


@dataclass(frozen=True)
class Entry:
    """One official publication in the registry (see the module docstring for fields)."""

    name: str
    description: str
    publisher: str
    url: str
    filename: str
    sha256: str
    parser: str
    licence: str
    period: str
    url_verified: bool = False
    source_page: str = ""
    notes: str = ""

    @property
    def pinned(self) -> bool:
        """True when the registry pins the file's SHA-256."""
        return bool(self.sha256)

    def download_url(self, base_url: str | None = None) -> str | None:
        """The URL to download from.

        ``base_url`` (a mirror holding the same file names) replaces the
        directory of the official URL: the result is ``<base_url>/<filename>``.
        Returns ``None`` when the entry has no URL and no mirror is given.
        """
        if base_url:
            return base_url.rstrip("/") + "/" + quote(self.filename)
        return self.url or None

    def load_parser(self) -> Parser:
        """Import and return the parsing function named by ``parser``."""
        module_name, _, func_name = self.parser.rpartition(".")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise RegistryError(f"registry entry '{self.name}', field 'parser': cannot import module "
                                f"'{module_name}' ({exc})") from exc
        func = getattr(module, func_name, None)
        if not callable(func):
            raise RegistryError(f"registry entry '{self.name}', field 'parser': module '{module_name}' "
                                f"has no function '{func_name}'")
        return func

    def parse(self, path: str | Path) -> pd.DataFrame:
        """Parse a downloaded copy of this publication with its registered parser."""
        return self.load_parser()(Path(path))


@dataclass(frozen=True)
class Registry:
    """All entries of one registry file, in file order."""

    path: Path
    entries: tuple[Entry, ...]

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def get(self, name: str) -> Entry:
        """The entry called ``name``; a :class:`RegistryError` listing the known names otherwise."""
        for entry in self.entries:
            if entry.name == name:
                return entry
        hint = difflib.get_close_matches(name, self.names, n=1)
        suggestion = f" Did you mean '{hint[0]}'?" if hint else ""
        raise RegistryError(f"unknown registry entry '{name}'.{suggestion} Known entries in {self.path}: "
                            f"{', '.join(self.names)}")

    def select(self, names: Iterable[str] | None) -> list[Entry]:
        """Entries for ``names`` (duplicates dropped, order kept); all entries when ``names`` is None.

        Every name is checked before anything is returned, so a typo never
        leaves a half-finished download behind.
        """
        if names is None:
            return list(self.entries)
        wanted = list(dict.fromkeys(names))
        unknown = [n for n in wanted if n not in self.names]
        if unknown:
            if len(unknown) == 1:
                self.get(unknown[0])  # raises with a suggestion
            raise RegistryError(f"unknown registry entries: {', '.join(repr(n) for n in unknown)}. "
                                f"Known entries in {self.path}: {', '.join(self.names)}")
        return [self.get(n) for n in wanted]


def load_registry(path: str | Path | None = None) -> Registry:
    """Load and validate a registry file (default: :func:`analysis.resources.registry_path`, ``data/registry.toml``
    in a checkout, its copy in an installed wheel)."""
    path = Path(path) if path is not None else resources.registry_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RegistryError(f"registry file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise RegistryError(f"registry file {path} is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"registry file {path} is not valid TOML: {exc}") from None
    return Registry(path=path, entries=tuple(_validate(path, data)))


def _validate(path: Path, data: dict[str, Any]) -> list[Entry]:
    unknown_top = sorted(set(data) - {"schema_version", "publication"})
    if unknown_top:
        raise RegistryError(f"{path}: unknown top-level key(s) {', '.join(unknown_top)}; "
                            "expected 'schema_version' and [[publication]] tables")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise RegistryError(f"{path}: field 'schema_version' must be {SCHEMA_VERSION}, got {version!r}")
    tables = data.get("publication")
    if not isinstance(tables, list) or not tables:
        raise RegistryError(f"{path}: no [[publication]] entries found")

    entries: list[Entry] = []
    seen_names: dict[str, int] = {}
    seen_files: dict[str, str] = {}
    for index, table in enumerate(tables, start=1):
        entry = _validate_entry(path, index, table)
        if entry.name in seen_names:
            raise RegistryError(f"{path}: entry #{index} ('{entry.name}'), field 'name': duplicate of "
                                f"entry #{seen_names[entry.name]}")
        if entry.filename in seen_files:
            raise RegistryError(f"{path}: entry '{entry.name}', field 'filename': '{entry.filename}' is "
                                f"already used by entry '{seen_files[entry.filename]}'")
        seen_names[entry.name] = index
        seen_files[entry.filename] = entry.name
        entries.append(entry)
    return entries


def _validate_entry(path: Path, index: int, table: Any) -> Entry:
    label = f"entry #{index}"
    if isinstance(table, dict) and isinstance(table.get("name"), str) and table["name"]:
        label = f"entry '{table['name']}'"

    def fail(field: str, message: str) -> RegistryError:
        return RegistryError(f"{path}: {label}, field '{field}': {message}")

    if not isinstance(table, dict):
        raise RegistryError(f"{path}: {label} is not a table")
    unknown = sorted(set(table) - set(_REQUIRED_FIELDS) - set(_OPTIONAL_FIELDS))
    if unknown:
        allowed = ", ".join((*_REQUIRED_FIELDS, *_OPTIONAL_FIELDS))
        raise fail(unknown[0], f"unknown field (allowed: {allowed})")
    for field in _REQUIRED_FIELDS:
        if field not in table:
            raise fail(field, "missing (write field = \"\" if the value is not known)"
                       if field in ("url", "sha256") else "missing")
    values: dict[str, Any] = {**_OPTIONAL_FIELDS, **table}
    for field, value in values.items():
        if field == "url_verified":
            if not isinstance(value, bool):
                raise fail(field, f"must be true or false, got {value!r}")
        elif not isinstance(value, str):
            raise fail(field, f"must be a string, got {type(value).__name__} {value!r}")
    values = {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items()}

    for field in ("name", "description", "publisher", "filename", "parser", "licence", "period"):
        if not values[field]:
            raise fail(field, "must not be empty")
    if not _NAME_RE.match(values["name"]):
        raise fail("name", f"{values['name']!r} must start with a lower-case letter and contain only "
                           "lower-case letters, digits and '_'")
    filename = values["filename"]
    if "/" in filename or "\\" in filename or filename in (".", "..") or filename.startswith("."):
        raise fail("filename", f"{filename!r} must be a plain file name (no directories, not hidden)")
    sha = values["sha256"].lower()
    if sha and not _SHA256_RE.match(sha):
        raise fail("sha256", f"{values['sha256']!r} is not a SHA-256 (64 hexadecimal digits); "
                             "leave it empty (\"\") if the file is not pinned")
    values["sha256"] = sha
    if not _PARSER_RE.match(values["parser"]):
        raise fail("parser", f"{values['parser']!r} is not a dotted name like 'analysis.sources.official.parse_x'")

    url = values["url"]
    if url:
        parts = urlparse(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise fail("url", f"{url!r} is not an http(s) URL")
        basename = unquote(PurePosixPath(parts.path).name)
        if basename != filename:
            raise fail("filename", f"{filename!r} differs from the last part of the url ({basename!r}); "
                                   "they must match so that --base-url mirrors can use the same names")
    elif values["url_verified"]:
        raise fail("url_verified", "is true but 'url' is empty")
    page = values["source_page"]
    if page and urlparse(page).scheme not in ("http", "https"):
        raise fail("source_page", f"{page!r} is not an http(s) URL")
    if not url and not page:
        raise fail("source_page", "must be given when 'url' is empty, so that a person can find the file")
    return Entry(**values)


def resolve_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """The directory that holds downloaded publications.

    In order of precedence: the ``cache_dir`` argument (``--cache-dir``), the
    environment variable ``SVI_DATA_DIR``, else :func:`analysis.resources.default_cache_dir`
    (``data/cache`` in a checkout, git-ignored; ``~/.cache/svi`` for an installed wheel).  The directory is not
    created here.
    """
    if cache_dir is not None and str(cache_dir) != "":
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return resources.default_cache_dir()
