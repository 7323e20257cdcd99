"""The year panel's rules on toy fixtures: months to years, the missing-month rule, successor mapping (mergers
summed, splits broken, incomplete merged months), series-break flags, and bad input."""

import numpy as np
import pandas as pd
import pytest

from analysis.errors import DataError
from analysis.sources.monthly import load_rtt_monthly
from analysis.trend import successors as S
from analysis.trend.years import MIN_MONTHS, build_year_panel, fy_label, fy_start, to_years


def _months(start: str, n: int) -> list[str]:
    return [str(p) for p in pd.period_range(start, periods=n, freq="M")]


def _tidy(code, months, measure, num, den):
    return pd.DataFrame({"org_code": code, "month": months, "measure": measure, "numerator": num, "denominator": den,
                         "_line": range(2, 2 + len(months))})


def test_financial_year_boundaries():
    assert fy_start(pd.Series(["2023-03", "2023-04", "2024-01"])).tolist() == [2022, 2023, 2023]
    assert fy_label(2023) == "2023/24" and fy_label(2099) == "2099/00"


def test_flows_summed_stocks_averaged():
    m = _months("2023-04", 12)
    flows = _tidy("RAA", m, "ae", 90.0, 100.0)
    stocks = _tidy("RAA", m, "rtt", np.linspace(50, 61, 12), 100.0)
    y, short = to_years(pd.concat([flows, stocks]))
    ae = y[y.measure == "ae"].iloc[0]
    rtt = y[y.measure == "rtt"].iloc[0]
    assert (ae.numerator, ae.denominator, ae.months) == (1080.0, 1200.0, 12)
    assert rtt.denominator == pytest.approx(100.0) and rtt.numerator == pytest.approx(np.mean(np.linspace(50, 61, 12)))
    assert short.empty


def test_missing_month_rule_boundary():
    ok = _tidy("RAA", _months("2023-04", MIN_MONTHS), "ae", 9.0, 10.0)
    short = _tidy("RBB", _months("2023-04", MIN_MONTHS - 1), "ae", 9.0, 10.0)
    blank = _tidy("RCC", _months("2023-04", 12), "ae", 9.0, 10.0)
    blank.loc[blank.index[:4], "numerator"] = np.nan  # 4 months reported blank: 8 usable
    y, s = to_years(pd.concat([ok, short, blank]))
    got = y.set_index("org_code")
    assert got.at["RAA", "denominator"] == 10.0 * MIN_MONTHS
    assert np.isnan(got.at["RBB", "denominator"]) and np.isnan(got.at["RCC", "numerator"])
    assert set(s.org_code) == {"RBB", "RCC"}
    assert "2023-04" in s.set_index("org_code").at["RCC", "blank"]


def _succ():
    edges = pd.DataFrame({"old_code": ["ROLD", "RW6", "RW6", "RMID"], "new_code": ["RMID", "RM3", "R0A", "RNEW"],
                          "date": ["2017-04-01", "2021-10-01", "2021-10-01", "2019-04-01"]})
    return S.successions(edges, curated=(("RLATE", "RNEW", "2023-07-01", "post-2022"),))


def test_fates_merger_chain_split_and_foreign():
    succ = _succ()
    current = {"RNEW", "RM3", "R0A"}
    assert S.fate("ROLD", succ, current).kind == "merger"
    assert S.fate("ROLD", succ, current).successors == ("RNEW",)  # through the chain ROLD > RMID > RNEW
    assert S.fate("RLATE", succ, current).successors == ("RNEW",)  # curated post-2022 merger
    f = S.fate("RW6", succ, current)
    assert f.kind == "split" and f.successors == ("R0A", "RM3") and f.date == "2021-10-01"
    assert S.fate("RXX", succ, current).kind == "not in panel"
    assert S.fate("RM3", succ, current).kind == "current"


def test_merger_summed_split_broken():
    succ = _succ()
    months = _months("2021-04", 12)
    frame = pd.concat([_tidy("RNEW", months, "ae", 80.0, 100.0), _tidy("RMID", months, "ae", 40.0, 50.0),
                       _tidy("RW6", months[:6], "ae", 10.0, 20.0), _tidy("RM3", months, "ae", 5.0, 10.0)])
    mapping = S.successor_map(frame.org_code, succ, {"RNEW", "RM3", "R0A"})
    out, dropped = S.apply(frame, mapping)
    new = out[out.org_code == "RNEW"]
    assert (new.numerator == 120.0).all() and (new.denominator == 150.0).all() and len(new) == 12
    assert "RW6" not in set(out.org_code)  # a split predecessor is attributed to no successor
    rm3 = out[out.org_code == "RM3"]
    assert rm3.month.min() == "2021-10"  # the successor's months before the split are missing
    assert set(dropped[dropped.org_code == "RM3"].month) == set(months[:6])
    assert dropped.reason.str.contains("footprint break").all()


def test_incomplete_merged_month_is_missing_not_understated():
    succ = _succ()
    months = _months("2018-04", 12)  # RMID merges into RNEW 2019-04: expected in every month of 2018/19
    frame = pd.concat([_tidy("RNEW", months, "ae", 80.0, 100.0), _tidy("RMID", months[:11], "ae", 40.0, 50.0)])
    out, dropped = S.apply(frame, S.successor_map(frame.org_code, succ, {"RNEW"}))
    assert months[11] not in set(out.month) and dropped.reason.str.contains("RMID").all()
    assert (out.denominator == 150.0).all()


def _cross_section(codes):
    from analysis.synthetic import generate

    p = generate(20260401)[0].head(len(codes)).copy()
    p["org_code"] = codes
    return p


def test_build_year_panel_rows_breaks_and_findings():
    xs = _cross_section(["RNEW", "RM3", "R0A"])
    m = _months("2022-04", 24)
    rtt = _tidy("RNEW", m, "rtt", 60.0, 100.0)
    ae = pd.concat([_tidy("RNEW", m, "ae", 90.0, 100.0), _tidy("R0A", m[:5], "ae", 9.0, 10.0)])
    monthly = {"rtt": rtt, "ae": ae}
    res = build_year_panel(monthly, xs, None, ())
    p = res.panel
    assert len(p) == 3 * p.year.nunique() and p.year.min() == 2016  # every trust in every year
    r = p.set_index(["org_code", "year"])
    assert r.at[("RNEW", 2023), "rtt_total_waiting"] == 100.0 and r.at[("RNEW", 2023), "ae_attendances"] == 1200.0
    assert r.at[("RNEW", 2023), "break_rtt"] and not r.at[("RNEW", 2022), "break_rtt"]
    assert r.at[("RNEW", 2023), "break_cancer_62d"]
    assert np.isnan(r.at[("R0A", 2022), "ae_attendances"])  # 5 months: missing, and reported
    f = res.findings
    assert ((f.org_code == "R0A") & (f.source == "missing-month rule")).any()
    assert np.isnan(r.at[("RNEW", 2016), "rtt_total_waiting"])
    # SHMI enters 2025/26 only (one-year indicator from the cross-section): outside this toy window
    assert p.shmi_observed_deaths.isna().all() and p.ncc_actual_cost_total_gbp_m.isna().all()


def test_loader_names_file_line_column(tmp_path):
    f = tmp_path / "rtt.csv"
    rows = ["org_code,level,month,waiting_list_total,within_18_weeks"]
    rows += [f"RA{i % 10},provider,2023-{(i % 12) + 1:02d},100,50" for i in range(25)]
    rows.append("RZZ,provider,2023-13,100,50")
    f.write_text("\n".join(rows) + "\n")
    import analysis.sources.monthly as M

    old = M.MIN_ROWS["rtt_monthly"]
    M.MIN_ROWS["rtt_monthly"] = 1
    try:
        with pytest.raises(DataError) as e:
            load_rtt_monthly(f)
    finally:
        M.MIN_ROWS["rtt_monthly"] = old
    assert e.value.column == "month" and e.value.row == 27 and "YYYY-MM" in str(e.value)


def test_numerator_above_denominator_set_missing(tmp_path):
    import analysis.sources.monthly as M

    f = tmp_path / "rtt.csv"
    f.write_text("org_code,level,month,waiting_list_total,within_18_weeks\nRAA,provider,2023-04,100,150\n"
                 "RAA,provider,2023-05,100,50\n")
    old = M.MIN_ROWS["rtt_monthly"]
    M.MIN_ROWS["rtt_monthly"] = 1
    try:
        df = load_rtt_monthly(f)
    finally:
        M.MIN_ROWS["rtt_monthly"] = old
    assert np.isnan(df.numerator.iloc[0]) and df.numerator.iloc[1] == 50
    assert df.attrs["invalid"][0]["line"] == 2
