"""Every parser: documented columns, missing and broken files, the registry's parser names.

Every rejection must name the file, the 1-based line (header = line 1; for spreadsheets the row
number) and the column as written in the file.
"""

from __future__ import annotations


import pandas as pd
import pytest

from analysis.registry import load_registry
from tests.analysis.sources.official.helpers import (SHMI, NCC, RTT, AE, FFT, IMD, OHID, WLMDS_IMD, CWT, PARSERS,
                                                     raises_at)


@pytest.mark.parametrize("parse, fixture, columns", PARSERS, ids=lambda p: getattr(p, "__name__", ""))
def test_parser_returns_its_documented_columns(parse, fixture, columns):
    frame = parse(fixture)
    assert tuple(frame.columns) == columns
    assert len(frame) > 0
    assert frame.index.equals(pd.RangeIndex(len(frame)))


@pytest.mark.parametrize("parse, fixture, columns", PARSERS, ids=lambda p: getattr(p, "__name__", ""))
def test_missing_and_empty_files_are_data_errors(parse, fixture, columns, tmp_path):
    with raises_at(tmp_path / "absent", None, None, "file not found"):
        parse(tmp_path / "absent")
    empty = tmp_path / fixture.name
    empty.write_bytes(b"")
    with raises_at(empty, None, None, "file is empty"):
        parse(empty)


def test_registry_entries_use_these_parsers():
    registry = load_registry()
    fixtures = {"shmi_trust": SHMI, "ncc_org_mff": NCC, "rtt_full_csv": RTT, "ae_monthly": AE,
                "fft_inpatient": FFT, "imd2019_ltla": IMD, "ohid_catchments": OHID,
                "wlmds_imd_decile": WLMDS_IMD, "cwt_combined_2025_26_apr_sep": CWT,
                "cwt_combined_2025_26_oct_mar": CWT}
    for name, fixture in fixtures.items():
        assert len(registry.get(name).parse(fixture)) > 0, name
