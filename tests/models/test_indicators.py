"""The indicator registry (models/indicators.py): records, registration, config defaults, and the rule that no code
outside the registry tests an indicator's name."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

from models import indicators as registry
from models.config import DEFAULT_CONFIG, ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]
#: code that may compare indicator names: the registry itself (tests are not scanned)
ALLOWED = {REPO / "models" / "indicators.py"}


def _name_comparison() -> re.Pattern:
    """A comparison with a registered quality indicator's name: ``x == "shmi"``, ``"shmi" != x``, ``"shmi" in x``,
    ``x in ("shmi", ...)``, ``x.index("shmi")``."""
    names = "|".join(re.escape(n) for n in registry.INDICATORS)
    q = rf"""["'](?:{names})["']"""
    return re.compile(rf"""(?:==|!=)\s*{q}|{q}\s*(?:==|!=|in\b|not\s+in\b)|\bin\s*[(\[{{]\s*{q}|\.index\(\s*{q}\s*\)""")


def test_the_name_comparison_pattern_catches_each_form():
    pat = _name_comparison()
    for line in ('if ind == "shmi":', "if 'fft' != k:", 'if "shmi" in d.indicators:', 'k = d.indicators.index("rtt")',
                 'if ind in ("shmi", "rtt"):', 'x = ind != "ae"'):
        assert pat.search(line), line
    for line in ('registry.get("shmi")', 'cols = {"shmi": 1}', 'name = "shmi_ratio_to_expected"',
                 'd.cost_outcomes.index("total")'):
        assert not pat.search(line), line


def test_no_indicator_name_comparison_outside_the_registry():
    pat = _name_comparison()
    found = []
    for root in ("analysis", "models", "benchmarks"):
        for path in sorted((REPO / root).rglob("*.py")):
            if path in ALLOWED:
                continue
            for i, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#", 1)[0]
                if pat.search(code):
                    found.append(f"{path.relative_to(REPO)}:{i}: {line.strip()}")
    assert not found, ("indicator-name comparisons outside models/indicators.py (give the record an attribute "
                       "instead):\n" + "\n".join(found))


def test_default_config_agrees_with_the_records():
    """default.toml may override a record's default; today it states the same values (one source of truth)."""
    cfg = tomllib.loads(DEFAULT_CONFIG.read_text())
    for name in cfg["quality"]["indicators"]:
        rec = registry.get(name)
        assert cfg["priors"]["quality_scale"][name] == rec.prior_scale
        assert cfg["value"]["quality_weights"][name] == rec.weight
    for name in cfg["cost"]["outcomes"]:
        assert cfg["priors"]["cost_scale"][name] == registry.COST_OUTCOMES[name].prior_scale


def test_direction_and_display_come_from_the_record():
    shmi, rtt = registry.get("shmi"), registry.get("rtt")
    assert shmi.sign == -1.0 and rtt.sign == 1.0
    assert shmi.alpha_unit == "ratio (need-adjusted; <1 better)"
    assert rtt.alpha_unit == "percentage points (>0 better)"
    lower = registry.Indicator("readm", "binomial", "a", "b", ("a", "b"), higher_is_better=False, prior_scale=0.3,
                               weight=0.1, label="Readmissions", short="Readm", unit="% readmitted")
    assert lower.alpha_unit == "percentage points (<0 better)"
    assert lower.better_phrase == "below 0 is better"
    assert lower.alpha_measure == "readm_pp_vs_expected"


#: a new binomial indicator needs its period-noise SD (none is estimated for it in models/period_noise.toml)
TOY_PERIOD = {"period_noise_sd": {"toy": 0.1}}


def _toy(**kw) -> registry.Indicator:
    args = dict(higher_is_better=False, prior_scale=0.5, weight=0.1, label="Toy outcome", short="Toy",
                unit="% of toy events")
    args.update(kw)
    return registry.Indicator("toy", "binomial", "toy_events", "toy_trials", ("toy_events", "toy_trials"), **args)


@pytest.fixture
def toy():
    rec = registry.register(_toy())
    yield rec
    registry.unregister("toy")


def test_register_refuses_duplicates_and_unknown_families(toy):
    with pytest.raises(ValueError, match="already registered"):
        registry.register(_toy())
    with pytest.raises(ValueError, match="unknown likelihood family"):
        registry.register(registry.Indicator("bad", "gamma", "a", "b", ("a", "b"), True, 1.0, 1.0, "B", "B", ""))


def test_config_checks_names_against_the_registry_and_takes_record_defaults(toy):
    with pytest.raises(ConfigError, match="unknown \\['nope'\\]"):
        load_config(overrides={"quality": {"indicators": ["shmi", "nope"]}})
    cfg = load_config(overrides={"quality": {"indicators": ["shmi", "rtt", "ae", "fft", "toy"], **TOY_PERIOD}})
    assert cfg["priors"]["quality_scale"]["toy"] == 0.5 and cfg["value"]["quality_weights"]["toy"] == 0.1
    cfg = load_config(overrides={"quality": {"indicators": ["rtt", "toy"], **TOY_PERIOD},
                                 "priors": {"quality_scale": {"toy": 0.9}}})
    assert cfg["priors"]["quality_scale"]["toy"] == 0.9  # the config overrides the record


def test_no_default_means_the_config_must_give_one():
    with pytest.raises(ConfigError, match="quality_scale"):
        load_config(overrides={"quality": {"indicators": ["rtt", "cancer_31d"]}})  # no defaults


def test_prepare_names_missing_columns(toy):
    from analysis.synthetic import generate
    from models.value_model import prepare

    panel = generate(20260401)[0]
    cfg = load_config(overrides={"quality": {"indicators": ["rtt", "toy"], **TOY_PERIOD}})
    with pytest.raises(ValueError, match="toy_events"):
        prepare(panel, cfg)


@pytest.mark.slow
def test_a_toy_indicator_runs_panel_fit_and_summaries(toy):
    """A record plus its columns: panel -> short fit -> summaries with no other code change (a fit of 2 x 100
    iterations: about 5 minutes on a loaded 2-core machine, hence slow)."""
    from analysis.fitting import fit
    from analysis.summaries import summarise
    from analysis.synthetic import add_indicator, generate

    panel, *_ = generate(20260401)
    panel, theta = add_indicator(panel, "toy", seed=1, centre=-1.0, spread=0.4, den_per_gbp_m=20.0,
                                 share_missing=0.1)
    inds = ["shmi", "rtt", "ae", "fft", "toy"]
    cfg = load_config(overrides={"quality": {"indicators": inds, **TOY_PERIOD},
                                 "sampler": {"chains": 2, "tune": 50, "draws": 50, "retry_target_accept": 0.0}})
    idata, data, _gate = fit(panel, cfg, echo=lambda *a: None)  # the gate need not pass on 50 draws
    assert data.indicators == inds
    k = inds.index("toy")
    assert np.isnan(data.y[:, k]).sum() == panel["toy_events"].isna().sum() > 0
    assert list(idata.posterior["u"].indicator.values) == inds
    tables = summarise(idata, data, cfg)
    ha = tables["health_alpha"]
    toy_rows = ha[ha.measure == "toy_pp_vs_expected"]
    assert len(toy_rows) == len(panel)
    assert set(toy_rows.unit) == {"percentage points (<0 better)"}  # the record says lower is better
    assert toy_rows["median"].notna().sum() == panel["toy_events"].notna().sum()
    te = tables["trust_effects"]
    assert set(te[te.indicator == "toy"].unit) == {"log odds ratio"}
    # the fitted toy effects follow the simulated ones (no need or peer effects were simulated)
    u = te[te.indicator == "toy"].set_index("org_code")["median"]
    assert np.corrcoef(u.dropna(), theta[panel.set_index("org_code").index.get_indexer(u.dropna().index)])[0, 1] > 0.5


def test_an_indicator_no_trust_reports_is_left_out_with_a_warning(caplog):
    """A panel built without the cancer file (all cancer counts missing) still fits: the two cancer standards are
    left out, loudly; a panel with none of the configured indicators is an error that says what to do."""
    import logging

    import numpy as np
    import pytest

    from analysis.synthetic import generate
    from models.config import ConfigError, for_panel, load_config
    from models.value_model import prepare

    panel = generate(20260401)[0]
    cfg = load_config()
    assert for_panel(cfg, panel) is cfg  # every configured indicator is there: unchanged
    no_cancer = panel.copy()
    for k in ("cancer_fds", "cancer_62d"):
        for c in registry.INDICATORS[k].columns:
            no_cancer[c] = np.nan
    with caplog.at_level(logging.WARNING, logger="svi"):
        out = for_panel(cfg, no_cancer)
    assert out["quality"]["indicators"] == [k for k in cfg["quality"]["indicators"] if not k.startswith("cancer")]
    assert "left out of this fit" in caplog.text and registry.INDICATORS["cancer_fds"].label in caplog.text
    assert "cancer_fds" not in prepare(no_cancer, out).indicators
    empty = panel.copy()
    for k in cfg["quality"]["indicators"]:
        for c in registry.INDICATORS[k].columns:
            empty[c] = np.nan
    with pytest.raises(ConfigError, match="none of the configured quality indicators"):
        for_panel(cfg, empty)
