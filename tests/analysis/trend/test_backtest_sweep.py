"""svi validate --backtest runs its target years as sweep tasks (issue 18): the same tables serially and on a
2-worker LocalCluster, each finished year checkpointed and not fitted again (slow: real fits of the dynamic model
on a small simulated year panel)."""

import numpy as np
import pandas as pd
import pytest

from analysis.sweeps import Engine
from analysis.trend import backtest as bt
from models.trend_model import load_trend_config


def year_panel(n: int = 24, years=range(2019, 2024), seed: int = 3) -> pd.DataFrame:
    """A year panel (the columns the dynamic model reads) with AR(1) trust effects on RTT and A&E."""
    rng = np.random.default_rng(seed)
    rows, u = [], rng.normal(0, 0.4, (n, 2))
    for t, yr in enumerate(years):
        u = 0.8 * u + rng.normal(0, 0.2, (n, 2))
        for i in range(n):
            tot, att = (int(s * np.exp(0.3 * rng.standard_normal())) for s in (30_000, 150_000))
            p_rtt, p_ae = 1 / (1 + np.exp(-(0.8 - 0.1 * t + u[i, 0]))), 1 / (1 + np.exp(-(1.2 + u[i, 1])))
            within = int(rng.binomial(att, p_ae))
            rows.append({"org_code": f"T{i:02d}", "org_name": f"Trust {i}", "region": "R", "year": yr,
                         "size_class": ["large", "small"][i % 2], "rtt_total_waiting": tot,
                         "rtt_waiting_under_18w": int(rng.binomial(tot, p_rtt)), "ae_attendances": att,
                         "ae_within_4h": within, "ae_over_4h": att - within})
    return pd.DataFrame(rows)


CFG = {"need": {"covariates": []}, "indicators": {"use": ["rtt", "ae"], "breaks": {}},
       "sampler": {"chains": 2, "tune": 100, "draws": 100}}


def _same(a: dict, b: dict) -> None:
    pd.testing.assert_frame_equal(a["summary"], b["summary"])
    pd.testing.assert_frame_equal(a["per_trust"], b["per_trust"])
    pd.testing.assert_frame_equal(a["gates"].drop(columns="wall_seconds"), b["gates"].drop(columns="wall_seconds"))
    assert a["overall"] == b["overall"]


@pytest.mark.slow
def test_backtest_years_are_tasks_with_the_same_results_serially_and_on_a_cluster(dask_engine, tmp_path,
                                                                                   monkeypatch):
    panel, cfg = year_panel(), load_trend_config(overrides=CFG)
    assert bt.target_years(panel, cfg) == [2022, 2023]
    serial = bt.run_backtest(panel, cfg, seed=7, echo=lambda *_: None, checkpoint=tmp_path / "serial")
    lines = []
    dist = bt.run_backtest(panel, cfg, seed=7, echo=lines.append, engine=dask_engine, checkpoint=tmp_path / "dask")
    _same(dist, serial)
    assert sorted(p.name for p in (tmp_path / "dask").iterdir()) == ["year-2022.json", "year-2023.json"]
    assert any(line.startswith("  [year-2023] backtest 2023/24: fitting") for line in lines)  # relayed from workers
    assert set(serial["summary"].target) == {"2022/23", "2023/24"} and len(serial["per_trust"]) == 2 * 2 * 24
    # a rerun reads every year back from the checkpoint and fits nothing
    monkeypatch.setattr(bt, "fit_trend", lambda *a, **k: pytest.fail("a finished year was fitted again"))
    again = bt.run_backtest(panel, cfg, seed=7, echo=lines.append, checkpoint=tmp_path / "dask")
    assert "backtest: reusing 2 finished years" in lines[-1]
    _same(again, serial)


def test_the_backtest_checkpoint_key_follows_seed_and_panel():
    panel, cfg = year_panel(n=6), load_trend_config(overrides=CFG)
    key = bt.backtest_key(panel, cfg, 7, 3)
    assert key == bt.backtest_key(panel.sample(frac=1, random_state=0), cfg, 7, 3)  # row order is not an input
    assert key != bt.backtest_key(panel, cfg, 8, 3)
    assert key != bt.backtest_key(panel.assign(ae_attendances=panel.ae_attendances + 1), cfg, 7, 3)
    assert key != bt.backtest_key(panel, cfg, 7, 2)
