"""Manifests: how validation and claims results reach the methodology paper.

A producer (``svi validate``, ``svi claims``) writes its tables and figures into one directory together with
``manifest.json``: an ordered list of items, each a titled piece of text (Markdown, numbers already computed
from the results) with an optional table (CSV in the same directory) and an optional figure (PNG or SVG in the
same directory).  The report renders every item in order, so no number in those sections is typed by hand.

    {"producer": "svi validate", "created": "...", "model_id": "...", "items": [
        {"id": "sbc", "title": "Simulation-based calibration", "text": "...", "table": "sbc_summary.csv",
         "figure": "sbc_ranks.png", "caption": "...", "passed": true}, ...]}

``passed`` is optional (true / false / null); a section with ``passed: false`` is shown as a failed check.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from analysis import io


@dataclass
class Item:
    id: str
    title: str
    text: str
    table: str | None = None        # CSV file name in the manifest's directory
    figure: str | None = None       # PNG/SVG file name in the manifest's directory
    caption: str | None = None
    passed: bool | None = None
    extra: dict = field(default_factory=dict)  # machine-readable figures (for tests and the paper's inline numbers)


def write_manifest(directory: str | Path, producer: str, items: list[Item], **meta) -> Path:
    directory = Path(directory)
    for it in items:
        for f in (it.table, it.figure):
            if f is not None and not (directory / f).exists():
                raise FileNotFoundError(f"manifest item {it.id!r} names {f}, which is not in {directory}")
    doc = {"producer": producer, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
           **meta, "items": [asdict(it) for it in items]}
    io.write_json(directory / "manifest.json", doc)
    return directory / "manifest.json"


def read_manifest(directory: str | Path) -> dict | None:
    """The manifest in ``directory``, or None when there is none."""
    p = Path(directory) / "manifest.json"
    if not p.exists():
        return None
    return json.loads(p.read_text(encoding="utf-8"))
