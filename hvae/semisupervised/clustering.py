"""M2 without labels as a clustering model, beside a mixture fitted to the same frozen codes.

With every label missing, M2's classifier q(y | z1) is a *segmenter*: trained only through
the unlabelled bound, it splits the code space into K regions that the generative model
p(z1 | y, z2) finds useful. :func:`m2_clustering` trains it and scores its regions against
the true classes; :func:`mixture_clustering` fits the baseline of chapter 9 to the same codes
(a :class:`hvae.cluster.VMFMixture` on an S-VAE's codes, scikit-learn's ``GaussianMixture``
on an N-VAE's). Both report matched accuracy, ARI and NMI
(:func:`hvae.evaluate.clustering_scores`) on the test codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from hvae._validation import check_choice, check_int
from hvae.evaluate import clustering_scores
from hvae.semisupervised.model import CODE_LIKELIHOODS, M2, UNLABELLED
from hvae.semisupervised.training import M2Config, M2Result, fit_m2

__all__ = ["m2_clustering", "mixture_clustering"]


def m2_clustering(train_codes: Any, val_codes: torch.Tensor, test_codes: torch.Tensor,
                  test_labels: np.ndarray, n_clusters: int, likelihood: str, latent: str,
                  manifold_dim: int, config: M2Config, hidden: Sequence[int] = (500,)
                  ) -> tuple[M2Result, dict[str, float]]:
    """Train M2 with no labels (model seeded by ``config.seed``, selected on the validation
    bound) and score its classes on the test codes: (fit, ``{"acc", "ARI", "NMI"}``).

    ``train_codes``: a tensor or ``codes(epoch)`` (:func:`hvae.semisupervised.code_sampler`).
    """
    check_int(n_clusters, "n_clusters", minimum=2)
    first = train_codes(0) if callable(train_codes) else torch.as_tensor(train_codes)
    torch.manual_seed(config.seed)
    model = M2(n_clusters, first.shape[1], likelihood, latent, manifold_dim, hidden=hidden)
    fit = fit_m2(model, train_codes, np.full(first.shape[0], UNLABELLED), val_codes,
                 config=config, progress=False)
    pred = fit.model.cpu().predict(torch.as_tensor(test_codes)).numpy()
    return fit, clustering_scores(np.asarray(test_labels), pred)


def mixture_clustering(train_codes: np.ndarray, test_codes: np.ndarray,
                       test_labels: np.ndarray, n_clusters: int, likelihood: str,
                       seed: int = 0) -> dict[str, float]:
    """A vMF mixture (``likelihood="vmf"``) or a full-covariance Gaussian mixture
    (``"gaussian"``) with ``n_clusters`` components fitted to the training codes (5 restarts,
    seeded), scored on the test codes: ``{"acc", "ARI", "NMI"}``."""
    check_choice(likelihood, "likelihood", CODE_LIKELIHOODS)
    if likelihood == "vmf":
        from hvae.cluster import VMFMixture

        mixture = VMFMixture(n_clusters, n_init=5, random_state=seed)
    else:
        from sklearn.mixture import GaussianMixture

        mixture = GaussianMixture(n_clusters, n_init=5, random_state=seed)
    mixture.fit(np.asarray(train_codes, dtype=np.float64))
    pred = mixture.predict(np.asarray(test_codes, dtype=np.float64))
    return clustering_scores(np.asarray(test_labels), pred)
