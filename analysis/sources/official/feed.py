"""How one official publication feeds the panel: :class:`PanelFeed`, declared beside each parser."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class PanelFeed:
    """The panel columns one official publication supplies, and what happens where it is silent.

    ``to_panel`` maps the parser's tidy frame to one row per code (``key`` = ``"trust"``: ODS organisation code;
    ``"area"``: local authority district code), with ``columns`` as its columns.  For a trust feed these are panel
    columns; for an area feed they are the columns of the compiled area file it supersedes (``replaces``),
    which the panel build then weights by catchment as before.

    ``fallback`` says what a trust (or area) that the publication does not cover gets: ``"compiled"`` keeps the
    shared compilation's value (the definitions agree), ``"missing"`` sets the columns missing because the
    compilation measures something else (the model then leaves that indicator out for the trust).  Either way
    the trust stays in the panel and the quality report names it.

    ``key`` = ``"monthly"``: ``to_panel`` gives provider x month rows in the tidy layout of
    :mod:`analysis.sources.monthly` (codes as reported that month), which the build maps to today's trusts and
    sums over the financial year as it does the compiled monthly file ``replaces`` names
    (:func:`analysis.real_panel._cancer_counts`).  ``together`` names the other registry entries a feed is read
    with (the two halves of one financial year): all of them are used, or none.
    """

    entry: str  # registry entry name (data/registry.toml)
    key: str  # "trust" or "area"
    columns: tuple[str, ...]
    to_panel: Callable[[pd.DataFrame], pd.DataFrame]
    replaces: str  # name of the compiled source (analysis.sources.SOURCES) these columns come from otherwise
    fallback: str = "compiled"
    raw_columns: dict[str, str] = field(default_factory=dict)  # output column -> column as published
    note: str = ""  # how the official values differ from the compiled ones
    together: tuple[str, ...] = ()  # other registry entries read with this one: all used, or none

    def __post_init__(self):
        if self.key not in ("trust", "area", "monthly") or self.fallback not in ("compiled", "missing"):
            raise ValueError(f"feed {self.entry}: key must be trust/area/monthly, fallback compiled/missing")
