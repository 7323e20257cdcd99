"""Need covariates and catchment populations of the panel's trusts, from area data weighted by catchment.

Area-level measures (IMD 2019 scores, the share aged 75 and over, the ONS Health Index) are averaged over the
local authority districts a trust's patients come from, weighted by the OHID trust-to-district catchment
shares; trusts merged after the ODS successor file ends have their catchments combined.  Catchment populations
are the PHE 2018 values with merged trusts summing their predecessors, unless an official publication in the
download cache supplies them (:mod:`analysis.precedence`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.quality import QualityReport
from analysis.sources import source_file as _src
from analysis.sources.base import LINE

#: Mergers after the ODS successor file in geographr ends (April 2022), curated from NHS England
#: announcements.  (old code, new code, date, note).
POST_2022_MERGERS: tuple[tuple[str, str, str, str], ...] = (
    ("RBA", "RH5", "2022-04-01", "Taunton and Somerset FT merged with Somerset Partnership FT to form Somerset FT"),
    ("RA4", "RH5", "2023-04-01", "Yeovil District Hospital FT merged into Somerset FT"),
)
#: Splits: an old trust whose services went to several successors.  Shares are the documented
#: approximation used to apportion the old trust's catchment population (hospital sites).
SPLIT_SHARES: dict[tuple[str, str], float] = {
    ("RW6", "RM3"): 0.75,  # Pennine Acute: Oldham, Rochdale, Fairfield -> Northern Care Alliance (Salford Royal code)
    ("RW6", "R0A"): 0.25,  # Pennine Acute: North Manchester General -> Manchester University FT
}



def catchment_need(codes: list[str], raw: dict, report: QualityReport) -> pd.DataFrame:
    w = raw["catchment_weights"].rename(columns={"nhs_trust22_code": "code", "ltla21_code": "ltla",
                                                 "proportion_trust_came_from_ltla": "w"})
    bad = w["w"].isna() | (w["w"] < 0)
    reported = {v["line"] for v in raw["catchment_weights"].attrs.get("invalid", [])}
    for r in w[bad].to_dict("records"):
        if r[LINE] in reported:  # out of range: already listed, with its range
            continue
        report.add(r["code"], "imd_score", "set missing", "catchment weight missing or negative; weight dropped",
                   source=_src("catchment_weights"), line=r[LINE], raw_column="proportion_trust_came_from_ltla",
                   old=r["w"])
    w = w[~bad]
    w = _merge_post_2022_weights(w, raw, report)

    imd = raw["imd"].rename(columns={"ltla22_code": "ltla"})
    pop = raw["population"].rename(columns={"ltla21_code": "ltla"})
    pop["share_75"] = pop["pop_75_plus"] / pop["total_population"]
    hi = raw["health_index"]
    hi = hi[hi["year"] == hi["year"].max()].rename(columns={"ltla21_code": "ltla"})
    report.notes.append(f"ONS Health Index year used: {int(hi['year'].max())}.")
    area = (imd[["ltla", "Score", "Income_Score", "Health_Score"]]
            .merge(pop[["ltla", "share_75"]], on="ltla", how="outer")
            .merge(hi[["ltla", "overall_score"]], on="ltla", how="outer"))
    x = w.merge(area, on="ltla", how="left")
    known = set(w["code"])
    out = []
    for code in codes:
        if code not in known:
            report.add(code, "imd_score", "set missing", "no OHID catchment weights for this code",
                       source=_src("catchment_weights"))
            out.append({"org_code": code})
            continue
        g = x[x["code"] == code]
        rec = {"org_code": code}
        for col, src in (("imd_score", "Score"), ("imd_income_score", "Income_Score"), ("imd_health_score", "Health_Score"),
                         ("share_aged_75_plus", "share_75"), ("health_index_score", "overall_score")):
            ok = g[src].notna()
            cov = g.loc[ok, "w"].sum() / g["w"].sum()
            rec[col] = float(np.average(g.loc[ok, src], weights=g.loc[ok, "w"])) if ok.any() else np.nan
            if col == "imd_score":
                rec["catchment_weight_coverage"] = float(cov)
            if cov < 0.9:
                report.add(code, col, "flagged", f"only {cov:.0%} of the catchment weight joins to English areas "
                           "with this measure (e.g. Welsh LTLAs); weighted mean over the rest",
                           source=_src("catchment_weights"), new=round(cov, 3))
        out.append(rec)
    return pd.DataFrame(out)


def _merge_post_2022_weights(w: pd.DataFrame, raw: dict, report: QualityReport) -> pd.DataFrame:
    """Fold catchments of trusts merged after April 2022 into their successor, weighted by admissions."""
    adm = raw["catchment_population"].set_index("procode")["patients_admitted_cat"]
    for old, new, date, note in POST_2022_MERGERS:
        if old not in set(w["code"]) or new not in set(w["code"]):
            continue
        # admissions of the successor's acute predecessors (the successor code itself may have been non-acute)
        preds_new = [o for o, n, d, _ in POST_2022_MERGERS if n == new and d < date and o in adm.index]
        a_new = float(adm.get(new, np.nan)) if new in adm.index and pd.notna(adm.get(new)) else float(adm[preds_new].sum())
        a_old = float(adm.get(old, np.nan))
        if not (a_new > 0 and a_old > 0):
            continue
        keep = w[w["code"] == new].set_index("ltla")["w"] * a_new
        add = w[w["code"] == old].set_index("ltla")["w"] * a_old
        comb = keep.add(add, fill_value=0)
        comb = (comb / comb.sum()).rename("w").reset_index()
        comb["code"] = new
        w = pd.concat([w[w["code"] != new], comb], ignore_index=True)
        report.add(new, "imd_score", "repaired", f"catchment weights combined with {old} ({note}, {date}), "
                   f"weighted by admissions {a_new:,.0f} : {a_old:,.0f}", source=_src("catchment_weights"))
    return w


def catchment_population(panel: pd.DataFrame, raw: dict, report: QualityReport,
                         official: pd.Series | None = None) -> dict:
    """Catchment population of every panel trust: ``official`` (OHID, by trust code) where it has the trust, else
    the PHE 2018 value of the trust and its predecessors (a split predecessor by its documented share)."""
    thf = raw["catchment_population"].set_index("procode")
    succ = raw["successions"]
    pairs = [(o, n) for o, n in zip(succ["old_code"], succ["new_code"])]
    pairs += [(o, n) for o, n, _, _ in POST_2022_MERGERS]
    preds: dict[str, set[str]] = {}
    for o, n in pairs:
        preds.setdefault(n, set()).add(o)
    n_succ: dict[str, int] = {}
    for o, _ in pairs:
        n_succ[o] = n_succ.get(o, 0) + 1

    def ancestors(code, seen=None):
        seen = seen or set()
        for p in preds.get(code, ()):  # recursive predecessors
            if p not in seen:
                seen.add(p)
                ancestors(p, seen)
        return seen

    out = {}
    f = _src("catchment_population")
    for code, size in zip(panel["org_code"], panel["size_class"]):
        if official is not None and code in official.index:
            out[code] = official[code]
            continue
        own = thf["catchment_cat"].get(code, np.nan)
        total, parts = (float(own), [code]) if pd.notna(own) else (0.0, [])
        for p in sorted(ancestors(code)):
            v = thf["catchment_cat"].get(p, np.nan)
            if pd.isna(v):
                continue
            share = SPLIT_SHARES.get((p, code), 1.0 if n_succ.get(p, 1) == 1 else np.nan)
            if pd.isna(share):
                report.add(code, "catchment_population", "flagged", f"predecessor {p} split between several successors "
                           "with no documented share; its catchment not added", source=f)
                continue
            total += share * float(v)
            parts.append(p if share == 1 else f"{share:.2f}x{p}")
        if not parts:
            why = ("specialist trusts have no geographic catchment in the PHE file" if size == "specialist"
                   else "no catchment population for this code or its predecessors")
            report.add(code, "catchment_population", "set missing", why, source=f)
            out[code] = np.nan
            continue
        if parts != [code]:
            report.add(code, "catchment_population", "derived", "sum of predecessor catchments: " + " + ".join(parts),
                       source=f, new=round(total))
        out[code] = total
    return out
