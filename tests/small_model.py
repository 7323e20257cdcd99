"""A small configuration of the value model for tests of machinery (sweeps, reproducibility, SBC plumbing).

Two quality indicators (SHMI, a Poisson O/E count, and RTT, a binomial) and the total cost outcome keep every kind
of block the full model has (LKJ-correlated trust effects, need effects, peer scales, the Student-t cost block) at
a fraction of its compile and sampling time.  numpyro compiles inside every fit, so a test that fits the full model
several times spends minutes showing what the small model shows as well.  Statistical checks of the full model
(recovery, SBC, calibration) use the default configuration."""

SMALL = {"quality": {"indicators": ["shmi", "rtt"]}, "cost": {"outcomes": ["total"]}}
