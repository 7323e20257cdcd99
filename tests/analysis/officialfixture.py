"""The official-format fixtures (tests/fixtures/official) as a download cache, beside a compilation that knows
their trusts.

:func:`make_compilation` writes the tiny raw directory of :mod:`tests.analysis.rawfixture` plus the fixtures'
trusts ``RZ1``-``RZ4`` (compiled values deliberately unlike the official ones, so a test can tell which source
a value came from) and the fixtures' districts.  :func:`make_mirror` lays the fixtures out under their registry
file names (zipped where the publisher ships a ZIP); :func:`fill_cache` fetches them from it with
``svi data fetch``'s own code, so the cache manifest verifies them as for a real download.
"""

from __future__ import annotations

import csv
import shutil
import warnings
import zipfile
from pathlib import Path

from analysis.fetch import run_fetch
from analysis.registry import load_registry
from tests.analysis.rawfixture import make_raw

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "official"
#: registry entry -> fixture file (and, when the registry's file is a ZIP, the member name inside it)
FIXTURE_OF = {
    "shmi_trust": ("SHMI_data_at_trust_level_Jan25-Dec25_csv.csv", "SHMI data/SHMI_data_at_trust_level_Jan25-Dec25_csv.csv"),
    "ncc_org_mff": ("NCC_FY2024-25_Org_File2.csv", "NCC_FY2024-25_Org_File2.csv"),
    "rtt_full_csv": ("20260331-RTT-March-2026-full-extract.csv", "20260331-RTT-March-2026-full-extract.csv"),
    "ae_monthly": ("Monthly-AE-March-2026.csv", None),
    "fft_inpatient": ("friends-and-family-test-inpatient-data-march-2026.xlsm", None),
    "imd2019_ltla": ("File_10_-_IoD2019_Local_Authority_District_Summaries__lower-tier__.xlsx", None),
    "ohid_catchments": ("nhs-acute-hospital-trust-catchment-populations-data_tables-april-2026.ods", None),
    "wlmds_imd_decile": ("WLMDS-RTT-waiting-list-by-provider-and-IMD-decile-Mar26.csv", None),
    "readmissions_30d": ("compendium-emergency-readmissions-30-days-I02040.csv", None),
    "cwt_combined_2025_26_apr_sep": ("2025-26-Oct-Mar-Cumulative-Monthly-Combined-CSV-Provisional.csv", None),
    "cwt_combined_2025_26_oct_mar": ("2025-26-Oct-Mar-Cumulative-Monthly-Combined-CSV-Provisional.csv", None),
}
#: code, name, size class (Trust_subtype), region, districts and catchment shares
RZ_TRUSTS = [
    ("RZ1", "ALPHA VALLEY HOSPITALS NHS FOUNDATION TRUST", "Acute - Teaching", "Midlands",
     {"E07000901": 0.6, "E08000903": 0.4}),
    ("RZ2", "BETA, GAMMA AND DELTA NHS TRUST", "Acute - Medium", "London", {"E07000902": 1.0}),
    ("RZ3", "ST ELSEWHERE UNIVERSITY HOSPITALS NHS TRUST", "Acute - Large", "North West",
     {"E08000903": 0.7, "E06000001": 0.3}),
    ("RZ4", "NEW RIVERSIDE NHS TRUST", "Acute - Small", "London", {"E07000901": 0.5, "E07000902": 0.5}),
]
DISTRICTS = ["E07000901", "E07000902", "E08000903"]
COMPILED_IMD = 50.0  # the compiled IMD score of the fixture districts: far from the official File 10 scores


def _rows(path: Path) -> tuple[list[str], list[dict]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def _append(path: Path, new: list[dict]) -> None:
    header, rows = _rows(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        w.writerows(rows + [{k: r.get(k, "") for k in header} for r in new])


def make_compilation(root: Path) -> Path:
    """The tiny raw directory plus the fixtures' trusts and districts; returns ``root``."""
    make_raw(root)
    raw = root / "raw"
    _, profiles = _rows(raw / "trustpulse/trust_profiles.csv")
    template = next(r for r in profiles if r["org_code"] == "RAA")
    new = []
    for i, (code, name, sub, region, _) in enumerate(RZ_TRUSTS):
        r = dict(template, org_code=code, org_name=name, Trust_subtype=sub, Region=region)
        r.update(spells_latest=50000 + i, observed_deaths_latest=1000, expected_deaths_latest=1000, shmi_value_latest=1.0,
                 wlmds_total_waiting_latest=9000, wlmds_waiting_u18wks_latest=6000, wlmds_pct_within_18wks_latest=0.6667,
                 fft_total_responses_latest=700, fft_pct_positive_latest=0.8)
        new.append(r)
    _append(raw / "trustpulse/trust_profiles.csv", new)
    _append(raw / "brc_resilience_index/open_trust_types.csv",
            [{"trust_code": c, "primary_category": "Acute hospital - NHS non-specialist"} for c, *_ in RZ_TRUSTS])
    _append(raw / "geographr/lookup_nhs_trusts22_ltla21.csv",
            [{"nhs_trust22_code": c, "ltla21_code": d, "proportion_trust_came_from_ltla": s}
             for c, *_, shares in RZ_TRUSTS for d, s in shares.items()])
    _append(raw / "geographr/lookup_nhs_trusts22_nhs_region21.csv",
            [{"nhs_trust22_code": c, "nhs_trust22_name": n, "nhs_region21_name": reg, "status": "open"}
             for c, n, _, reg, _ in RZ_TRUSTS])
    _append(raw / "imd/imd2019_england_ltla22.csv",
            [{"ltla22_code": d, "Score": COMPILED_IMD, "Income_Score": 0.3, "Health_Score": 1.5} for d in DISTRICTS])
    ages = [str(a) for a in range(75, 90)] + ["90+"]
    _append(raw / "demographr/population20_ltla21.csv",
            [{"ltla21_code": d, "total_population": 150000, **{a: 600 for a in ages}} for d in DISTRICTS])
    _append(raw / "healthyr/england_health_index.csv",
            [{"ltla21_code": d, "year": 2021, "overall_score": 99} for d in DISTRICTS])
    _append(raw / "thf_trust_reference/trust_ref_file.csv",
            [{"year": 2018, "procode": c, "catchment_cat": 300000, "patients_admitted_cat": 100000}
             for c, *_ in RZ_TRUSTS])
    return root


def make_mirror(mirror: Path, replace: dict[str, Path] | None = None) -> Path:
    """The fixtures under their registry file names (``replace``: entry -> another file to serve instead)."""
    mirror.mkdir(parents=True, exist_ok=True)
    reg = load_registry()
    for name, (fixture, member) in FIXTURE_OF.items():
        src = (replace or {}).get(name, FIXTURES / fixture)
        dest = mirror / reg.get(name).filename
        if dest.suffix == ".zip":
            with zipfile.ZipFile(dest, "w") as z:
                z.write(src, member)
        else:
            shutil.copyfile(src, dest)
    return mirror


def fill_cache(cache: Path, mirror: Path, names: list[str] | None = None) -> Path:
    """Fetch the mirrored fixtures into ``cache`` as ``svi data fetch --base-url`` does (unpinned: no warnings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_fetch(names, cache_dir=cache, base_url=mirror.as_uri(), progress=False)
    return cache
