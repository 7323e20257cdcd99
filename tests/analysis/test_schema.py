"""Plausible ranges (issue 13, class 3): every numeric input and panel column is checked for finiteness and range,
each range documented with its source, and a panel holding an impossible number is refused with a message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import schema
from analysis.cli import main
from analysis.errors import DataError
from analysis.panel import build, read_panel, write
from analysis.sources import loaders


def test_every_numeric_column_has_a_documented_range():
    for c in schema.COLUMNS:
        if c.dtype == "float":
            rng = schema.RANGES[c.name]
            assert rng.source and rng.lo < rng.hi and np.isfinite(rng.hi) and np.isfinite(rng.lo), c.name
    for src, cols in schema.RAW_RANGES.items():
        assert all(r.source for r in cols.values()), src
    d = schema.dictionary()
    assert {"valid_range", "range_source"} <= set(d.columns)
    assert d.set_index("name").loc["shmi_spells", "valid_range"] == "[0, 2.5e+06]"


def test_every_raw_numeric_column_read_has_a_range(real_data_dir):
    """read_csv_checked refuses (ValueError) a numeric column without a range: loading every source proves each
    has one."""
    from analysis.sources import load_all

    raw = load_all(real_data_dir)
    assert all(f.attrs["invalid"] == [] for f in raw.values())  # the shared data hold no impossible number
    assert set(loaders.MIN_ROWS) == set(loaders._SOURCE_OF)


@pytest.mark.parametrize("seed", [1, 7, 20260401])
def test_synthetic_panels_lie_in_the_ranges(seed):
    schema.validate_panel(build(seed=seed).panel)


@pytest.mark.parametrize("column, value", [("rtt_total_waiting", np.inf), ("shmi_spells", 1e308),
                                           ("ncc_actual_cost_total_gbp_m", -np.inf), ("imd_income_score", 5.0),
                                           ("shmi_value", 0.0)])
def test_panel_with_an_impossible_value_is_refused(column, value):
    panel = build(seed=1).panel.copy()
    panel.loc[3, column] = value
    with pytest.raises(DataError) as e:
        schema.validate_panel(panel, source="somewhere/panel.parquet")
    msg = str(e.value)
    assert e.value.column == column and panel.loc[3, "org_code"] in msg and "somewhere/panel.parquet" in msg
    assert "plausible range" in msg and "svi data build" in msg


def test_fit_refuses_a_panel_file_holding_inf(tmp_path, capsys):
    """The crash of the issue: inf in an RTT total reached the sampler (a 215-line SamplingError)."""
    res = write(build(seed=1), tmp_path / "panel")
    p = pd.read_parquet(tmp_path / "panel" / "panel.parquet")
    p.loc[0, "rtt_total_waiting"] = np.inf
    p.to_parquet(tmp_path / "panel" / "panel.parquet", index=False)
    with pytest.raises(DataError, match="rtt_total_waiting"):
        read_panel(tmp_path / "panel")
    assert main(["fit", "--panel", str(tmp_path / "panel"), "--out", str(tmp_path / "res")]) == 2
    err = capsys.readouterr().err
    assert "rtt_total_waiting" in err and res.panel.org_code[0] in err and "Traceback" not in err
    assert not (tmp_path / "res").exists()


def test_panel_from_another_version_is_refused(tmp_path):
    p = build(seed=1).panel.drop(columns=["imd_score"])
    p.to_csv(tmp_path / "panel.csv", index=False)
    with pytest.raises(DataError, match="missing column.*imd_score"):
        read_panel(tmp_path / "panel.csv")
