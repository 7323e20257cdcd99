"""Where svi's package data live, in a source checkout and in an installed wheel alike.

One function per location.  In a source checkout the files stay where the design puts them (``papers/``,
``data/registry.toml`` and ``models/default.toml`` at the top of the repository); the wheel carries copies as
package data (``analysis/_papers/``, ``analysis/_data/registry.toml``; see ``[tool.setuptools]`` in
``pyproject.toml``), found with :mod:`importlib.resources`.  A checkout is recognised by its
``pyproject.toml`` naming the ``svi`` project beside ``analysis/``, so an installed copy is never mistaken for
one and a stale copy inside a checkout never shadows the files being edited.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from analysis.errors import SVIError

_PACKAGE_ROOT = Path(__file__).resolve().parent


def checkout_root() -> Path | None:
    """The root of the source checkout this package runs from, or ``None`` when it runs from an installed wheel."""
    root = _PACKAGE_ROOT.parent
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    return root if 'name = "svi"' in text else None


def _packaged(*parts: str) -> Path:
    """A file or directory shipped inside the installed ``analysis`` package."""
    resource = files("analysis").joinpath(*parts)
    if not isinstance(resource, Path):  # pragma: no cover - zip imports are not supported
        raise SVIError(f"svi's package data ({'/'.join(parts)}) are not on the file system; install svi from its "
                       "wheel with pip (not as a zip archive)")
    return resource


def _locate(checkout_parts: tuple[str, ...], packaged_parts: tuple[str, ...], what: str) -> Path:
    root = checkout_root()
    path = root.joinpath(*checkout_parts) if root is not None else _packaged(*packaged_parts)
    if not path.exists():
        raise SVIError(f"{what} not found at {path}: the installation is incomplete; reinstall svi (pip install "
                       "--force-reinstall svi) or run it from a complete source checkout")
    return path


def papers_dir() -> Path:
    """The Quarto sources of the methodology paper and the trust documents (``papers/``)."""
    return _locate(("papers",), ("_papers",), "the report sources (papers/)")


def registry_path() -> Path:
    """The download registry of official publications (``data/registry.toml``)."""
    return _locate(("data", "registry.toml"), ("_data", "registry.toml"), "the download registry (registry.toml)")


def default_config() -> Path:
    """The default model configuration (``models/default.toml``, package data of ``models`` in both layouts)."""
    path = files("models").joinpath("default.toml")
    if not isinstance(path, Path) or not path.exists():  # pragma: no cover - incomplete installation
        raise SVIError("the default model configuration (models/default.toml) is missing: reinstall svi")
    return path


def default_cache_dir() -> Path:
    """The download cache when neither ``--cache-dir`` nor ``$SVI_DATA_DIR`` is given: ``data/cache`` in a source
    checkout (git-ignored); for an installed wheel ``$XDG_CACHE_HOME/svi`` (default ``~/.cache/svi``)."""
    root = checkout_root()
    if root is not None:
        return root / "data" / "cache"
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(base).expanduser() if base else Path.home() / ".cache") / "svi"
