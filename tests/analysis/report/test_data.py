"""Results access: results whose panel, fit and tables come from different runs are refused (issue 13, class 4), and
so are results the documents cannot describe (no recorded config, tables of an older version)."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from analysis import io
from analysis.cli import main
from analysis.errors import SVIError
from tests.analysis.report.conftest import GATE, _copy

pytest.importorskip("typst")
pytest.importorskip("pypandoc")
pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed")

from analysis import report as rep  # noqa: E402


def test_consistent_results_load(results, tmp_path):
    res = rep.load_results(_copy(results, tmp_path / "r"))
    assert res.attrs["svi_model_id"] == GATE["model_id"]


def test_tables_from_another_fit_are_refused(results, tmp_path):
    out = _copy(results, tmp_path / "r")
    io.write_json(out / "tables" / "model.json", {"model_id": "otherfit0000001", "panel_hash": None})
    with pytest.raises(SVIError, match="mix runs: the tables were computed from fit otherfit0000001") as e:
        rep.load_results(out)
    assert "svi summarise --out" in str(e.value)


def test_panel_rebuilt_after_the_fit_is_refused(results, tmp_path, capsys):
    """The issue's case: new observed deaths printed beside estimates fitted on the old ones."""
    out = _copy(results, tmp_path / "r")
    p = pd.read_parquet(out / "panel" / "panel.parquet")
    p.loc[p.shmi_observed_deaths.notna().idxmax(), "shmi_observed_deaths"] += 5
    p.to_parquet(out / "panel" / "panel.parquet", index=False)
    with pytest.raises(SVIError, match="is not the panel the fit was made from"):
        rep.load_results(out)
    assert main(["report", "--out", str(out), "--no-paper", "--all"]) == 2
    err = capsys.readouterr().err
    assert "mix runs" in err and "Traceback" not in err
    assert not (out / "reports").exists()


def test_gate_of_another_fit_is_refused(results, tmp_path):
    out = _copy(results, tmp_path / "r")
    io.write_json(out / "fit" / "gate.json", {**GATE, "model_id": "someotherfit001"})
    with pytest.raises(SVIError, match="gate.json belongs to fit someotherfit001"):
        rep.load_results(out)


def test_missing_fit_or_model_id_is_refused(results, tmp_path):
    out = _copy(results, tmp_path / "r")
    (out / "tables" / "model.json").unlink()
    with pytest.raises(SVIError, match="does not say which fit"):
        rep.load_results(out)
    out = _copy(results, tmp_path / "r2")
    (out / "fit" / "posterior.nc").unlink()
    with pytest.raises(SVIError, match="no fit at .*posterior.nc"):
        rep.load_results(out)


def test_truncated_posterior_names_the_file(results, tmp_path, capsys):
    out = _copy(results, tmp_path / "r")
    nc = out / "fit" / "posterior.nc"
    nc.write_bytes(nc.read_bytes()[:4000])
    with pytest.raises(SVIError, match="posterior.nc cannot be read as a saved fit") as e:
        rep.load_results(out)
    assert str(nc) in str(e.value) and "svi fit --out" in str(e.value)
    assert main(["report", "--out", str(out)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_damaged_table_names_the_file(results, tmp_path):
    out = _copy(results, tmp_path / "r")
    (out / "tables" / "ranks.parquet").write_bytes(b"PAR1")
    with pytest.raises(SVIError, match="ranks.parquet cannot be read"):
        rep.load_results(out)


def test_a_fit_without_its_config_is_refused_not_replaced_by_the_default(results, tmp_path):
    import arviz as az

    from analysis.fitting import save_fit

    out = _copy(results, tmp_path / "r")
    idata = az.from_netcdf(out / "fit" / "posterior.nc", engine="h5netcdf")
    idata.load()
    del idata.attrs["svi_config"]
    save_fit(idata, out / "fit" / "posterior.nc")
    with pytest.raises(SVIError, match="does not record the model configuration"):
        rep.load_results(out)


def test_tables_without_the_derived_ones_say_to_summarise(results, tmp_path):
    out = _copy(results, tmp_path / "r")
    for suffix in (".parquet", ".csv"):
        (out / "tables" / f"headlines{suffix}").unlink()
    with pytest.raises(SVIError, match=r"missing in .*headlines.*svi summarise --out"):
        rep.load_results(out)
