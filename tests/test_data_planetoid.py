"""Tests for hvae.data.planetoid: the loader on a small hand-built graph in the Planetoid format,
the restricted unpickler against crafted pickles, the checksums, the errors, the download
(served on 127.0.0.1 only) and, when the shared copy is present, the real Cora and Citeseer.
"""

from __future__ import annotations

import codecs
import collections
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from data_helpers import closed_port_url, leftovers, serve, sha256

from hvae import data as D

NAMES = ("ind.cora.x", "ind.cora.tx", "ind.cora.allx", "ind.cora.graph", "ind.cora.test.index")

# The hand-built graph: 7 nodes, 4 features. allx holds nodes 0..2; test.index lists nodes
# 5, 3, 6 for the rows 0, 1, 2 of tx; node 4 is a test node missing from the index (zero row).
ALLX = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 2.5, 0]]  # 2.5: the values are not normalised
TX = [[1, 1, 0, 0], [0, 0, 0, 1], [1, 0, 1, 1]]
TEST_INDEX = b"5\n3\n6\n"
EXPECTED_FEATURES = np.array(
    [ALLX[0], ALLX[1], ALLX[2], TX[1], [0, 0, 0, 0], TX[0], TX[2]], dtype=np.float32
)
# 0 lists 1 twice (a duplicate), 2 lists itself (a self-loop), 6 lists 0 but 0 does not list
# 6 (one direction only), node 4 is in no list and not a key.
GRAPH = {0: [1, 2, 1], 1: [0], 2: [0, 2, 3], 3: [2, 5], 5: [3, 6], 6: [5, 0]}
EXPECTED_EDGES = [[0, 1], [0, 2], [0, 6], [2, 3], [3, 5], [5, 6]]


def _dump(obj) -> bytes:
    return pickle.dumps(obj, protocol=2)


def write_graph(directory: Path, name: str = "cora") -> dict[str, str]:
    """Write the hand-built graph's five files (pickle protocol 2); return their SHA-256."""
    graph = collections.defaultdict(list)
    for node, neighbours in GRAPH.items():
        graph[node].extend(neighbours)
    allx = sp.csr_matrix(np.array(ALLX, dtype=np.float32))
    contents = {
        "x": _dump(allx[:2]),
        "tx": _dump(sp.csr_matrix(np.array(TX, dtype=np.float32))),
        "allx": _dump(allx),
        "graph": _dump(graph),
        "test.index": TEST_INDEX,
    }
    directory.mkdir(parents=True, exist_ok=True)
    for suffix, content in contents.items():
        (directory / f"ind.{name}.{suffix}").write_bytes(content)
    return {f"ind.{name}.{s}": sha256(c) for s, c in contents.items()}


class _Payload:
    """Unpickles to ``func(arg)``: what a malicious pickle does."""

    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


class _Call:
    """Unpickles to ``func(*args)``."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def _evil_graph(func, arg) -> bytes:
    graph = collections.defaultdict(list, {0: [1], 1: [_Payload(func, arg)]})
    return _dump(graph)


def _payload_arg(kind: str, marker: Path) -> tuple:
    if kind == "os.system":
        return os.system, f"touch {marker}"
    return eval, f"open({str(marker)!r}, 'w').close()"


# ------------------------------------------------------------------------------------------
# The hand-built graph
# ------------------------------------------------------------------------------------------


def test_load_synthetic_graph(tmp_path):
    sums = write_graph(tmp_path)
    g = D.load_planetoid("cora", tmp_path, checksums=sums)
    assert isinstance(g, D.PlanetoidGraph) and g.name == "cora"
    assert g.source == str(tmp_path.resolve())
    assert isinstance(g.features, sp.csr_matrix) and g.features.dtype == np.float32
    # row k of tx is node test.index[k]; node 4, missing from the index, is zero; no scaling
    np.testing.assert_array_equal(g.features.toarray(), EXPECTED_FEATURES)
    assert (g.n_nodes, g.n_features, g.n_edges) == (7, 4, 6)
    a = g.adjacency
    assert isinstance(a, sp.csr_matrix) and a.dtype == np.float32 and a.shape == (7, 7)
    assert a.has_canonical_format
    assert (a != a.T).nnz == 0  # symmetric, also for the edge 6 -> 0 listed one way only
    assert np.all(a.diagonal() == 0)  # the self-loop 2 -> 2 is dropped
    assert np.all(a.data == 1.0)  # the duplicate 0 -> 1 is merged, not summed to 2
    expected = np.zeros((7, 7), dtype=np.float32)
    for i, j in EXPECTED_EDGES:
        expected[i, j] = expected[j, i] = 1
    np.testing.assert_array_equal(a.toarray(), expected)
    edges = g.edges()
    assert edges.dtype == np.int64 and edges.shape == (6, 2)
    assert edges.tolist() == EXPECTED_EDGES


def test_each_load_returns_its_own_copies(tmp_path):
    sums = write_graph(tmp_path)
    first = D.load_planetoid("cora", tmp_path, checksums=sums)
    first.features.data[:] = 7.0
    first.adjacency.data[:] = 3.0
    again = D.load_planetoid("cora", tmp_path, checksums=sums)  # from the cache
    np.testing.assert_array_equal(again.features.toarray(), EXPECTED_FEATURES)
    assert np.all(again.adjacency.data == 1.0)


def test_a_changed_file_is_read_again(tmp_path):
    sums = write_graph(tmp_path)
    D.load_planetoid("cora", tmp_path, checksums=sums)
    (tmp_path / "ind.cora.test.index").write_bytes(b"3\n5\n6\n")  # tx rows to other nodes
    sums["ind.cora.test.index"] = sha256(b"3\n5\n6\n")
    g = D.load_planetoid("cora", tmp_path, checksums=sums)
    np.testing.assert_array_equal(g.features.toarray()[[3, 5]], np.array([TX[0], TX[1]]))


def test_pubmed_loads_with_user_checksums(tmp_path):
    sums = write_graph(tmp_path, name="pubmed")
    g = D.load_planetoid("pubmed", tmp_path, checksums=sums)
    assert (g.name, g.n_nodes, g.n_edges) == ("pubmed", 7, 6)


def test_sizes_are_checked_with_the_default_checksums(tmp_path, monkeypatch):
    sums = write_graph(tmp_path)
    monkeypatch.setitem(D.PLANETOID_SHA256, "cora", sums)  # the defaults now match these files
    with pytest.raises(ValueError, match=r"\(7, 4, 6\), expected \(2708, 1433, 5278\)"):
        D.load_planetoid("cora", tmp_path)


# ------------------------------------------------------------------------------------------
# The restricted unpickler
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval"])
def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path, kind):
    data = tmp_path / "data"
    sums = write_graph(data)
    # The control: unpickled without restriction, the payload does run.
    control = tmp_path / "control"
    pickle.loads(_evil_graph(*_payload_arg(kind, control)))
    assert control.exists()
    marker = tmp_path / "marker"
    evil = _evil_graph(*_payload_arg(kind, marker))
    (data / "ind.cora.graph").write_bytes(evil)
    sums["ind.cora.graph"] = sha256(evil)  # the checksum passes: only the unpickler stands
    with pytest.raises(pickle.UnpicklingError) as err:
        D.load_planetoid("cora", data, checksums=sums)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(data / "ind.cora.graph") in msg
    assert ("system" if kind == "os.system" else "eval") in msg
    assert not marker.exists()


def test_codecs_encode_is_allowed_only_for_latin1(tmp_path):
    sums = write_graph(tmp_path)
    evil = _dump(collections.defaultdict(list, {0: [_Call(codecs.encode, "x", "rot13")]}))
    (tmp_path / "ind.cora.graph").write_bytes(evil)
    sums["ind.cora.graph"] = sha256(evil)
    with pytest.raises(pickle.UnpicklingError, match=r"ind\.cora\.graph: refused _codecs\.encode"):
        D.load_planetoid("cora", tmp_path, checksums=sums)


def test_checksum_is_verified_before_anything_is_unpickled(tmp_path):
    sums = write_graph(tmp_path)
    marker = tmp_path / "marker"
    (tmp_path / "ind.cora.x").write_bytes(_evil_graph(os.system, f"touch {marker}"))
    with pytest.raises(ValueError, match=r"ind\.cora\.x: SHA-256"):
        D.load_planetoid("cora", tmp_path, checksums=sums)
    assert not marker.exists()


# ------------------------------------------------------------------------------------------
# Checksums, missing files, names
# ------------------------------------------------------------------------------------------


def test_checksum_mismatch_names_the_file_and_leaves_it(tmp_path):
    sums = write_graph(tmp_path)
    path = tmp_path / "ind.cora.tx"
    altered = path.read_bytes() + b"\0"
    path.write_bytes(altered)
    with pytest.raises(ValueError) as err:
        D.load_planetoid("cora", tmp_path, checksums=sums)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(path) in msg and sums["ind.cora.tx"] in msg and sha256(altered) in msg
    assert path.read_bytes() == altered  # left in place, untouched


def test_missing_files(tmp_path):
    with pytest.raises(D.PlanetoidNotFoundError) as err:
        D.load_planetoid("citeseer", tmp_path / "nowhere")
    assert isinstance(err.value, FileNotFoundError)
    msg = str(err.value)
    assert "\n" not in msg
    for part in ("'citeseer'", str(tmp_path / "nowhere"), "$HVAE_PLANETOID_DIR", "root=",
                 "download_planetoid('citeseer')"):
        assert part in msg, part
    sums = write_graph(tmp_path)
    (tmp_path / "ind.cora.allx").unlink()
    with pytest.raises(D.PlanetoidNotFoundError, match=r"missing: ind\.cora\.allx\)"):
        D.load_planetoid("cora", tmp_path, checksums=sums)


def test_unknown_name():
    for call in (D.load_planetoid, D.download_planetoid):
        with pytest.raises(ValueError, match=r"^name: must be one of \('cora', 'citeseer', "
                                             r"'pubmed'\), got 'cora2'$"):
            call("cora2")


def test_pubmed_needs_checksums(tmp_path):
    for call in (D.load_planetoid, D.download_planetoid):
        with pytest.raises(ValueError) as err:
            call("pubmed", tmp_path)
        msg = str(err.value)
        assert "\n" not in msg
        assert msg.startswith("checksums:")
        assert "could not obtain and hash Pubmed's files" in msg and "you trust" in msg
    assert "pubmed" not in D.PLANETOID_SHA256
    assert leftovers(tmp_path) == []  # nothing was fetched or written


def test_checksums_must_name_the_five_files(tmp_path):
    sums = write_graph(tmp_path)
    del sums["ind.cora.x"]
    with pytest.raises(ValueError, match="^checksums: must be a mapping with exactly the keys"):
        D.load_planetoid("cora", tmp_path, checksums=sums)
    with pytest.raises(ValueError, match=r"checksums\['ind.cora.x'\]"):
        D.load_planetoid("cora", tmp_path, checksums={**sums, "ind.cora.x": "abc"})


# ------------------------------------------------------------------------------------------
# Download (loopback only)
# ------------------------------------------------------------------------------------------


def test_download_then_load(tmp_path):
    srv = tmp_path / "srv"
    sums = write_graph(srv)
    root = tmp_path / "root"
    with serve(srv) as url:
        out = D.download_planetoid("cora", root, mirrors=[url], checksums=sums, progress=False)
    assert out == root
    assert leftovers(root) == sorted(NAMES)  # no temporary files left
    for name in NAMES:
        assert D.sha256_file(root / name) == sums[name]
    g = D.load_planetoid("cora", root, checksums=sums)
    np.testing.assert_array_equal(g.features.toarray(), EXPECTED_FEATURES)
    # Already present and correct: kept, no mirror needed.
    D.download_planetoid("cora", root, mirrors=[closed_port_url()], checksums=sums,
                         progress=False)
    assert leftovers(root) == sorted(NAMES)


def test_download_corrupt_file_leaves_nothing(tmp_path):
    srv = tmp_path / "srv"
    sums = write_graph(srv)
    (srv / "ind.cora.graph").write_bytes(b"corrupted")
    root = tmp_path / "root"
    with serve(srv) as url, pytest.raises(D.DownloadError) as err:
        D.download_planetoid("cora", root, mirrors=[url], checksums=sums, progress=False)
    assert "SHA-256 mismatch" in str(err.value) and "\n" not in str(err.value)
    # the files before it landed; of the corrupt one, not even a temporary file
    assert leftovers(root) == sorted(["ind.cora.x", "ind.cora.tx", "ind.cora.allx"])


def test_download_closed_port(tmp_path):
    sums = write_graph(tmp_path / "unused")
    with pytest.raises(D.DownloadError, match=r"could not download ind\.cora\.x"):
        D.download_planetoid("cora", tmp_path / "root", mirrors=[closed_port_url()],
                             checksums=sums, timeout=5, progress=False)
    assert leftovers(tmp_path / "root") == []


def test_default_mirrors():
    assert D.PLANETOID_MIRRORS == (
        "https://raw.githubusercontent.com/kimiyoung/planetoid/master/data/",
        "https://raw.githubusercontent.com/tkipf/gae/master/gae/data/",
    )


# ------------------------------------------------------------------------------------------
# The data directory
# ------------------------------------------------------------------------------------------


def test_default_root_honours_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HVAE_PLANETOID_DIR", str(tmp_path / "graphs"))
    assert D.default_planetoid_root() == tmp_path / "graphs"
    sums = write_graph(tmp_path / "graphs")
    assert D.load_planetoid("cora", checksums=sums).source == str((tmp_path / "graphs").resolve())
    monkeypatch.delenv("HVAE_PLANETOID_DIR")
    monkeypatch.setenv("HVAE_DATA_DIR", str(tmp_path / "data"))
    assert D.default_planetoid_root() == tmp_path / "data" / "planetoid"
    monkeypatch.setenv("HVAE_PLANETOID_DIR", "")  # empty: as if unset
    assert D.default_planetoid_root() == tmp_path / "data" / "planetoid"


# ------------------------------------------------------------------------------------------
# The real Cora and Citeseer (the shared copy), when present
# ------------------------------------------------------------------------------------------


def _real_dir(name: str) -> Path:
    env = os.environ.get("HVAE_PLANETOID_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared/datasets/planetoid")
    for folder in candidates:
        if all((folder / f).is_file() for f in D.PLANETOID_SHA256[name]):
            return folder
    pytest.skip(f"the Planetoid files of {name} are not in $HVAE_PLANETOID_DIR or "
                f"../shared/datasets/planetoid (download them with download_planetoid)")


def _reference_load(folder: Path, name: str) -> tuple[sp.csr_matrix, set[tuple[int, int]]]:
    """Features as tkipf/gae's load_data builds them, and the undirected edges, i < j."""
    def load(suffix):
        with open(folder / f"ind.{name}.{suffix}", "rb") as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # scipy.sparse.csr
            return pickle.load(fh, encoding="latin1")  # trusted: the checksums matched

    x, tx, allx, graph = (load(s) for s in ("x", "tx", "allx", "graph"))
    test_idx_reorder = [int(line.strip()) for line in
                        (folder / f"ind.{name}.test.index").read_text().splitlines()]
    test_idx_range = np.sort(test_idx_reorder)
    if name == "citeseer":
        full = range(min(test_idx_reorder), max(test_idx_reorder) + 1)
        tx_extended = sp.lil_matrix((len(full), x.shape[1]))
        tx_extended[test_idx_range - min(test_idx_range), :] = tx
        tx = tx_extended
    features = sp.vstack((allx, tx)).tolil()
    features[test_idx_reorder, :] = features[test_idx_range, :]
    edges = {(min(i, j), max(i, j)) for i, js in graph.items() for j in js if i != j}
    return features.tocsr(), edges


@pytest.mark.parametrize("name, sizes, zero_rows", [
    ("cora", (2708, 1433, 5278), 0),
    ("citeseer", (3327, 3703, 4552), 15),  # the test nodes missing from test.index
])
def test_real_planetoid(name, sizes, zero_rows):
    folder = _real_dir(name)
    for file, sha in D.PLANETOID_SHA256[name].items():
        assert D.sha256_file(folder / file) == sha, file
    g = D.load_planetoid(name, folder)
    assert (g.n_nodes, g.n_features, g.n_edges) == sizes == D.PLANETOID_SIZES[name]
    f, a = g.features, g.adjacency
    assert f.dtype == np.float32 and f.shape == sizes[:2]
    assert set(np.unique(f.toarray())) == {0.0, 1.0}  # binary bag of words
    assert int((np.diff(f.indptr) == 0).sum()) == zero_rows
    assert (a != a.T).nnz == 0 and np.all(a.diagonal() == 0) and np.all(a.data == 1.0)
    reference_features, reference_edges = _reference_load(folder, name)
    assert (f != reference_features).nnz == 0
    edges = g.edges()
    assert edges.shape == (sizes[2], 2)
    assert set(map(tuple, edges.tolist())) == reference_edges
    assert np.all(edges[:, 0] < edges[:, 1])
    assert np.all(np.diff(edges[:, 0] * sizes[0] + edges[:, 1]) > 0)  # sorted
