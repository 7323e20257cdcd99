"""`svi trend fit`'s record of the data build it came from (analysis/trend/run.py)."""

from analysis.panel import build_and_write, panel_hash, read_panel
from analysis.trend.run import _cross_section_hash


def test_cross_section_hash_names_the_build(tmp_path):
    assert _cross_section_hash(tmp_path) is None  # a year panel alone: nothing to record
    out = tmp_path / "panel"
    build_and_write(None, out)
    assert _cross_section_hash(out) == panel_hash(read_panel(out))
