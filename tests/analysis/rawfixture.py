"""A tiny raw data directory in the layout of shared/data/raw, for loader tests.

Three acute trusts (one specialist) and one non-acute organisation, with
invented values; every file has exactly the columns the loaders require.
"""

from __future__ import annotations

import csv
from pathlib import Path

from analysis.sources.loaders import (AE_ATTENDANCE_PARTS, AE_OVER4_PARTS, COST_SETTING_COLUMNS,
                                      TRUST_PROFILE_CHECK_COLUMNS, TRUST_PROFILE_COLUMNS)

TRUSTS = [
    # code, name, type, subtype
    ("RAA", "ALPHA & OMEGA HOSPITALS NHS TRUST", "Acute trust", "Acute - Teaching"),
    ("RBB", "ST BEDE'S NHS FOUNDATION TRUST", "Acute trust", "Acute - Small"),
    ("RCC", "CENTRAL SPECIALIST NHS TRUST", "Acute trust", "Acute - Specialist"),
    ("TMH", "MIND NHS TRUST", "Mental health and community trust", ""),
]
VALUES = {
    "RAA": dict(spells_latest=100000, observed_deaths_latest=3000, expected_deaths_latest=2900, shmi_value_latest=1.0345,
                shmi_banding_latest=2, wlmds_total_waiting_latest=60000, wlmds_waiting_u18wks_latest=36000,
                wlmds_waiting_over52_latest=900, fft_total_responses_latest=2000, fft_pct_positive_latest=0.94,
                rc_actual_cost_total_m_latest=900, rc_expected_cost_total_m_latest=800, rc_cost_gap_pct_latest=12.5),
    "RBB": dict(spells_latest=40000, observed_deaths_latest=1000, expected_deaths_latest=1100, shmi_value_latest=0.9091,
                shmi_banding_latest=2, wlmds_total_waiting_latest=30000, wlmds_waiting_u18wks_latest=19000,
                wlmds_waiting_over52_latest=300, fft_total_responses_latest=800, fft_pct_positive_latest=0.9,
                rc_actual_cost_total_m_latest=400, rc_expected_cost_total_m_latest=380,
                rc_cost_gap_pct_latest=round((400 / 380 - 1) * 100, 2)),
    "RCC": dict(wlmds_total_waiting_latest=10000, wlmds_waiting_u18wks_latest=8000, wlmds_waiting_over52_latest=50,
                fft_total_responses_latest=300, fft_pct_positive_latest=0.97, rc_actual_cost_total_m_latest=150,
                rc_expected_cost_total_m_latest=120, rc_cost_gap_pct_latest=25.0),
    "TMH": {},
}
LTLAS = ["E06000001", "E06000002", "E07000001"]


def profile_header() -> list[str]:
    cols = ["org_code", "org_name", "Region", "Trust_type", "Trust_subtype", "data_month"]
    for c in (*TRUST_PROFILE_COLUMNS.values(), *AE_ATTENDANCE_PARTS, *AE_OVER4_PARTS, *TRUST_PROFILE_CHECK_COLUMNS):
        if c not in cols:
            cols.append(c)
    for a, g in COST_SETTING_COLUMNS.values():
        cols += [a, g]
    return cols


def _profile_rows() -> list[dict]:
    rows = []
    for code, name, ttype, sub in TRUSTS:
        r = {c: "" for c in profile_header()}
        r.update(org_code=code, org_name=name, Region="London" if code != "RBB" else "North West", Trust_type=ttype,
                 Trust_subtype=sub, data_month="2026-03")
        acute = ttype == "Acute trust"
        if acute:
            r.update({k: v for k, v in VALUES[code].items()})
            r["ae_a&e_attendances_type_1_latest"] = 0 if code == "RCC" else 10000
            r["ae_attendances_over_4hrs_type_1_latest"] = 0 if code == "RCC" else 3000
            r["ae_a&e_attendances_type_2_latest"] = 0
            r["ae_attendances_over_4hrs_type_2_latest"] = 0
            r["ae_a&e_attendances_other_a&e_department_latest"] = 0 if code == "RCC" else 2000
            r["ae_attendances_over_4hrs_other_department_latest"] = 0 if code == "RCC" else 100
            r["pct_within_18_weeks_latest"] = 25000  # the real file's counts-in-a-percent-column defect
            r["wlmds_pct_within_18wks_latest"] = round(r["wlmds_waiting_u18wks_latest"] / r["wlmds_total_waiting_latest"], 4)
            r["cancer_28day_pct"] = "" if code == "RCC" else 77.5
            r["cancer_62day_pct"] = "" if code == "RCC" else 70.1
            r["workforce_total_fte_latest"] = 5000
            r["workforce_nursing_fte_latest"] = 1500
            r["workforce_medical_fte_latest"] = 700
            r["beds_ganda_available_latest"] = 600
            for s, (a, g) in COST_SETTING_COLUMNS.items():
                if s == "ae" and code == "RCC":
                    continue
                r[a] = {"apc": 0.5, "op": 0.2, "ae": 0.08}[s] * float(VALUES[code]["rc_actual_cost_total_m_latest"])
                r[g] = 10.0
        rows.append(r)
    return rows


def write_csv(path: Path, header: list[str], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        for r in rows:
            w.writerow(r)


def relax_minimums(monkeypatch) -> None:
    """The tiny directory has a handful of rows: lift the declared minimum row counts of the real files."""
    from analysis.sources import loaders

    monkeypatch.setattr(loaders, "MIN_ROWS", {})


def make_raw(root: Path) -> Path:
    """Write the tiny raw directory under ``root/raw``; return ``root``."""
    raw = root / "raw"
    write_csv(raw / "trustpulse/trust_profiles.csv", profile_header(), _profile_rows())
    write_csv(raw / "brc_resilience_index/open_trust_types.csv", ["trust_code", "primary_category"],
              [{"trust_code": "RAA", "primary_category": "Acute hospital - NHS non-specialist"},
               {"trust_code": "RBB", "primary_category": "Acute hospital - NHS non-specialist"},
               {"trust_code": "RCC", "primary_category": "Acute hospital - NHS specialist"}])
    weights = []
    for code, share in (("RAA", (0.7, 0.3, 0.0)), ("RBB", (0.0, 0.2, 0.8)), ("RCC", (0.4, 0.3, 0.3))):
        weights += [{"nhs_trust22_code": code, "ltla21_code": l, "proportion_trust_came_from_ltla": s}
                    for l, s in zip(LTLAS, share) if s > 0]
    write_csv(raw / "geographr/lookup_nhs_trusts22_ltla21.csv",
              ["nhs_trust22_code", "ltla21_code", "proportion_trust_came_from_ltla"], weights)
    write_csv(raw / "geographr/lookup_trust_trust.csv", ["old_code", "new_code", "date"],
              [{"old_code": "ROLD", "new_code": "RAA", "date": "2020-04-01"}])
    write_csv(raw / "geographr/lookup_nhs_trusts22_nhs_region21.csv",
              ["nhs_trust22_code", "nhs_trust22_name", "nhs_region21_name", "status"],
              [{"nhs_trust22_code": c, "nhs_trust22_name": n, "nhs_region21_name": "London", "status": "open"}
               for c, n, _, _ in TRUSTS])
    imd_cols = ["ltla22_code", "Score", "Income_Score", "Health_Score"]
    write_csv(raw / "imd/imd2019_england_ltla22.csv", imd_cols,
              [{"ltla22_code": l, "Score": s, "Income_Score": s / 200, "Health_Score": (s - 20) / 20}
               for l, s in zip(LTLAS, (30.0, 20.0, 12.0))])
    ages = [str(a) for a in range(75, 90)] + ["90+"]
    write_csv(raw / "demographr/population20_ltla21.csv", ["ltla21_code", "total_population", *ages],
              [{"ltla21_code": l, "total_population": 100000, **{a: 500 + 100 * i for a in ages}}
               for i, l in enumerate(LTLAS)])
    write_csv(raw / "healthyr/england_health_index.csv", ["ltla21_code", "year", "overall_score"],
              [{"ltla21_code": l, "year": y, "overall_score": 95 + i + (y - 2020)} for i, l in enumerate(LTLAS)
               for y in (2020, 2021)])
    write_csv(raw / "thf_trust_reference/trust_ref_file.csv", ["year", "procode", "catchment_cat", "patients_admitted_cat"],
              [{"year": 2018, "procode": "RAA", "catchment_cat": 500000, "patients_admitted_cat": 200000},
               {"year": 2018, "procode": "ROLD", "catchment_cat": 100000, "patients_admitted_cat": 40000},
               {"year": 2018, "procode": "RBB", "catchment_cat": 250000, "patients_admitted_cat": 90000}])
    return root


def edit_cell(path: Path, key_col: str, key: str, col: str, value) -> None:
    """Set one cell of a CSV written by :func:`write_csv`."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
        header = list(rows[0].keys())
    for r in rows:
        if r[key_col] == key:
            r[col] = value
    write_csv(path, header, rows)
