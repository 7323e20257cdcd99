"""Package data are found in a source checkout and, through importlib.resources, in an installed wheel
(the installed case end to end: tests/test_wheel.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis import resources
from analysis.errors import SVIError

REPO = Path(__file__).resolve().parents[2]


def test_a_checkout_uses_its_own_top_level_files():
    assert resources.checkout_root() == REPO
    assert resources.papers_dir() == REPO / "papers"
    assert (resources.papers_dir() / "methodology.qmd").is_file()
    assert resources.registry_path() == REPO / "data" / "registry.toml"
    assert resources.default_config() == REPO / "models" / "default.toml"
    assert resources.default_cache_dir() == REPO / "data" / "cache"


def test_outside_a_checkout_the_packaged_copies_are_used(monkeypatch, tmp_path):
    monkeypatch.setattr(resources, "checkout_root", lambda: None)
    # a checkout has no packaged copies (only the wheel does): the message says how to repair the installation
    with pytest.raises(SVIError, match=r"the report sources \(papers/\) not found at .*analysis/_papers: .*reinstall"):
        resources.papers_dir()
    with pytest.raises(SVIError, match=r"registry.toml\) not found at .*analysis/_data/registry.toml"):
        resources.registry_path()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resources.default_cache_dir() == tmp_path / "xdg" / "svi"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert resources.default_cache_dir() == Path.home() / ".cache" / "svi"


def test_a_pyproject_of_another_project_is_not_a_checkout(monkeypatch, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\n')
    monkeypatch.setattr(resources, "_PACKAGE_ROOT", tmp_path / "analysis")
    assert resources.checkout_root() is None
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "svi"\n')
    assert resources.checkout_root() == tmp_path
