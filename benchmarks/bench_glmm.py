"""The GLMM agreement check on a saved fit, without refitting: per-group and national-tau GLMMs against the posterior.

    python benchmarks/bench_glmm.py --fit <results>/fit/posterior.nc --panel <results>/panel --out <new dir>

Runs :func:`analysis.validation.glmm.run_glmm` exactly as ``svi validate`` does (its tables, figure and the text
of its two manifest items go to ``--out``, which must not exist yet) and prints, per indicator, Pearson and Spearman
r between the posterior means of the trust effects and the BLUPs of the GLMM with one between-trust variance per
peer group (the check's verdict) and of the GLMM with one national variance (context).

Cross-check of the estimator: the per-group tau is also estimated by REML (the restricted likelihood of the same
model maximised over the vector of tau^2[g] with ``scipy.optimize``; what metafor's location-scale model
``rma(y ~ X, v, scale = ~ 0 + group)`` fits), and the r of its BLUPs printed beside, so the verdict can be seen not
to hang on Paule-Mandel.  The ModelData is prepared with the config saved in the fit; the model-id check is tried
first and skipped (with a note) when the saved fit was made by other model code.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import optimize, stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analysis.errors import FitMismatchError  # noqa: E402
from analysis.fitting import load_fit  # noqa: E402
from analysis.panel import read_panel  # noqa: E402
from analysis.validation import glmm  # noqa: E402
from models.config import load_config, merge  # noqa: E402
from models.value_model import prepare  # noqa: E402


def reml_groups(eff, var, X, grp, fixed: np.ndarray) -> np.ndarray:
    """REML tau^2 per group (groups with ``fixed`` not NaN held there): L-BFGS-B on the restricted log-likelihood."""
    G = len(fixed)
    free = np.isnan(fixed)

    def nll(t_free):
        t = fixed.copy()
        t[free] = t_free
        w = 1 / (var + t[grp])
        xtwx = X.T @ (X * w[:, None])
        b = np.linalg.solve(xtwx, X.T @ (w * eff))
        r = eff - X @ b
        return 0.5 * (np.sum(np.log(var + t[grp])) + np.linalg.slogdet(xtwx)[1] + np.sum(w * r**2))

    start = np.full(int(free.sum()), max(np.var(eff) - np.median(var), 0.01))
    res = optimize.minimize(nll, start, method="L-BFGS-B", bounds=[(0, None)] * int(free.sum()))
    out = fixed.copy()
    out[free] = res.x
    assert out.shape == (G,)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fit", required=True, help="a saved posterior.nc")
    ap.add_argument("--panel", required=True, help="the panel directory the fit was made from")
    ap.add_argument("--out", required=True, help="a new directory for the GLMM tables, figure and text")
    a = ap.parse_args()
    out = Path(a.out)
    if out.exists():
        sys.exit(f"{out} exists: give a new directory (this script does not overwrite)")
    panel = read_panel(a.panel)
    idata = load_fit(a.fit)
    cfg = load_config()
    saved = json.loads(idata.attrs.get("svi_config", "{}"))
    if saved:
        cfg = merge(cfg, saved)
    try:
        load_fit(a.fit, panel, cfg)
        print(f"model id {idata.attrs.get('svi_model_id')} matches the current code")
    except FitMismatchError as exc:
        print(f"note: model-id check skipped ({exc})")
    d = prepare(panel, cfg)
    out.mkdir(parents=True)
    items = glmm.run_glmm(d, idata, out)
    (out / "glmm_items.md").write_text("\n\n".join(f"## {it.title}\n\n{it.text}" for it in items))
    (out / "glmm_items.json").write_text(json.dumps({it.id: {"passed": it.passed, **it.extra} for it in items},
                                                    indent=1, default=str))
    te = items[0].extra

    # REML cross-check of the per-group variances (same fallbacks as Paule-Mandel)
    pg = glmm.fit_glmm(d, per_group=True)
    codes = d.trusts.org_code.tolist()
    u = idata.posterior["u"].sel(trust=codes, indicator=d.indicators).mean(("chain", "draw")).values
    reml_r, reml_gap = {}, {}
    for k, ind in enumerate(d.indicators):
        f = pg.fits[ind]
        X, _ = glmm.design(d, f.rows)
        grp = np.searchsorted([d.peer_groups.index(p) for p in f.peer_names], d.g[f.rows])
        t = reml_groups(f.eff, f.var, X, grp, np.where(f.group_own, np.nan, f.tau2))
        fit = glmm._wls(f.eff, f.var, X, t[grp])
        lam = t[grp] / (t[grp] + f.var)
        blup = lam * (f.eff - X @ np.asarray(fit.params))
        reml_r[ind] = (np.corrcoef(blup, u[f.rows, k])[0, 1], stats.spearmanr(blup, u[f.rows, k])[0])
        reml_gap[ind] = float(np.max(np.abs(np.sqrt(t) - np.sqrt(f.tau2_group))))

    print(f"\nverdict (per-group GLMM, r >= {glmm.MIN_CORRELATION}): {'PASS' if items[0].passed else 'FAIL'}")
    print("| indicator | Pearson r, per-group τ | Spearman, per-group τ | Pearson r, national τ | "
          "Spearman, national τ | Pearson r, per-group τ by REML | max abs(τ_REML - τ_PM) | "
          "national-τ fallback | no data |")
    print("|---|---|---|---|---|---|---|---|---|")
    for ind in d.indicators:
        print(f"| {ind} | {te['correlation'][ind]:.3f} | {te['spearman'][ind]:.3f} | "
              f"{te['national_correlation'][ind]:.3f} | {te['national_spearman'][ind]:.3f} | {reml_r[ind][0]:.3f} | "
              f"{reml_gap[ind]:.3f} | {te['fallback_groups'].get(ind, '')} | {te['absent_groups'].get(ind, '')} |")
    print(f"\nparameters item: {'PASS' if items[1].passed else 'FAIL'}; GLMM τ per group inside the peer-group "
          f"credible interval {items[1].extra['share_peer_sd_in_credible']:.0%} (national τ: "
          f"{items[1].extra['share_national_tau_in_peer_credible']:.0%}); written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
