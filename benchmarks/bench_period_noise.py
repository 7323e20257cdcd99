"""Estimate each binomial indicator's period-noise SD from the shared data (issue 19, item 6) and check them against
``models/period_noise.toml``.

    python benchmarks/bench_period_noise.py --data-dir /work/shared/data            # print the figures
    python benchmarks/bench_period_noise.py --data-dir /work/shared/data --check    # exit 1 if the toml differs

Trusts: the acute trusts of the real panel built from the same directory (``analysis.panel.build``).  RTT and A&E
have monthly series (analysis/period_noise.py, ``load_monthly``); every estimator there is reported, the model uses
the within-year level estimate (the median trust's SD of a month around its own financial-year level, national month
movement and binomial variance removed).  FFT has no monthly series: the trust profiles give its share positive and
responses in the latest three months and the three before, whose difference gives a "windows" estimate
(``period_noise_sd_windows``); the same windows estimator is run on A&E's monthly series (every pair of adjacent
3-month blocks, median) and FFT's windows estimate is scaled by A&E's ratio of level to windows estimate, so that
all three stand on the level estimator's footing.  The A&E trust-profile snapshot (type 1) is reported as a check
that the snapshot gives what the monthly series give.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analysis.period_noise import CANCER_BREAKS, RTT_BREAKS, load_monthly, period_noise_sd, period_noise_sd_windows  # noqa: E402


def block_windows(m: pd.DataFrame, months: int = 3) -> float:
    """Median windows estimate over adjacent pairs of ``months``-month blocks of a monthly table."""
    ms = sorted(m.month.unique())
    out = []
    for end in range(2 * months, len(ms) + 1, months):
        a = m[m.month.isin(ms[end - months:end])].groupby("trust")[["y", "n"]].sum()
        b = m[m.month.isin(ms[end - 2 * months:end - months])].groupby("trust")[["y", "n"]].sum()
        j = a.merge(b, left_index=True, right_index=True, suffixes=("", "_b"))
        out.append(period_noise_sd_windows(j.y, j.n, j.y_b, j.n_b, months)["sd"])
    return float(np.median(out))


def snapshot(tp: pd.DataFrame, share_or_y, n_a: str, n_b: str, share: bool) -> dict:
    na, nb = tp[n_a] * 3, tp[n_b] * 3  # the profiles give 3-month averages of monthly counts
    if share:
        ya, yb = tp[share_or_y[0]] * na, tp[share_or_y[1]] * nb
    else:
        ya, yb = na - tp[share_or_y[0]] * 3, nb - tp[share_or_y[1]] * 3
    return period_noise_sd_windows(ya, na, yb, nb, 3)


def estimate(data_dir: Path) -> dict:
    from analysis.panel import build

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        codes = set(build(str(data_dir)).panel.org_code)
    out = {}
    for ind, breaks in (("rtt", RTT_BREAKS), ("ae", ()), ("cancer_fds", ()), ("cancer_62d", CANCER_BREAKS)):
        m = load_monthly(data_dir, ind, codes)
        lev, dif = period_noise_sd(m, "level", breaks), period_noise_sd(m, "differences", breaks)
        out[ind] = {"months": f"{m.month.min()} .. {m.month.max()}", "trusts": lev["n_trusts"],
                    "level": lev["sd"], "level_rms": lev["sd_mean"], "level_no_national": period_noise_sd(
                        m, "level", breaks, common=False)["sd"], "differences": dif["sd"],
                    "lag1_autocorrelation": 1 - dif["sd"] ** 2 / lev["sd"] ** 2,
                    "windows_3m": block_windows(m), "sampling_sd": lev["sampling_sd"]}
    tp = pd.read_csv(Path(data_dir) / "raw" / "trustpulse" / "trust_profiles.csv")
    tp = tp[tp.org_code.isin(codes)]
    fft = snapshot(tp, ("fft_pct_positive_3m_avg", "fft_pct_positive_prior_3m_avg"), "fft_total_responses_3m_avg",
                   "fft_total_responses_prior_3m_avg", share=True)
    ae1 = snapshot(tp, ("ae_attendances_over_4hrs_type_1_3m_avg", "ae_attendances_over_4hrs_type_1_prior_3m_avg"),
                   "ae_a&e_attendances_type_1_3m_avg", "ae_a&e_attendances_type_1_prior_3m_avg", share=False)
    ratio = out["ae"]["level"] / out["ae"]["windows_3m"]
    out["ae"]["snapshot_type1_windows"] = ae1["sd"]
    out["fft"] = {"trusts": fft["n_trusts"], "windows_snapshot": fft["sd"], "ae_level_to_windows": ratio,
                  "level": fft["sd"] * ratio, "sampling_sd_3m": fft["sampling_sd"]}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, required=True, help="directory holding raw/")
    ap.add_argument("--check", action="store_true", help="exit 1 if models/period_noise.toml differs (3 d.p.)")
    a = ap.parse_args(argv)
    est = estimate(a.data_dir)
    print(json.dumps(est, indent=1, default=float))
    stored = tomllib.loads((REPO / "models" / "period_noise.toml").read_text())["sd"]
    bad = [k for k in est if round(est[k]["level"], 3) != round(float(stored.get(k, np.nan)), 3)]
    print("models/period_noise.toml [sd]: " + ", ".join(f"{k} = {est[k]['level']:.3f}" for k in est)
          + ("  (stored values agree)" if not bad else f"  (stored values DIFFER for {bad})"))
    return 1 if a.check and bad else 0


if __name__ == "__main__":
    sys.exit(main())
