"""Emergency readmissions within 30 days (issue 15, item 2): the Compendium file in its official layout -> parser ->
panel columns (only when the publication is in the cache) -> the indicator in the model; and nothing changes
without it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.errors import DataError
from analysis.sources import official
from tests.analysis.officialfixture import FIXTURES, fill_cache, make_compilation, make_mirror
from tests.analysis.rawfixture import relax_minimums

READM = FIXTURES / "compendium-emergency-readmissions-30-days-I02040.csv"
COLS = ["readmissions_spells", "readmissions_observed", "readmissions_expected"]


def _rewrite(tmp_path, edit) -> Path:
    rows = list(csv.reader(READM.read_text(encoding="utf-8").splitlines()))
    rows = edit(rows)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    out = tmp_path / READM.name
    out.write_text(buf.getvalue(), encoding="utf-8")
    return out


# ----------------------------------------------------------------------------- parser

def test_parser_reads_provider_rows_of_persons_all_ages_in_the_latest_year():
    f = official.parse_readmissions_30d(READM).set_index("org_code")
    assert list(f.columns) == list(official.READMISSIONS_COLUMNS)[1:]
    assert sorted(f.index) == ["NZ9", "RZ1", "RZ2", "RZ3", "RZ4"]  # England, region, sex and age rows not read
    assert (f["year"] == "2023/24").all()
    assert f.loc["RZ1", ["spells", "observed", "expected"]].tolist() == [62050, 9120, 7930]  # not 2022/23's
    assert f.loc["RZ2", "org_name"] == "BETA, GAMMA AND DELTA NHS TRUST"
    assert f.loc["RZ4", ["observed", "expected", "indicator_value"]].isna().all()  # 'Low numbers' and '*'
    assert f.loc["RZ4", "spells"] == 85


def test_parser_reads_an_earlier_year_on_request():
    f = official.parse_readmissions_30d(READM, year="2022/23")
    assert f["org_code"].tolist() == ["RZ1"] and f["observed"].tolist() == [8710]


def test_a_missing_column_names_the_header_line(tmp_path):
    path = _rewrite(tmp_path, lambda rows: [[c for j, c in enumerate(r) if j != rows[0].index("Expected")]
                                            for r in rows])
    with pytest.raises(DataError, match=r"line 1.*Expected"):
        official.parse_readmissions_30d(path)


def test_a_bad_count_names_file_line_column_and_value(tmp_path):
    def edit(rows):
        rows[4][rows[0].index("Observed")] = "9,12O"
        return rows
    path = _rewrite(tmp_path, edit)
    with pytest.raises(DataError) as exc:
        official.parse_readmissions_30d(path)
    msg = str(exc.value)
    assert str(path) in msg and "line 5" in msg and "Observed" in msg and "9,12O" in msg


def test_a_year_not_written_as_a_financial_year_is_refused(tmp_path):
    def edit(rows):
        rows[3][0] = "2023"
        return rows
    with pytest.raises(DataError, match=r"line 4.*Year.*YYYY/YY"):
        official.parse_readmissions_30d(_rewrite(tmp_path, edit))


def test_observed_without_expected_is_refused(tmp_path):
    def edit(rows):
        rows[7][rows[0].index("Expected")] = "*"
        return rows
    with pytest.raises(DataError, match=r"line 8.*Expected.*missing"):
        official.parse_readmissions_30d(_rewrite(tmp_path, edit))


def test_a_provider_twice_in_a_year_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"line 12.*Level.*more than once"):
        official.parse_readmissions_30d(_rewrite(tmp_path, lambda rows: rows + [rows[7]]))


def test_a_file_without_provider_rows_says_what_it_expected(tmp_path):
    path = _rewrite(tmp_path, lambda rows: rows[:3])
    with pytest.raises(DataError, match="no provider rows"):
        official.parse_readmissions_30d(path)


# ----------------------------------------------------------------------------- panel

@pytest.fixture
def dirs(tmp_path, monkeypatch):
    relax_minimums(monkeypatch)
    return {"data": make_compilation(tmp_path / "data"), "mirror": make_mirror(tmp_path / "mirror"),
            "cache": tmp_path / "cache", "tmp": tmp_path}


def test_the_panel_has_readmissions_only_when_the_publication_is_in_the_cache(dirs):
    from analysis.panel import panel_hash
    from analysis.real_panel import build_real_panel

    fill_cache(dirs["cache"], dirs["mirror"], [n for n in official.FEEDS if n != "readmissions_30d"])
    without, _ = build_real_panel(dirs["data"], cache_dir=dirs["cache"])
    assert not set(COLS) & set(without.columns)
    fill_cache(dirs["cache"], dirs["mirror"], ["readmissions_30d"])
    panel, report = build_real_panel(dirs["data"], cache_dir=dirs["cache"])
    p = panel.set_index("org_code")
    assert p.loc["RZ1", COLS].tolist() == [62050, 9120, 7930]
    assert p.loc["RZ4", COLS[1:]].isna().all()  # suppressed
    assert p.loc[["RAA", "RBB", "RCC"], COLS].isna().all().all()  # not in the publication: none
    # the other columns are those of the build without it
    pd.testing.assert_frame_equal(panel.drop(columns=COLS), without)
    assert panel_hash(panel) != panel_hash(without)
    assert "2023/24" in report.dictionary["readmissions_observed"]["period"]


def test_panel_files_record_the_columns_and_period(dirs):
    from analysis.panel import build_and_write, read_panel

    fill_cache(dirs["cache"], dirs["mirror"])
    result = build_and_write(dirs["data"], out=dirs["tmp"] / "panel", cache_dir=dirs["cache"])
    back = read_panel(dirs["tmp"] / "panel")
    assert set(COLS) <= set(back.columns)
    dic = pd.read_csv(dirs["tmp"] / "panel" / "panel_dictionary.csv").set_index("name")
    assert "2023/24" in dic.loc["readmissions_observed", "period"]
    assert "readmissions_30d" in dic.loc["readmissions_expected", "source"]
    assert result.panel["readmissions_observed"].notna().sum() == 3


def test_official_values_pass_the_plausibility_checks(dirs, tmp_path):
    from analysis.real_panel import build_real_panel

    def edit(rows):
        rows[4][rows[0].index("Observed")] = "70000"  # RZ1 2023/24: above its 62,050 spells
        return rows
    bad = _rewrite(tmp_path, edit)
    fill_cache(dirs["cache"], make_mirror(tmp_path / "mirror2", replace={"readmissions_30d": bad}))
    panel, report = build_real_panel(dirs["data"], cache_dir=dirs["cache"])
    assert panel.set_index("org_code").loc["RZ1", COLS].isna().all()
    found = [f for f in report.findings if f.org_code == "RZ1" and f.column == "readmissions_observed"]
    assert found and "above spells" in found[0].reason and found[0].source.endswith(READM.name)


# ----------------------------------------------------------------------------- model

def test_default_synthetic_panel_has_no_readmissions_and_the_model_is_unchanged():
    """Without the file: no readmissions column, the config the fit uses is the configured one (same model id),
    and the model's log density is the one of a registry without the record."""
    from analysis.fitting import model_id
    from analysis.synthetic import generate
    from models import indicators as registry
    from models.config import for_panel, load_config
    from models.value_model import build_model, prepare

    panel = generate(20260401)[0]
    assert not set(COLS) & set(panel.columns)
    cfg = load_config()
    assert for_panel(cfg, panel) is cfg
    assert model_id(panel, for_panel(load_config(), panel)) == model_id(panel, cfg)
    assert "readmissions" not in prepare(panel, for_panel(cfg, panel)).indicators  # noqa: the test may name it

    def logp():
        c = for_panel(load_config(), panel)
        m = build_model(prepare(panel, c), c)
        ip = m.initial_point()
        return float(m.compile_logp()(ip)), sorted(m.named_vars)

    with_record = logp()
    rec = registry.INDICATORS["readmissions"]
    registry.unregister("readmissions")
    try:
        without_record = logp()
    finally:
        registry.register(rec)
    assert with_record == without_record


def test_for_panel_adds_readmissions_with_its_record_defaults_and_renormalised_weights():
    from analysis.synthetic import generate
    from models.config import for_panel, load_config

    panel = generate(20260401)[0]
    rng = np.random.default_rng(0)
    e = rng.uniform(500, 5000, len(panel))
    panel = panel.assign(readmissions_spells=e * 7, readmissions_expected=e, readmissions_observed=rng.poisson(e))
    base = list(load_config()["quality"]["indicators"])  # shmi, rtt, ae, fft, cancer_fds, cancer_62d
    cfg = for_panel(load_config(), panel)
    assert cfg["quality"]["indicators"] == [*base, "readmissions"]
    w = cfg["value"]["quality_weights"]
    assert w["readmissions"] == 0.2 and cfg["priors"]["quality_scale"]["readmissions"] == 0.15
    share = {k: v / sum(w[i] for i in cfg["quality"]["indicators"]) for k, v in w.items()}
    # 0.4 / (1.2 + 0.2) and 0.2 / 1.4: SHMI 2/7, RTT 1/7, each cancer standard 1/14
    assert share["shmi"] == pytest.approx(2 / 7) and share["rtt"] == pytest.approx(1 / 7)
    # a config that keeps it out, or gives its own weight
    assert for_panel(load_config(overrides={"quality": {"when_present": False}}), panel)["quality"]["indicators"] == base
    own = for_panel(load_config(overrides={"value": {"quality_weights": {"readmissions": 0.1}}}), panel)
    assert own["value"]["quality_weights"]["readmissions"] == 0.1
    # columns present but empty (no trust reports): not added
    empty = panel.assign(readmissions_observed=np.nan, readmissions_expected=np.nan)
    assert for_panel(load_config(), empty)["quality"]["indicators"] == base


@pytest.mark.slow
def test_fixture_file_to_a_fit_with_readmissions_health_alpha(dirs):
    """fixture file -> cache -> panel -> a short fit in which readmissions is an indicator -> Health Alpha rows
    (a smoke test of the path: 7 trusts cannot converge; about 2-4 minutes)."""
    from analysis.panel import build_and_write
    from analysis.pipeline import fit_and_summarise
    from analysis.variants import QUICK_SAMPLER

    fill_cache(dirs["cache"], dirs["mirror"])
    result = build_and_write(dirs["data"], out=dirs["tmp"] / "results" / "panel", cache_dir=dirs["cache"])
    fitted = fit_and_summarise(result.panel, out=dirs["tmp"] / "results", echo=lambda *a: None,
                               overrides={"sampler": {**QUICK_SAMPLER, "seed": 1}})
    assert fitted["data"].indicators[-1] == "readmissions"  # noqa: the test may name it
    assert fitted["config"]["value"]["quality_weights"]["readmissions"] == 0.2
    ha = fitted["tables"]["health_alpha"]
    rows = ha[ha.measure == "readmissions_ratio_to_expected"].set_index("org_code")
    assert len(rows) == len(result.panel)
    assert rows.loc[["RZ1", "RZ2", "RZ3"], "median"].notna().all()
    assert rows.loc[["RZ4", "RAA", "RBB", "RCC"], "median"].isna().all()  # suppressed / not published
    assert set(rows["unit"]) == {"ratio (need-adjusted; <1 better)"}
    drivers = fitted["tables"]["value_drivers"]
    assert "readmissions" in set(drivers["part"])
    import json
    saved = json.loads(fitted["idata"].attrs["svi_config"])
    assert "readmissions" in saved["quality"]["indicators"]
