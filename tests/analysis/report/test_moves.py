"""Movements in the board documents and the paper (issue 16 item 5): the value-building functions on small
constructed tables, the trend fit's loading (gate passed, failed, incomplete), the movements figure, and documents
rendered with and without a trend fit."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pandas as pd
import pytest

from analysis.errors import SVIError
from analysis.report import moves
from analysis.report.data import Trend, load_trend
from analysis.results import ResultsDir
from analysis.trend.movements import steady_gain
from tests.analysis.report.conftest import pdf_text
from tests.analysis.report.trendfixture import GATE, trend_tables, trusts_of, write_backtest, write_trend

from analysis import report as rep


def _mv(code, ind, frm, to, span, med, lo, hi, p, both=True):
    return {"org_code": code, "indicator": ind, "from": frm, "to": to, "span": span, "observed_both": both,
            "median": med, "lo80": lo / 2, "hi80": hi / 2, "lo95": lo, "hi95": hi, "p_improved": p}


@pytest.fixture
def small() -> dict:
    """Two trusts, RTT (points, higher better) and SHMI (per cent vs expected, lower better) over three years."""
    mv = pd.DataFrame([
        _mv("A", "rtt", "2022/23", "2023/24", "consecutive", 0.4, -1.0, 1.8, 0.7),
        _mv("A", "rtt", "2023/24", "2024/25", "consecutive", 1.26, -0.31, 2.9, 0.93),
        _mv("A", "rtt", "2022/23", "2024/25", "window", 1.66, 0.2, 3.1, 0.985),
        _mv("A", "shmi", "2022/23", "2024/25", "window", -4.04, -9.0, 0.5, 0.96, both=False),
        _mv("A", "shmi", "2023/24", "2024/25", "consecutive", -2.0, -6.0, 2.0, 0.8),
        _mv("B", "rtt", "2022/23", "2024/25", "window", -0.5, -2.0, 1.0, 0.25),
        _mv("B", "rtt", "2023/24", "2024/25", "consecutive", -0.2, -1.5, 1.1, 0.4),
    ])
    vm = pd.DataFrame([
        {"org_code": "A", "component": c, "from": "2022/23", "to": "2024/25", "span": "window", "median": m,
         "lo80": m - 0.05, "hi80": m + 0.05, "lo95": m - 0.1, "hi95": m + 0.1, "p_improved": p}
        for c, m, p in (("total", 0.31, 0.97), ("rtt", 0.08, 0.8), ("shmi", 0.23, 0.95))])
    return {"movements": mv, "value_movement": vm, "health_alpha": pd.DataFrame(), "trends": pd.DataFrame()}


def test_trust_moves_rows_from_the_tables(small):
    v = moves.trust_moves(Trend(small, GATE, ""), "A")
    assert v["show"] == "yes" and v["absent"] == ""
    rtt, shmi = v["ind"]["rtt"], v["ind"]["shmi"]
    assert (rtt["window"], rtt["window_i95"], rtt["window_p"]) == ("+1.7", "+0.2 to +3.1", "98%")
    assert (rtt["latest"], rtt["latest_p"], rtt["latest_years"]) == ("+1.3", "93%", "2023/24 to 2024/25")
    assert shmi["label"].startswith("SHMI") and "%" in shmi["label"]
    assert shmi["window"] == "\u22124.0" and "modelled" in shmi["years"]  # a year without the trust's data
    assert v["value"]["window"] == "**+0.31**" and v["value"]["window_p"] == "97%"
    assert "RTT" in v["value"]["label"] and "SHMI" in v["value"]["label"]
    assert set(v["ind"]) == {"rtt", "shmi"}
    assert not any("n/a" in str(x) for d in v["ind"].values() for x in d.values())


def test_direction_sentence_names_the_largest_contribution(small):
    s = moves.direction_sentence(small, "A")
    assert "+0.31 SD units" in s and "chance it improved 97%" in s
    assert s.startswith("**Direction of travel**, 2022/23 to 2024/25: the trend composite")
    assert "SHMI mortality moved most (\u22124.0 % vs expected, chance it improved 96%)" in s  # 0.23 SD > RTT's 0.08
    assert moves.direction_short(small, "A") == ("**Direction of travel**, 2022/23 to 2024/25: trend composite +0.31 "
                                                 "SD (95% interval +0.21 to +0.41; chance improved 97%), most "
                                                 "through SHMI.")
    s_b = moves.direction_sentence(small, "B")  # no composite for B: its clearest movement
    assert "RTT within 18 weeks moved most clearly (\u22120.5 points vs expected from 2022/23 to 2024/25" in s_b
    assert "25%" in s_b


def test_without_a_trend_fit_one_sentence_says_why(small):
    t = Trend(None, {}, "no multi-year (trend) fit is in these results", short="no multi-year fit is in these results")
    v = moves.trust_moves(t, "A")
    assert v["show"] == "no" and "no multi-year (trend) fit" in v["absent"]
    assert v["sentence"] == "**Direction of travel:** not available (no multi-year fit is in these results)."
    assert moves.movements_page(t) == "{{< meta svi.moves.absent >}}\n"
    page = moves.movements_page(Trend(small, GATE, ""))
    assert "figures/movements.svg" in page and "svi.moves.ind.rtt.window_i95" in page
    assert "svi.moves.ind.shmi.latest_p" in page
    # a trust the trend fit does not hold: the page's cells exist (the template is the run's) but it is not shown
    v = moves.trust_moves(Trend(small, GATE, ""), "ZZZ")
    assert v["show"] == "no" and set(v["ind"]) == {"rtt", "shmi"} and "not in the multi-year panel" in v["absent"]


def test_steady_gain():
    sigma, tau = np.array([0.3]), np.array([0.1])
    assert steady_gain(np.array([0.9]), sigma, np.array([0.0]))[0] == pytest.approx(1.0)
    # no persistence: each year is a fresh draw around the peer mean, weight sigma^2 / (sigma^2 + tau^2)
    assert steady_gain(np.array([0.0]), sigma, tau)[0] == pytest.approx(0.09 / 0.1)
    # more persistence: the trust's history predicts more, a new year weighs less
    assert steady_gain(np.array([0.95]), sigma, tau)[0] < steady_gain(np.array([0.5]), sigma, tau)[0]


def _trusts():
    return pd.DataFrame({"org_code": list("ABCDEF"), "org_name": list("abcdef"), "peer_group": list("xxxyyy")})


def test_load_trend_passed_failed_incomplete(tmp_path):
    tabs = trend_tables(_trusts(), D=60)
    assert "no multi-year" in load_trend(ResultsDir(tmp_path / "none")).reason
    ok = tmp_path / "ok"
    write_trend(ok, tabs)
    t = load_trend(ResultsDir(ok))
    assert t.ok and set(t.tables) >= {"health_alpha", "movements", "trends"} and t.backtest is None
    failed = tmp_path / "failed"
    write_trend(failed, tabs, gate={**GATE, "passed": False}, unpublishable=True)
    t = load_trend(ResultsDir(failed))
    assert not t.ok and "convergence gate failed" in t.reason
    assert "not shown" in moves.trust_moves(t, "A")["absent"]
    assert moves.trust_moves(t, "A")["sentence"] == ("**Direction of travel:** not available (the multi-year fit is "
                                                     "not shown: its convergence gate failed).")
    # a trend fit made from another data build is not shown beside this value-index fit; one that records none
    # (an older svi) is not checked
    other = tmp_path / "other"
    write_trend(other, tabs, gate={**GATE, "cross_section_panel_hash": "aaaa"})
    assert load_trend(ResultsDir(other), "aaaa").ok and load_trend(ResultsDir(ok), "bbbb").ok
    t = load_trend(ResultsDir(other), "bbbb")
    assert not t.ok and "another data build" in t.reason and "svi trend fit --out" in t.reason
    assert "another data build" in moves.trust_moves(t, "A")["sentence"]
    broken = tmp_path / "broken"
    write_trend(broken, tabs)
    ResultsDir(broken).trend.table("movements").unlink()
    with pytest.raises(SVIError, match="svi trend fit --out"):
        load_trend(ResultsDir(broken))


def test_paper_trend_section(tmp_path):
    tabs = trend_tables(_trusts(), D=60)
    write_trend(tmp_path, tabs)
    t = load_trend(ResultsDir(tmp_path))
    text = moves.paper_trend(t)
    assert "No backtest is in these results" in text
    assert "Persistence rho" in text and "England" in text and "How many trusts moved" in text
    rho = tabs["hyperparameters"].query("indicator == 'rtt' and parameter == 'rho'")["median"].iloc[0]
    assert f"{rho:.2f}" in text
    write_backtest(tmp_path)
    text = moves.paper_trend(load_trend(ResultsDir(tmp_path)))
    assert "90% predictive intervals held the observed value 90% of the time (target 85% to 95%)" in text
    assert "0.74 times" in text and "2 of 2 backtest fits passed" in text and "2024/25" in text
    assert "not a valid test" not in text  # a backtest written before the split says nothing of it
    write_backtest(tmp_path, relative=True)
    text = moves.paper_trend(load_trend(ResultsDir(tmp_path)))
    assert "relative to the year's cross-trust centre, the 90% intervals held 90% and" in text
    assert "combined, have p = 0.620; the 4 forecasts of the national centre" in text
    assert "Relative PIT KS p" in text and "0.97" in text
    absent = moves.paper_trend(Trend(None, {}, "its convergence gate failed"))
    assert "No trend results are shown: its convergence gate failed" in absent and "n/a" not in absent


def test_movements_figure_text_at_least_10pt():
    from analysis.figures import FigureData
    from analysis.figures.movements import movements
    from analysis.figures.style import svg_text

    tr = _trusts()
    tabs = trend_tables(tr, D=60)
    fd = FigureData(trusts=tr.set_index("org_code"), value=pd.DataFrame(), alpha={}, ranks=pd.DataFrame(),
                    trapped={}, panel=pd.DataFrame(), trend=tabs)
    fd._peer_of = dict(zip(tr.org_code, tr.peer_group))
    svg = svg_text(movements(fd, "B"))
    sizes = [float(x) for x in re.findall(r"font-size:\s*([\d.]+)px", svg)]
    assert sizes and min(sizes) >= 10.0
    for label in ("RTT within 18 weeks", "A&amp;E within 4 hours", "Cancer 62-day", "23/24"):
        assert label in svg
    assert "SHMI" not in svg  # one year: no movement, no panel


# ----------------------------------------------------------------------------- rendered documents

@pytest.fixture(scope="session")
def trend_rendered(results, chosen, tmp_path_factory):
    """The fixture's results with a trend fit that passed its gate and a backtest; one trust and the paper."""
    out = tmp_path_factory.mktemp("trend")
    for part in ("panel", "fit", "tables"):
        shutil.copytree(results / part, out / part)
    tabs = trend_tables(trusts_of(results))
    write_trend(out, tabs)
    write_backtest(out)
    code = next(iter(chosen))
    return out, code, tabs, rep.report(out, trusts=[code], paper=True)


def test_appendix_has_the_movements_page_with_a_trend_fit(trend_rendered):
    out, code, tabs, _ = trend_rendered
    rd = ResultsDir(out)
    text = pdf_text(rd.board_pdf(code, "appendix"))
    assert "4. Movements over the years" in text and "not shown" not in text
    w = tabs["movements"].query("org_code == @code and indicator == 'rtt' and span == 'window'").iloc[0]
    fmt = lambda x: f"{x:+.1f}".replace("+0.0", "0.0").replace("-0.0", "0.0")
    assert f"{fmt(w.lo95)} to {fmt(w.hi95)}" in text
    assert "Trend composite" in text and "n/a" not in text
    for kind, words in (("slide", "moved most"), ("handout", "most through")):
        t = pdf_text(rd.board_pdf(code, kind))
        assert "Direction of travel, 2021/22 to 2024/25:" in t and "trend composite" in t and words in t, kind
    paper = pdf_text(rd.paper_pdf)
    assert "Trends and movements" in paper and "Persistence rho" in paper
    assert "held the observed value 90% of the time" in paper


def test_appendix_without_a_trend_fit_says_why(rendered, results, chosen):
    rd = ResultsDir(results)
    code = next(iter(chosen))
    text = pdf_text(rd.board_pdf(code, "appendix"))
    assert "Movements over the years are not shown: no multi-year (trend) fit is in these results" in text
    assert "4. Movements over the years" not in text
    for kind in ("slide", "handout"):
        assert "Direction of travel: not available (no multi-year fit is in these results)" in \
            pdf_text(rd.board_pdf(code, kind))
    assert "No trend results are shown" in pdf_text(rd.paper_pdf)


def test_years_without_data_break_the_lines_and_labels_thin_out():
    """Years sit at their calendar position (a gap such as 2019/20-2020/21 shows as one), lines break across it,
    and a long axis labels every other year counted back from the latest."""
    from analysis.figures.movements import _gapped, _year

    xs = [_year(p, 0) for p in ("2017/18", "2018/19", "2021/22", "2022/23")]
    assert xs == [2017, 2018, 2021, 2022]
    gx, (y,) = _gapped(xs, [1.0, 2.0, 3.0, 4.0])
    assert list(gx) == [2017, 2018, 2020.5, 2021, 2022] and np.isnan(y[2]) and list(y[[0, 1, 3, 4]]) == [1, 2, 3, 4]
    gx, (y,) = _gapped([2022, 2023], [1.0, 2.0])
    assert list(gx) == [2022, 2023] and not np.isnan(y).any()
