"""``svi trend fit`` and ``svi validate --backtest``: read the year panel, fit, write tables atomically.

Layout under ``out/trend`` (one directory, owned by ``svi trend fit``)::

    posterior.nc    hyperparameters and trust states u (ArviZ)
    gate.json       the convergence gate's verdict
    health_alpha, movements, value_movement, trends, hyperparameters (.parquet, .csv)
    UNPUBLISHABLE   present only when the gate failed

and ``out/validation/backtest`` (owned by ``svi validate --backtest``): summary, per-trust forecasts, gates; the
backtest's finished years are checkpointed in ``out/variants/backtest/<key>/`` (:class:`analysis.results.ResultsDir`).
"""

from __future__ import annotations

from pathlib import Path

from analysis import io

OWNER = "svi trend fit"
BACKTEST_OWNER = "svi validate --backtest"


def _cross_section_hash(panel_dir: Path) -> str | None:
    """The content hash of the cross-sectional panel in ``panel_dir`` (None when the directory has none)."""
    from analysis.panel import panel_hash, read_panel

    if not (Path(panel_dir) / "panel.parquet").exists():
        return None
    return panel_hash(read_panel(panel_dir))


def trend_fit(panel_dir: Path, out: Path, config=None, seed=None, echo=print) -> dict:
    from analysis.trend import movements as mv
    from analysis.trend.fit import expectation, fit_trend, gate_record
    from analysis.trend.years import read_year_panel
    from models.trend_model import load_trend_config

    from analysis.results import FitDir, ResultsDir

    panel = read_year_panel(panel_dir)
    cfg = load_trend_config(config)
    dest = ResultsDir(out).trend.path
    io.check_owned(dest, OWNER)
    # the data build the year panel came from, by the hash of the cross-section written beside it: the documents
    # show this fit's movements only beside a value-index fit made from the same build (analysis.report.data)
    cross = _cross_section_hash(panel_dir)
    idata, d, gate, st = fit_trend(panel, cfg, seed=seed, echo=echo)
    ex = expectation(st["hyper"], d)
    tables = {"health_alpha": mv.health_alpha(st["u"], ex, d), "movements": mv.movements(st["u"], ex, d),
              "value_movement": mv.value_movement(st["u"], st["hyper"]["sigma"], d, cfg["value"]["weights"]),
              "trends": mv.trends(st["hyper"]["mu"], d), "hyperparameters": mv.hyperparameters(st["hyper"], d)}
    with io.atomic_dir(dest, owner=OWNER) as tmp:
        fd = FitDir(tmp)
        idata.to_netcdf(str(fd.posterior), engine="h5netcdf")
        io.write_json(fd.gate, {**gate_record(gate, idata), "cross_section_panel_hash": cross})
        for name, t in tables.items():
            io.write_table(t, fd.table(name).with_suffix(""))
        if d.notes:
            io.write_text(fd.model_notes, "\n".join(d.notes) + "\n")
        if not gate.passed:
            io.write_text(fd.unpublishable, gate.text() + "\n")
    echo(f"trend tables written to {dest}")
    return {"idata": idata, "data": d, "gate": gate, "tables": tables}


def backtest(panel_dir: Path, out: Path, config=None, seed=None, years=None, echo=print, scheduler: str | None = None,
             workers: int | None = None, progress: bool = True) -> dict:
    """Every target year is a task of one sweep (:mod:`analysis.sweeps`): ``scheduler`` "serial", "local" (the
    default, a local Dask cluster of ``workers``) or a Dask scheduler's address; None reads ``$SVI_SCHEDULER``.
    Finished years are checkpointed under ``variants/backtest/`` of the results directory, so a rerun resumes."""
    from analysis.results import BACKTEST_TABLES, ResultsDir
    from analysis.sweeps import Engine
    from analysis.trend.backtest import MIN_TRAIN_YEARS, TARGET_COVERAGE, TARGET_CRPS_RATIO, backtest_key, run_backtest
    from analysis.trend.years import read_year_panel
    from models.trend_model import load_trend_config

    panel = read_year_panel(panel_dir)
    cfg = load_trend_config(config)
    rd = ResultsDir(out)
    dest = rd.backtest_dir
    io.check_owned(dest, BACKTEST_OWNER)
    seed = int(cfg["sampler"]["seed"] if seed is None else seed)
    ckpt = rd.backtest_checkpoint(backtest_key(panel, cfg, seed, MIN_TRAIN_YEARS))
    with Engine.open(scheduler, workers, echo=echo) as engine:
        echo(f"backtest: every target year is a task, run {engine.describe()}")
        res = run_backtest(panel, cfg, years=years, seed=seed, echo=echo, engine=engine, checkpoint=ckpt,
                           progress=progress)
    with io.atomic_dir(dest, owner=BACKTEST_OWNER) as tmp:
        for name in BACKTEST_TABLES:
            io.write_table(res[name], tmp / name)
        io.write_json(tmp / rd.backtest_overall.name, {**(res["overall"] or {}), "target_coverage90": TARGET_COVERAGE,
                                             "target_crps_ratio": TARGET_CRPS_RATIO})
    o = res["overall"]
    if o:
        echo(f"backtest overall: 90% coverage {o['coverage90']:.0%} (target {TARGET_COVERAGE[0]:.0%}-"
             f"{TARGET_COVERAGE[1]:.0%}) over {o['n']} trust-years; PIT KS p {o['pit_ks_p']:.3f}; CRPS / naive "
             f"{o['crps_ratio']:.2f} (target <= {TARGET_CRPS_RATIO})")
        if "rel_pit_ks_p" in o:
            # the plain PITs of a year share its national change; calibration is judged on the relative ones
            echo(f"  relative to each year's cross-trust centre: 90% coverage {o['rel_coverage90']:.0%}, PIT KS p "
                 f"{o['rel_pit_ks_p']:.3f} (target years combined); national centre PIT KS p "
                 f"{o.get('national_pit_ks_p', float('nan')):.3f} over {o.get('n_national', 0)} target-year rows")
    echo(f"backtest tables written to {dest}")
    return res
