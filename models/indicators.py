"""Quality indicators and cost outcomes declared as data: one record each, in one registry.

A record says which panel columns an outcome reads, which likelihood family the model gives it, which direction is
better, its default prior reference scale and composite weight (both overridable in ``models/default.toml``), and
how it is labelled and shown (board label, short label, unit, Health Alpha as a ratio or in percentage points).
The model, the summaries, the validation, the claims, the reports and ``svi ask`` read these records instead of
testing an outcome's name; adding an indicator is one :func:`register` call plus the panel columns it reads (the
toy-indicator test in ``tests/models/test_indicators.py`` does exactly that).

A *family* holds everything that depends on the likelihood alone: the link, the empirical effect and its sampling
variance, the PyMC likelihood term, simulation from it, and its pointwise log-likelihood kind for LOO.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

# ------------------------------------------------------------------------------------------------- families


class Family:
    """A likelihood family of a quality indicator: ``y`` events (or successes) out of ``n`` (expected events or
    trials), with linear predictor ``theta``."""

    name = ""
    #: unit of a trust effect on the linear-predictor scale
    effect_unit = ""
    #: Health Alpha display: "ratio" (exp of the effect) or "points" (percentage points against expected)
    alpha = ""
    #: typical linear predictor (the trend model's simulation centre) and a typical share of ``n`` observed
    typical_centre = 0.0
    typical_share = 1.0
    #: whether the posterior predictive checks count trusts outside the Poisson 99.8% funnel (observed/expected)
    funnel = False

    def inverse_link(self, theta):
        raise NotImplementedError

    def centre(self, y: np.ndarray, n: np.ndarray) -> float:
        """National centre of the linear predictor from the observed cells (the prior's centre)."""
        raise NotImplementedError

    def transform(self, y, n):
        """(empirical effect, its approximate sampling variance) on the linear-predictor scale, half a count added
        so that 0 or n successes are finite."""
        raise NotImplementedError

    def reviewer_scale(self, y, n):
        """The scale a reviewer reads (posterior predictive checks)."""
        raise NotImplementedError

    def glmm_outcome(self, y, n):
        """(effect, sampling variance) for the frequentist GLMM check."""
        raise NotImplementedError

    def min_count(self, y, n):
        """The count where the normal approximation is weakest."""
        raise NotImplementedError

    def min_count_text(self, count: float, ind: "Indicator | None" = None) -> str:
        raise NotImplementedError

    def loglik_kind(self, ind: "Indicator", cfg: dict) -> str:
        """The pointwise log-likelihood of ``analysis.validation.loo.count_loglik``."""
        raise NotImplementedError

    def dispersion_var(self, ind: "Indicator") -> str | None:
        """Name of the model's dispersion parameter of this indicator, if the family has one."""
        return None

    def likelihood(self, ind: "Indicator", theta, n: np.ndarray, y_obs, cfg: dict) -> None:
        """Add the indicator's likelihood term ``obs_<name>`` to the PyMC model in context."""
        raise NotImplementedError

    def simulate(self, rng: np.random.Generator, n: np.ndarray, theta: np.ndarray, dispersion=None,
                 period_var: float = 0.0) -> np.ndarray:
        """Draw counts given the linear predictor (``dispersion``: the dispersion parameter's value, if any;
        ``period_var``: variance of the period shock added to theta, :meth:`period_variance`)."""
        raise NotImplementedError

    def period_variance(self, ind: "Indicator", cfg: dict) -> float:
        """Variance tau^2 / M of the period shock on the linear predictor (config ``quality.period_noise``); 0 when
        the family or the config has none."""
        return 0.0


class PoissonOE(Family):
    """Observed events against expected events: y ~ Poisson(E exp(theta)), or negative binomial (NB2, alpha =
    1 / phi^2) when the config key ``quality.<name>_likelihood`` is "negbin"; theta is log(O/E)."""

    name = "poisson_oe"
    effect_unit = "log rate ratio"
    alpha = "ratio"
    typical_centre = 0.0
    typical_share = 1.0
    funnel = True

    def inverse_link(self, theta):
        return np.exp(theta)

    def centre(self, y, n):
        return float(np.log(np.sum(y) / np.sum(n)))

    def transform(self, y, n):
        return np.log((y + 0.5) / n), 1.0 / (y + 0.5)

    def reviewer_scale(self, y, n):
        return np.log((y + 0.5) / n)

    def glmm_outcome(self, y, n):
        return np.log((y + 0.5) / n), 1 / (y + 0.5)

    def min_count(self, y, n):
        return y

    def min_count_text(self, count, ind: "Indicator | None" = None):
        return f"{count:,.0f} observed {ind.events if ind is not None and ind.events else 'deaths'}"

    @staticmethod
    def option(ind: "Indicator") -> str:
        """The config key (under [quality]) choosing Poisson or negative binomial."""
        return f"{ind.name}_likelihood"

    def loglik_kind(self, ind, cfg):
        return "negbin" if cfg["quality"].get(self.option(ind), "poisson") == "negbin" else "poisson"

    def dispersion_var(self, ind):
        return f"{ind.name}_inv_dispersion"

    def likelihood(self, ind, theta, n, y_obs, cfg):
        import pymc as pm
        import pytensor.tensor as pt

        rate = n * pt.exp(theta)
        if cfg["quality"].get(self.option(ind), "poisson") == "negbin":
            phi = pm.HalfNormal(self.dispersion_var(ind), 0.1)
            pm.NegativeBinomial(f"obs_{ind.name}", mu=rate, alpha=1 / phi**2, observed=y_obs)
        else:
            pm.Poisson(f"obs_{ind.name}", mu=rate, observed=y_obs)

    def simulate(self, rng, n, theta, dispersion=None, period_var=0.0):
        # an extreme prior draw (prior predictive checks) can ask for more deaths than numpy's Poisson can draw; the
        # cap is beyond any count a ratio statistic could distinguish
        lam = n * np.exp(np.minimum(theta, 700.0))
        if dispersion is not None:  # NB2 with alpha = 1 / phi^2: gamma-Poisson mixture
            a = 1 / dispersion**2
            lam = rng.gamma(a, lam / a)
        return rng.poisson(np.minimum(lam, 1e15))


#: the beta-binomial's log-gamma terms are taken in pairs, log Gamma(x + k) - log Gamma(x), by Stirling's series
#: through x^-5 written without the difference of two large numbers; valid when every x is at least 1 / tau^2 + 1/2,
#: so above this tau^2 the model falls back to PyMC's BetaBinomial.  Why: jax's log-gamma and digamma made the
#: period-noise option double the cost of a gradient, and a plain sum of log-gamma terms (PyMC's betaln too) loses
#: its precision at the extreme shapes warm-up can visit, with a large positive error that made a chain stick
#: (benchmarks/RESULTS.md, fifth session, "period noise on by default"; accuracy: tests/models/test_period_noise.py).
STIRLING_MAX_TAU2 = 0.1


def _lgamma_rise(x, k):
    """log Gamma(x + k) - log Gamma(x) for x >= 10, k >= 0, by Stirling's series without cancellation:
    (x - 1/2) log1p(k / x) + k log(x + k) - k + c(x + k) - c(x), c(x) = 1/(12x) - 1/(360x^3) + 1/(1260x^5)."""
    import pytensor.tensor as pt

    def c(z):
        r = 1.0 / z
        r2 = r * r
        return r * (1 / 12 - r2 * (1 / 360 - r2 / 1260))

    return (x - 0.5) * pt.log1p(k / x) + k * pt.log(x + k) - k + c(x + k) - c(x)


def _betabinom_logp(value, n, a, b):
    """BetaBinomial(n, a, b) log pmf (log C(n, value) depends on the data alone: the jax backend folds it)."""
    import pytensor.tensor as pt

    const = pt.gammaln(n + 1.0) - pt.gammaln(value + 1.0) - pt.gammaln(n - value + 1.0)
    return const + _lgamma_rise(a, value) + _lgamma_rise(b, n - value) - _lgamma_rise(a + b, n)


def _betabinom_random(n, a, b, rng=None, size=None):
    return rng.binomial(n, rng.beta(a, b, size=size), size=size)


class Binomial(Family):
    """Successes out of trials: y ~ Binomial(n, logistic(theta)); theta is the logit share.

    With period noise (config ``quality.period_noise = "estimated"``) theta is the trust's long-run logit and the
    observed period's is theta + eps, eps ~ Normal(0, tau^2 / M) (tau: the indicator's period-noise SD,
    ``quality.period_noise_sd``; M: independent months the figure averages, ``quality.period_months``).  eps is
    marginalised analytically: the logit-normal mixing distribution of the period's share is replaced by the beta
    distribution with the same logit mean and variance, so y ~ BetaBinomial(n, a, b) with
    a = 1 / ((1 - p) tau^2 / M) + 1/2 and b = 1 / (p tau^2 / M) + 1/2, p = logistic(theta).  The logit of a
    Beta(a, b) share has mean digamma(a) - digamma(b) and variance trigamma(a) + trigamma(b); with the half added,
    digamma(x + 1/2) = log x + O(x^-2) and trigamma(x + 1/2) = 1/x + O(x^-3), so the mean is theta and the variance
    tau^2 / M up to terms of order tau^4 (a, b are at least 1 / tau^2, about 50 for tau = 0.14; checked against the
    logit-normal mixture by quadrature in tests/models/test_period_noise.py).  No parameter is added, so the
    sampler's geometry is the plain binomial's with a wider likelihood; tau -> 0 recovers the binomial."""

    name = "binomial"
    effect_unit = "log odds ratio"
    alpha = "points"
    typical_centre = 0.6
    typical_share = 0.5

    def inverse_link(self, theta):
        return 1.0 / (1.0 + np.exp(-theta))

    def centre(self, y, n):
        r = np.clip(y / n, 1e-4, 1 - 1e-4)
        return float(np.mean(np.log(r / (1 - r))))

    def transform(self, y, n):
        p = (y + 0.5) / (n + 1.0)
        return np.log(p / (1 - p)), 1.0 / ((n + 1.0) * p * (1 - p))

    def reviewer_scale(self, y, n):
        from scipy import special

        return special.logit((y + 0.5) / (n + 1))

    def glmm_outcome(self, y, n):
        return np.log((y + 0.5) / (n - y + 0.5)), 1 / (y + 0.5) + 1 / (n - y + 0.5)

    def min_count(self, y, n):
        return np.minimum(y, n - y)

    def min_count_text(self, count, ind=None):
        return f"the smaller of events and non-events is {count:,.0f}"

    def loglik_kind(self, ind, cfg):
        return "betabinomial" if self.period_variance(ind, cfg) > 0 else "binomial"

    def period_variance(self, ind, cfg):
        q = cfg["quality"]
        if q.get("period_noise", "off") == "off":
            return 0.0
        return float(q["period_noise_sd"][ind.name]) ** 2 / float(q.get("period_months", {}).get(ind.name, 1))

    @staticmethod
    def beta_shapes(theta, tau2, xp=np):
        """(a, b) of the beta distribution whose logit has mean theta and variance tau2 (see the class)."""
        return (1 + xp.exp(theta)) / tau2 + 0.5, (1 + xp.exp(-theta)) / tau2 + 0.5

    def likelihood(self, ind, theta, n, y_obs, cfg):
        import pymc as pm

        tau2 = self.period_variance(ind, cfg)
        if tau2 > 0:
            import pytensor.tensor as pt

            a, b = self.beta_shapes(theta, tau2, pt)
            if tau2 > STIRLING_MAX_TAU2:
                pm.BetaBinomial(f"obs_{ind.name}", n=n.astype("int64"), alpha=a, beta=b, observed=y_obs)
            else:
                pm.CustomDist(f"obs_{ind.name}", n.astype("int64"), a, b, logp=_betabinom_logp,
                              random=_betabinom_random, dtype="int64", observed=y_obs)
        else:
            pm.Binomial(f"obs_{ind.name}", n=n.astype("int64"), logit_p=theta, observed=y_obs)

    def simulate(self, rng, n, theta, dispersion=None, period_var=0.0):
        theta = np.asarray(theta, float)
        if period_var > 0:  # the period's own logit: the long-run one plus its shock
            theta = theta + rng.normal(0.0, np.sqrt(period_var), theta.shape)
        return rng.binomial(np.asarray(n).astype(np.int64), 1 / (1 + np.exp(-theta)))


#: likelihood families of the quality indicators, by name
FAMILIES: dict[str, Family] = {f.name: f for f in (PoissonOE(), Binomial())}
#: the likelihood of every cost outcome: y = log(actual / expected cost) ~ StudentT(nu, mean, scale)
COST_FAMILY = "student_t_log_ratio"

# ------------------------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Indicator:
    """A quality indicator.  ``numerator`` is a panel column or a function of the panel (A&E: attendances minus
    those over 4 hours); ``denominator`` is trials (binomial) or expected events (poisson_oe)."""

    name: str
    family: str
    numerator: str | Callable
    denominator: str
    #: every panel column the record reads (the numerator's inputs where it is a function)
    columns: tuple[str, ...]
    higher_is_better: bool
    #: default prior reference scale on the linear-predictor scale and default composite weight (None: the config
    #: must give one); models/default.toml overrides both
    prior_scale: float | None
    weight: float | None
    label: str                          # board label: "RTT within 18 weeks"
    short: str                          # "RTT"
    unit: str                           # what the share or ratio counts
    #: longer label where the board documents name the indicator in prose (weights); default ``label``
    board_label: str = ""
    #: the Health Alpha row of the board documents, before the direction: "RTT: waiting under 18 weeks, ..."
    alpha_label: str = ""
    #: svi ask: the Health Alpha fact's label and the indicator's plain name
    ask_label: str = ""
    plain_name: str = ""
    #: figure label (two lines)
    figure_label: str = ""
    #: events and their exposure column, for the excess-events Health Alpha (events per 1,000 exposure units)
    events: str = ""
    exposure: str | None = None
    exposure_unit: str = ""
    #: whether this indicator's excess over the peer benchmark is the avoidable-events table (mortality)
    avoidable: bool = False
    #: why a trust has no value (board documents)
    missing_note: str = "not reported by this trust"
    #: svi ask: a regular expression (on lower-case text) of the words a question may use for this indicator, and
    #: of its names alone (when a question names one indicator, another's generic word does not decide)
    ask_words: str = ""
    ask_name: str = ""
    #: svi ask: weaker, generic words for this indicator ("backlog", "happy"), read only when no record's
    #: ``ask_words`` matches a question
    ask_hints: str = ""
    #: True: the indicator is not in the configured list but joins the model whenever the panel has its counts
    #: (its columns, with at least one trust reporting them), with the record's prior scale and weight
    #: (models.config.for_panel); a panel without them gives the model exactly as if the record did not exist
    when_present: bool = False
    #: months the panel's figure sums (the period-noise option's default M, ``quality.period_months``)
    period_months: int = 1

    # -------------------------------------------------------------- derived
    @property
    def fam(self) -> Family:
        return FAMILIES[self.family]

    @property
    def sign(self) -> float:
        """+1 where a higher trust effect is better, -1 where lower is better."""
        return 1.0 if self.higher_is_better else -1.0

    @property
    def effect_unit(self) -> str:
        return self.fam.effect_unit

    @property
    def alpha(self) -> str:
        return self.fam.alpha

    @property
    def alpha_measure(self) -> str:
        """The Health Alpha measure of the tables."""
        return f"{self.name}_ratio_to_expected" if self.alpha == "ratio" else f"{self.name}_pp_vs_expected"

    @property
    def alpha_reference(self) -> float:
        """The Health Alpha of a trust at its expectation."""
        return 1.0 if self.alpha == "ratio" else 0.0

    @property
    def alpha_unit(self) -> str:
        """The Health Alpha's unit in the tables, with the better direction."""
        if self.alpha == "ratio":
            return f"ratio (need-adjusted; {'>' if self.higher_is_better else '<'}1 better)"
        return f"percentage points ({better(self.higher_is_better)})"

    @property
    def alpha_scale(self) -> float:
        """Multiplier of the natural scale for display: 1 (ratio) or 100 (percentage points)."""
        return 1.0 if self.alpha == "ratio" else 100.0

    @property
    def better_phrase(self) -> str:
        """"below 1 is better" etc., for the Health Alpha in prose."""
        ref = "1" if self.alpha == "ratio" else "0"
        return f"{'above' if self.higher_is_better else 'below'} {ref} is better"

    @property
    def denominator_text(self) -> str:
        """The denominator in prose: "expected deaths" (observed against expected) or "denominator"."""
        return f"expected {self.events or 'events'}" if self.family == "poisson_oe" else "denominator"

    @property
    def excess_measure(self) -> str:
        return f"excess_{self.events}_per_1000_{self.exposure_unit}"

    def counts(self, panel) -> tuple[np.ndarray, np.ndarray]:
        """(numerator, denominator) as float arrays (NaN where missing)."""
        num = self.numerator(panel) if callable(self.numerator) else panel[self.numerator]
        return num.to_numpy(float), panel[self.denominator].to_numpy(float)


def better(higher_is_better: bool) -> str:
    """">0 better" or "<0 better": the direction of an effect measured against expectation."""
    return ">0 better" if higher_is_better else "<0 better"


@dataclass(frozen=True)
class CostOutcome:
    """A cost outcome: log(actual / expected) National Cost Collection cost of one setting (Student-t)."""

    name: str
    label: str
    prior_scale: float | None
    #: a panel column whose absence means the trust does not provide the setting (A&E cost without attendances)
    requires: str | None = None
    family: str = COST_FAMILY

    @property
    def actual(self) -> str:
        return f"ncc_actual_cost_{self.name}_gbp_m"

    @property
    def expected(self) -> str:
        return f"ncc_expected_cost_{self.name}_gbp_m"


# ------------------------------------------------------------------------------------------------- the registry

#: every quality indicator and cost outcome, by name (registration order is the default order)
INDICATORS: dict[str, Indicator] = {}
COST_OUTCOMES: dict[str, CostOutcome] = {}


def register(record: Indicator | CostOutcome, replace: bool = False) -> Indicator | CostOutcome:
    """Add a record to the registry; returns it.  Raises ValueError for a duplicate name (unless ``replace``) or an
    unknown family."""
    reg = INDICATORS if isinstance(record, Indicator) else COST_OUTCOMES
    if isinstance(record, Indicator) and record.family not in FAMILIES:
        raise ValueError(f"indicator {record.name!r}: unknown likelihood family {record.family!r}; "
                         f"known {sorted(FAMILIES)}")
    if record.name in reg and not replace:
        raise ValueError(f"{record.name!r} is already registered")
    reg[record.name] = record
    return record


def unregister(name: str, cost: bool = False) -> None:
    (COST_OUTCOMES if cost else INDICATORS).pop(name, None)


def get(name: str) -> Indicator:
    """The record of quality indicator ``name``."""
    try:
        return INDICATORS[name]
    except KeyError:
        raise KeyError(f"unknown quality indicator {name!r}; registered: {sorted(INDICATORS)}") from None


def records(names) -> list[Indicator]:
    return [get(n) for n in names]


def signs(names) -> np.ndarray:
    return np.array([get(n).sign for n in names])


def mortality_name() -> str | None:
    """The registered indicator whose excess is the avoidable-deaths table (SHMI), if any."""
    return next((n for n, r in INDICATORS.items() if r.avoidable), None)


def mortality_index(names) -> int | None:
    """Position in ``names`` of the indicator whose excess is the avoidable-deaths table, if any."""
    return next((k for k, n in enumerate(names) if get(n).avoidable), None)


def default_order() -> tuple[str, ...]:
    return tuple(INDICATORS)


# ------------------------------------------------------------------------------------------------- declarations

register(Indicator(
    "shmi", "poisson_oe", "shmi_observed_deaths", "shmi_expected_deaths",
    ("shmi_observed_deaths", "shmi_expected_deaths"), higher_is_better=False, prior_scale=0.15, weight=0.4,
    label="SHMI mortality", short="SHMI", unit="observed against expected deaths",
    alpha_label="SHMI mortality: ratio to need-adjusted expected",
    ask_label="need-adjusted mortality ratio (SHMI ratio to expected; below 1 is better)",
    plain_name="mortality (SHMI)", figure_label="SHMI mortality\n(ratio to expected)",
    events="deaths", exposure="shmi_spells", exposure_unit="spells", avoidable=True,
    missing_note="not published for this trust",
    ask_words=r"\bmortality\b|\bshmi\b|\bdeaths?\b|\bdying\b|\bdied\b|\bdeath rates?\b|\bfunnel\b",
    ask_name=r"\bshmi\b|\bmortality\b", ask_hints=r"\bsurviv\w*|\bdead\b|\bdie\b|\bfatal\w*"))
register(Indicator(
    "rtt", "binomial", "rtt_waiting_under_18w", "rtt_total_waiting", ("rtt_waiting_under_18w", "rtt_total_waiting"),
    higher_is_better=True, prior_scale=0.4, weight=0.2, label="RTT within 18 weeks", short="RTT",
    unit="% of patients waiting under 18 weeks",
    alpha_label="RTT: waiting under 18 weeks, percentage points vs expected",
    ask_label="RTT: patients waiting under 18 weeks, percentage points against expected",
    plain_name="waiting times (RTT, 18 weeks)", figure_label="RTT within 18 weeks\n(points vs expected)",
    ask_words=r"\brtt\b|\bwait(s|ing)?\b|\b18[- ]?weeks?\b|\breferral to treatment\b",
    ask_name=r"\brtt\b|\b18[- ]?weeks?\b|\breferral to treatment\b",
    ask_hints=r"\bbacklogs?\b|\bdelays?\b|\breferrals?\b"))
register(Indicator(
    "ae", "binomial", lambda p: p["ae_attendances"] - p["ae_over_4h"], "ae_attendances",
    ("ae_attendances", "ae_over_4h"), higher_is_better=True, prior_scale=0.6, weight=0.2,
    label="A&E within 4 hours", short="A&E", unit="% of attendances seen within 4 hours",
    alpha_label="A&E: seen within 4 hours, percentage points vs expected",
    ask_label="A&E: patients seen within 4 hours, percentage points against expected",
    plain_name="A&E (4 hours)", figure_label="A&E within 4 hours\n(points vs expected)",
    ask_words=r"\ba ?(&|and) ?e\b|\bemergency department\b|\b(4|four)[- ]hours?\b|\bcasualty\b|\bed\b",
    ask_name=r"\ba ?(&|and) ?e\b|\bemergency department\b|\b(4|four)[- ]h(ou)?rs?\b|\bcasualty\b"))
register(Indicator(
    "fft", "binomial", "fft_positive", "fft_responses", ("fft_positive", "fft_responses"), higher_is_better=True,
    prior_scale=0.6, weight=0.2, label="FFT positive", short="FFT", unit="% of responses positive",
    board_label="Friends and Family Test",
    alpha_label="Friends and Family Test positive, points vs expected",
    ask_label="Friends and Family Test: share positive, percentage points against expected",
    plain_name="patient experience (Friends and Family Test)", figure_label="FFT positive\n(points vs expected)",
    ask_words=r"\bfft\b|\bfriends and family\b|\bpatient experience\b|\bsatisfaction\b|\brecommend\b|"
              r"\bpatients think\b|\brate us\b|\bratings?\b",
    ask_name=r"\bfft\b|\bfriends and family\b|\bpatient experience\b",
    ask_hints=r"\bexperiences?\b|\bsatisf\w*|\bhappy\b|\bcomplain\w*|\brecommend\w*|\bpatients (say|feel)\b"))
# Cancer waiting-time standards (NHS England Cancer Waiting Times, provider x month): the cross-section reads the
# 28-day Faster Diagnosis Standard and the 62-day combined standard as binomials over financial year 2025/26, i.e.
# patients within the standard out of all patients, summed over the twelve months (analysis/trend/years.py
# cross_section_cancer: why a year and not the compiled three months).  Prior scales and weights: models/default.toml
# [priors] and [value], argued there; the records give the same defaults for a config that lists them without.
# The 31-day standard (decision to treat to treatment) is in the year panel only: it times the last leg of the
# pathway, which the 62-day standard includes for its patients, so the two would count the same delays twice; the
# 62-day standard spans referral to treatment, what the patient waits (config [quality] comment).  No defaults.
register(Indicator(
    "cancer_fds", "binomial", "cancer_fds_within", "cancer_fds_total", ("cancer_fds_within", "cancer_fds_total"),
    higher_is_better=True, prior_scale=0.5, weight=0.1, label="Cancer 28-day FDS", short="Cancer FDS",
    unit="% of patients told within 28 days of referral",
    board_label="cancer Faster Diagnosis Standard (told within 28 days)",
    alpha_label="Cancer Faster Diagnosis (28 days): told within 28 days, percentage points vs expected",
    ask_label="cancer Faster Diagnosis Standard: patients told within 28 days, percentage points against expected",
    plain_name="cancer diagnosis (28 days)",
    figure_label="Cancer FDS 28 days\n(points vs expected)",
    missing_note="no cancer waiting-times figures for this trust in the source",
    ask_words=r"\bfaster diagnosis\b|\bfds\b|\b28[- ]?days?\b|\bcancer diagnos[ie]s\b",
    ask_name=r"\bfaster diagnosis\b|\bfds\b|\b28[- ]?days?\b", period_months=12))
register(Indicator(
    "cancer_31d", "binomial", "cancer_31d_within", "cancer_31d_total", ("cancer_31d_within", "cancer_31d_total"),
    higher_is_better=True, prior_scale=None, weight=None, label="Cancer 31-day", short="31-day",
    unit="% of patients treated within 31 days of the decision to treat"))
register(Indicator(
    "cancer_62d", "binomial", "cancer_62d_within", "cancer_62d_total", ("cancer_62d_within", "cancer_62d_total"),
    higher_is_better=True, prior_scale=0.5, weight=0.1, label="Cancer 62-day", short="Cancer 62-day",
    unit="% of patients treated within 62 days of referral",
    board_label="cancer 62-day standard (treated within 62 days of referral)",
    alpha_label="Cancer 62-day: treated within 62 days, percentage points vs expected",
    ask_label="cancer 62-day standard: patients treated within 62 days, percentage points against expected",
    plain_name="cancer treatment (62 days)", figure_label="Cancer 62 days\n(points vs expected)",
    missing_note="no cancer waiting-times figures for this trust in the source",
    ask_words=r"\b62[- ]?days?\b|\bcancer treatment\b|\bcancer wait(s|ing)?\b",
    ask_name=r"\b62[- ]?days?\b|\bcancer treatment\b|\bcancer wait(s|ing)?\b", period_months=12))

# Emergency readmissions within 30 days of discharge (NHS Digital Compendium I02040, provider rows): observed against
# expected readmissions from NHS Digital's indirect standardisation, a Poisson rate like SHMI; lower is better.  The
# shared data have no readmissions file, so it is not in the configured list: it joins the model whenever the
# publication is in the download cache (when_present; models.config.for_panel).  Prior scale 0.15, SHMI's: no
# provider figures could be read offline, and the two are the same kind of quantity (indirectly standardised
# observed/expected of an outcome after a hospital spell); 2 SD spans ratios of about 0.74-1.35 (paper, section
# "Emergency readmissions"; check against the first real file).  Weight 0.2, as each indicator other than
# mortality: the composite divides by the weights of the indicators a trust reports (quality_weights in
# models/default.toml), so with readmissions SHMI carries 0.4 / 1.4 = 2/7 of the quality composite, each other
# indicator of weight 0.2 1/7 and each cancer standard 1/14; without it the weights are those of the default.
register(Indicator(
    "readmissions", "poisson_oe", "readmissions_observed", "readmissions_expected",
    ("readmissions_observed", "readmissions_expected"), higher_is_better=False, prior_scale=0.15, weight=0.2,
    label="Emergency readmissions (30 days)", short="Readmissions", unit="observed against expected readmissions",
    board_label="emergency readmissions within 30 days",
    alpha_label="Emergency readmissions within 30 days: ratio to need-adjusted expected",
    ask_label="need-adjusted emergency readmission ratio (below 1 is better)",
    plain_name="emergency readmissions", figure_label="Readmissions 30 days\n(ratio to expected)",
    events="readmissions", missing_note="not published for this trust, or suppressed (small numbers)",
    ask_words=r"\bre-?admi(ssion|tted|t)s?\b", ask_name=r"\bre-?admissions?\b", when_present=True))

register(CostOutcome("total", "All settings", 0.1))
register(CostOutcome("apc", "Admitted patient care", 0.15))
register(CostOutcome("op", "Outpatients", 0.15))
register(CostOutcome("ae", "A&E", 0.25, requires="ae_attendances"))
