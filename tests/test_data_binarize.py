"""Tests for hvae.data.binarize: dynamic binarisation in make_loader, the fixed binarisation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hvae import data as D

INTENSITIES = np.array([0.0, 0.1, 0.5, 0.9, 1.0], dtype=np.float32)


def _epoch(loader) -> list:
    return list(loader)


def test_binarisation_is_unbiased():
    n = 4000
    images = np.tile(INTENSITIES, (n, 1))
    batches = _epoch(D.make_loader(images, batch_size=500, seed=0))
    x = torch.cat(batches).numpy()
    assert x.shape == (n, 5)
    assert set(np.unique(x).tolist()) <= {0.0, 1.0}
    mean = x.mean(axis=0)
    # exact for p = 0 and 1; otherwise within 4 standard errors sqrt(p (1 - p) / n)
    assert mean[0] == 0.0 and mean[4] == 1.0
    for p, m in zip(INTENSITIES[1:4], mean[1:4], strict=True):
        se = math.sqrt(p * (1 - p) / n)
        assert abs(m - p) < 4 * se, (p, m, se)


def test_binarisation_fresh_each_epoch_and_seeded():
    images = np.full((256, 20), 0.5, dtype=np.float32)
    labels = np.arange(256)
    loader = D.make_loader(images, batch_size=64, seed=7, labels=labels)
    e1, e2 = _epoch(loader), _epoch(loader)
    x1 = torch.cat([x for x, _ in e1])
    x2 = torch.cat([x for x, _ in e2])
    assert not torch.equal(x1, x2)  # new pixels every epoch
    y1 = torch.cat([y for _, y in e1])
    assert sorted(y1.tolist()) == list(range(256))  # each image exactly once per epoch
    assert y1.tolist() != list(range(256))  # shuffled
    # a new loader with the same seed replays the same two epochs exactly
    replay = D.make_loader(images, batch_size=64, seed=7, labels=labels)
    for a, b in zip(e1 + e2, _epoch(replay) + _epoch(replay), strict=True):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    other = _epoch(D.make_loader(images, batch_size=64, seed=8, labels=labels))
    assert not torch.equal(x1, torch.cat([x for x, _ in other]))


def test_loader_shares_memory_and_batches():
    images = np.random.default_rng(0).random((130, 784), dtype=np.float32)
    loader = D.make_loader(images, batch_size=64, shuffle=False)
    assert loader.dataset.images.data_ptr() == images.ctypes.data  # no copy of the data set
    shapes = [tuple(b.shape) for b in loader]
    assert shapes == [(64, 784), (64, 784), (2, 784)]
    x, y = next(iter(D.make_loader(images, batch_size=8, labels=np.arange(130))))
    assert x.shape == (8, 784) and y.shape == (8,) and y.dtype == torch.int64
    assert len(list(D.make_loader(images, batch_size=64, drop_last=True))) == 2


def test_loader_without_binarisation_returns_intensities():
    images = np.random.default_rng(1).normal(size=(50, 3)).astype(np.float32)  # real-valued
    out = torch.cat(list(D.make_loader(images, batch_size=16, shuffle=False, binarize=False)))
    np.testing.assert_array_equal(out.numpy(), images)


def test_loader_argument_errors():
    with pytest.raises(ValueError, match="images"):
        D.make_loader(np.array([[0.2, 1.5]], dtype=np.float32))
    with pytest.raises(ValueError, match="images"):
        D.make_loader(np.array([[np.nan]], dtype=np.float32))
    with pytest.raises(ValueError, match="labels"):
        D.make_loader(np.zeros((3, 2), dtype=np.float32), labels=np.zeros(4))
    with pytest.raises(ValueError, match="batch_size"):
        D.make_loader(np.zeros((3, 2), dtype=np.float32), batch_size=0)


# ------------------------------------------------------------------------------------------
# as_tensor and the fixed binarisation
# ------------------------------------------------------------------------------------------


def test_as_tensor_is_float32_rows():
    x = D.as_tensor(np.arange(6, dtype=np.float64).reshape(2, 3))
    assert x.dtype == torch.float32 and x.shape == (2, 3)
    with pytest.raises(ValueError, match=r"^images: must be of shape \(n, features\) with "
                       r"n >= 1, got \(3,\)$"):
        D.as_tensor(np.zeros(3))
    with pytest.raises(ValueError, match="images"):
        D.as_tensor(np.zeros((0, 4)))


def test_fixed_binarization_is_one_seeded_draw():
    images = np.tile(INTENSITIES, (2000, 1))
    state = torch.random.get_rng_state()
    x = D.fixed_binarization(images, seed=5)
    assert torch.equal(state, torch.random.get_rng_state())  # the global generator is untouched
    assert x.dtype == torch.float32 and set(x.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(x, D.fixed_binarization(images, seed=5))
    assert not torch.equal(x, D.fixed_binarization(images, seed=6))
    mean = x.mean(dim=0).numpy()
    assert mean[0] == 0.0 and mean[4] == 1.0
    for p, m in zip(INTENSITIES[1:4], mean[1:4], strict=True):
        assert abs(m - p) < 4 * math.sqrt(p * (1 - p) / 2000), (p, m)


def test_argument_messages_have_one_format():
    with pytest.raises(ValueError, match=r"^batch_size: must be an integer >= 1, got 0$"):
        D.make_loader(np.zeros((3, 2), dtype=np.float32), batch_size=0)
    with pytest.raises(ValueError, match=r"^labels: must be of shape \(3,\) \(one per image\), "
                       r"got \(4,\)$"):
        D.BinarizedDataset(np.zeros((3, 2), dtype=np.float32), np.zeros(4))
