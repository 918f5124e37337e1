"""Mini-batches of images: dynamic binarisation (as in the paper) and one fixed binarisation.

* :func:`make_loader` returns a ``DataLoader`` that draws every pixel afresh as
  ``Bernoulli(intensity)`` each time an image is used (the paper's *dynamic binarisation*),
  or returns real-valued data unchanged; :class:`BinarizedDataset` is the dataset behind it.
* :func:`fixed_binarization` draws binary pixels once, from a seed, for evaluation; and
  :func:`as_tensor` turns a data set into the float32 tensor the models take.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from hvae._validation import check_int, fail

__all__ = ["BinarizedDataset", "as_tensor", "fixed_binarization", "make_loader"]


def as_tensor(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``images`` as a float32 tensor (2-D: one example per row)."""
    x = torch.as_tensor(images, dtype=torch.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise fail("images", "of shape (n, features) with n >= 1", tuple(x.shape))
    return x


def fixed_binarization(images: np.ndarray | torch.Tensor, seed: int = 0) -> torch.Tensor:
    """One seeded draw of binary pixels ``Bernoulli(intensity)`` (float32 0/1 tensor)."""
    x = as_tensor(images)
    return torch.bernoulli(x, generator=torch.Generator().manual_seed(seed))


def _as_float_tensor(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """View ``images`` as a float32 tensor, sharing memory whenever the input allows it.

    A C-contiguous float32 numpy array or float32 tensor is used as is (no copy); any other
    input is converted once.
    """
    if isinstance(images, torch.Tensor):
        return images if images.dtype == torch.float32 else images.to(torch.float32)
    array = np.ascontiguousarray(images, dtype=np.float32)
    with warnings.catch_warnings():
        # Read-only arrays are fine: the dataset only ever reads from them.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(array)


class BinarizedDataset(Dataset):
    """Images whose pixels are drawn as ``Bernoulli(intensity)`` each time they are read.

    This is the paper's *dynamic binarisation*: there is no fixed binary copy; every access
    (``dataset[i]`` or ``dataset[[i, j, ...]]``) samples fresh binary pixels from the single
    float32 tensor of intensities, using ``generator`` so runs are reproducible. With
    ``binarize=False`` the intensities are returned unchanged (for real-valued data).

    Args:
        images: (n, ...) intensities; with ``binarize=True`` all values must lie in [0, 1].
            A float32 numpy array or tensor is shared, not copied.
        labels: optional (n,) labels; then items are ``(x, y)`` pairs.
        binarize: draw binary pixels (True) or return the intensities (False).
        generator: torch generator for the Bernoulli draws (default: seeded with 0).
    """

    def __init__(
        self,
        images: np.ndarray | torch.Tensor,
        labels: np.ndarray | torch.Tensor | None = None,
        *,
        binarize: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        self.images = _as_float_tensor(images)
        if self.images.ndim < 1 or self.images.shape[0] == 0:
            raise fail("images", "of shape (n, ...) with n >= 1", tuple(self.images.shape))
        if binarize:
            if not bool(torch.isfinite(self.images).all()):
                raise ValueError("images: must be finite to binarise, got NaN or infinite values")
            lo, hi = float(self.images.min()), float(self.images.max())
            if lo < 0.0 or hi > 1.0:
                raise ValueError(
                    f"images: must be intensities in [0, 1] to binarise, got values in {lo}..{hi}"
                )
        self.labels: torch.Tensor | None = None
        if labels is not None:
            self.labels = torch.as_tensor(labels)
            if self.labels.shape[:1] != self.images.shape[:1] or self.labels.ndim != 1:
                raise fail("labels", f"of shape ({self.images.shape[0]},) (one per image)",
                           tuple(self.labels.shape))
        self.binarize = binarize
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: Any) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        x = self.images[index]
        if self.binarize:
            x = torch.bernoulli(x, generator=self.generator)
        if self.labels is None:
            return x
        return x, self.labels[index]


def _seeds(seed: int, k: int) -> list[int]:
    """``k`` independent 63-bit seeds derived from one integer seed."""
    state = np.random.SeedSequence(seed).generate_state(k, dtype=np.uint64)
    return [int(s) >> 1 for s in state]


def make_loader(
    images: np.ndarray | torch.Tensor,
    batch_size: int = 64,
    shuffle: bool = True,
    binarize: bool = True,
    seed: int = 0,
    *,
    labels: np.ndarray | torch.Tensor | None = None,
    drop_last: bool = False,
) -> DataLoader:
    """Return a ``DataLoader`` of mini-batches, dynamically binarised by default.

    Each batch is fetched with one indexing operation into the (shared, never copied) float32
    intensities and, with ``binarize=True``, binarised by one ``torch.bernoulli`` call, so
    every epoch sees new binary pixels. Batches are ``x`` tensors of shape
    ``(batch, ...)``, or ``(x, y)`` pairs when ``labels`` is given.

    Reproducibility: the shuffling order and the Bernoulli draws come from two
    ``torch.Generator``s seeded from ``seed``; a new loader with the same arguments yields
    exactly the same sequence of batches, epoch after epoch. ``num_workers`` is 0.
    """
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    order_seed, draw_seed = _seeds(seed, 2)
    dataset = BinarizedDataset(
        images, labels, binarize=binarize, generator=torch.Generator().manual_seed(draw_seed)
    )
    sampler = (
        RandomSampler(dataset, generator=torch.Generator().manual_seed(order_seed))
        if shuffle
        else SequentialSampler(dataset)
    )
    # batch_size=None turns off automatic batching: the dataset receives each list of indices
    # from the BatchSampler and returns the finished batch.
    return DataLoader(
        dataset,
        sampler=BatchSampler(sampler, batch_size=batch_size, drop_last=drop_last),
        batch_size=None,
        num_workers=0,
        collate_fn=_as_is,  # keep (x, y) a tuple; the default would turn it into a list
    )


def _as_is(batch: Any) -> Any:
    """Collate function for pre-assembled batches: return the batch unchanged."""
    return batch
