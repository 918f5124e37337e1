"""Expected failures of both command lines: one line on stderr, exit 1, nothing written."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hvae import experiments as ex
from hvae.cli import main

REPO = Path(__file__).resolve().parent.parent
TRAIN = ["train", "--latent", "normal", "--dim", "2", "--dataset", "circle", "--epochs", "1",
         "--limit", "64", "--quiet"]  # fmt: skip


def run(module: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def one_line(result: subprocess.CompletedProcess, expected: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [expected]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "r"
    assert main([*TRAIN, "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("limit", ["-5", "0"])
def test_evaluate_limit_must_be_positive(trained: Path, limit: str) -> None:
    one_line(run("hvae", "evaluate", str(trained), "--limit", limit),
             f"hvae evaluate: error: --limit: must be an integer >= 1, got {limit}")
    assert not (trained / "eval-test.json").exists()


BAD_DEVICES = [("tpu9", "'auto', 'cpu' or 'cuda[:N]'"), ("meta", "'auto', 'cpu' or 'cuda[:N]'")]
if not torch.cuda.is_available():
    BAD_DEVICES.append(("cuda", "a device present on this machine (CUDA is not available)"))


@pytest.mark.parametrize(("device", "what"), BAD_DEVICES)
def test_bad_device_all_commands(trained: Path, tmp_path: Path, device: str, what: str) -> None:
    line = f"--device: must be {what}, got {device!r}"
    one_line(run("hvae", *TRAIN, "--out", str(tmp_path / "r"), "--device", device),
             f"hvae train: error: {line}")
    one_line(run("hvae", "evaluate", str(trained), "--device", device),
             f"hvae evaluate: error: {line}")
    one_line(run("hvae.experiments", "--device", device, "--results-root", str(tmp_path / "x"),
                 "--out-root", str(tmp_path / "y")), f"hvae.experiments: error: {line}")
    assert not any(tmp_path.iterdir())


def test_out_that_is_a_file_or_under_a_file(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("keep")
    one_line(run("hvae", *TRAIN, "--out", str(f)), "hvae train: error: --out: must be a "
             f"directory (or a path that does not exist yet), not a file, got {str(f)!r}")
    under = f / "sub" / "run"
    one_line(run("hvae", *TRAIN, "--out", str(under)), "hvae train: error: --out: "
             f"must be a path whose parent {str(f)!r} is a directory, got {str(under)!r}")
    assert f.read_text() == "keep" and [p.name for p in tmp_path.iterdir()] == ["file"]


@pytest.mark.parametrize("flag", ["--results-root", "--out-root"])
def test_experiment_roots_that_are_files(tmp_path: Path, flag: str) -> None:
    f = tmp_path / "file"
    f.write_text("keep")
    other = "--out-root" if flag == "--results-root" else "--results-root"
    one_line(run("hvae.experiments", "--device", "cpu", flag, str(f), other, str(tmp_path / "o")),
             f"hvae.experiments: error: {flag}: must be a directory (or a path that does not "
             f"exist yet), not a file, got {str(f)!r}")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


@pytest.mark.parametrize("seed", ["-1", str(2**63), str(2**64)])
def test_seed_out_of_range(trained: Path, tmp_path: Path, seed: str) -> None:
    line = f"--seed: must be an integer >= 0 and <= {2**63 - 1}, got {seed}"
    one_line(run("hvae", *TRAIN, "--out", str(tmp_path / "r"), "--seed", seed),
             f"hvae train: error: {line}")
    one_line(run("hvae", "evaluate", str(trained), "--seed", seed),
             f"hvae evaluate: error: {line}")
    one_line(run("hvae.experiments", "--seeds", seed, "--results-root", str(tmp_path / "x"),
                 "--out-root", str(tmp_path / "y"), "--device", "cpu"),
             f"hvae.experiments: error: --seeds: must be an integer >= 0 and <= {2**63 - 1}, "
             f"got {seed}")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("kappa", ["1e300", "1e13", "inf"])
def test_kappa_out_of_range(tmp_path: Path, kappa: str) -> None:
    result = run("hvae", "train", "--latent", "vmf-fixed", "--kappa", kappa, "--dim", "2",
                 "--dataset", "circle", "--epochs", "1", "--limit", "64",
                 "--out", str(tmp_path / "r"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("hvae train: error: --kappa: must be")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("name", ["..", ".", ".hidden", "a/b", "a\\b", ""])
def test_profile_names_that_are_not_plain_directory_names(name: str) -> None:
    with pytest.raises(ValueError, match="^name: must be a non-empty name without '/'"):
        dataclasses.replace(ex.QUICK, name=name)
    with pytest.raises(ValueError, match="^profile: must be"):
        ex.result_path("vmf", 2, 0, name)
