"""hvae: von Mises-Fisher distributions and hyperspherical VAEs.

Dimension convention: every function in ``hvae`` takes the *ambient* dimension ``d``,
i.e. points of the sphere S^{d-1} embedded in R^d. The paper (Davidson et al., 2018)
labels its experiments by the sphere's own dimension: its "S-VAE with d = 5" lives on
S^5 in R^6, i.e. ambient d = 6 here.
"""

__version__ = "0.1.0"
