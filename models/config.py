"""Model configuration: the TOML in ``models/default.toml`` plus user overrides."""

from __future__ import annotations

import copy
import logging
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from models import indicators as registry

DEFAULT_CONFIG = Path(__file__).with_name("default.toml")
#: the period-noise SDs estimated from the shared data's monthly series (benchmarks/bench_period_noise.py)
PERIOD_NOISE = Path(__file__).with_name("period_noise.toml")
PERIOD_NOISE_MODES = ("off", "estimated")


#: the panel's size classes, the default peer groups (analysis/schema.py checks the panel's column against these)
SIZE_CLASSES = ("teaching", "large", "medium", "small", "specialist", "multi-service")


class ConfigError(ValueError):
    """A bad model configuration; ``settings`` names the file that lists every setting of that model."""

    def __init__(self, message: str, settings: str = "models/default.toml"):
        super().__init__(message)
        self.settings = settings


def merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> dict:
    cfg = tomllib.loads(DEFAULT_CONFIG.read_text())
    if path is not None:
        try:
            cfg = merge(cfg, tomllib.loads(Path(path).read_text()))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    if overrides:
        cfg = merge(cfg, overrides)
    cfg = with_record_defaults(cfg)
    cfg = with_period_noise(cfg)
    validate(cfg)
    return cfg


def with_period_noise(cfg: dict) -> dict:
    """The config with ``quality.period_noise_sd`` and ``quality.period_months`` filled in for the chosen binomial
    indicators when ``quality.period_noise`` is "estimated": the SDs from ``models/period_noise.toml`` and the
    record's months (one; the cancer standards' year twelve), where the config gives none (what it gives wins).
    With the option "off" (or absent) the config is returned unchanged, so that model and its id are those of a model
    without the option."""
    q = cfg.get("quality", {})
    if q.get("period_noise", "off") != "estimated":
        return cfg
    out = copy.deepcopy(cfg)
    q = out["quality"]
    est = tomllib.loads(PERIOD_NOISE.read_text())["sd"]
    for name in q.get("indicators", []):
        rec = registry.INDICATORS.get(name)
        if rec is None or rec.family != "binomial":
            continue
        if name in est:
            q.setdefault("period_noise_sd", {}).setdefault(name, float(est[name]))
        q.setdefault("period_months", {}).setdefault(name, rec.period_months)
    return out


def with_record_defaults(cfg: dict) -> dict:
    """The config with each chosen indicator's and cost outcome's prior scale and weight taken from its record
    (models/indicators.py) where the config gives none; what the config gives wins."""
    out = copy.deepcopy(cfg)
    pr, w = out.setdefault("priors", {}), out.setdefault("value", {})
    for name in out.get("quality", {}).get("indicators", []):
        rec = registry.INDICATORS.get(name)
        if rec is None:
            continue  # validate() names it
        if rec.prior_scale is not None:
            pr.setdefault("quality_scale", {}).setdefault(name, rec.prior_scale)
        if rec.weight is not None:
            w.setdefault("quality_weights", {}).setdefault(name, rec.weight)
    for name in out.get("cost", {}).get("outcomes", []):
        rec = registry.COST_OUTCOMES.get(name)
        if rec is not None and rec.prior_scale is not None:
            pr.setdefault("cost_scale", {}).setdefault(name, rec.prior_scale)
    return out


def for_panel(cfg: dict, panel) -> dict:
    """The config of a fit of ``panel``: ``cfg`` with every indicator whose record says ``when_present`` appended to
    ``quality.indicators`` where the panel has its counts (all its columns, and at least one trust with a positive
    denominator), with the record's prior scale and weight unless the config gives them.  ``quality.when_present =
    false`` in a config keeps them out.  A configured indicator that no trust in the panel reports (e.g. a panel
    built without the cancer waiting-times file) is left out, with a warning: it could not be estimated.  A panel
    with every configured indicator and nothing to add gives ``cfg`` itself, unchanged.

    The composite weights need no other change: the quality composite divides each trust's weighted sum by the
    weights of the indicators it reports (analysis.summaries.posterior.composites), so adding an indicator scales
    the others' shares by sum(old weights) / sum(new weights)."""
    q = cfg["quality"]
    keep = [k for k in q["indicators"] if _has_counts(registry.INDICATORS[k], panel)]
    drop = [k for k in q["indicators"] if k not in keep]
    if drop:
        if not keep:
            raise ConfigError(f"the panel has counts for none of the configured quality indicators ({', '.join(drop)}): "
                              "nothing to fit. Check that the panel was built from the data you meant "
                              "(svi data build) or list the indicators it has in quality.indicators.")
        if q.get("correlation") == "factor" and q.get("factor_anchor") in drop:
            raise ConfigError(f"quality.factor_anchor {q['factor_anchor']!r} has no counts in this panel; choose "
                              f"one of {keep}.")
        # an indicator no trust reports cannot be estimated (its peer means would have no data): left out, loudly
        logging.getLogger("svi").warning(
            "no trust in the panel has counts for %s: left out of this fit (the panel's data quality report says "
            "which source was missing); the other indicators' composite weights are rescaled as for a trust that "
            "does not report an indicator.", ", ".join(registry.INDICATORS[k].label for k in drop))
    add = [r.name for r in registry.INDICATORS.values()
           if q.get("when_present", True) and r.when_present and r.name not in q["indicators"]
           and _has_counts(r, panel)]
    if not add and not drop:
        return cfg
    out = copy.deepcopy(cfg)
    out["quality"]["indicators"] = [*keep, *add]
    out = with_record_defaults(out)
    validate(out)
    return out


def _has_counts(rec, panel) -> bool:
    if not all(c in panel.columns for c in rec.columns):
        return False
    y, n = rec.counts(panel)
    return bool((np.isfinite(y) & np.isfinite(n) & (n > 0)).any())


def validate(cfg: dict) -> None:
    validate_need(cfg)
    q = cfg["quality"]
    bad = [k for k in q["indicators"] if k not in registry.INDICATORS]
    if bad:
        raise ConfigError(f"quality.indicators: unknown {bad}; known {list(registry.INDICATORS)} "
                          f"(models/indicators.py declares them)")
    if q["correlation"] not in ("lkj", "factor"):
        raise ConfigError("quality.correlation must be 'lkj' or 'factor'")
    if q["correlation"] == "factor" and q.get("factor_anchor") not in q["indicators"]:
        raise ConfigError(f"quality.factor_anchor must be one of quality.indicators {list(q['indicators'])}")
    pr = cfg["priors"]
    bad = [k for k in q["indicators"] if not (isinstance(pr["quality_scale"].get(k), (int, float))
                                              and pr["quality_scale"][k] > 0)]
    if bad:
        raise ConfigError(f"priors.quality_scale: need a positive scale for {bad}")
    bad = [j for j in cfg["cost"]["outcomes"] if not (isinstance(pr["cost_scale"].get(j), (int, float))
                                                      and pr["cost_scale"][j] > 0)]
    if bad:
        raise ConfigError(f"priors.cost_scale: need a positive scale for {bad}")
    for key in ("scale_variation", "cost_nu_shape", "cost_nu_rate"):
        if not (isinstance(pr.get(key), (int, float)) and pr[key] > 0):
            raise ConfigError(f"priors.{key} must be a positive number")
    for block in ("quality", "cost"):
        sm = cfg[block].get("scale_multipliers", "auto")
        known = cfg[block]["indicators" if block == "quality" else "outcomes"]
        if isinstance(sm, list):
            if not set(sm) <= set(known):
                raise ConfigError(f"{block}.scale_multipliers: {sorted(set(sm) - set(known))} are not in {list(known)}")
        elif sm not in ("auto", "centred", "non_centred"):
            raise ConfigError(f"{block}.scale_multipliers must be 'auto', 'centred', 'non_centred' or a list of "
                              f"outcomes to centre")
    if q.get("trust_effects", "auto") not in ("auto", "centred", "non_centred"):
        raise ConfigError("quality.trust_effects must be 'auto', 'centred' or 'non_centred'")
    pn = q.get("period_noise", "off")
    if pn not in PERIOD_NOISE_MODES:
        raise ConfigError(f"quality.period_noise must be one of {list(PERIOD_NOISE_MODES)} (got {pn!r})")
    if pn != "off":
        binomial = [k for k in q["indicators"] if registry.get(k).family == "binomial"]
        sd, months = q.get("period_noise_sd") or {}, q.get("period_months") or {}
        bad = [k for k in binomial if not (isinstance(sd.get(k), (int, float)) and sd[k] >= 0)]
        if bad:
            raise ConfigError(f"quality.period_noise_sd: need a non-negative SD (logit scale) for {bad}; "
                              f"{PERIOD_NOISE.name} estimates {sorted(tomllib.loads(PERIOD_NOISE.read_text())['sd'])} "
                              f"(give one, e.g. quality.period_noise_sd = {{ {bad[0]} = 0.1 }}, or drop the indicator)")
        bad = [k for k in binomial if not (isinstance(months.get(k), (int, float)) and months[k] >= 1)]
        if bad:
            raise ConfigError(f"quality.period_months: need a number of months >= 1 for {bad}")
    for k in q["indicators"]:
        fam = registry.get(k).fam
        if isinstance(fam, registry.PoissonOE) and q.get(fam.option(registry.get(k)), "poisson") not in (
                "poisson", "negbin"):
            raise ConfigError(f"quality.{fam.option(registry.get(k))} must be 'poisson' or 'negbin'")
    bad = [j for j in cfg["cost"]["outcomes"] if j not in registry.COST_OUTCOMES]
    if bad:
        raise ConfigError(f"cost.outcomes: unknown {bad}; known {list(registry.COST_OUTCOMES)}")
    for key in ("cost", "mortality"):
        if cfg["benchmark"][key] not in ("peer_median", "peer_mean", "peer_best_quartile"):
            raise ConfigError(f"benchmark.{key} must be 'peer_median', 'peer_mean' or 'peer_best_quartile'")
    if cfg["sampler"]["name"] not in ("nutpie", "pymc", "numpyro"):
        raise ConfigError("sampler.name must be 'nutpie', 'pymc' or 'numpyro'")
    for key in ("target_accept", "retry_target_accept"):
        v = cfg["sampler"].get(key, 0)
        if not (isinstance(v, (int, float)) and 0 <= v < 1) or (key == "target_accept" and v == 0):
            raise ConfigError(f"sampler.{key} must be a number below 1 (got {v!r})")
    w = cfg["value"]["quality_weights"]
    missing = [k for k in q["indicators"] if k not in w]
    if missing:
        raise ConfigError(f"value.quality_weights: no weight for {missing}")
    if not 0 <= cfg["value"]["quality_share"] <= 1:
        raise ConfigError("value.quality_share must be in [0, 1]")


def validate_need(cfg: dict) -> None:
    """``need.covariates`` a list of names; ``need.by_group`` (optional) a table of peer group -> the covariates that
    apply to its trusts, each one of ``need.covariates``.  Whether each group exists is checked against the panel
    (models.value_model.need_mask), since the groups are the panel's."""
    need = cfg.get("need") or {}
    cov = need.get("covariates", [])
    if not (isinstance(cov, list) and all(isinstance(c, str) for c in cov)):
        raise ConfigError(f"need.covariates must be a list of covariate names (got {cov!r})")
    by = need.get("by_group")
    if by is None:
        return
    if not isinstance(by, dict):
        raise ConfigError(f"need.by_group must be a table of peer group = [covariates] (got {by!r}); e.g. "
                          f"[need.by_group] specialist = []")
    pg = cfg.get("peer_groups") or {}
    # by size class (the default) the possible groups are known before any panel is read; by another column, the
    # panel's values are checked when the model data are prepared
    by_size = pg.get("column", "size_class") == "size_class"
    known = set(SIZE_CLASSES) | set((pg.get("overrides") or {}).values())
    for group, names in by.items():
        if by_size and group not in known:
            raise ConfigError(f"need.by_group.{group}: no such peer group; the peer groups are the size classes "
                              f"{list(SIZE_CLASSES)} and the groups of peer_groups.overrides. Correct the name or "
                              f"remove the line from [need.by_group]")
        if not (isinstance(names, list) and all(isinstance(c, str) for c in names)):
            raise ConfigError(f"need.by_group.{group} must be a list of covariate names, [] for none (got {names!r})")
        bad = [c for c in names if c not in cov]
        if bad:
            raise ConfigError(f"need.by_group.{group}: {bad} not in need.covariates {cov}; a group's covariates are "
                              f"a subset of need.covariates (add them there, or remove them here)")


def need_covariates_by_group(groups, cfg: dict) -> dict[str, list[str]]:
    """The need covariates that apply to each peer group's trusts: ``need.by_group``'s list where it names the
    group, every one of ``need.covariates`` otherwise (the model masks its covariate matrix with this, the
    synthetic panel draws its truth with it, and the documents describe the adjustment from it)."""
    cov = list(cfg["need"]["covariates"])
    by = cfg["need"].get("by_group") or {}
    return {gname: [c for c in cov if c in by[gname]] if gname in by else cov for gname in groups}


def model_relevant(cfg: dict) -> dict[str, Any]:
    """The parts of the config that change the posterior (not the summaries)."""
    # .get: a config saved by an older version may lack a section; it then compares as different, not as an error
    return {k: cfg.get(k) for k in ("peer_groups", "need", "quality", "priors", "cost", "sampler")}
