"""Period noise: how far a trust's one-month figure strays from its own long-run rate (issue 19, item 6).

A binomial indicator's monthly logit x[i,t] = level[i] + c[t] + e[i,t] + s[i,t], with c[t] the month's national
movement (common to every trust, so a cross-section's peer means absorb it), e[i,t] the trust's period shock of SD
tau and s[i,t] binomial sampling error of variance v[i,t] = 1 / (n p (1 - p)).  :func:`period_noise_sd` estimates tau
from a long table of monthly counts; :func:`load_monthly` reads the shared data's monthly RTT and A&E series.

Estimator (``method="level"``, the one the model uses): residuals about each trust's own mean within a window of
consecutive months (a financial year, split at series breaks), after removing the month's national median logit.
Over w months, E sum (x - xbar)^2 = (w - 1) / w * sum (tau^2 + v_t), so each trust's tau^2 is
sum r^2 w / (w - 1) - sum v over its windows, divided by its months; the indicator's tau is the median over trusts
of that (a typical trust: robust to the few series broken by mergers, code changes or data errors).  It targets the
spread of a month around a year's level, which is what one month stands in for.

``method="differences"`` uses month-to-month changes, tau^2 = (mean d^2 - mean(v_t + v_t-1)) / 2.  It equals the
level estimate only for independent months; with positively autocorrelated shocks it estimates tau^2 (1 - rho_1)
and so understates the spread about the level.  RTT's monthly figures are snapshots of the same waiting list (most
patients waiting this month were waiting last month), so their shocks are strongly autocorrelated and the
difference estimator is not used for the model; the two are both reported, and their ratio gives the lag-one
autocorrelation, rho_1 ~ 1 - tau_diff^2 / tau_level^2 (figures: benchmarks/RESULTS.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def _fy(month: pd.Series) -> pd.Series:
    """Financial year (April to March) of a ``YYYY-MM`` month, as its starting calendar year."""
    y, m = month.str.slice(0, 4).astype(int), month.str.slice(5, 7).astype(int)
    return y - (m < 4).astype(int)


def period_noise_sd(frame: pd.DataFrame, method: str = "level", breaks: tuple[str, ...] = (),
                    min_months: int = 6, common: bool = True) -> dict:
    """Estimate an indicator's period-noise SD tau on the logit scale from monthly counts.

    ``frame``: one row per trust and month, columns ``trust``, ``month`` ("YYYY-MM"), ``y`` (successes) and ``n``
    (trials).  Rows with n <= 0 or y outside [0, n] are dropped.  ``breaks``: months where a series break starts
    (a window, or a month-to-month change, never spans one).  ``min_months``: shortest window kept (level method).
    ``common``: remove each month's national median logit first (the cross-section's peer means absorb it).

    Returns {"sd": median over trusts of each trust's tau (0 where sampling variance explains it all),
    "sd_mean": the root of the mean over trusts of tau^2 (sensitive to outlying series), "n_trusts", "n_months":
    months used, "sampling_sd": median binomial sampling SD of a month, "method"}."""
    if method not in ("level", "differences"):
        raise ValueError(f"method must be 'level' or 'differences', not {method!r}")
    missing = {"trust", "month", "y", "n"} - set(frame.columns)
    if missing:
        raise ValueError(f"period_noise_sd: the frame has no column {sorted(missing)}")
    f = frame[["trust", "month", "y", "n"]].copy()
    f["y"], f["n"] = f.y.astype(float), f.n.astype(float)
    f = f[(f.n > 0) & (f.y >= 0) & (f.y <= f.n)].dropna()
    if f.duplicated(["trust", "month"]).any():
        raise ValueError("period_noise_sd: more than one row for a trust and month; aggregate first")
    p = (f.y + 0.5) / (f.n + 1.0)
    f["x"] = np.log(p / (1 - p))
    f["v"] = 1.0 / ((f.n + 1.0) * p * (1 - p))
    if common:
        f["x"] = f.x - f.groupby("month").x.transform("median")
    f["segment"] = sum((f.month >= b).astype(int) for b in breaks) if breaks else 0
    f = f.sort_values(["trust", "month"])
    if method == "level":
        f["window"] = _fy(f.month).astype(str) + "/" + f.segment.astype(str)
        g = f.groupby(["trust", "window"])
        f["w"] = g.x.transform("size")
        f = f[f.w >= min_months]
        f["r2"] = (f.x - f.groupby(["trust", "window"]).x.transform("mean")) ** 2 * f.w / (f.w - 1)
        t = f.groupby("trust").agg(r2=("r2", "sum"), v=("v", "sum"), m=("x", "size"))
        tau2 = (t.r2 - t.v) / t.m
        used = int(t.m.sum())
    else:
        mi = f.month.str.slice(0, 4).astype(int) * 12 + f.month.str.slice(5, 7).astype(int)
        f["mi"] = mi
        prev = f.groupby("trust")[["x", "v", "mi", "segment"]].shift(1)
        ok = (f.mi - prev.mi == 1) & (f.segment == prev.segment)
        d = pd.DataFrame({"trust": f.trust[ok], "d2": (f.x - prev.x)[ok] ** 2, "vv": (f.v + prev.v)[ok]})
        t = d.groupby("trust").agg(d2=("d2", "mean"), vv=("vv", "mean"), m=("d2", "size"))
        t = t[t.m >= min_months - 1]
        tau2 = (t.d2 - t.vv) / 2
        used = int(t.m.sum())
    if len(tau2) == 0:
        raise ValueError("period_noise_sd: no trust has enough consecutive months to estimate the period noise")
    per_trust = np.sqrt(np.clip(tau2.to_numpy(), 0, None))
    return {"sd": float(np.median(per_trust)), "sd_mean": float(np.sqrt(max(0.0, float(np.mean(tau2))))),
            "n_trusts": int(len(tau2)), "n_months": used, "sampling_sd": float(np.sqrt(np.median(f.v))),
            "method": method}


# ----------------------------------------------------------------------------------------- the shared data

#: RTT publication change (PROVENANCE.md section 10): windows and changes do not span it
RTT_BREAKS = ("2024-02",)


def _rtt(raw: Path) -> pd.DataFrame:
    path = raw / "waiting_times" / "rtt_incomplete_by_org_month.csv"
    _need(path)
    r = pd.read_csv(path, dtype={"month": str})
    r = r[r.level == "provider"]
    return pd.DataFrame({"trust": r.org_code, "month": r.month, "y": r.within_18_weeks, "n": r.total_for_pct18})


def _ae(raw: Path) -> pd.DataFrame:
    path = raw / "healthyr" / "england_trust_accidents_emergency.csv"
    _need(path)
    a = pd.read_csv(path)
    month = pd.to_datetime(a.date, format="%B %Y").dt.strftime("%Y-%m")
    return pd.DataFrame({"trust": a.nhs_trust22_code, "month": month,
                         "y": a.total_attendances - a.attendances_over_4hours, "n": a.total_attendances})


#: cancer 31- and 62-day standards redefined from 2023-10 (PROVENANCE.md section 10)
CANCER_BREAKS = ("2023-10",)


def _cancer(standard: str):
    def read(raw: Path) -> pd.DataFrame:
        path = raw / "waiting_times" / "cancer_wait_by_org_month.csv"
        _need(path)
        c = pd.read_csv(path, dtype={"month": str})
        c = c[(c.level == "provider") & (c.standard == standard)]
        # halves (a patient shared between providers) rounded after the month's sum, as the cross-section does
        return pd.DataFrame({"trust": c.org_code, "month": c.month, "y": np.round(c.within_standard),
                             "n": np.round(c.total)})
    return read


#: the indicators with a monthly series in the shared data, and its reader
MONTHLY = {"rtt": _rtt, "ae": _ae, "cancer_fds": _cancer("FDS28"), "cancer_62d": _cancer("CMB62")}


def load_monthly(data_dir: str | Path, indicator: str, trusts=None) -> pd.DataFrame:
    """The monthly (trust, month, y, n) table of ``indicator`` from the shared data directory (``raw/`` below it):
    "rtt" from raw/waiting_times/rtt_incomplete_by_org_month.csv (incomplete pathways within 18 weeks of the waiting
    list, providers), "ae" from raw/healthyr/england_trust_accidents_emergency.csv (attendances of all types not over
    4 hours of all attendances).  ``trusts``: keep only these organisation codes (the panel's)."""
    if indicator not in MONTHLY:
        raise ValueError(f"no monthly series of {indicator!r} in the shared data (only {sorted(MONTHLY)})")
    out = MONTHLY[indicator](Path(data_dir) / "raw")
    if trusts is not None:
        out = out[out.trust.isin(set(trusts))]
    return out.dropna().reset_index(drop=True)


def _need(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found; point --data-dir at the directory holding raw/ "
                                "(PROVENANCE.md sections 3 and 10 list the files)")


def period_noise_sd_windows(y_a, n_a, y_b, n_b, months: int) -> dict:
    """Period-noise SD from one cross-section of two disjoint windows of ``months`` months each (a trust's share in
    the latest window, a = y_a / n_a, and in the one before, b; counts pooled over each window).

    With independent monthly shocks of SD tau, logit(a) - logit(b) has variance 2 tau^2 / months plus the two
    windows' sampling variances; the national change between the windows is removed with the median difference,
    and the spread is measured robustly (1.4826 x median absolute deviation: one snapshot, a few trusts with broken
    series).  tau^2 = months / 2 x (spread^2 - median sampling variance).  For an indicator with no monthly series
    (FFT: the trust profiles give only the latest and the prior three-month averages)."""
    arrs = [np.asarray(v, float) for v in (y_a, n_a, y_b, n_b)]
    ok = np.all([np.isfinite(v) for v in arrs], axis=0) & (arrs[1] > 0) & (arrs[3] > 0)
    ya, na, yb, nb = (v[ok] for v in arrs)
    if len(ya) < 10:
        raise ValueError(f"period_noise_sd_windows: {len(ya)} trusts with both windows; need at least 10")

    def lv(y, n):
        p = np.clip((y + 0.5) / (n + 1.0), 1e-9, 1 - 1e-9)
        return np.log(p / (1 - p)), 1.0 / ((n + 1.0) * p * (1 - p))

    (xa, va), (xb, vb) = lv(ya, na), lv(yb, nb)
    dlt = xa - xb
    spread2 = (1.4826 * np.median(np.abs(dlt - np.median(dlt)))) ** 2
    tau2 = months / 2.0 * (spread2 - float(np.median(va + vb)))
    return {"sd": float(np.sqrt(max(tau2, 0.0))), "n_trusts": int(len(ya)), "months": int(months),
            "sampling_sd": float(np.sqrt(np.median(va))), "method": "windows"}
