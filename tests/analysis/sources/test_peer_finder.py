"""The Peer Finder source (read by ``svi claims``, registered beside the panel's sources)."""

import numpy as np
import pytest

from analysis import sources
from analysis.errors import DataError
from analysis.sources.peer_finder import FILE


def test_peer_finder_is_registered_and_loads(tmp_path):
    src = sources.get("peer_finder")
    assert src.files == (FILE,) and "peer_finder" not in sources.SOURCES  # not a panel input
    f = tmp_path / "raw" / FILE
    f.parent.mkdir(parents=True)
    f.write_text("\ufeffProcode,Operating Expenses,MFF payment index\nRFF,-250000,1.02\nXYZ,    ,    \n",
                 encoding="utf-8")
    pf = src.load(tmp_path).set_index("org_code")
    assert pf.loc["RFF", "opex_gbp_m"] == 250.0 and pf.loc["RFF", "mff"] == 1.02 and np.isnan(pf.loc["XYZ", "mff"])
    f.write_text("Procode,Operating Expenses,MFF payment index\nRFF,-1,7.5\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 2"):
        src.load(tmp_path)
    with pytest.raises(DataError, match="not found"):
        src.load(tmp_path / "nowhere")


def test_the_shared_data_hold_it(real_data_dir):
    pf = sources.get("peer_finder").load(real_data_dir)
    assert pf.org_code.is_unique and pf.mff.dropna().between(0.8, 1.6).all() and pf.mff.notna().sum() > 100
