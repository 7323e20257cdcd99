"""Summary figures of the real panel that the synthetic default is calibrated to.

``compute_calibration(panel)`` derives them from a real panel; the committed
``analysis/synthetic_calibration.json`` holds its output (aggregate statistics
only: no trust's data).  ``tests/analysis/test_synthetic.py`` recomputes them from
``../shared/data`` when it is present and fails if the committed file is stale.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.schema import SIZE_CLASSES

CALIBRATION_FILE = Path(__file__).with_name("synthetic_calibration.json")
NEED_COLUMNS = ("imd_score", "imd_income_score", "imd_health_score", "share_aged_75_plus", "health_index_score")


def _logit(p):
    return np.log(p / (1 - p))


def compute_calibration(panel: pd.DataFrame) -> dict:
    p = panel
    out: dict = {"n_trusts": int(len(p))}
    out["size_class_counts"] = {s: int((p.size_class == s).sum()) for s in SIZE_CLASSES}
    out["region_counts"] = {k: int(v) for k, v in p.region.value_counts().sort_index().items()}
    lc = np.log(p["ncc_expected_cost_total_gbp_m"])
    out["log_expected_cost_by_size"] = {s: [float(lc[p.size_class == s].mean()), float(lc[p.size_class == s].std())]
                                        for s in SIZE_CLASSES}
    sh = p.dropna(subset=["shmi_expected_deaths"])
    out["shmi_expected_per_gbp_m"] = float((sh.shmi_expected_deaths / sh.ncc_expected_cost_total_gbp_m).median())
    out["shmi_spells_per_expected_death"] = float((sh.shmi_spells / sh.shmi_expected_deaths).median())
    out["log_shmi_sd"] = float(np.log(sh.shmi_observed_deaths / sh.shmi_expected_deaths).std())
    out["share_with_shmi_non_specialist"] = float(p.loc[p.size_class != "specialist", "shmi_expected_deaths"].notna().mean())

    def rate(p, num, den):
        d = p.dropna(subset=[num, den])
        d = d[(d[num] > 0) & (d[num] < d[den])]
        lg = _logit(d[num] / d[den])
        return {"logit_mean": float(lg.mean()), "logit_sd": float(lg.std()),
                "log_den_per_gbp_m": float(np.log(d[den] / d.ncc_expected_cost_total_gbp_m).median()),
                "share_missing": float(p[den].isna().mean())}

    out["rtt"] = rate(p, "rtt_waiting_under_18w", "rtt_total_waiting")
    out["ae"] = rate(p.assign(ae_within_4h=p.ae_attendances - p.ae_over_4h), "ae_within_4h", "ae_attendances")
    out["fft"] = rate(p, "fft_positive", "fft_responses")
    from analysis.trend.years import CROSS_SECTION_CANCER

    for k in CROSS_SECTION_CANCER:
        if f"{k}_total" in p:  # panels built before the cancer counts (issue 15) have none
            out[k] = rate(p, f"{k}_within", f"{k}_total")
    out["cost_index"] = {}
    for s in ("total", "apc", "op", "ae"):
        ci = np.log(p[f"ncc_actual_cost_{s}_gbp_m"] / p[f"ncc_expected_cost_{s}_gbp_m"]).dropna()
        share = (p[f"ncc_expected_cost_{s}_gbp_m"] / p["ncc_expected_cost_total_gbp_m"]).median()
        out["cost_index"][s] = {"mean": float(ci.mean()), "sd": float(ci.std()), "median_share_of_total_expected": float(share),
                                "share_missing": float(p[f"ncc_expected_cost_{s}_gbp_m"].isna().mean())}
    need = p[list(NEED_COLUMNS)]
    out["need_mean"] = [float(v) for v in need.mean()]
    out["need_cov"] = [[float(v) for v in row] for row in need.cov().to_numpy()]
    out["catchment_per_gbp_m"] = float((p.catchment_population / p.ncc_expected_cost_total_gbp_m).median())
    out["fte_per_gbp_m"] = float((p.workforce_fte / p.ncc_expected_cost_total_gbp_m).median())
    out["nursing_fte_per_gbp_m"] = float((p.workforce_nursing_fte / p.ncc_expected_cost_total_gbp_m).median())
    out["medical_fte_per_gbp_m"] = float((p.workforce_medical_fte / p.ncc_expected_cost_total_gbp_m).median())
    out["beds_per_gbp_m"] = float((p.beds_ga_available / p.ncc_expected_cost_total_gbp_m).median())
    return _round(out)


def _round(obj, nd=6):
    if isinstance(obj, float):
        return float(f"{obj:.{nd}g}")
    if isinstance(obj, dict):
        return {k: _round(v, nd) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_round(v, nd) for v in obj]
    return obj


def load_calibration() -> dict:
    return json.loads(CALIBRATION_FILE.read_text())
