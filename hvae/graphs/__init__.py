"""Link prediction with graph auto-encoders (the paper's Table 4): every public name.

* :mod:`hvae.graphs.split`: the edge split (held-out edges and checked non-edges).
* :mod:`hvae.graphs.models`: the GCN encoder, VGAE (Gaussian) and S-VGAE (vMF) posteriors,
  the reference loss.
* :mod:`hvae.graphs.training`: the reference protocol (Adam, 200 epochs), AUC / AP, exact
  resumption.

The graphs themselves come from :func:`hvae.data.load_planetoid`.
"""

from hvae.graphs.models import (
    GRAPH_LATENTS,
    GraphInputs,
    GraphVAE,
    normalized_adjacency,
    reconstruction_weights,
)
from hvae.graphs.split import EdgeSplit, pair_codes, sample_non_edges, split_edges, unique_edges
from hvae.graphs.training import (
    GraphFit,
    GraphTrainConfig,
    fit_graph_vae,
    link_metrics,
    load_graph_vae,
)

__all__ = [
    # hvae.graphs.split
    "EdgeSplit", "pair_codes", "sample_non_edges", "split_edges", "unique_edges",
    # hvae.graphs.models
    "GRAPH_LATENTS", "GraphInputs", "GraphVAE", "normalized_adjacency", "reconstruction_weights",
    # hvae.graphs.training
    "GraphFit", "GraphTrainConfig", "fit_graph_vae", "link_metrics", "load_graph_vae",
]
