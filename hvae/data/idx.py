"""The IDX file format of MNIST: read (plain or gzip-compressed), parse and write.

An IDX file is a small header (two zero bytes, a type code, the number of dimensions and one
big-endian uint32 size per dimension) followed by the array in C order, big-endian. The
readers here check every part of it, so that a damaged or truncated file is an error naming
the file rather than a silently wrong array.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from hvae._io import atomic_output
from hvae._validation import fail

__all__ = ["gunzip_if_gzip", "parse_idx", "read_idx", "read_maybe_gzip", "write_idx"]

# IDX type codes (third byte of the magic number) -> big-endian numpy dtypes.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_CODES: dict[str, int] = {dt.newbyteorder("=").str[1:]: c for c, dt in _IDX_DTYPES.items()}


def gunzip_if_gzip(raw: bytes, name: str = "<bytes>") -> bytes:
    """``raw`` decompressed if it starts with the gzip magic bytes, else ``raw`` itself.

    A corrupt or truncated gzip stream is a ``ValueError`` naming ``name``.
    """
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise ValueError(f"{name}: corrupt or truncated gzip stream ({exc})") from exc


def read_maybe_gzip(path: str | os.PathLike[str]) -> bytes:
    """Read a whole file, decompressing it if it starts with the gzip magic bytes.

    Whether the file is compressed is decided from its content, not its name. A corrupt or
    truncated gzip stream is a ``ValueError`` naming the file.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        raw = fh.read()
    return gunzip_if_gzip(raw, str(path))


def parse_idx(buffer: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX-format bytes (uncompressed) into a native-endian numpy array.

    The IDX header is two zero bytes, a type code, the number of dimensions ``ndim`` and then
    ``ndim`` big-endian uint32 sizes; the data follow in C order. Every part is validated, and
    the data must have exactly the advertised length (no silent truncation or trailing junk).
    ``name`` is used in error messages only.
    """
    if len(buffer) < 4:
        raise ValueError(f"{name}: truncated IDX file: {len(buffer)} bytes, no complete header")
    zero0, zero1, code, ndim = buffer[0], buffer[1], buffer[2], buffer[3]
    if zero0 != 0 or zero1 != 0:
        raise ValueError(
            f"{name}: bad IDX magic number 0x{buffer[:4].hex()} (must start with two zero "
            "bytes); not an IDX file, or still compressed with something other than gzip"
        )
    if code not in _IDX_DTYPES:
        raise ValueError(f"{name}: unknown IDX data type code 0x{code:02x}")
    if ndim == 0:
        raise ValueError(f"{name}: IDX header declares 0 dimensions")
    header_len = 4 + 4 * ndim
    if len(buffer) < header_len:
        raise ValueError(
            f"{name}: truncated IDX header: {ndim} dimensions need {header_len} bytes, "
            f"file has {len(buffer)}"
        )
    shape = struct.unpack(f">{ndim}I", buffer[4:header_len])
    dtype = _IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    actual = len(buffer) - header_len
    if actual < expected:
        raise ValueError(
            f"{name}: truncated IDX data: shape {shape} needs {expected} bytes, found {actual}"
        )
    if actual > expected:
        raise ValueError(
            f"{name}: {actual - expected} unexpected trailing bytes after IDX data of shape {shape}"
        )
    array = np.frombuffer(buffer, dtype=dtype, count=math.prod(shape), offset=header_len)
    return array.reshape(shape).astype(dtype.newbyteorder("="), copy=dtype.itemsize > 1)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed, detected from its content).

    Returns a native-endian array whose shape and dtype come from the file header. Raises
    ``ValueError`` naming the file for a bad magic number, unknown type code, truncated
    header/data, trailing bytes or a corrupt gzip stream.
    """
    path = Path(path)
    return parse_idx(read_maybe_gzip(path), name=str(path))


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed if ``path`` ends in ``.gz``).

    Supported dtypes: uint8, int8, int16, int32, float32, float64 (the IDX types). The file
    is written atomically. Returns the path.
    """
    path = Path(path)
    array = np.asarray(array)
    key = array.dtype.newbyteorder("=").str[1:]
    if key not in _IDX_CODES:
        raise fail("array", "of an IDX dtype (uint8, int8, int16, int32, float32 or float64)",
                    array.dtype)
    if array.ndim == 0 or array.ndim > 255:
        raise fail("array", "1- to 255-dimensional (IDX stores the number of dimensions in a "
                    "byte)", array.shape)
    if any(s >= 2**32 for s in array.shape):
        raise fail("array", "of dimension sizes < 2**32", array.shape)
    header = bytes([0, 0, _IDX_CODES[key], array.ndim]) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    payload = header + np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">")).tobytes()
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    with atomic_output(path) as fh:
        fh.write(payload)
    return path
