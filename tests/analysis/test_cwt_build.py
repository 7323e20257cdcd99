"""The cross-section's cancer counts from the official Cancer Waiting Times files, end to end through
`svi data build`: the official files in the download cache come first, a trust they do not list keeps the
third-party monthly file's counts, one file alone or none leaves the third-party file in charge, and a damaged
official file stops the build with the file, line, column and value and what to do.

The official files are written from the official-format fixture (tests/fixtures/official, October and November
2025) by repeating its months over the financial year 2025/26, so every expected count below is the fixture's
monthly row times the months written (the comments give the arithmetic).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.cli import main
from analysis.sources import monthly
from analysis.sources.official import cwt_to_monthly, parse_cwt_combined
from tests.analysis.officialfixture import FIXTURES, fill_cache, make_compilation, make_mirror
from tests.analysis.rawfixture import relax_minimums

CWT = FIXTURES / "2025-26-Oct-Mar-Cumulative-Monthly-Combined-CSV-Provisional.csv"
APR_SEP, OCT_MAR = "cwt_combined_2025_26_apr_sep", "cwt_combined_2025_26_oct_mar"
FINAL = "cache/2025-26-Apr-Sep-Cumulative-Monthly-Combined-CSV-Final.csv"
PROVISIONAL = "cache/2025-26-Oct-Mar-Cumulative-Monthly-Combined-CSV-Provisional.csv"
COMPILED = "waiting_times/cancer_wait_by_org_month.csv"
HALF_1 = [f"2025-{m:02d}" for m in range(4, 10)]
HALF_2 = [f"2025-{m:02d}" for m in range(10, 13)] + [f"2026-{m:02d}" for m in range(1, 4)]
RZ2_MONTHS = {"2025-04", "2025-05", "2025-06", "2025-07", "2025-10", "2025-11", "2025-12", "2026-01"}  # 8 of 12

# by hand: October's rows x 12 months (RZ1: FDS 310/400, 62D 40.5/60.5; RZ3: 62D 9/12.5; RAA: FDS 100/200 plus
# its predecessor ROLD's 10/20, summed into RAA as the year panel does)
OFFICIAL = {("RZ1", "fds"): (3720, 4800), ("RZ1", "62d"): (486, 726), ("RZ3", "62d"): (108, 150),
            ("RAA", "fds"): (1320, 2640)}
# the compiled file (written below): RZ1's FDS differs from the official one (300 a month within, not 310)
COMPILED_ROWS = {("RZ1", "FDS28"): (300, 400), ("RZ1", "CMB62"): (40.5, 60.5), ("RAA", "FDS28"): (110, 220),
                 ("RZ4", "FDS28"): (50, 100), ("RZ4", "CMB62"): (8, 10), ("RBB", "FDS28"): (70, 100)}


def _fixture_rows() -> tuple[list[str], list[dict]]:
    with CWT.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def _official_file(path: Path, months: list[str]) -> Path:
    """The fixture's October rows (RZ1, RZ3, commissioner and England rows) in every month of ``months``, RZ2's
    November rows in those of :data:`RZ2_MONTHS`, and an RAA and ROLD FDS row each month."""
    header, rows = _fixture_rows()
    october = [r for r in rows if r["Period"] == "01/10/2025"]
    rz2 = [r for r in rows if r["Period"] == "01/11/2025" and r["Org_Code"] == "RZ2"]
    extra = [dict(october[0], Org_Code=c, Org_Name=n, Total=t, Within=w, After=str(int(t) - int(w)))
             for c, n, t, w in (("RAA", "TEST ACUTE TRUST RAA", "200", "100"), ("ROLD", "OLD TRUST", "20", "10"))]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        for month in months:
            period = f"01/{month[5:]}/{month[:4]}"
            for r in october + extra + (rz2 if month in RZ2_MONTHS else []):
                w.writerow(dict(r, Period=period))
    return path


def _compiled_file(data: Path, rows: list[dict] | None = None) -> Path:
    """The third-party monthly file (PROVENANCE.md section 10 layout) with :data:`COMPILED_ROWS` in every month."""
    if rows is None:
        rows = [{"org_code": c, "org_name": c, "level": "provider", "region": "", "standard": s, "month": m,
                 "within_standard": w, "total": t} for (c, s), (w, t) in COMPILED_ROWS.items() for m in HALF_1 + HALF_2]
    path = data / "raw" / COMPILED
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    relax_minimums(monkeypatch)
    monkeypatch.setitem(monthly.MIN_ROWS, "cancer_monthly", 1)
    data = make_compilation(tmp_path / "data")
    files = {APR_SEP: _official_file(tmp_path / "apr_sep.csv", HALF_1),
             OCT_MAR: _official_file(tmp_path / "oct_mar.csv", HALF_2)}
    return {"data": data, "tmp": tmp_path, "files": files, "cache": tmp_path / "cache"}


def _cache(dirs, names=(APR_SEP, OCT_MAR), replace=None) -> Path:
    mirror = make_mirror(dirs["tmp"] / "mirror", {**dirs["files"], **(replace or {})})
    return fill_cache(dirs["cache"], mirror, list(names))


def _build(dirs, capsys, *extra) -> tuple[int, Path, str]:
    out = dirs["tmp"] / "panel"
    status = main(["data", "build", "--data-dir", str(dirs["data"]), "--out", str(out), *extra])
    return status, out, capsys.readouterr().err


def _counts(out: Path) -> dict:
    p = pd.read_parquet(out / "panel.parquet").set_index("org_code")
    return {(c, m): (p.at[c, f"cancer_{m}_within"], p.at[c, f"cancer_{m}_total"]) for c in p.index
            for m in ("fds", "62d") if pd.notna(p.at[c, f"cancer_{m}_total"])}


def _findings(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "quality_findings.csv")


def test_the_official_files_in_the_cache_supply_the_counts(dirs, capsys, monkeypatch):
    _compiled_file(dirs["data"])
    monkeypatch.setenv("SVI_DATA_DIR", str(_cache(dirs)))  # the cache as a user sets it, not --cache-dir
    status, out, err = _build(dirs, capsys)
    assert status == 0, err
    counts = _counts(out)
    assert {k: v for k, v in counts.items() if k[0] in ("RZ1", "RZ3", "RAA")} == OFFICIAL  # official first
    assert {k: v for k, v in counts.items() if k[0] in ("RZ4", "RBB")} == {  # not in the official files: compiled
        ("RZ4", "fds"): (600, 1200), ("RZ4", "62d"): (96, 120), ("RBB", "fds"): (840, 1200)}
    panel = pd.read_parquet(out / "panel.parquet")
    assert sorted(panel.org_code) == ["RAA", "RBB", "RCC", "RZ1", "RZ2", "RZ3", "RZ4"]  # no trust dropped

    f = _findings(out)
    missing = f[f.action == "set missing"].set_index(["org_code", "column"])
    # RZ2: in the official files for 8 months only: missing by the nine-month rule, not replaced by compiled counts
    assert "8 of 12 months of 2025/26 (rule: at least 9)" in missing.loc[("RZ2", "cancer_fds_total"), "reason"]
    assert missing.loc[("RZ2", "cancer_fds_total"), "source"] == f"{FINAL} + {PROVISIONAL}"
    assert "no rows of this standard" in missing.loc[("RZ3", "cancer_fds_total"), "reason"]
    # in neither source: listed, with both sources named
    assert "not in the official files" in missing.loc[("RCC", "cancer_62d_total"), "reason"]
    assert missing.loc[("RCC", "cancer_62d_total"), "source"] == COMPILED
    assert ("RBB", "cancer_62d_total") in missing.index
    # where both give counts they are compared: RZ1's FDS differs (flagged, official kept), the others agree
    flagged = f[(f.action == "flagged") & f.column.str.startswith("cancer")]
    assert flagged[["org_code", "column"]].values.tolist() == [["RZ1", "cancer_fds_total"]]
    assert "3720 / 4800 in the official files, 3600 / 4800 in the compiled file" in flagged.reason.iloc[0]

    md = (out / "quality_report.md").read_text()
    assert f"| {APR_SEP} | cancer_fds_within, cancer_fds_total, cancer_62d_within, cancer_62d_total | used | {FINAL} |" in md
    assert f"| {OCT_MAR} | cancer_fds_within" in md and f"read together with {APR_SEP}" in md
    assert "4 of 7 panel trusts from the publication" in md
    assert "not covered (compiled values kept): RBB, RCC, RZ2, RZ4" not in md  # RZ2 is covered (8 months)
    assert "not covered (compiled values kept): RBB, RCC, RZ4" in md
    assert "agrees with the official counts for 2 of the 3 trust-standards both give and differs for 1" in md
    manifest = json.loads((out / "manifest.json").read_text())
    src = manifest["column_sources"]["cancer_62d_total"]
    assert src["official"] == f"{APR_SEP} + {OCT_MAR}" and src["fallback_codes"] == ["RBB", "RCC", "RZ4"]
    assert src["compiled"][0] == COMPILED
    assert {FINAL, PROVISIONAL, COMPILED} <= set(manifest["inputs"])
    dictionary = pd.read_csv(out / "panel_dictionary.csv").set_index("name")
    assert "Cancer Waiting Times, monthly Combined CSV" in dictionary.loc["cancer_fds_within", "source"]


def test_official_and_compiled_rows_of_the_same_data_give_the_same_panel(dirs, capsys):
    """The structural agreement check: a compiled file holding exactly the official rows (the third party's
    layout, cwt_to_monthly) gives every trust the same counts with or without the official files."""
    rows = pd.concat([cwt_to_monthly(parse_cwt_combined(p)) for p in dirs["files"].values()], ignore_index=True)
    _compiled_file(dirs["data"], rows.to_dict("records"))
    status, out, err = _build(dirs, capsys)
    assert status == 0, err
    compiled = _counts(out)
    status, out, err = _build(dirs, capsys, "--cache-dir", str(_cache(dirs)))
    assert status == 0, err
    assert _counts(out) == compiled == OFFICIAL
    md = (out / "quality_report.md").read_text()
    assert "agrees with the official counts for 4 of the 4 trust-standards both give" in md
    assert not (_findings(out).action == "flagged").loc[_findings(out).column.str.startswith("cancer")].any()


def test_without_the_official_files_the_compiled_file_supplies_the_counts(dirs, capsys):
    _compiled_file(dirs["data"])  # the download cache is empty (tests/conftest.py: no_download_cache)
    status, out, err = _build(dirs, capsys)
    assert status == 0, err
    assert _counts(out) == {("RZ1", "fds"): (3600, 4800), ("RZ1", "62d"): (486, 726), ("RAA", "fds"): (1320, 2640),
                            ("RZ4", "fds"): (600, 1200), ("RZ4", "62d"): (96, 120), ("RBB", "fds"): (840, 1200)}
    md = (out / "quality_report.md").read_text()
    assert f"| {APR_SEP} | cancer_fds_within, cancer_fds_total, cancer_62d_within, cancer_62d_total | not used | " \
           f"geographr/lookup_trust_trust.csv, {COMPILED} | not in the download cache |" in md
    assert f"months, from raw/{COMPILED} (the official Cancer Waiting Times files are not used" in md
    f = _findings(out)
    assert set(f.loc[f.column.str.startswith("cancer_") & (f.action == "set missing"), "org_code"]) == {
        "RAA", "RBB", "RCC", "RZ2", "RZ3"}  # RAA and RBB: no 62-day rows
    manifest = json.loads((out / "manifest.json").read_text())
    assert "official" not in manifest["column_sources"]["cancer_fds_total"]
    assert not any(k.startswith("cache/") for k in manifest["inputs"])


def test_one_file_of_the_year_alone_is_not_used(dirs, capsys):
    _compiled_file(dirs["data"])
    status, out, err = _build(dirs, capsys, "--cache-dir", str(_cache(dirs, names=[OCT_MAR])))
    assert status == 0, err
    assert _counts(out)[("RZ1", "fds")] == (3600, 4800)  # compiled: six official months cannot make the year
    md = (out / "quality_report.md").read_text()
    assert (f"| {OCT_MAR} | cancer_fds_within, cancer_fds_total, cancer_62d_within, cancer_62d_total | not used | "
            f"geographr/lookup_trust_trust.csv, {COMPILED} | read only together with {APR_SEP}") in md
    assert f"run `svi data fetch {APR_SEP}` to add it" in md


def test_without_either_source_every_trust_is_listed(dirs, capsys):
    status, out, err = _build(dirs, capsys)  # no compiled file, empty cache
    assert status == 0, err
    assert _counts(out) == {}
    f = _findings(out)
    assert len(f[f.column == "cancer_fds_total"]) == 0  # one note instead of a finding per trust
    md = (out / "quality_report.md").read_text()
    assert "not found and the official Cancer Waiting Times files are not in the download cache" in md


def _line_of(path: Path, *parts: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if all(p in line for p in parts))


def test_a_damaged_official_file_stops_the_build_naming_file_line_column_and_value(dirs, capsys):
    good = dirs["files"][OCT_MAR]
    line = _line_of(good, "01/12/2025", "RZ1", ",62D,ALL CANCERS,ALL ROUTES,")
    text = good.read_text().splitlines()
    text[line - 1] = text[line - 1].replace(",60.5,40.5,", ",60.5,4O.5,")
    broken = dirs["tmp"] / "broken.csv"
    broken.write_text("\n".join(text) + "\n")
    _compiled_file(dirs["data"])
    status, out, err = _build(dirs, capsys, "--cache-dir", str(_cache(dirs, replace={OCT_MAR: broken})))
    assert status == 2
    assert "Traceback" not in err
    assert (f"2025-26-Oct-Mar-Cumulative-Monthly-Combined-CSV-Provisional.csv, line {line}, column 'Within': "
            "expected a number, got '4O.5'") in err
    assert f"`svi data fetch {OCT_MAR} --force`" in err and "remove it from the cache" in err
    assert not out.exists()  # nothing written


def test_a_file_of_another_layout_under_the_cwt_name_is_refused(dirs, capsys):
    other = FIXTURES / "Monthly-AE-March-2026.csv"
    status, out, err = _build(dirs, capsys, "--cache-dir", str(_cache(dirs, replace={APR_SEP: other})))
    assert status == 2 and "Traceback" not in err
    assert "2025-26-Apr-Sep-Cumulative-Monthly-Combined-CSV-Final.csv, line 1, column 'Basis'" in err
    assert "missing required column" in err and f"`svi data fetch {APR_SEP} --force`" in err
    assert not out.exists()


@pytest.mark.slow  # a build of the shared data's panel (about 20 s on a busy machine)
def test_on_the_shared_data_the_official_fixture_changes_no_trust(real_data_dir, tmp_path):
    """The shared data with the official fixture in the cache: the fixture's invented providers match no real
    trust, so every trust keeps the compiled file's counts, the report lists them as not covered and the fixture's
    providers as outside the panel (the overlap of the two sources is empty: only the structure is checked)."""
    from analysis.real_panel import build_real_panel
    from analysis.trend.years import cross_section_cancer

    cache = fill_cache(tmp_path / "cache", make_mirror(tmp_path / "mirror"), [APR_SEP, OCT_MAR])
    panel, report = build_real_panel(real_data_dir, cache_dir=cache)
    compiled = cross_section_cancer(real_data_dir, panel["org_code"]).counts.set_index("org_code")
    got = panel.set_index("org_code")[compiled.columns]
    pd.testing.assert_frame_equal(got, compiled.loc[got.index])
    row = next(s for s in report.sources if s["publication"] == APR_SEP)
    assert row["status"] == "used"
    assert row["detail"].startswith(f"0 of {len(panel)} panel trusts from the publication")
    assert "3 organisations of the publication not in the panel: RZ1, RZ2, RZ3" in row["detail"]
    assert report.column_sources["cancer_fds_total"]["fallback_codes"] == sorted(panel["org_code"])


def _as_official(rows: pd.DataFrame, path: Path) -> Path:
    """Provider rows of the third-party monthly file written back in the official Combined CSV layout (the
    all-types rows only): the inverse of the parser, for a round trip on the shared data."""
    label = {"FDS28": "FDS", "CMB31": "31D", "CMB62": "62D"}
    pd.DataFrame({"Period": "01/" + rows["month"].str[5:] + "/" + rows["month"].str[:4], "Basis": "Provider",
                  "Org_Code": rows["org_code"], "Parent_Org": rows["region"], "Org_Name": rows["org_name"],
                  "Standard_or_Item": rows["standard"].map(label), "Cancer_Type": "ALL CANCERS",
                  "Referral_Route_or_Stage": "ALL ROUTES",
                  "Treatment_Modality": rows["standard"].map(lambda s: "" if s == "FDS28" else "ALL MODALITIES"),
                  "Total": rows["total"], "Within": rows["within_standard"]}).to_csv(path, index=False)
    return path


@pytest.mark.slow  # the shared data's panel and year panel (about 50 s on a busy machine)
def test_on_the_shared_data_official_rows_equal_to_the_compiled_ones_give_the_same_panels(real_data_dir, tmp_path):
    """The shared data's 2025/26 provider rows in the official layout, as the two cached files: the whole path
    (parser, successor mapping of real predecessors, nine-month rule, rounding) gives every trust the compiled
    file's counts, the report finds no disagreement, and the year panel says its 2025/26 counts are the compiled
    file's."""
    from analysis.panel import build_and_write
    from analysis.trend.years import cross_section_cancer

    raw = pd.read_csv(real_data_dir / "raw" / COMPILED, dtype=str, keep_default_na=False)
    raw = raw[raw["level"] == "provider"]
    files = {APR_SEP: _as_official(raw[raw["month"].between("2025-04", "2025-09")], tmp_path / "a.csv"),
             OCT_MAR: _as_official(raw[raw["month"].between("2025-10", "2026-03")], tmp_path / "b.csv")}
    cache = fill_cache(tmp_path / "cache", make_mirror(tmp_path / "mirror", files), [APR_SEP, OCT_MAR])
    result = build_and_write(real_data_dir, tmp_path / "panel", cache_dir=cache)
    panel = result.panel.set_index("org_code")
    compiled = cross_section_cancer(real_data_dir, panel.index).counts.set_index("org_code")
    pd.testing.assert_frame_equal(panel[compiled.columns], compiled.loc[panel.index])
    src = result.report.column_sources["cancer_62d_total"]
    assert src["official"] == f"{APR_SEP} + {OCT_MAR}" and 100 < src["covered"] < len(panel)
    f = result.report.findings_frame()
    assert not ((f.action == "flagged") & f.column.fillna("").str.startswith("cancer")).any()
    note = next(n for n in result.report.notes if n.startswith("Cancer waits"))
    assert f"for {src['covered']} trusts (official first" in note and "differs" not in note
    assert any(n.startswith("Cancer counts: every year from raw/") for n in result.years.notes)
