"""``svi report``: the methodology paper (HTML and PDF) and three board documents (PDF) per trust.

Sources
    ``papers/methodology.qmd`` (the paper) and, per trust, ``papers/slide.qmd`` (one landscape opening slide),
    ``papers/appendix.qmd`` (the full appendix) and ``papers/handout.qmd`` (a one-page pre-read handout) are Quarto
    documents with no executable cells.  Every number in them is a ``{{< meta svi.KEY >}}`` shortcode, and every
    table whose length depends on the results is a ``{{< include _generated/NAME.md >}}`` shortcode.  For each
    document this module writes, into a build directory beside a copy of the ``.qmd``:

    * ``_data.yml``  the values (named in the front matter's ``metadata-files``), already formatted as Markdown
      text (so ``Ashby & Vale`` arrives escaped and both renderers parse it the same way); a trust's three board
      documents share one ``_data.yml`` and one ``figures/``;
    * ``_generated/*.md``  the generated tables, including the paper's validation and claims sections, rendered
      from ``<results>/validation/manifest.json`` and ``<results>/claims/manifest.json`` (:mod:`analysis.manifest`),
      whose figures are copied to ``validation/`` and ``claims/`` beside the paper;
    * ``figures/*.svg``  the figures (:mod:`analysis.figures`), from the result tables only.

Renderers
    * ``quarto`` on ``PATH``: ``quarto render <file>.qmd --to html|typst`` in the build directory (Quarto reads
      ``_data.yml`` itself; the values are also inlined into the build copy's front matter).
    * otherwise, in this process: the shortcodes are resolved from the same files, pandoc (``pypandoc``) turns
      the Markdown into Typst (and into self-contained HTML for the paper), and the ``typst`` package compiles
      the PDF.  The board documents of all trusts go through two pandoc calls in all (templates and values
      converted separately, see :func:`_board_typst`), and figures and Typst compilation run in two worker
      processes.

Outputs (each written atomically; a failure never leaves a half-written file)::

    <results>/reports/methodology.html, methodology.pdf
    <results>/reports/appendices/<CODE>_slide.pdf      one page, 16:9 landscape
    <results>/reports/appendices/<CODE>_appendix.pdf   the full appendix, A4 portrait
    <results>/reports/appendices/<CODE>_handout.pdf    one page, A4 portrait

Results marked ``tables/UNPUBLISHABLE`` (failed convergence gate): board documents are refused with an error; the
paper still renders, with the failure stated at the top, on every page and in the diagnostics section.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from analysis import io
from analysis.errors import SVIError
from analysis.fitinfo import attempts_text, timing_text
from analysis.results import TABLE_NAMES, ResultsDir
from analysis.summaries.derived import headline_values

REPO = Path(__file__).resolve().parents[1]
PAPERS = REPO / "papers"
PAPER_QMD = PAPERS / "methodology.qmd"
APPENDIX_QMD = PAPERS / "appendix.qmd"
SLIDE_QMD = PAPERS / "slide.qmd"
HANDOUT_QMD = PAPERS / "handout.qmd"
BOARD_DOCS = (("slide", SLIDE_QMD), ("appendix", APPENDIX_QMD), ("handout", HANDOUT_QMD))  # in reading order
SPLIT = "// SVI-APPENDIX-SPLIT"
MINUS = "\u2212"


class UnpublishableError(SVIError):
    """The results failed the convergence gate: trust appendices must not be rendered from them."""


# ============================================================================ results

@dataclass
class Results:
    """Everything the documents draw on, read from one results directory."""

    out: Path
    tables: dict[str, pd.DataFrame]
    panel: pd.DataFrame
    gate: dict
    attrs: dict
    config: dict
    manifest: dict
    quality: dict
    dictionary: pd.DataFrame | None
    unpublishable: str | None
    model_notes: str | None
    manifests: dict  # "validation" / "claims" -> (directory, manifest or None), see analysis.manifest
    sample_stats: dict = field(default_factory=dict)
    _fig: object = None

    @property
    def headlines(self) -> dict[str, float]:
        return headline_values(self.tables["headlines"])

    @property
    def codes(self) -> list[str]:
        vi = self.tables["value_index"]
        return sorted(vi.loc[vi.measure == "value_index", "org_code"].unique())

    @property
    def figdata(self):
        if self._fig is None:
            from analysis.figures import FigureData

            self._fig = FigureData.from_tables(self.tables, self.panel)
        return self._fig


def load_results(out: str | Path) -> Results:
    """Everything the documents draw on, read through :class:`analysis.results.ResultsDir` and checked to come
    from one run."""
    rd = ResultsDir(out)
    out = rd.root
    tables = rd.read_tables(TABLE_NAMES)
    panel = rd.read_panel()
    if not rd.posterior.exists():
        raise SVIError(f"no fit at {rd.posterior}: the tables in {rd.tables_dir} cannot be checked against the fit "
                       f"they were computed from, so they are not rendered. Run `svi fit --out {out}` (or `svi run "
                       f"--out {out}`) first.")
    tables_id = rd.read_tables_model()
    gate = rd.fit.read_gate()
    attrs = rd.read_attrs()
    rd.check_same_run(panel, attrs, gate if isinstance(gate, dict) else {}, tables_id)
    config = rd.fit_config(attrs)
    unpub, notes = rd.read_text(rd.unpublishable), rd.read_text(rd.model_notes)
    return Results(out=out, tables=tables, panel=panel, gate=gate, attrs=attrs, config=config,
                   manifest=rd.read_panel_manifest(), quality=rd.read_quality_summary(),
                   dictionary=rd.read_dictionary(), unpublishable=unpub.strip() if unpub is not None else None,
                   model_notes=notes, manifests={kind: (rd / kind, rd.read_manifest(kind)) for kind in MANIFESTS},
                   sample_stats=rd.read_sample_stats())


# ============================================================================ formatting (Markdown-ready text)

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


def _ok(x) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x)) and not pd.isna(x)


def num(x, d: int = 2) -> str:
    if not _ok(x):
        return "n/a"
    s = f"{float(x):,.{d}f}"
    if s.startswith("-"):  # typographic minus; no sign on a value that rounds to zero
        s = s[1:] if float(s[1:].replace(",", "")) == 0 else MINUS + s[1:]
    return s


def signed(x, d: int = 2) -> str:
    if not _ok(x):
        return "n/a"
    s = f"{float(x):+,.{d}f}"
    if s.strip("+-0.,") == "":  # rounds to zero: no sign
        return s[1:]
    return s.replace("-", MINUS)


def pct(p) -> str:
    """A probability as a percentage; never 0% or 100% (a finite number of draws cannot show certainty).

    Markdown-ready: ``>99%`` alone would be a block quote, so the sign is escaped.
    """
    if not _ok(p):
        return "n/a"
    p = float(p)
    if p < 0.005:
        return md("<1%")
    if p > 0.995:
        return md(">99%")
    return f"{100 * p:.0f}%"


def money(x, d: int | None = None) -> str:
    """GBP million: one decimal below £100m, none above (``d`` fixes it)."""
    if not _ok(x):
        return "n/a"
    d = (1 if abs(float(x)) < 99.95 else 0) if d is None else d
    return f"£{float(x):,.{d}f}m".replace("£-", f"{MINUS}£")


def count(x) -> str:
    return "n/a" if not _ok(x) else f"{float(x):,.0f}"


def rank(x) -> str:
    return "n/a" if not _ok(x) else f"{float(x):.0f}"


def interval(lo, hi, f: Callable = num, **kw) -> str:
    if not (_ok(lo) and _ok(hi)):
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


# ============================================================================ values of the appendix

INDICATOR_ROWS = [  # indicator, measure, label, unit formatter, reference
    ("shmi", "shmi_ratio_to_expected", "SHMI mortality: ratio to need-adjusted expected (below 1 is better)",
     lambda x: num(x, 2)),
    ("shmi", "excess_deaths_per_1000_spells", "Deaths above expected per 1,000 spells (below 0 is better)",
     lambda x: signed(x, 1)),
    ("rtt", "rtt_pp_vs_expected", "RTT: waiting under 18 weeks, percentage points vs expected (above 0 is better)",
     lambda x: signed(x, 1)),
    ("ae", "ae_pp_vs_expected", "A&E: seen within 4 hours, percentage points vs expected (above 0 is better)",
     lambda x: signed(x, 1)),
    ("fft", "fft_pp_vs_expected", "Friends and Family Test positive, points vs expected (above 0 is better)",
     lambda x: signed(x, 1)),
]
SETTINGS = [("total", "All settings"), ("apc", "Admitted patient care"), ("op", "Outpatients"), ("ae", "A&E")]
SCOPES = [("national", "England"), ("peer group", "Peer group"), ("region", "Region")]


class _Index:
    """The tables indexed once for fast per-trust look-ups."""

    def __init__(self, res: Results):
        t = res.tables
        self.info = (t["value_index"][t["value_index"].measure == "value_index"]
                     .set_index("org_code")[["org_name", "region", "size_class", "peer_group"]])
        self.value = {m: g.set_index("org_code") for m, g in t["value_index"].groupby("measure")}
        self.alpha = {m: g.set_index("org_code") for m, g in t["health_alpha"].groupby("measure")}
        self.ranks = {s: g.set_index("org_code") for s, g in t["ranks"].groupby("scope")}
        self.trapped = {s: g.set_index("org_code") for s, g in t["trapped_value"].groupby("setting")}
        ad = t.get("avoidable_deaths")
        self.deaths = ad.set_index("org_code") if ad is not None else None
        self.panel = res.panel.drop_duplicates("org_code").set_index("org_code")
        self.funnel = t["shmi_funnel"].set_index("org_code")
        self.category = t["categories"].set_index("org_code")
        nc = t["need_context"]
        self.context = {c: g.set_index("org_code") for c, g in nc[nc.scope == "trust"].groupby("column")}
        self.peer_of = self.info.peer_group.to_dict()
        self.groups = {g: list(idx) for g, idx in self.info.groupby("peer_group").groups.items()}
        self.pos = {c: i for i, c in enumerate(self.info.index)}


def _row(frame: pd.DataFrame | None, code: str):
    if frame is None or code not in frame.index:
        return None
    r = frame.loc[code]
    return r.iloc[0] if isinstance(r, pd.DataFrame) else r


#: what the board documents say of each value category (analysis.summaries.derived.value_category)
VERDICTS = {
    "not ranked": "not ranked (no value index for this trust)",
    "best quarter (very likely)": "very likely among the best-value quarter of trusts in England",
    "best quarter (likely)": "more likely than not among the best-value quarter of trusts in England",
    "lowest quarter (very likely)": "very likely among the lowest-value quarter of trusts in England",
    "lowest quarter (likely)": "more likely than not among the lowest-value quarter of trusts in England",
    "uncertain": "cannot be placed with confidence in either the best or the lowest quarter nationally",
}


def _peer_stats(ix: _Index, code: str, col: str, scale: float = 1.0, f=None) -> list[str]:
    """The trust's value, its peers' median and range (the trust itself left out), and the England median."""
    r = _row(ix.context.get(col), code)
    if r is None:
        return ["n/a"] * 4
    g = lambda x: f(x * scale) if _ok(x) else "n/a"
    return [g(r.value), g(r.peer_median), interval(r.peer_min, r.peer_max, f=g), g(r.england_median)]


def trust_values(res: Results, code: str, ix: _Index | None = None) -> dict:
    """All numbers and texts of one trust's appendix, formatted as Markdown-ready strings (nested under ``svi``)."""
    ix = ix or _Index(res)
    if code not in ix.info.index:
        raise SVIError(f"trust {code!r} is not in the results")
    info = ix.info.loc[code]
    group = info.peer_group
    members = ix.groups[group]
    peers = [c for c in members if c != code]
    v: dict = {}
    name = display_name(info.org_name)
    overrides = (res.config.get("peer_groups", {}).get("overrides") or {})
    column = res.config.get("peer_groups", {}).get("column", "size_class")
    if code in overrides:
        rule = (f"a reviewed override in the model configuration places it in the {md(group)} group "
                f"(its {md(column.replace('_', ' '))} is {md(info.size_class)})")
    else:
        rule = (f"peer groups are the trusts' {md(column.replace('_', ' '))} (ERIC-style size class), and this trust's "
                f"is {md(info[column] if column in info.index else group)}")
    v["trust"] = {
        "code": md(code), "name": md(name), "name_published": md(info.org_name), "region": md(info.region),
        "size_class": md(info.size_class), "peer_group": md(group), "n_group": str(len(members)),
        "n_peers": str(len(peers)), "peer_rule": rule,
        "peers_list": "; ".join(f"{md(short_name(ix.info.org_name[p]))} ({md(p)})" for p in peers) or "none",
    }

    # -- composites
    comp = {}
    for key, measure in (("quality", "quality_composite"), ("cost", "cost_composite"), ("value", "value_index")):
        r = _row(ix.value.get(measure), code)
        comp[key] = {"median": signed(r["median"]) if r is not None else "n/a",
                     "i80": interval(r.lo80, r.hi80, signed) if r is not None else "n/a",
                     "i95": interval(r.lo95, r.hi95, signed) if r is not None else "n/a",
                     "p": pct(r.p_positive) if r is not None and "p_positive" in r.index else "n/a"}
    v["comp"] = comp

    # -- ranks
    rk = {}
    for key, label in (("national", "national"), ("peer", "peer group"), ("region", "region")):
        r = _row(ix.ranks.get(label), code)
        if r is None or not _ok(r.rank_median):
            rk[key] = {"median": "n/a", "i95": "n/a", "n": "n/a", "top": "n/a", "bottom": "n/a", "group": "n/a",
                       "text": "not ranked"}
            continue
        rk[key] = {"median": rank(r.rank_median), "i95": interval(r.rank_lo95, r.rank_hi95, rank),
                   "n": count(r.n_ranked), "top": pct(r.p_top_quartile), "bottom": pct(r.p_bottom_quartile),
                   "group": md(r.group),
                   "text": f"{rank(r.rank_median)} of {count(r.n_ranked)} (95% interval {interval(r.rank_lo95, r.rank_hi95, rank)})"}
    v["rank"] = rk
    cat = _row(ix.category, code)
    v["verdict"] = VERDICTS[cat.value if cat is not None else "not ranked"]

    # -- indicators
    ind = {}
    for indicator, measure, label, f in INDICATOR_ROWS:
        t = ix.alpha.get(measure)
        r = _row(t, code)
        key = measure.split("_")[0] if measure != "excess_deaths_per_1000_spells" else "excess"
        pr = _row(ix.context.get(measure), code)
        peer_med = pr.peer_median if pr is not None else float("nan")
        if r is None or not _ok(r["median"]):
            why = "not published for this trust" if indicator == "shmi" else "not reported by this trust"
            ind[key] = {"median": "n/a", "i80": "n/a", "i95": "n/a", "peer": f(peer_med) if _ok(peer_med) else "n/a",
                        "note": why}
            continue
        ind[key] = {"median": f(r["median"]), "i80": interval(r.lo80, r.hi80, f=f),
                    "i95": interval(r.lo95, r.hi95, f=f), "peer": f(peer_med) if _ok(peer_med) else "n/a", "note": ""}
    v["ind"] = ind

    # -- SHMI funnel (published figures, NHS Digital method)
    fr = _row(ix.funnel, code)
    if fr is not None and bool(fr.in_fit):
        v["funnel"] = {"shmi": num(fr.ratio, 2), "observed": count(fr.observed), "expected": count(fr.expected),
                       "band": md(str(fr.band_label)),
                       "text": (f"Published SHMI {num(fr.ratio, 2)} ({count(fr.observed)} observed against "
                                f"{count(fr.expected)} expected deaths): band {int(fr.band)}, "
                                f"\u201c{md(str(fr.band_label))}\u201d, on NHS Digital's funnel.")}
    else:
        v["funnel"] = {"shmi": "n/a", "observed": "n/a", "expected": "n/a", "band": "not banded",
                       "text": "This trust has no published SHMI (SHMI covers non-specialist acute trusts), "
                               "so it is not on the funnel."}

    # -- trapped value
    tv = {}
    bench = str(res.config.get("benchmark", {}).get("cost", "peer_median"))
    for s, label in SETTINGS:
        t = ix.trapped.get(s)
        r, e = _row(t, code), _row(t, "ENGLAND")
        actual = ix.panel[f"ncc_actual_cost_{s}_gbp_m"].get(code) if f"ncc_actual_cost_{s}_gbp_m" in ix.panel else None
        if r is None or not _ok(r["median"]):
            tv[s] = {"median": "n/a", "i80": "n/a", "i95": "n/a", "actual": money(actual),
                     "england": money(e["median"], 0) if e is not None else "n/a"}
            continue
        tv[s] = {"median": money(r["median"]), "i80": interval(r.lo80, r.hi80, money),
                 "i95": interval(r.lo95, r.hi95, money), "actual": money(actual),
                 "england": money(e["median"], 0) if e is not None else "n/a"}
    v["tv"] = tv
    v["tv_benchmark"] = "the peer-group median" if bench == "peer_median" else \
        "the peer group's best quarter (25th percentile)"

    # -- avoidable deaths
    r = _row(ix.deaths, code)
    e = _row(ix.deaths, "ENGLAND")
    mbench = str(res.config.get("benchmark", {}).get("mortality", "peer_median"))
    v["ad_benchmark"] = "the peer-group median" if mbench == "peer_median" else \
        "the peer group's best quarter (25th percentile)"
    if r is None or not _ok(r["median"]):
        v["ad"] = {"median": "n/a", "i80": "n/a", "i95": "n/a", "slide": "no estimate (no published SHMI)",
                   "england": count(e["median"]) if e is not None else "n/a",
                   "text": "No estimate: this trust has no published SHMI."}
    else:
        v["ad"] = {"median": count(r["median"]), "i80": interval(r.lo80, r.hi80, count),
                   "i95": interval(r.lo95, r.hi95, count),
                   "slide": f"{count(r['median'])} a year (95% interval {interval(r.lo95, r.hi95, count)})",
                   "england": count(e["median"]) if e is not None else "n/a",
                   "text": (f"{count(r['median'])} deaths a year above the peer benchmark "
                            f"(95% interval {interval(r.lo95, r.hi95, count)})")}

    # -- need and case-mix beside the peers
    sizes = ix.info.loc[peers, "size_class"].value_counts()
    need = {"size_class": md(info.size_class),
            "peer_sizes": ("none" if not peers else f"all {md(sizes.index[0])}" if len(sizes) == 1 else
                           md(", ".join(f"{k} {n}" for k, n in sizes.items())))}
    for key, col, scale, f in (("imd", "imd_score", 1.0, lambda x: num(x, 1)),
                               ("age75", "share_aged_75_plus", 100.0, lambda x: f"{num(x, 1)}%"),
                               ("hi", "health_index_score", 1.0, lambda x: num(x, 1)),
                               ("expcost", "ncc_expected_cost_total_gbp_m", 1.0, lambda x: money(x, 0)),
                               ("actcost", "ncc_actual_cost_total_gbp_m", 1.0, lambda x: money(x, 0)),
                               ("catchment", "catchment_population", 1.0, count)):
        vals = _peer_stats(ix, code, col, scale, f=f)
        need[key] = dict(zip(("trust", "peer_median", "peer_range", "england"), vals))
    v["need"] = need
    v.update(_common_values(res))
    return {"svi": v}


def _common_values(res: Results) -> dict:
    gate = res.gate
    passed = bool(gate.get("passed")) and res.unpublishable is None
    kind = res.manifest.get("kind", "unknown")
    period = ", ".join(sorted(res.panel["period"].astype(str).unique())) if "period" in res.panel else "n/a"
    return {
        "period": md(period),
        "kind": md(kind),
        "kind_note": ("These results come from the **synthetic** panel (simulated trusts), not from real NHS data."
                      if kind == "synthetic" else
                      "These results come from the real public NHS data." if kind == "real" else
                      "The panel's origin is not recorded."),
        "model_id": md(res.attrs.get("svi_model_id") or gate.get("model_id") or "n/a"),
        "code_version": md(res.attrs.get("svi_code_version", "n/a")),
        "gate_status": "passed" if passed else "FAILED",
        "gate_line": md(res.attrs.get("svi_gate") or
                        f"max R-hat {num(gate.get('max_rhat'), 4)}, min bulk ESS {count(gate.get('min_ess_bulk'))}, "
                        f"min tail ESS {count(gate.get('min_ess_tail'))}, divergences {count(gate.get('divergences'))}"),
        "n_trusts": count(res.headlines["n_trusts"]),
    }


# ============================================================================ values and tables of the paper

def _cfg(res: Results, *keys, default="n/a"):
    d = res.config
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def paper_values(res: Results) -> dict:
    h = res.headlines
    v = _common_values(res)
    gate = res.gate
    passed = v["gate_status"] == "passed"
    v["gate"] = {
        "max_rhat": num(gate.get("max_rhat"), 4), "min_ess_bulk": count(gate.get("min_ess_bulk")),
        "min_ess_tail": count(gate.get("min_ess_tail")), "divergences": count(gate.get("divergences")),
        "rhat_max": num(_cfg(res, "gate", "rhat_max"), 2), "ess_bulk_min": count(_cfg(res, "gate", "ess_bulk_min")),
        "ess_tail_min": count(_cfg(res, "gate", "ess_tail_min")),
        "max_divergences": count(_cfg(res, "gate", "max_divergences")),
        "banner": ("The convergence gate passed: these results may be published." if passed else
                   "WARNING: THESE RESULTS FAILED THE CONVERGENCE GATE AND ARE NOT PUBLISHABLE. "
                   "The sampler did not converge well enough for the numbers below to be trusted; they are shown "
                   "for diagnosis only, and no trust appendix is rendered from them."),
        "failing": md(", ".join(gate.get("failing", [])[:25])) or "none",
    }
    s = _cfg(res, "sampler", default={})
    ss = res.sample_stats
    v["sampler"] = {"name": md(s.get("name", "n/a")), "chains": count(ss.get("chains", s.get("chains"))),
                    "draws": count(ss.get("draws", s.get("draws"))), "tune": count(s.get("tune")),
                    "target_accept": num(res.attrs.get("svi_target_accept", s.get("target_accept")), 2),
                    "seed": md(s.get("seed", "n/a")),
                    "timing": md(timing_text(res.attrs, s.get("name", ""))),
                    "attempts": md(attempts_text(res.attrs)),
                    "created": md(str(res.attrs.get("created_at", "n/a"))[:19].replace("T", " "))}
    qw = _cfg(res, "value", "quality_weights", default={})
    qs = _cfg(res, "value", "quality_share", default=float("nan"))
    labels_k = {"shmi": "SHMI mortality", "rtt": "RTT within 18 weeks", "ae": "A\\&E within 4 hours",
                "fft": "Friends and Family Test"}
    tot_w = sum(map(float, qw.values())) or 1.0
    v["weights"] = {"text": "; ".join(f"{labels_k.get(k, md(k))} {num(100 * float(w) / tot_w, 0)}%"
                                      for k, w in qw.items()) or "n/a"}
    v["weights"]["quality_share"] = num(100 * float(qs), 0) + "%" if _ok(qs) else "n/a"
    v["weights"]["cost_share"] = num(100 * (1 - float(qs)), 0) + "%" if _ok(qs) else "n/a"
    conc = _cfg(res, "value", "dirichlet_concentration", default=0)
    v["weights"]["uncertainty"] = ("fixed in every posterior draw" if not conc or float(conc) <= 0 else
                                   f"drawn in every posterior draw from a Dirichlet distribution with concentration "
                                   f"{num(conc, 0)}, so the intervals include uncertainty about the weights")
    bench = lambda b: ("the peer-group median" if b == "peer_median" else "the peer group's best quarter (25th "
                       "percentile)")
    v["benchmark"] = {"cost": bench(_cfg(res, "benchmark", "cost")),
                      "mortality": bench(_cfg(res, "benchmark", "mortality"))}
    need = list(_cfg(res, "need", "covariates", default=[]))
    labels = {"imd_score": "IMD 2019 score", "share_aged_75_plus": "share of residents aged 75 and over",
              "health_index_score": "ONS Health Index"}
    v["need"] = {"covariates": md("; ".join(labels.get(c, c) for c in need)) or "none", "n": str(len(need))}
    pg = _cfg(res, "peer_groups", default={})
    v["peer"] = {"column": md(str(pg.get("column", "size_class")).replace("_", " ")),
                 "n_groups": count(h["n_peer_groups"]),
                 "n_overrides": str(len(pg.get("overrides") or {}))}
    q = _cfg(res, "quality", default={})
    v["quality"] = {"correlation": "LKJ-correlated (eta = " + num(q.get("lkj_eta"), 1) + ")" if q.get("correlation")
                    == "lkj" else "one latent quality factor", "shmi_likelihood": md(q.get("shmi_likelihood", "n/a")),
                    "param": md(param_text(q.get("trust_effects", "centred"), res.attrs.get("svi_noncentred")))}
    v["panel"] = {"n": str(len(res.panel)), "excluded": count(res.quality.get("organisations_excluded")),
                  "findings": count(res.quality.get("findings")),
                  "notes": md(re.sub(r"Built from /\S+?;\s*", "", " ".join(res.quality.get("notes", [])))) or
                  "none recorded"}

    # national results (analysis.summaries.derived.headlines)
    v["tv"] = {"total": money(h["trapped_value_median"], 0),
               "total_i95": interval(h["trapped_value_lo95"], h["trapped_value_hi95"], money, d=0),
               "n_positive": count(h["trapped_value_n_positive"])}
    v["ad"] = {"total": count(h["avoidable_deaths_median"]),
               "i95": interval(h["avoidable_deaths_lo95"], h["avoidable_deaths_hi95"], count)}
    v["ranks"] = {"n": count(h["ranks_n"]), "width_median": count(h["rank_width_median"]),
                  "width_min": count(h["rank_width_min"]), "width_max": count(h["rank_width_max"]),
                  "top90": count(h["ranks_top90"]), "bottom90": count(h["ranks_bottom90"])}
    v["value"] = {"above": count(h["value_above"]), "below": count(h["value_below"]), "n": count(h["value_n"])}
    v["shmi"] = {"n": count(h["shmi_n"]), "above": count(h["shmi_above"]), "below": count(h["shmi_below"])}
    v["funnel"] = {"n": count(h["funnel_n"]), "phi": num(h["funnel_phi"], 2), "tau2": num(h["funnel_tau2"], 5),
                   "kept": count(h["funnel_kept"]), "higher": count(h["funnel_higher"]),
                   "lower": count(h["funnel_lower"]), "as_expected": count(h["funnel_as_expected"])}
    v["checks"] = {kind: manifest_status(res, kind) for kind in MANIFESTS}
    v["model_notes"] = md(res.model_notes.strip().replace("\n", "; ")) if res.model_notes else "none"
    return {"svi": v}


def param_text(mode: str, noncentred: str | None) -> str:
    """The trust effects' parameterisation in words: the config's mode and, for "auto", the cells non-centred."""
    if mode != "auto":
        return mode.replace("_", "-") + " in every peer group"
    cells = [c for c in (noncentred or "").split(";") if c]
    return ("chosen per peer group and indicator from the strength of the data: "
            + (f"non-centred for {', '.join(cells)}, centred elsewhere" if cells else "centred everywhere"))


def priors_table(cfg: dict | None) -> str:
    """The priors of the fitted config, one row per parameter, with each indicator's scale filled in."""
    pr, q = (cfg or {}).get("priors"), (cfg or {}).get("quality", {})
    if not pr:
        return "*The configuration of these results records no priors.*\n"
    # reference scales r (config [priors]); r_k per quality indicator, r_j per cost outcome
    qs = {k.upper(): float(pr["quality_scale"][k]) for k in q.get("indicators", pr["quality_scale"])}
    cs = {j: float(pr["cost_scale"][j]) for j in (cfg or {}).get("cost", {}).get("outcomes", pr["cost_scale"])}
    listed = lambda scales, div=1: "; ".join(f"{k} {num(v / div, 3)}" for k, v in scales.items())
    sv = num(float(pr["scale_variation"]), 2)
    corr = (f"LKJ(eta = {num(q.get('lkj_eta'), 1)})" if q.get("correlation") == "lkj" else
            f"loadings ~ Uniform(-1, 1), {md(str(q.get('factor_anchor', '')).upper())} loading Uniform(0, 1)")
    rows = [["Peer mean $\\mu_{gk}$", "Normal(national centre, $r_k$)", listed(qs)],
            ["Need effect $\\beta_{kp}$ (per SD)", "Normal(0, $r_k/2$)", listed(qs, 2)],
            ["Trust-effect SD $\\sigma_{0k}$", "HalfNormal($r_k$)", listed(qs)],
            ["Peer scale variation $s_k$", "HalfNormal", sv],
            ["Peer-group deviation $\\varepsilon_{gk}$", "Normal(0, 1), summing to zero over peer groups", ""],
            ["Correlation $R$", md(corr), ""],
            ["Cost peer mean $\\mu^c_{gj}$", "Normal(national centre, $r_j$)", listed(cs)],
            ["Cost need effect $\\beta^c_{jp}$", "Normal(0, $r_j/2$)", listed(cs, 2)],
            ["Cost SD $\\sigma^c_{0j}$", "HalfNormal($r_j$)", listed(cs)],
            ["Cost peer scale variation", "HalfNormal", sv],
            ["Student-$t$ degrees of freedom $\\nu$",
             f"Gamma({num(pr['cost_nu_shape'], 1)}, {num(pr['cost_nu_rate'], 2)})", ""]]
    return md_table(["Parameter", "Prior", "Scale"], rows, [30, 34, 36], "lll")


def paper_tables(res: Results) -> dict[str, str]:
    """Markdown of the generated tables the paper includes (their length depends on the results)."""
    out: dict[str, str] = {}
    # data sources: one row per (source, period) of the columns the model uses
    d = res.dictionary
    used = {"shmi_observed_deaths", "shmi_expected_deaths", "shmi_spells", "rtt_total_waiting", "rtt_waiting_under_18w",
            "ae_attendances", "ae_over_4h", "fft_responses", "fft_positive", "org_code", "size_class", "region",
            *[f"ncc_{a}_cost_{j}_gbp_m" for a in ("actual", "expected") for j in ("total", "apc", "op", "ae")],
            *list(_cfg(res, "need", "covariates", default=[])), "catchment_population"}
    if d is not None and {"name", "source", "period"} <= set(d.columns):
        dd = d[d.name.isin(used)].copy()
        rows = []
        for (src, per), g in dd.groupby(["source", "period"], sort=False):
            rows.append([md(src), md(", ".join(g.name)), md(per)])
        out["sources"] = md_table(["Source (as recorded in the panel dictionary)", "Panel columns used", "Period"],
                                  rows, [45, 35, 20], "lll")
    else:
        out["sources"] = "*The panel dictionary (`panel/panel_dictionary.csv`) is missing from these results.*\n"
    # peer groups (medians: analysis.summaries.derived.need_context)
    info = res.tables["value_index"]
    info = info[info.measure == "value_index"].set_index("org_code")
    nc = res.tables["need_context"]
    nc = nc[nc.scope == "peer group"]
    rows = []
    for g, idx in info.groupby("peer_group").groups.items():
        sub = nc[nc.peer_group == g]
        med = dict(zip(sub.column, sub.value))
        m = lambda c, s=1.0: med[c] * s if c in med else float("nan")
        rows.append([md(g), str(len(idx)), num(m("imd_score"), 1),
                     num(m("share_aged_75_plus", 100), 1) + "%", num(m("health_index_score"), 1),
                     money(m("ncc_expected_cost_total_gbp_m"), 0)])
    out["peer_groups"] = md_table(["Peer group", "Trusts", "IMD score", "Aged 75+", "Health Index",
                                   "Expected cost"], rows, [24, 12, 14, 14, 16, 20])
    out["priors"] = priors_table(res.config)
    # trapped value by setting
    tv = res.tables["trapped_value"]
    eng = tv[tv.org_code == "ENGLAND"].set_index("setting")
    labels = dict(SETTINGS)
    rows = [[labels.get(s, md(s)), money(r["median"], 0), interval(r.lo80, r.hi80, money, d=0),
             interval(r.lo95, r.hi95, money, d=0)] for s, r in eng.iterrows()]
    out["trapped_value"] = md_table(["Care setting", "Median", "80% interval", "95% interval"], rows, [34, 18, 24, 24])
    # diagnostics
    g = res.gate
    ok = lambda c: "yes" if c else "**no**"
    rows = [
        ["Largest R-hat (rank-normalised split)", num(g.get("max_rhat"), 4), f"≤ {num(_cfg(res, 'gate', 'rhat_max'), 2)}",
         ok(_ok(g.get("max_rhat")) and g["max_rhat"] <= float(_cfg(res, "gate", "rhat_max", default=1.01)))],
        ["Smallest bulk effective sample size", count(g.get("min_ess_bulk")), f"≥ {count(_cfg(res, 'gate', 'ess_bulk_min'))}",
         ok(_ok(g.get("min_ess_bulk")) and g["min_ess_bulk"] >= float(_cfg(res, "gate", "ess_bulk_min", default=400)))],
        ["Smallest tail effective sample size", count(g.get("min_ess_tail")), f"≥ {count(_cfg(res, 'gate', 'ess_tail_min'))}",
         ok(_ok(g.get("min_ess_tail")) and g["min_ess_tail"] >= float(_cfg(res, "gate", "ess_tail_min", default=400)))],
        ["Divergent transitions", count(g.get("divergences")), f"≤ {count(_cfg(res, 'gate', 'max_divergences'))}",
         ok(_ok(g.get("divergences")) and g["divergences"] <= float(_cfg(res, "gate", "max_divergences", default=0)))],
    ]
    ss = res.sample_stats
    if "divergences_by_chain" in ss:
        rows.append(["Divergences by chain", md(", ".join(map(str, ss["divergences_by_chain"]))), "", ""])
    if "tree_depth" in ss:
        rows.append(["Mean tree depth", num(ss["tree_depth"], 1), "", ""])
    if "step_size" in ss:
        rows.append(["Mean step size", num(ss["step_size"], 3), "", ""])
    out["diagnostics"] = md_table(["Check", "Value", "Threshold", "Met"], rows, [46, 18, 18, 18], "lrrr")
    for kind in MANIFESTS:
        out[kind] = manifest_markdown(res, kind)
    return out


# -- validation and claims: rendered item by item from their manifests (analysis.manifest)

MANIFESTS = {  # kind (= directory in the results): what it is, and the command that writes it
    "validation": {"command": "svi validate", "absent": (
        "**Validation has not been run for these results.** There is no validation manifest "
        "(`validation/manifest.json`) beside them, so nothing in this paper has been checked for this run: "
        "simulation-based calibration, posterior predictive checks, LOO cross-validation, agreement with NHS "
        "Digital's SHMI banding and with a frequentist GLMM, and prior sensitivity are all missing. Run "
        "`svi validate` (with `--out` set to this results directory), then `svi report`, to include them."),
        "short_absent": "Validation has not been run for these results (`svi validate`).",
        "noun": "check"},
    "claims": {"command": "svi claims", "absent": (
        "**Public claims have not been re-tested for these results.** There is no claims manifest "
        "(`claims/manifest.json`) beside them. Run `svi claims` (with `--out` set to this results directory), "
        "then `svi report`, to include the re-tests."),
        "short_absent": "Public claims have not been re-tested for these results (`svi claims`).",
        "noun": "claim"},
}
TABLE_MAX_ROWS = 25
TABLE_MAX_COLS = 8
_PASS_COLOUR = {True: ("PASS", "#007F3B"), False: ("FAIL", "#D5281B")}


def _manifest_file(directory: Path, name) -> Path | None:
    """A file named by a manifest item: a relative path inside the manifest's directory that exists, else None."""
    if not isinstance(name, str) or not name.strip() or Path(name).is_absolute():
        return None
    p = directory / name
    try:
        p.resolve().relative_to(directory.resolve())
    except ValueError:
        return None
    return p if p.is_file() else None


def _items(doc: dict) -> list[dict]:
    return [it for it in doc.get("items", []) if isinstance(it, dict)]


def _count_text(items: list[dict], noun: str) -> str:
    """``7 checks (5 passed, **1 failed**, 1 without a pass/fail verdict)``."""
    p = sum(it.get("passed") is True for it in items)
    f = sum(it.get("passed") is False for it in items)
    n = len(items) - p - f
    verdicts = [f"{p} passed" if p else "", f"**{f} failed**" if f else "",
                f"{n} without a pass/fail verdict" if n else ""]
    return (f"{len(items)} {noun}{'s' if len(items) != 1 else ''}"
            + (" (" + ", ".join(x for x in verdicts if x) + ")" if items else ""))


def _code(s) -> str:
    """Inline code (file names, commands): literal inside backticks, so no Markdown escaping."""
    return "`" + " ".join(str(s).replace("`", "'").split()) + "`"


def _created(doc: dict) -> str:
    return md(str(doc.get("created", ""))[:16].replace("T", " ")) or "an unrecorded date"


def manifest_status(res: Results, kind: str) -> str:
    """One sentence for the paper's status paragraph: whether the step ran, and how many of its checks passed."""
    spec = MANIFESTS[kind]
    directory, doc = res.manifests.get(kind, (None, None))
    if doc is None:
        return spec["short_absent"]
    what = "Validation" if kind == "validation" else "Public claims re-tested"
    return (f"{what} ({_code(doc.get('producer') or spec['command'])}, {_created(doc)}): "
            f"{_count_text(_items(doc), spec['noun'])}.")


def _badge(passed: bool) -> str:
    """A coloured PASS / FAIL marker, as raw Typst for the PDF and raw HTML for the web page (both renderers)."""
    label, colour = _PASS_COLOUR[passed]
    return (f'`#box(fill: rgb("{colour}"), inset: (x: 5pt, y: 2.5pt), radius: 2pt, text(fill: white, weight: '
            f'"bold")[{label}])`{{=typst}}`<span style="background:{colour};color:#fff;font-weight:bold;'
            f'padding:0.1em 0.45em;border-radius:3px">{label}</span>`{{=html}}')


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


def _csv_markdown(path: Path, rel: str) -> str:
    try:
        df = pd.read_csv(path)
    except Exception as exc:  # an unreadable table is shown as such, not silently dropped
        return f"*The table {_code(rel)} could not be read ({md(type(exc).__name__)}).*\n"
    n_rows, n_cols = df.shape
    shown = df.iloc[:TABLE_MAX_ROWS, :TABLE_MAX_COLS]
    cols = list(shown.columns)
    rows = [[table_cell(x) for x in r] for r in shown.itertuples(index=False)]
    header = [md(c) for c in cols]
    align = "".join("r" if pd.api.types.is_numeric_dtype(shown[c]) and not pd.api.types.is_bool_dtype(shown[c])
                    else "l" for c in cols)
    widths = [min(30, max(5, len(str(c)), *(len(r[i]) for r in rows))) for i, c in enumerate(cols)]
    table = md_table(header, rows, widths, align)
    if len(cols) > 5:  # a wide table: a smaller type in the PDF keeps its columns readable
        table = f"```{{=typst}}\n#block[\n#set text(size: 0.82em)\n```\n\n{table}\n```{{=typst}}\n]\n```\n"
    cut = []
    if n_rows > TABLE_MAX_ROWS:
        cut.append(f"first {TABLE_MAX_ROWS} of {n_rows} rows")
    if n_cols > TABLE_MAX_COLS:
        cut.append(f"first {TABLE_MAX_COLS} of {n_cols} columns")
    if cut:
        table += f"\n*Shown: {' and '.join(cut)}; full table in {_code(rel)}.*\n"
    return table


def _image_target(rel: str) -> str:
    return f"<{rel}>" if re.search(r"[\s()<>]", rel) else rel


def _result(item: dict) -> str:
    """Overview cell of a manifest item: PASS/FAIL for a check; a claim's own verdict (and evidence) when it has one."""
    if item.get("passed") is False:
        return "**FAIL**"
    extra = item.get("extra") or {}
    if isinstance(extra, dict) and extra.get("verdict"):
        ev = extra.get("evidence")
        return md(str(extra["verdict"])) + (f" ({md(str(ev))})" if ev and ev != extra["verdict"] else "")
    return "**PASS**" if item.get("passed") is True else "no verdict"


def manifest_markdown(res: Results, kind: str) -> str:
    """The paper's section for one manifest: every item in order, as a subsection with its PASS / FAIL marker, its
    text, its table (cut to a readable size) and its figure.  Figures are staged into ``<build>/<kind>/`` by
    :func:`_stage_paper`; image paths are relative to the paper (so Quarto's include finds them too)."""
    spec = MANIFESTS[kind]
    directory, doc = res.manifests.get(kind, (ResultsDir(res.out) / kind, None))
    if doc is None:
        extra = ""
        if directory is not None and directory.is_dir() and any(directory.iterdir()):
            extra = (f" (The `{kind}/` directory exists but holds no `manifest.json`: the step did not finish, or was "
                     "run by a version that wrote no manifest.)")
        return spec["absent"] + extra + "\n"
    items = _items(doc)
    model = doc.get("model_id")
    ours = res.attrs.get("svi_model_id") or res.gate.get("model_id")
    parts = [f"*Written by {_code(doc.get('producer') or spec['command'])} on {_created(doc)}"
             + (f" for model {md(model)}" + (f" (this paper's results are from model {md(ours)})"
                                             if ours and str(ours) != str(model) else "") if model else "")
             + f"; {_count_text(items, spec['noun'])}. Full tables and figures are in the results' `{kind}/` "
             "directory.*\n"]
    if len(items) > 1:
        rows = [[md(it.get("title") or it.get("id") or "untitled"), _result(it)] for it in items]
        parts.append(md_table([spec["noun"].capitalize(), "Result"], rows, [80, 20], "ll"))
    for it in items:
        title = md(it.get("title") or it.get("id") or "untitled")
        block = [f"## {title}\n"]
        if isinstance(it.get("passed"), bool):
            block.append(_badge(it["passed"]) + "\n")
        text = str(it.get("text") or "").strip()
        if text:
            text = text.replace("{{<", "{{\\<")  # producer text is Markdown, never a shortcode
            text = re.sub(r"(?m)^(#{1,4})(?=\s)", r"##\1", text)  # its headings nest under the item's
            block.append(text + "\n")
        for field_name in ("table", "figure"):
            name = it.get(field_name)
            if not name:
                continue
            path = _manifest_file(directory, name)
            rel = f"{kind}/{name}"
            if path is None:
                block.append(f"*The {field_name} {_code(rel)} named by the manifest is missing.*\n")
            elif field_name == "table":
                block.append(_csv_markdown(path, rel))
            else:
                caption = " ".join(str(it.get("caption") or it.get("title") or "").split())
                block.append(f"![{caption}]({_image_target(rel)}){{width=85%}}\n")
        parts.append("\n".join(block))
    return "\n".join(parts)


# ============================================================================ Quarto documents: front matter, shortcodes

_FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_SHORTCODE = re.compile(r"\{\{<\s*(\w+)\s+([^>]*?)\s*>\}\}")


def read_qmd(path: Path) -> tuple[dict, str]:
    import yaml

    text = Path(path).read_text(encoding="utf-8")
    m = _FRONT.match(text)
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

    return _SHORTCODE.sub(sub, body)


# ============================================================================ pandoc and Typst

def _pandoc():
    try:
        import pypandoc
    except ImportError as exc:  # pragma: no cover - install extra [report]
        raise SVIError("pypandoc is not installed: pip install -e '.[report]' (pypandoc-binary, typst)") from exc
    return pypandoc


def _font_paths() -> list[str]:
    import matplotlib as mpl

    return [str(Path(mpl.get_data_path()) / "fonts" / "ttf")]


def md_to_typst(markdown: str, identifiers: bool = True) -> str:
    fmt = "markdown" if identifiers else "markdown-auto_identifiers"
    return _pandoc().convert_text(markdown, "typst", format=fmt, extra_args=["--wrap=none", "--columns=72"])


def _tstr(s: str) -> str:
    """A Typst string literal."""
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _length(x, default: str) -> str:
    if x is None:
        return default
    s = str(x).strip()
    return s if re.fullmatch(r"[0-9.]+(cm|mm|in|pt|em|%)", s) else default


def typst_preamble(front: dict, meta: dict, *, unpublishable: bool = False, title_block: bool = True) -> str:
    """Page, text and title set-up from the front matter's ``format: typst:`` options (a pandoc template's job)."""
    opts = (front.get("format") or {}).get("typst") or {}
    paper = str(opts.get("papersize", "a4"))
    margin = opts.get("margin") or {}
    mx = _length(margin.get("x") if isinstance(margin, dict) else margin, "2cm")
    my = _length(margin.get("y") if isinstance(margin, dict) else margin, "2cm")
    size = _length(opts.get("fontsize"), "10pt")
    font = str(opts.get("mainfont", "DejaVu Sans"))
    numbering = opts.get("section-numbering")
    lines = [
        f"#set document(title: {_tstr(meta.get('title', ''))})" if meta.get("title") else "",
        f"#set page(paper: {_tstr(paper)}, margin: (x: {mx}, y: {my}), numbering: \"1\")",
        f"#set text(font: ({_tstr(font)},), size: {size}, lang: \"en\", region: \"GB\")",
        "#set par(justify: false, leading: 0.62em, spacing: 0.9em)",
        f"#set heading(numbering: {_tstr(numbering)})" if numbering else "",
        "#show heading: set block(above: 1.3em, below: 0.7em)",
        "#show heading.where(level: 1): set text(size: 1.35em)",
        "#show heading.where(level: 2): set text(size: 1.12em)",
        "#set table(inset: (x: 4pt, y: 3.5pt), stroke: none)",
        "#show table.cell.where(y: 0): set text(weight: \"bold\")",
        "#show figure.where(kind: table): set figure.caption(position: top)",
        "#show table: it => block(breakable: false, it)",
        "#show figure.caption: set text(size: 0.9em)",
        "#show link: set text(fill: rgb(\"#005EB8\"))",
        "#let horizontalrule = line(length: 100%, stroke: 0.5pt + luma(160))",
        "#show terms.item: it => block(breakable: false)[#text(weight: \"bold\")[#it.term] #block(inset: (left: 1.5em, top: -0.4em))[#it.description]]",
    ]
    if unpublishable:
        lines.append('#set page(background: rotate(-40deg, text(64pt, weight: "bold", fill: rgb(213, 40, 27, 45))'
                     '[NOT PUBLISHABLE]), header: align(center, text(9pt, weight: "bold", fill: rgb("#D5281B"))'
                     '[Results failed the convergence gate: not publishable, for diagnosis only]))')
    if title_block and meta.get("title"):
        lines.append(f"#block(below: 1.2em)[#text(size: 1.9em, weight: \"bold\", {_tstr(meta['title'])})"
                     + (f"#linebreak()#text(size: 1.25em, {_tstr(meta['subtitle'])})" if meta.get("subtitle") else "")
                     + "]")
        if unpublishable:
            lines.append('#block(fill: rgb("#D5281B"), inset: 10pt, radius: 3pt, width: 100%)[#text(fill: white, '
                         'weight: "bold", size: 1.1em)[RESULTS FAILED THE CONVERGENCE GATE. NOT PUBLISHABLE: '
                         'every number below is for diagnosis only.]]')
        if opts.get("toc"):
            lines.append("#outline(depth: 2, indent: 1.2em)")
    return "\n".join(x for x in lines if x) + "\n\n"


_COMPILER: dict = {}


def _font_dir() -> str:
    """A directory holding only the DejaVu Sans faces (from matplotlib), so Typst does not scan 40 other fonts."""
    d = Path(tempfile.gettempdir()) / f"svi-fonts-{os.getuid() if hasattr(os, 'getuid') else 0}"
    src = Path(_font_paths()[0])
    faces = sorted(src.glob("DejaVuSans*.ttf"))
    if not faces:
        return str(src)
    if not all((d / f.name).exists() for f in faces):
        d.mkdir(parents=True, exist_ok=True)
        for f in faces:
            with io.atomic_path(d / f.name) as tmp:
                shutil.copyfile(f, tmp)
    return str(d)


def compile_typst(typ: Path, root: Path) -> bytes:
    """Compile a Typst file to PDF bytes; one compiler per process keeps the fonts loaded between documents."""
    import typst

    comp = _COMPILER.get(os.getpid())
    if comp is None:
        _COMPILER.clear()  # a compiler inherited through fork is never reused
        comp = _COMPILER[os.getpid()] = typst.Compiler(root=str(root), font_paths=[_font_dir()],
                                                        ignore_system_fonts=True)
    try:
        return comp.compile(input=str(typ), root=str(root))
    except Exception as exc:
        raise SVIError(f"Typst could not compile {typ.name}: {exc}") from exc


HTML_CSS = """<style>
body { max-width: 52em; font-family: "DejaVu Sans", "Segoe UI", Arial, sans-serif; font-size: 15px; color: #212B32; }
h1, h2, h3 { color: #003087; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.92em; }
th { border-bottom: 1px solid #768692; text-align: left; }
td, th { padding: 0.25em 0.6em; vertical-align: top; }
tbody tr:nth-child(odd) { background: #F0F4F5; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; }
figcaption { font-size: 0.9em; color: #4C6272; }
.svi-fail { background: #D5281B; color: white; font-weight: bold; padding: 0.8em 1em; border-radius: 4px; }
</style>"""


def md_to_html(markdown: str, meta: dict, resource_dir: Path, unpublishable: bool) -> str:
    args = ["--standalone", "--embed-resources", "--mathml", "--wrap=none", f"--resource-path={resource_dir}",
            "--metadata", f"title={meta.get('title', 'SVI')}", "--toc", "--toc-depth=2", "--section-divs",
            "--variable", "lang=en-GB", "--variable", f"header-includes={HTML_CSS}"]
    if meta.get("subtitle"):
        args += ["--metadata", f"subtitle={meta['subtitle']}"]
    if unpublishable:
        args += ["--variable", "include-before=<p class=\"svi-fail\">RESULTS FAILED THE CONVERGENCE GATE. NOT "
                 "PUBLISHABLE: every number in this paper is for diagnosis only.</p>"]
    return _pandoc().convert_text(markdown, "html5", format="markdown", extra_args=args)


# ============================================================================ build directories

def _write_yaml(path: Path, data: dict) -> None:
    import yaml

    io.write_text(path, yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), allow_unicode=True,
                                  sort_keys=False, width=10_000))


def _stage_paper(res: Results, build: Path, quarto: bool) -> Path:
    from analysis.figures import paper_figures

    build.mkdir(parents=True, exist_ok=True)
    qmd = build / PAPER_QMD.name
    shutil.copyfile(PAPER_QMD, qmd)
    data = paper_values(res)
    if quarto:
        data["font-paths"] = [_font_dir()]
        _inline_for_quarto(qmd, data)
    _write_yaml(build / "_data.yml", data)
    for name, text in paper_tables(res).items():
        io.write_text(build / "_generated" / f"{name}.md", text)
    paper_figures(res.figdata, build / "figures")
    for kind, (directory, doc) in res.manifests.items():  # the figures the validation and claims sections show
        for it in _items(doc or {}):
            src = _manifest_file(directory, it.get("figure"))
            if src is not None:
                dest = build / kind / it["figure"]
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)
    return qmd


def _stage_board(res: Results, code: str, build: Path, ix: _Index, quarto: bool,
                 sources: dict[str, str] | None = None) -> dict[str, Path]:
    """Copy the slide, appendix and handout sources into ``build/<CODE>/`` with their shared ``_data.yml``."""
    d = build / code
    d.mkdir(parents=True, exist_ok=True)
    data = trust_values(res, code, ix)
    if quarto:
        data["font-paths"] = [_font_dir()]
    staged = {}
    for kind, src in BOARD_DOCS:
        text = sources[kind] if sources else src.read_text(encoding="utf-8")
        # the document's parameter: this trust (the values themselves come from _data.yml)
        text = re.sub(r"(?m)^(\s+trust:\s*).*$", lambda m: m.group(1) + json.dumps(code), text, count=1)
        qmd = staged[kind] = d / src.name
        io.write_text(qmd, text)
        if quarto:
            _inline_for_quarto(qmd, data)
    _write_yaml(d / "_data.yml", data)
    return staged


def _inline_for_quarto(qmd: Path, data: dict) -> None:
    """Quarto path: also put the values into the build copy's front matter, so they reach the document whether
    or not the Quarto version at hand reads ``metadata-files`` from a document's own front matter."""
    import yaml

    front, body = read_qmd(qmd)
    merged = dict(front)
    _merge(merged, data)
    io.write_text(qmd, "---\n" + yaml.safe_dump(merged, allow_unicode=True, sort_keys=False, width=10_000) +
                  "---\n" + body)


def _resolved_markdown(qmd: Path) -> tuple[dict, dict, str]:
    front, body = read_qmd(qmd)
    meta = load_metadata(qmd, front)
    return front, meta, resolve_shortcodes(body, meta, qmd.parent, qmd.name)


# ============================================================================ renderers

def quarto_path() -> str | None:
    eng = os.environ.get("SVI_REPORT_ENGINE", "auto")
    if eng == "inprocess":
        return None
    q = shutil.which("quarto")
    if eng == "quarto" and q is None:
        raise SVIError("SVI_REPORT_ENGINE=quarto but quarto is not on PATH")
    return q


def _quarto_render(qmd: Path, to: str) -> Path:
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


def _readable(path: Path) -> Path:
    """Reports are for sharing: rw-r--r-- (less the umask), not the 0600 of a temporary file."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o644 & ~mask)
    return path


def _copy_atomic(src: Path, dest: Path) -> Path:
    with io.atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
        _readable(tmp)
    return dest


def _write_bytes(dest: Path, data: bytes) -> Path:
    with io.atomic_path(dest) as tmp:
        tmp.write_bytes(data)
        _readable(tmp)
    return dest


def render_paper(res: Results, reports: ResultsDir, build: Path, echo=print) -> list[Path]:
    quarto = quarto_path() is not None
    qmd = _stage_paper(res, build / "paper", quarto)
    unpub = res.unpublishable is not None or not res.gate.get("passed", False)
    out = []
    if quarto:
        out.append(_copy_atomic(_quarto_render(qmd, "html"), reports.paper_html))
        out.append(_copy_atomic(_quarto_render(qmd, "typst"), reports.paper_pdf))
        return out
    front, meta, markdown = _resolved_markdown(qmd)
    html = md_to_html(markdown, meta, qmd.parent, unpub)
    out.append(_write_bytes(reports.paper_html, html.encode("utf-8")))
    typ = qmd.with_suffix(".typ")
    typ.write_text(typst_preamble(front, meta, unpublishable=unpub) + md_to_typst(markdown), encoding="utf-8")
    out.append(_write_bytes(reports.paper_pdf, compile_typst(typ, qmd.parent)))
    return out


# -- appendices: staged in the parent, drawn and compiled in worker processes

_STATE: dict = {}


def _typeset(code: str) -> list[str]:
    """Typeset one trust's staged board documents (figures drawn) into reports/appendices; returns the PDF paths."""
    st = _STATE
    d = st["build"] / code
    out = []
    for kind, src in BOARD_DOCS:
        dest = st["reports"].board_pdf(code, kind)
        if st["quarto"]:
            _copy_atomic(_quarto_render(d / src.name, "typst"), dest)
        else:
            _write_bytes(dest, compile_typst((d / src.name).with_suffix(".typ"), d))
        out.append(str(dest))
    return out


def _draw(code: str) -> None:
    _STATE["figures"].write(code, _STATE["build"] / code / "figures")


def _worker(codes: list[str], queue, ready, state: dict) -> None:
    """Draw the figures of ``codes``, typesetting each appendix as soon as the parent has written the sources.

    Runs in a *spawned* process (a fork would inherit the parent's threads, e.g. Typst's or Arrow's pools, and can
    deadlock): ``state`` carries the figure data; each worker draws the backgrounds of its own peer groups.
    """
    import traceback

    from analysis.figures import AppendixFigures

    try:
        _STATE.update(state, figures=AppendixFigures(state["figdata"]))
        pending: list[str] = []
        for code in codes:
            _draw(code)
            pending.append(code)
            while pending and ready.is_set():
                c = pending.pop(0)
                queue.put(("pdf", c, _typeset(c)))
        ready.wait()
        for c in pending:
            queue.put(("pdf", c, _typeset(c)))
        queue.put(("done", None, None))
    except BaseException as exc:  # reported to the parent, which stops the other worker
        msg = str(exc) if isinstance(exc, SVIError) else traceback.format_exc()
        queue.put(("error", type(exc).__name__, msg))


def _partition(fd, codes: list[str], n: int) -> list[list[str]]:
    """Split trusts between workers by whole peer groups (so each draws only its groups' backgrounds), balanced."""
    groups: dict = {}
    for c in codes:
        groups.setdefault(fd.group_of(c), []).append(c)
    bins: list[list[str]] = [[] for _ in range(n)]
    for g in sorted(groups, key=lambda g: -len(groups[g])):
        min(bins, key=len).extend(groups[g])
    return [b for b in bins if b]


_TOKEN = "SVIQ{:05d}Z"
_VALSEP = "SVIVALUESEPARATORZ"


def _board_typst(staged: list[dict[str, Path]]) -> None:
    """Write the Typst of every staged board document (``slide.typ``, ``appendix.typ``, ``handout.typ`` beside each
    trust's sources) with two pandoc calls in all.

    Resolving the shortcodes first and converting each trust's Markdown costs pandoc runs per trust (and pandoc's
    Markdown reader slows down quadratically with the number of tables in one document, so documents cannot simply
    be concatenated).  Instead the three templates are converted once with every ``{{< meta KEY >}}`` replaced by an
    inert token, every distinct Markdown value of every trust is converted once (as paragraphs of one document), and
    each trust's Typst is the template's with the tokens replaced by its values: the same result as resolving first.
    """
    kinds = list(staged[0])
    fronts, bodies = {}, {}
    for kind in kinds:
        fronts[kind], bodies[kind] = read_qmd(staged[0][kind])
    general = [k for k in kinds if "{{< include" in bodies[k]]
    for kind in general:  # general case (not used by the board documents): resolve and convert trust by trust
        for docs in staged:
            f, meta, md_body = _resolved_markdown(docs[kind])
            io.write_text(docs[kind].with_suffix(".typ"), typst_preamble(f, meta, title_block=False) +
                          md_to_typst(md_body, identifiers=False))
    kinds = [k for k in kinds if k not in general]
    if not kinds:
        return
    keys: dict[str, str] = {}

    def tok(m: re.Match) -> str:
        if m.group(1) != "meta":
            raise SVIError(f"board documents: shortcode {m.group(1)!r} is not supported (use meta)")
        key = m.group(2).strip().strip("\"'")
        return keys.setdefault(key, _TOKEN.format(len(keys)))

    converted = md_to_typst(f"\n\n{_VALSEP}\n\n".join(_SHORTCODE.sub(tok, bodies[k]) for k in kinds),
                            identifiers=False).split(_VALSEP)
    if len(converted) != len(kinds):
        raise SVIError("internal error: a document separator was not preserved by pandoc")
    templates = dict(zip(kinds, converted))
    missing = [k for k, t in keys.items() if not any(t in x for x in converted)]
    if missing:
        raise SVIError(f"internal error: pandoc altered the placeholders of {', '.join(missing[:5])}")
    metas = []
    values: dict[str, None] = {}
    for docs in staged:
        q = docs[kinds[0]]  # one _data.yml per trust, shared by its documents
        meta = load_metadata(q, read_qmd(q)[0])
        row = {}
        for key in keys:
            val = meta
            for part in key.split("."):
                if not isinstance(val, dict) or part not in val:
                    raise SVIError(f"{q.parent.name}: {{{{< meta {key} >}}}} has no value in the generated data")
                val = val[part]
            row[key] = str(val)
            values.setdefault(row[key])
        metas.append((meta, row))
    distinct = list(values)
    conv = md_to_typst(f"\n\n{_VALSEP}\n\n".join(distinct), identifiers=False).split(_VALSEP)
    if len(conv) != len(distinct):
        raise SVIError("internal error: a value separator was not preserved by pandoc")
    typ_of = {v: c.strip() for v, c in zip(distinct, conv)}
    pattern = re.compile("|".join(re.escape(t) for t in sorted(keys.values(), reverse=True)))
    key_of = {t: k for k, t in keys.items()}
    for docs, (meta, row) in zip(staged, metas):
        for kind in kinds:
            text = pattern.sub(lambda m: typ_of[row[key_of[m.group(0)]]], templates[kind])
            io.write_text(docs[kind].with_suffix(".typ"),
                          typst_preamble(fronts[kind], meta, title_block=False) + text.strip() + "\n")


def render_appendices(res: Results, codes: list[str], reports: ResultsDir, build: Path, progress: bool = False,
                      workers: int | None = None, echo=print) -> list[Path]:
    """Stage, draw and typeset the board documents (slide, appendix, handout) of ``codes``; returns their paths.

    With two or more workers (spawned processes, each given whole peer groups), the workers start drawing figures
    at once while this process writes the data files and converts the Markdown (two pandoc runs in all); each
    worker then typesets its trusts as soon as the sources are ready.
    """
    import multiprocessing as mp

    from analysis.figures import AppendixFigures

    quarto = quarto_path() is not None
    build = build / "appendix"
    fd = res.figdata
    _STATE.update(build=build, reports=reports, figures=AppendixFigures(fd), quarto=quarto)
    reports.appendices_dir.mkdir(parents=True, exist_ok=True)
    for c in codes:  # the single combined PDF of earlier versions would be stale beside the new three
        reports.legacy_appendix(c).unlink(missing_ok=True)
    workers = min(workers or min(2, os.cpu_count() or 1), len(codes))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(codes), desc="appendices", unit="trust")

    def stage() -> None:
        ix = _Index(res)
        sources = {kind: src.read_text(encoding="utf-8") for kind, src in BOARD_DOCS}
        staged = [_stage_board(res, c, build, ix, quarto, sources) for c in codes]
        if not quarto:
            _board_typst(staged)

    out: list[Path] = []
    procs = []
    try:
        if workers > 1:
            ctx = mp.get_context("spawn")
            queue, ready = ctx.Queue(), ctx.Event()
            state = {"build": build, "reports": reports, "quarto": quarto, "figdata": fd}
            procs = [ctx.Process(target=_worker, args=(part, queue, ready, state), daemon=True)
                     for part in _partition(fd, codes, workers)]
            for p in procs:
                p.start()
            stage()
            ready.set()
            running = len(procs)
            while running:
                try:
                    kind, a, b = queue.get(timeout=5)
                except Exception:  # queue.Empty: make sure the workers are still alive
                    dead = [p for p in procs if not p.is_alive() and p.exitcode not in (0, None)]
                    if dead:
                        raise SVIError(f"an appendix worker died (exit code {dead[0].exitcode})")
                    continue
                if kind == "pdf":
                    out.extend(Path(x) for x in b)
                    if bar is not None:
                        bar.update()
                elif kind == "done":
                    running -= 1
                else:
                    raise SVIError(f"rendering the appendices failed ({a}): {b}")
        else:
            stage()
            for c in codes:
                _draw(c)
                out.extend(Path(x) for x in _typeset(c))
                if bar is not None:
                    bar.update()
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join(timeout=5)
        if bar is not None:
            bar.close()
        _STATE.clear()
    return sorted(out)


# ============================================================================ entry point

def report(out: str | Path = "results", trusts: Iterable[str] | None = None, all_trusts: bool = False,
           paper: bool = True, progress: bool = False, workers: int | None = None, echo=print) -> dict:
    """Render the paper and the requested appendices from the results in ``out``; returns the written paths."""
    t0 = time.perf_counter()
    res = load_results(out)
    codes: list[str] = []
    if all_trusts:
        codes = res.codes
    elif trusts:
        known = {c.upper(): c for c in res.codes}
        for t in trusts:
            c = known.get(str(t).strip().upper())
            if c is None:
                import difflib

                near = difflib.get_close_matches(str(t).upper(), list(known), n=3)
                raise SVIError(f"trust code {t!r} is not in the results in {res.out}"
                               + (f" (did you mean {', '.join(near)}?)" if near else ""))
            if c not in codes:
                codes.append(c)
    if codes and res.unpublishable is not None:
        raise UnpublishableError(
            f"the results in {res.out} failed the convergence gate (tables/UNPUBLISHABLE), so trust appendices "
            f"will not be rendered from them.\n  {res.unpublishable.splitlines()[0]}\n  Refit until the gate passes "
            f"(see {ResultsDir(res.out).gate}); `svi report` without --trust/--all renders the paper, "
            "marked not publishable, for diagnosis.")
    if not paper and not codes:
        raise SVIError("nothing to render: give --trust CODE or --all, or drop --no-paper")
    reports = ResultsDir(res.out)
    written: dict = {"paper": [], "appendices": [], "trusts": codes,
                     "engine": "quarto" if quarto_path() else "pandoc+typst"}
    shm = Path("/dev/shm")  # many small files, written once and read once: keep them in memory where possible
    tmp_base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="svi-report-", dir=tmp_base) as tmp:
        build = Path(tmp)
        if paper:
            t = time.perf_counter()
            written["paper"] = render_paper(res, reports, build, echo)
            written["paper_seconds"] = time.perf_counter() - t
        if codes:
            t = time.perf_counter()
            written["appendices"] = render_appendices(res, codes, reports, build, progress=progress, workers=workers,
                                                      echo=echo)
            written["appendix_seconds"] = time.perf_counter() - t
    written["seconds"] = time.perf_counter() - t0
    if res.unpublishable is not None and paper:
        echo("!! results failed the convergence gate: the paper is marked NOT PUBLISHABLE")
    return written
