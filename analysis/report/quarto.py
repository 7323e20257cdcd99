"""Quarto documents: front matter, ``{{< meta >}}`` and ``{{< include >}}`` shortcodes as Quarto resolves them, and
the Quarto engine (``quarto render`` on ``PATH``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from analysis import io
from analysis.errors import SVIError


FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
SHORTCODE = re.compile(r"\{\{<\s*(\w+)\s+([^>]*?)\s*>\}\}")


def read_qmd(path: Path) -> tuple[dict, str]:
    import yaml

    text = Path(path).read_text(encoding="utf-8")
    m = FRONT.match(text)
    if not m:
        return {}, text
    return yaml.safe_load(m.group(1)) or {}, text[m.end():]


def load_metadata(qmd: Path, front: dict) -> dict:
    """The document's metadata as Quarto sees it: ``metadata-files`` (in order) overlaid by the front matter."""
    import yaml

    meta: dict = {}
    for name in front.get("metadata-files", []) or []:
        p = qmd.parent / name
        if not p.exists():
            raise SVIError(f"{qmd.name}: metadata file {name} not found (the renderer writes it)")
        _merge(meta, yaml.load(p.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
               or {})
    _merge(meta, {k: v for k, v in front.items() if k != "metadata-files"})
    return meta


def _merge(a: dict, b: dict) -> None:
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(a.get(k), dict):
            _merge(a[k], v)
        else:
            a[k] = v


def resolve_shortcodes(body: str, meta: dict, base: Path, source: str = "document", depth: int = 0) -> str:
    """Replace ``{{< meta a.b >}}`` and ``{{< include file >}}`` as Quarto does; anything unknown is an error."""

    def sub(m: re.Match) -> str:
        kind, arg = m.group(1), m.group(2).strip().strip("\"'")
        if kind == "meta":
            val = meta
            for part in arg.split("."):
                if not isinstance(val, dict) or part not in val:
                    raise SVIError(f"{source}: {{{{< meta {arg} >}}}} has no value in the generated data")
                val = val[part]
            if isinstance(val, (dict, list)):
                raise SVIError(f"{source}: {{{{< meta {arg} >}}}} is not a single value")
            return str(val)
        if kind == "include":
            if depth > 5:
                raise SVIError(f"{source}: includes nested too deeply at {arg}")
            p = base / arg
            if not p.exists():
                raise SVIError(f"{source}: included file {arg} not found")
            return resolve_shortcodes(p.read_text(encoding="utf-8"), meta, p.parent, arg, depth + 1)
        raise SVIError(f"{source}: shortcode {kind!r} is not supported by the in-process renderer "
                       "(use meta or include)")

    return SHORTCODE.sub(sub, body)


def inline_for_quarto(qmd: Path, data: dict) -> None:
    """Quarto path: also put the values into the build copy's front matter, so they reach the document whether
    or not the Quarto version at hand reads ``metadata-files`` from a document's own front matter."""
    import yaml

    front, body = read_qmd(qmd)
    merged = dict(front)
    _merge(merged, data)
    io.write_text(qmd, "---\n" + yaml.safe_dump(merged, allow_unicode=True, sort_keys=False, width=10_000) +
                  "---\n" + body)


def resolved_markdown(qmd: Path) -> tuple[dict, dict, str]:
    front, body = read_qmd(qmd)
    meta = load_metadata(qmd, front)
    return front, meta, resolve_shortcodes(body, meta, qmd.parent, qmd.name)


def quarto_path() -> str | None:
    eng = os.environ.get("SVI_REPORT_ENGINE", "auto")
    if eng == "inprocess":
        return None
    q = shutil.which("quarto")
    if eng == "quarto" and q is None:
        raise SVIError("SVI_REPORT_ENGINE=quarto but quarto is not on PATH")
    return q


def quarto_render(qmd: Path, to: str) -> Path:
    """``quarto render <name>.qmd --to <to>`` in the build directory; returns the file it wrote beside the source
    (``<name>.pdf`` for ``typst``, ``<name>.html`` for ``html``), for the caller to move into place atomically."""
    q = quarto_path()
    cmd = [q, "render", qmd.name, "--to", to]
    r = subprocess.run(cmd, cwd=qmd.parent, capture_output=True, text=True)
    if r.returncode != 0:
        raise SVIError(f"quarto render {qmd.name} --to {to} failed:\n{r.stderr[-3000:]}")
    out = qmd.with_suffix(".pdf" if to == "typst" else ".html")
    if not out.exists():
        raise SVIError(f"quarto render did not write {out.name}")
    return out
