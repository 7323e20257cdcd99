"""``svi validate``: every validation check, written as tables, figures and a manifest the paper renders.

Writes ``validation/`` (tables, figures and ``manifest.json``, the ordered sections the methodology paper
renders, :mod:`analysis.manifest`), one fit per refit variant in ``variants/<name>/`` (reused when its model id
matches; shared with ``svi claims``) and one file per finished SBC replication in ``variants/sbc/<id>/`` (the
checkpoint a rerun resumes from); see :mod:`analysis.results`.

The directory is written atomically: a failed or interrupted run leaves the previous validation in place.
The variant fits and the SBC replications run as sweeps on Dask (:mod:`analysis.sweeps`; ``--scheduler``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import io
from analysis.errors import SVIError
from analysis.manifest import Item, write_manifest
from analysis.results import ResultsDir
from analysis.summaries import summarise
from analysis.validation import agreement, compare, loo, ppc, prior, sbc
from analysis.variants import QUICK_SAMPLER, REFIT_VARIANTS, SUMMARY_VARIANTS, fit_variants, variant_config
from models.config import merge
from models.value_model import build_model

#: SBC sampler: nutpie, whatever the default, because it compiles the model once and refits it to each
#: replication's data (``with_data``); numpyro through PyMC compiles at every refit, several times slower and
#: running out of memory for compiled code (benchmarks/RESULTS.md, "SBC sampler").  Both are NUTS on the same log
#: density; the production fit's convergence is checked by the gate.  2 chains in parallel (one per core); L = 99
#: thinned draws per replication.
SBC_SAMPLER = {"name": "nutpie", "chains": 2, "tune": 300, "draws": 300}
SBC_QUICK_SAMPLER = {"name": "nutpie", "chains": 2, "tune": 200, "draws": 200}
#: fewer replications than this give no SBC verdict (the issue's minimum; the uniformity test has little power)
MIN_SBC_REPS = 100


def _csv(df: pd.DataFrame, d: Path, name: str, index: bool = False) -> str:
    df.to_csv(d / f"{name}.csv", index=index)
    return f"{name}.csv"


def _fmt(x, nd=2) -> str:
    return f"{x:,.{nd}f}"


def run_validate(panel: pd.DataFrame, out: str | Path, sbc_reps: int = 100, quick: bool = False,
                 seed: int = 20260401, variants: list[str] | None = None, echo=print, scheduler: str | None = None,
                 workers: int | None = None, progress: bool = True) -> dict:
    """Fit (or reuse) the variants, run every check, write ``out/validation`` atomically.

    ``variants``: refit variants to compare (default all; "base" is always included).  The variant fits and the
    SBC replications are sweeps (:mod:`analysis.sweeps`) run by one engine: ``scheduler`` "serial", "local" (a
    local Dask cluster of ``workers`` workers; the default) or a Dask scheduler's address; None reads
    ``$SVI_SCHEDULER``."""
    from analysis.sweeps import Engine

    names = variants or list(REFIT_VARIANTS)
    unknown = [n for n in names if n not in REFIT_VARIANTS]
    if unknown:
        raise SVIError(f"unknown variant(s) {unknown}; known: {list(REFIT_VARIANTS)}")
    if "base" not in names:
        names = ["base"] + names
    with Engine.open(scheduler, workers, echo=echo) as engine:
        return _run_validate(panel, ResultsDir(out), sbc_reps, quick, seed, names, echo, engine, progress)


def _run_validate(panel, res, sbc_reps, quick, seed, names, echo, engine, progress) -> dict:
    base_over = {"sampler": {**QUICK_SAMPLER, "seed": seed}} if quick else {"sampler": {"seed": seed}}
    t_start = time.perf_counter()
    echo(f"running the sweeps {engine.describe()}")
    for name in names:
        echo(f"--- variant {name}: {REFIT_VARIANTS[name].description}")
    configs = {name: variant_config(name, base_over, panel=panel) for name in names}
    fitted = fit_variants(panel, configs, res, engine=engine, echo=echo, progress=progress)
    fits = {}
    for name, (idata, data, gate) in fitted.items():
        cfg = configs[name]
        fits[name] = {"idata": idata, "data": data, "gate": gate, "cfg": cfg, "tables": summarise(idata, data, cfg)}
    base = fits["base"]
    items: list[Item] = []
    results: dict = {}
    with io.atomic_dir(res.validation_dir, owner="svi validate",
                       legacy=lambda d: (d / "manifest.json").is_file()) as vd:
        items += _diagnostics_items(fits, vd, quick)
        # pointwise log-likelihoods of every fit, computed once: LOO, LOO-PIT and likelihood power-scaling use them
        pws = {name: loo.pointwise_loglik(f["idata"], f["data"], f["cfg"]) for name, f in fits.items()}
        # the base model graph (sampler settings do not enter it): prior draws, log priors and SBC share it
        base_model = build_model(base["data"], base["cfg"])
        loo_items, loo_cmp = _loo_items(fits, pws, vd, results)
        items += loo_items
        items += _ppc_items(base, vd, seed, results)
        items += _variant_items(fits, loo_cmp, vd, results)
        items += _shmi_items(panel, base, vd, results)
        items += _glmm_items(base, vd, results)
        items += _prior_items(base, base_model, pws["base"], vd, seed, results)
        items += _sbc_items(panel, res, base, base_model, vd, sbc_reps, seed, quick, results, echo, engine, progress)
        write_manifest(vd, "svi validate", items, model_id=base["idata"].attrs.get("svi_model_id"),
                       quick=quick, seconds=round(time.perf_counter() - t_start, 1))
        io.write_json(vd / "validation.json", results)
    echo(f"validation written to {res.validation_dir} in {time.perf_counter() - t_start:.0f} s")
    for it in items:
        flag = {True: "PASS", False: "FAIL", None: "    "}[it.passed]
        echo(f"  [{flag}] {it.title}")
    return {"items": items, "results": results, "fits": fits}


# ------------------------------------------------------------------------------------------------ sections
def _diagnostics_items(fits, vd, quick) -> list[Item]:
    rows = []
    for name, f in fits.items():
        g, a = f["gate"], f["idata"].attrs
        rows.append({"variant": name, "description": REFIT_VARIANTS[name].description, "gate_passed": g.passed,
                     "max_rhat": round(g.max_rhat, 4), "min_ess_bulk": round(g.min_ess_bulk),
                     "min_ess_tail": round(g.min_ess_tail), "divergences": g.divergences,
                     "target_accept": f["cfg"]["sampler"]["target_accept"], "draws": f["cfg"]["sampler"]["draws"],
                     "sampling_seconds": a.get("svi_sampling_seconds")})
    df = pd.DataFrame(rows)
    n_fail = int((~df.gate_passed).sum())
    ta, dr = df.set_index("variant").target_accept, df.set_index("variant").draws
    others = sorted(set(ta.drop("base", errors="ignore")))
    more = sorted(set(dr.drop("base", errors="ignore")))
    text = (f"The default was fitted with the configured sampler (target_accept {ta.get('base', float('nan')):g}, "
            f"{dr.get('base', 0):,} draws per chain)"
            + (f", every other variant with target_accept {', '.join(f'{t:g}' for t in others)} and "
               f"{', '.join(f'{d:,}' for d in more)} draws per chain (smaller steps and more draws: a divergence or "
               f"a short ESS leaves a comparison indicative only)" if others else "")
            + f"{' (quick mode: short chains, not evidence)' if quick else ''}. "
            f"{len(df) - n_fail} of {len(df)} fits pass the convergence gate (rank-normalised R-hat < 1.01, bulk and "
            f"tail ESS >= 400, no divergences)" + (f"; the variants that fail are {', '.join(df.variant[~df.gate_passed])}, "
                                                   "and their comparisons below are indicative only." if n_fail else "."))
    return [Item("diagnostics", "Convergence of every fitted variant", text, table=_csv(df, vd, "variant_diagnostics"),
                 passed=n_fail == 0, extra={"n_variants": len(df), "n_failed": n_fail})]


def _loo_items(fits, pws, vd, results) -> tuple[list[Item], pd.DataFrame]:
    base = fits["base"]
    summ, point, res = loo.loo_summary(pws["base"])
    _csv(point, vd, "loo_pointwise")
    cond, integ = summ.set_index("likelihood").loc["quality_conditional"], summ.set_index("likelihood").loc["quality_integrated"]
    cost = summ.set_index("likelihood").loc["cost"]
    n_bad = int(integ["k_gt_0.7"] + cost["k_gt_0.7"])
    results["loo"] = summ.to_dict("records")
    text = (f"Plain PSIS-LOO of the quality likelihoods, conditional on each trust's own effect, is unreliable on this "
            f"design: {int(cond['k_gt_0.7'])} of {int(cond.n_obs)} observations have Pareto k > 0.7 (max "
            f"{_fmt(cond.max_k)}), because each observation is the only data on its own parameter. With that effect "
            f"integrated out (conditional on the peer mean, need, peer scale, correlation and the trust's other "
            f"indicators; adaptive Gauss-Hermite quadrature), {int(integ['k_le_0.5'])} of {int(integ.n_obs)} have "
            f"k <= 0.5 and {int(integ['k_gt_0.7'])} exceed 0.7 (max {_fmt(integ.max_k)}). The cost likelihood "
            f"(no trust-specific parameter) has {int(cost['k_gt_0.7'])} of {int(cost.n_obs)} above 0.7. The integrated "
            f"LOO is what the variants are compared by below.")
    items = [Item("loo", "PSIS-LOO and Pareto-k diagnostics", text, table=_csv(summ.round(3), vd, "loo_summary"),
                  passed=n_bad <= 0.01 * (integ.n_obs + cost.n_obs),
                  extra={"conditional_k_gt_0.7": int(cond["k_gt_0.7"]), "integrated_k_gt_0.7": int(integ["k_gt_0.7"]),
                         "cost_k_gt_0.7": int(cost["k_gt_0.7"]), "n_obs": int(integ.n_obs + cost.n_obs)})]
    # LOO-PIT of the base model
    pit = loo.loo_pit(pws["base"], base["data"], base["cfg"], base["idata"])
    cells = pws["base"]["cells"]
    label = np.where(cells.block == "cost", "cost_" + cells.outcome, cells.outcome)
    groups = pd.Series(label)
    unif = loo.pit_uniformity(pit, groups)
    loo.plot_loo_pit(pit, groups, vd / "loo_pit.png")
    worst = unif.loc[unif.outcome != "all"].sort_values("p_value").iloc[0]
    ok = bool((unif.p_value >= 0.01 / len(unif)).all())
    results["loo_pit"] = unif.to_dict("records")
    text = (f"The leave-one-out probability integral transform of every observation (quality: integrated predictive "
            f"with a freshly drawn trust effect; cost: Student-t) should be uniform if the model is calibrated. "
            f"Kolmogorov-Smirnov p-values by likelihood range from {_fmt(unif.p_value.min(), 3)} ({worst.outcome}) "
            f"to {_fmt(unif.p_value.max(), 3)}; {_fmt(100 * unif.set_index('outcome').loc['all', 'share_below_0.025'], 1)}% "
            f"and {_fmt(100 * unif.set_index('outcome').loc['all', 'share_above_0.975'], 1)}% of all observations fall "
            f"in the lower and upper 2.5% tails (2.5% each expected).")
    items.append(Item("loo_pit", "LOO-PIT calibration", text, table=_csv(unif.round(4), vd, "loo_pit"),
                      figure="loo_pit.png", caption="ECDF of LOO-PIT minus the uniform CDF per likelihood, with the "
                      "95% simultaneous band.", passed=ok))
    # variants by integrated LOO (quality integrated + cost)
    loos = {name: loo.loo(np.concatenate([pw["integrated"], pw["cost"]], axis=1), pw["nchain"])
            for name, pw in pws.items()}
    cmp = compare.loo_compare(loos)
    results["loo_compare"] = cmp.to_dict("records")
    return items, cmp


def _ppc_items(base, vd, seed, results) -> list[Item]:
    reps = ppc.replicate(base["idata"], base["data"], base["cfg"], seed=seed)
    tab = ppc.ppc_table(reps)
    ppc.plot_ppc(reps, vd / "ppc_sd.png")
    n_ext = int(tab.extreme.sum())
    results["ppc"] = {"n_statistics": int(len(tab)), "n_extreme": n_ext,
                      "extreme": tab.loc[tab.extreme, ["outcome", "statistic", "ppp"]].to_dict("records")}
    ext = "; ".join(f"{r.outcome} {r.statistic} (p = {r.ppp:.3f})" for r in tab[tab.extreme].itertuples())
    text = (f"Hierarchical replicates (a new set of trusts drawn from the fitted hierarchy for each posterior draw, "
            f"then counts from the likelihood on each trust's own denominators) reproduce the spread, extremes and "
            f"interquartile range across trusts of every likelihood, and for SHMI the number of trusts outside the "
            f"plain Poisson 99.8% funnel. {n_ext} of {len(tab)} statistics have a posterior predictive p-value below "
            f"0.01 or above 0.99" + (f": {ext}." if n_ext else "."))
    return [Item("ppc", "Posterior predictive checks", text, table=_csv(tab.round(4), vd, "ppc"), figure="ppc_sd.png",
                 caption="Replicated SD across trusts (histogram) and the observed SD (red), per likelihood.",
                 passed=n_ext <= max(1, round(0.05 * len(tab))))]


def _variant_items(fits, cmp, vd, results) -> list[Item]:
    base = fits["base"]
    cb = compare.categories(base["tables"])
    rows = []
    for name, f in fits.items():
        ch = compare.category_changes(cb, compare.categories(f["tables"]))
        rows.append({"variant": name, "kind": "refit", "description": REFIT_VARIANTS[name].description,
                     **ch, **compare.headline_totals(f["tables"])})
    for name, v in SUMMARY_VARIANTS.items():
        cfg = merge(base["cfg"], v.overrides)
        t = summarise(base["idata"], base["data"], cfg)
        rows.append({"variant": name, "kind": "summary", "description": v.description,
                     **compare.category_changes(cb, compare.categories(t)), **compare.headline_totals(t)})
    df = pd.DataFrame(rows)
    df = df.merge(cmp[["variant", "elpd_loo", "elpd_diff", "dse"]], on="variant", how="left")
    results["variants"] = df.to_dict("records")
    best = cmp.iloc[0]
    gate_ok = {name: f["gate"].passed for name, f in fits.items()}
    converged = cmp[cmp.variant.map(gate_ok).fillna(False).astype(bool)]
    best_text = (f"The integrated LOO ranks {best.variant} first"
                 + ("." if gate_ok.get(best.variant) else
                    f", but its fit failed the convergence gate, so its LOO is not trustworthy; among converged fits "
                    f"{converged.iloc[0].variant if len(converged) else 'none'} ranks first."))
    lkj, fac = cmp.set_index("variant").reindex(["base", "factor"]).elpd_loo
    choice = ""
    if np.isfinite(fac) and base["cfg"]["quality"]["correlation"] == "lkj":  # else the two fits are one model
        d = float(lkj - fac)
        dse = float(cmp.set_index("variant").loc["factor" if d > 0 else "base", "dse"])
        choice = (f" LKJ-correlated effects against one latent factor: elpd difference {_fmt(d, 1)} (SE {_fmt(dse, 1)}) "
                  f"in favour of {'LKJ' if d > 0 else 'the factor'}"
                  + (", within two standard errors, so the data do not choose between them and the default stays LKJ, "
                     "which does not force one pattern of correlation." if abs(d) < 2 * dse else
                     ", more than two standard errors: the data prefer "
                     + ("LKJ, the default." if d > 0 else "the latent factor over the default LKJ structure.")))
    text = (f"Each refit variant changes one modelling choice; summary variants re-summarise the default fit. "
            f"{best_text}{choice} Columns `value_changed` and `mortality_changed` count "
            f"the trusts whose board category changes against the default (of {int(df.n_trusts.max())}).")
    return [Item("variants", "Variants: LOO and category changes", text,
                 table=_csv(df.drop(columns=["description"]).round(2), vd, "variants"),
                 extra={"best_by_loo": str(best.variant)})]


def _shmi_items(panel, base, vd, results) -> list[Item]:
    band, summ = agreement.banding_agreement(panel)
    agreement.plot_funnel(band, vd / "shmi_funnel.png")
    xt, per = agreement.cross_tab(band, base["tables"]["health_alpha"])
    _csv(per, vd, "shmi_agreement")
    results["shmi_banding"] = summ
    if summ["n_published"]:
        rep = (f"Re-banding with NHS Digital's method reproduces the published banding for {summ['n_match']} of "
               f"{summ['n_published']} trusts" + (f"; it differs for {', '.join(summ['mismatches'])}." if summ["mismatches"] else "."))
        passed = summ["n_match"] == summ["n_published"]
    else:
        rep = "This panel carries no published banding (synthetic data), so only the method is applied."
        passed = None
    agree = int(sum(xt.loc[a, b] for a, b in (("higher than expected", "higher than expected"),
                                               ("as expected", "as expected"), ("lower than expected", "lower than expected"))
                    if a in xt.index and b in xt.columns))
    text = (f"{rep} The overdispersion is estimated after trimming {summ['n_trimmed_low']} trusts at the low and "
            f"{summ['n_trimmed_high']} at the high end: tau^2 = {summ['tau2']:.5f}. Bands: "
            + ", ".join(f"{v} {k}" for k, v in summ["band_counts"].items()) +
            f". Against the Bayesian need-adjusted mortality category the two agree for {agree} of {int(xt.values.sum())} "
            f"trusts. They answer different questions: NHS Digital compares a trust with the national ratio and widens "
            f"its limits by one national overdispersion, with no adjustment for deprivation or peer group; the "
            f"Bayesian category asks whether mortality is credibly above or below the expectation for a trust of the "
            f"same peer group and need, and its interval carries only the trust's own uncertainty, so with thousands "
            f"of expected deaths it separates more trusts from their expectation.")
    xt_out = xt.reset_index().rename(columns={"nhs_band": "NHS Digital band"})
    return [Item("shmi", "Agreement with NHS Digital's SHMI banding", text, table=_csv(xt_out, vd, "shmi_crosstab"),
                 figure="shmi_funnel.png", caption="SHMI funnel with overdispersion-adjusted 95% and 99.8% limits.",
                 passed=passed, extra={**{k: v for k, v in summ.items() if k != "band_counts"}, "agree_with_bayes": agree})]


def _glmm_items(base, vd, results) -> list[Item]:
    from analysis.validation.glmm import run_glmm

    items = run_glmm(base["data"], base["idata"], vd)
    results["glmm"] = [it.extra for it in items]
    return items


def _prior_items(base, model, pw, vd, seed, results) -> list[Item]:
    pp = prior.prior_predictive(model, base["data"], n=200, seed=seed)
    n_out = int((~pp.inside_99).sum())
    items = [Item("prior_predictive", "Prior predictive check", (
        f"200 data sets simulated from the priors on the panel's structure. {len(pp) - n_out} of {len(pp)} observed "
        f"statistics lie inside the central 99% of their prior predictive distribution"
        + (": the priors allow the data." if n_out == 0 else
           f"; outside: {', '.join(f'{r.outcome} {r.statistic}' for r in pp[~pp.inside_99].itertuples())}.")),
        table=_csv(pp.round(4), vd, "prior_predictive"), passed=n_out == 0)]
    ld = prior.with_log_densities(base["idata"], model, np.concatenate([pw["conditional"], pw["cost"]], axis=1))
    ps = prior.power_scaling(ld)
    flagged = ps[ps.prior_sensitivity >= 0.05]
    results["power_scaling"] = {"n_flagged": int(len(flagged)),
                                "flagged": flagged[["prior_group", "quantity", "diagnosis"]].to_dict("records")}
    text = ("Each hyperprior group was power-scaled (ArviZ `psens`, log prior from PyMC) and the sensitivity of each "
            "posterior quantity measured; 0.05 is the conventional threshold. "
            + (f"{len(flagged)} group-quantity pairs exceed it: "
               + "; ".join(f"{r.prior_group} -> {r.most_sensitive} ({r.prior_sensitivity:.3f}, {r.diagnosis}; "
                           f"{r.n_sensitive} of {r.elements} elements at or above 0.05)" for r in flagged.itertuples()) + "."
               if len(flagged) else "No posterior quantity is sensitive to any hyperprior group."))
    items.append(Item("power_scaling", "Prior sensitivity (power-scaling)", text,
                      table=_csv(ps.round(4), vd, "power_scaling"),
                      passed=not (flagged.diagnosis == "prior-data conflict").any()))
    return items


def _sbc_items(panel, res, base, model, vd, reps, seed, quick, results, echo, engine, progress) -> list[Item]:
    from analysis.fitting import model_id

    if reps <= 0:
        return []
    cfg = merge(base["cfg"], {"sampler": SBC_QUICK_SAMPLER if quick else SBC_SAMPLER})
    echo(f"SBC: {reps} replications {engine.describe()}; each process compiles the model once "
         f"({cfg['sampler']['name']}) and refits it to every replication it runs")
    # finished replications are kept beside the variant fits, keyed by model id and SBC sampler settings, so an
    # interrupted run resumes (the validation directory itself is only written when every check has finished)
    key = model_id(panel, cfg)
    ckpt = res.sbc_checkpoint(key)
    ranks, diag = sbc.run_sbc(base["data"], model, None, cfg, reps=reps, seed=seed, echo=echo, checkpoint=ckpt,
                              engine=engine, panel=panel, key=key, progress=progress)
    unif = sbc.uniformity(ranks)
    v = sbc.verdict(unif)
    _csv(ranks, vd, "sbc_ranks")
    _csv(diag, vd, "sbc_replications")
    sbc.plot_ranks(ranks, unif, vd / "sbc_ranks.png")
    par = unif[unif.level == "parameter"].drop(columns=["level"])
    results["sbc"] = {**v, "reps": reps, "divergent_reps": int((diag.divergences > 0).sum()),
                      "median_seconds": float(diag.seconds.median())}
    text = (f"{reps} replications: hyperparameters drawn from the model's own prior, data simulated on the panel's "
            f"structure, the model refitted with {cfg['sampler']['name']} ({cfg['sampler']['chains']} chains x "
            f"{cfg['sampler']['draws']} draws; compiled once and refitted to each replication's data), and the rank "
            f"of each true value among 99 thinned posterior draws recorded. Pooled over each "
            f"parameter's elements, the smallest chi-square p-value is {v['min_p']:.4f} against a Bonferroni threshold "
            f"of {v['threshold']:.4f} ({v['n_parameters']} parameters)"
            + (f"; failing: {', '.join(v['failing'])}." if v["failing"] else ": ranks are consistent with uniform.")
            + (f" The fits above use {base['cfg']['sampler']['name']}; SBC uses {cfg['sampler']['name']}, which "
               f"compiles the model once instead of at every refit." if base["cfg"]["sampler"]["name"] !=
               cfg["sampler"]["name"] else "")
            + f" {results['sbc']['divergent_reps']} replications had divergent transitions; median "
            f"{results['sbc']['median_seconds']:.1f} s per replication."
            + (" Quick mode: short chains and too few replications to be evidence." if quick else
               f" Fewer than {MIN_SBC_REPS} replications: the test has little power, so no verdict is given."
               if reps < MIN_SBC_REPS else ""))
    verdict = False if quick else (v["passed"] if reps >= MIN_SBC_REPS else None)
    return [Item("sbc", "Simulation-based calibration", text, table=_csv(par.round(4), vd, "sbc_summary"),
                 figure="sbc_ranks.png", caption="SBC rank histograms per parameter, with the 99% band of a uniform "
                 "histogram.", passed=verdict, extra=results["sbc"])]
