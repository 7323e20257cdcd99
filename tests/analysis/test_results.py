"""The results directory object: its layout, saving and loading a fit, the model-id and same-run checks."""

from __future__ import annotations

import json

import arviz as az
import numpy as np
import pandas as pd
import pytest

from analysis import io
from analysis.errors import FitMismatchError, OutputError, SVIError
from analysis.fitting import model_id
from analysis.panel import build, panel_hash
from analysis.results import DERIVED_TABLES, PARTS, POSTERIOR_TABLES, TABLE_NAMES, FitDir, ResultsDir
from models.config import load_config


def test_layout(tmp_path):
    r = ResultsDir(tmp_path)
    assert r.posterior == tmp_path / "fit" / "posterior.nc" and r.gate == tmp_path / "fit" / "gate.json"
    assert r.table("ranks") == tmp_path / "tables" / "ranks.parquet"
    assert r.table("ranks", ".csv") == tmp_path / "tables" / "ranks.csv"
    assert r.unpublishable == tmp_path / "tables" / "UNPUBLISHABLE"
    assert r.board_pdf("RFF", "slide") == tmp_path / "reports" / "appendices" / "RFF_slide.pdf"
    assert r.variant("national").posterior == tmp_path / "variants" / "national" / "posterior.nc"
    assert r.panel_file == tmp_path / "panel" / "panel.parquet"
    assert [r / p for p in PARTS] == [tmp_path / p for p in PARTS]
    with pytest.raises(KeyError, match="not a part"):
        r / "elsewhere"
    assert TABLE_NAMES == POSTERIOR_TABLES + DERIVED_TABLES and not set(POSTERIOR_TABLES) & set(DERIVED_TABLES)


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return build(None, 3).panel


def _idata(panel, cfg) -> az.InferenceData:
    idata = az.from_dict(posterior={"mu": np.zeros((1, 5))})
    idata.attrs.update({"svi_model_id": model_id(panel, cfg), "svi_panel_hash": panel_hash(panel),
                        "svi_config": json.dumps(cfg, default=str)})
    return idata


def test_save_and_load_a_fit(tmp_path, panel):
    cfg = load_config()
    r = ResultsDir(tmp_path)
    r.save_fit(_idata(panel, cfg), {"passed": True, "model_id": model_id(panel, cfg)})
    assert r.fit.read_gate()["passed"] is True
    back = r.load_fit(panel, cfg)
    np.testing.assert_array_equal(back.posterior["mu"].values, np.zeros((1, 5)))
    attrs = r.read_attrs()
    assert attrs["svi_model_id"] == model_id(panel, cfg)
    assert r.fit_config(attrs)["sampler"]["seed"] == cfg["sampler"]["seed"]


def test_a_fit_of_other_inputs_is_refused(tmp_path, panel):
    cfg = load_config()
    fd = FitDir(tmp_path / "variants" / "base")
    fd.save(_idata(panel, cfg), {})
    other = load_config(overrides={"sampler": {"seed": cfg["sampler"]["seed"] + 1}})
    with pytest.raises(FitMismatchError, match="model id"):
        fd.load(panel, other)


def test_a_fit_without_its_config_is_refused(tmp_path):
    with pytest.raises(SVIError, match="does not record the model configuration"):
        ResultsDir(tmp_path).fit_config({"svi_model_id": "x"})


def test_tables_round_trip_and_missing_tables_say_what_to_run(tmp_path):
    r = ResultsDir(tmp_path)
    t = pd.DataFrame({"org_code": ["A", "B"], "median": [0.5, np.nan]})
    r.write_tables({n: t for n in POSTERIOR_TABLES}, {"model_id": "m1", "panel_hash": "p1"}, notes=["a note"],
                   unpublishable="gate failed")
    assert r.read_tables_model() == {"model_id": "m1", "panel_hash": "p1"}
    assert r.read_text(r.model_notes) == "a note\n" and r.read_text(r.unpublishable) == "gate failed\n"
    pd.testing.assert_frame_equal(r.read_tables(POSTERIOR_TABLES)["ranks"], t)
    # tables of an older version, without the derived ones: recompute from the saved fit
    with pytest.raises(SVIError, match="missing in .*shmi_funnel.*svi summarise --out"):
        r.read_tables()
    with pytest.raises(SVIError, match="run `svi run` or `svi fit` first"):
        ResultsDir(tmp_path / "empty").read_tables()
    # the same command may replace its own tables; a foreign file in tables/ is never deleted
    (r.tables_dir / "mine.txt").write_text("x")
    with pytest.raises(OutputError, match="mine.txt"):
        r.write_tables({}, {})


def test_check_out_refuses_a_file_in_the_way(tmp_path):
    (tmp_path / "fit").write_text("x")
    with pytest.raises(OutputError, match="fit is a file"):
        ResultsDir(tmp_path).check_out("fit", "tables")
    ResultsDir(tmp_path).check_out("tables")
    with pytest.raises(OutputError, match="is an existing file"):
        ResultsDir(tmp_path / "fit" / "deeper").check_out()


def test_same_run_check(tmp_path, panel):
    r = ResultsDir(tmp_path)
    h = panel_hash(panel)
    r.check_same_run(panel, {"svi_model_id": "m", "svi_panel_hash": h}, {"model_id": "m"}, {"model_id": "m"})
    with pytest.raises(SVIError, match="mix runs: the tables were computed from fit other"):
        r.check_same_run(panel, {"svi_model_id": "m", "svi_panel_hash": h}, {}, {"model_id": "other"})
    with pytest.raises(SVIError, match="is not the panel the fit was made from"):
        r.check_same_run(panel, {"svi_model_id": "m", "svi_panel_hash": "old"}, {}, {"model_id": "m"})


def test_a_results_directory_is_recognised_when_refusing_it(tmp_path):
    r = ResultsDir(tmp_path / "r")
    r.posterior.parent.mkdir(parents=True)
    r.posterior.write_bytes(b"x")
    (r / "tables").mkdir()
    with pytest.raises(OutputError, match=r"is a results directory \(it holds fit/posterior.nc, fit/, tables/\)"):
        io.check_owned(r.root, "svi data build")
