"""Text formatting shared by the documents and the claims: Markdown-ready numbers, intervals, names and tables.

Every function returns a string that pandoc and Quarto read the same way (special characters escaped, typographic
minus signs); a missing value is written ``n/a``.
"""

from __future__ import annotations

import math
import re
from typing import Callable

import numpy as np
import pandas as pd


MINUS = "\u2212"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|$~^@&])")


def md(text) -> str:
    """Escape plain text for Markdown (pandoc and Quarto): ``Ashby & Vale`` stays literal, no markup is formed."""
    s = str(text).replace("\r", " ").replace("\n", " ")
    s = _MD_SPECIAL.sub(r"\\\1", s)
    # a leading list or heading marker would change the block type where a value starts a line
    return re.sub(r"^([-+]|\d+[.)])(\s)", r"\\\1\2", s)


_SMALL_WORDS = {"and", "of", "upon", "the", "for", "on", "in", "at", "with"}
_KEEP_UPPER = {"NHS", "UK", "ICB", "ICS", "UCL"}


def display_name(name: str) -> str:
    """A readable form of an all-capitals published trust name (others are returned unchanged).

    ``GUY'S AND ST THOMAS' NHS FOUNDATION TRUST`` -> ``Guy's and St Thomas' NHS Foundation Trust``.
    """
    name = str(name).strip()
    if not name or name != name.upper() or not any(c.isalpha() for c in name):
        return name
    words = []
    for i, w in enumerate(name.split(" ")):
        core = re.sub(r"[^A-Za-z]", "", w)
        if core in _KEEP_UPPER:
            words.append(w)
        elif i > 0 and core.lower() in _SMALL_WORDS and w.isalpha():
            words.append(w.lower())
        else:  # capitalise each hyphen/parenthesis-separated part; letters after an apostrophe stay lower
            words.append(re.sub(r"(^|[-(/])([a-z])", lambda m: m.group(1) + m.group(2).upper(), w.lower()))
    return " ".join(words)


def short_name(name: str) -> str:
    """Display name without the ``NHS (Foundation) Trust`` ending, for lists of peers."""
    return re.sub(r"\s+NHS( Foundation)? Trust$", "", display_name(name)) or display_name(name)


def known(x) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x)) and not pd.isna(x)


def num(x, d: int = 2) -> str:
    if not known(x):
        return "n/a"
    s = f"{float(x):,.{d}f}"
    if s.startswith("-"):  # typographic minus; no sign on a value that rounds to zero
        s = s[1:] if float(s[1:].replace(",", "")) == 0 else MINUS + s[1:]
    return s


def signed(x, d: int = 2) -> str:
    if not known(x):
        return "n/a"
    s = f"{float(x):+,.{d}f}"
    if s.strip("+-0.,") == "":  # rounds to zero: no sign
        return s[1:]
    return s.replace("-", MINUS)


def pct(p) -> str:
    """A probability as a percentage; never 0% or 100% (a finite number of draws cannot show certainty).

    Markdown-ready: ``>99%`` alone would be a block quote, so the sign is escaped.
    """
    if not known(p):
        return "n/a"
    s = f"{100 * float(p):.0f}"  # the rounded figure decides: 0.005 rounds (half to even) to "0"
    if s in ("0", "-0"):
        return md("<1%")
    if s == "100":
        return md(">99%")
    return f"{s}%"


def money(x, d: int | None = None) -> str:
    """GBP million: one decimal below £100m, none above (``d`` fixes it)."""
    if not known(x):
        return "n/a"
    d = (1 if abs(float(x)) < 99.95 else 0) if d is None else d
    return f"£{float(x):,.{d}f}m".replace("£-", f"{MINUS}£")


def count(x) -> str:
    return "n/a" if not known(x) else f"{float(x):,.0f}"


def rank(x) -> str:
    return "n/a" if not known(x) else f"{float(x):.0f}"


def interval(lo, hi, f: Callable = num, **kw) -> str:
    if not (known(lo) and known(hi)):
        return "n/a"
    return f"{f(lo, **kw)} to {f(hi, **kw)}"


def md_table(header: list[str], rows: list[list[str]], widths: list[int] | None = None,
             align: str | None = None) -> str:
    """A pipe table whose separator line is wider than 72 characters, so both renderers use ``widths``."""
    n = len(header)
    widths = widths or [1] * n
    total = sum(widths)
    dashes = [max(3, round(100 * w / total)) for w in widths]
    align = align or "l" + "r" * (n - 1)
    sep = []
    for a, k in zip(align, dashes):
        sep.append(":" + "-" * (k - 1) if a == "l" else "-" * (k - 1) + ":" if a == "r" else ":" + "-" * (k - 2) + ":")
    cell = lambda s: str(s).replace("|", "\\|")
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "|".join(sep) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def code_span(s) -> str:
    """Inline code (file names, commands): literal inside backticks, so no Markdown escaping."""
    return "`" + " ".join(str(s).replace("`", "'").split()) + "`"


def table_cell(x) -> str:
    """One cell of a manifest's CSV table, as Markdown: numbers to 4 significant figures (thousands separated)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}".replace("-", MINUS)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if math.isinf(x):
            return ("" if x > 0 else MINUS) + "∞"
        if x == int(x) and abs(x) < 1e15:
            s = f"{int(x):,}"
        elif abs(x) >= 1000:
            s = f"{x:,.0f}"
        else:
            s = f"{x:.4g}"
        return s.replace("-", MINUS) if s.startswith("-") else s
    s = str(x)
    return md(s if len(s) <= 60 else s[:59] + "…")
