"""Bad input: each case gets an error naming file, row and column, or a reported exclusion."""

import csv
import shutil

import numpy as np
import pytest

from analysis.errors import DataError
from analysis.real_panel import build_real_panel
from tests.analysis.rawfixture import edit_cell, make_raw, relax_minimums

TP = "raw/trustpulse/trust_profiles.csv"


@pytest.fixture
def raw(tmp_path, monkeypatch):
    relax_minimums(monkeypatch)
    return make_raw(tmp_path)


def findings(report, code=None, column=None):
    f = report.findings_frame()
    if code is not None:
        f = f[f.org_code == code]
    if column is not None:
        f = f[f.column == column]
    return f


def test_tiny_raw_builds(raw):
    panel, report = build_real_panel(raw)
    assert list(panel.org_code) == ["RAA", "RBB", "RCC"]
    ex = {e["org_code"]: e["reason"] for e in report.excluded}
    assert set(ex) == {"TMH"} and "not an acute trust" in ex["TMH"]
    raa = panel.set_index("org_code").loc["RAA"]
    assert raa.ae_attendances == 12000 and raa.ae_over_4h == 3100
    assert raa.fft_positive == round(2000 * 0.94)
    # catchment weighted IMD: 0.7*30 + 0.3*20
    assert raa.imd_score == pytest.approx(27.0)
    # catchment population sums the predecessor named in the successor file
    assert raa.catchment_population == 600000
    assert findings(report, "RAA", "catchment_population").action.tolist() == ["derived"]
    # specialist with no A&E: not applicable, reported; no catchment population, reported
    rcc = panel.set_index("org_code").loc["RCC"]
    assert np.isnan(rcc.ae_attendances) and np.isnan(rcc.catchment_population)
    assert "set missing" in findings(report, "RCC", "ae_attendances").action.tolist()
    # the percent column that holds counts is detected and rejected
    f = findings(report)
    assert ((f.raw_column == "pct_within_18_weeks_latest") & (f.action == "column rejected")).any()


def test_missing_column(raw):
    p = raw / TP
    rows = list(csv.reader(p.open()))
    i = rows[0].index("observed_deaths_latest")
    with p.open("w", newline="") as f:
        csv.writer(f).writerows([r[:i] + r[i + 1:] for r in rows])
    with pytest.raises(DataError) as e:
        build_real_panel(raw)
    assert e.value.column == "observed_deaths_latest" and "trust_profiles.csv" in e.value.file
    assert "missing required column" in str(e.value)


def test_non_numeric_value_names_line_and_column(raw):
    edit_cell(raw / TP, "org_code", "RBB", "expected_deaths_latest", "lots")
    with pytest.raises(DataError) as e:
        build_real_panel(raw)
    assert (e.value.row, e.value.column) == (3, "expected_deaths_latest")
    assert "'lots'" in str(e.value) and "line 3" in str(e.value)


def test_suppressed_value_is_missing_not_error(raw):
    edit_cell(raw / TP, "org_code", "RBB", "fft_total_responses_latest", "*")
    panel, report = build_real_panel(raw)
    assert np.isnan(panel.set_index("org_code").loc["RBB", "fft_responses"])


def test_negative_count_is_reported_exclusion(raw):
    edit_cell(raw / TP, "org_code", "RAA", "wlmds_total_waiting_latest", "-5")
    panel, report = build_real_panel(raw)
    assert "RAA" in set(panel.org_code)  # the trust stays
    f = findings(report, "RAA", "rtt_total_waiting")
    assert f.action.tolist() == ["set missing"] and "negative" in f.reason.iloc[0]
    assert f.line.iloc[0] == 2 and f.raw_column.iloc[0] == "wlmds_total_waiting_latest"
    assert np.isnan(panel.set_index("org_code").loc["RAA", "rtt_total_waiting"])


def test_observed_above_spells(raw):
    edit_cell(raw / TP, "org_code", "RBB", "observed_deaths_latest", "50000")
    panel, report = build_real_panel(raw)
    row = panel.set_index("org_code").loc["RBB"]
    assert np.isnan(row.shmi_observed_deaths) and np.isnan(row.shmi_expected_deaths)
    f = findings(report, "RBB", "shmi_observed_deaths")
    assert "observed deaths above spells" in f.reason.iloc[0] and f.line.iloc[0] == 3


@pytest.mark.parametrize("value", ["0", "-10"])
def test_expected_deaths_not_positive(raw, value):
    edit_cell(raw / TP, "org_code", "RAA", "expected_deaths_latest", value)
    panel, report = build_real_panel(raw)
    assert np.isnan(panel.set_index("org_code").loc["RAA", "shmi_observed_deaths"])
    reasons = " ".join(findings(report, "RAA").reason)
    assert "expected deaths" in reasons or "negative" in reasons


def test_shmi_counts_inconsistent_with_ratio(raw):
    edit_cell(raw / TP, "org_code", "RAA", "shmi_value_latest", "1.5")
    panel, report = build_real_panel(raw)
    assert "disagrees with published SHMI" in findings(report, "RAA", "shmi_observed_deaths").reason.iloc[0]


def test_duplicate_trust_code(raw):
    edit_cell(raw / TP, "org_code", "RBB", "org_code", "RAA")
    with pytest.raises(DataError) as e:
        build_real_panel(raw)
    assert "duplicate org_code 'RAA'" in str(e.value) and e.value.row == 3 and e.value.column == "org_code"


def test_unknown_size_class_is_excluded_not_dropped(raw):
    edit_cell(raw / TP, "org_code", "RBB", "Trust_subtype", "Acute - Enormous")
    panel, report = build_real_panel(raw)
    assert "RBB" not in set(panel.org_code)
    ex = {e["org_code"]: e for e in report.excluded}
    assert "unknown acute size class" in ex["RBB"]["reason"] and ex["RBB"]["line"] == 3


def test_unknown_code_without_catchment_is_reported(raw):
    edit_cell(raw / "raw/geographr/lookup_nhs_trusts22_ltla21.csv", "nhs_trust22_code", "RBB", "nhs_trust22_code", "RZZ")
    panel, report = build_real_panel(raw)
    assert np.isnan(panel.set_index("org_code").loc["RBB", "imd_score"])
    assert "no OHID catchment weights" in findings(report, "RBB", "imd_score").reason.iloc[0]


def test_empty_file(raw):
    (raw / "raw/imd/imd2019_england_ltla22.csv").write_text("")
    with pytest.raises(DataError, match="file is empty") as e:
        build_real_panel(raw)
    assert "imd2019_england_ltla22.csv" in e.value.file


def test_header_only_file(raw):
    p = raw / "raw/imd/imd2019_england_ltla22.csv"
    p.write_text(p.read_text().splitlines()[0] + "\n")
    with pytest.raises(DataError, match="no data rows"):
        build_real_panel(raw)


def test_wrong_encoding_names_line(raw):
    p = raw / TP
    text = p.read_text(encoding="utf-8").replace("ST BEDE'S", "ST B\u00c9DE'S")
    p.write_bytes(text.encode("latin-1"))
    with pytest.raises(DataError, match="not valid UTF-8") as e:
        build_real_panel(raw)
    assert e.value.row == 3


def test_missing_raw_dir(tmp_path):
    with pytest.raises(DataError, match="no raw/ folder"):
        build_real_panel(tmp_path)


def test_missing_file(raw):
    shutil.rmtree(raw / "raw/healthyr")
    with pytest.raises(DataError, match="file not found"):
        build_real_panel(raw)


def test_fft_percentage_repaired(raw):
    edit_cell(raw / TP, "org_code", "RBB", "fft_pct_positive_latest", "90")
    panel, report = build_real_panel(raw)
    assert panel.set_index("org_code").loc["RBB", "fft_positive"] == 720
    assert findings(report, "RBB", "fft_positive").action.tolist() == ["repaired"]
