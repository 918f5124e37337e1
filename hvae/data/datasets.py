"""The data sets a run can name (``"mnist"``, ``"circle"``) and :func:`load_dataset`.

This is what the command line (``--dataset``) and a run's ``config.json`` refer to: a name
and a split give the images, their labels and which data were actually used.
"""

from __future__ import annotations

import numpy as np

from hvae._validation import fail
from hvae.data.mnist import load_mnist
from hvae.data.synthetic import CIRCLE_SPLITS, make_circle_data

__all__ = ["DATASETS", "load_dataset"]

#: The data set names :func:`load_dataset` accepts.
DATASETS = ("mnist", "circle")


def load_dataset(
    dataset: str, split: str, *, limit: int | None = None, source: str = "auto"
) -> tuple[np.ndarray, np.ndarray, str]:
    """(images, labels, source) of one split; at most ``limit`` examples (the first ones).

    ``"mnist"`` is :func:`hvae.data.load_mnist` (float32 intensities in [0, 1], to be
    binarised); ``"circle"`` is the Figure 1 data of :func:`hvae.data.make_circle_data`, with
    the size and sampling seed of :data:`hvae.data.CIRCLE_SPLITS` for each split.

    ``source`` (MNIST only) is passed to :func:`hvae.data.load_mnist`; the returned source
    says which data were actually used (``"mnist"``, ``"mnist-5k-subset"`` or ``"circle"``).
    """
    if dataset == "mnist":
        mnist = load_mnist(split=split, source=source)
        images, labels, used = mnist.images, mnist.labels, mnist.source
    elif dataset == "circle":
        n, seed = CIRCLE_SPLITS[split]
        circle = make_circle_data(n=n, seed=seed)
        images, labels, used = circle.x, circle.labels, "circle"
    else:
        raise fail("dataset", f"one of {DATASETS}", dataset)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return images, labels, used
