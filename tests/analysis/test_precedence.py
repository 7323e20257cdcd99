"""The official path end to end: the official-format fixtures in a download cache build the panel beside the
compilation, each column from the source the precedence rules give it, and every fallback reported."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from analysis.cli import main
from analysis.errors import DataError, SVIWarning
from analysis.real_panel import build_real_panel
from tests.analysis.officialfixture import FIXTURES, fill_cache, make_compilation, make_mirror
from tests.analysis.rawfixture import relax_minimums

OFFICIAL_TRUSTS = ["RZ1", "RZ2", "RZ3", "RZ4"]


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    relax_minimums(monkeypatch)
    data = make_compilation(tmp_path / "data")
    mirror = make_mirror(tmp_path / "mirror")
    return {"data": data, "mirror": mirror, "cache": tmp_path / "cache", "tmp": tmp_path}


@pytest.fixture
def built(dirs):
    fill_cache(dirs["cache"], dirs["mirror"])
    panel, report = build_real_panel(dirs["data"], cache_dir=dirs["cache"])
    return panel.set_index("org_code"), report


def sources(report) -> pd.DataFrame:
    return pd.DataFrame(report.sources).set_index("publication")


def test_official_fixtures_build_a_panel_with_every_trust(built):
    panel, report = built
    assert sorted(panel.index) == ["RAA", "RBB", "RCC", *OFFICIAL_TRUSTS]  # no trust dropped
    assert (sources(report)["status"] == "used").all()
    # official values where the publication covers the trust (the compiled ones differ on purpose)
    assert panel.loc["RZ1", ["shmi_spells", "shmi_observed_deaths", "shmi_expected_deaths"]].tolist() == [
        100115, 2995, 2895]
    assert panel.loc["RZ4", ["shmi_spells", "shmi_observed_deaths"]].isna().all()  # suppressed ('*') as published
    assert panel.loc["RZ1", ["rtt_total_waiting", "rtt_waiting_under_18w", "rtt_waiting_over_52w"]].tolist() == [
        125, 100, 6]  # the C_999 roll-up of incomplete pathways
    assert panel.loc["RZ2", "rtt_total_waiting"] == 14  # no roll-up: its treatment functions summed
    assert panel.loc["RZ1", ["ae_attendances", "ae_over_4h", "ae_type1_attendances"]].tolist() == [15401, 4020, 12001]
    assert panel.loc["RZ1", ["fft_responses", "fft_positive"]].tolist() == [1500, 1440]
    assert panel.loc["RZ1", "ncc_actual_cost_total_gbp_m"] == pytest.approx(3.4070005)
    assert panel.loc["RZ1", "ncc_expected_cost_apc_gbp_m"] == pytest.approx(1.29900025)
    assert panel.loc["RZ1", "imd_score"] == pytest.approx(0.6 * 21.305 + 0.4 * 35.774)  # File 10, not the compiled 50
    assert panel.loc["RZ1", "catchment_population"] == pytest.approx(33137.96)  # OHID 2024, all admissions
    # compiled values where it does not
    assert panel.loc["RAA", ["shmi_spells", "rtt_total_waiting", "ncc_actual_cost_total_gbp_m"]].tolist() == [
        100000, 60000, 900]
    assert panel.loc["RAA", "catchment_population"] == 600000  # PHE 2018, RAA + its predecessor
    assert panel.loc["RZ3", "rtt_total_waiting"] == 9000


def test_every_fallback_is_reported(built):
    panel, report = built
    s = sources(report)
    assert "not covered (compiled values kept): RAA, RBB, RCC." in s.loc["shmi_trust", "detail"]
    assert "not covered (compiled values kept): RAA, RBB, RCC, RZ3, RZ4" in s.loc["rtt_full_csv", "detail"]
    assert "not in the panel (not acute trusts of the compilation, or excluded): NZ9" in s.loc["ae_monthly", "detail"]
    assert "3 of 6 districts in the catchment weights from the publication" in s.loc["imd2019_ltla", "detail"]
    # FFT of another definition is not mixed in: a trust the inpatient publication lacks has FFT missing, said per trust
    assert "not covered (set missing): RAA, RBB, RCC, RZ4" in s.loc["fft_inpatient", "detail"]
    assert panel.loc[["RAA", "RBB", "RZ4"], "fft_responses"].isna().all()
    f = report.findings_frame().set_index(["org_code", "column"])
    assert "not in the official publication 'fft_inpatient'" in f.loc[("RZ4", "fft_responses"), "reason"]
    assert f.loc[("RZ4", "fft_responses"), "source"] == "cache/friends-and-family-test-inpatient-data-march-2026.xlsm"
    assert report.column_sources["shmi_spells"]["official"] == "shmi_trust"
    assert report.column_sources["shmi_spells"]["fallback_codes"] == ["RAA", "RBB", "RCC"]
    assert report.column_sources["shmi_spells"]["compiled"] == ["trustpulse/trust_profiles.csv"]
    assert "compiled" not in report.column_sources["fft_responses"]
    assert report.column_sources["beds_ga_available"] == {"compiled": ["trustpulse/trust_profiles.csv"]}
    assert "official publication 'shmi_trust'" in report.dictionary["shmi_spells"]["source"]
    assert report.inputs["cache/SHMI_data_Jan25-Dec25.zip"]["sha256"]


def test_official_values_pass_the_same_checks(dirs):
    text = (FIXTURES / "SHMI_data_at_trust_level_Jan25-Dec25_csv.csv").read_text()
    broken = dirs["tmp"] / "shmi.csv"
    broken.write_text(text.replace("1540,1290", "1540,0"))  # RZ2: expected deaths 0
    fill_cache(dirs["cache"], make_mirror(dirs["tmp"] / "mirror2", {"shmi_trust": broken}))
    panel, report = build_real_panel(dirs["data"], cache_dir=dirs["cache"])
    assert panel.set_index("org_code").loc["RZ2", ["shmi_observed_deaths", "shmi_spells"]].isna().all()
    f = report.findings_frame()
    row = f[(f.org_code == "RZ2") & (f.column == "shmi_observed_deaths")].iloc[0]
    assert "expected deaths <= 0" in row.reason and row.source == "cache/SHMI_data_Jan25-Dec25.zip"
    assert row.raw_column == "OBSERVED"


def test_without_a_cache_the_compilation_supplies_everything(dirs):
    panel, report = build_real_panel(dirs["data"], cache_dir=dirs["cache"])  # the cache was never filled
    assert (sources(report)["status"] == "not used").all()
    assert set(sources(report)["detail"]) == {"not in the download cache"}
    assert panel.set_index("org_code").loc["RZ1", "shmi_spells"] == 50000
    assert not any(k.startswith("cache/") for k in report.inputs)


def test_a_cached_file_that_is_not_verified_is_not_used(dirs):
    fill_cache(dirs["cache"], dirs["mirror"], ["ae_monthly", "shmi_trust"])
    ae = dirs["cache"] / "Monthly-AE-March-2026-revised-flkg42.csv"
    ae.write_bytes(ae.read_bytes().replace(b"12001", b"22001"))  # changed after the download
    with pytest.warns(SVIWarning, match="not verified"):
        panel, report = build_real_panel(dirs["data"], cache_dir=dirs["cache"])
    s = sources(report)
    assert s.loc["ae_monthly", "status"] == "not used" and "svi data fetch ae_monthly --force" in s.loc[
        "ae_monthly", "detail"]
    assert s.loc["shmi_trust", "status"] == "used"
    assert panel.set_index("org_code").loc["RZ1", "ae_type1_attendances"] == 10000  # compiled


def test_a_broken_official_file_is_an_error_naming_file_line_and_column(dirs):
    broken = dirs["tmp"] / "ae.csv"
    broken.write_bytes((FIXTURES / "Monthly-AE-March-2026.csv").read_bytes().replace(b",8050,", b",80S0,"))
    fill_cache(dirs["cache"], make_mirror(dirs["tmp"] / "mirror2", {"ae_monthly": broken}), ["ae_monthly"])
    with pytest.raises(DataError, match=r"Monthly-AE-March-2026-revised-flkg42.csv, line 3, column 'A&E attendances "
                                        r"Type 1': expected a number, got '80S0'"):
        build_real_panel(dirs["data"], cache_dir=dirs["cache"])


def test_cli_fetch_then_build_says_where_each_column_came_from(dirs, capsys):
    cache, out = dirs["cache"], dirs["tmp"] / "panel"
    with pytest.warns(SVIWarning):  # unpinned downloads
        assert main(["data", "fetch", "--cache-dir", str(cache), "--base-url", dirs["mirror"].as_uri()]) == 0
    assert main(["data", "build", "--data-dir", str(dirs["data"]), "--cache-dir", str(cache), "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["column_sources"]["ae_attendances"]["official"] == "ae_monthly"
    assert manifest["inputs"]["cache/Monthly-AE-March-2026-revised-flkg42.csv"]["rows"] == 3
    md = (out / "quality_report.md").read_text()
    assert "| shmi_trust | shmi_spells," in md and "| used | cache/SHMI_data_Jan25-Dec25.zip |" in md
    dictionary = pd.read_csv(out / "panel_dictionary.csv").set_index("name")
    assert dictionary.loc["shmi_spells", "period"] == "January 2025 - December 2025 (discharges), publication of May 2026"
    assert "TrustPulse" in dictionary.loc["workforce_fte", "source"]
    # the same cache moved elsewhere gives the same panel (no path in any output)
    moved = dirs["tmp"] / "elsewhere"
    shutil.copytree(cache, moved)
    assert main(["data", "build", "--data-dir", str(dirs["data"]), "--cache-dir", str(moved), "--out",
                 str(dirs["tmp"] / "panel2")]) == 0
    assert (out / "panel.parquet").read_bytes() == (dirs["tmp"] / "panel2" / "panel.parquet").read_bytes()
    assert np.isfinite(pd.read_parquet(out / "panel.parquet")["imd_score"]).all()


@pytest.mark.slow
def test_official_fixtures_panel_fits(dirs):
    """fixtures -> panel -> a short fit -> result tables (a smoke test of the path: 7 trusts cannot converge)."""
    from analysis.panel import build_and_write
    from analysis.pipeline import fit_and_summarise
    from analysis.variants import QUICK_SAMPLER

    fill_cache(dirs["cache"], dirs["mirror"])
    result = build_and_write(dirs["data"], out=dirs["tmp"] / "results" / "panel", cache_dir=dirs["cache"])
    fitted = fit_and_summarise(result.panel, out=dirs["tmp"] / "results", echo=lambda *a: None,
                               overrides={"sampler": {**QUICK_SAMPLER, "seed": 1}})
    assert sorted(fitted["data"].trusts["org_code"]) == sorted(result.panel["org_code"])
    effects = pd.read_parquet(dirs["tmp"] / "results" / "tables" / "trust_effects.parquet")
    assert set(OFFICIAL_TRUSTS) <= set(effects["org_code"])
    assert (dirs["tmp"] / "results" / "fit" / "posterior.nc").is_file()
