"""NHS Digital's SHMI banding: a log-scale funnel with a trimmed additive random-effects allowance.

The method (trust ``i`` has observed deaths ``O_i`` and expected deaths ``E_i``):

1. z-score on the log scale: ``z_i = sqrt(E_i) * ln(O_i / E_i)``;
2. the 10 % lowest and 10 % highest z-scores are removed (truncated, not Winsorised as in the Spiegelhalter/CQC
   method);
3. overdispersion over the ``n`` kept trusts: ``phi = (1/n) * sum z_i^2``;
4. between-trust variance, DerSimonian-Laird with weights ``w_i = E_i`` over the kept trusts only:
   ``tau^2 = max(0, (n*phi - (n - 1)) / (sum w - sum w^2 / sum w))``;
5. control limits ``exp(+/- z_alpha * sqrt(1/E + tau^2))`` with ``z_alpha = 1.96`` (95 %) and ``3.09`` (99.8 %);
6. bands against the 95 % limits: 1 "higher than expected", 2 "as expected", 3 "lower than expected".

Sources: NHS Digital's SHMI methodology specification ("additive random-effects model with a 10 per cent trim for
over-dispersion"); Spiegelhalter, *Qual Saf Health Care* 14 (2005) 347-351 and *Stat Med* 24 (2005) 1185-1202;
FunnelPlotR's ``sr_method = "SHMI"`` (issue #20: truncate both tails, leave the truncated trusts out of tau^2).

Decisions: "10 % at each end" drops ``floor(0.1 n)`` trusts at each end (``rule="floor"``); ``rule="groups"`` is
FunnelPlotR's SAS-style rank groups, which differ only when ``n mod 10 == 9``.  On the real data the published
SHMI is banded with z, phi and tau^2 from the published (rounded) counts.  This reproduces every published band;
the check, the fitted phi and tau^2, the range of tau^2 that keeps every band, and the trusts nearest a limit are
in ``benchmarks/RESULTS.md`` ("SHMI banding").

Everything here is pure: arrays in, arrays / dataclasses out; nothing reads files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal

import numpy as np
import pandas as pd

__all__ = [
    "Z95",
    "Z998",
    "BAND_LABELS",
    "FunnelFit",
    "z_scores",
    "trim_mask",
    "overdispersion_phi",
    "dersimonian_laird_tau2",
    "control_limits",
    "band",
    "fit_funnel",
    "shmi_banding",
    "funnel_plot",
]

#: Two-sided normal quantiles as printed in the SHMI specification (exact: 1.959964, 3.090232); the choice changes
#: no band on the real data (benchmarks/RESULTS.md, "SHMI banding").
Z95 = 1.96
Z998 = 3.09

BAND_LABELS = {1: "higher than expected", 2: "as expected", 3: "lower than expected"}

TrimRule = Literal["floor", "groups"]


def _as_positive_finite(name: str, x) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValueError(f"{name} must be finite and strictly positive")
    return a


def z_scores(observed, expected) -> np.ndarray:
    """Unadjusted SHMI z-scores ``sqrt(E) * ln(O / E)``.

    ``observed`` may equally be a ratio times ``expected`` (e.g. ``shmi * expected``); only ``O/E``
    and ``E`` enter.  All values must be finite and > 0 (a trust with no deaths has no log ratio).
    """
    o = _as_positive_finite("observed", observed)
    e = _as_positive_finite("expected", expected)
    if o.shape != e.shape:
        raise ValueError("observed and expected must have the same length")
    return np.sqrt(e) * np.log(o / e)


def trim_mask(z, fraction: float = 0.1, rule: TrimRule = "floor") -> np.ndarray:
    """Boolean mask of the trusts *kept* for estimating over-dispersion.

    ``rule="floor"`` (default): drop the ``floor(fraction * n)`` lowest and the same number of
    highest z-scores.  Ties at a cut are broken by position (stable sort), so exactly that many are
    dropped at each end.

    ``rule="groups"``: SAS ``PROC RANK GROUPS=k`` as in FunnelPlotR's ``truncation`` (``k = 1/fraction``):
    group ``floor(rank * k / (n + 1))`` with average ranks for ties; groups ``0`` and ``k - 1`` are
    dropped.  Same as ``"floor"`` unless ``n mod 10 == 9`` (for ``fraction = 0.1``) or there are ties.
    """
    z = np.asarray(z, dtype=float)
    if z.ndim != 1 or not np.all(np.isfinite(z)):
        raise ValueError("z must be a one-dimensional array of finite values")
    if not 0 <= fraction < 0.5:
        raise ValueError("fraction must be in [0, 0.5)")
    n = z.size
    keep = np.ones(n, dtype=bool)
    if rule == "floor":
        k = int(np.floor(fraction * n + 1e-9))  # guard against products like 0.7 * 10 = 6.999999999999999
        if k:
            order = np.argsort(z, kind="stable")
            keep[order[:k]] = False
            keep[order[n - k:]] = False
        return keep
    if rule == "groups":
        if fraction == 0:
            return keep
        groups = 1.0 / fraction
        if abs(groups - round(groups)) > 1e-9:
            raise ValueError("rule='groups' needs 1/fraction to be a whole number of groups")
        groups = int(round(groups))
        from scipy.stats import rankdata

        g = np.floor(rankdata(z, method="average") * groups / (n + 1))
        return (g > 0) & (g < groups - 1)
    raise ValueError(f"unknown trimming rule {rule!r}")


def overdispersion_phi(z, keep=None) -> float:
    """``phi = (1/n) * sum z_i^2`` over the kept trusts (Spiegelhalter 2005, additive random effects)."""
    z = np.asarray(z, dtype=float)
    zk = z if keep is None else z[np.asarray(keep, dtype=bool)]
    if zk.size == 0:
        raise ValueError("no z-scores left to estimate phi")
    return float(np.mean(zk**2))


def dersimonian_laird_tau2(phi: float, weights) -> float:
    """DerSimonian-Laird between-trust variance on the log scale.

    ``tau^2 = max(0, (n*phi - (n - 1)) / (sum w - sum w^2 / sum w))`` with ``n = len(weights)``; for
    SHMI the weights are ``w_i = 1/s_i^2 = E_i`` of the *kept* trusts (FunnelPlotR ``tau_func``;
    Spiegelhalter 2005).  Returns 0 when the kept trusts are not over-dispersed (``n*phi <= n - 1``).
    """
    w = np.asarray(weights, dtype=float)
    n = w.size
    if n < 2:
        raise ValueError("need at least two kept trusts to estimate tau^2")
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError("weights must be finite and strictly positive")
    numerator = n * phi - (n - 1)
    denominator = w.sum() - (w**2).sum() / w.sum()
    if numerator <= 0:
        return 0.0
    return float(max(0.0, numerator / denominator))


def control_limits(expected, tau2: float = 0.0, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper control limits on the ratio scale, ``exp(-/+ z * sqrt(1/E + tau^2))``.

    ``expected`` may be any grid of expected counts (for drawing the funnel) or the trusts' own.
    With ``tau2 = 0`` these are the plain Poisson-on-the-log-scale limits ``exp(-/+ z / sqrt(E))``.
    """
    e = _as_positive_finite("expected", np.atleast_1d(expected))
    if tau2 < 0:
        raise ValueError("tau2 must be >= 0")
    half = z * np.sqrt(1.0 / e + tau2)
    return np.exp(-half), np.exp(half)


def band(ratio, lower, upper) -> np.ndarray:
    """SHMI banding: 1 if ``ratio > upper``, 3 if ``ratio < lower``, else 2 (limits themselves are 2)."""
    r = np.asarray(ratio, dtype=float)
    lo = np.asarray(lower, dtype=float)
    hi = np.asarray(upper, dtype=float)
    return np.where(r > hi, 1, np.where(r < lo, 3, 2)).astype(int)


@dataclass(frozen=True)
class FunnelFit:
    """The fitted funnel for one set of trusts (arrays are in input order)."""

    z: np.ndarray  # unadjusted z-scores sqrt(E) ln(O/E)
    kept: np.ndarray  # bool: used for phi / tau^2 (not trimmed)
    phi: float
    tau2: float
    fraction: float
    rule: str

    @property
    def n(self) -> int:
        return int(self.z.size)

    @property
    def n_kept(self) -> int:
        return int(self.kept.sum())

    @property
    def n_trimmed_low(self) -> int:
        if self.n_kept == 0:
            return (self.n - self.n_kept) // 2
        return int(np.sum(~self.kept & (self.z < np.median(self.z[self.kept]))))

    @property
    def n_trimmed_high(self) -> int:
        return self.n - self.n_kept - self.n_trimmed_low

    def limits(self, expected, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
        return control_limits(expected, self.tau2, z)

    def adjusted_z(self, ratio, expected) -> np.ndarray:
        """Over-dispersion-adjusted z: ``ln(ratio) / sqrt(1/E + tau^2)``; band 1/3 iff ``|.| > 1.96``."""
        e = _as_positive_finite("expected", expected)
        return np.log(_as_positive_finite("ratio", ratio)) / np.sqrt(1.0 / e + self.tau2)


def fit_funnel(observed, expected, fraction: float = 0.1, rule: TrimRule = "floor") -> FunnelFit:
    """z-scores, trimming, ``phi`` and ``tau^2`` in one call (steps 1-4 of the module docstring)."""
    e = _as_positive_finite("expected", expected)
    z = z_scores(observed, e)
    kept = trim_mask(z, fraction, rule)
    phi = overdispersion_phi(z, kept)
    tau2 = dersimonian_laird_tau2(phi, e[kept])
    return FunnelFit(z=z, kept=kept, phi=phi, tau2=tau2, fraction=fraction, rule=rule)


# --------------------------------------------------------------------------- pandas wrapper


def shmi_banding(
    df: pd.DataFrame,
    observed: str = "observed_deaths",
    expected: str = "expected_deaths",
    shmi: str | None = None,
    *,
    label: str | None = "org_code",
    fraction: float = 0.1,
    rule: TrimRule = "floor",
    z95: float = Z95,
    z998: float = Z998,
) -> pd.DataFrame:
    """Fit the SHMI funnel to the rows of ``df`` and band every trust.

    ``observed``/``expected`` name the death counts that define ``z``, ``phi`` and ``tau^2`` (and the
    x-axis).  ``shmi``, if given, names the published ratio that is banded and plotted; otherwise
    ``O/E`` is.  On the trustpulse file, pass ``observed='observed_deaths_latest',
    expected='expected_deaths_latest', shmi='shmi_value_latest'``: this reproduces all 118
    published bands (see module docstring).  Rows with a missing or non-positive input are not
    fitted and get ``band = <NA>`` (``in_fit = False``).

    Returns a DataFrame on ``df``'s index with columns ``[label,] observed, expected, ratio, z,
    trimmed, in_fit, lower95, upper95, lower998, upper998, z_adjusted, band, band_label, phi, tau2``;
    ``phi``/``tau2`` (constant columns) are also in ``.attrs`` along with the counts kept/trimmed.
    """
    cols = [observed, expected] + ([shmi] if shmi else [])
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise KeyError(f"columns not in frame: {missing}")
    o = pd.to_numeric(df[observed], errors="coerce").astype(float)
    e = pd.to_numeric(df[expected], errors="coerce").astype(float)
    r = pd.to_numeric(df[shmi], errors="coerce").astype(float) if shmi else o / e
    ok = (o > 0) & (e > 0) & (r > 0) & np.isfinite(o) & np.isfinite(e) & np.isfinite(r)
    ok = ok.fillna(False).astype(bool)
    if ok.sum() < 3:
        raise ValueError("need at least three trusts with positive observed, expected and ratio")

    fit = fit_funnel(o[ok].to_numpy(), e[ok].to_numpy(), fraction=fraction, rule=rule)

    out = pd.DataFrame(index=df.index)
    if label is not None and label in df.columns:
        out[label] = df[label]
    out["observed"] = o
    out["expected"] = e
    out["ratio"] = r
    out["z"] = np.nan
    out.loc[ok, "z"] = fit.z
    out["trimmed"] = False
    out.loc[ok, "trimmed"] = ~fit.kept
    out["in_fit"] = ok
    for name, zq in (("95", z95), ("998", z998)):
        out[f"lower{name}"] = np.nan
        out[f"upper{name}"] = np.nan
        lo, hi = fit.limits(e[ok].to_numpy(), zq)
        out.loc[ok, f"lower{name}"] = lo
        out.loc[ok, f"upper{name}"] = hi
    out["z_adjusted"] = np.nan
    out.loc[ok, "z_adjusted"] = fit.adjusted_z(r[ok].to_numpy(), e[ok].to_numpy())
    b = pd.Series(pd.NA, index=df.index, dtype="Int64")
    b[ok] = band(r[ok].to_numpy(), out.loc[ok, "lower95"].to_numpy(), out.loc[ok, "upper95"].to_numpy())
    out["band"] = b
    out["band_label"] = b.map(BAND_LABELS).astype("string")
    out["phi"] = fit.phi
    out["tau2"] = fit.tau2
    out.attrs.update(
        phi=fit.phi,
        tau2=fit.tau2,
        n_fitted=fit.n,
        n_kept=fit.n_kept,
        n_trimmed_low=fit.n_trimmed_low,
        n_trimmed_high=fit.n_trimmed_high,
        fraction=fraction,
        rule=rule,
        z95=z95,
        z998=z998,
        label=label if (label is not None and label in df.columns) else None,
    )
    return out


# --------------------------------------------------------------------------- plot

_BAND_STYLE = {
    1: dict(color="#d62728", label="1: higher than expected"),
    2: dict(color="#7f7f7f", label="2: as expected"),
    3: dict(color="#1f77b4", label="3: lower than expected"),
}


def funnel_plot(result: pd.DataFrame, ax=None, highlight: str | Iterable[str] | None = None):
    """Funnel plot of a :func:`shmi_banding` result; returns the matplotlib Figure.

    x = expected deaths, y = SHMI (the banded ratio); solid lines are the over-dispersion-adjusted
    95 % limits, dashed the 99.8 % limits, drawn on a grid of expected counts.  Points are coloured by
    band.  ``highlight`` (one code or several, matched against the label column) are ringed and
    labelled.
    """
    import matplotlib.pyplot as plt

    tau2 = float(result.attrs.get("tau2", result["tau2"].iloc[0]))
    z95 = float(result.attrs.get("z95", Z95))
    z998 = float(result.attrs.get("z998", Z998))
    label_col = result.attrs.get("label")
    data = result[result["in_fit"]] if "in_fit" in result.columns else result

    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 5.5))
    else:
        fig = ax.figure

    e = data["expected"].to_numpy(dtype=float)
    grid = np.geomspace(max(e.min() * 0.8, 1.0), e.max() * 1.1, 300)
    for zq, style, name in ((z95, "-", "95%"), (z998, "--", "99.8%")):
        lo, hi = control_limits(grid, tau2, zq)
        ax.plot(grid, hi, style, color="black", lw=1, label=f"{name} limits (tau^2={tau2:.4g})")
        ax.plot(grid, lo, style, color="black", lw=1)
    ax.axhline(1.0, color="black", lw=0.6, alpha=0.6)

    bands = data["band"].astype("Int64")
    for b, style in _BAND_STYLE.items():
        sel = (bands == b).fillna(False).to_numpy(dtype=bool)
        if sel.any():
            ax.scatter(e[sel], data["ratio"].to_numpy(dtype=float)[sel], s=22, alpha=0.85,
                       edgecolor="white", linewidth=0.4, zorder=3, **style)

    if highlight is not None:
        codes = [highlight] if isinstance(highlight, str) else list(highlight)
        if label_col is None:
            raise ValueError("highlight needs a label column in the result (shmi_banding(label=...))")
        for code in codes:
            rows = data[data[label_col] == code]
            if rows.empty:
                raise KeyError(f"{code!r} is not among the fitted trusts")
            x, y = float(rows["expected"].iloc[0]), float(rows["ratio"].iloc[0])
            ax.scatter([x], [y], s=110, facecolor="none", edgecolor="black", linewidth=1.5, zorder=4)
            ax.annotate(str(code), (x, y), xytext=(6, 6), textcoords="offset points", fontsize=9,
                        fontweight="bold", zorder=5)

    ax.set_xlabel("Expected deaths")
    ax.set_ylabel("SHMI")
    ax.set_title("SHMI funnel plot (log-scale z, 10% trimmed additive random effects)")
    ax.legend(fontsize=8, loc="upper right")
    return fig
