"""Semi-supervised learning on the codes of a trained VAE: Kingma et al.'s (2014) M2, whose
classifier q(y | z1) (the *segmenter* of the code space) is trained jointly with a generative
model of the codes, from few labels, or none (clustering).

* :mod:`hvae.semisupervised.model`: :class:`M2`, its labelled and unlabelled bounds and loss;
* :mod:`hvae.semisupervised.training`: :func:`fit_m2` (warm-up, early stopping, atomic
  checkpoints, exact resume) and :func:`code_sampler` (fresh z1 ~ q(z1 | x) each epoch);
* :mod:`hvae.semisupervised.clustering`: M2 without labels against a mixture on the same
  codes.

The experiment grid of the paper's Table 3 (M1 + M2 on MNIST) is in
:mod:`hvae.experiments.semisupervised`.
"""

from hvae.semisupervised.clustering import m2_clustering, mixture_clustering
from hvae.semisupervised.model import (
    CODE_LIKELIHOODS,
    M2,
    M2_LATENTS,
    UNLABELLED,
    check_labels,
    default_alpha,
)
from hvae.semisupervised.training import (
    SELECTION,
    M2Config,
    M2Result,
    code_sampler,
    fit_m2,
    load_m2,
    m2_accuracy,
)

__all__ = ["CODE_LIKELIHOODS", "M2", "M2_LATENTS", "SELECTION", "UNLABELLED", "M2Config",
           "M2Result", "check_labels", "code_sampler", "default_alpha", "fit_m2", "load_m2",
           "m2_accuracy", "m2_clustering", "mixture_clustering"]
