"""hvae.graphs: the edge split's guarantees, the GCN normalisation, the reference loss,
link prediction on a planted-partition graph, exact resumption, bad input.

References are independent of the code under test: the split's properties are checked with
plain Python sets on graphs drawn by hypothesis (derandomized); the normalised adjacency
against a dense numpy computation of D^-1/2 (A + I) D^-1/2; the loss against torch's dense
``binary_cross_entropy_with_logits`` with ``pos_weight`` on the dense target A + I.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from hvae.graphs import (
    GraphInputs,
    GraphTrainConfig,
    GraphVAE,
    fit_graph_vae,
    link_metrics,
    load_graph_vae,
    normalized_adjacency,
    reconstruction_weights,
    sample_non_edges,
    split_edges,
    unique_edges,
)

DETERMINISTIC = settings(derandomize=True, database=None, deadline=None, max_examples=60)


def random_graph(n: int, p: float, seed: int) -> np.ndarray:
    """Erdos-Renyi edges i < j."""
    rng = np.random.default_rng(seed)
    i, j = np.triu_indices(n, 1)
    keep = rng.random(i.size) < p
    return np.stack([i[keep], j[keep]], axis=1)


def planted_partition(n_per: int = 40, k: int = 5, p_in: float = 0.3, p_out: float = 0.002,
                      dim_noise: int = 20, seed: int = 0):
    """k communities: dense inside, sparse across; features = noisy one-hot community."""
    rng = np.random.default_rng(seed)
    n = n_per * k
    community = np.repeat(np.arange(k), n_per)
    i, j = np.triu_indices(n, 1)
    p = np.where(community[i] == community[j], p_in, p_out)
    keep = rng.random(i.size) < p
    features = np.concatenate([np.eye(k)[community], rng.random((n, dim_noise)) < 0.1], axis=1)
    return np.stack([i[keep], j[keep]], axis=1), features.astype(np.float32), n


# ------------------------------------------------------------------------------- the split
@DETERMINISTIC
@given(n=st.integers(8, 60), p=st.floats(0.05, 0.5), seed=st.integers(0, 2**31 - 1),
       val=st.sampled_from([0.05, 0.1, 0.2]), test=st.sampled_from([0.1, 0.2, 0.3]))
def test_split_guarantees_on_random_graphs(n, p, seed, val, test):
    edges = random_graph(n, p, seed)
    m = len(edges)
    if min(int(val * m), int(test * m)) < 1 or 2 * (int(val * m) + int(test * m)) > (
            n * (n - 1) // 2 - m):
        return  # too few edges or non-edges for this draw; refusals are tested below
    s = split_edges(edges, n, val, test, seed)
    as_set = lambda a: {tuple(sorted(map(int, r))) for r in a}  # noqa: E731
    graph = as_set(edges)
    train, v, t = as_set(s.train), as_set(s.val), as_set(s.test)
    vn, tn = as_set(s.val_non_edges), as_set(s.test_non_edges)
    # held-out edges: disjoint, together exactly the graph; counts as the reference (floor)
    assert train | v | t == graph and not (train & v or train & t or v & t)
    assert (len(v), len(t)) == (int(val * m), int(test * m))
    # non-edges: never edges of any split, never self-loops, never repeated, sets disjoint
    for neg, arr, count in ((vn, s.val_non_edges, len(v)), (tn, s.test_non_edges, len(t))):
        assert len(neg) == len(arr) == count
        assert not (neg & graph)
        assert all(a < b for a, b in neg)
    assert not (vn & tn)
    # the training adjacency holds the training edges only
    g = GraphInputs(np.eye(n), s.train, n)
    ones = {tuple(sorted(map(int, pair))) for pair in g.positives.T.numpy() if pair[0] != pair[1]}
    assert ones == train


def test_split_is_seeded():
    edges = random_graph(40, 0.2, 1)
    a, b = split_edges(edges, 40, seed=3), split_edges(edges, 40, seed=3)
    c = split_edges(edges, 40, seed=4)
    assert all(np.array_equal(getattr(a, k), getattr(b, k))
               for k in ("train", "val", "test", "val_non_edges", "test_non_edges"))
    assert not np.array_equal(a.test, c.test)


def test_unique_edges_merges_duplicates_and_drops_self_loops():
    pairs = np.array([[1, 0], [0, 1], [2, 2], [3, 1], [1, 3], [0, 2]])
    assert unique_edges(pairs, 4).tolist() == [[0, 1], [0, 2], [1, 3]]


def test_sample_non_edges_exhausts_exactly():
    n = 6  # 15 pairs; a path 0-1-2-3-4-5 has 5 edges, so 10 non-edges exist
    path = np.array([[i, i + 1] for i in range(5)])
    codes = path[:, 0] * n + path[:, 1]
    got = sample_non_edges(n, 10, codes, np.random.default_rng(0))
    assert len({tuple(r) for r in got.tolist()}) == 10
    assert not ({tuple(r) for r in got.tolist()} & {tuple(r) for r in path.tolist()})
    with pytest.raises(ValueError, match="^count: must be at most the 10 node pairs"):
        sample_non_edges(n, 11, codes, np.random.default_rng(0))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"val_fraction": 0.0}, "^val_fraction: must be in \\(0, 1\\)"),
    ({"test_fraction": 1.0}, "^test_fraction: must be in \\(0, 1\\)"),
    ({"val_fraction": -0.1}, "^val_fraction: must be in \\(0, 1\\)"),
    ({"val_fraction": 0.5, "test_fraction": 0.5}, "^test_fraction: must be below 1 - val"),
    ({"val_fraction": float("nan")}, "^val_fraction: must be a finite number"),
])
def test_split_refuses_bad_fractions(kwargs, message):
    with pytest.raises(ValueError, match=message):
        split_edges(random_graph(30, 0.3, 0), 30, **kwargs)


def test_split_refuses_too_few_edges_and_bad_ids():
    with pytest.raises(ValueError, match="^edges: must be enough distinct edges"):
        split_edges(np.array([[0, 1], [1, 2], [2, 3]]), 10)
    with pytest.raises(ValueError, match="^edges: must be node ids in 0..4"):
        split_edges(np.array([[0, 5]]), 5)
    with pytest.raises(ValueError, match="^count: must be at most"):  # a complete graph
        split_edges(np.stack(np.triu_indices(8, 1), axis=1), 8)


# ------------------------------------------------------------------------- model and loss
def test_normalized_adjacency_matches_dense_formula():
    edges = random_graph(12, 0.3, 5)
    a = np.zeros((12, 12))
    a[edges[:, 0], edges[:, 1]] = a[edges[:, 1], edges[:, 0]] = 1
    a_tilde = a + np.eye(12)
    d = np.diag(1 / np.sqrt(a_tilde.sum(1)))
    np.testing.assert_allclose(normalized_adjacency(edges, 12).to_dense().numpy(),
                               d @ a_tilde @ d, rtol=1e-6)


@pytest.mark.parametrize("latent", ["normal", "vmf"])
def test_loss_matches_dense_weighted_cross_entropy(latent):
    edges, features, n = planted_partition(n_per=10, seed=2)
    g = GraphInputs(features, edges, n)
    torch.manual_seed(0)
    model = GraphVAE(features.shape[1], latent, hidden=8, dim=4)
    torch.manual_seed(1)
    got = model.loss(g)
    torch.manual_seed(1)
    q = model.encode(g)
    z = q.rsample()
    target = torch.eye(n)
    target[edges[:, 0], edges[:, 1]] = target[edges[:, 1], edges[:, 0]] = 1
    m2, ones = n * n, 2.0 * len(unique_edges(edges, n))
    pos_weight, norm = (m2 - ones) / ones, m2 / (2 * (m2 - ones))  # the reference's formulas
    assert reconstruction_weights(len(unique_edges(edges, n)), n) == pytest.approx(
        (pos_weight, norm))
    want = norm * F.binary_cross_entropy_with_logits(
        z @ z.T, target, pos_weight=torch.tensor(pos_weight)) + model.kl(q).mean() / n
    assert float(got.detach()) == pytest.approx(float(want.detach()), rel=1e-5)


def test_vmf_codes_are_unit_and_kl_matches_the_distribution():
    edges, features, n = planted_partition(n_per=10)
    g = GraphInputs(features, edges, n)
    model = GraphVAE(features.shape[1], "vmf", hidden=8, dim=5)
    z = model.embed(g)
    np.testing.assert_allclose(z.norm(dim=-1).detach().numpy(), 1.0, rtol=1e-5)
    q = model.encode(g)
    # KL to the uniform = E_q[log q] + log |S^{d-1}|, estimated by Monte Carlo
    x = q.sample((4000,))
    log_area = np.log(2) + 2.5 * np.log(np.pi) - torch.lgamma(torch.tensor(2.5)).item()
    mc = (q.log_prob(x).mean(0) + log_area).detach().numpy()
    np.testing.assert_allclose(model.kl(q).detach().numpy(), mc, atol=0.05)


@pytest.mark.parametrize("latent", ["normal", "vmf"])
def test_link_prediction_well_above_chance_on_planted_partition(latent):
    edges, features, n = planted_partition(seed=0)
    split = split_edges(edges, n, seed=0)
    g = GraphInputs(features, split.train, n)
    torch.manual_seed(0)
    model = GraphVAE(features.shape[1], latent)
    fit_graph_vae(model, g, split, GraphTrainConfig(epochs=100, seed=0), progress=False)
    m = link_metrics(model, g, split, "test")
    # Chance is 0.5 for both (as many non-edges as edges). A scorer that knew only the
    # communities would reach about 0.91 AUC: ~97% of the edges but ~15% of the sampled
    # non-edges lie inside a community, and ties count one half. Threshold: 0.85 and 0.8.
    assert m["auc"] > 0.85 and m["ap"] > 0.8, m


def test_exact_resume(tmp_path):
    edges, features, n = planted_partition(n_per=15, seed=3)
    split = split_edges(edges, n, seed=1)
    g = GraphInputs(features, split.train, n)

    def fresh():
        torch.manual_seed(0)
        return GraphVAE(features.shape[1], "vmf", hidden=8, dim=4)

    cfg = GraphTrainConfig(epochs=12, seed=5, checkpoint_every=4)
    whole = fit_graph_vae(fresh(), g, split, cfg, tmp_path / "whole", progress=False)
    fit_graph_vae(fresh(), g, split, GraphTrainConfig(epochs=8, seed=5, checkpoint_every=4),
                  tmp_path / "parts", progress=False)
    resumed = fit_graph_vae(fresh(), g, split, cfg, tmp_path / "parts", resume=True,
                            progress=False)
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
    assert [h["train_loss"] for h in whole.history] == [h["train_loss"]
                                                        for h in resumed.history]
    loaded = load_graph_vae(tmp_path / "parts")
    assert torch.equal(loaded.w0, whole.model.w0)
    assert len(json.loads((tmp_path / "parts" / "history.json").read_text())) == 12
    with pytest.raises(ValueError, match="resume: the training settings differ"):
        fit_graph_vae(fresh(), g, split, GraphTrainConfig(epochs=12, seed=6),
                      tmp_path / "parts", resume=True, progress=False)


def test_bad_model_and_graph_input():
    edges, features, n = planted_partition(n_per=10)
    with pytest.raises(ValueError, match="^latent: must be one of"):
        GraphVAE(3, "gamma")
    with pytest.raises(ValueError, match="^features: must be a \\(50, n_features\\) matrix"):
        GraphInputs(features[:-1], edges, n)
    split = split_edges(edges, n, seed=0)
    g = GraphInputs(features, edges, n)  # all edges, not the split's training edges
    with pytest.raises(ValueError, match="^graph: must be the training graph of split"):
        fit_graph_vae(GraphVAE(features.shape[1]), g, split, progress=False)
    with pytest.raises(ValueError, match="^epochs: must be an integer >= 1"):
        GraphTrainConfig(epochs=0)
