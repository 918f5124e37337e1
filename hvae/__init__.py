"""hvae: von Mises-Fisher distributions and hyperspherical VAEs.

Dimension convention. The distributions, samplers and special functions take the *ambient*
dimension (``dim`` on the distributions, ``d`` in formulas): points of the sphere S^{d-1}
embedded in R^d. The paper (Davidson et al., 2018) labels its models by the latent manifold's
own dimension: its "S-VAE with d = 5" lives on S^5 in R^6, i.e. ambient d = 6 here. The one
exception is ``VAE(latent, manifold_dim)``, whose ``manifold_dim`` follows the paper (an N-VAE
on R^d, an S-VAE on S^d in R^(d+1)) so that models and tables read the same;
``VAE.code_dim`` gives the length of its latent codes.

The names most programs need are importable from here::

    from hvae import VonMisesFisher, HypersphericalUniform, VAE, log_iv, kappa_mle

Where everything else lives:

* :mod:`hvae.special`: Bessel functions in log space, A_d and its inverse (:func:`kappa_mle`);
* :mod:`hvae.sampling` and :mod:`hvae.wood`: the vMF samplers and Wood's envelope;
* :mod:`hvae.distributions`: the distributions, their KL, the marginal law of <mu, z>;
* :mod:`hvae.ops`: the ``torch.library`` operators the rest runs on (Bessel terms, the sampler,
  its implicit gradient); :mod:`hvae.fused`: the S-VAE's draw and KL from one direction;
* :mod:`hvae.models`, :mod:`hvae.train`, :mod:`hvae.evaluate`: N-VAE / S-VAE, training and
  evaluation; :mod:`hvae.cluster`: mixtures of vMFs; :mod:`hvae.circular`: circular statistics;
* :mod:`hvae.semisupervised`: Kingma et al.'s M2 on M1's codes; :mod:`hvae.graphs`: graph
  auto-encoders (VGAE, S-VGAE) for link prediction;
* :mod:`hvae.data`: MNIST, the Planetoid citation graphs and the synthetic data sets;
  :mod:`hvae.experiments`: the paper's experiment grids; :mod:`hvae.book`: helpers the
  book's chapters share;
* ``python -m hvae``: the command line (:mod:`hvae.cli`).
"""

__version__ = "0.1.0"

from hvae.cluster import VMFMixture
from hvae.data import load_mnist
from hvae.distributions import HypersphericalUniform, VonMisesFisher
from hvae.models import VAE
from hvae.sampling import sample_vmf
from hvae.special import bessel_terms, iv_ratio, kappa_mle, log_iv
from hvae.train import TrainConfig, load_model

__all__ = [
    "HypersphericalUniform",
    "TrainConfig",
    "VAE",
    "VMFMixture",
    "VonMisesFisher",
    "__version__",
    "bessel_terms",
    "iv_ratio",
    "kappa_mle",
    "load_mnist",
    "load_model",
    "log_iv",
    "sample_vmf",
]
