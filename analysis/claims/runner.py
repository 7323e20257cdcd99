"""``svi claims``: fit (or reuse) the variants, re-test every claim, write ``claims/`` with its manifest."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from analysis import io, sources
from analysis.claims.draws import draws_from_idata, trust_frame
from analysis.claims.figures import figure_productivity, figure_sensitivity
from analysis.claims.scenarios import compute_claims
from analysis.claims.spec import ABOUT_FACTOR, AGAINST_P, CLAIMS, SUPPORT_P, VARIANTS_USED, verdict_rule_text
from analysis.claims.text import claim_text, jsonable, plain_table
from analysis.errors import DataError, SVIError
from analysis.manifest import Item, write_manifest
from analysis.results import ResultsDir


def find_data_dir(panel: pd.DataFrame, out: Path) -> Path | None:
    """The real data directory recorded in ``<out>/panel/manifest.json`` when it describes this very panel."""
    from analysis.panel import panel_hash

    m = ResultsDir(out).panel_manifest
    if not m.exists():
        return None
    try:
        doc = json.loads(m.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None
    if doc.get("kind") != "real" or not doc.get("data_dir") or doc.get("panel_hash") != panel_hash(panel):
        return None
    return Path(doc["data_dir"])


@dataclass
class ClaimsResult:
    table: pd.DataFrame
    regions: pd.DataFrame
    trusts: pd.DataFrame
    items: list[Item] = field(default_factory=list)
    directory: Path | None = None

    def headline(self) -> pd.DataFrame:
        return self.table[self.table.primary].reset_index(drop=True)


def _fit_variants(panel, out: Path, quick: bool, seed: int, echo, fits: dict | None, fit_missing: bool) -> dict:
    from analysis.variants import QUICK_SAMPLER, fit_cached, variant_config

    got = dict(fits or {})
    overrides = {"sampler": {**(QUICK_SAMPLER if quick else {}), "seed": seed}}
    for name in VARIANTS_USED:
        if name in got or not fit_missing:
            continue
        cfg = variant_config(name, overrides, panel=panel)
        fd = ResultsDir(out).variant(name)
        echo(f"[claims] variant {name}: fitting or reusing {fd.path}")
        idata, data, gate = fit_cached(panel, cfg, fd.path, echo=echo)
        got[name] = (idata, data, gate, cfg)
    return got


def run_claims(panel: pd.DataFrame, out: str | Path = "results", quick: bool = False, seed: int = 20260401,
               echo=print, data_dir: str | Path | None = None, fits: dict | None = None,
               fit_missing: bool = True) -> ClaimsResult:
    """Fit (or reuse) the base, national and no-need models, re-test every claim, print the table and write
    ``<out>/claims/`` (claims.csv, claims_regions.csv, claims_trusts.csv, two SVG figures, manifest.json).

    ``fits``: optional precomputed fits, variant name -> (idata, data, gate, cfg) (tests, notebooks); with
    ``fit_missing=False`` a variant that is not given is not fitted and its checks are reported as not run.
    ``data_dir``: the real data directory, for the MFF and operating-expenditure checks; by default the one
    recorded in ``<out>/panel/manifest.json`` when that manifest describes this panel.
    """
    out = Path(out)
    fits = _fit_variants(panel, out, quick, seed, echo, fits, fit_missing)
    if "base" not in fits:
        raise SVIError("claims need the base model fit")
    draws = {}
    for name, (idata, data, gate, cfg) in fits.items():
        draws[name] = draws_from_idata(idata, data, cfg, name, gate)
        if gate is not None and not gate.passed:
            echo(f"!! {name} fit FAILED the convergence gate: its rows are for diagnosis only")
    d_base = fits["base"][1]

    data_dir = Path(data_dir) if data_dir is not None else find_data_dir(panel, out)
    peer_finder, mff, mff_note = None, None, ""
    if data_dir is None:
        mff_note = ("MFF check not testable: no real data directory (the synthetic panel has no MFF values and the "
                    "panel's NCC costs are already MFF-adjusted).")
    else:
        try:
            peer_finder = sources.get("peer_finder").load(data_dir)
            mff = peer_finder.set_index("org_code")["mff"]
        except DataError as exc:
            mff_note = f"MFF check not testable: {exc}"
    t = trust_frame(d_base, mff)
    if mff is not None:
        miss = t["mff"].isna() & t["eligible"]
        if miss.any():
            fill = t.groupby("region")["mff"].transform("median")
            mff_note = (f"{int(miss.sum())} trusts without a Peer Finder MFF ({', '.join(t.org_code[miss])}; merged "
                        "after 2018) take their region's median MFF.")
            t.loc[miss, "mff"] = fill[miss]

    df, reg, tp, ctx = compute_claims(t, draws, seed=seed, peer_finder=peer_finder, mff_note=mff_note)
    gates = {n: (None if g is None else bool(g.passed)) for n, (_, _, g, _) in fits.items()}
    # the headline rests on the base fit: a failed base gate marks every item failed; a failed sensitivity fit is
    # flagged on its own rows (note) and in the method text
    base_passed = gates.get("base") is not False
    failed = [n for n, g in gates.items() if g is False]

    echo("")
    echo("Published claims re-tested (primary analysis; numbers are posterior medians and 95% intervals)")
    echo(plain_table(df))
    echo("")
    echo("Sensitivity checks")
    echo(plain_table(df[~df.primary], primary_only=False))
    if quick:
        echo("(--quick: short chains, a smoke test, not evidence)")

    items: list[Item] = []
    with io.atomic_dir(ResultsDir(out).claims_dir, owner="svi claims", legacy=lambda d: (d / "manifest.json").is_file()) as tmp:
        io.write_table(df, tmp / "claims", formats=("csv",))
        io.write_table(reg, tmp / "claims_regions", formats=("csv",))
        io.write_table(tp, tmp / "claims_trusts", formats=("csv",))
        figure_productivity(tp, ctx["agg"], tmp / "claims_productivity.svg")
        figure_sensitivity(df, tmp / "claims_sensitivity.svg")
        gate_text = "; ".join(f"{n}: {'passed' if g else ('FAILED' if g is False else 'not checked')}"
                              for n, g in gates.items())
        items.append(Item(
            "claims_method", "Re-testing published claims: measures and verdict rule",
            "\n".join([
                "Five published claims about English acute trusts are restated as posterior quantities of the value "
                "model fitted to the public panel.",
                "",
                "*Size* is NCC 2024/25 actual total cost (the only recent per-trust spend in the public data). "
                + ctx["size_text"],
                "",
                "*Productivity* is national-price activity per £ of actual cost (NCC expected / actual cost), "
                "need-adjusted by the cost model (each trust's expected cost multiplied by exp(x·β), the cost its "
                "catchment's deprivation, age and health predicts); a group's productivity is the spend-weighted "
                "aggregate. Size-class peer means are not removed, since size is what the claims are about "
                "(removing them is a sensitivity check). The quality-adjusted version is the value index.",
                "",
                "*Uncertainty*: the primary numbers concern the named trusts in the latest year, so their "
                "uncertainty is that of the need adjustment and of each trust's true SHMI rate; a Bayesian bootstrap "
                "over trusts adds the uncertainty about trusts of that size in general (small numbers).",
                "",
                "*Verdict rule.* " + verdict_rule_text(),
                "",
                f"Model fits (convergence gate): {gate_text}."
                + (f" Rows from a fit that failed the gate ({', '.join(failed)}) are shown for diagnosis only and "
                   "flagged in their notes." if failed else "")
                + (" Quick run: short chains, not evidence." if quick else "")]),
            table="claims.csv", figure="claims_sensitivity.svg",
            caption="Each claim under the primary analysis (red) and the sensitivity checks (blue): posterior "
                    "medians and 95% intervals (claims 1-3; dotted line: the claimed value) and posterior "
                    "probabilities (claims 4-5; dotted lines: the verdict thresholds).",
            passed=base_passed,
            extra=jsonable({"verdict_rule": {"support_p": SUPPORT_P, "against_p": AGAINST_P,
                                              "about_factor": ABOUT_FACTOR},
                             "gates": gates, "quick": quick, "seed": seed, "data_dir": None if data_dir is None
                             else str(data_dir)})))
        for claim in sorted(CLAIMS):
            text, extra = claim_text(claim, df, ctx.get(claim, {}))
            fig = cap = tab = None
            if claim == 1:
                fig, tab = "claims_productivity.svg", "claims_trusts.csv"
                cap = (f"Need-adjusted NCC cost index of each non-specialist acute trust against its spend; the "
                       f"{CLAIMS[1].k} largest in red.")
            if claim == 4 and len(reg):
                tab = "claims_regions.csv"
            items.append(Item(f"claim_{claim}", f"Claim {claim}: {CLAIMS[claim].short}", text, table=tab, figure=fig,
                              caption=cap, passed=None if base_passed else False, extra=extra))
        write_manifest(tmp, "svi claims", items, model_id=str(fits["base"][0].attrs.get("svi_model_id", "")))
    echo(f"claims written to {ResultsDir(out).claims_dir}")
    return ClaimsResult(df, reg, tp, items, ResultsDir(out).claims_dir)
