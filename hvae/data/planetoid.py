"""Planetoid citation graphs (Cora, Citeseer, Pubmed): the link-prediction data of Table 4.

* **The files**: the Planetoid distribution (Yang, Cohen and Salakhutdinov, 2016), the inputs
  of the VGAE and S-VGAE experiments, five files per data set ``NAME``: ``ind.NAME.x``,
  ``ind.NAME.tx``, ``ind.NAME.allx`` (feature matrices, ``scipy.sparse`` CSR), ``ind.NAME.graph``
  (a ``collections.defaultdict(list)`` adjacency list ``{node: [neighbours]}``), all Python 2
  pickles, and ``ind.NAME.test.index`` (plain text, one node id per line). They are not part
  of the repository: :func:`download_planetoid` fetches them from :data:`PLANETOID_MIRRORS`,
  keeping a file only if its SHA-256 is the one in :data:`PLANETOID_SHA256`.
* **Verified, then unpickled with a restricted unpickler**: :func:`load_planetoid` checks each
  file's SHA-256 before unpickling anything, and unpickles the very bytes it hashed with an
  unpickler that builds only the few classes these files hold (numpy arrays and dtypes, CSR
  matrices, a defaultdict of lists; the list is ``_ALLOWED_GLOBALS``): any other global, such
  as ``os.system`` or ``builtins.eval``, is refused with a one-line
  ``pickle.UnpicklingError`` before it is looked up.
* **What it returns**: a :class:`PlanetoidGraph`: the whole graph's node features ``X``
  (float32 CSR, shape (n, f)) and its adjacency matrix ``A`` (float32 CSR, shape (n, n)),
  built as the reference code of the graph auto-encoder (``tkipf/gae``, ``load_data``) does.

The graph, in formulas: node ``i``'s features are row ``i`` of
``X = vstack(allx, tx)`` with the test rows put in the order of ``test.index``: row ``k`` of
``tx`` is node ``test.index[k]``, nodes ``0 .. len(allx) - 1`` are the rows of ``allx`` in
order, and a node between the first and the last test id that ``test.index`` does not list
gets a row of zeros: Citeseer has 15 such nodes (the reference code calls them isolated, but
in ``ind.citeseer.graph`` each has one or two neighbours; they have no features), Cora none.
The features are returned as stored, with **no normalisation** (the loader scales no row and
computes no weights): binary bag-of-words indicators for Cora and Citeseer (the tests check
it), TF-IDF weights as distributed for Pubmed. The adjacency is ``A[i, j] = A[j, i] = 1`` when
``j`` is in ``graph[i]`` or ``i`` in ``graph[j]``, for ``i != j``, and 0 otherwise: symmetrised,
duplicates merged, self-loops dropped. Measured on the files of :data:`PLANETOID_SHA256`:

* Cora: 10,858 list entries; no self-loops; 151 edges listed twice in each direction (302
  duplicate entries); 5,278 undirected edges remain; no node is isolated.
* Citeseer: 9,464 list entries; 124 nodes list themselves, twice each (248 self-loop entries,
  dropped); 56 edges listed twice in each direction (112 duplicate entries); 4,552 undirected
  edges remain; 48 nodes have no neighbour once the self-loops are dropped.

Both lists are already symmetric (every ``j in graph[i]`` has ``i in graph[j]``), so
symmetrising adds nothing to them. Pubmed's files were not available to this project (see
:data:`PLANETOID_SHA256`); its sizes in :data:`PLANETOID_SIZES` are the published ones.

Data directory: functions that take ``root=None`` use :func:`default_planetoid_root`
(``$HVAE_PLANETOID_DIR`` when set, else ``<data root>/planetoid``, the data root being that of
:func:`default_data_root`); the five files of a data set lie directly in that directory.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import io
import numbers
import os
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from hvae._validation import check_choice, check_sha256, fail
from hvae.data.download import DEFAULT_DEADLINE, ensure_file
from hvae.data.mnist import default_data_root

__all__ = [
    "PLANETOID_MIRRORS",
    "PLANETOID_SHA256",
    "PLANETOID_SIZES",
    "PlanetoidGraph",
    "PlanetoidNotFoundError",
    "default_planetoid_root",
    "download_planetoid",
    "load_planetoid",
]

#: (nodes, features, undirected edges without self-loops) of each data set. Cora's and
#: Citeseer's are checked on every load with the default checksums; Pubmed's are the published
#: sizes, not measured here (there are no default checksums for it, so they are not checked).
PLANETOID_SIZES: dict[str, tuple[int, int, int]] = {
    "cora": (2708, 1433, 5278),
    "citeseer": (3327, 3703, 4552),
    "pubmed": (19717, 500, 44324),
}

#: Base URLs of the Planetoid files, tried in order: the Planetoid authors'
#: (``kimiyoung/planetoid``) first, then the graph auto-encoder's (``tkipf/gae``).
PLANETOID_MIRRORS: tuple[str, ...] = (
    "https://raw.githubusercontent.com/kimiyoung/planetoid/master/data/",
    "https://raw.githubusercontent.com/tkipf/gae/master/gae/data/",
)

#: SHA-256 of the five files of Cora and Citeseer, as distributed with ``tkipf/gae`` (commit
#: 0ebbe9b9a8, folder ``gae/data/``), byte for byte the files the VGAE and S-VGAE papers
#: used. Pubmed has no entry: this project could not obtain and
#: hash its files, so loading or downloading it needs ``checksums=`` of files the user trusts.
PLANETOID_SHA256: dict[str, dict[str, str]] = {
    "cora": {
        "ind.cora.x": "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab",
        "ind.cora.tx": "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a",
        "ind.cora.allx": "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543",
        "ind.cora.graph": "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d",
        "ind.cora.test.index": "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875",
    },
    "citeseer": {
        "ind.citeseer.x": "d20de19150741e555de0ed037195630fc194114ebc7fd72ced62810148aa22f6",
        "ind.citeseer.tx": "539a8906a2da97628d212f2fdd668c109a8b3f0d36574b59e5d3fd5b5303da21",
        "ind.citeseer.allx": "2ac30345d95c9ec933a817ee0bdd6a5f077f8c184a20e696910192d534414668",
        "ind.citeseer.graph": "d79a4ef9d3e7169aee8946145f6b7306e35bc79bffad26346cfb94e10e9912a7",
        "ind.citeseer.test.index": (
            "2af990671580b6b2df5d158d1038f8292e30c9cd821b5453f399659b25b723d4"),
    },
}

_SUFFIXES = ("x", "tx", "allx", "graph", "test.index")


def _file_names(name: str) -> tuple[str, ...]:
    """The five file names of data set ``name``, in the order they are read."""
    return tuple(f"ind.{name}.{suffix}" for suffix in _SUFFIXES)


class PlanetoidNotFoundError(FileNotFoundError):
    """A Planetoid data set's files are not in the directory looked in (one-line message)."""


# --------------------------------------------------------------------------------------------
# The data directory, the checksums and the download
# --------------------------------------------------------------------------------------------


def default_planetoid_root() -> Path:
    """Return the directory of the Planetoid files used when ``root=None``.

    ``$HVAE_PLANETOID_DIR`` if set (and not empty), else ``default_data_root() / "planetoid"``
    (see :func:`default_data_root`). The Makefile sets the variable to the shared copy
    ``../shared/datasets/planetoid`` when that folder exists.
    """
    env = os.environ.get("HVAE_PLANETOID_DIR")
    if env:
        return Path(env).expanduser()
    return default_data_root() / "planetoid"


def _resolve_root(root: str | os.PathLike[str] | None) -> Path:
    return default_planetoid_root() if root is None else Path(root).expanduser()


def _checksums(name: str, checksums: Mapping[str, str] | None) -> dict[str, str]:
    """The SHA-256 each of ``name``'s five files must have (default :data:`PLANETOID_SHA256`)."""
    files = _file_names(name)
    if checksums is None:
        if name not in PLANETOID_SHA256:
            raise ValueError(
                f"checksums: required for {name!r}: this project could not obtain and hash "
                f"{name.capitalize()}'s files, so it has no SHA-256 to check them against; "
                f"pass checksums={{file name: SHA-256}} for the five files {', '.join(files)}, "
                "computed from copies you trust"
            )
        return dict(PLANETOID_SHA256[name])
    if not isinstance(checksums, Mapping) or set(checksums) != set(files):
        got = sorted(checksums) if isinstance(checksums, Mapping) else checksums
        raise fail("checksums", f"a mapping with exactly the keys {list(files)}", got)
    return {f: check_sha256(checksums[f], f"checksums[{f!r}]") for f in files}


def download_planetoid(
    name: str,
    root: str | os.PathLike[str] | None = None,
    *,
    mirrors: Sequence[str] = PLANETOID_MIRRORS,
    checksums: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    deadline: float = DEFAULT_DEADLINE,
    max_bytes: int = 64 * 2**20,
    progress: bool = True,
) -> Path:
    """Download the five files of a Planetoid data set into ``root`` and return ``root``.

    Args:
        name: ``"cora"``, ``"citeseer"`` or ``"pubmed"``.
        root: the directory the files go to, directly (default: see
            :func:`default_planetoid_root`); :func:`load_planetoid` reads the same directory.
        mirrors: base URLs tried in order for each file (``http(s)://`` or ``file://``).
        checksums: file name -> expected SHA-256 for exactly the five files (default
            :data:`PLANETOID_SHA256`; required for Pubmed, which has no entry there).
        timeout: socket timeout in seconds (connecting, and each read).
        deadline: the most seconds the transfer of one file from one mirror may take.
        max_bytes: refuse any response larger than this (guards against a wrong URL).
        progress: show a tqdm progress bar per file.

    Each file goes through :func:`hvae.data.ensure_file`: a file already present with the
    right checksum is kept, one with a wrong checksum is left untouched (and reported), and a
    new file is written by atomic rename only once its checksum matched, so an interrupted or
    corrupt download leaves nothing behind.

    Raises:
        ValueError: an unknown ``name``, an empty mirror list, malformed checksums, or
            Pubmed without ``checksums``.
        DownloadError: a file could not be fetched from any mirror (one line listing each
            mirror's error and where to put the file by hand), or a file already in ``root``
            has a wrong checksum.
    """
    check_choice(name, "name", tuple(PLANETOID_SIZES))
    sums = _checksums(name, checksums)
    mirrors = list(mirrors)
    if not mirrors:
        raise fail("mirrors", "a non-empty sequence of base URLs", mirrors)
    target = _resolve_root(root)
    target.mkdir(parents=True, exist_ok=True)
    for file, sha in sums.items():
        ensure_file(target / file, sha, mirrors, timeout=timeout, deadline=deadline,
                    max_bytes=max_bytes, progress=progress,
                    note=f"then load it with hvae.data.load_planetoid({name!r}, root).")
    return target


# --------------------------------------------------------------------------------------------
# The restricted unpickler
# --------------------------------------------------------------------------------------------


class _RefusedGlobal(pickle.UnpicklingError):
    """A global outside ``_ALLOWED_GLOBALS``, or a use of one that it does not allow (told
    apart from a merely corrupt stream, which is a ``ValueError``)."""


def _latin1_encode(text: object, encoding: object = "latin1") -> bytes:
    """``_codecs.encode`` as a protocol-2 pickle written by Python 3 uses it for ``bytes``
    (``encode(str, "latin1")``), and only that."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _RefusedGlobal(
            f"refused _codecs.encode({type(text).__name__}, {encoding!r}): only latin1 is allowed"
        )
    return text.encode("latin1")


def _empty_bytes(*args: object) -> bytes:
    """``bytes()``, as a protocol-2 pickle written by Python 3 uses it for ``b""``, only."""
    if args:
        raise _RefusedGlobal("refused bytes(...) with arguments: only bytes() is allowed")
    return b""


#: The function numpy's ``ndarray.__reduce__`` names (``numpy.core.multiarray._reconstruct``
#: in numpy 1, ``numpy._core.multiarray._reconstruct`` in numpy 2), taken from numpy itself.
_RECONSTRUCT = np.ndarray(0).__reduce__()[0]

#: Every global the unpickler may build, by the (module, name) the pickle stream names. The
#: real files (Python 2, protocol 2) name exactly six: ``numpy.ndarray``, ``numpy.dtype``,
#: ``numpy.core.multiarray._reconstruct``, ``scipy.sparse.csr.csr_matrix`` (the feature files)
#: and ``collections.defaultdict``, ``__builtin__.list`` (the graph). The others are the same
#: objects as Python 3 names them in a protocol-2 pickle (numpy 2's ``numpy._core``, SciPy's
#: ``scipy.sparse._csr``, ``builtins``), plus ``_codecs.encode`` and ``bytes``, with which
#: such a pickle writes byte strings, restricted to that use.
_ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("scipy.sparse.csr", "csr_matrix"): sp.csr_matrix,
    ("scipy.sparse._csr", "csr_matrix"): sp.csr_matrix,
    ("collections", "defaultdict"): collections.defaultdict,
    ("__builtin__", "list"): list,
    ("builtins", "list"): list,
    ("_codecs", "encode"): _latin1_encode,
    ("__builtin__", "bytes"): _empty_bytes,
    ("builtins", "bytes"): _empty_bytes,
}


class _PlanetoidUnpickler(pickle.Unpickler):
    """Unpickle Python 2 pickles (``encoding="latin1"``), building only the allowed globals."""

    def __init__(self, raw: bytes, path: Path) -> None:
        super().__init__(io.BytesIO(raw), encoding="latin1")
        self._path = path

    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise _RefusedGlobal(
                f"{self._path}: refused to unpickle the global {module}.{name}: a Planetoid "
                "file holds only numpy arrays, scipy.sparse CSR matrices and a defaultdict of "
                "lists, and nothing else is built from it"
            ) from None


def _unpickle(raw: bytes, path: Path) -> object:
    """Unpickle verified bytes; a refused global propagates, a corrupt stream is a ValueError."""
    try:
        return _PlanetoidUnpickler(raw, path).load()
    except _RefusedGlobal as exc:
        msg = " ".join(str(exc).split())
        raise _RefusedGlobal(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError) as exc:
        raise ValueError(f"{path}: not a readable Planetoid pickle ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())})") from exc


# --------------------------------------------------------------------------------------------
# Parsing: features, test index, adjacency
# --------------------------------------------------------------------------------------------


def _read_verified(path: Path, want: str, name: str) -> bytes:
    """The bytes of ``path``, which must have SHA-256 ``want`` (one-line ``ValueError``)."""
    raw = path.read_bytes()
    got = hashlib.sha256(raw).hexdigest()
    if got != want:
        raise ValueError(
            f"{path}: SHA-256 {got} does not match the expected {want}: not the original "
            f"{name} file (truncated, altered or other data); it was left in place: delete it "
            f"and run hvae.data.download_planetoid({name!r}), or put the original file there"
        )
    return raw


def _as_csr(obj: object, path: Path) -> sp.csr_matrix:
    """A fresh, canonical float32 CSR copy of an unpickled CSR feature matrix."""
    if not isinstance(obj, sp.csr_matrix):
        raise ValueError(f"{path}: expected a scipy.sparse CSR matrix, got {type(obj).__name__}")
    try:
        data = np.asarray(obj.data)
        if data.dtype.kind not in "biuf" or not np.all(np.isfinite(data)):
            raise ValueError(f"its values must be finite real numbers, got dtype {data.dtype}")
        out = sp.csr_matrix((data.astype(np.float32), np.asarray(obj.indices),
                             np.asarray(obj.indptr)), shape=obj.shape)
        out.check_format(full_check=True)
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        raise ValueError(f"{path}: not a valid CSR matrix ({' '.join(str(exc).split())})") \
            from exc
    out.sum_duplicates()
    out.eliminate_zeros()
    return out


def _parse_index(raw: bytes, path: Path) -> np.ndarray:
    """The node ids of ``test.index``: one non-negative integer per line."""
    try:
        tokens = raw.decode("ascii").split()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a plain-text list of node ids") from None
    if not tokens or not all(t.isdigit() for t in tokens):
        raise ValueError(f"{path}: expected one non-negative integer node id per line")
    return np.array([int(t) for t in tokens], dtype=np.int64)


def _features(allx: sp.csr_matrix, tx: sp.csr_matrix, test: np.ndarray,
              paths: Mapping[str, Path]) -> sp.csr_matrix:
    """``vstack(allx, tx)`` with row ``k`` of ``tx`` at node ``test[k]``, missing ids zero."""
    a, k, f = allx.shape[0], tx.shape[0], allx.shape[1]
    if tx.shape[1] != f:
        raise ValueError(f"{paths['tx']}: {tx.shape[1]} features, but allx has {f}")
    if test.size != k or np.unique(test).size != k:
        raise ValueError(f"{paths['test.index']}: expected {k} distinct node ids (one per row "
                         f"of tx), got {test.size} ids of which {np.unique(test).size} distinct")
    if test.min() != a:
        raise ValueError(f"{paths['test.index']}: the smallest test node id must be "
                         f"len(allx) = {a} (test nodes follow the others), got {test.min()}")
    n = int(test.max()) + 1
    missing = np.setdiff1d(np.arange(a, n), test)
    source = np.empty(n, dtype=np.int64)  # node i is row source[i] of the stack below
    source[:a] = np.arange(a)
    source[test] = a + np.arange(k)
    source[missing] = a + k + np.arange(missing.size)
    stack = sp.vstack([allx, tx, sp.csr_matrix((missing.size, f), dtype=np.float32)],
                      format="csr")
    out = sp.csr_matrix(stack[source], dtype=np.float32)
    out.sort_indices()
    return out


def _is_node_id(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _adjacency(graph: object, n: int, path: Path) -> sp.csr_matrix:
    """The symmetric 0/1 adjacency of an adjacency list, without duplicates or self-loops."""
    if not isinstance(graph, dict):
        raise ValueError(f"{path}: expected a dict of lists, got {type(graph).__name__}")
    rows, cols = [], []
    for node, neighbours in graph.items():
        if not _is_node_id(node) or not isinstance(neighbours, list) or not all(
                _is_node_id(v) for v in neighbours):
            raise ValueError(f"{path}: expected integer node ids mapped to lists of integer "
                             f"node ids, got {node!r}: {type(neighbours).__name__}")
        rows.append(np.full(len(neighbours), int(node), dtype=np.int64))
        cols.append(np.array([int(v) for v in neighbours], dtype=np.int64))
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    ids = np.concatenate([r, c, np.array([int(k) for k in graph], dtype=np.int64)])
    if ids.size and (ids.min() < 0 or ids.max() >= n):
        raise ValueError(f"{path}: node ids must lie in 0..{n - 1} (the feature rows)")
    keep = r != c  # drop self-loops
    lo, hi = np.minimum(r[keep], c[keep]), np.maximum(r[keep], c[keep])
    i, j = np.divmod(np.unique(lo * n + hi), n)  # each undirected edge once, i < j
    both = (np.concatenate([i, j]), np.concatenate([j, i]))
    out = sp.csr_matrix((np.ones(2 * i.size, dtype=np.float32), both), shape=(n, n))
    out.sum_duplicates()
    return out


# --------------------------------------------------------------------------------------------
# The graph and load_planetoid
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanetoidGraph:
    """A Planetoid citation graph as returned by :func:`load_planetoid`.

    Attributes:
        name: ``"cora"``, ``"citeseer"`` or ``"pubmed"``.
        features: ``scipy.sparse.csr_matrix``, float32, shape (n, f): row ``i`` is node
            ``i``'s bag-of-words vector as stored in the files (0/1 for Cora and Citeseer,
            TF-IDF weights for Pubmed), not normalised; rows of test nodes missing from
            ``test.index`` are zero.
        adjacency: ``scipy.sparse.csr_matrix``, float32, shape (n, n), canonical (sorted
            indices, no duplicate entries): symmetric, every stored entry exactly 1.0, zero
            diagonal (self-loops dropped); ``A[i, j] = 1`` when ``i`` and ``j`` cite each other
            in either direction.
        source: the directory the files were read from (resolved, as a string).
    """

    name: str
    features: sp.csr_matrix = field(repr=False)
    adjacency: sp.csr_matrix = field(repr=False)
    source: str

    @property
    def n_nodes(self) -> int:
        """Number of nodes ``n``."""
        return int(self.features.shape[0])

    @property
    def n_features(self) -> int:
        """Number of features per node ``f`` (the vocabulary size)."""
        return int(self.features.shape[1])

    @property
    def n_edges(self) -> int:
        """Number of undirected edges (half the stored entries of ``adjacency``)."""
        return int(self.adjacency.nnz // 2)

    def edges(self) -> np.ndarray:
        """The undirected edges: int64, shape (n_edges, 2), rows ``(i, j)`` with ``i < j``,
        sorted by ``i`` then ``j``."""
        upper = sp.triu(self.adjacency, k=1, format="coo")
        order = np.lexsort((upper.col, upper.row))
        return np.stack([upper.row[order], upper.col[order]], axis=1).astype(np.int64)


@functools.lru_cache(maxsize=4)
def _load_cached(directory: str, name: str, stamp: tuple[tuple[int, int], ...],
                 expected: tuple[str, ...]) -> PlanetoidGraph:
    """Verify all five files, then parse them, once per (directory, file versions, sums).

    Every file is hashed before any is unpickled, and the hashed bytes are those parsed.
    A failure raises (and is not cached).
    """
    del stamp  # only part of the cache key
    files = _file_names(name)
    paths = {s: Path(directory) / f for s, f in zip(_SUFFIXES, files, strict=True)}
    raws = {s: _read_verified(paths[s], sha, name)
            for s, sha in zip(_SUFFIXES, expected, strict=True)}
    x, tx, allx = (_as_csr(_unpickle(raws[s], paths[s]), paths[s]) for s in ("x", "tx", "allx"))
    graph = _unpickle(raws["graph"], paths["graph"])
    if x.shape[1] != allx.shape[1] or x.shape[0] > allx.shape[0]:
        raise ValueError(f"{paths['x']}: shape {x.shape} does not fit allx's {allx.shape}")
    features = _features(allx, tx, _parse_index(raws["test.index"], paths["test.index"]), paths)
    adjacency = _adjacency(graph, features.shape[0], paths["graph"])
    return PlanetoidGraph(name, features, adjacency, directory)


def load_planetoid(
    name: str,
    root: str | os.PathLike[str] | None = None,
    *,
    checksums: Mapping[str, str] | None = None,
) -> PlanetoidGraph:
    """Load a Planetoid citation graph: node features and symmetric adjacency.

    Args:
        name: ``"cora"``, ``"citeseer"`` or ``"pubmed"``.
        root: the directory holding the five files ``ind.NAME.{x,tx,allx,graph,test.index}``
            (default: see :func:`default_planetoid_root`).
        checksums: file name -> SHA-256 for exactly those five files (default
            :data:`PLANETOID_SHA256`; required for Pubmed, which has no entry there; other
            values are for other files of the same format, e.g. in tests).

    Every file's SHA-256 is checked before anything is unpickled, and the checked bytes are
    unpickled with a restricted unpickler (see the module docstring); the features and the
    adjacency are then built as described there. With the default checksums the sizes are
    checked against :data:`PLANETOID_SIZES`. The parsed graph is cached per process and
    version of the files (resolved path, sizes, modification times, checksums); each call
    returns its own copies of the matrices.

    Returns:
        A :class:`PlanetoidGraph`: ``features`` float32 CSR (n, f), ``adjacency`` float32 CSR
        (n, n). Cora: n = 2708, f = 1433, 5278 edges; Citeseer: 3327, 3703, 4552.

    Raises:
        ValueError: (one line) an unknown ``name``; Pubmed without ``checksums``; malformed
            checksums; a file whose SHA-256 does not match (named with both digests; the
            file is left in place); files that do not hold a Planetoid graph.
        PlanetoidNotFoundError: some of the five files are not in ``root``.

    A file whose pickle names a global outside the allowed few (``os.system``, say) raises
    ``pickle.UnpicklingError``, one line naming the file and the global, and nothing in it
    is executed.
    """
    check_choice(name, "name", tuple(PLANETOID_SIZES))
    sums = _checksums(name, checksums)
    directory = _resolve_root(root)
    files = _file_names(name)
    missing = [f for f in files if not (directory / f).is_file()]
    if missing:
        raise PlanetoidNotFoundError(
            f"Planetoid data set {name!r} not found in {directory} (missing: "
            f"{', '.join(missing)}): set $HVAE_PLANETOID_DIR to the folder holding the "
            f"ind.{name}.* files or pass root=..., or run "
            f"hvae.data.download_planetoid({name!r}) with network access"
        )
    stamp = tuple(((st := (directory / f).stat()).st_size, st.st_mtime_ns) for f in files)
    graph = _load_cached(str(directory.resolve()), name, stamp, tuple(sums[f] for f in files))
    if sums == PLANETOID_SHA256.get(name):
        want = PLANETOID_SIZES[name]
        got = (graph.n_nodes, graph.n_features, graph.n_edges)
        if got != want:
            raise ValueError(f"{name} from {graph.source}: (nodes, features, edges) = {got}, "
                             f"expected {want}")
    return dataclasses.replace(graph, features=graph.features.copy(),
                               adjacency=graph.adjacency.copy())
