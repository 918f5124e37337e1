"""hvae: von Mises-Fisher distributions and hyperspherical VAEs.

Dimension convention. The distributions, samplers and special functions take the *ambient*
dimension ``d``: points of the sphere S^{d-1} embedded in R^d. The paper (Davidson et al.,
2018) labels its models by the latent manifold's own dimension: its "S-VAE with d = 5" lives
on S^5 in R^6, i.e. ambient d = 6 here. The one exception is ``hvae.models.VAE(latent, dim)``,
whose ``dim`` follows the paper (an N-VAE on R^dim, an S-VAE on S^dim in R^(dim+1)) so that
models and tables read the same; ``VAE.code_dim`` gives the length of its latent codes.
"""

__version__ = "0.1.0"
