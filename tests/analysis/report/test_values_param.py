"""The paper's sentences on the sampler's coordinates say what the fit recorded."""

from analysis.report.values import param_text, scale_param_text


def test_parameterisation_sentences_follow_the_fit_record():
    assert param_text("centred", None) == "centred in every peer group"
    assert param_text("auto", "multi-service x fft (partially, weight 0.69)") == (
        "chosen per peer group and indicator from the strength of the data: non-centred for multi-service x fft "
        "(partially, weight 0.69), centred elsewhere")
    assert scale_param_text("auto", "quality rtt;quality ae") == (
        "chosen per outcome from the strength of the data: centred for quality rtt, quality ae, non-centred elsewhere")
    assert scale_param_text("auto", "") .endswith("non-centred everywhere")
    assert scale_param_text("auto", None) == "non-centred"  # a fit made before the choice existed
