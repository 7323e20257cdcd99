"""Cancer Waiting Times monthly Combined CSV: parser (analysis.sources.official.cwt).

The fixture's expected counts below are computed by hand from its rows (see the comments); every rejection must
name the file, the 1-based line (header = line 1) and the column as written in the file.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from analysis.sources import monthly, official
from tests.analysis.sources.official.helpers import CWT, edit_csv, raises_at

# (org, standard, month) -> (within, total, source), by hand from the fixture:
EXPECTED = {
    # the publisher's all-types row only: the cancer-type rows (150 + 250), the route rows (380 + 20) and the
    # 31D stage and modality rows would count the same patients again
    ("RZ1", "FDS28", "2025-10"): (310, 400, "rollup"),
    ("RZ1", "CMB31", "2025-10"): (115, 120, "rollup"),
    ("RZ1", "CMB62", "2025-10"): (40.5, 60.5, "rollup"),  # a patient shared with RZ3 counts 0.5
    ("RZ1", "FDS28", "2025-11"): (300, 410, "rollup"),
    ("RZ1", "CMB31", "2025-11"): (112, 118, "rollup"),
    ("RZ1", "CMB62", "2025-11"): (41, 55, "rollup"),
    ("RZ1", "FDS28", "2025-12"): (290, 390, "rollup"),
    ("RZ2", "FDS28", "2025-11"): (150, 200, "rollup"),
    # no roll-up row: Haematological 7/10 + Lung 15/20.5; the child 'Haematological - Lymphoma' (4/6) is inside
    # its parent, the route rows (USC 18/25, Lung x USC 13/18) are other breakdowns of the same patients
    ("RZ2", "CMB62", "2025-11"): (22, 30.5, "cancer_types"),
    ("RZ3", "CMB62", "2025-10"): (9, 12.5, "rollup"),
    ("RZ3", "CMB62", "2025-11"): (6.5, 8.5, "rollup"),
    # dropped: RZ2 CMB31 2025-11 (total 0), Commissioner rows (QZE), England ('Total'), the USC referral item
}


def _by_key(frame: pd.DataFrame) -> dict:
    return {(r.org_code, r.standard, r.month): (r.within_standard, r.total, r.source) for r in frame.itertuples()}


def test_totals_equal_the_hand_computed_ones():
    frame = official.parse_cwt_combined(CWT)
    assert _by_key(frame) == EXPECTED
    assert frame.loc[frame.org_code == "RZ1", "parent_org"].unique().tolist() == ["NHS ENGLAND NORTH WEST"]
    assert frame["within_standard"].dtype == float and frame["total"].dtype == float


def test_halves_are_kept():
    frame = official.parse_cwt_combined(CWT)
    halves = frame[(frame.total % 1 != 0) | (frame.within_standard % 1 != 0)]
    assert len(halves) == 4  # RZ1 and RZ3 CMB62 2025-10, RZ2 CMB62 2025-11 (sum), RZ3 CMB62 2025-11


def test_output_agrees_in_form_with_the_third_party_monthly_file(tmp_path, monkeypatch):
    """The same aggregation code can take either: the parsed rows, in the third-party layout, are read by the
    loader of the third-party file (analysis.sources.monthly.load_cancer_monthly) and give the same counts."""
    frame = official.parse_cwt_combined(CWT)
    for column in ("org_code", "standard", "month", "within_standard", "total"):
        assert column in frame.columns
    assert set(frame.standard) <= set(monthly.CANCER_STANDARDS)
    assert frame.month.map(lambda m: bool(re.fullmatch(r"\d{4}-\d{2}", m))).all()
    path = tmp_path / "cancer_wait_by_org_month.csv"
    official.cwt_to_monthly(frame).to_csv(path, index=False)
    monkeypatch.setitem(monthly.MIN_ROWS, "cancer_monthly", 1)
    tidy = monthly.load_cancer_monthly(path)
    got = {(r.org_code, {v: k for k, v in monthly.CANCER_STANDARDS.items()}[r.measure], r.month):
           (r.numerator, r.denominator) for r in tidy.itertuples()}
    assert got == {k: v[:2] for k, v in EXPECTED.items()}


def test_one_month_file_without_period_takes_the_month_from_its_name(tmp_path):
    lines = CWT.read_text().splitlines()
    drop_first = [",".join(line.split(",")[1:]) for line in lines[:1] + [ln for ln in lines[1:]
                                                                          if ln.startswith("01/11/2025")]]
    named = tmp_path / "November-2025-Monthly-Combined-CSV-Provisional.csv"
    named.write_text("\n".join(drop_first) + "\n")
    frame = official.parse_cwt_combined(named)
    assert set(frame.month) == {"2025-11"}
    assert _by_key(frame) == {k: v for k, v in EXPECTED.items() if k[2] == "2025-11"}
    anonymous = tmp_path / "cwt.csv"
    anonymous.write_text(named.read_text())
    assert set(official.parse_cwt_combined(anonymous, month="2025-11").month) == {"2025-11"}
    with raises_at(anonymous, 1, "Period", "no 'Period' column.*month='YYYY-MM'"):
        official.parse_cwt_combined(anonymous)


def test_missing_column(tmp_path):
    broken = edit_csv(CWT, tmp_path / "c.csv", 1, ",Within,", ",Within_28_days,")
    with raises_at(broken, 1, "Within", "missing required column.*'Within'"):
        official.parse_cwt_combined(broken)


def test_non_numeric_count(tmp_path):
    broken = edit_csv(CWT, tmp_path / "c.csv", 11, ",60.5,40.5,", ",60.5,4O.5,")
    with raises_at(broken, 11, "Within", "expected a number, got '4O.5'"):
        official.parse_cwt_combined(broken)


def test_within_more_than_total(tmp_path):
    broken = edit_csv(CWT, tmp_path / "c.csv", 23, ",10,7,3,", ",10,17,3,")
    with raises_at(broken, 23, "Within", "'17' within the standard is more than the total '10'"):
        official.parse_cwt_combined(broken)


def test_bad_period(tmp_path):
    broken = edit_csv(CWT, tmp_path / "c.csv", 2, "01/10/2025", "Oct 2025")
    with raises_at(broken, 2, "Period", "expected a date.*got 'Oct 2025'"):
        official.parse_cwt_combined(broken)


def test_second_rollup_row_is_refused(tmp_path):
    lines = CWT.read_text().splitlines()
    f = tmp_path / "c.csv"
    f.write_text("\n".join([*lines, lines[1]]) + "\n")
    with raises_at(f, len(lines) + 1, "Org_Code", "second all-types row for provider RZ1, FDS28, 2025-10"):
        official.parse_cwt_combined(f)


def test_a_file_without_standards_is_refused(tmp_path):
    lines = CWT.read_text().splitlines()
    f = tmp_path / "c.csv"
    f.write_text("\n".join([lines[0], lines[13]]) + "\n")  # only the USC referral item
    with raises_at(f, 1, "Standard_or_Item", "no provider rows of the FDS, 31D or 62D standards"):
        official.parse_cwt_combined(f)


@pytest.mark.parametrize("label, code", [("FDS", "FDS28"), ("31D", "CMB31"), ("62D", "CMB62"),
                                         ("28-day FDS", "FDS28"), ("62-Day Combined", "CMB62"),
                                         ("Urgent Suspected Cancer referral", None)])
def test_standard_labels(label, code):
    from analysis.sources.official.cwt import _standard
    assert _standard(label) == code
