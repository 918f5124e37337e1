r"""hvae's PyTorch operators, registered with ``torch.library``.

Each operator has a CPU kernel (a compiled loop of ``hvae._kernels``, numba) and a kernel for
every other device (torch array code, ``hvae._array_kernels``: the CUDA path), a fake (meta)
implementation for ``torch.compile``, an autograd formula and a ``vmap`` rule, so that
``torch.compile``, ``torch.func.vmap`` and ``torch.func.grad`` see one opaque, well-described
node instead of the loop inside it. ``torch.library.opcheck`` checks each registration in
tests/test_ops.py.

``hvae::bessel_terms(v, x) -> (log_i, ratio, gap, rescaled, complement, d_log_i, d_ratio)``
    For float64 ``x >= 0`` and orders ``v`` (0-d, or of ``x``'s shape): :math:`\log I_v(x)`,
    :math:`R = I_{v+1}(x)/I_v(x)`, :math:`1 - R`, :math:`L = \log[\Gamma(v+1)(2/x)^v I_v(x)]`,
    :math:`x - L` and the derivatives :math:`\partial_x\log I_v = R + v/x` and
    :math:`\partial_x R = 1 - R^2 - (2v+1)R/x` (method: :mod:`hvae.special`). Differentiable
    in ``x`` through its first five outputs (:math:`\partial_x L = R`,
    :math:`\partial_x(x - L) = 1 - R`); the two derivative outputs are not differentiable.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from hvae import _array_kernels, _kernels
from hvae._validation import fail

__all__ = ["bessel_terms", "bessel_terms_function"]

_Seven = tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]


def _check_argument(x: Tensor) -> None:
    # inside the kernels, on real tensors: the caller's graph stays free of data-dependent checks
    bad = ~((x >= 0) & (x < math.inf))  # NaN fails both
    if bool(bad.any()):
        raise fail("x", "finite and >= 0 (I_v is evaluated on the non-negative half-line)",
                   float(x[bad].reshape(-1)[0]))


@torch.library.custom_op("hvae::bessel_terms", mutates_args=())
def bessel_terms(v: Tensor, x: Tensor) -> _Seven:
    """The Bessel terms of float64 ``x`` (see the module docstring); the array kernel."""
    _check_argument(x)
    return tuple(t.expand(x.shape).clone() for t in _array_kernels.bessel_terms(v, x))


@bessel_terms.register_kernel("cpu")
def _bessel_terms_cpu(v: Tensor, x: Tensor) -> _Seven:
    _check_argument(x)
    flat_x = x.reshape(-1).contiguous().numpy()
    flat_v = np.ascontiguousarray(np.broadcast_to(v.numpy(), x.shape).reshape(-1))
    table = _array_kernels.debye_coefficients().numpy()
    out = _kernels.bessel_terms(flat_v, flat_x, table, float(_array_kernels.DEBYE_MIN_ORDER))
    return tuple(torch.from_numpy(row).reshape(x.shape) for row in out)


@bessel_terms.register_fake
def _bessel_terms_fake(v: Tensor, x: Tensor) -> _Seven:
    return tuple(torch.empty_like(x) for _ in range(7))


def _setup_context(ctx, inputs, output) -> None:
    _, ratio, gap, _, _, d_log_i, d_ratio = output
    ctx.save_for_backward(ratio, gap, d_log_i, d_ratio)
    ctx.mark_non_differentiable(d_log_i, d_ratio)


def _backward(ctx, g_log_i, g_ratio, g_gap, g_rescaled, g_complement, _g5, _g6):
    ratio, gap, d_log_i, d_ratio = ctx.saved_tensors
    grad = (g_ratio - g_gap) * d_ratio + g_rescaled * ratio + g_complement * gap
    # d log_i / dx is infinite at x = 0 (v > 0): no 0 * inf where log_i is not used
    return None, grad + torch.where(g_log_i == 0, 0.0, g_log_i * d_log_i)


bessel_terms.register_autograd(_backward, setup_context=_setup_context)


class _BesselTermsFunction(torch.autograd.Function):
    """The operator with the same autograd formula as an ``autograd.Function``: the route that
    ``torch.func.grad`` and ``jacrev`` accept (the autograd of a ``custom_op`` is not yet
    functorch-aware, pytorch/pytorch#168393); vmap goes through the operator's rule."""

    generate_vmap_rule = True

    @staticmethod
    def forward(v: Tensor, x: Tensor):
        return bessel_terms(v, x)

    setup_context = staticmethod(_setup_context)
    backward = staticmethod(_backward)


def bessel_terms_function(v: Tensor, x: Tensor) -> _Seven:
    """:func:`bessel_terms` differentiable under ``torch.autograd``, ``torch.func.grad``,
    ``vmap`` and ``torch.compile`` alike (what :mod:`hvae.special` calls)."""
    return _BesselTermsFunction.apply(v, x)


@bessel_terms.register_vmap
def _bessel_terms_vmap(info, in_dims, v: Tensor, x: Tensor):
    v_dim, x_dim = in_dims
    x = x.movedim(x_dim, 0) if x_dim is not None else x.expand(info.batch_size, *x.shape)
    if v_dim is not None:  # one order per batch entry (0-d each), or one per element
        v = v.movedim(v_dim, 0)
        v = v.reshape(v.shape + (1,) * (x.dim() - v.dim())).expand(x.shape)
    elif v.dim() > 0:
        v = v.expand(x.shape)
    return bessel_terms(v, x), (0,) * 7
