"""The dynamic hierarchical model: each trust's effect on each indicator evolves over the financial years.

Model building only (fitting, trust-effect draws, movements and the backtest live in ``analysis/trend``).

For trust i in peer group g, indicator k, financial year t::

    z[i,k,t]  = observed logit share (SHMI: log observed/expected deaths), sampling variance v[i,k,t]
    z[i,k,t]  ~ Normal(theta[i,k,t], v[i,k,t] + tau[k]^2)
    theta     = mu[g,k,t] + beta[k] . x[i] + u[i,k,t]
    u[i,k,t]  = rho[k] u[i,k,t-1] + sigma[k] sqrt(1 - rho[k]^2) eps,   u[i,k,first] ~ Normal(0, sigma[k]^2)
    mu[g,k,t] = mu0[g,k] + M[k,t],   M[k,t] = M[k,t-1] + c[k,t],   c ~ Normal(0, s_c scale[k]),   M[k,first] = 0

* u is the trust's need-adjusted effect (its Health Alpha on the model scale): a stationary AR(1) around its peer
  group's mean for that year, with persistence rho[k] in (0, 1) and marginal SD sigma[k] estimated per indicator,
  so a trust's latest position borrows strength from its own history (through rho) and from its peers (through
  sigma); the lower rho, the more a year's effect is pulled back to the peer mean.
* tau[k] is year-level variation that does not persist (a bad winter, a data-quality month, case-mix noise
  beyond the binomial): without it a year's count with n = 100,000 would be read as a precise measure of the
  trust's underlying performance and every movement would look real (the board review found the intervals too
  narrow for this reason).  Movements are changes in u, not in z: year noise and sampling noise are removed, which
  is how the model separates real movement from regression to the mean (``analysis/trend/movements.py``).
* mu is the peer group's need-adjusted mean path: the group's level in the first year with data for k plus the
  national change since then, a random walk (centred); groups keep their offsets.  Group-specific steps
  (config ``priors.peer_steps``, non-centred, off by default) were estimated at a few hundredths of a logit on the
  real panel, below the national steps' tenths, and cost mixing (benchmarks/RESULTS.md).  In the year holding a
  series break and the year after, the national step has the wide prior of a level (config ``breaks``), so a
  definitional change moves the national level, not the trusts' effects.
* Indicators observed in one year only (SHMI here) enter in that year alone: no rho or tau (not identified), u is
  the cross-sectional trust effect.  Indicators are independent given the hyperparameters (no cross-indicator
  correlation of u: its estimation with varying missing patterns would need a multivariate state).

The likelihood is Gaussian on the logit (log) scale with the binomial (Poisson) sampling variance v: with the
annual denominators here (hundreds to hundreds of thousands) the normal approximation's error is far below tau.
That makes the model a linear Gaussian state-space model given the hyperparameters, so the trust states are
**integrated out exactly by a Kalman filter** (vectorised over trusts x indicators, a loop over the years): the
sampler sees only the hyperparameters and peer paths (a few hundred parameters instead of thousands of states
in a funnel with sigma), and the states' posterior is drawn afterwards, exactly, by forward filtering and
backward sampling (``analysis/trend/fit.py``).  Why this is fast, and its timing: benchmarks/RESULTS.md.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from models import indicators as registry
from models.config import ConfigError, merge

TREND_CONFIG = Path(__file__).with_name("trend.toml")


def sign(indicator: str) -> float:
    """+1 where a higher value is better, -1 where lower is (read from the record at call time, so an indicator
    registered after import counts too)."""
    return registry.get(indicator).sign
#: parameters the convergence gate checks (the states u are exact draws given these)
GATE_VARS = ("mu0", "beta", "sigma", "rho", "tau", "s_c_rel", "s_e", "M", "e_z", "mu", "s_h", "h_z")


def load_trend_config(path: str | Path | None = None, overrides: dict | None = None) -> dict:
    """models/trend.toml, overridden by the TOML file ``path`` (``--config``) and then by ``overrides``.  A missing or
    unreadable file, bad TOML, or a section or setting models/trend.toml does not have (a typo would otherwise be
    ignored silently) is a :class:`ConfigError` naming the file."""
    cfg = tomllib.loads(TREND_CONFIG.read_text())
    if path is not None:
        where = "models/trend.toml"
        if not Path(path).is_file():
            raise ConfigError(f"{path}: no such file (expected a TOML file overriding the dynamic model's settings)",
                              where)
        try:
            user = tomllib.loads(Path(path).read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}", where) from None
        # sections and their settings must be the dynamic model's; tables of named values inside a setting (scale,
        # weights, breaks, need.by_group) are maps and keep free keys
        unknown = [f"[{sec}]" for sec in user if sec not in cfg or not isinstance(cfg[sec], dict)]
        unknown += [f"[{sec}] {key}" for sec, tab in user.items() if isinstance(cfg.get(sec), dict)
                    and isinstance(tab, dict) for key in tab if key not in cfg[sec]]
        unknown += [f"[{sec}] (not a table)" for sec, tab in user.items() if isinstance(cfg.get(sec), dict)
                    and not isinstance(tab, dict)]
        if unknown:
            raise ConfigError(f"{path}: not a setting of the dynamic model: {', '.join(unknown)}", where)
        cfg = merge(cfg, user)
    if overrides:
        cfg = merge(cfg, overrides)
    from analysis.trend.years import INDICATOR_COLUMNS

    bad = [k for k in cfg["indicators"]["use"] if k not in INDICATOR_COLUMNS]
    if bad:
        raise ConfigError(f"indicators.use: unknown {bad}; known {list(INDICATOR_COLUMNS)}", "models/trend.toml")
    bad = [k for k in cfg["indicators"]["use"] if k not in cfg["priors"]["scale"]]
    if bad:
        raise ConfigError(f"priors.scale: no scale for {bad}", "models/trend.toml")
    if cfg["sampler"]["name"] not in ("numpyro", "nutpie", "pymc"):
        raise ConfigError("sampler.name must be 'numpyro', 'nutpie' or 'pymc'", "models/trend.toml")
    return cfg


@dataclass
class TrendData:
    trusts: pd.DataFrame          # org_code, org_name, region, size_class, peer_group
    peer_groups: list[str]
    g: np.ndarray                 # (N,)
    years: list[int]              # financial years (first calendar year), consecutive
    indicators: list[str]
    z: np.ndarray                 # (N, K, T) observed linear-predictor value, nan where missing
    v: np.ndarray                 # (N, K, T) sampling variance, nan where missing
    n: np.ndarray                 # (N, K, T) denominators (expected deaths for SHMI)
    y: np.ndarray                 # (N, K, T) numerators
    need_names: list[str]
    x: np.ndarray                 # (N, P)
    first: np.ndarray             # (K,) index of the first year with data
    last: np.ndarray              # (K,) index of the last year with data
    dynamic: np.ndarray           # (K,) bool: rho and tau estimated
    wide_step: np.ndarray         # (K, T) bool: national change at t has the wide (series-break) prior
    notes: list[str] = field(default_factory=list)

    @property
    def obs(self) -> np.ndarray:
        return ~np.isnan(self.z)

    @property
    def shape(self):
        return self.z.shape

    def coords(self) -> dict:
        return {"trust": self.trusts.org_code.tolist(), "indicator": self.indicators, "peer": self.peer_groups,
                "year": self.years, "need": self.need_names}


def transform(y: np.ndarray, n: np.ndarray, indicator: str) -> tuple[np.ndarray, np.ndarray]:
    """Observed value and its sampling variance on the linear-predictor scale, half a count added so that 0 or n
    successes are finite: logit share and 1/(n p (1-p)); SHMI log(O/E) and 1/O."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return registry.get(indicator).fam.transform(y, n)


def inverse(z, indicator: str):
    """Linear predictor -> the indicator's natural scale (share; SHMI: ratio)."""
    return registry.get(indicator).fam.inverse_link(z)


def break_steps(years: list[int], indicators: list[str], cfg: dict) -> np.ndarray:
    from analysis.trend.years import fy_start

    out = np.zeros((len(indicators), len(years)), bool)
    for k, ind in enumerate(indicators):
        month = (cfg["indicators"].get("breaks") or {}).get(ind)
        if month:
            y = int(fy_start(pd.Series([month])).iloc[0])
            for t, yr in enumerate(years):
                out[k, t] = yr in (y, y + 1)
    return out


def prepare(panel: pd.DataFrame, cfg: dict, years: list[int] | None = None) -> TrendData:
    """Arrays for the model from a year panel (``analysis.trend.years``); ``years`` restricts (backtest) or extends
    the grid (default: every year of the panel)."""
    from analysis.trend.years import indicator_counts

    inds = list(cfg["indicators"]["use"])
    p = panel.sort_values(["org_code", "year"]).reset_index(drop=True)
    years = sorted(p["year"].unique()) if years is None else list(years)
    p = p[p["year"].isin(years)]
    codes = sorted(p["org_code"].unique())
    first_rows = p.drop_duplicates("org_code").set_index("org_code").loc[codes].reset_index()
    col = cfg["peer_groups"]["column"]
    peer = pd.Series("national", index=first_rows.index) if col == "national" else first_rows[col].astype(str)
    groups = sorted(peer.unique())
    g = np.array([groups.index(v) for v in peer])
    N, K, T = len(codes), len(inds), len(years)
    iy = {c: i for i, c in enumerate(codes)}
    ty = {y: t for t, y in enumerate(years)}
    rows = p["org_code"].map(iy).to_numpy()
    cols = p["year"].map(ty).to_numpy()
    z = np.full((N, K, T), np.nan)
    v, nn, yy = z.copy(), z.copy(), z.copy()
    for k, ind in enumerate(inds):
        yk, nk = indicator_counts(p, ind)
        zk, vk = transform(yk, nk, ind)
        ok = np.isfinite(zk) & np.isfinite(vk)
        for arr, val in ((z, zk), (v, vk), (nn, nk), (yy, yk)):
            arr[rows[ok], k, cols[ok]] = val[ok]
    has = ~np.isnan(z)
    anyk = has.any(axis=0)  # (K, T)
    empty = [ind for k, ind in enumerate(inds) if not anyk[k].any()]
    if empty:
        raise ConfigError(f"indicators.use: no data for {empty} in years {years[0]}-{years[-1]}")
    first = np.array([np.nonzero(anyk[k])[0][0] for k in range(K)])
    last = np.array([np.nonzero(anyk[k])[0][-1] for k in range(K)])
    nyears = anyk.sum(axis=1)
    dynamic = nyears >= int(cfg["indicators"].get("min_years_dynamic", 3))
    need = list(cfg["need"]["covariates"])
    X = first_rows[need].to_numpy(float) if need else np.zeros((N, 0))
    notes = []
    if need:
        # the cross-section's rule (need.by_group): a covariate is standardised over the trusts it applies to and
        # is 0 for the others, so a specialist trust's path is compared with its peer mean alone
        from models.value_model import need_mask, standardise_need

        X, _, _ = standardise_need(X, need_mask(peer.to_numpy(), groups, cfg), codes, need, notes)
    for k, ind in enumerate(inds):
        if not dynamic[k]:
            notes.append(f"{ind}: {int(nyears[k])} year(s) with data: enters in that year alone (no persistence "
                         "or year-level noise estimated)")
    trusts = first_rows[["org_code", "org_name", "region", "size_class"]].assign(peer_group=peer.to_numpy())
    return TrendData(trusts, groups, g, years, inds, z, v, nn, yy, need, X, first, last, dynamic,
                     break_steps(years, inds, cfg), notes)


def step_layout(d: TrendData) -> dict:
    """The random-walk steps of the peer paths: for indicator k, the years first[k]+1 .. last[k].  Returns flat index arrays of the national steps (k, t) and the peer
    steps (g, k, t) over the groups with data for k."""
    K, T = len(d.indicators), len(d.years)
    present = np.stack([d.obs[d.g == j].any(axis=(0, 2)) for j in range(len(d.peer_groups))])  # (G, K)
    # one step per pair of consecutive years with data (a gap of years without data is one step whose variance
    # sums the years': their levels are unobserved, and as parameters they formed a funnel with s_c)
    seen = d.obs.any(axis=0)  # (K, T)
    nat = [(k, t) for k in range(K) for t in range(d.first[k] + 1, d.last[k] + 1) if seen[k, t]]
    peer = [(j, k, t) for (k, t) in nat for j in range(len(d.peer_groups)) if present[j, k]]
    return {"nat": np.array(nat, int).reshape(-1, 2), "peer": np.array(peer, int).reshape(-1, 3),
            "present": present}


def kalman_loglik(resid, R, obs, sigma, rho, lib=pt, vol=None):
    """Log-likelihood of a stationary AR(1) state observed with noise, summed over series.  ``resid`` (N, K, T):
    observation minus the peer/need expectation; ``R`` (N, K, T) observation variance; ``obs`` (N, K, T) bool;
    ``sigma``, ``rho`` (K,).  ``vol`` (K, T), optional: multiplier of the innovation variance of the step into year
    t (priors.volatility_step).  Works with pytensor (model) and numpy (checks).

    ``resid`` and ``R`` must be finite, and ``R`` positive, where nothing is observed (the model fills 0 and 1): an
    unobserved cell is switched off by multiplying with the constant 0/1 mask, not by ``where``.  This form, with
    the years that observe nothing reduced to the prediction step (and skipped before the first observation
    when the innovation variance is constant: the state is then at its stationary prior), gives the same log
    density and gradient as the earlier ``where`` form (tests/analysis/trend/test_trend_logp_reference.py) at a
    much lower cost per gradient under JAX's autodiff, which numpyro uses (benchmarks/RESULTS.md, sixth session)."""
    obs = np.asarray(obs, bool)
    if lib is np:
        resid, R = np.where(obs, resid, 0.0), np.where(obs, R, 1.0)
    T = obs.shape[-1]
    q = sigma**2 * (1 - rho**2)
    a, P = None, None  # None: the stationary prior (mean 0, variance sigma^2), not yet moved
    acc = 0.0
    for t in range(T):
        o = obs[..., t]
        if a is None and vol is None and not o.any():
            continue  # from the stationary prior, a constant-variance prediction step returns the same prior
        if a is None:
            a, P = lib.zeros(obs.shape[:2]), sigma**2 * np.ones(obs.shape[:2])
        if o.any():
            w = o.astype(float)
            S = P + R[..., t]
            iS = 1.0 / S
            e = resid[..., t] - a
            acc = acc + w * (lib.log(S) + e**2 * iS)
            Kg = w * P * iS
            a, P = a + Kg * e, P - Kg * P
        if t + 1 < T:
            a, P = rho * a, rho**2 * P + (q if vol is None else q * vol[..., t + 1])
    return -0.5 * (lib.sum(acc) + np.log(2 * np.pi) * obs.sum())


def build_model(d: TrendData, cfg: dict) -> pm.Model:
    N, K, T = d.shape
    G, P = len(d.peer_groups), len(d.need_names)
    pr = cfg["priors"]
    scale = np.array([float(pr["scale"][ind]) for ind in d.indicators])
    lay = step_layout(d)
    with pm.Model(coords=d.coords()) as model:
        # peer means in each indicator's first year, around the empirical national centre of that year
        centre = np.array([np.nanmean(d.z[:, k, d.first[k]]) for k in range(K)])
        mu0 = pm.Normal("mu0", np.broadcast_to(centre, (G, K)), np.broadcast_to(scale, (G, K)),
                        dims=("peer", "indicator"))
        if P:
            from models.value_model import _need_effects

            beta = _need_effects("beta", d.x, scale / 2, "indicator")
        else:
            beta = pt.zeros((K, 0))
        sigma = pm.HalfNormal("sigma", scale, dims="indicator")
        kd = np.nonzero(d.dynamic)[0]
        rho = pt.full((K,), 0.5)  # placeholder where not dynamic: with one year rho does not enter the likelihood
        tau = pt.zeros((K,))
        if len(kd):
            rho_k = pm.Beta("rho", float(pr["rho_a"]), float(pr["rho_b"]), shape=len(kd))
            tau_k = pm.HalfNormal("tau", scale[kd] * float(pr["tau"]), shape=len(kd))
            rho = pt.set_subtensor(rho[kd], rho_k)
            tau = pt.set_subtensor(tau[kd], tau_k)
        # peer paths: mu[g,k,t] = mu0[g,k] + M[k,t] (+ peer-specific steps if configured).  M is the national
        # change since the first year, a centred random walk (M = 0 in the first year): every trust's data inform
        # it (posterior SD a few hundredths of a logit against steps of tenths), where the centred form samples
        # best; written as cumulative sums of standardised steps it correlated mu0 with every step (ESS 16 in a
        # first version; benchmarks/RESULTS.md).
        steps = pt.zeros((G, K, T))
        nat, peer = lay["nat"], lay["peer"]
        if len(nat):
            ks = np.unique(nat[:, 0])
            # one relative step SD for every indicator, s_c[k] = s_c_rel scale[k]: with one or two ordinary steps an
            # indicator's own s_c could shrink toward 0 below its steps' posterior SD, where the centred steps form a
            # funnel with it (60 divergences on the real panel; benchmarks/RESULTS.md); pooled, 10-15 steps set it
            s_c_rel = pm.HalfNormal("s_c_rel", float(pr["national_step"]))
            s_c = pm.Deterministic("s_c", s_c_rel * scale[ks])
            s_c_full = pt.zeros((K,))
            s_c_full = pt.set_subtensor(s_c_full[ks], s_c)
            seen = d.obs.any(axis=0)
            prev_t = np.array([max(u for u in range(t) if seen[k, u]) for k, t in nat])
            n_wide = np.array([d.wide_step[k, p + 1:t + 1].sum() for (k, t), p in zip(nat, prev_t)])
            n_plain = (nat[:, 1] - prev_t) - n_wide
            c_var = n_wide * scale[nat[:, 0]] ** 2 + n_plain * s_c_full[nat[:, 0]] ** 2
            M_flat = pm.Flat("M", shape=len(nat))
            M = pt.zeros((K, T))
            M = pt.set_subtensor(M[nat[:, 0], nat[:, 1]], M_flat)
            # Normal steps by default; priors.national_step_df > 0 makes them Student-t (a COVID-size year is then a
            # tail event, not a reason for a wide s_c in every year: benchmarks/RESULTS.md, 2026-12-03)
            df = float(pr.get("national_step_df", 0) or 0)
            step = pm.StudentT.dist(nu=df, mu=0.0, sigma=pt.sqrt(c_var)) if df > 0 else \
                pm.Normal.dist(0.0, pt.sqrt(c_var))
            pm.Potential("M_prior", pm.logp(step, M_flat - M[nat[:, 0], prev_t]).sum())
            # years without data keep the level of the last year with data (nothing observes them)
            for k in range(K):
                for t in range(d.first[k] + 1, T):
                    if not seen[k, t]:
                        M = pt.set_subtensor(M[k, t], M[k, t - 1])
            steps = steps + pt.concatenate([M[:, :1], M[:, 1:] - M[:, :-1]], axis=1)[None]
            pm.Deterministic("national_change", M, dims=("indicator", "year"))
        if len(peer) and cfg["priors"].get("peer_steps", False):
            kp = np.unique(peer[:, 1])
            s_e = pm.HalfNormal("s_e", scale[kp] * float(pr["peer_step"]), shape=len(kp))
            s_e_full = pt.zeros((K,))
            s_e_full = pt.set_subtensor(s_e_full[kp], s_e)
            e = pm.Normal("e_z", 0.0, 1.0, shape=len(peer)) * s_e_full[peer[:, 1]]
            steps = pt.set_subtensor(steps[peer[:, 0], peer[:, 1], peer[:, 2]],
                                     steps[peer[:, 0], peer[:, 1], peer[:, 2]] + e)
        mu = pm.Deterministic("mu", mu0[:, :, None] + pt.cumsum(steps, axis=2), dims=("peer", "indicator", "year"))
        expect = mu[d.g] + (pt.dot(pm.Data("x", d.x, dims=("trust", "need")), beta.T)[:, :, None] if P else 0.0)
        obs = d.obs
        z = np.where(obs, d.z, 0.0)
        R = np.where(obs, d.v, 1.0) + tau[None, :, None] ** 2
        resid = z - expect
        vol = None
        s_h_prior = float(pr.get("volatility_step", 0) or 0)
        if s_h_prior > 0 and len(kd):
            # the trust effects' innovation variance may drift from year to year (a random walk of its log, shared
            # by the trusts of an indicator, 0 at the first step): the backtest found the relative forecasts too
            # wide where trusts moved less in recent years than in the COVID years (benchmarks/RESULTS.md)
            s_h = pm.HalfNormal("s_h", s_h_prior)
            steps_h = np.zeros((K, T), bool)
            for k in kd:
                steps_h[k, d.first[k] + 2:] = True  # the step into first+1 is the reference (log 0)
            idx = np.argwhere(steps_h)
            # non-centred: centred, the backtest's fits diverged more (years without data leave steps uninformed)
            eta = pm.Normal("h_z", 0.0, 1.0, shape=len(idx))
            inc = pt.zeros((K, T))
            inc = pt.set_subtensor(inc[idx[:, 0], idx[:, 1]], s_h * eta)
            h = pm.Deterministic("h", pt.cumsum(inc, axis=1), dims=("indicator", "year"))
            vol = pt.exp(h)
        pm.Potential("loglik", kalman_loglik(resid, R, obs, sigma[None, :], rho[None, :], vol=vol))
    return model
