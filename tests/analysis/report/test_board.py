"""The board documents' rules (issue 19, items 3, 4, 7, 8, 9): type sizes, no funnel page without SHMI, no bare
"n/a", the specialist caveat and no national rank for specialist trusts, drivers and questions read from the tables,
one mortality message, amounts whose interval starts at zero, titles that fit, periods from the dictionary."""

from __future__ import annotations

import collections
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from analysis.report import board
from models import indicators as registry
from analysis.report.text import money
from tests.analysis.report.conftest import pages, pdf_text

pytest.importorskip("typst")
pytest.importorskip("pypandoc")

from analysis import report as rep  # noqa: E402


def _specialist(tables, chosen) -> str:
    vi = tables["value_index"]
    return [c for c in chosen if vi[vi.org_code == c].size_class.iloc[0] == "specialist"][0]


def _docs(results, code) -> dict[str, Path]:
    return {k: results / "reports" / "appendices" / f"{code}_{k}.pdf" for k in ("slide", "appendix", "handout")}


def word_sizes(pdf: Path) -> list[tuple[float, str]]:
    """(type size in pt, word) of every word of a PDF, from ``pdftotext -bbox`` (a Typst PDF's word box is exactly
    as tall as its type size).  A rotated word's box is as tall as the word is long, so a one-character word
    counts the larger side of its box."""
    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    sizes = []
    for x0, y0, x1, y1, w in re.findall(r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<',
                                        out):
        h, wd = float(y1) - float(y0), float(x1) - float(x0)
        sizes.append((max(h, wd) if len(w) == 1 else h, w))
    return sizes


# ----------------------------------------------------------------------------- rendered documents

def test_slide_and_handout_text_is_at_least_10pt(results, rendered, chosen):
    """Every word of the slide and the handout, chart text included, is set at 10 pt or more; the appendix's body
    text (its most common size) too."""
    for code in chosen:
        d = _docs(results, code)
        for kind in ("slide", "handout"):
            small = [(round(s, 1), w) for s, w in word_sizes(d[kind]) if s < 9.95]
            assert not small, (code, kind, small[:10])
            chart = {w for s, w in word_sizes(d[kind])}
            assert "Quality" in chart or "quality" in chart  # the chart's own text was measured too
        body = collections.Counter(round(s, 1) for s, w in word_sizes(d["appendix"])).most_common(1)[0][0]
        assert body >= 9.95, (code, body)


def test_handout_chart_is_not_flat(results, chosen):
    """The handout's position chart (quality against cost) has a plot area that shows its quality axis: at least
    1.35 in high and at least a fifth as high as it is wide.  Its four quadrant labels are 10-pt lines at the plot's
    top and bottom (about 0.35 in together); at 1.35 in they cover a quarter of the height and the trusts within
    one SD of 0 stay clear of them.  The chart 1.95 in high with a two-row legend had a plot 0.65 in high (0.11 as
    high as wide), where the labels covered half of it.  The legend and every label stay inside the figure, and the
    legend clear of the plot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from analysis.figures.appendix import BOARD_SIZES
    from analysis.figures.panels import value_position
    from analysis.figures.style import BOARD_SCALE
    from analysis.report.data import load_results

    fd = load_results(results).figdata
    w, h = BOARD_SIZES["handout_position"]
    for code in chosen:
        fig = value_position(fd, code, height=h, width=w, scale=BOARD_SCALE)
        ax = fig.axes[0]
        box = ax.get_position()
        pw, ph = box.width * w, box.height * h
        assert ph >= 1.35 and ph / pw >= 0.2, (code, round(pw, 2), round(ph, 2))
        r = FigureCanvasAgg(fig).get_renderer()
        dpi = fig.dpi
        whole = fig.get_tightbbox(r)  # inches
        assert whole.x0 >= -0.01 and whole.y0 >= -0.01 and whole.x1 <= w + 0.01 and whole.y1 <= h + 0.01, (code, whole)
        legend = ax.get_legend().get_window_extent(r)
        assert legend.y0 >= ax.get_window_extent(r).y1 - 0.5 and legend.y1 <= h * dpi + 0.5, code


def test_board_footers_are_whole(results, rendered, chosen):
    """The footers' last words are on every page (text pushed past the page's edge is not extracted, so a footer too
    long for its margin loses its end)."""
    ends = {"slide": "many places by chance alone.", "handout": "validation was not run for these results)."}
    for code in chosen:
        for kind, end in ends.items():
            pdf = _docs(results, code)[kind]
            for p in range(1, pages(pdf) + 1):
                assert pdf_text(pdf, p, p).rstrip().endswith(end), (code, kind, p)


def test_slide_title_is_one_line(results, rendered, chosen):
    """The slide's title (the only text of 14 pt or more at the top of the first page) sits on one line."""
    for code in chosen:
        out = subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-bbox", str(_docs(results, code)["slide"]), "-"],
                             capture_output=True, text=True, check=True).stdout
        rows = {round(float(y0)) for y0, y1 in re.findall(r'yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">', out)
                if float(y1) - float(y0) >= board.TITLE_MIN_PT - 0.1 and float(y0) < 120}
        assert len(rows) == 1, (code, rows)


def test_no_funnel_page_without_shmi(results, rendered, chosen, tables):
    spec = _specialist(tables, chosen)
    funnel_axis = "Expected deaths (log scale)"
    for code in chosen:
        text = pdf_text(_docs(results, code)["appendix"])
        if code == spec:
            assert funnel_axis not in text and "Published SHMI against expected deaths" not in text
            assert "no published SHMI" in text  # and it says why
        else:
            assert funnel_axis in text


def test_no_bare_na(results, rendered, chosen):
    """A missing value always says why: no "n/a" anywhere in the board documents."""
    for code in chosen:
        for kind, pdf in _docs(results, code).items():
            assert not re.search(r"\bn/a\b", pdf_text(pdf), re.I), (code, kind)


def test_specialist_caveat_and_no_national_rank(results, rendered, chosen, tables):
    spec = _specialist(tables, chosen)
    rk = tables["ranks"].set_index(["scope", "org_code"])
    assert pd.isna(rk.loc[("national", spec), "rank_median"])
    n_nat = int(rk.loc["national"].n_ranked.max())
    for code in chosen:
        d = _docs(results, code)
        for kind in ("slide", "handout", "appendix"):
            text = pdf_text(d[kind])
            has = "Specialist trust: read with care" in text
            assert has == (code == spec), (code, kind)
            if code == spec:
                assert "not ranked" in text and f"of {n_nat} (95% interval" not in text
                assert "compared within its peer group only" in text or "ranked within its peer group only" in text


def test_slide_names_drivers_settings_and_questions_from_the_tables(results, rendered, chosen, tables):
    """The slide's second page and the handout name the two parts of the value index that the tables rank first,
    with their intervals, and the questions' numbers are the tables' numbers."""
    dv = tables["value_drivers"]
    for code in chosen:
        t = dv[(dv.org_code == code) & dv["median"].notna()].copy()
        t["strength"] = np.where(t.lo80 > 0, t.lo80, np.where(t.hi80 < 0, -t.hi80, 0.0))
        t = t.assign(size=t["median"].abs()).sort_values(["strength", "size"], ascending=False)
        top2 = list(t.part[:2])
        d = _docs(results, code)
        page2 = pdf_text(d["slide"], 2, 2)
        handout = pdf_text(d["handout"])
        for part in top2:
            label = board.part_label(part)
            assert label[0].upper() + label[1:] in page2 and label[0].upper() + label[1:] in handout, (code, part)
        for part in {n for n, r in registry.INDICATORS.items() if r.weight is not None} - set(top2):
            assert f"{board.part_label(part)[0].upper() + board.part_label(part)[1:]}:" not in page2
        assert "Questions for the board" in page2 and "Where the trapped value sits" in page2


def test_one_mortality_message(results, rendered, chosen, tables):
    """The slide leads with the published band; the model's figure is second, and the slide has no separate
    "deaths above the peer benchmark" headline."""
    f = tables["shmi_funnel"].set_index("org_code")
    for code in chosen:
        st = pdf_text(_docs(results, code)["slide"], 1, 1, layout=True)  # rows top to bottom
        assert "Deaths above the peer benchmark:" not in st
        if code in f.index and bool(f.loc[code, "in_fit"]):
            lead = st.index("published SHMI")
            assert f'{f.loc[code, "ratio"]:.2f}' in st[lead:lead + 40]
            assert st.index("Model, need-adjusted") > lead


def test_paper_status_is_not_validated_without_validation(results, rendered, with_manifests):
    text = pdf_text(results / "reports" / "methodology.pdf")
    assert "may be published" not in text
    assert "have not been validated" in text
    assert "Every check below" not in text  # no reference to checks that do not exist
    assert "no prior predictive or prior sensitivity check was run" in text
    assert "national centres of the peer means' priors" in text and re.search(r"RTT -?\d+\.\d\d logits", text)
    out, _ = with_manifests
    written = rep.report(out)
    text = pdf_text(out / "reports" / "methodology.pdf")
    assert "Validation found problems" in text and "1 of 3 validation checks of this run failed" in text
    assert "Every check below" in text
    assert written["paper"]


# ----------------------------------------------------------------------------- the rules, unit by unit

def test_amount_never_says_zero_beside_a_wide_interval():
    f = lambda x: f"{x:,.0f}"
    assert board.amount(0.2, 0.0, 184.0, f) == "up to 184"
    assert board.amount(0.0, 0.0, 0.3, f) == "none" and board.amount(0.0, 0.0, 0.3, f, "a year") == "none"
    assert board.amount(40.0, 0.1, 184.0, f) == "40 (up to 184)"
    assert board.amount(40.0, 12.0, 184.0, f, "a year") == "40 a year (95% interval 12 to 184)"
    assert board.amount(float("nan"), 0, 1, f) == ""


def test_title_name_fits_one_line():
    short = "KING'S COLLEGE HOSPITAL NHS FOUNDATION TRUST"
    assert board.title_name(short) == "King's College Hospital NHS Foundation Trust"
    long = "THE ROBERT JONES AND AGNES HUNT ORTHOPAEDIC HOSPITAL NHS FOUNDATION TRUST"
    t = board.title_name(long)
    assert t == "Robert Jones and Agnes Hunt Orthopaedic Hospital"
    assert float(board.title_size(t).removesuffix("pt")) * len(t) <= board.TITLE_PT * board.TITLE_MAX_CHARS + 1e-6
    huge = "THE " + "VERY LONG WORD " * 10 + "NHS TRUST"
    t = board.title_name(huge)
    size = float(board.title_size(t).removesuffix("pt"))
    assert t.endswith("\u2026") and board.TITLE_MIN_PT <= size < board.TITLE_PT
    assert size * len(t) <= board.TITLE_PT * board.TITLE_MAX_CHARS + 1e-6


def test_periods_are_read_from_the_dictionary():
    d = pd.DataFrame({"name": ["shmi_observed_deaths", "rtt_total_waiting", "ae_attendances", "fft_responses",
                               "ncc_actual_cost_total_gbp_m"],
                      "period": ["Jan 2025 - Dec 2025", "latest week in 2026-03 snapshot",
                                 "latest month in 2026-03 snapshot", "latest month in 2026-03 snapshot", "2024/25"]})
    p = board.periods(d)
    assert p == ("SHMI Jan 2025 - Dec 2025; RTT one week of March 2026; A\\&E and FFT March 2026; "
                 "costs 2024/25")
    d.loc[4, "period"] = "2023/24"
    assert board.periods(d).endswith("costs 2023/24")
    assert "not recorded" in board.periods(None)


def test_missing_reason_comes_from_the_findings():
    f = pd.DataFrame({"org_code": ["X1"], "column": ["fft_responses"], "action": ["set missing"],
                      "reason": ["zero FFT responses: not 0/0"]})
    assert board.missing_reason(f, "X1", "fft_responses", "generic") == "zero FFT responses"
    assert board.missing_reason(f, "X2", "fft_responses", "generic") == "generic"


def _ix(rows: dict, alpha: dict | None = None, cost_resid=None, trapped: dict | None = None):
    """A stand-in for the report's TrustIndex: one trust T's value_drivers rows (part -> median, lo95, lo80, hi80,
    hi95), Health Alpha rows, cost residual and trapped value by setting (its point estimate is the mean)."""
    cols = ["median", "lo95", "lo80", "hi80", "hi95"]
    dr = pd.DataFrame([dict(zip(cols, v), part=p, weight=0.1) for p, v in rows.items()]).set_index("part")
    al = {m: pd.DataFrame([dict(zip(cols, v))], index=["T"]) for m, v in (alpha or {}).items()}
    val = {"cost_residual_total": pd.DataFrame([dict(zip(cols, cost_resid or (0.0,) * 5))], index=["T"])}
    tv = {s: pd.DataFrame([dict(zip(["mean", *cols[1:]], v))], index=["T"]) for s, v in (trapped or {}).items()}
    return SimpleNamespace(drivers={"T": dr}, alpha=al, value=val, trapped=tv)


def test_drivers_follow_the_tables():
    """The two parts furthest from zero (80% interval end nearest zero) lead; changing the table changes them."""
    alpha = {"ae_pp_vs_expected": (-6.0, -8.5, -7.9, -4.1, -3.3), "rtt_pp_vs_expected": (1.2, -0.6, 0.0, 2.5, 3.1),
             "shmi_ratio_to_expected": (1.04, 0.98, 1.0, 1.08, 1.10), "fft_pp_vs_expected": (0.6, -0.9, -0.4, 1.6, 2.1)}
    rows = {"shmi": (-0.07, -0.17, -0.14, 0.0, 0.03), "rtt": (0.02, -0.01, 0.0, 0.04, 0.05),
            "ae": (-0.064, -0.095, -0.085, -0.043, -0.033), "fft": (0.02, -0.03, -0.01, 0.06, 0.07),
            "cost": (-0.21, -0.41, -0.34, -0.08, -0.02)}
    ix = _ix(rows, alpha, cost_resid=(0.034, 0.004, 0.01, 0.06, 0.067))
    d = board.drivers(ix, "T")
    assert [x["part"] for x in d] == ["cost", "ae"]
    assert d[1]["measure"] == "\u22126.0 percentage points against expectation"
    assert d[1]["measure_i95"] == "\u22128.5 to \u22123.3" and d[1]["credible"]
    assert d[0]["measure"].startswith("3.5% above")
    shmi_first = dict(rows, shmi=(-0.5, -0.7, -0.6, -0.4, -0.3))
    d = board.drivers(_ix(shmi_first, alpha), "T", band="as expected")
    assert d[0]["part"] == "shmi" and "published band: \u201cas expected\u201d" in d[0]["text"]
    assert board.questions(d[:1], [], "as expected", "0.97") == []  # mortality questions: from the band only
    rows["fft"] = (0.5, 0.3, 0.35, 0.65, 0.7)  # FFT now moves the index most
    assert [x["part"] for x in board.drivers(_ix(rows, alpha), "T")][0] == "fft"


def test_questions_only_from_credible_numbers():
    alpha = {"ae_pp_vs_expected": (-6.0, -8.5, -7.9, -4.1, -3.3)}
    rows = {"ae": (-0.064, -0.095, -0.085, -0.043, -0.033), "fft": (-0.05, -0.2, -0.1, -0.01, 0.02)}
    ix = _ix(rows, alpha, trapped={"op": (35.7, 25.7, 29.8, 43.3, 46.7), "apc": (0.3, 0.0, 0.0, 0.9, 1.7)})
    drv = board.drivers(ix, "T")
    sett = board.settings(ix, "T", {"total": "All settings", "apc": "Admitted patient care", "op": "Outpatients"})
    assert [s["setting"] for s in sett] == ["op", "apc"] and sett[1]["text"].endswith("£0.3m a year (up to £1.7m)")
    qs = board.questions(drv, sett, "as expected", "0.97")
    assert len(qs) == 2  # A&E (credible), outpatients (credible); FFT's 95% interval spans 0; apc starts at 0
    assert "\u22126.0 percentage points" in qs[0] and "\u22128.5 to \u22123.3" in qs[0]
    assert money(35.7) in qs[1] and money(25.7) in qs[1]
    assert any("mortality" in q for q in board.questions(drv, sett, "higher than expected", "1.20"))
    calm = {"ae": (-0.01, -0.05, -0.03, 0.01, 0.03)}
    assert board.questions(board.drivers(_ix(calm, alpha), "T"), [], "as expected", "1.00") == []
    assert len(board.questions(drv * 3, sett * 3, "higher than expected", "1.2")) == 3  # never more than three
    # a fixed gap (peer group without need adjustment): the amount, no interval, and the question says so
    fixed = board.settings(ix, "T", {"op": "Outpatients"}, fixed_gap=True)
    assert fixed[0]["text"] == f"**Outpatients**: {money(35.7)} a year ({board.NO_INTERVAL_WORDS})"
    q = board.questions([], fixed, "as expected", "1.00")
    assert len(q) == 1 and board.NO_INTERVAL_WORDS in q[0] and "95% interval" not in q[0]


def test_mortality_message_leads_with_the_band():
    fr = SimpleNamespace(in_fit=True, ratio=0.9748, band_label="as expected")
    ar = pd.Series({"median": 1.04, "lo95": 0.98, "hi95": 1.10})
    dr = pd.Series({"mean": 106.0, "lo95": 0.0, "hi95": 241.0})
    m = board.mortality(fr, ar, dr, "Jan 2025 - Dec 2025")
    assert m["lead"].startswith("published SHMI 0.97") and "as expected" in m["lead"]
    assert "1.04 (95% interval 0.98 to 1.10)" in m["secondary_short"] and "106 (up to 241)" in m["secondary_short"]
    # the handout's: every number of the full message, the reasons left to the appendix
    assert "1.04 (95% interval 0.98 to 1.10)" in m["secondary_handout"] and "106 (up to 241)" in m["secondary_handout"]
    assert "appendix" in m["secondary_handout"] and len(m["secondary_handout"]) < len(m["secondary"])
    none = board.mortality(None, None, None, "")
    assert none["has"] == "no" and "no published SHMI" in none["lead"]
