"""The claims' text."""

from analysis import claims as C

def test_numbers_in_their_units():
    assert C.fmt(-216.4, "GBP m") == "−£216m" and C.fmt(8000, "GBP m") == "£8.00bn"
    assert C.peq(0.0001) == " < 0.001" and C.peq(0.5) == " = 0.500"
