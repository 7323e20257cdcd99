"""A fit's record in words."""


def test_timing_says_when_compilation_is_inside_sampling():
    """nutpie compiles before sampling; numpyro and PyMC compile inside pm.sample, so no separate figure is given."""
    from analysis.fitinfo import timing_text

    attrs = {"svi_compile_seconds": 52.3, "svi_sampling_seconds": 54.46}
    assert timing_text(attrs, "nutpie") == "compilation 52 s, sampling 54 s"
    assert timing_text(attrs, "numpyro", 1) == "sampling 54.5 s, compilation included"
    assert "compilation included" in timing_text(attrs, "pymc")
