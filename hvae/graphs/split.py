r"""The edge split of link prediction: held-out edges, and non-edges sampled to match them.

Kipf and Welling's reference code (``tkipf/gae``, ``mask_test_edges``) holds out 10% of the
undirected edges for testing and 5% for validation (``floor`` of each fraction), trains on the
rest, and pairs each held-out set with as many sampled *non-edges* (node pairs that are not
edges); a model is scored by how well :math:`\sigma(z_i^\top z_j)` ranks the held-out edges
above the non-edges (AUC, average precision).

That code's checks on the sampled non-edges are incomplete: a validation non-edge is compared
with the *training* edges only through an array whose membership test is wrong for some
orderings, and the validation and test non-edges are not kept apart, so the same pair can
appear in both. :func:`split_edges` samples them so that, by construction,

* no non-edge is an edge of the graph (in any split) or a self-loop,
* no pair appears twice, within a set or across the validation and test sets,
* the training adjacency holds the training edges only (no held-out edge leaks into it),

all checked by ``tests/test_graphs.py``. Pairs are unordered and stored as ``i < j``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hvae._validation import check_int, check_number, check_seed, fail

__all__ = ["EdgeSplit", "pair_codes", "sample_non_edges", "split_edges", "unique_edges"]


@dataclass(frozen=True)
class EdgeSplit:
    """Edges (``(m, 2)`` int64 arrays of pairs ``i < j``) of a graph on ``n_nodes`` nodes, split
    for link prediction: ``train`` builds the adjacency the model sees; ``val`` and ``test``
    are held out, each with as many ``*_non_edges``."""

    n_nodes: int
    train: np.ndarray
    val: np.ndarray
    val_non_edges: np.ndarray
    test: np.ndarray
    test_non_edges: np.ndarray

    def pairs(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(pairs, 0/1 labels) of ``"val"`` or ``"test"``: its edges, then its non-edges."""
        if split not in ("val", "test"):
            raise fail("split", "'val' or 'test'", split)
        pos, neg = getattr(self, split), getattr(self, f"{split}_non_edges")
        labels = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
        return np.concatenate([pos, neg]), labels


def pair_codes(pairs: np.ndarray, n_nodes: int) -> np.ndarray:
    """One integer per unordered pair: ``min * n + max`` (for set operations on pairs)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return pairs.min(1) * n_nodes + pairs.max(1)


def unique_edges(pairs: np.ndarray, n_nodes: int) -> np.ndarray:
    """The distinct undirected edges of ``pairs`` as sorted ``i < j`` rows; self-loops dropped.

    Raises:
        ValueError: naming ``edges`` if a node is outside ``0..n_nodes-1``.
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if pairs.size and (pairs.min() < 0 or pairs.max() >= n_nodes):
        raise fail("edges", f"node ids in 0..{n_nodes - 1}",
                   f"ids from {pairs.min()} to {pairs.max()}")
    codes = np.unique(pair_codes(pairs[pairs[:, 0] != pairs[:, 1]], n_nodes))
    return np.stack([codes // n_nodes, codes % n_nodes], axis=1)


def sample_non_edges(n_nodes: int, count: int, exclude: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct pairs ``i < j`` drawn uniformly among the node pairs whose code
    (:func:`pair_codes`) is not in ``exclude`` (the edges, and pairs already taken).

    Raises:
        ValueError: naming ``count`` if fewer such pairs exist.
    """
    available = n_nodes * (n_nodes - 1) // 2 - len(np.unique(exclude))
    if count > available:
        raise fail("count", f"at most the {available} node pairs that are neither edges nor "
                   "already sampled", count)
    taken = np.unique(np.asarray(exclude, dtype=np.int64))
    found: list[np.ndarray] = []
    n_found = 0
    while n_found < count:
        batch = rng.integers(0, n_nodes, size=(2 * (count - n_found) + 16, 2))
        batch = batch[batch[:, 0] != batch[:, 1]]
        codes = pair_codes(batch, n_nodes)
        codes = codes[~np.isin(codes, taken)]
        _, first = np.unique(codes, return_index=True)
        codes = codes[np.sort(first)][:count - n_found]  # first occurrences, in drawn order
        found.append(codes)
        n_found += len(codes)
        taken = np.union1d(taken, codes)
    codes = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    return np.stack([codes // n_nodes, codes % n_nodes], axis=1)


def _fraction(value, name: str) -> float:
    value = check_number(value, name)
    if not 0 < value < 1:
        raise fail(name, "in (0, 1)", value)
    return value


def split_edges(edges: np.ndarray, n_nodes: int, val_fraction: float = 0.05,
                test_fraction: float = 0.10, seed: int = 0) -> EdgeSplit:
    """Split the undirected ``edges`` (pairs, any order; duplicates and self-loops ignored) of
    a graph on ``n_nodes`` nodes into training, validation and test edges, with sampled
    validation and test non-edges (see the module docstring); seeded.

    The held-out counts are ``floor(fraction * m)`` of the ``m`` distinct edges, as in the
    reference code.

    Raises:
        ValueError: naming the argument: a fraction outside (0, 1), fractions summing to 1 or
            more, too few edges for every split to get at least one, or too few non-edges.
    """
    n_nodes = check_int(n_nodes, "n_nodes", minimum=2)
    val_fraction = _fraction(val_fraction, "val_fraction")
    test_fraction = _fraction(test_fraction, "test_fraction")
    if val_fraction + test_fraction >= 1:
        raise fail("test_fraction", f"below 1 - val_fraction = {1 - val_fraction:g}",
                   test_fraction)
    seed = check_seed(seed, "seed")
    edges = unique_edges(edges, n_nodes)
    n_val = math.floor(val_fraction * len(edges))
    n_test = math.floor(test_fraction * len(edges))
    if min(n_val, n_test, len(edges) - n_val - n_test) < 1:
        raise fail("edges", "enough distinct edges for at least one in each of the training, "
                   f"validation and test sets at fractions {val_fraction:g} and "
                   f"{test_fraction:g}", f"{len(edges)} edges")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(edges))
    test, val = edges[order[:n_test]], edges[order[n_test:n_test + n_val]]
    train = edges[np.sort(order[n_test + n_val:])]
    taken = pair_codes(edges, n_nodes)
    test_neg = sample_non_edges(n_nodes, n_test, taken, rng)
    taken = np.concatenate([taken, pair_codes(test_neg, n_nodes)])
    val_neg = sample_non_edges(n_nodes, n_val, taken, rng)
    return EdgeSplit(n_nodes, train, val, val_neg, test, test_neg)
