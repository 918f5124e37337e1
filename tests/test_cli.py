"""Tests for the command line (python -m hvae train / evaluate) on tiny data sets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hvae.cli import main

REPO = Path(__file__).resolve().parent.parent
NUMBER = r"-?\d+\.\d\d"


def run_module(*args: str) -> subprocess.CompletedProcess:
    """``python -m hvae ARGS`` in a child process (one thread, no network needed)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "hvae", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_train_and_evaluate_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "svae"
    train = run_module(
        "train", "--latent", "vmf", "--dim", "1", "--dataset", "circle", "--epochs", "1",
        "--limit", "200", "--out", str(out), "--seed", "0", "--quiet",
    )  # fmt: skip
    assert train.returncode == 0, train.stderr
    assert train.stdout == "" and train.stderr == ""  # --quiet
    assert {p.name for p in out.iterdir()} == {"checkpoint.pt", "config.json", "history.json"}
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["latent"] == "vmf" and config["model"]["manifold_dim"] == 1
    assert config["model"]["likelihood"] == "gaussian" and config["model"]["input_dim"] == 100
    assert config["data"] == {"dataset": "circle", "source": "circle", "limit": 200}

    evaluate = run_module("evaluate", str(out), "--iw-samples", "20", "--limit", "50")
    assert evaluate.returncode == 0, evaluate.stderr
    lines = evaluate.stdout.splitlines()
    for key in ("LL", "ELBO", "RE", "KL"):
        assert any(re.match(rf"{key}\s+{NUMBER} ± \d+\.\d\d nats", line) for line in lines), key
    report = json.loads((out / "eval-test.json").read_text())
    assert report["n"] == 50 and report["iw_samples"] == 20
    assert report["ELBO"]["mean"] == pytest.approx(report["RE"]["mean"] - report["KL"]["mean"])


def test_mnist_run_with_resume_and_knn(tmp_path: Path, capsys) -> None:
    out = tmp_path / "nvae"
    base = ["train", "--latent", "normal", "--dim", "2", "--dataset", "mnist", "--limit", "100",
            "--out", str(out), "--batch-size", "50", "--warmup", "2"]  # fmt: skip
    assert main([*base, "--epochs", "1", "--quiet"]) == 0
    assert main([*base, "--epochs", "2", "--resume", "--quiet"]) == 0
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert [h["kl_weight"] for h in history] == pytest.approx([0.5, 1.0])
    capsys.readouterr()
    code = main(["evaluate", str(out), "--iw-samples", "5", "--knn-labels", "10", "20", "--k", "3"])
    assert code == 0
    printed = capsys.readouterr().out
    assert re.search(r"k-NN \(10 labels\): \d+\.\d%", printed)
    assert re.search(r"k-NN \(20 labels\): \d+\.\d%", printed)
    assert "mnist" in printed and "n=100" in printed  # limit recorded in the run


def test_fixed_kappa_and_beta_reach_the_model(tmp_path: Path) -> None:
    out = tmp_path / "fixed"
    args = ["train", "--latent", "vmf-fixed", "--kappa", "20", "--beta", "0.5", "--dim", "2",
            "--dataset", "circle", "--epochs", "1", "--limit", "64", "--out", str(out),
            "--quiet"]  # fmt: skip
    assert main(args) == 0
    model = json.loads((out / "config.json").read_text())["model"]
    assert model["kappa"] == 20.0 and model["beta"] == 0.5


# ------------------------------------------------------------------------------------------
# Bad arguments: one line on stderr, non-zero exit, no traceback
# ------------------------------------------------------------------------------------------


def test_bad_argument_from_the_command_line_is_one_line(tmp_path: Path) -> None:
    result = run_module("train", "--latent", "vmf", "--dim", "0", "--out", str(tmp_path / "r"))
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1
    assert "dim" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--latent", "gamma", "--dim", "2", "--out", "{tmp}/r"],
        ["train", "--latent", "vmf", "--dim", "2", "--dataset", "cifar", "--out", "{tmp}/r"],
        ["train", "--latent", "vmf", "--dim", "two", "--out", "{tmp}/r"],
        ["train", "--latent", "vmf", "--dim", "2"],
        ["evaluate"],
        ["frobnicate"],
    ],
)
def test_argparse_errors(args: list[str], tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main([a.format(tmp=tmp_path) for a in args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "error" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--latent", "vmf", "--dim", "0", "--out", "{tmp}/r"], "dim"),
        (["train", "--latent", "normal", "--dim", "-3", "--out", "{tmp}/r"], "dim"),
        (["train", "--latent", "vmf-fixed", "--dim", "2", "--out", "{tmp}/r"], "kappa"),
        (["train", "--latent", "vmf", "--dim", "2", "--kappa", "5", "--out", "{tmp}/r"], "kappa"),
        (["train", "--latent", "vmf", "--dim", "2", "--epochs", "0", "--out", "{tmp}/r"], "epochs"),
        (["train", "--latent", "vmf", "--dim", "2", "--limit", "0", "--out", "{tmp}/r"], "limit"),
        (["train", "--latent", "vmf", "--dim", "2", "--resume", "--out", "{tmp}/r"], "checkpoint"),
        (["evaluate", "{tmp}/nowhere"], "does not exist"),
        (["evaluate", "{tmp}"], "no checkpoint"),
        (["evaluate", "{tmp}", "--iw-samples", "-1"], "iw-samples"),
    ],
)
def test_bad_values_give_one_line_and_exit_1(
    args: list[str], message: str, tmp_path: Path, capsys
) -> None:
    assert main([a.format(tmp=tmp_path) for a in args]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err
    assert not (tmp_path / "r").exists()  # nothing was started


def test_refuses_to_overwrite_a_run(tmp_path: Path, capsys) -> None:
    args = ["train", "--latent", "normal", "--dim", "2", "--dataset", "circle", "--epochs", "1",
            "--limit", "64", "--out", str(tmp_path), "--quiet"]  # fmt: skip
    assert main(args) == 0
    before = (tmp_path / "checkpoint.pt").read_bytes()
    assert main(args) == 1
    assert "--resume" in capsys.readouterr().err
    assert (tmp_path / "checkpoint.pt").read_bytes() == before
