"""Which source supplies each panel column: the official publications in the download cache over the shared
compilation.

The shared compilation (``<data_dir>/raw``, :data:`analysis.sources.SOURCES`) is always read: it alone has the
trust list, identities, size classes, the catchment weights and the area files the need covariates are built
from, and the cancer, workforce and beds columns.  Each official publication of ``data/registry.toml`` that
sits in the download cache (``--cache-dir``, else ``$SVI_DATA_DIR``, else :func:`analysis.resources.default_cache_dir`)
and is verified (its pinned sha256, or the sha256 ``svi data fetch`` recorded when it downloaded it) is parsed
with its registered parser and supersedes the compiled values of the columns its
:class:`~analysis.sources.official.PanelFeed` declares:

=================  ===========================================  =====================================
publication        panel columns                                a trust (area) it does not cover
=================  ===========================================  =====================================
``shmi_trust``     ``shmi_*``                                   keeps the compiled values
``rtt_full_csv``   ``rtt_*``                                    keeps the compiled values
``ae_monthly``     ``ae_*``                                     keeps the compiled values
``fft_inpatient``  ``fft_*``                                    FFT missing (other definition)
``ncc_org_mff``    ``ncc_*``                                    keeps the compiled values
``imd2019_ltla``   district IMD scores behind ``imd_*``          the district keeps the compiled value
``ohid_catchments`` ``catchment_population``                    keeps the compiled value
``readmissions_30d`` ``readmissions_*`` (optional columns: only     readmissions missing
                   in a panel built with this publication)
``cwt_combined_*`` ``cancer_fds_*``, ``cancer_62d_*`` counts       keeps the third-party monthly file's
                   (both 2025/26 files, read together)              counts
=================  ===========================================  =====================================

The cancer files are monthly (``key`` = ``"monthly"``): the build maps their codes to today's trusts and sums the
financial year exactly as it does the third-party monthly file they supersede (:func:`cancer_monthly`,
:func:`analysis.real_panel._cancer_counts`); where both give a trust's counts the official ones are used, as for
every publication, and the report says whether the two agree.  A publication whose ``together`` partner is not
used is not used either (one half of a financial year cannot meet the nine-month rule).

A publication missing from the cache, or present but not verified, leaves its columns to the compilation and
says why.  Official values pass the same checks as compiled ones (plausible ranges, SHMI and numerator /
denominator consistency): a failing value is set missing and listed with the publication's file and column.
The quality report and the manifest list, for every column, the source it came from and every trust that
fell back; no trust is dropped because a publication does not cover it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from analysis import schema
from analysis.errors import DataError, SVIWarning
from analysis.fetch import Manifest, cached_copy_verified
from analysis.quality import QualityReport
from analysis.registry import Entry, Registry, RegistryError, load_registry, resolve_cache_dir
from analysis.sources import source_file
from analysis.sources.base import LINE
from analysis.sources.official import FEEDS, PanelFeed

#: The cross-section's cancer counts (analysis.real_panel._cancer_counts): the monthly feeds' columns.
CANCER_COUNTS = ("cancer_fds_within", "cancer_fds_total", "cancer_62d_within", "cancer_62d_total")

#: Panel columns an area feed reaches through the catchment weighting (area feed -> panel columns).
AREA_COLUMNS = {"imd2019_ltla": {"Score": "imd_score", "Income_Score": "imd_income_score",
                                 "Health_Score": "imd_health_score"}}


@dataclass
class Used:
    """An official publication read from the cache."""

    feed: PanelFeed
    entry: Entry
    path: Path
    sha256: str
    frame: pd.DataFrame  # feed.to_panel(parsed), one row per code

    @property
    def file(self) -> str:
        """The file as the outputs name it: its name in the cache, never its absolute path."""
        return f"cache/{self.entry.filename}"

    def panel_columns(self) -> tuple[str, ...]:
        if self.feed.key == "area":
            return tuple(AREA_COLUMNS.get(self.feed.entry, {}).get(c, c) for c in self.feed.columns)
        return self.feed.columns


@dataclass
class Official:
    """The official publications available to one panel build, and why the others are not used."""

    cache_dir: Path | None = None
    used: dict[str, Used] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # registry entry -> reason
    registry: Registry | None = None

    def trust_feed(self, name: str) -> Used | None:
        u = self.used.get(name)
        return u if u is not None and u.feed.key == "trust" else None


def load_official(cache_dir: str | Path | None = None, registry: Registry | str | Path | None = None) -> Official:
    """Parse every verified official publication in the download cache with its registered parser."""
    reg = registry if isinstance(registry, Registry) else load_registry(registry)
    cache = resolve_cache_dir(cache_dir)
    out = Official(cache_dir=cache, registry=reg)
    manifest = Manifest.load(cache) if cache.is_dir() else None
    for name, feed in FEEDS.items():
        try:
            entry = reg.get(name)
        except RegistryError:
            out.skipped[name] = f"no entry '{name}' in the registry {reg.path}"
            continue
        path = cache / entry.filename
        if manifest is None or not path.is_file():
            out.skipped[name] = "not in the download cache"
            continue
        digest = cached_copy_verified(entry, path, manifest)
        if digest is None:
            reason = (f"{path} is in the download cache but not verified (it does not match the registry's sha256, "
                      f"or was not downloaded by `svi data fetch`, or changed since): compiled values used; run "
                      f"`svi data fetch {name} --force` to download and verify it")
            warnings.warn(reason, SVIWarning, stacklevel=2)
            out.skipped[name] = reason
            continue
        try:
            parsed = entry.parse(path)
        except DataError as exc:
            raise DataError(exc.file, f"{exc.message}. This file is the official publication '{name}' in the "
                            f"download cache {cache}: download it again with `svi data fetch {name} --force`, or "
                            f"remove it from the cache to build from the compilation", row=exc.row,
                            column=exc.column) from None
        out.used[name] = Used(feed, entry, path, digest, feed.to_panel(parsed))
    _all_or_none(out)
    return out


def _all_or_none(official: Official) -> None:
    """A feed read ``together`` with others is used only when every one of them is (the halves of one year)."""
    for name, feed in FEEDS.items():
        if name not in official.used or not feed.together:
            continue
        absent = [o for o in feed.together if o not in official.used]
        if absent:
            del official.used[name]
            official.skipped[name] = (f"read only together with {', '.join(absent)} (the other part of the same "
                                      f"financial year), which is not used ({official.skipped.get(absent[0], '')}): "
                                      f"compiled values used; run `svi data fetch {' '.join(absent)}` to add it")


def cancer_monthly(official: Official) -> tuple[pd.DataFrame, list[Used], int] | None:
    """The official cancer rows (tidy monthly layout) of the used monthly feeds, or ``None`` when none is used.

    Returns (rows, the publications read, in :data:`FEEDS` order, and how many provider x standard x month rows
    were in more than one file: each is taken from the first file, the final one before the provisional one)."""
    used = [u for u in official.used.values() if u.feed.key == "monthly" and u.feed.replaces == "cancer_monthly"]
    if not used:
        return None
    rows = pd.concat([u.frame for u in used], ignore_index=True)
    dup = rows.duplicated(["org_code", "measure", "month"], keep="first")
    rows = rows[~dup].reset_index(drop=True)
    return rows, used, int(dup.sum())


# --------------------------------------------------------------------------------- values of one trust

Finding = Callable[..., None]


def overlay_trust(row: dict, code: str, official: Official, report: QualityReport) -> dict[str, Used]:
    """Replace the compiled values of ``row`` by those of every official trust feed that covers ``code``.

    Returns panel column -> publication for each column whose value (or, with fallback "missing", whose absence)
    comes from an official publication.  Values outside their plausible range are set missing and reported.
    """
    taken: dict[str, Used] = {}
    for u in official.used.values():
        if u.feed.key != "trust" or u.feed.replaces != "trust_profiles":
            continue
        if code in u.frame.index:
            values = u.frame.loc[code]
            for c in u.feed.columns:
                row[c] = _checked(float(values[c]), c, code, u, report)
                taken[c] = u
        elif u.feed.fallback == "missing":
            present = [c for c in u.feed.columns if pd.notna(row.get(c))]
            if present:
                report.add(code, present[0], "set missing", f"not in the official publication '{u.entry.name}', "
                           f"and the compiled value measures something else ({u.feed.note})", source=u.file,
                           old=row[present[0]])
            for c in u.feed.columns:
                row[c] = np.nan
                taken[c] = u
    return taken


def _checked(value: float, column: str, code: str, u: Used, report: QualityReport) -> float:
    rng = schema.RANGES.get(column)
    if pd.isna(value) or rng is None or rng.ok([value])[0]:
        return value
    report.add(code, column, "set missing", f"value outside the plausible range {rng.text()} ({rng.source})",
               source=u.file, raw_column=u.feed.raw_columns.get(column), old=value)
    return np.nan


def official_catchment_population(official: Official, codes: list[str], report: QualityReport) -> pd.Series:
    """Catchment population of each panel trust that the OHID publication covers (checked like any value)."""
    u = official.used.get("ohid_catchments")
    if u is None:
        return pd.Series(dtype=float)
    col = "catchment_population"
    covered = [c for c in codes if c in u.frame.index]
    return pd.Series({c: _checked(float(u.frame.at[c, col]), col, c, u, report) for c in covered}, dtype=float)


# --------------------------------------------------------------------------------- area values

def overlay_areas(raw: dict, official: Official, report: QualityReport) -> None:
    """Replace compiled area values by official ones (per district), in place in ``raw``."""
    u = official.used.get("imd2019_ltla")
    if u is None:
        return
    comp = raw[u.feed.replaces]
    code_col = "ltla22_code"
    off = u.frame.copy()
    ranges = schema.RAW_RANGES.get(u.feed.replaces, {})
    for c in u.feed.columns:
        if c not in ranges:  # pragma: no cover - every compiled area column has a range (test_schema)
            continue
        bad = off[c].notna() & ~ranges[c].ok(off[c].to_numpy())
        for area in off.index[bad]:
            report.add(None, AREA_COLUMNS[u.entry.name][c], "set missing", f"area {area}: value outside the plausible "
                       f"range {ranges[c].text()} ({ranges[c].source})", source=u.file,
                       raw_column=u.feed.raw_columns.get(c), old=float(off.at[area, c]))
        off.loc[bad, c] = np.nan
    covered = comp[code_col].isin(off.index)
    new = comp.copy()
    for c in u.feed.columns:
        new.loc[covered, c] = new.loc[covered, code_col].map(off[c]).to_numpy()
    extra = off.loc[~off.index.isin(comp[code_col])].rename_axis(code_col).reset_index()
    if len(extra):
        extra[LINE] = 0  # not in the compiled file
        new = pd.concat([new, extra[new.columns]], ignore_index=True)
    new.attrs = dict(comp.attrs)
    new.attrs["invalid"] = [v for v in comp.attrs.get("invalid", []) if v["code"] not in set(off.index)]
    raw[u.feed.replaces] = new


# --------------------------------------------------------------------------------- what came from where

def _compiled_files(column: str) -> list[str]:
    """The compiled files a panel column is built from when no official publication supplies it."""
    group = next((c.group for c in schema.COLUMNS if c.name == column), "")
    if column == "period":
        return []
    if column == "trust_type":
        return [source_file("trust_types"), source_file("trust_profiles")]
    if column == "catchment_population":
        return [source_file("catchment_population"), source_file("successions")]
    if column in CANCER_COUNTS:
        from analysis.sources.monthly import MONTHLY_SOURCES

        return [MONTHLY_SOURCES["cancer_monthly"].files[0], source_file("successions")]
    if group == "need":
        area = {"imd_score": "imd", "imd_income_score": "imd", "imd_health_score": "imd",
                "share_aged_75_plus": "population", "health_index_score": "health_index"}.get(column)
        return [source_file("catchment_weights")] + ([source_file(area)] if area else [])
    return [source_file("trust_profiles")]


def record(official: Official, panel: pd.DataFrame, raw: dict, report: QualityReport,
           cancer: dict | None = None) -> None:
    """Fill ``report.sources`` (one row per publication: used or not, trusts it covers, trusts that fell back),
    ``report.column_sources`` (every panel column) and ``report.dictionary`` (source and period of columns
    that came from a publication), and list the official files read in ``report.inputs``.  ``cancer`` says which
    trusts' cancer counts came from the monthly feeds (:func:`analysis.real_panel._cancer_counts`)."""
    codes = list(panel["org_code"])
    from_official: dict[str, dict] = {}
    monthly_seen: list[str] = []
    for name, feed in FEEDS.items():
        u = official.used.get(name)
        if u is None:
            cols = AREA_COLUMNS.get(name, {}).values() if feed.key == "area" else feed.columns
            report.sources.append({"publication": name, "columns": ", ".join(cols), "status": "not used",
                                   "source": ", ".join(sorted({f for c in cols for f in _compiled_files(c)})),
                                   "detail": official.skipped.get(name, "")})
            continue
        report.inputs[u.file] = {"sha256": u.sha256, "rows": int(len(u.frame))}
        if feed.key == "monthly":
            cov = cancer or {}
            covered, fallback = list(cov.get("official", [])), [c for c in codes if c not in cov.get("official", [])]
            if monthly_seen:
                detail = f"read together with {monthly_seen[0]}: see its row"
            else:
                how = ("compiled values kept" if cov.get("compiled_file") else "missing: the compiled file "
                       f"raw/{_compiled_files(feed.columns[0])[0]} is not there either")
                outside = cov.get("outside", [])
                detail = (f"{len(covered)} of {len(codes)} panel trusts from the publication (with its other part, "
                          f"{', '.join(feed.together)}; codes mapped to today's trusts and summed over the financial "
                          f"year as for the compiled file)"
                          + (f"; not covered ({how}): {_codes(fallback)}" if fallback else "")
                          + (f"; {len(outside)} organisations of the publication not in the panel: {_codes(outside)}"
                             if outside else "")
                          + (f"; {cov['overlap']} provider-months in both files, taken from the first (final)"
                             if cov.get("overlap") else "") + f". {feed.note}")
            monthly_seen.append(name)
            report.sources.append({"publication": name, "columns": ", ".join(feed.columns), "status": "used",
                                   "source": u.file, "detail": detail})
            used = [official.used[n] for n in monthly_seen]
            for c in feed.columns:
                from_official[c] = {"official": " + ".join(monthly_seen), "file": " + ".join(x.file for x in used),
                                    "sha256": " + ".join(x.sha256 for x in used), "covered": len(covered),
                                    "fallback": feed.fallback, "fallback_codes": fallback}
                report.dictionary[c] = {"source": "NHS England: Cancer Waiting Times, monthly Combined CSV (official "
                                                  f"publications {' + '.join(monthly_seen)}; where they are silent: "
                                                  "the compiled monthly file)",
                                        "period": "2025/26"}
            continue
        if feed.key == "area":
            weights = raw["catchment_weights"]
            areas = sorted(set(weights["ltla21_code"].dropna()))
            fallback = [a for a in areas if a not in u.frame.index]
            detail = (f"{len(areas) - len(fallback)} of {len(areas)} districts in the catchment weights from the "
                      f"publication" + (f"; compiled values for {len(fallback)}: {_codes(fallback)}" if fallback else "")
                      + f" ({feed.note})")
            covered_n = len(areas) - len(fallback)
        else:
            covered = [c for c in codes if c in u.frame.index]
            fallback = [c for c in codes if c not in u.frame.index]
            outside = sorted(set(u.frame.index) - set(codes))
            how = "compiled values kept" if feed.fallback == "compiled" else "set missing"
            detail = (f"{len(covered)} of {len(codes)} panel trusts from the publication"
                      + (f"; not covered ({how}): {_codes(fallback)}" if fallback else "")
                      + (f"; {len(outside)} organisations of the publication not in the panel (not acute trusts of the "
                         f"compilation, or excluded): {_codes(outside)}" if outside else "") + f". {feed.note}")
            covered_n = len(covered)
        report.sources.append({"publication": name, "columns": ", ".join(u.panel_columns()), "status": "used",
                               "source": u.file, "detail": detail})
        for c in u.panel_columns():
            from_official[c] = {"official": name, "file": u.file, "sha256": u.sha256, "covered": covered_n,
                                "fallback": feed.fallback, "fallback_codes": fallback}
            report.dictionary[c] = {"source": f"{u.entry.publisher}: {u.entry.description} (official publication "
                                              f"'{name}'; where it is silent: "
                                              + ("the compiled value" if feed.fallback == "compiled" else "missing")
                                              + ")", "period": u.frame.attrs.get("period") or u.entry.period}
    for c in schema.present_columns(panel):
        compiled = _compiled_files(c)
        entry = dict(from_official.get(c, {}))
        if compiled and (not entry or entry["fallback"] == "compiled"):
            entry["compiled"] = compiled
        report.column_sources[c] = entry or {"derived": "SVI"}


def _codes(codes: list[str], n: int = 20) -> str:
    return ", ".join(codes[:n]) + (f" ... ({len(codes)} in all)" if len(codes) > n else "")
