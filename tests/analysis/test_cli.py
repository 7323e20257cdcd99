import os
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.cli import main
from analysis.panel import build, write


def test_data_build_synthetic(tmp_path, capsys):
    assert main(["data", "build", "--out", str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    assert "129 acute trusts" in out and "synthetic" in out
    assert (tmp_path / "p/panel.parquet").exists()


def test_data_error_is_clean(tmp_path, capsys):
    (tmp_path / "raw").mkdir()
    code = main(["data", "build", "--data-dir", str(tmp_path), "--out", str(tmp_path / "p")])
    err = capsys.readouterr().err
    assert code == 2 and "svi: error:" in err and "file not found" in err and "Traceback" not in err
    assert not (tmp_path / "p").exists()


def test_console_script_no_blas_warning(tmp_path):
    """A normal run must not print PyTensor's missing-BLAS warning."""
    code = ("import analysis, pytensor, pytensor.tensor as pt;"
            "x = pt.matrix(); f = pytensor.function([x], x.dot(x)); print(pytensor.config.blas__ldflags)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "could not link to a BLAS" not in r.stderr + r.stdout
    assert r.stdout.strip()  # a BLAS is configured


# ----------------------------------------------------------------------------- issue 13, class 6: no tracebacks


def _fail(capsys, argv, status=2):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == status, err
    assert "Traceback" not in err and err.startswith("svi: error: ") and len(err.strip().splitlines()) <= 3, err
    return err


@pytest.fixture
def panel_dir(tmp_path):
    write(build(seed=1), tmp_path / "r" / "panel")
    return tmp_path / "r"


def _fake_fit(path: Path, truncate: bool = False) -> None:
    import arviz as az
    import numpy as np

    from analysis.fitting import save_fit

    save_fit(az.from_dict(posterior={"a": np.zeros((2, 50))}), path)
    if truncate:
        path.write_bytes(path.read_bytes()[:3000])


def test_summarise_without_a_fit(panel_dir, capsys):
    err = _fail(capsys, ["summarise", "--out", str(panel_dir)])
    assert f"no saved fit at {panel_dir / 'fit' / 'posterior.nc'}" in err and "svi fit --out" in err


def test_summarise_without_a_panel(tmp_path, capsys):
    err = _fail(capsys, ["summarise", "--out", str(tmp_path / "nothing")])
    assert "no panel at" in err and "svi data build" in err


def test_summarise_with_a_truncated_fit(panel_dir, capsys):
    _fake_fit(panel_dir / "fit" / "posterior.nc", truncate=True)
    err = _fail(capsys, ["summarise", "--out", str(panel_dir)])
    assert str(panel_dir / "fit" / "posterior.nc") in err and "damaged or incomplete" in err


@pytest.mark.parametrize("content, words", [(b"", "empty"), (b"PAR1 not really parquet", "not a readable parquet")])
def test_fit_with_a_damaged_panel(panel_dir, capsys, content, words):
    (panel_dir / "panel" / "panel.parquet").write_bytes(content)
    err = _fail(capsys, ["fit", "--panel", str(panel_dir / "panel"), "--out", str(panel_dir)])
    assert words in err and "panel.parquet" in err and "svi data build" in err


def test_fit_with_a_missing_or_broken_config(panel_dir, tmp_path, capsys):
    err = _fail(capsys, ["fit", "--panel", str(panel_dir / "panel"), "--config", str(tmp_path / "no.toml")])
    assert "no.toml" in err
    (tmp_path / "bad.toml").write_text("sampler = [")
    err = _fail(capsys, ["fit", "--panel", str(panel_dir / "panel"), "--config", str(tmp_path / "bad.toml")])
    assert "bad.toml" in err and "--config" in err


def test_fit_out_that_is_a_file(panel_dir, tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    err = _fail(capsys, ["fit", "--panel", str(panel_dir / "panel"), "--out", str(tmp_path / "f")])
    assert "is an existing file" in err and (tmp_path / "f").read_text() == "x"


def test_input_that_is_a_directory(tmp_path, capsys, monkeypatch):
    from tests.analysis.rawfixture import make_raw, relax_minimums

    relax_minimums(monkeypatch)
    raw = make_raw(tmp_path / "d")
    tp = raw / "raw/trustpulse/trust_profiles.csv"
    tp.unlink()
    tp.mkdir()
    err = _fail(capsys, ["data", "build", "--data-dir", str(raw), "--out", str(tmp_path / "p")])
    assert "trust_profiles.csv" in err and "is a directory" in err


def test_out_of_range_need_value_is_not_a_schema_error(tmp_path, capsys, monkeypatch):
    from tests.analysis.rawfixture import edit_cell, make_raw, relax_minimums

    relax_minimums(monkeypatch)
    raw = make_raw(tmp_path / "d")
    edit_cell(raw / "raw/imd/imd2019_england_ltla22.csv", "ltla22_code", "E06000001", "Health_Score", "99")
    assert main(["data", "build", "--data-dir", str(raw), "--out", str(tmp_path / "p")]) == 0
    assert "Health_Score" in (tmp_path / "p" / "quality_report.md").read_text()


def test_unexpected_failure_is_one_paragraph_and_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    import analysis.panel

    def boom(*a, **k):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(analysis.panel, "build", boom)
    err = _fail(capsys, ["data", "build", "--out", str(tmp_path / "p")], status=1)
    assert "internal error: ZeroDivisionError: float division by zero" in err and "--debug" in err
    assert main(["data", "build", "--out", str(tmp_path / "p"), "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError" in err
    monkeypatch.setenv("SVI_DEBUG", "1")
    assert main(["data", "build", "--out", str(tmp_path / "p")]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_console_script_prints_no_traceback(tmp_path):
    """The installed entry point, as a user runs it."""
    r = subprocess.run([sys.executable, "-c", "import sys; from analysis.cli import main; sys.exit(main())",
                        "summarise", "--out", str(tmp_path / "nowhere")], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parents[2], env={**os.environ, "SVI_DEBUG": ""})
    assert r.returncode == 2 and "Traceback" not in r.stderr and "svi: error: no panel at" in r.stderr


def test_backtest_config_is_read_and_a_missing_or_bad_one_fails_first(tmp_path, capsys, monkeypatch):
    """`svi validate --backtest --config FILE`: the trend model's options (priors.national_step_df,
    priors.volatility_step, ...) reach the backtest; a missing file, bad TOML or a setting models/trend.toml does not
    have fails at once, naming the file, before any panel is read."""
    import analysis.trend.run as run

    seen = {}
    monkeypatch.setattr(run, "backtest", lambda panel, out, config=None, **kw: seen.update(config=config))
    base = ["validate", "--backtest", "--panel", str(tmp_path / "no_panel"), "--out", str(tmp_path / "r"),
            "--scheduler", "serial"]
    err = _fail(capsys, base + ["--config", str(tmp_path / "no.toml")])
    assert "no.toml" in err and "no such file" in err and "models/trend.toml" in err and not seen
    (tmp_path / "bad.toml").write_text("[priors\nvolatility_step = 0.5")
    err = _fail(capsys, base + ["--config", str(tmp_path / "bad.toml")])
    assert "bad.toml" in err and "TOML" in err and not seen
    (tmp_path / "typo.toml").write_text("[priors]\nvolatility_stp = 0.5\n[prior]\ntau = 1\n")
    err = _fail(capsys, base + ["--config", str(tmp_path / "typo.toml")])
    assert "[priors] volatility_stp" in err and "[prior]" in err and "models/trend.toml" in err and not seen
    err = _fail(capsys, ["validate", "--out", str(tmp_path / "r"), "--config", str(tmp_path / "typo.toml")])
    assert "--backtest" in err and not seen
    good = tmp_path / "vol.toml"
    good.write_text("[priors]\nvolatility_step = 0.5\nscale = { rtt = 0.3 }\n")
    assert main(base + ["--config", str(good)]) == 0
    assert seen["config"] == good
    from models.trend_model import load_trend_config

    cfg = load_trend_config(good)
    assert cfg["priors"]["volatility_step"] == 0.5 and cfg["priors"]["scale"]["rtt"] == 0.3
    assert cfg["priors"]["scale"]["ae"] == load_trend_config()["priors"]["scale"]["ae"]  # a map merges key by key


def test_run_fits_the_trend_with_real_data_and_not_without(tmp_path, capsys, monkeypatch):
    """`svi run --data-dir` also fits the dynamic model after a value fit that passed its gate (so the documents get
    their movements); on the synthetic default it does not, `--trend` without `--data-dir` is refused before any
    work, and `--no-trend` turns it off.  Panel build, fits and reports are stubbed: this checks the wiring."""
    from types import SimpleNamespace

    import analysis.cli as cli
    import analysis.panel as panel
    import analysis.pipeline as pipeline
    import analysis.trend.run as trend_run

    calls = []

    def build_and_write(data_dir=None, out=None, seed=None):
        Path(out).mkdir(parents=True, exist_ok=True)
        if data_dir is not None:  # the real build writes the year panel beside the cross-section
            (Path(out) / "panel_years.parquet").write_bytes(b"")
        return SimpleNamespace(panel=None, summary_text=lambda: "built")

    monkeypatch.setattr(panel, "build_and_write", build_and_write)
    monkeypatch.setattr(pipeline, "fit_and_summarise",
                        lambda *a, **k: calls.append("fit") or {"gate": SimpleNamespace(passed=True)})
    monkeypatch.setattr(trend_run, "trend_fit", lambda *a, **k: calls.append("trend"))
    monkeypatch.setattr(cli, "report_cmd", lambda **k: calls.append("report"))
    data = tmp_path / "data"
    assert main(["run", "--data-dir", str(data), "--out", str(tmp_path / "a")]) == 0
    assert calls == ["fit", "trend", "report"]
    calls.clear()
    assert main(["run", "--out", str(tmp_path / "b")]) == 0
    assert calls == ["fit", "report"]
    calls.clear()
    assert main(["run", "--data-dir", str(data), "--out", str(tmp_path / "c"), "--no-trend"]) == 0
    assert calls == ["fit", "report"]
    calls.clear()
    err = _fail(capsys, ["run", "--trend", "--out", str(tmp_path / "d")])
    assert "--data-dir" in err and not calls and not (tmp_path / "d").exists()
