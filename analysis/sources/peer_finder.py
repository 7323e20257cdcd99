"""Peer Finder (NHS Trust Peer Finder Tool, appendix A, ~2017/18): each trust's MFF payment index and operating
expenses.  Read by ``svi claims`` (the MFF and operating-expenditure checks), not by the panel build."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import DataError
from analysis.sources.base import Source

FILE = "thf_trust_reference/appendix_a_data.csv"


def load_peer_finder(path: str | Path) -> pd.DataFrame:
    """org_code, MFF payment index, operating expenses (GBP m) of every trust in the file."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "Peer Finder appendix A file not found (needed for the MFF and operating-expenditure checks)")
    raw = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    need = ["Procode", "MFF payment index", "Operating Expenses"]
    missing = [c for c in need if c not in raw.columns]
    if missing:
        raise DataError(path, f"columns {missing} missing", row=1)
    out = pd.DataFrame({"org_code": raw["Procode"].str.strip(),
                        "mff": pd.to_numeric(raw["MFF payment index"].str.strip(), errors="coerce"),
                        # stored as negative GBP thousands
                        "opex_gbp_m": -pd.to_numeric(raw["Operating Expenses"].str.strip(), errors="coerce") / 1000})
    bad = out["mff"].notna() & ~out["mff"].between(0.8, 1.6)
    if bad.any():
        i = int(np.nonzero(bad.to_numpy())[0][0])
        raise DataError(path, f"MFF payment index {out['mff'].iloc[i]} outside 0.8-1.6", row=i + 2,
                        column="MFF payment index")
    return out.dropna(subset=["org_code"]).drop_duplicates("org_code")


SOURCE = Source("peer_finder", "NHS Trust Peer Finder Tool, appendix A: MFF payment index and operating expenses",
                (FILE,), load_peer_finder, "~2017/18", "NHS Improvement via The Health Foundation trust reference files",
                notes="read by `svi claims` only; the panel build does not load it")
