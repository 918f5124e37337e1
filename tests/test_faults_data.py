"""Faults of the data files and downloads (issue 11, section 2), one test each or more:

* a truncated or altered ``data/mnist_5k.npz`` is refused with one line (not trained on, no
  ``BadZipFile`` traceback), and the check costs one hash per process;
* noise or altered MNIST IDX files in the data directory are refused with one line;
* a server trickling one byte per second is cut off by the transfer deadline;
* a killed download's ``.part`` leftover is removed on the next download, nothing else is.

Everything runs on files the tests write and on servers bound to 127.0.0.1.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import types

import numpy as np
import pytest
from data_helpers import (
    REPO_DATA,
    backdate,
    fake_mnist,
    idx_bytes,
    leftovers,
    serve,
    sha256,
    sums_of,
    trickle_server,
)

import hvae.data.mnist as M
from hvae import data as D

SUBSET = REPO_DATA / "mnist_5k.npz"


def _one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert "\n" not in msg, msg
    return msg


class _CountingHashlib:
    """Stands in for the ``hashlib`` module of hvae.data.mnist and counts sha256() calls."""

    def __init__(self) -> None:
        self.calls = 0

    def sha256(self, *args):
        self.calls += 1
        return hashlib.sha256(*args)


@pytest.fixture
def counting(monkeypatch):
    fake = _CountingHashlib()
    monkeypatch.setattr(M, "hashlib", types.SimpleNamespace(sha256=fake.sha256))
    return fake


# ------------------------------------------------------------------------------------------
# The shipped subset
# ------------------------------------------------------------------------------------------


def test_committed_subset_matches_its_recorded_sha256():
    got = hashlib.sha256(SUBSET.read_bytes()).hexdigest()
    assert got == D.MNIST_5K_SHA256
    readme = (REPO_DATA / "README.md").read_text()
    assert f"`mnist_5k.npz`: `{D.MNIST_5K_SHA256}`" in readme


@pytest.mark.parametrize("damage", ["truncated", "altered", "empty", "garbage"])
def test_damaged_subset_is_refused_with_one_line(tmp_path, damage):
    good = SUBSET.read_bytes()
    bad = {
        "truncated": good[: len(good) // 2],
        "altered": good[:1000] + bytes([good[1000] ^ 0x01]) + good[1001:],
        "empty": b"",
        "garbage": np.random.default_rng(0).bytes(5000),
    }[damage]
    path = tmp_path / "mnist_5k.npz"
    path.write_bytes(bad)
    with pytest.raises(ValueError) as err:
        D.load_mnist_subset(path)
    msg = _one_line(err.value)
    assert re.match(rf"^{re.escape(str(path))}: SHA-256 [0-9a-f]{{64}} does not match the "
                    rf"expected {D.MNIST_5K_SHA256}", msg), msg
    # through load_mnist (what train and the chapters call) too: no fallback, no training
    with pytest.raises(ValueError, match="does not match"):
        D.load_mnist(tmp_path, "train")
    assert path.read_bytes() == bad  # the file is reported, never touched


def test_unchecked_garbage_subset_is_still_one_line(tmp_path):
    """With the checksum check off (``expected_sha256=None``), a non-npz is a ValueError,
    not a BadZipFile traceback."""
    path = tmp_path / "x.npz"
    path.write_bytes(SUBSET.read_bytes()[:5000])
    with pytest.raises(ValueError) as err:
        D.load_mnist_subset(path, expected_sha256=None)
    assert _one_line(err.value).startswith(f"{path}: not a readable .npz file")


def test_subset_hashed_once_per_process_and_again_when_changed(tmp_path, counting):
    path = tmp_path / "mnist_5k.npz"
    shutil.copy(SUBSET, path)
    images, labels = D.load_mnist_subset(path)
    assert counting.calls == 1 and images.shape == (5000, 784)
    for split in ("train", "validation", "test", "train"):
        D.load_mnist(tmp_path, split)
    assert counting.calls == 1  # cached by (path, size, mtime): loads stay cheap
    # the file changes after it was verified: checked again, and refused
    data = bytearray(path.read_bytes())
    data[2000] ^= 0xFF
    path.write_bytes(bytes(data))
    backdate(path, 10)  # a different mtime even on coarse-grained file systems
    with pytest.raises(ValueError, match="does not match"):
        D.load_mnist_subset(path)
    assert counting.calls == 2


# ------------------------------------------------------------------------------------------
# Full MNIST IDX files in the data directory
# ------------------------------------------------------------------------------------------


def _noise_mnist(directory, n_train=60, n_test=10) -> None:
    """Well-formed IDX files (right headers and shapes) full of noise."""
    rng = np.random.default_rng(9)
    directory.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        (directory / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(
            idx_bytes(0x08, (n, 28, 28), rng.integers(0, 256, n * 784, dtype=np.uint8).tobytes())
        ))
        (directory / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(
            idx_bytes(0x08, (n,), rng.integers(0, 10, n, dtype=np.uint8).tobytes())
        ))


@pytest.mark.parametrize("source", ["auto", "mnist"])
def test_noise_idx_files_are_refused_with_one_line(tmp_path, source):
    shutil.copy(SUBSET, tmp_path / "mnist_5k.npz")
    _noise_mnist(tmp_path / "mnist")
    with pytest.raises(ValueError) as err:
        D.load_mnist(tmp_path, "train", source=source, val_size=10)
    msg = _one_line(err.value)
    assert re.match(rf"^{re.escape(str(tmp_path / 'mnist'))}/[a-z0-9-]+-ubyte\.gz: SHA-256 "
                    r"[0-9a-f]{64} does not match the published [0-9a-f]{64}", msg), msg
    assert "download_mnist" in msg


def test_uncompressed_file_under_the_gz_name_is_refused(tmp_path):
    files = fake_mnist(tmp_path / "mnist", n_train=30, n_test=10)
    plain = gzip.decompress(files["t10k-labels-idx1-ubyte.gz"])
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(plain)
    # the same digits, but the sums (published or, here, the fake files') are of the .gz
    with pytest.raises(ValueError) as err:
        D.load_mnist(tmp_path, "test", val_size=5, checksums=sums_of(files))
    msg = _one_line(err.value)
    assert "t10k-labels-idx1-ubyte.gz: SHA-256" in msg and "not gzip-compressed" in msg


def test_full_set_verified_once_per_process_and_again_when_changed(tmp_path, counting):
    files = fake_mnist(tmp_path / "mnist", n_train=40, n_test=10)
    sums = sums_of(files)
    for split in ("train", "validation", "test", "train"):
        assert D.load_mnist(tmp_path, split, val_size=10, checksums=sums).source == "mnist"
    assert counting.calls == 4  # each of the four files hashed once
    # one file altered (same size) after it was verified: hashed again and refused
    path = tmp_path / "mnist" / "train-labels-idx1-ubyte.gz"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    backdate(path, 10)
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz: SHA-256"):
        D.load_mnist(tmp_path, "train", val_size=10, checksums=sums)


def test_real_sums_are_the_default(tmp_path):
    fake_mnist(tmp_path / "mnist", n_train=30, n_test=10)
    with pytest.raises(ValueError, match="does not match the published"):
        D.load_mnist(tmp_path, "test", val_size=5)  # fake files are not the real MNIST


@pytest.mark.parametrize("checksums", [{"f.gz": "a" * 64}, dict.fromkeys(D.MNIST_SHA256, "xyz")])
def test_load_mnist_checksums_argument_errors(tmp_path, checksums):
    with pytest.raises(ValueError, match="checksums"):
        D.load_mnist(tmp_path, checksums=checksums)


# ------------------------------------------------------------------------------------------
# Downloads: the deadline for the whole transfer
# ------------------------------------------------------------------------------------------


def test_one_byte_per_second_server_hits_the_deadline(tmp_path):
    dest = tmp_path / "f.gz"
    with trickle_server(n_bytes=1000, interval=1.0) as url:
        start = time.monotonic()
        with pytest.raises(D.DownloadError) as err:
            D.download_file(url + "f.gz", dest, "0" * 64, timeout=30, deadline=1.0,
                            progress=False)
        elapsed = time.monotonic() - start
    msg = _one_line(err.value)
    assert msg.startswith(f"{url}f.gz: transfer not finished within the deadline of 1 s"), msg
    assert 0.9 < elapsed < 5, elapsed  # the per-read timeout (30 s) was never reached
    assert leftovers(tmp_path) == []  # nothing half-written


def test_silent_server_hits_the_deadline_before_the_read_timeout(tmp_path):
    """Headers, then silence: the read is cut at the deadline, not after ``timeout``."""
    with trickle_server(n_bytes=10, interval=1.0, first_after=60.0) as url:
        start = time.monotonic()
        with pytest.raises(D.DownloadError, match="deadline of 1 s"):
            D.download_file(url + "f.gz", tmp_path / "f.gz", "0" * 64, timeout=30,
                            deadline=1.0, progress=False)
        assert time.monotonic() - start < 5
    assert leftovers(tmp_path) == []


def test_download_mnist_deadline_is_one_line_and_tries_the_next_mirror(tmp_path):
    content = b"digits " * 500
    good = tmp_path / "good"
    good.mkdir()
    (good / "f.gz").write_bytes(content)
    root = tmp_path / "root"
    with trickle_server(interval=1.0) as slow:
        start = time.monotonic()
        with pytest.raises(D.DownloadError) as err:
            D.download_mnist(root, mirrors=[slow], checksums={"f.gz": sha256(content)},
                             deadline=1.0, progress=False)
        msg = _one_line(err.value)
        assert msg.startswith("could not download f.gz from any mirror (")
        assert f"{slow}f.gz: transfer not finished within the deadline of 1 s" in msg
        assert str(root / "mnist" / "f.gz") in msg
        with serve(good) as fast:
            D.download_mnist(root, mirrors=[slow, fast], checksums={"f.gz": sha256(content)},
                             deadline=1.0, progress=False)
        assert time.monotonic() - start < 10
    assert (root / "mnist" / "f.gz").read_bytes() == content
    assert leftovers(root / "mnist") == ["f.gz"]


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), float("nan"), "5"])
def test_deadline_and_timeout_must_be_positive_finite(tmp_path, bad):
    with pytest.raises(ValueError, match="deadline"):
        D.ensure_file(tmp_path / "f.gz", "0" * 64, ["file:///x/"], deadline=bad)
    with pytest.raises(ValueError, match="timeout"):
        D.download_file("file:///x/f.gz", tmp_path / "f.gz", "0" * 64, timeout=bad)


# ------------------------------------------------------------------------------------------
# Stale .part files of a killed download
# ------------------------------------------------------------------------------------------


def _killed_write(dest) -> str:
    """Start an atomic write of ``dest`` in a subprocess and SIGKILL it halfway; return the
    name of the temporary file it leaves behind."""
    before = set(leftovers(dest.parent))
    code = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from hvae._io import atomic_output\n"
        "with atomic_output(Path(sys.argv[1])) as fh:\n"
        "    fh.write(b'half a download')\n"
        "    fh.flush()\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(dest)], capture_output=True,
                          timeout=120, cwd=REPO_DATA.parent)
    assert proc.returncode == -9, proc.stderr.decode()
    (new,) = set(leftovers(dest.parent)) - before
    return new


def test_stale_part_of_a_killed_download_is_removed_and_nothing_else(tmp_path):
    content = b"the real file " * 300
    srv = tmp_path / "srv"
    srv.mkdir()
    (srv / "f.gz").write_bytes(content)
    target = tmp_path / "root" / "mnist"
    target.mkdir(parents=True)
    stale = _killed_write(target / "f.gz")
    # the naming of hvae._io.atomic_output: .<target>.<host>~<pid>.<random>.part
    assert re.fullmatch(r"\.f\.gz\.[A-Za-z0-9-]*~\d+\.[a-z0-9_]+\.part", stale), stale
    backdate(target / stale, 3600)
    keep = {  # none of these is a stale leftover of f.gz: all must survive
        ".g.gz.otherhost~7.abcd1234.part": 3600,  # another file's leftover
        "f.gz.part": 3600,  # the user's file, another naming
        ".f.gz.otherhost~7.abcd1234.part.bak": 3600,
        ".f.gz.abc.part": 3600,
        # fresh, from another host: may belong to a download running right now
        ".f.gz.otherhost~7.zzzz9999.part": 0,
        "notes.txt": 3600,
    }
    for name, age in keep.items():
        (target / name).write_bytes(b"keep me")
        backdate(target / name, age)
    with serve(srv) as url:
        D.download_mnist(tmp_path / "root", mirrors=[url], checksums={"f.gz": sha256(content)},
                         progress=False)
    assert (target / "f.gz").read_bytes() == content
    assert leftovers(target) == sorted([*keep, "f.gz"])
    assert all((target / n).read_bytes() == b"keep me" for n in keep)


def test_stale_part_is_removed_when_the_file_is_already_there(tmp_path):
    content = b"abc" * 100
    target = tmp_path / "mnist"
    target.mkdir()
    (target / "f.gz").write_bytes(content)
    stale = target / ".f.gz.otherhost~12.k1l2m3n4.part"  # old: removed whatever its writer
    stale.write_bytes(b"half")
    backdate(stale, 3600)
    D.ensure_file(target / "f.gz", sha256(content), ["file:///nonexistent/"], progress=False)
    assert leftovers(target) == ["f.gz"]
    assert os.path.getsize(target / "f.gz") == len(content)
