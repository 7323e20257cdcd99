"""The ``svi`` command line.

Commands are thin: each parses its options and calls one function in
``analysis``.  No command shows a Python traceback unless asked (``--debug``
anywhere on the command line, or ``SVI_DEBUG=1``): :func:`main` turns every
failure into one paragraph saying what failed, which file, and what to do.
Errors a person can act on (``SVIError``, a bad ``--config``, a file that
cannot be read or written) exit with status 2; anything else is reported as
an internal error (a bug) with status 1.  Notes from the ``svi`` logger (e.g.
debris of a killed run cleaned up) are printed as ``svi: note: ...``.

To add a command, decorate a function with ``@app.command("name")`` (or
``@data_app.command``) anywhere above :func:`main`; error handling is shared.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Optional

import typer

from analysis.errors import SVIError, SVIWarning
from analysis.results import CLAIMS, FIT, TABLES, VALIDATION, VARIANTS, ResultsDir

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="SVI: need-adjusted value index for English NHS acute trusts.")
data_app = typer.Typer(no_args_is_help=True, help="Build, fetch and inspect the trust panel.")
app.add_typer(data_app, name="data")

DEFAULT_OUT = Path("results")
_STATE = {"debug": False}


@app.callback()
def _options(debug: bool = typer.Option(False, "--debug", help="On failure, show the Python traceback as well as "
                                        "the message (for bug reports). Also SVI_DEBUG=1.")):
    """SVI: need-adjusted value index for English NHS acute trusts."""
    _STATE["debug"] = _STATE["debug"] or debug


def _check_config(config: Optional[Path]) -> None:
    """Load --config now, so a typo fails before any work (with the file named)."""
    if config is not None:
        from models.config import load_config

        load_config(config)


def _check_results_out(out: Path, *parts: str) -> None:
    """--out of a command that writes ``parts`` (e.g. fit/, tables/) inside a results directory: refuse a file in
    the way before any work."""
    ResultsDir(out).check_out(*parts)


@data_app.command("build")
def data_build(
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Directory holding raw/ (e.g. ../shared/data). "
                                            "Omit to build the embedded synthetic default."),
    out: Path = typer.Option(ResultsDir(DEFAULT_OUT).panel_dir, "--out", help="Output directory for the panel and its quality report."),
    seed: int = typer.Option(20260401, help="Seed of the synthetic panel (ignored with --data-dir)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Download cache of `svi data fetch` (default: "
                                             "$SVI_DATA_DIR or data/cache). With --data-dir, the official publications "
                                             "in it supersede the compiled columns they supply."),
):
    """Build the canonical panel (real data with --data-dir, else the synthetic default).

    With --data-dir, each official publication that `svi data fetch` put in the download cache supplies its
    columns; the shared compilation supplies the rest, and the quality report says which source each column
    came from."""
    from analysis.panel import build_and_write

    result = build_and_write(data_dir=data_dir, out=out, seed=seed, cache_dir=cache_dir)
    typer.echo(result.summary_text())


@data_app.command("fetch")
def data_fetch(
    names: list[str] = typer.Argument(None, help="Registry entries to fetch (default: all)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Cache directory (default: $SVI_DATA_DIR or data/cache)."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="Fetch from a mirror with the same file names."),
    force: bool = typer.Option(False, help="Download again even when a verified copy is cached."),
):
    """Download the official publications in the registry and verify their checksums."""
    from analysis.fetch import run_fetch

    paths = run_fetch(names or None, cache_dir=cache_dir, base_url=base_url, force=force)
    for p in paths:
        typer.echo(str(p))


@app.command("fit")
def fit_cmd(
    panel: Path = typer.Option(ResultsDir(DEFAULT_OUT).panel_dir, "--panel", help="Panel directory written by `svi data build`."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Output directory (fit/ and tables/ are written inside)."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML overriding models/default.toml."),
    seed: Optional[int] = typer.Option(None, help="Sampler seed (default: the config's)."),
):
    """Fit the value model to a panel and write the posterior and result tables."""
    from analysis.panel import read_panel
    from analysis.pipeline import fit_and_summarise

    _check_config(config)
    _check_results_out(out, FIT, TABLES)
    fit_and_summarise(read_panel(panel), out=out, seed=seed, config=config, echo=typer.echo)


@app.command("summarise")
def summarise_cmd(
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Output directory holding panel/ and fit/ (tables/ is rewritten)."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML overriding models/default.toml."),
    seed: Optional[int] = typer.Option(None, help="The sampler seed the fit was made with (default: the config's)."),
):
    """Recompute the result tables from a saved fit (checked against its panel and config), without sampling."""
    from analysis.panel import read_panel
    from analysis.pipeline import summarise_saved

    _check_config(config)
    _check_results_out(out, TABLES)
    summarise_saved(read_panel(ResultsDir(out).panel_dir), out=out, config=config, seed=seed, echo=typer.echo)


@app.command("run")
def run(
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Directory holding raw/ (e.g. ../shared/data). "
                                            "Omit to run on the embedded synthetic default."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Output directory."),
    seed: int = typer.Option(20260401, help="Seed of the synthetic panel and of the sampler."),
    fit: bool = typer.Option(True, "--fit/--no-fit", help="Fit the value model after building the panel."),
    reports: bool = typer.Option(True, "--reports/--no-reports", help="Render the paper and every appendix "
                                 "after the fit (only when the convergence gate passed)."),
    trend: Optional[bool] = typer.Option(None, "--trend/--no-trend", help="Also fit the dynamic (trend) model "
                                         "(`svi trend fit`), so the documents get their movements. Default: when "
                                         "the panel has a multi-year panel (real data, --data-dir)."),
):
    """End to end: data -> panel -> fit -> tables -> methodology paper and every trust's board appendix."""
    from analysis.panel import build_and_write

    rd = ResultsDir(out)
    years = rd.panel_dir / "panel_years.parquet"
    if trend and data_dir is None:
        raise SVIError("--trend needs the multi-year panel, which is built from real data only: give --data-dir "
                       "(e.g. ../shared/data), or drop --trend")
    with_trend = fit and (trend if trend is not None else data_dir is not None)
    _check_results_out(out, FIT, TABLES, *(["trend"] if with_trend else []))
    result = build_and_write(data_dir=data_dir, out=rd.panel_dir, seed=seed)
    typer.echo(result.summary_text())
    if fit:
        from analysis.pipeline import fit_and_summarise

        res = fit_and_summarise(result.panel, out=Path(out), seed=seed, echo=typer.echo)
        if with_trend and res["gate"].passed and years.exists():
            from analysis.trend.run import trend_fit

            # the documents show movements only from a trend fit that passed its own gate; one that fails is
            # written with its UNPUBLISHABLE marker and the documents say why they have no movements
            trend_fit(rd.panel_dir, out, echo=typer.echo)
        elif with_trend and res["gate"].passed:
            typer.echo(f"trend not fitted: the build wrote no multi-year panel ({years})")
        if reports and res["gate"].passed:
            report_cmd(out=Path(out), trust=None, all_trusts=True, paper=True)
        elif reports:
            typer.echo(f"reports not rendered: the convergence gate failed (see {ResultsDir(out).unpublishable})")


@app.command("report")
def report_cmd(
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Results directory (panel/, fit/, tables/); reports/ is "
                             "written inside."),
    trust: Optional[list[str]] = typer.Option(None, "--trust", help="Render this trust's board appendix (ODS code; "
                                              "repeatable)."),
    all_trusts: bool = typer.Option(False, "--all", help="Render the board appendix of every trust."),
    paper: bool = typer.Option(True, "--paper/--no-paper", help="Render the methodology paper (HTML and PDF)."),
):
    """Render the methodology paper and trust board appendices (PDF) from the result tables."""
    from analysis.report import report

    written = report(out, trusts=trust or None, all_trusts=all_trusts, paper=paper, progress=all_trusts,
                     echo=typer.echo)
    for p in written["paper"]:
        typer.echo(str(p))
    apps = written["appendices"]
    if len(apps) <= 5:
        for p in apps:
            typer.echo(str(p))
    elif apps:
        typer.echo(f"{len(apps)} files for {len(written.get('trusts', []))} trusts in {apps[0].parent}")
    parts = [f"paper {written['paper_seconds']:.1f} s" if "paper_seconds" in written else "",
             f"{len(written.get('trusts', []))} trusts' board documents {written['appendix_seconds']:.1f} s"
             if apps else ""]
    typer.echo(f"rendered with {written['engine']}: " + ", ".join(p for p in parts if p)
               + f" (total {written['seconds']:.1f} s)")


@app.command("validate")
def validate_cmd(
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Directory holding raw/ (e.g. ../shared/data). "
                                            "Omit to validate on the embedded synthetic default."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Results directory; validation/ and variants/ are written inside."),
    sbc_reps: int = typer.Option(100, "--sbc-reps", help="Simulation-based-calibration replications."),
    quick: bool = typer.Option(False, "--quick", help="Short chains and few replications: a smoke test, not evidence."),
    seed: int = typer.Option(20260401, help="Seed of the synthetic panel, the sampler and the simulations."),
    variant: Optional[list[str]] = typer.Option(None, "--variant", help="Refit variant to compare (repeatable; "
                                                "default: all of analysis/variants.py REFIT_VARIANTS)."),
    backtest: bool = typer.Option(False, "--backtest", help="Backtest the dynamic model instead: fit the years up to "
                                  "T-1, predict year T, for every T the year panel allows (needs --panel or "
                                  "--data-dir)."),
    panel: Optional[Path] = typer.Option(None, "--panel", help="With --backtest: a built panel directory holding "
                                         "panel_years.parquet (default: build it from --data-dir)."),
    year: Optional[list[int]] = typer.Option(None, "--year", help="With --backtest: target year(s) (first calendar "
                                             "year, e.g. 2024 for 2024/25); default every year the data allow."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Where the sweeps (SBC replications, variant "
                                            "fits, backtest years) run: 'local' (a Dask cluster started on this "
                                            "machine), the address of a running Dask scheduler (tcp://HOST:PORT; "
                                            "HOST:PORT means the same), or 'serial' (this process, no Dask). "
                                            "Default: $SVI_SCHEDULER if set, else local.", metavar="WHERE"),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Workers of the local cluster (default: "
                                          "one per 2 cores, each task samples 2 chains in parallel)."),
    config: Optional[Path] = typer.Option(None, "--config", help="With --backtest: TOML overriding "
                                          "models/trend.toml (the dynamic model's priors, options and sampler)."),
):
    """Validate the model: SBC, predictive checks, LOO, variants, SHMI banding, GLMM agreement, prior sensitivity.

    The SBC replications, variant fits and backtest years are tasks on a Dask cluster (see --scheduler); finished
    tasks are checkpointed under OUT/variants/, so an interrupted run resumes when run again."""
    from analysis.sweeps.engine import check_scheduler

    _check_results_out(out, VALIDATION, VARIANTS)
    # a malformed or unreachable scheduler, or --workers without a local cluster, fails before any work
    where = check_scheduler(scheduler)
    if workers is not None and where != "local":
        raise SVIError(f"--workers {workers} sets the size of a local cluster, but the sweeps would run "
                       f"{'serially' if where == 'serial' else 'on the cluster at ' + where}. Nothing was run; drop "
                       f"--workers, or add --scheduler local (a remote cluster has the workers its `dask worker` "
                       f"commands started).")
    if config is not None and not backtest:
        raise SVIError(f"--config {config} is read by --backtest only (a TOML overriding models/trend.toml); the "
                       "cross-sectional validation uses models/default.toml. Nothing was run; add --backtest or drop "
                       "--config.")
    if backtest:
        from analysis.trend.run import backtest as run_backtest
        from models.trend_model import load_trend_config

        load_trend_config(config)  # a missing or bad --config fails now, before the panel is built or read
        if panel is None:
            if data_dir is None:
                raise SVIError("--backtest needs the year panel: give --data-dir (real data) or --panel DIR (a "
                               "directory written by `svi data build --data-dir ...`)")
            from analysis.panel import build_and_write

            build_and_write(data_dir=data_dir, out=ResultsDir(out).panel_dir, seed=seed)
            panel = ResultsDir(out).panel_dir
        run_backtest(panel, out, config=config, years=year or None, echo=typer.echo, scheduler=scheduler,
                     workers=workers)
        return
    from analysis.panel import build_and_write
    from analysis.validation.runner import run_validate

    result = build_and_write(data_dir=data_dir, out=ResultsDir(out).panel_dir, seed=seed)
    run_validate(result.panel, out=Path(out), sbc_reps=sbc_reps, quick=quick, seed=seed, variants=variant or None,
                 echo=typer.echo, scheduler=scheduler, workers=workers)


@app.command("claims")
def claims_cmd(
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Directory holding raw/ (e.g. ../shared/data). "
                                            "Omit to run on the embedded synthetic default."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Results directory; claims/ and variants/ are written inside."),
    quick: bool = typer.Option(False, "--quick", help="Short chains: a smoke test, not evidence."),
    seed: int = typer.Option(20260401, help="Seed of the synthetic panel and of the sampler."),
):
    """Re-test the published claims about English acute trusts as posterior probabilities and intervals."""
    from analysis.claims import run_claims
    from analysis.panel import build_and_write

    _check_results_out(out, CLAIMS, VARIANTS)
    result = build_and_write(data_dir=data_dir, out=ResultsDir(out).panel_dir, seed=seed)
    run_claims(result.panel, out=Path(out), quick=quick, seed=seed, echo=typer.echo, data_dir=data_dir)


@app.command("diagnose")
def diagnose_cmd(
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Results directory holding fit/posterior.nc (and panel/)."),
):
    """Where a fit's divergences sit: divergent draws against the scale parameters, per indicator and peer group
    (tables and figures in fit/diagnostics/)."""
    from analysis.diagnostics import diagnose_results

    _check_results_out(out)
    diagnose_results(out, echo=typer.echo)


@app.command("ask")
def ask_cmd(
    question: Optional[str] = typer.Argument(None, help="The question, in plain English (omit for a prompt loop)."),
    trust: Optional[str] = typer.Option(None, "--trust", help="Your trust: ODS code or name (e.g. RFF, Barnsley)."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Results directory written by `svi run`."),
    as_json: bool = typer.Option(False, "--json", help="Print the structured answer (numbers with intervals and "
                                 "sources, caveats, what to read next) as JSON."),
):
    """Ask the index a question and get an answer grounded in the run's result tables.

    Without a question, opens a prompt (history, follow-up questions) for a person at a terminal. Answers come only
    from a fit that passed the convergence gate. Set SVI_ASK_LLM_URL and SVI_ASK_LLM_MODEL (and SVI_ASK_LLM_KEY)
    to have an OpenAI-compatible endpoint phrase the answers; its text is shown only if every number in it is
    among the answer's facts."""
    import json as _json

    from analysis.ask import Asker

    asker = Asker.open(out)
    if question is None:
        from analysis.ask.session import run_session

        run_session(asker, trust, as_json=as_json)
        return
    ans = asker.ask(question, trust=trust)
    typer.echo(_json.dumps(ans.as_dict(), indent=2, ensure_ascii=False) if as_json else ans.render())


trend_app = typer.Typer(no_args_is_help=True, help="The dynamic (trend) model over the trust x financial-year panel.")
app.add_typer(trend_app, name="trend")


@trend_app.command("fit")
def trend_fit_cmd(
    panel: Path = typer.Option(DEFAULT_OUT / "panel", "--panel", help="Panel directory written by `svi data build "
                               "--data-dir` (holds panel_years.parquet)."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Results directory; trend/ is written inside."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML overriding models/trend.toml."),
    seed: Optional[int] = typer.Option(None, help="Sampler seed (default: the config's)."),
):
    """Fit the dynamic model; write Health Alpha by year, movements, the value composite's movement and trends."""
    from analysis.trend.run import trend_fit

    _check_results_out(out, "trend")
    trend_fit(panel, out, config=config, seed=seed, echo=typer.echo)


@app.command("backtest", hidden=True)
def _backtest_alias(panel: Path = typer.Option(DEFAULT_OUT / "panel", "--panel"),
                    out: Path = typer.Option(DEFAULT_OUT, "--out")):
    """Same as `svi validate --backtest --panel ...`."""
    from analysis.trend.run import backtest

    backtest(panel, out, echo=typer.echo)


def _describe(exc: BaseException) -> tuple[str, int]:
    """One paragraph for a failure, and the exit status: 2 for what the user can fix, 1 for an internal error."""
    from models.config import ConfigError

    if isinstance(exc, SVIError):
        return str(exc), 2
    if isinstance(exc, ConfigError):
        return f"bad model configuration: {exc}. Correct the TOML file given with --config " \
               f"({getattr(exc, 'settings', 'models/default.toml')} lists every setting).", 2
    if isinstance(exc, OSError) and (exc.filename or isinstance(exc, (PermissionError, FileNotFoundError))):
        what = exc.strerror or str(exc)
        path = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
        hint = {PermissionError: "check the file's permissions or choose another location",
                FileNotFoundError: "check the path (and that the earlier step that writes it has run)",
                IsADirectoryError: "a directory is where a file is expected; give the file's path",
                NotADirectoryError: "a file is where a directory is expected; give another path"}
        todo = next((h for t, h in hint.items() if isinstance(exc, t)), "check the path and free disk space")
        return f"cannot use {path}: {what}. Nothing further was done; {todo}.", 2
    if isinstance(exc, MemoryError):
        return "ran out of memory. Close other programs or use a machine with more memory.", 1
    msg = str(exc).strip().splitlines()
    return (f"internal error: {type(exc).__name__}" + (f": {msg[0][:300]}" if msg else "") + ". This is a bug in "
            "svi rather than a problem with your data or options, as far as svi can tell. Run the same command "
            "with --debug to see the traceback, and include it when you report the problem."), 1


class _NoteFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"svi: note: {record.getMessage()}"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (never raises, never prints a traceback unless --debug)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    debug = "--debug" in argv[:cut] or os.environ.get("SVI_DEBUG", "") not in ("", "0")
    argv = [a for i, a in enumerate(argv) if not (a == "--debug" and i < cut)]
    _STATE["debug"] = debug
    logger = logging.getLogger("svi")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_NoteFormatter())
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        with warnings.catch_warnings():
            if not debug:
                # libraries' notices (ArviZ's refactor banner, PyTensor's BLAS notice, deprecations) are for the
                # developers of svi, not its users: --debug shows them.  svi's own warnings (SVIWarning) still show.
                warnings.simplefilter("ignore")
                warnings.filterwarnings("default", category=SVIWarning)
            app(args=argv, standalone_mode=False, prog_name="svi")
    except typer.Exit as exc:  # pragma: no cover - typer control flow
        return exc.exit_code
    except KeyboardInterrupt:
        typer.secho("svi: interrupted. Files already written are complete (every output is written atomically); "
                    "the step in progress left nothing behind.", err=True, fg="red")
        return 130
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.ClickException):  # usage errors: click's own message
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            return 1
        if isinstance(exc, click.exceptions.Exit):
            return exc.exit_code
        if _STATE["debug"]:
            import traceback

            traceback.print_exc()
        text, status = _describe(exc)
        typer.secho(f"svi: error: {text}", err=True, fg="red")
        return status
    finally:
        logger.removeHandler(handler)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
