"""The documents' description of the need adjustment: which covariates apply to which peer group, generated from the
fit's config (``need.covariates`` and ``need.by_group``; models.value_model.need_covariates_by_group), never written
by hand, so that a change of the config changes the text."""

from __future__ import annotations

from analysis.report.text import md
from models.config import need_covariates_by_group

#: plain names of the need covariates (panel columns and derived covariates: models/value_model.py)
NEED_LABELS = {"imd_score": "IMD 2019 score", "share_aged_75_plus": "share of residents aged 75 and over",
               "health_index_score": "ONS Health Index", "log_size": "trust size (log expected cost)"}

#: why a group may have no catchment need adjustment (the reason in models/default.toml [need.by_group])
NO_NEED_REASON = ("its trusts draw patients from regional and national referral catchments, which the deprivation, "
                  "age and health of the local areas their admissions come from do not describe")


def label(c: str) -> str:
    return NEED_LABELS.get(c, c.replace("_", " "))


def covariate_list(names) -> str:
    return md("; ".join(label(c) for c in names)) or "none"


def _need_cfg(cfg: dict) -> dict:
    need = dict(cfg.get("need") or {})
    need.setdefault("covariates", [])
    return {"need": need}


def groups_text(cfg: dict, groups) -> str:
    """One sentence for the paper: which peer groups get which covariates.  Empty when every group gets all of
    them (no ``need.by_group`` rule that changes anything)."""
    groups = sorted(groups)
    cfg = _need_cfg(cfg)
    cov = list(cfg["need"]["covariates"])
    applies = need_covariates_by_group(groups, cfg)
    differ = [g for g in groups if applies[g] != cov]
    if not differ or not cov:
        return ""
    parts = []
    for g in differ:
        if applies[g]:
            parts.append(f"the {md(g)} group only by {covariate_list(applies[g])}")
        else:
            parts.append(f"the {md(g)} group not at all ({NO_NEED_REASON}; its trusts are compared with their peer "
                         f"group's mean alone)")
    full = [g for g in groups if g not in differ]
    head = (f"These covariates adjust the {', '.join(md(g) for g in full)} groups" if full else
            "No group gets every covariate")
    return (f"{head}; by the model configuration (need.by_group), {'; '.join(parts)}. Each covariate is "
            f"standardised over the trusts it applies to and is zero for the others, so its effects are estimated "
            f"from those trusts alone.")


def trust_text(cfg: dict, group: str) -> dict:
    """``covariates`` (the covariates that apply to the trust's group, or "none"), ``applies`` ("yes"/"no"),
    ``against`` (what the trust's expectations are set by) and ``sentence`` (the appendix's sentence on the need
    adjustment of this trust)."""
    cfg = _need_cfg(cfg)
    applies = need_covariates_by_group([group], cfg)[group]
    if not cfg["need"]["covariates"]:
        return {"covariates": "none", "applies": "no", "against": "peer group (no catchment need adjustment)",
                "sentence": "The model adjusts no expectation for catchment need (no need covariates in its "
                            "configuration), so every comparison is with the peer group's mean."}
    if not applies:
        return {"covariates": "none", "applies": "no",
                "against": "peer group (its group is not adjusted for catchment need)",
                "sentence": (f"Expectations for the {md(group)} group are not adjusted for catchment need: "
                             f"{NO_NEED_REASON}. The trust is compared with its peer group's mean alone; the "
                             "catchment figures below are shown for context, not used.")}
    return {"covariates": covariate_list(applies), "applies": "yes",
            "against": f"peer group and catchment need ({covariate_list(applies)})",
            "sentence": (f"Within the group, every expectation is then adjusted for the need of the trust's catchment "
                         f"({covariate_list(applies)}), so a peer does not have to be alike on those: the table "
                         f"shows where this trust differs from them.")}
