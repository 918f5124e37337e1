"""Tests for hvae.data.datasets (DATASETS, load_dataset) and for the package's re-exports."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from data_helpers import REPO_DATA

import hvae.data as D

MODULES = ("idx", "download", "mnist", "planetoid", "binarize", "synthetic", "datasets")


def test_package_reexports_every_public_name_of_its_modules():
    names: set[str] = set()
    for module_name in MODULES:
        module = importlib.import_module(f"hvae.data.{module_name}")
        for name in module.__all__:
            assert getattr(D, name) is getattr(module, name), (module_name, name)
        names |= set(module.__all__)
    assert set(D.__all__) == names and len(D.__all__) == len(names)


def test_default_data_root_is_the_repository_data_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("HVAE_DATA_DIR", raising=False)
    assert D.default_data_root() == REPO_DATA
    monkeypatch.setenv("HVAE_DATA_DIR", str(tmp_path))
    assert D.default_data_root() == Path(tmp_path)


@pytest.mark.parametrize("split", ["train", "validation", "test"])
def test_load_dataset_circle_is_the_circle_split(split):
    n, seed = D.CIRCLE_SPLITS[split]
    images, labels, source = D.load_dataset("circle", split)
    expected = D.make_circle_data(n=n, seed=seed)
    assert source == "circle" and images.shape == (n, 100)
    np.testing.assert_array_equal(images, expected.x)
    np.testing.assert_array_equal(labels, expected.labels)
    first, first_labels, _ = D.load_dataset("circle", split, limit=7)
    np.testing.assert_array_equal(first, expected.x[:7])
    np.testing.assert_array_equal(first_labels, expected.labels[:7])


def test_circle_splits_are_three_samples_with_distinct_seeds():
    assert D.CIRCLE_SPLITS == {"train": (3000, 0), "validation": (500, 1), "test": (1000, 2)}


def test_load_dataset_mnist_is_load_mnist(monkeypatch, tmp_path):
    shutil.copy(REPO_DATA / "mnist_5k.npz", tmp_path / "mnist_5k.npz")
    monkeypatch.setenv("HVAE_DATA_DIR", str(tmp_path))  # no full set there
    images, labels, source = D.load_dataset("mnist", "validation", limit=20)
    split = D.load_mnist(split="validation")
    assert source == "mnist-5k-subset" and images.shape == (20, 784)
    np.testing.assert_array_equal(images, split.images[:20])
    np.testing.assert_array_equal(labels, split.labels[:20])


def test_load_dataset_rejects_an_unknown_name():
    with pytest.raises(ValueError, match=r"^dataset: must be one of \('mnist', 'circle'\), "
                       r"got 'cifar'$"):
        D.load_dataset("cifar", "train")
