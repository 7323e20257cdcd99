"""Equity of access: the gap in the share waiting within 18 weeks between a trust's most and least deprived patients.

From NHS England's RTT waiting list by provider and IMD decile (registry entry ``wlmds_imd_decile``, parser
:func:`analysis.sources.official.parse_wlmds_imd_decile`).  For each trust and snapshot the most deprived quintile is
IMD deciles 1-2 and the least deprived quintile deciles 9-10; the gap is

    share within 18 weeks (deciles 1-2)  -  share within 18 weeks (deciles 9-10),  in percentage points,

so a negative gap means the trust's most deprived patients wait longer.  :func:`equity_gap` is a pure function of the
parsed frame; :func:`locate` and :func:`build_table` find the file and make the table ``svi data build`` writes
beside the panel (``equity_access.csv``) when the file is present.  When it is absent nothing is written and the
panel build is unchanged.
"""

from __future__ import annotations

import hashlib
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import SVIWarning

ENTRY = "wlmds_imd_decile"
MOST_DEPRIVED = (1, 2)
LEAST_DEPRIVED = (9, 10)
#: A quintile with fewer patients (with both counts published) than this gives no gap: with so few patients the
#: share is dominated by a handful of pathways, and one list's patients are not independent (see equity_gap).
MIN_QUINTILE_PATIENTS = 30
DRAWS = 4000
SEED = 20260415
GAP_COLUMNS = ("org_code", "period", "share_most_deprived", "share_least_deprived", "gap_pp_median", "gap_pp_lo95",
               "gap_pp_hi95", "p_gap_below_zero", "n_most", "n_least", "note")
#: Where the file is looked for in the data directory (beside the other waiting-time files, PROVENANCE section 10).
DATA_DIR_SUBDIR = Path("raw") / "waiting_times"


def _quintile(rows: pd.DataFrame, deciles: tuple[int, ...]) -> tuple[float, float, list[int]]:
    """(patients, within 18 weeks, deciles left out because a count is suppressed) of one quintile."""
    q = rows[rows["imd_decile"].isin(deciles)]
    known = q["total_waiting"].notna() & q["within_18w"].notna()
    suppressed = sorted(int(d) for d in q.loc[~known, "imd_decile"])
    return float(q.loc[known, "total_waiting"].sum()), float(q.loc[known, "within_18w"].sum()), suppressed


def _rng(seed: int, org: str, period: str) -> np.random.Generator:
    """One stream per trust and period, so a trust's interval does not depend on which other trusts are in the file."""
    return np.random.default_rng([seed, zlib.crc32(f"{org}|{period}".encode())])


def equity_gap(frame: pd.DataFrame, *, min_patients: int = MIN_QUINTILE_PATIENTS, draws: int = DRAWS,
               seed: int = SEED) -> pd.DataFrame:
    """Each trust's equity-of-access gap with a 95% interval, one row per ``org_code`` x ``period``.

    ``frame`` has the columns of :data:`analysis.sources.official.WLMDS_IMD_COLUMNS` (org_code, period,
    imd_decile 1-10 or <NA>, total_waiting, within_18w).  For each quintile (deciles 1-2, 9-10) the counts of the
    deciles with both counts published are added; deciles with a suppressed count are left out and named in
    ``note``; unknown deciles belong to neither quintile.

    Each quintile's share waiting within 18 weeks gets an independent Beta(0.5 + within, 0.5 + total - within)
    posterior (Jeffreys prior); ``draws`` draws of each (seeded per trust and period from ``seed``) give the gap
    ``100 * (share_most - share_least)`` in percentage points: its median, 2.5% and 97.5% quantiles, and
    ``p_gap_below_zero``, the posterior probability that the most deprived patients wait longer (a smaller share
    within 18 weeks).  ``share_most_deprived`` / ``share_least_deprived`` are the observed shares.

    The binomial model treats every patient on the list as an independent event.  They are not: patients of one
    list share consultants, specialties, sites and booking practice, so their waits are correlated, and the
    effective sample is smaller than the count.  The interval is therefore a lower bound on the uncertainty (too
    narrow, not too wide); it reflects sampling noise only, not case-mix differences between quintiles (specialty,
    age, urgency), which the published table does not allow to adjust for.

    A quintile with fewer than ``min_patients`` patients gives NaN for the gap and its interval, with the reason in
    ``note``.
    """
    out = []
    for (org, period), rows in frame.groupby(["org_code", "period"], sort=True):
        n_m, w_m, sup_m = _quintile(rows, MOST_DEPRIVED)
        n_l, w_l, sup_l = _quintile(rows, LEAST_DEPRIVED)
        notes = []
        if sup_m or sup_l:
            notes.append("suppressed count(s) left out: decile(s) " + ", ".join(str(d) for d in sup_m + sup_l))
        unknown = rows.loc[rows["imd_decile"].isna(), "total_waiting"].sum(min_count=1)
        total = rows["total_waiting"].sum(min_count=1)
        if pd.notna(unknown) and pd.notna(total) and total > 0 and unknown / total > 0.05:
            notes.append(f"{unknown / total:.0%} of the list has no known IMD decile")
        row = {"org_code": org, "period": period, "n_most": n_m, "n_least": n_l,
               "share_most_deprived": w_m / n_m if n_m > 0 else np.nan,
               "share_least_deprived": w_l / n_l if n_l > 0 else np.nan,
               "gap_pp_median": np.nan, "gap_pp_lo95": np.nan, "gap_pp_hi95": np.nan, "p_gap_below_zero": np.nan}
        small = [f"{label} quintile (deciles {a}-{b}) has {n:.0f} patients, fewer than {min_patients}"
                 for label, (a, b), n in (("most deprived", MOST_DEPRIVED, n_m), ("least deprived", LEAST_DEPRIVED, n_l))
                 if n < min_patients]
        if small:
            notes.insert(0, "no gap: " + "; ".join(small))
        else:
            rng = _rng(seed, str(org), str(period))
            p_m = rng.beta(0.5 + w_m, 0.5 + n_m - w_m, size=draws)
            p_l = rng.beta(0.5 + w_l, 0.5 + n_l - w_l, size=draws)
            gap = 100.0 * (p_m - p_l)
            lo, med, hi = np.quantile(gap, [0.025, 0.5, 0.975])
            row.update(gap_pp_median=float(med), gap_pp_lo95=float(lo), gap_pp_hi95=float(hi),
                       p_gap_below_zero=float(np.mean(gap < 0)))
        row["note"] = "; ".join(notes)
        out.append(row)
    if not out:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("org_code", "period", "note") else float)
                             for c in GAP_COLUMNS})
    return pd.DataFrame(out).loc[:, list(GAP_COLUMNS)]


# --------------------------------------------------------------------------------- the file, for the panel build

@dataclass
class Located:
    path: Path
    file: str  # as the outputs name it: cache/<name> or raw/waiting_times/<name>, never an absolute path
    sha256: str


def locate(data_dir: str | Path, cache_dir: str | Path | None = None) -> Located | None:
    """The WLMDS IMD-decile file: a verified copy in the download cache, else ``<data_dir>/raw/waiting_times/``;
    ``None`` when neither holds it (or the registry has no entry for it).  A cached copy that is not verified is
    not used, with a warning, as for every official publication."""
    from analysis.fetch import Manifest, cached_copy_verified
    from analysis.registry import RegistryError, load_registry, resolve_cache_dir

    try:
        entry = load_registry().get(ENTRY)
    except RegistryError:
        return None
    cache = resolve_cache_dir(cache_dir)
    cached = cache / entry.filename
    if cached.is_file():
        digest = cached_copy_verified(entry, cached, Manifest.load(cache))
        if digest is not None:
            return Located(cached, f"cache/{entry.filename}", digest)
        warnings.warn(f"{cached} is in the download cache but not verified (it does not match the registry's sha256, "
                      f"or was not downloaded by `svi data fetch`, or changed since): not used for the equity-of-access "
                      f"table; run `svi data fetch {ENTRY} --force` to download and verify it", SVIWarning, stacklevel=2)
    local = Path(data_dir) / DATA_DIR_SUBDIR / entry.filename
    if local.is_file():
        return Located(local, f"{DATA_DIR_SUBDIR.as_posix()}/{entry.filename}",
                       hashlib.sha256(local.read_bytes()).hexdigest())
    return None


def build_table(located: Located, panel_codes: list[str]) -> tuple[pd.DataFrame, str, int]:
    """(the gap table for the panel's trusts, a sentence for the quality report, rows of the parsed file).

    Only panel trusts are kept (the file also lists independent-sector and non-acute providers); a panel trust
    the file does not list gets a row with NaN and a note, so the table has every trust of the panel."""
    from analysis.registry import load_registry

    frame = load_registry().get(ENTRY).parse(located.path)
    gaps = equity_gap(frame)
    codes = set(panel_codes)
    table = gaps[gaps["org_code"].isin(codes)]
    periods = sorted(frame["period"].unique())
    absent = sorted(codes - set(table["org_code"]))
    if absent:
        filler = pd.DataFrame({"org_code": absent, "period": periods[-1] if periods else "",
                               "note": "no rows for this trust in the publication"})
        table = pd.concat([table, filler.reindex(columns=list(GAP_COLUMNS))], ignore_index=True)
    table = table.sort_values(["org_code", "period"]).reset_index(drop=True)
    with_gap = table[table["gap_pp_median"].notna()]
    below = int((with_gap["gap_pp_hi95"] < 0).sum())
    above = int((with_gap["gap_pp_lo95"] > 0).sum())
    outside = sorted(set(frame["org_code"]) - codes)
    text = (f"Equity of access (equity_access.csv) from {located.file} (sha256 {located.sha256[:12]}, "
            f"period {', '.join(periods)}): {len(with_gap)} of {len(codes)} panel trusts have a gap in the share "
            f"waiting within 18 weeks, IMD deciles 1-2 minus 9-10 (Jeffreys Beta posteriors, 95% interval, a lower "
            f"bound on the uncertainty); {below} with the most deprived patients waiting longer and {above} shorter "
            f"(interval excluding 0); {int(table['gap_pp_median'].isna().sum())} without a gap (reason in 'note': "
            f"a quintile under {MIN_QUINTILE_PATIENTS} patients, or not in the file: {len(absent)}). "
            f"{len(outside)} providers of the file are not panel trusts and are left out. No panel column uses it.")
    return table, text, len(frame)
