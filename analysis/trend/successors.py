"""Map every month's organisation codes to today's trusts: mergers summed, splits broken.

Sources of the successions: the NHS Digital ODS successor files (``geographr/lookup_trust_trust.csv``, to April
2022), the curated post-2022 mergers of the cross-section (:data:`analysis.real_panel.POST_2022_MERGERS`) and
:data:`EXTRA_SUCCESSIONS` (curated here: mergers after the ODS file ends, and one it lacks).

The rule (:func:`successor_map`), for a code reported in some month:

* **today's trust** (a code of the cross-section): kept;
* **merger**: the code's successions lead, through any chain, to exactly one of today's trusts: its counts are
  **summed into that successor in every month, before and after the merger date**, so that the successor's
  series covers the same hospitals in every year (RDD and RQ8 into RAJ; RVY into RBN);
* **split**: the successions lead to two or more of today's trusts (RW6 into RM3 and R0A, 2021-10-01): the
  predecessor's counts are attributed to **no** successor, and each successor's own months **before the split
  date are set missing** ("footprint break").  Site-level counts would be needed to apportion the predecessor
  between its successors, and a successor's pre-split series describes other hospitals than its present one
  (Salford Royal alone, not the Northern Care Alliance), so neither apportioning by a fixed share nor keeping the
  old series would be a measurement of today's trust; missing years are honest and the model handles them;
* **not a trust of the panel**: no succession leads to one of today's trusts (mental health, community and
  independent providers, specialist trusts outside the cross-section): not used, and listed.

Every code's fate is returned as a table (``mapping``) that the year panel's quality report prints.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

#: Successions missing from the ODS file in geographr: (old code, new code, date, note).
EXTRA_SUCCESSIONS: tuple[tuple[str, str, str, str], ...] = (
    ("RA3", "RA7", "2020-04-01", "Weston Area Health NHS Trust merged into University Hospitals Bristol and Weston "
                                 "FT (absent from the ODS file as snapshotted)"),
    ("RVY", "RBN", "2023-07-01", "Southport and Ormskirk Hospital merged with St Helens and Knowsley Teaching "
                                 "Hospitals to form Mersey and West Lancashire Teaching Hospitals (RBN)"),
    ("RAP", "RAL", "2025-01-01", "North Middlesex University Hospital merged into Royal Free London FT (its RTT "
                                 "returns end in 2024-12)"),
)


@dataclass(frozen=True)
class Fate:
    code: str
    kind: str              # "current", "merger", "split", "not in panel"
    successors: tuple      # today's trust(s) the code leads to
    date: str | None       # the date of the first succession on the path (split: the split date)
    path: tuple            # the codes passed through


def successions(edges: pd.DataFrame | None, curated=()) -> dict[str, list[tuple[str, str]]]:
    """old code -> [(new code, date)], from an ODS-style frame (old_code, new_code, date) and curated tuples."""
    out: dict[str, list[tuple[str, str]]] = {}
    if edges is not None:
        for o, n, d in zip(edges["old_code"], edges["new_code"], edges["date"]):
            if isinstance(o, str) and isinstance(n, str) and o != n:
                out.setdefault(o, []).append((n, d if isinstance(d, str) else ""))
    for o, n, d, *_ in curated:
        if (n, d) not in out.get(o, []):
            out.setdefault(o, []).append((n, d))
    return out


def fate(code: str, succ: dict, current: set) -> Fate:
    """Where ``code`` ends among today's trusts (see the module docstring for the rule)."""
    if code in current:
        return Fate(code, "current", (code,), None, (code,))
    ends, seen, first_date = set(), {code}, None
    path = [code]
    stack = [(n, d) for n, d in succ.get(code, ())]
    dates = [d for _, d in stack if d]
    first_date = min(dates) if dates else None
    while stack:
        n, d = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        path.append(n)
        if n in current:
            ends.add(n)  # today's trust: the chain ends here, whatever later records say
            continue
        stack.extend(succ.get(n, ()))
    if not ends:
        return Fate(code, "not in panel", (), first_date, tuple(path))
    if len(ends) == 1:
        return Fate(code, "merger", tuple(ends), first_date, tuple(path))
    # split: the date at which the code's services divided (its own first succession)
    return Fate(code, "split", tuple(sorted(ends)), first_date, tuple(path))


def successor_map(codes, succ: dict, current: set) -> pd.DataFrame:
    """One row per code: kind, successor(s), date, path."""
    rows = []
    for c in sorted(set(codes)):
        f = fate(c, succ, current)
        rows.append({"code": c, "kind": f.kind, "successors": ";".join(f.successors), "date": f.date,
                     "path": ">".join(f.path)})
    return pd.DataFrame(rows, columns=["code", "kind", "successors", "date", "path"])


def apply(monthly: pd.DataFrame, mapping: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Map a tidy monthly frame (org_code, month, measure, numerator, denominator) to today's trusts.

    Returns (mapped frame with org_code = today's trust and ``source_codes`` listing the codes summed, the rows
    set missing by a split's footprint break).  Merged predecessors' rows are summed with the successor's own rows
    of the same month and measure; a month in which any summed part is missing is missing (a partial sum would
    understate the successor)."""
    monthly = monthly.reset_index(drop=True)
    m = mapping.set_index("code")
    kind = monthly["org_code"].map(m["kind"])
    target = monthly["org_code"].map(m["successors"])
    use = monthly[kind.isin(["current", "merger"])].copy()
    use["source_code"] = use["org_code"]
    use["org_code"] = target[use.index]
    # footprint breaks: a successor of a split loses its months before the split date
    breaks = mapping[mapping["kind"] == "split"]
    dropped = []
    for r in breaks.itertuples():
        month = (r.date or "")[:7]
        for s in r.successors.split(";"):
            hit = (use["org_code"] == s) & (use["month"] < month)
            if hit.any():
                d = use[hit].assign(reason=f"footprint break: {s} took over part of {r.code} on {r.date} (split "
                                           f"into {r.successors.replace(';', ', ')}); earlier months describe other "
                                           "hospitals")
                dropped.append(d)
                use = use[~hit]
    # a merged predecessor is expected in every month from its first report in this source until its merger
    # date: a successor's month without it would be a partial sum, understating the successor (missing instead)
    mergers = mapping[mapping["kind"] == "merger"].set_index("code")
    for (code, measure), part in use[use["source_code"] != use["org_code"]].groupby(["source_code", "measure"]):
        until = (mergers.at[code, "date"] or "9999-99")[:7]
        first = part["month"].min()
        succ_rows = (use["org_code"] == part["org_code"].iloc[0]) & (use["measure"] == measure)
        months = set(use.loc[succ_rows & (use["month"] >= first) & (use["month"] < until), "month"])
        lacking = sorted(months - set(part["month"]))
        if lacking:
            hit = succ_rows & use["month"].isin(lacking)
            dropped.append(use[hit].assign(reason=f"incomplete merged month: predecessor {code} (merged into "
                                                  f"{part['org_code'].iloc[0]} {mergers.at[code, 'date']}) did "
                                                  "not report in this month, so the sum would understate the trust"))
            use = use[~hit]
    keys = ["org_code", "month", "measure"]

    def _sum(s):
        return s.sum(min_count=len(s)) if s.notna().all() else float("nan")

    out = use.groupby(keys, as_index=False).agg(numerator=("numerator", _sum), denominator=("denominator", _sum),
                                                source_codes=("source_code", lambda s: ";".join(sorted(set(s)))))
    dropped_frame = pd.concat(dropped, ignore_index=True) if dropped else pd.DataFrame(
        columns=[*monthly.columns, "source_code", "reason"])
    return out, dropped_frame
