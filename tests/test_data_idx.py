"""Tests for hvae.data.idx: reading, parsing and writing IDX files (plain and gzipped)."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from data_helpers import idx_bytes, leftovers

from hvae import data as D


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


def test_read_maybe_gzip_decides_from_the_content(tmp_path):
    plain, packed = tmp_path / "a.gz", tmp_path / "b.txt"
    plain.write_bytes(b"not compressed")
    packed.write_bytes(gzip.compress(b"compressed"))
    assert D.read_maybe_gzip(plain) == b"not compressed"
    assert D.read_maybe_gzip(packed) == b"compressed"


def test_gunzip_if_gzip_bytes():
    raw = idx_bytes(0x08, (3,), b"\x01\x02\x03")
    assert D.gunzip_if_gzip(raw) == raw  # not compressed: returned as is
    assert D.gunzip_if_gzip(gzip.compress(raw), "x.gz") == raw
    with pytest.raises(ValueError, match=r"^x\.gz: corrupt or truncated gzip stream"):
        D.gunzip_if_gzip(gzip.compress(raw)[:-6], "x.gz")
