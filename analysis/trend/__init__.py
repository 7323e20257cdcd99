"""Trend and movements: the trust x financial-year panel, the dynamic model's fit, movements and the backtest.

Modules: :mod:`~analysis.trend.successors` (codes to today's trusts), :mod:`~analysis.trend.years` (the year
panel), :mod:`~analysis.trend.synthetic` (a seeded synthetic year panel), :mod:`~analysis.trend.fit` (fit, gate,
trust-effect draws), :mod:`~analysis.trend.movements`, :mod:`~analysis.trend.backtest`.
"""
