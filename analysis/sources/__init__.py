"""The registry of data sources: one adapter per source, registered here and only here.

Each compiled :class:`Source` names its files under ``<data_dir>/raw`` (the layout of
``shared/data/raw``), its loader, period and publisher.  The panel builder asks
this registry for sources by name; adding a source means adding one entry.

The official publications are sources too: each entry of ``data/registry.toml`` names its file in the download
cache and its loader, which is its parser in :mod:`analysis.sources.official`; the panel columns each one
supplies are declared beside the parser (:data:`analysis.sources.official.FEEDS`) and
:mod:`analysis.precedence` decides, column by column, which source a panel build uses.
"""

from __future__ import annotations

from pathlib import Path

from analysis.errors import DataError
from analysis.sources import loaders, peer_finder
from analysis.sources.base import Source
from analysis.sources.monthly import MONTHLY_SOURCES  # noqa: F401  the year panel's monthly sources (analysis/trend)

SOURCES: dict[str, Source] = {s.name: s for s in (
    Source("trust_profiles", "Compiled 2025/26 trust profiles: SHMI, NCC cost, RTT (WLMDS), A&E, FFT, cancer, workforce, beds",
           ("trustpulse/trust_profiles.csv",), loaders.load_trust_profiles, "2024/25 - 2026-03",
           "TrustPulse compilation of NHS England / NHS Digital publications"),
    Source("trust_types", "CQC primary inspection category of open trusts", ("brc_resilience_index/open_trust_types.csv",),
           loaders.load_trust_types, "2021/22", "British Red Cross resilience index (CQC)"),
    Source("catchment_weights", "Share of each trust's admissions from each LTLA (OHID acute trust catchments)",
           ("geographr/lookup_nhs_trusts22_ltla21.csv",), loaders.load_catchment_weights, "catchments ~2010-2020",
           "OHID via humaniverse/geographr"),
    Source("successions", "ODS successor organisations (old code -> new code)", ("geographr/lookup_trust_trust.csv",),
           loaders.load_successions, "1992-04 to 2022-04", "NHS Digital ODS via geographr"),
    Source("regions", "Trust to NHS region lookup", ("geographr/lookup_nhs_trusts22_nhs_region21.csv",),
           loaders.load_regions, "2021/22", "NHS Digital ODS via geographr"),
    Source("imd", "English Indices of Deprivation 2019, LTLA population-weighted summaries", ("imd/imd2019_england_ltla22.csv",),
           loaders.load_imd_ltla, "IoD 2019", "MHCLG via humaniverse/IMD"),
    Source("population", "ONS mid-2020 population by single year of age, LTLA", ("demographr/population20_ltla21.csv",),
           loaders.load_population, "mid-2020", "ONS via humaniverse/demographr"),
    Source("health_index", "ONS Health Index for England, LTLA", ("healthyr/england_health_index.csv",),
           loaders.load_health_index, "2015-2021 (2021 used)", "ONS via humaniverse/healthyr"),
    Source("catchment_population", "PHE acute trust catchment populations (2018 values)",
           ("thf_trust_reference/trust_ref_file.csv",), loaders.load_thf_catchments, "2018",
           "PHE via The Health Foundation trust reference file"),
)}


def source_file(name: str) -> str:
    """The file of compiled source ``name``, as outputs name it (its path under ``raw/``)."""
    return SOURCES[name].files[0]


#: sources read beside the panel, not by its build (``load_all`` leaves them out): ``svi claims``
SIDE_SOURCES: dict[str, Source] = {s.name: s for s in (peer_finder.SOURCE,)}


def get(name: str) -> Source:
    try:
        return SOURCES[name] if name in SOURCES else SIDE_SOURCES[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r}; known: {sorted(SOURCES) + sorted(SIDE_SOURCES)}") from None


def load_all(data_dir: Path) -> dict:
    """Load every registered source from ``data_dir`` (which holds ``raw/``)."""
    data_dir = Path(data_dir)
    if not (data_dir / "raw").is_dir():
        raise DataError(data_dir, "data directory has no raw/ folder (expected the layout of shared/data)")
    return {name: src.load(data_dir) for name, src in SOURCES.items()}
