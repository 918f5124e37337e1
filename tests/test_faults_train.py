"""Faults around run files: stale temporaries of killed writers are cleaned, live ones kept."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from hvae._io import _host, atomic_output, remove_stale_parts


def test_atomic_output_names_its_writer(tmp_path: Path) -> None:
    with atomic_output(tmp_path / "a.json", mode="w") as fh:
        names = [p.name for p in tmp_path.iterdir()]
        fh.write("{}")
    assert len(names) == 1 and names[0].startswith(f".a.json.{_host()}~{os.getpid()}.")
    assert names[0].endswith(".part")


def test_remove_stale_parts(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    stale = tmp_path / f".checkpoint.pt.{_host()}~{pid}.abc123.part"
    live = tmp_path / f".checkpoint.pt.{_host()}~{os.getpid()}.def456.part"
    foreign = tmp_path / ".checkpoint.pt.otherhost~1.ghi789.part"
    old_foreign = tmp_path / ".history.json.otherhost~1.jkl012.part"
    unrelated = tmp_path / "notes.part"
    for p in (stale, live, foreign, old_foreign, unrelated):
        p.write_bytes(b"x")
    past = time.time() - 10 * 24 * 3600
    os.utime(old_foreign, (past, past))
    removed = remove_stale_parts(tmp_path)
    assert sorted(removed) == sorted([stale, old_foreign])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (live, foreign, unrelated))
    assert remove_stale_parts(tmp_path / "missing") == []


def test_resume_refuses_other_data_and_writes_nothing(tmp_path: Path) -> None:
    import pytest
    import torch

    from hvae.data import make_circle_data
    from hvae.models import VAE
    from hvae.train import TrainConfig, train

    data = make_circle_data(96, seed=0).x, make_circle_data(32, seed=1).x
    config = TrainConfig(epochs=1, binarize=False)
    info = {"data": {"dataset": "circle", "source": "circle", "limit": 96}}

    def model() -> VAE:
        torch.manual_seed(0)
        return VAE("normal", 2, hidden=(8,), input_dim=100, likelihood="gaussian")

    train(model(), *data, config, tmp_path, progress=False, run_info=info)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    other = {"data": {"dataset": "circle", "source": "circle", "limit": 50}}
    with pytest.raises(ValueError, match=r"resume: the data differ .*limit: 96 -> 50"):
        train(model(), *data, TrainConfig(epochs=2, binarize=False), tmp_path, resume=True,
              progress=False, run_info=other)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_diverging_run_stops_with_its_epoch_and_cause(tmp_path: Path) -> None:
    import pytest
    import torch

    from hvae.data import make_circle_data
    from hvae.models import VAE
    from hvae.train import CHECKPOINT, TrainConfig, TrainingDivergedError, train

    data = make_circle_data(96, seed=0).x, make_circle_data(32, seed=1).x
    for latent, dim in (("normal", 2), ("vmf", 1)):
        torch.manual_seed(0)
        model = VAE(latent, dim, hidden=(8,), input_dim=100, likelihood="gaussian")
        out = tmp_path / latent
        config = TrainConfig(epochs=3, binarize=False, lr=1e30, batch_size=16)
        with pytest.raises(TrainingDivergedError, match=r"^epoch 1: training diverged .*"
                           r"learning rate 1e\+30 is probably too high$"):
            train(model, *data, config, out, progress=False)
        assert not (out / CHECKPOINT).exists()  # nothing of the diverged epoch was saved
