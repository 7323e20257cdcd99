"""The real panel from ../shared/data: 129 acute trusts, 118 with SHMI, every exclusion reported."""

import numpy as np
import pandas as pd
import pytest

from analysis.panel import build_and_write, read_panel
from analysis.schema import present_columns


@pytest.fixture(scope="module")
def real(real_data_dir, tmp_path_factory):
    return build_and_write(real_data_dir, tmp_path_factory.mktemp("real") / "panel")


def test_counts(real):
    p = real.panel
    assert len(p) == 129 and p.org_code.is_unique
    assert p.shmi_observed_deaths.notna().sum() == 118
    assert (p.size_class != "specialist").sum() == 118
    assert p.loc[p.size_class == "specialist", "shmi_observed_deaths"].isna().all()
    assert p.ncc_expected_cost_total_gbp_m.notna().all()
    assert p.imd_score.notna().all() and p.share_aged_75_plus.notna().all()


def test_every_organisation_accounted_for(real, real_data_dir):
    raw = pd.read_csv(real_data_dir / "raw/trustpulse/trust_profiles.csv", usecols=["org_code"])
    included = {t["org_code"] for t in real.report.included}
    excluded = {e["org_code"] for e in real.report.excluded}
    assert included | excluded == set(raw.org_code) and not included & excluded
    assert included == set(real.panel.org_code)


def test_known_defects_detected(real):
    f = real.report.findings_frame()
    rejected = set(f.loc[f.action == "column rejected", "raw_column"])
    assert {"pct_within_18_weeks_latest", "palliative_pct_latest"} <= rejected


def test_rtt_ratio_matches_published_percentage(real, real_data_dir):
    raw = pd.read_csv(real_data_dir / "raw/trustpulse/trust_profiles.csv", low_memory=False).set_index("org_code")
    p = real.panel.set_index("org_code").dropna(subset=["rtt_total_waiting"])
    ratio = p.rtt_waiting_under_18w / p.rtt_total_waiting
    assert np.allclose(ratio, raw.loc[p.index, "wlmds_pct_within_18wks_latest"], atol=0.005)


def test_mergers_handled(real):
    p = real.panel.set_index("org_code")
    # RAJ (Mid and South Essex) = Southend + Basildon (RDD) + Mid Essex (RQ8) in the 2018 catchment file
    f = real.report.findings_frame()
    raj = f[(f.org_code == "RAJ") & (f.column == "catchment_population")].reason.iloc[0]
    assert "RDD" in raj and "RQ8" in raj
    assert p.loc["RAJ", "catchment_population"] > 1e6


def test_written_outputs_roundtrip(real):
    out = real.out
    for name in ("panel.parquet", "panel.csv", "panel_dictionary.csv", "quality_report.md", "quality_findings.csv",
                 "quality_excluded.csv", "manifest.json"):
        assert (out / name).exists(), name
    back = read_panel(out)
    pd.testing.assert_frame_equal(back.reset_index(drop=True), real.panel[present_columns(real.panel)].reset_index(drop=True),
                                  check_dtype=False)
    md = (out / "quality_report.md").read_text()
    assert "Trusts in the panel: **129**" in md and "not an acute trust" in md


def test_calibration_file_is_current(real):
    """The committed synthetic calibration equals what the real panel produces (no hand-typed figures)."""
    from analysis.calibration import compute_calibration, load_calibration

    assert compute_calibration(real.panel) == load_calibration()


def test_acute_trusts_missing_from_the_compilation_are_reported(real):
    """The reference list of open acute trusts (CQC categories) is checked: the specialist trusts the compilation
    lacks are listed, with a reason, in the report, its summary and quality_missing.csv; trusts in the panel are not."""
    missing = {m["org_code"]: m for m in real.report.missing}
    assert {"RP4", "RPY", "RGM", "REN", "RRJ"} <= set(missing)  # GOSH, Royal Marsden, Papworth, Clatterbridge, ROH
    assert not set(missing) & set(real.panel.org_code)
    assert all(m["reason"] and m["category"].startswith("Acute hospital") for m in missing.values())
    assert missing["RP4"]["org_name"].startswith("Great Ormond Street")
    back = pd.read_csv(real.out / "quality_missing.csv")
    assert set(back.org_code) == set(missing)
    assert "Acute trusts missing from the panel" in (real.out / "quality_report.md").read_text()


def test_cancer_counts_are_the_year_panels_2025_26_rounded(real):
    """The cross-section's cancer counts are the year panel's 2025/26 sums (same file, mapping and month rule),
    rounded to whole patients; every trust without them is in the quality report with the reason."""
    from analysis.trend.years import CROSS_SECTION_CANCER, CROSS_SECTION_YEAR

    p = real.panel.set_index("org_code")
    y = real.years.panel
    y = y[y.year == CROSS_SECTION_YEAR].set_index("org_code").reindex(p.index)
    findings = real.report.findings_frame()
    for m in CROSS_SECTION_CANCER:
        for part in ("within", "total"):
            np.testing.assert_array_equal(p[f"{m}_{part}"].to_numpy(), np.round(y[f"{m}_{part}"].to_numpy()))
        assert ((p[f"{m}_within"] <= p[f"{m}_total"]) | p[f"{m}_total"].isna()).all()
        missing = set(p.index[p[f"{m}_total"].isna()])
        assert 0 < len(missing) < 10  # 124 of 129 in the source (PROVENANCE.md section 10)
        reported = set(findings.loc[findings.column == f"{m}_total", "org_code"])
        assert missing == reported
