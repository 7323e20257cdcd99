import subprocess
import sys

from analysis.cli import main


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
