"""Tests for hvae.train: warm-up, determinism, exact resumption, early stopping, run files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import hvae.train as T
from hvae.data import load_mnist, make_circle_data
from hvae.models import VAE, Terms
from hvae.train import TrainConfig, kl_weight, load_checkpoint, train


@pytest.fixture(scope="module")
def circle() -> tuple[np.ndarray, np.ndarray]:
    return make_circle_data(192, seed=0).x, make_circle_data(64, seed=1).x


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    images = load_mnist(split="train", source="mnist-5k-subset").images
    return images[:160], images[160:224]


def circle_model(latent: str, seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return VAE(
        latent,
        2 if latent == "normal" else 1,
        hidden=(32, 16),
        input_dim=100,
        likelihood="gaussian",
    )


def mnist_model(latent: str, seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return VAE(latent, 3, hidden=(32, 16))


def params(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.state_dict().values()]


def assert_identical(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)


# ------------------------------------------------------------------------------------------
# Schedule and configuration
# ------------------------------------------------------------------------------------------


def test_kl_weight_schedule() -> None:
    assert kl_weight(1.0, 100, 0, 0.5) == pytest.approx(0.005)
    assert kl_weight(1.0, 100, 49, 1.0) == pytest.approx(0.5)
    assert kl_weight(1.0, 100, 100, 0.0) == 1.0
    assert kl_weight(1.0, 100, 250, 0.3) == 1.0
    assert kl_weight(0.2, 10, 4, 1.0) == pytest.approx(0.1)
    assert kl_weight(0.7, 0, 0, 0.0) == 0.7  # no warm-up


@pytest.mark.parametrize(
    "kwargs",
    [{"epochs": 0}, {"batch_size": 0}, {"lr": 0.0}, {"warmup_epochs": -1.0}, {"patience": 0}],
)
def test_bad_config(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        TrainConfig(**kwargs)


# ------------------------------------------------------------------------------------------
# Determinism and resumption
# ------------------------------------------------------------------------------------------


def test_training_is_deterministic_and_learns(circle, tmp_path: Path) -> None:
    config = TrainConfig(epochs=3, warmup_epochs=2, binarize=False, batch_size=32)
    a = train(circle_model("vmf"), *circle, config, progress=False)
    b = train(circle_model("vmf"), *circle, config, progress=False)
    assert_identical(params(a.model), params(b.model))
    assert [h["val_elbo"] for h in a.history] == [h["val_elbo"] for h in b.history]
    assert a.history[-1]["val_elbo"] > a.history[0]["val_elbo"]
    assert [h["kl_weight"] for h in a.history] == pytest.approx([0.5, 1.0, 1.0])


@pytest.mark.parametrize(
    ("data", "make", "latent"),
    [
        ("circle", circle_model, "normal"),
        ("circle", circle_model, "vmf"),
        ("digits", mnist_model, "vmf"),
    ],
)
def test_resume_gives_exactly_the_uninterrupted_parameters(
    request, data: str, make, latent: str, tmp_path: Path
) -> None:
    """4 epochs straight == 2 epochs, then a fresh process-like restart for 2 more. The MNIST
    case also exercises the loader's binarisation generator; the warm-up spans the break."""
    train_x, val_x = request.getfixturevalue(data)
    binarize = data == "digits"
    config4 = TrainConfig(epochs=4, warmup_epochs=3, batch_size=32, binarize=binarize, seed=7)
    config2 = TrainConfig(epochs=2, warmup_epochs=3, batch_size=32, binarize=binarize, seed=7)
    straight = train(make(latent), train_x, val_x, config4, tmp_path / "a", progress=False)

    train(make(latent), train_x, val_x, config2, tmp_path / "b", progress=False)
    torch.manual_seed(12345)  # whatever the state of the world, resuming restores it
    np.random.seed(12345)  # noqa: NPY002
    resumed = train(
        make(latent, seed=99),
        train_x,
        val_x,
        config4,
        tmp_path / "b",
        resume=True,
        progress=False,
    )
    assert resumed.epochs_run == 4 and len(resumed.history) == 4
    assert_identical(params(straight.model), params(resumed.model))  # best states
    last_a, last_b = load_checkpoint(tmp_path / "a"), load_checkpoint(tmp_path / "b")
    assert_identical(list(last_a["model"].values()), list(last_b["model"].values()))
    exp_a = [s["exp_avg"] for s in last_a["optimizer"]["state"].values()]
    exp_b = [s["exp_avg"] for s in last_b["optimizer"]["state"].values()]
    assert_identical(exp_a, exp_b)
    strip = [{k: v for k, v in h.items() if k != "time_s"} for h in straight.history]
    assert strip == [{k: v for k, v in h.items() if k != "time_s"} for h in resumed.history]


def test_resume_refuses_other_settings_and_missing_checkpoints(circle, tmp_path: Path) -> None:
    config = TrainConfig(epochs=1, binarize=False)
    train(circle_model("normal"), *circle, config, tmp_path, progress=False)
    other = TrainConfig(epochs=2, binarize=False, lr=1e-2)
    with pytest.raises(ValueError, match="lr"):
        train(circle_model("normal"), *circle, other, tmp_path, resume=True, progress=False)
    with pytest.raises(ValueError, match="model"):
        train(circle_model("vmf"), *circle, config, tmp_path, resume=True, progress=False)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train(circle_model("normal"), *circle, config, tmp_path / "x", resume=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(circle_model("normal"), *circle, config, tmp_path / "empty", resume=True)
    with pytest.raises(ValueError, match="out_dir"):
        train(circle_model("normal"), *circle, config, None, resume=True)


# ------------------------------------------------------------------------------------------
# Early stopping and the best model
# ------------------------------------------------------------------------------------------


def test_early_stopping_keeps_the_best_parameters(circle, monkeypatch, tmp_path: Path) -> None:
    """Validation ELBOs are scripted: best at epoch 2, then 2 worse epochs -> stop after 4, and
    the model returned holds the parameters it had after epoch 2."""
    scripted = iter([-10.0, -5.0, -7.0, -6.0, -1.0, -1.0])
    real = T.elbo_terms

    def fake(model, x, **kwargs):
        rec, kl = real(model, x, **kwargs)
        return Terms(torch.full_like(rec, next(scripted)), torch.zeros_like(kl))

    monkeypatch.setattr(T, "elbo_terms", fake)
    config = TrainConfig(epochs=6, patience=2, binarize=False, warmup_epochs=0)
    result = train(circle_model("vmf"), *circle, config, tmp_path / "run", progress=False)
    assert result.stopped_early and result.epochs_run == 4 and result.best_epoch == 2
    assert result.best_val_elbo == -5.0
    assert [h["val_elbo"] for h in result.history] == [-10.0, -5.0, -7.0, -6.0]

    monkeypatch.setattr(T, "elbo_terms", real)
    two = train(
        circle_model("vmf"),
        *circle,
        TrainConfig(epochs=2, binarize=False, warmup_epochs=0),
        progress=False,
    )
    assert_identical(params(result.model), params(two.model))
    # resuming a run that stopped early trains no further
    again = train(
        circle_model("vmf"), *circle, config, tmp_path / "run", resume=True, progress=False
    )
    assert again.epochs_run == 4 and again.stopped_early
    assert_identical(params(again.model), params(two.model))


# ------------------------------------------------------------------------------------------
# Run directory
# ------------------------------------------------------------------------------------------


def test_run_directory_contents(digits, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    model = mnist_model("vmf")
    config = TrainConfig(epochs=2, batch_size=32, warmup_epochs=4)
    train(model, *digits, config, out, progress=False, run_info={"data": {"dataset": "mnist"}})
    assert capsys.readouterr().err == ""  # quiet: no progress bar
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.pt",
        "config.json",
        "history.json",
    ]  # no temporary files
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    for h in history:
        assert set(h) == {
            "epoch",
            "train_loss",
            "val_elbo",
            "val_re",
            "val_kl",
            "kl_weight",
            "time_s",
        }
        assert h["val_elbo"] == pytest.approx(h["val_re"] - h["val_kl"])
    assert [h["kl_weight"] for h in history] == pytest.approx([0.25, 0.5])
    config_json = json.loads((out / "config.json").read_text())
    assert config_json["model"] == model.config
    assert config_json["train"]["epochs"] == 2 and config_json["data"] == {"dataset": "mnist"}
    ckpt = load_checkpoint(out)
    assert set(ckpt) == {"model", "optimizer", "rng", "progress", "config"}
    assert set(ckpt["rng"]) >= {"torch", "numpy", "python", "loader"}
    assert set(ckpt["rng"]["loader"]) == {"order", "draws"}
    assert ckpt["progress"]["epoch"] == 2


def test_progress_bar_is_shown_unless_quiet(circle, capsys) -> None:
    config = TrainConfig(epochs=1, binarize=False)
    train(circle_model("normal"), *circle, config, progress=True)
    assert "epochs" in capsys.readouterr().err


def test_load_checkpoint_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path)


def test_load_model_restores_the_best_parameters(circle, tmp_path: Path) -> None:
    """load_model rebuilds the architecture from the run and loads its best epoch's weights:
    the same parameters as the model `train` returns (which also restores the best)."""
    config = TrainConfig(epochs=2, warmup_epochs=1, binarize=False, batch_size=32)
    result = train(circle_model("vmf"), *circle, config, out_dir=tmp_path / "run",
                   progress=False)
    loaded = T.load_model(tmp_path / "run")
    assert isinstance(loaded, VAE) and loaded.latent == "vmf"
    assert_identical(params(loaded), params(result.model))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        T.load_model(tmp_path / "missing")
