"""The SVI value model: need-adjusted hierarchical Bayesian model of quality and cost.

Model building only (fitting lives in ``analysis/fitting.py``).

Quality block, for trust i, indicator k, peer group g = g(i) and standardised
need covariates x[i]::

    theta[i,k] = mu[g,k] + beta[k] . x[i] + u[i,k]
    mu[g,k]    ~ Normal(national centre[k], r[k])               (peer means, one per group; r from config [priors])
    u[i,:]     ~ MvNormal(0, diag(s[g]) R diag(s[g])),  s[g,k] = sd0[k] m[g,k]   (trust effects)
    R ~ LKJ(eta) ("lkj"),  or  R = lambda lambda' + diag(1 - lambda^2) (one latent quality factor, "factor")
    log m[g,k] ~ zero-sum normal over the peer groups reporting k, marginal SD s[k]  (peer-group-specific scale)

The log multipliers sum to zero across the peer groups with trusts reporting indicator k, so sd0[k] is the geometric
mean of their scales; a group reporting nothing has no scale of its own (specialist trusts: SHMI).  Without the
constraint a shift in log sd0 is undone by shifting every multiplier: the two are identified only through their
priors (figures: benchmarks/RESULTS.md).

The trust effects are centred or non-centred per peer group x indicator (config ``quality.trust_effects``,
"auto" by default; :func:`parameterisation`).  Most cells' denominators of 10^3 to 10^5 pin u[i,k] far more
tightly than its prior, where the centred form is the efficient one and the non-centred form couples every z[i]
to the scales (all cells non-centred: tree depth 9-10 and divergences on the synthetic panel); a group whose
trusts' data are weak against its plausible scale (real panel: multi-service x FFT, four trusts) is non-centred,
since there the centred form makes a funnel with the group's scale (Betancourt & Girolami 2015), and partially
non-centred where its data still carry weight.  The log multipliers are centred or non-centred per outcome by the
same rule one level up (config ``scale_multipliers``): centred where the groups' scales differ by clearly more than
their sampling error (real panel: RTT and A&E), non-centred elsewhere; the cost multipliers are non-centred in
the default config (``cost.scale_multipliers``: the rule's robust per-group scale is unreliable for a few trusts
under the Student-t likelihood; models/default.toml says why).
The need effects are sampled in QR coordinates of x (:func:`_need_effects`), since the need covariates correlate.

    SHMI observed deaths  ~ Poisson(E[i] exp(theta[i,shmi]))   (or negative binomial)
    RTT within 18 weeks, A&E within 4 hours, FFT positive ~ Binomial(n[i,k], logistic(theta[i,k]))

so a trust's effect u[i,k] shrinks toward its peer group's need-adjusted mean, with the amount of shrinkage
set by its own data and its peer group's spread.  With ``quality.period_noise = "estimated"`` a binomial
indicator's observed period is theta + eps, eps ~ Normal(0, tau^2 / M), marginalised into a beta-binomial
(models/indicators.py, Binomial): theta is then the long-run rate, and a trust's one-month deviation is shrunk by
about sigma^2 / (sigma^2 + tau^2 / M + v) instead of sigma^2 / (sigma^2 + v) (v: sampling variance), which is the
regression to the mean a single period implies.  Trusts missing an indicator contribute no likelihood term
for it, and (centred form) their effect for it is marginalised out of the model: it is NaN in the posterior.

Cost block, for cost outcome j (total, APC, outpatients, A&E)::

    y[i,j] = log(actual / expected cost) ~ StudentT(nu, mu_c[g,j] + beta_c[j] . x[i], sigma_c[g,j])

with peer means mu_c[g,j] ~ Normal(centre[j], r_c[j]) and the same peer-specific scale hierarchy on sigma_c.  The cost residual y - (mu_c + beta_c x) is the
trust's need-adjusted cost effect.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from models import indicators as registry
from models.config import SIZE_CLASSES, ConfigError, need_covariates_by_group  # noqa: F401  (re-exported)


@dataclass
class ModelData:
    """Arrays the model needs, derived from a panel and a config (no PyMC objects)."""

    trusts: pd.DataFrame            # org_code, org_name, region, size_class, peer_group
    peer_groups: list[str]
    g: np.ndarray                   # (N,) peer index
    need_names: list[str]
    x: np.ndarray                   # (N, P) standardised need
    need_mean: np.ndarray
    need_sd: np.ndarray
    indicators: list[str]           # names of models/indicators.py records
    y: np.ndarray                   # (N, K) successes / observed events (nan where missing)
    n: np.ndarray                   # (N, K) denominators; expected events for a poisson_oe indicator
    spells: np.ndarray              # (N,) exposure of the avoidable-events indicator (SHMI spells)
    cost_outcomes: list[str]
    cost_y: np.ndarray              # (N, J) log(actual/expected), nan where missing
    cost_actual: np.ndarray         # (N, J) GBP m
    cost_expected: np.ndarray       # (N, J) GBP m
    notes: list[str] = field(default_factory=list)
    need_mask: np.ndarray | None = None  # (N, P) whether covariate p applies to trust i (config need.by_group)

    @property
    def N(self) -> int:
        return len(self.trusts)

    @property
    def observed(self) -> np.ndarray:
        return ~np.isnan(self.y)

    def coords(self) -> dict:
        return {"trust": self.trusts.org_code.tolist(), "indicator": self.indicators, "indicator_": self.indicators,
                "peer": self.peer_groups,
                "need": self.need_names, "cost_outcome": self.cost_outcomes}


#: peer_groups.column value that puts every trust in one group: shrinkage toward the national need-adjusted mean
NATIONAL = "national"

#: need covariates computed from panel columns rather than read from one
DERIVED_COVARIATES = {
    # trust size: National Cost Collection expected cost, i.e. the trust's activity at national average prices
    "log_size": lambda p: np.log(p["ncc_expected_cost_total_gbp_m"].astype(float)),
}


def peer_assignment(panel: pd.DataFrame, cfg: dict) -> pd.Series:
    col = cfg["peer_groups"]["column"]
    if col == NATIONAL:
        return pd.Series(NATIONAL, index=panel.index)
    if col not in panel.columns:
        raise ValueError(f"peer_groups.column {col!r} is not a panel column")
    peer = panel[col].astype(str).copy()
    for code, grp in (cfg["peer_groups"].get("overrides") or {}).items():
        if code not in set(panel.org_code):
            raise ValueError(f"peer_groups.overrides: unknown trust code {code!r}")
        peer[panel.org_code == code] = grp
    return peer


def prepare(panel: pd.DataFrame, cfg: dict) -> ModelData:
    p = panel.sort_values("org_code").reset_index(drop=True)
    notes: list[str] = []
    peer = peer_assignment(p, cfg)
    groups = sorted(peer.unique())
    g = np.array([groups.index(v) for v in peer])

    need_names = list(cfg["need"]["covariates"])
    unknown = [c for c in need_names if c not in p.columns and c not in DERIVED_COVARIATES]
    if unknown:
        raise ValueError(f"need.covariates: {unknown} are neither panel columns nor derived covariates "
                         f"({sorted(DERIVED_COVARIATES)})")
    X = np.column_stack([DERIVED_COVARIATES[c](p) if c in DERIVED_COVARIATES else p[c].astype(float)
                         for c in need_names]) if need_names else np.zeros((len(p), 0))
    # which covariates apply to each trust (config need.by_group): each is standardised over the trusts it applies
    # to and is 0 (no need term) for the others, whose values then enter neither its effect nor its scale
    mask = need_mask(peer.to_numpy(), groups, cfg)
    x, mean, sd = standardise_need(X, mask, list(p.org_code), need_names, notes)

    inds = list(cfg["quality"]["indicators"])
    recs = registry.records(inds)
    absent = sorted({c for r in recs for c in r.columns if c not in p.columns})
    if absent:
        raise ValueError(f"quality.indicators {inds}: the panel has no column {absent}; build a panel that has "
                         f"them or drop the indicator from the config")
    y = np.full((len(p), len(inds)), np.nan)
    n = np.full((len(p), len(inds)), np.nan)
    for k, rec in enumerate(recs):
        y[:, k], n[:, k] = rec.counts(p)
    bad = np.isnan(y) | np.isnan(n) | (n <= 0)
    y[bad] = np.nan
    n[bad] = np.nan

    outs = list(cfg["cost"]["outcomes"])
    act = np.column_stack([p[registry.COST_OUTCOMES[j].actual].to_numpy(float) for j in outs])
    exp_ = np.column_stack([p[registry.COST_OUTCOMES[j].expected].to_numpy(float) for j in outs])
    with np.errstate(divide="ignore", invalid="ignore"):
        cy = np.log(act / exp_)
    cy[~np.isfinite(cy)] = np.nan
    trusts = p[["org_code", "org_name", "region", "size_class"]].assign(peer_group=peer.to_numpy())
    return ModelData(trusts, groups, g, need_names, x, mean, sd, inds, y, n, _exposure(p), outs, cy, act, exp_,
                     notes, mask)


def standardise_need(X: np.ndarray, mask: np.ndarray, codes: list[str], names: list[str],
                     notes: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, mean, sd): each need covariate standardised over the trusts it applies to (``mask``, from
    :func:`need_mask`) and 0 for the others; a missing value where it applies is set to 0 (the mean) and noted in
    ``notes``.  The one rule of the cross-section and the trend model."""
    Xa = np.where(mask, X, np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, sd = np.nanmean(Xa, 0), np.nanstd(Xa, 0, ddof=1)
    x = (X - mean) / sd
    for i, j in zip(*np.nonzero(np.isnan(x) & mask)):
        notes.append(f"{codes[i]}: {names[j]} missing; set to the mean of the trusts it applies to (x = 0)")
    x[~mask | np.isnan(x)] = 0.0
    return x, mean, sd


def need_mask(peer: np.ndarray, groups: list[str], cfg: dict) -> np.ndarray:
    """(N, P) whether need covariate p applies to trust i, from its peer group (config ``need.by_group``).

    A group named in ``need.by_group`` that is not a peer group of the panel is an error (a misspelt group would
    otherwise silently keep every covariate), as is a covariate that then applies to no trust (its effect would
    have no data)."""
    cov = list(cfg["need"]["covariates"])
    by = cfg["need"].get("by_group") or {}
    pg = cfg["peer_groups"]
    if pg["column"] == NATIONAL:  # one group: no group to set covariates for, every trust gets all of them
        return np.ones((len(peer), len(cov)), bool)
    # a group the panel does not have is fine when it is a size class or an override's group (a panel without
    # specialist trusts; the default [need.by_group] under another peer_groups.column); any other name is a
    # misspelling that would silently keep every covariate
    known = set(groups) | set((pg.get("overrides") or {}).values()) | set(SIZE_CLASSES)
    unknown = sorted(set(by) - known)
    if unknown:
        raise ConfigError(f"need.by_group: {unknown} not a peer group of this panel; its peer groups "
                          f"(peer_groups.column {pg['column']!r}) are {list(groups)}. Correct the group name or "
                          f"remove it from [need.by_group]")
    applies = need_covariates_by_group(groups, cfg)
    mask = np.array([[c in applies[gname] for c in cov] for gname in peer], bool).reshape(len(peer), len(cov))
    unused = [c for j, c in enumerate(cov) if not mask[:, j].any()]
    if unused:
        raise ConfigError(f"need.covariates {unused} apply to no trust under need.by_group; drop them from "
                          f"need.covariates or let a peer group use them")
    return mask


def _exposure(p: pd.DataFrame) -> np.ndarray:
    """(N,) exposure of the registered avoidable-events indicator (SHMI spells), NaN if there is none."""
    rec = next((r for r in registry.INDICATORS.values() if r.avoidable and r.exposure), None)
    if rec is None or rec.exposure not in p.columns:
        return np.full(len(p), np.nan)
    return p[rec.exposure].to_numpy(float)


def _empirical_centre(d: ModelData, k: int) -> float:
    ok = d.observed[:, k]
    return registry.get(d.indicators[k]).fam.centre(d.y[ok, k], d.n[ok, k])


def prior_centres(d: ModelData) -> dict[str, dict[str, float]]:
    """The national centres of the peer means' priors, as :func:`build_model` computes them from the data: per
    quality indicator (SHMI: log of all observed over all expected deaths; others: mean logit) and per cost
    outcome (mean log actual/expected cost)."""
    return {"quality": {ind: _empirical_centre(d, k) for k, ind in enumerate(d.indicators)},
            "cost": {out: float(np.nanmean(d.cost_y[:, j])) for j, out in enumerate(d.cost_outcomes)}}


def build_model(d: ModelData, cfg: dict, noncentred: np.ndarray | None = None,
                scales_centred: dict | None = None) -> pm.Model:
    """Build the PyMC model from prepared data and config.

    ``noncentred`` (G, K) overrides the config's choice of which peer group x indicator cells have non-centred
    trust effects (:func:`parameterisation`); the posterior is the same either way."""
    K, J, G, P = len(d.indicators), len(d.cost_outcomes), len(d.peer_groups), len(d.need_names)
    qcfg = cfg["quality"]
    with pm.Model(coords=d.coords()) as model:
        x = pm.Data("x", d.x, dims=("trust", "need"))
        # ---------------------------------------------------------------- quality
        centre = np.array([_empirical_centre(d, k) for k in range(K)])
        pr = cfg["priors"]
        scale = np.array([float(pr["quality_scale"][ind]) for ind in d.indicators])  # (K,) reference scales
        # peer-group means: one per group and indicator, weakly informative around the national centre, on each
        # indicator's own scale (config [priors]; justified there from published ranges).  Six groups
        # of 7-49 trusts identify them; a hierarchy over six means adds a barely identified variance and its
        # funnel (measured: tau ESS < 400 at 6,000 draws), and trusts shrink toward these peer means either way.
        mu = pm.Normal("mu", np.broadcast_to(centre, (G, K)), np.broadcast_to(scale, (G, K)),
                       dims=("peer", "indicator"))
        # no need covariates (a validation variant): the peer mean alone is the expectation
        beta = _need_effects("beta", d.x, scale / 2, "indicator") if P else pt.zeros((K, 0))
        param = parameterisation(d, cfg) if noncentred is None or scales_centred is None else None
        nc = noncentred if noncentred is not None else param["noncentred"]
        sc = scales_centred if scales_centred is not None else param["scales_centred"]
        if G > 1:
            s_scale = pm.HalfNormal("s_scale", float(pr["scale_variation"]), dims="indicator")
            # (G, K) peer scale multipliers, over the peer groups with trusts reporting each indicator
            mult = pt.exp(_log_multipliers("scale_dev", s_scale, _present(d.g, d.observed, G), sc["quality"],
                                           ("peer", "indicator")))
        else:
            # one group (national shrinkage): a multiplier would only rescale sd0, an unidentified product whose
            # funnel gave divergences (measured: 2 in the national variant)
            mult = pt.ones((1, K))
        if qcfg["correlation"] == "lkj":
            chol_r, corr, sd0 = pm.LKJCholeskyCov("chol", eta=qcfg["lkj_eta"], n=K,
                                                  sd_dist=pm.HalfNormal.dist(scale, shape=K), compute_corr=True)
            pm.Deterministic("sd0", sd0, dims="indicator")
            pm.Deterministic("corr", corr, dims=("indicator", "indicator_"))
            L_R = chol_r / sd0[:, None]  # Cholesky factor of the correlation matrix
        else:
            sd0 = pm.HalfNormal("sd0", scale, dims="indicator")
            # the anchor's loading is positive: flipping every sign leaves R unchanged (see config)
            anchor = np.array([ind == qcfg["factor_anchor"] for ind in d.indicators])
            lam = pm.Uniform("loading", np.where(anchor, 0.0, -1.0), 1.0, dims="indicator")
            R = pt.outer(lam, lam) + pt.diag(1 - lam**2)
            pm.Deterministic("corr", R, dims=("indicator", "indicator_"))
            L_R = pt.linalg.cholesky(R)
        sig = sd0 * mult  # (G, K) trust-effect scale of each peer group
        eta_lin = mu[d.g] + x @ beta.T  # (N, K) need-adjusted peer expectation
        # Trust effects: theta[i] ~ MvNormal(mu[g] + beta x[i], diag(sig[g]) R diag(sig[g])) over the cells trust i
        # reports; a missing indicator is marginalised out (the marginal of a multivariate normal is the normal with
        # the sub-covariance), so nothing is imputed.  Each (peer group, indicator) is centred or non-centred
        # (``parameterisation``): centred cells are parameters themselves, with the multivariate normal density as
        # the Potential "theta_prior"; a trust's non-centred cells are drawn from their exact conditional normal
        # given its centred cells, theta_N = eta_N + sig_N w_N with w_N = L_NC L_CC^-1 w_C + L_NN z, z ~ N(0, 1), L
        # the Cholesky factor of the correlation matrix with the centred indicators first (w: standardised effects).
        # The joint distribution is the same whichever cells are non-centred; only the sampler's geometry changes.
        # The observed cells are laid out block by block (one block per pattern of centred and non-centred
        # cells), so expectation and scale are gathered once as flat vectors: a few large operations instead of
        # many small indexed ones (the gradient is dominated by per-operation overhead, not arithmetic).
        nc = np.asarray(nc, float)  # True (1.0): non-centred; 0: centred; between: partially non-centred
        lay = _cell_layout(d.observed, nc[d.g] > 0)
        R = L_R @ L_R.T
        pieces = {}
        for part in ("C", "N"):
            rows, cols = lay[part]["rows"], lay[part]["cols"]
            cell = d.g[rows] * K + cols
            pieces[part] = (mu.flatten()[cell] + (pt.sum(x[rows] * beta[cols], axis=1) if P else 0.0),
                            sig.flatten()[cell])
        (eta_c, sig_c), (eta_n, sig_n) = pieces["C"], pieces["N"]
        theta_c = pm.Flat("theta_obs", shape=len(lay["C"]["rows"]))
        z = None
        if len(lay["N"]["rows"]):
            # partial non-centring: z ~ N(0, sig^(1 - a)) and z / sig^(1 - a) the standard normal draw, so the
            # trust effect moves with sig^a z (a = 1: non-centred; a -> 0: centred); the model is the same for any a
            power = 1.0 - nc[d.g[lay["N"]["rows"]], lay["N"]["cols"]]
            z_raw = pm.Normal("z", 0.0, sig_n**power if (power > 0).any() else 1.0, shape=len(lay["N"]["rows"]))
            z = z_raw / sig_n**power if (power > 0).any() else z_raw
        w_c = (theta_c - eta_c) / sig_c
        logp = -pt.sum(pt.log(sig_c)) - 0.5 * len(lay["C"]["rows"]) * np.log(2 * np.pi)
        w_n = []
        for b in lay["blocks"]:
            cC, cN, n_rows = b["cC"], b["cN"], b["n"]
            nC = len(cC)
            perm = np.concatenate([cC, cN])
            # Cholesky factor of the block's correlation matrix with its centred indicators first: with w = L e,
            # e ~ N(0, I), the centred cells' standardised effects are w_C = L_CC e_C and the non-centred ones
            # w_N = L_NC e_C + L_NN e_N, so e_C = L_CC^-1 w_C (needed for the centred density anyway) and e_N = z
            # give w_N exactly; the leading block L_CC is the Cholesky factor of R_CC.  The full pattern in natural
            # order is L_R itself; one indicator alone has factor 1.
            if len(perm) == 1:
                L_P = pt.ones((1, 1))
            elif len(perm) == K and (perm == np.arange(K)).all():
                L_P = L_R
            else:
                L_P = pt.linalg.cholesky(R[perm][:, perm])
            E_C = None
            if nC:
                W_C = w_c[b["startC"]:b["startC"] + n_rows * nC].reshape((n_rows, nC))
                if nC == 1:
                    E_C = W_C.T
                    logp += -0.5 * pt.sum(W_C**2)
                else:
                    L_CC = L_P[:nC, :nC]
                    E_C = pt.linalg.solve_triangular(L_CC, W_C.T, lower=True)
                    logp += -0.5 * pt.sum(E_C**2) - n_rows * pt.sum(pt.log(pt.diag(L_CC)))
            if len(cN):
                Z = z[b["startN"]:b["startN"] + n_rows * len(cN)].reshape((n_rows, len(cN)))
                W_N = pt.dot(Z, L_P[nC:, nC:].T)
                if nC:
                    W_N = W_N + pt.dot(L_P[nC:, :nC], E_C).T
                w_n.append(W_N.flatten())
        pm.Potential("theta_prior", logp)
        theta_n = eta_n + sig_n * (pt.concatenate(w_n) if len(w_n) > 1 else w_n[0]) if w_n else None
        # every observed cell, centred then non-centred; the likelihood gathers each indicator's cells straight from
        # this flat vector (a gather, not a scatter into an N x K matrix, on the gradient's path)
        cells = pt.concatenate([theta_c, theta_n]) if theta_n is not None else theta_c
        rows_all = np.concatenate([lay["C"]["rows"], lay["N"]["rows"]])
        cols_all = np.concatenate([lay["C"]["cols"], lay["N"]["cols"]])
        theta = pt.set_subtensor(pt.zeros((d.N, K))[rows_all, cols_all], cells)
        theta = pm.Deterministic("theta", pt.switch(d.observed, theta, np.nan), dims=("trust", "indicator"))
        pm.Deterministic("u", theta - eta_lin, dims=("trust", "indicator"))
        sigma = pm.Deterministic("sigma", sig, dims=("peer", "indicator"))
        for k, ind in enumerate(d.indicators):
            ok = np.nonzero(d.observed[:, k])[0]
            if len(ok) == 0:
                continue
            pos = np.nonzero(cols_all == k)[0]
            th = cells[pos[np.argsort(rows_all[pos], kind="stable")]]  # ordered by trust, as ``ok``
            # observed counts are Data, so the model can be refitted to simulated data (SBC) without rebuilding
            # it: ``analysis.fitting.with_data`` (nutpie's ``compiled.with_data``, or ``pm.set_data``)
            y_obs = pm.Data(f"y_{ind}", d.y[ok, k])
            rec = registry.get(ind)
            rec.fam.likelihood(rec, th, d.n[ok, k], y_obs, cfg)  # the record's family builds the term
        # ---------------------------------------------------------------- cost
        cobs = ~np.isnan(d.cost_y)
        ccentre = np.array([np.nanmean(d.cost_y[:, j]) for j in range(J)])
        cs = np.array([float(pr["cost_scale"][j]) for j in d.cost_outcomes])  # (J,) reference scales
        mu_c = pm.Normal("mu_c", np.broadcast_to(ccentre, (G, J)), np.broadcast_to(cs, (G, J)),
                         dims=("peer", "cost_outcome"))
        beta_c = _need_effects("beta_c", d.x, cs / 2, "cost_outcome") if P else pt.zeros((J, 0))
        sd0_c = pm.HalfNormal("sd0_c", cs, dims="cost_outcome")
        if G > 1:
            s_c = pm.HalfNormal("s_scale_c", float(pr["scale_variation"]), dims="cost_outcome")
            mult_c = pt.exp(_log_multipliers("scale_dev_c", s_c, _present(d.g, cobs, G), sc["cost"],
                                             ("peer", "cost_outcome")))
        else:  # one group: as for quality
            mult_c = pt.ones((1, J))
        sigma_c = pm.Deterministic("sigma_c", sd0_c * mult_c, dims=("peer", "cost_outcome"))
        nu_c = pm.Gamma("nu_c", float(pr["cost_nu_shape"]), float(pr["cost_nu_rate"]))
        m_c = pm.Deterministic("cost_expectation", mu_c[d.g] + x @ beta_c.T, dims=("trust", "cost_outcome"))
        for j, out in enumerate(d.cost_outcomes):
            ok = np.nonzero(cobs[:, j])[0]
            pm.StudentT(f"obs_cost_{out}", nu=nu_c, mu=m_c[ok, j], sigma=sigma_c[d.g[ok], j],
                        observed=pm.Data(f"y_cost_{out}", d.cost_y[ok, j]))
    return model


def _need_effects(name: str, x: np.ndarray, tau: np.ndarray, outcome_dim: str):
    """Need effects beta[k] ~ Normal(0, tau[k]^2 I), sampled in the coordinates of a QR decomposition of x.

    The need covariates are correlated (catchment deprivation and the Health Index: r about -0.9 on the real panel),
    so their effects are too (posterior r about 0.9 for every outcome), which a diagonal mass matrix cannot follow:
    the step size shrinks and the trees deepen.  With x = Q Rn (Q's columns orthogonal with unit variance, Rn upper
    triangular) the likelihood sees x beta = Q (Rn beta), so the sampler draws beta_q = Rn beta, whose likelihood
    is nearly uncorrelated, and beta = Rn^-1 beta_q is a Deterministic.  beta_q's prior is the image of beta's,
    MvNormal(0, tau^2 Rn Rn'), so the model (prior and posterior of beta) is unchanged (Stan User's Guide, "The QR
    reparameterization")."""
    P = x.shape[1]
    _, r = np.linalg.qr(x)
    rn = r / np.sqrt(max(len(x) - 1, 1))
    rn = rn * np.sign(np.diag(rn))[:, None]  # positive diagonal: a unique, sign-stable factor
    L = np.linalg.cholesky(rn @ rn.T)
    chol = tau[:, None, None] * L[None]  # (outcome, P, P)
    beta_q = pm.MvNormal(f"{name}_q", mu=np.zeros(P), chol=chol, dims=(outcome_dim, "need"))
    return pm.Deterministic(name, beta_q @ np.linalg.inv(rn).T, dims=(outcome_dim, "need"))


def _present(g: np.ndarray, observed: np.ndarray, G: int) -> np.ndarray:
    """(G, K) whether any trust of peer group g has outcome k."""
    return np.stack([observed[g == j].any(axis=0) for j in range(G)])


def _log_multipliers(name: str, s, present: np.ndarray, centred: np.ndarray, dims: tuple[str, str]):
    """(G, K) log peer-scale multipliers l[g, k]: for each outcome k, zero-sum over the G_k peer groups with data.

    l[., k] restricted to those groups is a zero-sum normal with marginal SD s[k] (sigma s[k] sqrt(G_k / (G_k - 1))
    on an orthonormal basis H_k of the sum-zero subspace), so sd0[k] is the geometric mean of their scales; a group
    with no trust reporting k has no scale of its own (l = 0: nothing in the model uses it), and an outcome reported
    by one group alone has none either.  Outcome k's basis coordinates are centred, r ~ Normal(0, s[k] c_k)
    (variable ``name``), where the groups' scales are well determined by their data, and non-centred,
    r = s[k] c_k e with e ~ Normal(0, 1) (``name``_z), where they are not (:func:`parameterisation`): either way
    the model is the same."""
    G, K = present.shape
    blocks = []
    for k in range(K):
        gk = np.nonzero(present[:, k])[0]
        if len(gk) < 2:
            continue
        ones = np.ones((len(gk), 1)) / np.sqrt(len(gk))
        H = np.linalg.qr(np.hstack([ones, np.eye(len(gk))[:, :-1]]))[0][:, 1:]  # orthonormal, columns sum to zero
        blocks.append((k, gk, H, np.sqrt(len(gk) / (len(gk) - 1))))
    raw, maps = [], []
    for want in (True, False):
        part = [b for b in blocks if bool(centred[b[0]]) is want]
        if not part:
            continue
        k_of = np.concatenate([np.full(b[2].shape[1], b[0]) for b in part])
        c_of = np.concatenate([np.full(b[2].shape[1], b[3]) for b in part])
        sd = s[k_of] * c_of
        if want:
            raw.append(pm.Normal(name, 0.0, sd, shape=len(k_of)))
        else:
            raw.append(sd * pm.Normal(f"{name}_z", 0.0, 1.0, shape=len(k_of)))
        M = np.zeros((G * K, len(k_of)))
        col = 0
        for k, gk, H, _ in part:
            M[gk * K + k, col:col + H.shape[1]] = H
            col += H.shape[1]
        maps.append(M)
    if not raw:
        return pt.zeros((G, K))
    flat = pt.dot(np.hstack(maps), pt.concatenate(raw) if len(raw) > 1 else raw[0])
    return pm.Deterministic(f"log_{name}", flat.reshape((G, K)), dims=dims)


def _cell_layout(observed: np.ndarray, noncentred: np.ndarray) -> dict:
    """Order of the observed (trust, indicator) cells: centred ones in ``theta_obs``, non-centred ones in ``z``.

    ``noncentred`` is (N, K): whether each trust's cell is non-centred.  Trusts are grouped into blocks with the
    same centred columns ``cC`` and non-centred columns ``cN`` (the complete pattern first); within a block the
    cells are laid out trust by trust.  Returns ``blocks`` [{n, cC, cN, startC, startN}] and, for ``"C"`` and
    ``"N"``, the ``rows``/``cols`` of each cell in that order.
    """
    K = observed.shape[1]
    nc = noncentred & observed
    key = np.concatenate([observed & ~nc, nc], axis=1)
    out = {"blocks": [], "C": {"rows": [], "cols": []}, "N": {"rows": [], "cols": []}}
    start = {"C": 0, "N": 0}
    for pattern in np.unique(key, axis=0)[::-1]:
        if not pattern.any():
            continue
        idx = np.nonzero((key == pattern).all(axis=1))[0]
        block = {"n": len(idx), "cC": np.nonzero(pattern[:K])[0], "cN": np.nonzero(pattern[K:])[0],
                 "startC": start["C"], "startN": start["N"]}
        for part, c in (("C", block["cC"]), ("N", block["cN"])):
            out[part]["rows"].append(np.repeat(idx, len(c)))
            out[part]["cols"].append(np.tile(c, len(idx)))
            start[part] += len(idx) * len(c)
        out["blocks"].append(block)
    for part in ("C", "N"):
        for key_ in ("rows", "cols"):
            v = out[part][key_]
            out[part][key_] = np.concatenate(v).astype(int) if v else np.zeros(0, int)
    return out


def sampling_variance(d: ModelData) -> np.ndarray:
    """(N, K) approximate sampling variance of each observed cell on the linear-predictor scale (NaN if missing):
    1 / observed deaths for SHMI's log(O/E), 1 / (n p (1 - p)) for a binomial logit, with half a count added so
    that 0 or n successes give a finite value (the record's family: models/indicators.py)."""
    y, n = d.y, d.n
    v = np.full(y.shape, np.nan)
    for k, ind in enumerate(d.indicators):
        ok = d.observed[:, k]
        v[ok, k] = registry.get(ind).fam.transform(y[ok, k], n[ok, k])[1]
    return v


def _empirical_effect(d: ModelData, k: int, rows: np.ndarray) -> np.ndarray:
    return registry.get(d.indicators[k]).fam.transform(d.y[rows, k], d.n[rows, k])[0]


def parameterisation(d: ModelData, cfg: dict) -> dict:
    """Which peer group x indicator cells get non-centred trust effects (config ``quality.trust_effects``).

    "centred" and "non_centred" apply to every cell.  "auto" decides each (peer group g, indicator k) from the
    strength of the group's data, since a trust effect's best parameterisation depends on whether its own data or
    its prior dominate it (Papaspiliopoulos, Roberts & Skold 2007; Betancourt & Girolami 2015):

    * the group's scale sigma[g,k] is estimated by moments, s^2 = max(0, var(observed effects) - mean sampling
      variance), and its low end is taken as s exp(-sqrt(2 / n)), n = trusts reporting (the approximate 2-SE lower
      bound of a log SD estimated from n values): a group with few trusts, or trusts much alike, can have a small
      scale, where a centred effect is pinned by its prior and forms a funnel with the scale;
    * the cell is non-centred when its trusts' median sampling variance v exceeds that low end squared, i.e. when at
      the smaller plausible scales the prior, not the data, would dominate the trusts' effects; a group with fewer
      than two trusts reporting, or no spread beyond sampling noise, is fully non-centred;
    * a non-centred cell whose data still carry weight is *partially* non-centred, with weight a = v / (v + s^2)
      (the prior's share of a typical effect's precision): the effect moves with sigma^a, between the centred
      (a = 0) and the non-centred (a = 1) forms (Papaspiliopoulos et al. 2007; Gorinova et al. 2020), since a fully
      non-centred effect with informative data makes the inverted funnel at large sigma.

    Returns ``noncentred`` (G, K) float (0 centred, a in (0, 1] non-centred with that weight), ``table`` (one row
    per cell: n trusts, median sampling SD, moment scale, low end, weight, choice), and for the peer-scale
    multipliers ``scales_centred`` {"quality": (K,), "cost": (J,)} bool and ``scale_table``."""
    G, K = len(d.peer_groups), len(d.indicators)
    mode = cfg["quality"].get("trust_effects", "auto")
    # a period shock (quality.period_noise) weakens each observation of the long-run theta as sampling error does
    V = sampling_variance(d) + np.array([registry.get(k).fam.period_variance(registry.get(k), cfg)
                                         for k in d.indicators])
    rows, nc = [], np.zeros((G, K))
    for g, name in enumerate(d.peer_groups):
        for k, ind in enumerate(d.indicators):
            idx = np.nonzero((d.g == g) & d.observed[:, k])[0]
            n = len(idx)
            med_v = float(np.median(V[idx, k])) if n else np.nan
            if n >= 2:
                s2 = max(0.0, float(np.var(_empirical_effect(d, k, idx), ddof=1) - np.mean(V[idx, k])))
                low = np.sqrt(s2) * np.exp(-np.sqrt(2.0 / n))
            else:
                s2, low = np.nan, np.nan
            if mode == "auto":
                if n < 2 or not s2 > 0:
                    nc[g, k] = 1.0
                elif med_v > low**2:  # the prior's share of a typical trust effect's precision
                    nc[g, k] = med_v / (med_v + s2)
            else:
                nc[g, k] = float(mode == "non_centred")
            rows.append({"peer_group": name, "indicator": ind, "n_trusts": n,
                         "median_sampling_sd": float(np.sqrt(med_v)) if n else np.nan,
                         "moment_scale": float(np.sqrt(s2)) if n >= 2 else np.nan,
                         "scale_low_end": float(low), "noncentring": round(float(nc[g, k]), 3),
                         "parameterisation": "non-centred" if nc[g, k] > 0 else "centred"})
    table = pd.DataFrame(rows)
    # each peer group's trust-effect / cost scale, and the sampling variance of its logarithm
    q_scale = table.moment_scale.to_numpy().reshape(G, K)
    q_var = np.full((G, K), np.nan)
    for g in range(G):
        for k in range(K):
            idx = np.nonzero((d.g == g) & d.observed[:, k])[0]
            s_ = q_scale[g, k]
            if len(idx) >= 2 and s_ > 0:  # delta method for the log of the moment estimate s^2 = var - mean(v)
                q_var[g, k] = (s_**2 + np.mean(V[idx, k]))**2 / (2 * (len(idx) - 1) * s_**4)
    J = len(d.cost_outcomes)
    cost_scale, cost_var = np.full((G, J), np.nan), np.full((G, J), np.nan)
    for g in range(G):
        for j in range(J):
            y = d.cost_y[d.g == g, j]
            y = y[~np.isnan(y)]
            if len(y) >= 2:  # robust (the cost likelihood is Student-t): 1.4826 MAD, log variance about 1.36 / n
                cost_scale[g, j] = 1.4826 * np.median(np.abs(y - np.median(y)))
                cost_var[g, j] = 1.36 / len(y)
    scales, srows = {}, []
    for block, sc_, var_, names, key in (("quality", q_scale, q_var, d.indicators, "quality"),
                                         ("cost", cost_scale, cost_var, d.cost_outcomes, "cost")):
        mode_s = cfg[key].get("scale_multipliers", "auto")
        out = np.zeros(len(names), bool)
        for k, name in enumerate(names):
            r = _scale_strength(sc_[:, k], var_[:, k])
            if isinstance(mode_s, (list, tuple)):  # the outcomes to centre, by name
                out[k] = name in mode_s
            else:
                out[k] = r["centred"] if mode_s == "auto" else mode_s == "centred"
            srows.append({"block": block, "outcome": name, **{k_: v for k_, v in r.items() if k_ != "centred"},
                          "parameterisation": "centred" if out[k] else "non-centred"})
        scales[block] = out
    return {"noncentred": nc, "table": table, "scales_centred": scales, "scale_table": pd.DataFrame(srows)}


def _scale_strength(scale: np.ndarray, var: np.ndarray) -> dict:
    """Whether the peer groups' scales of one outcome are determined by their data well enough for centred log
    multipliers: the trust effects' rule, one level up.  ``scale`` is each group's estimated scale and ``var`` the
    sampling variance of its logarithm (NaN where a group has under two trusts or no spread).  The spread of the log
    scales across groups is estimated by moments, s^2 = var(log scale) - mean(var), and its low end taken as
    s exp(-sqrt(2 / G)); the multipliers are centred when the groups' median sampling variance is below the low end
    squared (the data, not the scale-of-scales prior, place each group's scale) and non-centred otherwise, since a
    centred multiplier whose prior dominates makes a funnel with s."""
    ok = np.isfinite(var) & np.isfinite(scale) & (scale > 0)
    Gk = int(ok.sum())
    if Gk < 2:
        return {"n_groups": Gk, "log_scale_spread": np.nan, "median_log_sampling_sd": np.nan,
                "spread_low_end": np.nan, "centred": False}
    s2 = max(0.0, float(np.var(np.log(scale[ok]), ddof=1) - np.mean(var[ok])))
    low = np.sqrt(s2) * np.exp(-np.sqrt(2.0 / Gk))
    med = float(np.median(var[ok]))
    return {"n_groups": Gk, "log_scale_spread": float(np.sqrt(s2)), "median_log_sampling_sd": float(np.sqrt(med)),
            "spread_low_end": float(low), "centred": bool(s2 > 0 and med < low**2)}


#: parameters whose convergence the gate checks (derived quantities follow from these)
GATE_VARS = ("mu", "beta", "sd0", "s_scale", "sigma", "corr", "loading", "u", "mu_c", "beta_c", "sd0_c", "s_scale_c",
             "sigma_c", "nu_c")
