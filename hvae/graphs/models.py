r"""Variational graph auto-encoders (Kipf and Welling, 2016) with a Gaussian or a vMF posterior.

**Encoder.** A two-layer graph convolutional network on the training graph's normalised
adjacency with self-loops,

.. math::
   \hat A = D^{-1/2} (A + I) D^{-1/2}, \qquad D = \operatorname{diag}((A + I)\mathbf 1),

   H = \operatorname{ReLU}(\hat A X W_0),

and two linear graph convolutions of :math:`H` give each node's posterior parameters:
:math:`\mu = \hat A H W_\mu` and :math:`\sigma = \exp(\hat A H W_\sigma)` for the **VGAE**
(posterior :math:`N(\mu_i, \operatorname{diag}\sigma_i^2)`, prior :math:`N(0, I)`), or the unit
direction :math:`\mu_i = m_i / \lVert m_i \rVert` of :math:`m = \hat A H W_\mu` and
:math:`\kappa_i = \operatorname{softplus}(\hat A H w_\kappa) + 1` for the **S-VGAE**
(posterior :math:`\mathrm{vMF}(\mu_i, \kappa_i)`, prior uniform on the sphere): the vMF enters
exactly where the Gaussian was, and nothing else changes. Weights are Glorot-uniform and the
layers have no bias, as in the reference code (``tkipf/gae``); 32 hidden and 16 output units.

**Dimensions.** The 16 output units are the coordinates of :math:`\mu_i` in
:math:`\mathbb R^{16}`: the S-VGAE's codes lie on :math:`S^{15} \subset \mathbb R^{16}`
(``dim=16`` is :mod:`hvae`'s ambient dimension d; the paper's d of that sphere is 15).

**Decoder and loss.** :math:`p(A_{ij} = 1 \mid z) = \sigma(z_i^\top z_j)` for every ordered pair,
self-pairs included. The loss is the reference's: with :math:`N` nodes and :math:`E` the sum of
the training adjacency's entries (each edge counted twice, no self-loops), the reconstruction
term is the mean over all :math:`N^2` entries of the binary cross-entropy of the target
:math:`A + I` with the positive entries weighted by :math:`w = (N^2 - E)/E`, times
:math:`(N^2)/(2(N^2 - E))`; the KL term is :math:`\frac1N` times the nodes' mean KL divergence to
the prior (closed form for both: the Gaussian one, and the vMF-to-uniform one of
:mod:`hvae.distributions`, which depends on :math:`\kappa_i` only).

**Scores** of a pair are :math:`\sigma(\bar z_i^\top \bar z_j)` at the posterior means
:math:`\bar z` as in the reference (the mean direction :math:`\mu_i` for the S-VGAE).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Distribution, Independent, Normal, kl_divergence

from hvae._validation import check_choice, check_int
from hvae.distributions import HypersphericalUniform, VonMisesFisher
from hvae.graphs.split import unique_edges

__all__ = ["GRAPH_LATENTS", "GraphInputs", "GraphVAE", "normalized_adjacency",
           "reconstruction_weights"]

#: Posterior families of :class:`GraphVAE`: ``"normal"`` (VGAE) and ``"vmf"`` (S-VGAE).
GRAPH_LATENTS: tuple[str, ...] = ("normal", "vmf")


def _entries_with_loops(edges: np.ndarray, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the ones of A + I for distinct edges i < j: both directions, then the
    diagonal."""
    loops = np.arange(n_nodes)
    return (np.concatenate([edges[:, 0], edges[:, 1], loops]),
            np.concatenate([edges[:, 1], edges[:, 0], loops]))


def normalized_adjacency(edges: np.ndarray, n_nodes: int) -> torch.Tensor:
    r""":math:`D^{-1/2}(A + I)D^{-1/2}` of the undirected ``edges`` as a sparse COO tensor."""
    rows, cols = _entries_with_loops(unique_edges(edges, n_nodes), n_nodes)
    degree = np.bincount(rows, minlength=n_nodes).astype(np.float64)
    values = 1.0 / np.sqrt(degree[rows] * degree[cols])
    index = torch.from_numpy(np.stack([rows, cols]))
    return torch.sparse_coo_tensor(index, torch.from_numpy(values).float(), (n_nodes, n_nodes),
                                   check_invariants=True).coalesce()


def reconstruction_weights(n_edges: int, n_nodes: int) -> tuple[float, float]:
    """(positive-class weight, normaliser) of the reference loss for a training graph of
    ``n_edges`` undirected edges on ``n_nodes`` nodes (see the module docstring)."""
    total, ones = float(n_nodes) ** 2, 2.0 * n_edges
    return (total - ones) / ones, total / (2.0 * (total - ones))


class GraphInputs:
    """What a :class:`GraphVAE` reads from a training graph: the node features (sparse),
    :math:`\\hat A`, the (2, 2m + n) indices of the target's ones (the entries of
    :math:`A + I`) and the loss weights. ``edges``: the training edges (pairs);
    ``features``: a scipy.sparse matrix, numpy array or tensor."""

    def __init__(self, features: Any, edges: np.ndarray, n_nodes: int,
                 device: torch.device | str = "cpu"):
        n_nodes = check_int(n_nodes, "n_nodes", minimum=2)
        edges = unique_edges(edges, n_nodes)
        self.features = _sparse_features(features, n_nodes).to(device)
        self.adjacency = normalized_adjacency(edges, n_nodes).to(device)
        rows, cols = _entries_with_loops(edges, n_nodes)
        self.positives = torch.from_numpy(np.stack([rows, cols])).to(device)
        self.n_nodes, self.n_edges = n_nodes, len(edges)
        self.pos_weight, self.norm = reconstruction_weights(len(edges), n_nodes)


def _sparse_features(features: Any, n_nodes: int) -> torch.Tensor:
    if hasattr(features, "tocoo"):  # scipy.sparse
        coo = features.tocoo()
        index = torch.from_numpy(np.stack([coo.row, coo.col]).astype(np.int64))
        out = torch.sparse_coo_tensor(index, torch.from_numpy(coo.data).float(), coo.shape,
                                      check_invariants=True)
    else:
        out = torch.as_tensor(np.asarray(features), dtype=torch.float32).to_sparse()
    if out.dim() != 2 or out.shape[0] != n_nodes:
        raise ValueError(f"features: must be a ({n_nodes}, n_features) matrix, got shape "
                         f"{tuple(out.shape)}")
    return out.coalesce()


def _glorot(fan_in: int, fan_out: int) -> nn.Parameter:
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    return nn.Parameter(torch.empty(fan_in, fan_out).uniform_(-bound, bound))


class GraphVAE(nn.Module):
    """A variational graph auto-encoder: GCN encoder, inner-product decoder (module docstring).

    Args:
        n_features: node feature dimension.
        latent: ``"normal"`` (VGAE) or ``"vmf"`` (S-VGAE).
        hidden: units of the first graph convolution (32 in the reference).
        dim: output units, the ambient dimension of the codes (16 in the reference).
    """

    def __init__(self, n_features: int, latent: str = "normal", hidden: int = 32, dim: int = 16):
        super().__init__()
        self.n_features = check_int(n_features, "n_features", minimum=1)
        self.latent = check_choice(latent, "latent", GRAPH_LATENTS)
        self.hidden = check_int(hidden, "hidden", minimum=1)
        self.dim = check_int(dim, "dim", minimum=2)
        self.w0 = _glorot(self.n_features, self.hidden)
        self.w_loc = _glorot(self.hidden, self.dim)
        self.w_spread = _glorot(self.hidden, self.dim if latent == "normal" else 1)
        self._prior: Distribution | None = None

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments (what a checkpoint stores to rebuild the model)."""
        return {"n_features": self.n_features, "latent": self.latent, "hidden": self.hidden,
                "dim": self.dim}

    def encode(self, graph: GraphInputs) -> Distribution:
        """q(z | X, A): batch shape (n_nodes,), event (dim,)."""
        h = F.relu(torch.sparse.mm(graph.adjacency, torch.sparse.mm(graph.features, self.w0)))
        ah = torch.sparse.mm(graph.adjacency, h)
        loc, spread = ah @ self.w_loc, ah @ self.w_spread
        if self.latent == "normal":
            return Independent(Normal(loc, spread.exp(), validate_args=False), 1,
                               validate_args=False)
        return VonMisesFisher(F.normalize(loc, dim=-1), F.softplus(spread).squeeze(-1) + 1.0,
                              validate_args=False)

    def embed(self, graph: GraphInputs) -> torch.Tensor:
        """The posterior means used for scoring: μ (VGAE) or the unit mean direction (S-VGAE)."""
        q = self.encode(graph)
        return q.mean if self.latent == "normal" else q.loc

    def kl(self, q: Distribution) -> torch.Tensor:
        """KL(q(z_i) || p(z)) per node, in closed form."""
        if self.latent == "normal":
            return kl_divergence(q, Independent(Normal(torch.zeros_like(q.mean),
                                                       torch.ones_like(q.mean)), 1))
        if self._prior is None or self._prior.device != q.loc.device:
            self._prior = HypersphericalUniform(self.dim, device=q.loc.device, dtype=q.loc.dtype)
        return kl_divergence(q, self._prior)

    def loss(self, graph: GraphInputs) -> torch.Tensor:
        r"""The reference's negative bound for one draw of z (module docstring).

        The weighted cross-entropy of logit :math:`\ell` and target :math:`t \in \{0, 1\}`,
        :math:`w\,t \operatorname{softplus}(-\ell) + (1 - t) \operatorname{softplus}(\ell)
        = \operatorname{softplus}(\ell) + t\,[(w - 1) \operatorname{softplus}(\ell) - w\ell]`,
        is summed as a dense softplus over all pairs plus a correction over the few target
        ones only (what ``binary_cross_entropy_with_logits`` with ``pos_weight`` computes, in
        fewer passes over the n x n logits and without a dense target).
        """
        q = self.encode(graph)
        z = q.rsample()
        w = graph.pos_weight
        ones = (z[graph.positives[0]] * z[graph.positives[1]]).sum(-1)
        total = F.softplus(z @ z.T).sum() + ((w - 1) * F.softplus(ones) - w * ones).sum()
        return graph.norm * total / graph.n_nodes**2 + self.kl(q).mean() / graph.n_nodes

    @torch.no_grad()
    def score(self, graph: GraphInputs, pairs: np.ndarray) -> np.ndarray:
        """σ(z̄_i·z̄_j) of each pair (rows of ``pairs``) at the posterior means."""
        z = self.embed(graph)
        pairs = torch.as_tensor(np.asarray(pairs), dtype=torch.long, device=z.device)
        return torch.sigmoid((z[pairs[:, 0]] * z[pairs[:, 1]]).sum(-1)).cpu().numpy()
