"""Method questions answered from the paper's own text (papers/appendix.qmd, papers/methodology.qmd).

Each topic names passages by the words they start with; a passage runs to the end of its paragraph.  Quarto
shortcodes that say which benchmark or grouping the run used are filled in from the run; sentences holding any other
shortcode or mathematics are left out (the paper itself gives them in full).  A passage that can no longer be found
(the paper was edited) is an error the tests catch, not a silent empty answer.
"""

from __future__ import annotations

import re
from functools import lru_cache

from analysis.ask.source import papers_dir

#: topic -> [(file, the words the passage starts with, section to read next)]
TOPICS = {
    "trapped_value": [("appendix.qmd", "**Trapped value** is the money",
                       "section 2 'Trapped value and avoidable deaths'"),
                      ("methodology.qmd", "**Trapped value** is the money", "Trapped value and avoidable deaths")],
    "avoidable_deaths": [("appendix.qmd", "**Avoidable deaths** are deaths", "section 2"),
                         ("appendix.qmd", "These are *statistical* deaths", "section 2")],
    "value_index": [("appendix.qmd", "The value index puts quality and cost", "section 1 'Value position among peers'"),
                    ("methodology.qmd", "Each posterior draw gives a quality composite", "Value index")],
    "health_alpha": [("appendix.qmd", "Health Alpha is the trust's difference",
                      "section 1 'The indicators that drive it'"),
                     ("methodology.qmd", "**Health Alpha** is", "Quality: Health Alpha")],
    "need_adjustment": [("methodology.qmd", "Each trust belongs to one peer group",
                         "Need adjustment and peer grouping"),
                        ("appendix.qmd", "Size class groups trusts", "section 3 'Peer group, and why these peers'")],
    "peer_groups": [("appendix.qmd", "Size class groups trusts", "section 3 'Peer group, and why these peers'"),
                    ("methodology.qmd", "Each trust belongs to one peer group", "Need adjustment and peer grouping")],
    "intervals": [("appendix.qmd", "All figures are posterior medians", "the opening paragraph")],
    "ranks": [("appendix.qmd", "**How to read a rank.**", "section 1 'Rank'"),
              ("methodology.qmd", "In every posterior draw the trusts are ranked", "Ranks")],
    "cost": [("appendix.qmd", "The value index puts quality and cost", "section 1"),
             ("methodology.qmd", "For cost setting", "Cost")],
    "data": [("methodology.qmd", "The panel holds one row per trust", "Data"),
             ("methodology.qmd", "The raw files are official statistics", "Data")],
    "limitations": [("methodology.qmd", "- **SHMI is not adjusted for deprivation.**", "Limitations")],
    "convergence": [("methodology.qmd", "The model was sampled with", "Diagnostics"),
                    ("methodology.qmd", "Validation asks whether the model recovers", "Validation")],
    "shmi": [("appendix.qmd", "{{< meta svi.funnel.text >}} This is NHS Digital's",
              "section 1 'Mortality'"),
             ("methodology.qmd", "Alongside the model, each appendix places", "The SHMI funnel")],
}
_DOC = {"appendix.qmd": "board appendix", "methodology.qmd": "methodology paper"}


@lru_cache(maxsize=None)
def _source(name: str) -> str:
    return (papers_dir() / name).read_text(encoding="utf-8")


def raw_passage(name: str, start: str) -> str:
    """The paragraph of ``name`` that starts with ``start`` (a list runs to its end); KeyError if absent."""
    text = _source(name)
    i = text.find(start)
    if i < 0:
        raise KeyError(f"{name}: no passage starting {start!r}")
    j = text.find("\n\n", i)
    return text[i: j if j > 0 else len(text)]


def _fill(text: str, book) -> str:
    bench = "peer_median"
    if book is not None and "total" in book.trapped:
        bench = str(book.trapped["total"]["benchmark"].iloc[0])
    btxt = "the peer-group median" if bench == "peer_median" else "the peer group's best quarter (25th percentile)"
    for key in ("svi.benchmark.cost", "svi.benchmark.mortality", "svi.tv_benchmark", "svi.ad_benchmark"):
        text = text.replace("{{< meta " + key + " >}}", btxt)
    text = text.replace("{{< meta svi.peer.column >}}", "size class")
    # answers are only ever given from a fit that passed the gate (analysis.ask.source.check_gate)
    text = text.replace("the gate {{< meta svi.gate_status >}}", "these results passed it")
    return text


def clean(text: str, book=None) -> str:
    """Plain sentences: known shortcodes filled, sentences with other shortcodes or mathematics dropped."""
    text = _fill(text, book).replace("\n", " ")
    text = re.sub(r"\*\*|\*|`", "", text)
    text = re.sub(r"\{\{< meta svi\.funnel\.text >\}\}\s*", "", text)
    items = re.split(r"(?<=[.:;!?])\s+(?=[A-Z{-])", text)
    keep = [t for t in items if "{{<" not in t and "$" not in t and t.strip()]
    out = " ".join(keep).strip()
    out = re.sub(r"\s+-\s+(?=[A-Z])", "\n- ", out)  # bullet lists back on their own lines
    out = re.sub(r"[ \t]{2,}", " ", out).rstrip(":; ")
    return out + "." if out and out[-1] not in ".!?" else out


def passage(topic: str, book=None) -> tuple[str, str]:
    """The paper's answer to a method topic, and where to read the rest."""
    parts, where = [], []
    for name, start, section in TOPICS.get(topic, TOPICS["value_index"]):
        t = clean(raw_passage(name, start), book)
        if t and t not in parts:
            parts.append(t)
            where.append(f"{_DOC[name]}, {section}")
    text = "From the paper: " + "\n".join(parts)
    return text, "; ".join(dict.fromkeys(where))
