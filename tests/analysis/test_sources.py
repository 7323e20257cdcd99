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


# ----------------------------------------------------------------------------- issue 13, class 2: incomplete files

def _cut(path, n_bytes_from_end: int) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - n_bytes_from_end])


def test_file_cut_mid_row_is_refused(raw):
    p = raw / TP
    lines = p.read_text(encoding="utf-8").splitlines(keepends=True)
    p.write_text("".join(lines[:3]) + lines[3][: len(lines[3]) // 2], encoding="utf-8")  # RCC's row cut in half
    with pytest.raises(DataError, match=r"row has .* fields but the header \(line 1\) has .*cut short "
                                         r"\(the file looks cut off here\)") as e:
        build_real_panel(raw)
    assert e.value.row == 4 and e.value.file.endswith("trust_profiles.csv")


def test_last_row_without_line_break_is_refused(raw):
    _cut(raw / TP, 2)  # the final line break only (the fixture writes CRLF): the last value may be cut short
    with pytest.raises(DataError, match="does not end with a line break") as e:
        build_real_panel(raw)
    assert e.value.row == 5


def test_file_cut_inside_a_quoted_value_is_refused(raw):
    p = raw / "raw/geographr/lookup_nhs_trusts22_nhs_region21.csv"
    text = p.read_text(encoding="utf-8")
    p.write_text(text + 'RZZ,"UNFINISHED NAME\n', encoding="utf-8")
    with pytest.raises(DataError, match="quoted value") as e:
        build_real_panel(raw)
    assert "region21" in e.value.file


def test_row_with_extra_fields_names_its_line(raw):
    p = raw / "raw/imd/imd2019_england_ltla22.csv"
    lines = p.read_text(encoding="utf-8").splitlines()
    lines[2] += ",12,34"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        build_real_panel(raw)
    assert e.value.row == 3 and "imd2019" in e.value.file


def test_file_cut_at_a_row_boundary_fails_the_declared_minimum(raw, monkeypatch):
    from analysis.sources import loaders

    monkeypatch.setattr(loaders, "MIN_ROWS", {"trustpulse": 4})
    build_real_panel(raw)  # four rows: complete
    p = raw / TP
    lines = p.read_text(encoding="utf-8").splitlines(keepends=True)
    p.write_text("".join(lines[:-1]), encoding="utf-8")  # a whole row lost, file otherwise well formed
    with pytest.raises(DataError, match="only 3 data rows, but at least 4") as e:
        build_real_panel(raw)
    assert "restore the complete file" in str(e.value)


def test_declared_minimums_hold_for_the_shared_data(real_data_dir):
    from analysis.sources import SOURCES, loaders

    loader_name = {v: k for k, v in loaders._SOURCE_OF.items()}
    for name, src in SOURCES.items():
        frame = src.load(real_data_dir)
        declared = loaders.MIN_ROWS[loader_name[name]]
        assert frame.attrs["rows"] >= declared, name
        assert frame.attrs["rows"] < 1.5 * declared, f"{name}: minimum too low to catch a lost part of the file"


def test_fewer_rows_than_the_previous_build_are_reported(raw, tmp_path, caplog):
    import logging

    from analysis.panel import build_and_write

    build_and_write(raw, tmp_path / "p")
    p = raw / "raw/healthyr/england_health_index.csv"
    lines = p.read_text(encoding="utf-8").splitlines(keepends=True)
    p.write_text("".join(lines[:-2]), encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="svi"):
        result = build_and_write(raw, tmp_path / "p")
    assert "england_health_index.csv has 4 data rows, against 6" in caplog.text
    assert any("against 6" in n for n in result.report.notes)


# ----------------------------------------------------------------------------- issue 13, class 3: impossible numbers

@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "1e308", "1e999", "3000000"])
def test_impossible_count_is_set_missing_and_reported(raw, value):
    edit_cell(raw / TP, "org_code", "RAA", "spells_latest", value)
    panel, report = build_real_panel(raw)
    raa = panel.set_index("org_code").loc["RAA"]
    assert np.isnan(raa.shmi_spells) and np.isnan(raa.shmi_observed_deaths)  # no SHMI from a broken trio
    f = findings(report, "RAA", "shmi_spells")
    assert f.action.tolist() == ["set missing"] and f.line.tolist() == [2]
    assert f.raw_column.iloc[0] == "spells_latest" and f.old.iloc[0] == value
    assert "finite" in f.reason.iloc[0] or "plausible range [0, 2.5e+06]" in f.reason.iloc[0]
    assert "RAA" in set(panel.org_code)  # the trust stays


@pytest.mark.parametrize("column, value", [("rc_actual_cost_total_m_latest", "1e308"),
                                           ("rc_expected_cost_total_m_latest", "inf"),
                                           ("rc_apc_actual_m_latest", "-inf"),
                                           ("rc_op_gap_pct_latest", "1e308"),
                                           ("wlmds_pct_within_18wks_latest", "7")])
def test_impossible_cost_never_reaches_the_panel(raw, column, value):
    edit_cell(raw / TP, "org_code", "RBB", column, value)
    panel, report = build_real_panel(raw)
    num = panel.select_dtypes("number").to_numpy(dtype=float)
    assert np.all(np.isfinite(num) | np.isnan(num))
    ratio = panel.ncc_actual_cost_total_gbp_m / panel.ncc_expected_cost_total_gbp_m
    assert (np.log(ratio.dropna()) < 5).all()
    f = findings(report, "RBB")
    assert ((f.raw_column == column) & (f.action == "set missing") & (f.old == value)).any()


def test_out_of_range_need_value_names_the_raw_file(raw):
    edit_cell(raw / "raw/imd/imd2019_england_ltla22.csv", "ltla22_code", "E06000002", "Income_Score", "5")
    edit_cell(raw / "raw/healthyr/england_health_index.csv", "ltla21_code", "E07000001", "overall_score", "nan")
    edit_cell(raw / "raw/demographr/population20_ltla21.csv", "ltla21_code", "E06000001", "total_population", "inf")
    panel, report = build_real_panel(raw)  # no SchemaError about a panel column
    f = report.findings_frame()
    inc = f[(f.raw_column == "Income_Score")]
    assert inc.action.tolist() == ["set missing"] and inc.line.tolist() == [3] and inc.column.iloc[0] == "imd_income_score"
    assert "E06000002" in inc.reason.iloc[0] and "[0, 1]" in inc.reason.iloc[0]
    assert (f.raw_column == "total_population").any()
    assert "Values set missing in area and lookup files" in report.markdown()
    assert panel.imd_income_score.between(0, 1).all()


def test_negative_catchment_weight_is_reported_once(raw):
    edit_cell(raw / "raw/geographr/lookup_nhs_trusts22_ltla21.csv", "ltla21_code", "E07000001",
              "proportion_trust_came_from_ltla", "-0.8")
    _, report = build_real_panel(raw)
    f = report.findings_frame()
    assert len(f[f.raw_column == "proportion_trust_came_from_ltla"]) == 2  # two trusts' rows name that LTLA


# ----------------------------------------------------------------------------- issue 13, class 5: codes are identities

def _append_row(path, key_col, key, new_key):
    rows = list(csv.DictReader(path.open(newline="", encoding="utf-8")))
    extra = dict(next(r for r in rows if r[key_col] == key), **{key_col: new_key})
    with path.open("a", newline="", encoding="utf-8") as f:
        csv.DictWriter(f, fieldnames=list(rows[0])).writerow(extra)


def test_predecessor_beside_its_successor_is_excluded(raw):
    _append_row(raw / TP, "org_code", "RBB", "ROLD")  # ROLD merged into RAA (successions file)
    panel, report = build_real_panel(raw)
    assert list(panel.org_code) == ["RAA", "RBB", "RCC"]
    ex = {e["org_code"]: e for e in report.excluded}
    assert "predecessor of RAA" in ex["ROLD"]["reason"] and ex["ROLD"]["line"] == 6
    assert panel.set_index("org_code").loc["RAA", "catchment_population"] == 600000  # counted once


def test_lower_case_duplicate_is_refused(raw):
    _append_row(raw / TP, "org_code", "RAA", "raa")
    with pytest.raises(DataError, match="duplicate org_code 'RAA' on lines \\[2, 6\\].*'raa'") as e:
        build_real_panel(raw)
    assert e.value.column == "org_code"


def test_code_in_the_wrong_case_keeps_its_need_and_says_so(raw):
    edit_cell(raw / TP, "org_code", "RAA", "org_code", "raa")
    edit_cell(raw / "raw/geographr/lookup_nhs_trusts22_ltla21.csv", "nhs_trust22_code", "RBB", "nhs_trust22_code",
              " rbb ")
    panel, report = build_real_panel(raw)
    p = panel.set_index("org_code")
    assert p.loc["RAA", "imd_score"] == pytest.approx(27.0) and not np.isnan(p.loc["RBB", "imd_score"])
    f = findings(report, "RAA", "org_code")
    assert f.action.tolist() == ["repaired"] and "'raa'" in f.reason.iloc[0]
    assert any("lookup_nhs_trusts22_ltla21.csv" in n and "upper case" in n for n in report.notes)


@pytest.mark.parametrize("bad", ["R A A", "RAA;", "R-AA"])
def test_malformed_code_is_refused(raw, bad):
    edit_cell(raw / TP, "org_code", "RAA", "org_code", bad)
    with pytest.raises(DataError, match="not an organisation or area code") as e:
        build_real_panel(raw)
    assert e.value.row == 2 and e.value.column == "org_code"


def test_input_file_that_is_a_directory(raw):
    (raw / TP).unlink()
    (raw / TP).mkdir()
    with pytest.raises(DataError, match="is a directory, not a file"):
        build_real_panel(raw)


def test_reference_acute_trusts_not_in_the_panel_are_reported(raw):
    """A trust in the reference list of open acute trusts is followed to its current successor: a predecessor of a
    panel trust is covered; an acute trust the compilation lacks is reported with its name and the reason; a
    non-acute organisation of the list is not."""
    path = raw / "raw/brc_resilience_index/open_trust_types.csv"
    with path.open("a", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ROLD", "Acute hospital - NHS non-specialist"])  # merged into RAA (successions)
        w.writerow(["RZZ", "Acute hospital - NHS specialist"])  # no row in the compilation
        w.writerow(["RMH", "Mental health - community & residential - NHS"])
    panel, report = build_real_panel(raw)
    assert [m["org_code"] for m in report.missing] == ["RZZ"]
    assert "not in trustpulse/trust_profiles.csv" in report.missing[0]["reason"]
    assert report.counts()["reference_trusts_missing"] == 1
    assert "RZZ" in report.markdown().split("## Acute trusts missing from the panel")[1]
    # without the check (a synthetic panel) nothing is claimed
    from analysis.quality import QualityReport
    assert "reference_trusts_missing" not in QualityReport(kind="synthetic").counts()
