"""Equity of access (analysis.equity_access): the gap function on known answers, and the panel build with the WLMDS
IMD-decile file present (equity_access.csv written, the report says so) and absent (nothing changes)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from analysis import equity_access
from analysis.equity_access import GAP_COLUMNS, MIN_QUINTILE_PATIENTS, equity_gap
from analysis.panel import build_and_write
from tests.analysis.officialfixture import FIXTURES, FIXTURE_OF, fill_cache, make_compilation, make_mirror
from tests.analysis.rawfixture import relax_minimums


def deciles(org: str, counts: dict[int, tuple[float, float]], period: str = "2026-03-29") -> pd.DataFrame:
    return pd.DataFrame({"org_code": org, "period": period, "imd_decile": pd.array(list(counts), dtype="Int64"),
                         "total_waiting": [float(t) for t, _ in counts.values()],
                         "within_18w": [float(w) for _, w in counts.values()]})


def test_equal_shares_give_a_gap_near_zero_with_an_interval_covering_it():
    g = equity_gap(deciles("RA1", {d: (2000, 1200) for d in range(1, 11)})).iloc[0]
    assert list(g.index) == list(GAP_COLUMNS)
    assert g.share_most_deprived == g.share_least_deprived == pytest.approx(0.6)
    assert abs(g.gap_pp_median) < 0.5 and g.gap_pp_lo95 < 0 < g.gap_pp_hi95
    assert 0.3 < g.p_gap_below_zero < 0.7 and g.n_most == g.n_least == 4000 and g.note == ""


def test_a_constructed_gap_of_ten_points_is_recovered():
    # deciles 1-2: 50% within 18 weeks; deciles 9-10: 60%
    frame = deciles("RA2", {1: (3000, 1500), 2: (3000, 1500), 5: (100, 100), 9: (3000, 1800), 10: (3000, 1800)})
    g = equity_gap(frame).iloc[0]
    assert g.gap_pp_median == pytest.approx(-10, abs=0.3)
    assert g.gap_pp_lo95 < -10 < g.gap_pp_hi95 and g.gap_pp_hi95 < 0
    # the interval is the difference of two Beta(0.5 + w, 0.5 + n - w) draws: its width ~ 2 * 1.96 * sd
    sd = 100 * np.sqrt(0.25 / 6000 + 0.24 / 6000)
    assert g.gap_pp_hi95 - g.gap_pp_lo95 == pytest.approx(2 * 1.96 * sd, rel=0.1)
    assert g.p_gap_below_zero == 1.0  # the most deprived wait longer


def test_seeded_and_independent_of_the_other_trusts():
    a = deciles("RA2", {1: (300, 150), 2: (300, 160), 9: (300, 180), 10: (300, 170)})
    b = pd.concat([a, deciles("RB9", {1: (50, 20), 10: (60, 40)})], ignore_index=True)
    alone = equity_gap(a).set_index("org_code").loc["RA2"]
    beside = equity_gap(b).set_index("org_code").loc["RA2"]
    assert alone.equals(beside)  # one stream per trust and period: the other trust does not move RA2's interval
    assert not equity_gap(a, seed=1).iloc[0].equals(equity_gap(a, seed=2).iloc[0])


def test_too_small_a_quintile_gives_nan_and_a_note():
    frame = deciles("RA3", {1: (5000, 2500), 2: (100, 60), 9: (MIN_QUINTILE_PATIENTS - 11, 5), 10: (10, 8)})
    g = equity_gap(frame).iloc[0]
    assert np.isnan([g.gap_pp_median, g.gap_pp_lo95, g.gap_pp_hi95, g.p_gap_below_zero]).all()
    assert g.n_least == MIN_QUINTILE_PATIENTS - 1
    assert g.note.startswith("no gap: least deprived quintile (deciles 9-10) has 29 patients, fewer than 30")
    ok = equity_gap(frame, min_patients=MIN_QUINTILE_PATIENTS - 1).iloc[0]
    assert np.isfinite(ok.gap_pp_median)


def test_suppressed_deciles_are_left_out_and_named():
    frame = deciles("RA4", {1: (400, 200), 2: (300, 150), 9: (400, 300), 10: (300, 200)})
    frame.loc[frame.imd_decile.eq(2), "within_18w"] = np.nan
    g = equity_gap(frame).iloc[0]
    assert g.n_most == 400 and g.share_most_deprived == 0.5
    assert "suppressed count(s) left out: decile(s) 2" in g.note


# --------------------------------------------------------------------------------- the panel build

@pytest.fixture
def dirs(tmp_path, monkeypatch):
    relax_minimums(monkeypatch)
    monkeypatch.delenv("SVI_DATA_DIR", raising=False)
    data = make_compilation(tmp_path / "data")
    mirror = make_mirror(tmp_path / "mirror")
    return {"data": data, "mirror": mirror, "tmp": tmp_path}


def test_data_build_writes_the_table_when_the_file_is_in_the_cache(dirs):
    cache = fill_cache(dirs["tmp"] / "cache", dirs["mirror"])
    result = build_and_write(dirs["data"], dirs["tmp"] / "panel", cache_dir=cache)
    table = pd.read_csv(dirs["tmp"] / "panel" / "equity_access.csv", keep_default_na=False, na_values=[""])
    assert list(table.columns) == list(GAP_COLUMNS)
    assert sorted(table.org_code) == sorted(result.panel.org_code)  # every panel trust, and only those (not NZ9)
    t = table.set_index("org_code")
    assert t.loc["RZ1", "gap_pp_median"] == pytest.approx(-11, abs=0.3) and t.loc["RZ1", "gap_pp_hi95"] < 0
    assert t.loc["RZ4", "gap_pp_lo95"] < 0 < t.loc["RZ4", "gap_pp_hi95"]
    assert np.isnan(t.loc["RZ3", "gap_pp_median"]) and "least deprived quintile" in t.loc["RZ3", "note"]
    assert t.loc["RAA", "note"] == "no rows for this trust in the publication"
    report = (dirs["tmp"] / "panel" / "quality_report.md").read_text()
    assert "Equity of access (equity_access.csv) from cache/" + FIXTURE_OF["wlmds_imd_decile"][0] in report
    assert "3 of 7 panel trusts have a gap" in report and "1 providers of the file are not panel trusts" in report


def test_data_build_reads_the_file_from_the_data_directory(dirs):
    cache = fill_cache(dirs["tmp"] / "cache", dirs["mirror"], names=["shmi_trust"])
    name = FIXTURE_OF["wlmds_imd_decile"][0]
    (dirs["data"] / "raw" / "waiting_times").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(FIXTURES / name, dirs["data"] / "raw" / "waiting_times" / name)
    result = build_and_write(dirs["data"], dirs["tmp"] / "panel", cache_dir=cache)
    assert result.equity is not None and (dirs["tmp"] / "panel" / "equity_access.csv").is_file()
    assert any(n.startswith(f"Equity of access (equity_access.csv) from raw/waiting_times/{name}")
               for n in result.report.notes)


def test_without_the_file_nothing_changes(dirs):
    names = [n for n in FIXTURE_OF if n != "wlmds_imd_decile"]
    without = build_and_write(dirs["data"], dirs["tmp"] / "p0", cache_dir=fill_cache(dirs["tmp"] / "c0", dirs["mirror"],
                                                                                         names=names))
    with_it = build_and_write(dirs["data"], dirs["tmp"] / "p1", cache_dir=fill_cache(dirs["tmp"] / "c1",
                                                                                         dirs["mirror"]))
    assert without.equity is None and not (dirs["tmp"] / "p0" / "equity_access.csv").exists()
    assert not any("quity" in n for n in without.report.notes)
    pd.testing.assert_frame_equal(without.panel, with_it.panel)  # the table never touches a panel column
    for f in ("panel.csv", "panel_dictionary.csv", "quality_findings.csv"):
        assert (dirs["tmp"] / "p0" / f).read_bytes() == (dirs["tmp"] / "p1" / f).read_bytes(), f
    assert equity_access.locate(dirs["data"], dirs["tmp"] / "c0") is None
