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

``hvae::vmf_rsample(loc, kappa, mean_w?, seed, exact) -> (z, omw)``
    One draw of :math:`\mathrm{vMF}(\mu_i, \kappa_i)` per row of unit ``loc`` (n, d): the
    Gaussian block, :math:`1 - w` by Wood's sampler (or the exact inverse CDF for d = 3) and
    the Householder reflection (:func:`hvae.sampling.sample_vmf`). Differentiable in ``loc``
    (exactly) and ``kappa`` (implicit reparameterisation) through
    ``hvae::vmf_rsample_backward``; ``mean_w``, :math:`A_d(\kappa)`, is for that backward
    (``None``: it computes it). ``omw`` is returned for diagnostics and carries no gradient.
    ``vmap`` rule: a batched seed
    (``randomness="different"``) draws the batch at once, an unbatched one gives every entry
    the same random numbers.

``hvae::vmf_rsample_backward(grad_z, loc, z, omw, kappa, mean_w?, want_kappa)``
    ``(grad_loc, grad_kappa)``, the backward of ``vmf_rsample`` in one call (on the CPU one
    compiled pass): the reflection's exact gradient and the implicit one through
    ``hvae::dw_dkappa``'s quadrature.

``hvae::sample_one_minus_w(kappa, d, seed) -> omw``
    :math:`1 - w` by Wood's sampler alone (:func:`hvae.sampling.sample_one_minus_w`, which
    attaches the implicit gradient).

``hvae::dw_dkappa(omw, kappa, mean_w, d) -> dw``
    :math:`\partial w/\partial\kappa` at the draws, the quadrature of :mod:`hvae.sampling`.

The samplers take a 64-bit ``seed`` tensor, which :mod:`hvae.sampling` draws from the caller's
generator (or torch's default one, so ``torch.manual_seed`` fixes every draw), and draw their
random numbers from a torch generator of their own seeded with it (the Gaussian block, and
the uniforms of the exact d = 3 sampler: the same on every device, so both kernels give the
same draws there). Wood's sampler differs by kernel: the array kernel draws all proposals up
front with that generator; the CPU kernel tests each entry's proposals in turn in one compiled
pass, the first from the Gaussian block and the rest with numba's generator seeded from the
torch one (the same law, other numbers: tests/test_kernels.py compares them by KS tests).

Each ``autograd.Function`` wrapper (``*_function``) carries the same formula as the operator's
registration, for ``torch.func.grad`` (pytorch/pytorch#168393).

On a GPU, Wood's sampler draws every entry's proposals up front and tests once per round
whether all are done (almost always after the first); the kernels also check their arguments
(``kappa`` positive and finite, ``x >= 0``), one more synchronisation per call.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor
from torch.utils._python_dispatch import _get_current_dispatch_mode as _current_dispatch_mode

from hvae import _array_kernels, _kernels
from hvae._validation import fail

__all__ = [
    "bessel_terms",
    "bessel_terms_function",
    "dw_dkappa",
    "implicit_dw_dkappa",
    "sample_one_minus_w",
    "vmf_rsample",
    "vmf_rsample_backward",
    "vmf_rsample_function",
    "with_slope",
]

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
    flat_x = np.ascontiguousarray(x.numpy().reshape(-1))
    bad = _kernels.bad_argument(flat_x, False)
    if bad >= 0:
        raise fail("x", "finite and >= 0 (I_v is evaluated on the non-negative half-line)",
                   float(flat_x[bad]))
    flat_v = v.numpy().reshape(-1) if v.dim() == 0 else np.ascontiguousarray(
        np.broadcast_to(v.numpy(), x.shape).reshape(-1))
    out = _kernels.bessel_terms(flat_v, flat_x, _debye_table(),
                                float(_array_kernels.DEBYE_MIN_ORDER))
    if x.dim() == 1:
        return tuple(torch.from_numpy(row) for row in out)
    return tuple(torch.from_numpy(row).reshape(x.shape) for row in out)


@lru_cache(maxsize=1)
def _debye_table() -> np.ndarray:
    return np.ascontiguousarray(_array_kernels.debye_coefficients().numpy())


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
    if _direct(x):
        if torch.is_grad_enabled() and x.requires_grad:
            return _BesselTermsEager.apply(v, x)
        return _bessel_terms_cpu(v, x)
    if _plain_eager():
        return bessel_terms(v, x)
    return _BesselTermsFunction.apply(v, x)


class _BesselTermsEager(torch.autograd.Function):
    """The CPU kernel under the operator's backward, in plain eager (:func:`_direct`), in the
    older style, whose ``apply`` binds no signature."""

    @staticmethod
    def forward(ctx, v, x):
        out = _bessel_terms_cpu(v, x)
        _setup_context(ctx, (v, x), out)
        return out

    backward = staticmethod(_backward)


def _plain_eager() -> bool:
    """Eager, with no torch.func transform active: there the operator itself (its registered
    autograd, the same formula) is called, since ``autograd.Function.apply`` binds its
    arguments through ``inspect.signature`` on every call (some 10 us)."""
    return not torch.compiler.is_compiling() and not torch._C._are_functorch_transforms_active()


_PLAIN = (torch.Tensor, torch.nn.Parameter)  # not fake or functional tensors


def _direct(x: Tensor) -> bool:
    """Whether to call a CPU kernel directly rather than through its operator: in plain eager,
    on the CPU, on plain tensors and under no dispatch mode. A ``custom_op`` call passes
    through some Python layers (argument checks, a dynamo guard) that cost about 70 us, as
    much as a 64-row draw; the kernel is the one the operator registers, so the results are
    the same bit for bit (tests/test_ops.py)."""
    return (type(x) in _PLAIN and x.device.type == "cpu" and _plain_eager()
            and _current_dispatch_mode() is None)


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


# --- the sampler -------------------------------------------------------------------------------
#
# The random numbers come from a torch.Generator seeded with the operator's ``seed`` argument
# (drawn by the caller from its own generator), on the operator's device: both kernels draw the
# same numbers in the same order and shapes, so on the CPU they give the same draws.


def _generator(seed: Tensor, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(int(seed))


def _use_torch_threads() -> None:
    """numba's parallel loops on torch's intra-op thread count, which starting numba's pool
    (shared OpenMP) would otherwise change behind the user's back."""
    n = torch.get_num_threads()
    _kernels.use_threads(n)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def _check_kappa(kappa: Tensor) -> None:
    if kappa.device.type == "cpu":  # one compiled pass instead of three tensor operations
        flat = np.ascontiguousarray(kappa.numpy().reshape(-1))
        bad = _kernels.bad_argument(flat, True)
        if bad >= 0:
            raise fail("kappa", "positive and finite", float(flat[bad]))
    elif not bool(((kappa > 0) & (kappa < math.inf)).all()):  # NaN fails both
        bad = kappa[~((kappa > 0) & (kappa < math.inf))].reshape(-1)[0]
        raise fail("kappa", "positive and finite", float(bad))


def _numba_seed(gen: torch.Generator) -> int:
    """A seed for numba's generator (32 bits), drawn from the operator's torch generator."""
    return int(torch.randint(0, 2**32, (), generator=gen))


def _check_finished(omw: np.ndarray) -> None:
    if np.isnan(omw).any():  # at acceptance >= 0.65, a chance below 0.35^10000
        raise RuntimeError(
            f"Wood's sampler rejected {_array_kernels.MAX_ROUNDS} proposals in a row")


@torch.library.custom_op("hvae::sample_one_minus_w", mutates_args=())
def sample_one_minus_w(kappa: Tensor, d: int, seed: Tensor) -> Tensor:
    """1 - w of one vMF draw per entry of 1-D float64 ``kappa`` by Wood's rejection sampler
    (d ambient, >= 2); not differentiable (:func:`hvae.sampling.attach_implicit_gradient`)."""
    return _sample_one_minus_w_arrays(kappa, d, seed)


def _sample_one_minus_w_arrays(kappa: Tensor, d: int, seed: Tensor) -> Tensor:
    """The operator's kernel for devices other than the CPU (the CUDA path)."""
    _check_kappa(kappa)
    gen = _generator(seed, kappa.device)
    first = _array_kernels.symmetric_beta(kappa.shape, d, kappa.device, gen)
    return _array_kernels.wood_one_minus_w(kappa, d, first, gen)


@sample_one_minus_w.register_kernel("cpu")
def _sample_one_minus_w_cpu(kappa: Tensor, d: int, seed: Tensor) -> Tensor:
    _check_kappa(kappa)
    _use_torch_threads()
    omw = _kernels.wood_sample(np.ascontiguousarray(kappa.numpy().reshape(-1)), d,
                               _numba_seed(_generator(seed, kappa.device)),
                               _array_kernels.MAX_ROUNDS)
    _check_finished(omw)
    return torch.from_numpy(omw).reshape(kappa.shape)


@sample_one_minus_w.register_fake
def _sample_one_minus_w_fake(kappa: Tensor, d: int, seed: Tensor) -> Tensor:
    return torch.empty_like(kappa)


@torch.library.custom_op("hvae::dw_dkappa", mutates_args=())
def dw_dkappa(omw: Tensor, kappa: Tensor, mean_w: Tensor, d: int) -> Tensor:
    r""":math:`\partial w/\partial\kappa` at draws ``omw`` = 1 - w (float64 tensors of one
    shape, ``mean_w`` = :math:`A_d(\kappa)`) by implicit reparameterisation: the quadrature of
    :mod:`hvae.sampling`. Not differentiable."""
    return _array_kernels.dw_dkappa(omw, kappa, mean_w, d)


@dw_dkappa.register_kernel("cpu")
def _dw_dkappa_cpu(omw: Tensor, kappa: Tensor, mean_w: Tensor, d: int) -> Tensor:
    flat = (np.ascontiguousarray(a.reshape(-1).numpy()) for a in (omw, kappa, mean_w))
    nodes, weights = _kernels.gauss_legendre(_kernels.QUAD_NODES)
    out = _kernels.dw_dkappa(*flat, d, _kernels.QUAD_WINDOW, nodes, weights)
    return torch.from_numpy(out).reshape(omw.shape)


@dw_dkappa.register_fake
def _dw_dkappa_fake(omw: Tensor, kappa: Tensor, mean_w: Tensor, d: int) -> Tensor:
    return torch.empty_like(omw)


def implicit_dw_dkappa(omw: Tensor, kappa: Tensor, d: int, mean_w: Tensor | None = None
                       ) -> Tensor:
    r""":func:`dw_dkappa` at the draws ``omw`` (float64, one shape), with :math:`A_d(\kappa)`
    from the Bessel operator unless the caller has it: the implicit gradient of both samplers'
    backward passes. (Through :func:`bessel_terms_function`: ``torch.func.grad`` runs those
    backward passes too.)"""
    kappa = kappa.detach()
    mean_w = _mean_resultant_length(kappa, d) if mean_w is None else mean_w
    return dw_dkappa(omw, kappa, mean_w.detach(), d)


def _mean_resultant_length(kappa: Tensor, d: int) -> Tensor:
    r""":math:`A_d(\kappa)` (float64 ``kappa``, ambient d) from the Bessel operator."""
    order = torch.tensor(0.5 * d - 1, dtype=torch.float64, device=kappa.device)
    return bessel_terms_function(order, kappa)[1]


@torch.library.custom_op("hvae::vmf_rsample", mutates_args=())
def vmf_rsample(loc: Tensor, kappa: Tensor, mean_w: Tensor | None, seed: Tensor,
                exact: bool) -> tuple[Tensor, Tensor]:
    r"""One draw of :math:`\mathrm{vMF}(\mu_i, \kappa_i)` per row: ``loc`` (n, d) unit rows
    (float32 or float64), ``kappa`` (n,) float64; ``exact`` inverts the CDF (d = 3 only),
    otherwise Wood's sampler. Returns ``(z, omw)``: draws (n, d) of ``loc``'s dtype, and
    1 - w (n,) float64 (not differentiable). ``mean_w``, :math:`A_d(\kappa)` (n,), is for the
    backward only; ``None`` has the backward compute it. The method is
    :func:`hvae.sampling.sample_vmf`'s."""
    return _vmf_rsample_arrays(loc, kappa, seed, exact)


def _vmf_rsample_arrays(loc: Tensor, kappa: Tensor, seed: Tensor, exact: bool
                        ) -> tuple[Tensor, Tensor]:
    """The operator's kernel for devices other than the CPU (the CUDA path)."""
    _check_kappa(kappa)
    gen = _generator(seed, loc.device)
    g = torch.randn(loc.shape, dtype=loc.dtype, device=loc.device, generator=gen)
    rest_norm = torch.linalg.vector_norm(g[:, 1:].to(torch.float64), dim=-1)
    if exact:
        omw = _array_kernels.exact_one_minus_w_d3(kappa, gen)
    else:
        first = _array_kernels.beta_from_gaussian(g[:, 0].to(torch.float64), rest_norm)
        omw = _array_kernels.wood_one_minus_w(kappa, loc.shape[1], first, gen)
    return _array_kernels.reflect(loc, g, rest_norm, omw), omw


@vmf_rsample.register_kernel("cpu")
def _vmf_rsample_cpu(loc: Tensor, kappa: Tensor, mean_w: Tensor | None, seed: Tensor,
                     exact: bool) -> tuple[Tensor, Tensor]:
    _check_kappa(kappa)
    _use_torch_threads()
    gen = _generator(seed, loc.device)
    g = torch.randn(loc.shape, dtype=loc.dtype, generator=gen)
    rows, mu, k = g.numpy(), loc.contiguous().numpy(), np.ascontiguousarray(kappa.numpy())
    compensated = loc.dtype == torch.float64  # float32's rounding dwarfs a plain sum's
    if exact:  # the uniforms as _array_kernels.exact_one_minus_w_d3 draws them
        u = torch.rand(kappa.shape, dtype=torch.float64, generator=gen).numpy()
        return g, torch.from_numpy(_kernels.vmf_sample_d3(mu, rows, k, u, compensated))
    omw = _kernels.vmf_sample(mu, rows, k, _numba_seed(gen), compensated,
                              _array_kernels.MAX_ROUNDS)
    _check_finished(omw)
    return g, torch.from_numpy(omw)


@vmf_rsample.register_fake
def _vmf_rsample_fake(loc: Tensor, kappa: Tensor, mean_w: Tensor | None, seed: Tensor,
                      exact: bool):
    return torch.empty_like(loc), torch.empty_like(kappa)


def _vmf_setup_context(ctx, inputs, output) -> None:
    loc, kappa, mean_w, _, _ = inputs
    z, omw = output
    ctx.save_for_backward(loc, kappa, z, omw, mean_w)
    ctx.mark_non_differentiable(omw)


def _vmf_backward(ctx, grad_z, _grad_omw):
    """Through :func:`vmf_rsample_backward`: the reflection exactly, and :math:`q = 1 - w` by
    implicit reparameterisation."""
    loc, kappa, z, omw, mean_w = ctx.saved_tensors
    want_loc, want_kappa = ctx.needs_input_grad[:2]
    if want_kappa and mean_w is None:
        mean_w = _mean_resultant_length(kappa.detach(), loc.shape[-1])
    backward = _vmf_rsample_backward_cpu if _direct(loc) else vmf_rsample_backward
    grad_loc, grad_kappa = backward(
        grad_z.contiguous(), loc.detach(), z.detach(), omw, kappa.detach(),
        None if mean_w is None else mean_w.detach(), want_kappa)
    return (grad_loc if want_loc else None), (grad_kappa if want_kappa else None), None, \
        None, None


@torch.library.custom_op("hvae::vmf_rsample_backward", mutates_args=())
def vmf_rsample_backward(grad_z: Tensor, loc: Tensor, z: Tensor, omw: Tensor, kappa: Tensor,
                         mean_w: Tensor | None, want_kappa: bool) -> tuple[Tensor, Tensor]:
    r"""The backward of :func:`vmf_rsample` for upstream ``grad_z`` at its draws ``(z, omw)``:
    ``(grad_loc, grad_kappa)``, the reflection's exact gradient
    (:func:`hvae._array_kernels.reflect_grad` has the formulas) and
    :math:`-\partial L/\partial w \cdot \partial w/\partial\kappa` by :func:`dw_dkappa`
    (zeros unless ``want_kappa``, which needs ``mean_w`` = :math:`A_d(\kappa)`). Not
    differentiable."""
    return _vmf_rsample_backward_arrays(grad_z, loc, z, omw, kappa, mean_w, want_kappa)


def _vmf_rsample_backward_arrays(grad_z: Tensor, loc: Tensor, z: Tensor, omw: Tensor,
                                 kappa: Tensor, mean_w: Tensor | None, want_kappa: bool
                                 ) -> tuple[Tensor, Tensor]:
    """The operator's kernel for devices other than the CPU (the CUDA path)."""
    grad_loc, d_omw = _array_kernels.reflect_grad(grad_z, loc, z, omw)
    if not want_kappa:
        return grad_loc, torch.zeros_like(kappa)
    return grad_loc, -d_omw * _array_kernels.dw_dkappa(omw, kappa, mean_w, loc.shape[-1])


@vmf_rsample_backward.register_kernel("cpu")
def _vmf_rsample_backward_cpu(grad_z: Tensor, loc: Tensor, z: Tensor, omw: Tensor,
                              kappa: Tensor, mean_w: Tensor | None, want_kappa: bool
                              ) -> tuple[Tensor, Tensor]:
    grad_loc, d_omw = _kernels.reflect_grad(grad_z.contiguous().numpy(),
                                            loc.contiguous().numpy(), z.contiguous().numpy(),
                                            omw.numpy())
    if not want_kappa:
        return torch.from_numpy(grad_loc), torch.zeros_like(kappa)
    nodes, weights = _kernels.gauss_legendre(_kernels.QUAD_NODES)
    dw = _kernels.dw_dkappa(omw.numpy(), kappa.numpy(), mean_w.numpy(), loc.shape[-1],
                            _kernels.QUAD_WINDOW, nodes, weights)
    return torch.from_numpy(grad_loc), torch.from_numpy(np.negative(d_omw * dw, out=dw))


@vmf_rsample_backward.register_fake
def _vmf_rsample_backward_fake(grad_z, loc, z, omw, kappa, mean_w, want_kappa):
    return torch.empty_like(loc), torch.empty_like(kappa)


vmf_rsample.register_autograd(_vmf_backward, setup_context=_vmf_setup_context)


class _VmfRsampleFunction(torch.autograd.Function):
    """:func:`vmf_rsample` with the same autograd formula as an ``autograd.Function``, for
    ``torch.func.grad`` (pytorch/pytorch#168393)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(loc: Tensor, kappa: Tensor, mean_w: Tensor | None, seed: Tensor,
                exact: bool):
        return vmf_rsample(loc, kappa, mean_w, seed, exact)

    setup_context = staticmethod(_vmf_setup_context)
    backward = staticmethod(_vmf_backward)


def vmf_rsample_function(loc: Tensor, kappa: Tensor, mean_w: Tensor | None, seed: Tensor,
                         exact: bool) -> tuple[Tensor, Tensor]:
    """:func:`vmf_rsample` differentiable under ``torch.autograd``, ``torch.func.grad``,
    ``vmap`` and ``torch.compile`` (what :func:`hvae.sampling.sample_vmf` calls)."""
    if _direct(loc):
        if torch.is_grad_enabled() and (loc.requires_grad or kappa.requires_grad):
            return _VmfRsampleEager.apply(loc, kappa, mean_w, seed, exact)
        return _vmf_rsample_cpu(loc, kappa, mean_w, seed, exact)
    if _plain_eager():
        return vmf_rsample(loc, kappa, mean_w, seed, exact)
    return _VmfRsampleFunction.apply(loc, kappa, mean_w, seed, exact)


class _VmfRsampleEager(torch.autograd.Function):
    """The CPU kernel under the operator's backward (:func:`_vmf_backward`) in plain eager
    (:func:`_direct`), in the older style, whose ``apply`` binds no signature."""

    @staticmethod
    def forward(ctx, loc, kappa, mean_w, seed, exact):
        z, omw = _vmf_rsample_cpu(loc, kappa, mean_w, seed, exact)
        _vmf_setup_context(ctx, (loc, kappa, mean_w, seed, exact), (z, omw))
        return z, omw

    backward = staticmethod(_vmf_backward)


@vmf_rsample.register_vmap
def _vmf_rsample_vmap(info, in_dims, loc, kappa, mean_w, seed, exact):
    """A batched seed (``vmap(..., randomness="different")``) draws the whole batch in one
    call from its first seed: independent draws for every entry. An unbatched seed (drawn
    outside, or ``randomness="same"``) gives every batch entry the same random numbers."""
    loc_dim, kappa_dim, mean_w_dim, seed_dim, _ = in_dims
    size = info.batch_size

    def batched(t, dim):
        return t.movedim(dim, 0) if dim is not None else t.expand(size, *t.shape)

    loc, kappa = batched(loc, loc_dim), batched(kappa, kappa_dim)
    if mean_w is not None:
        mean_w = batched(mean_w, mean_w_dim)
    if seed_dim is not None:
        z, omw = vmf_rsample(loc.reshape(-1, loc.shape[-1]), kappa.reshape(-1),
                             None if mean_w is None else mean_w.reshape(-1),
                             seed.movedim(seed_dim, 0)[0], exact)
        return (z.reshape(loc.shape), omw.reshape(kappa.shape)), (0, 0)
    draws = [vmf_rsample(loc[i], kappa[i], None if mean_w is None else mean_w[i], seed, exact)
             for i in range(size)]
    return (torch.stack([z for z, _ in draws]), torch.stack([w for _, w in draws])), (0, 0)


# --- a value with a given first derivative ---------------------------------------------------


def _slope_backward(ctx, grad):
    (slope,) = ctx.saved_tensors
    return None, grad * slope, None


class _WithSlope(torch.autograd.Function):
    """For torch.func and torch.compile (``setup_context`` style)."""

    @staticmethod
    def forward(value, x, slope):
        return value.clone()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[2])

    backward = staticmethod(torch.autograd.function.once_differentiable(_slope_backward))


class _WithSlopeEager(torch.autograd.Function):
    """The same in plain eager, in the older style, whose ``apply`` binds no signature."""

    @staticmethod
    def forward(ctx, value, x, slope):
        ctx.save_for_backward(slope)
        return value.clone()

    backward = staticmethod(torch.autograd.function.once_differentiable(_slope_backward))


def with_slope(value: Tensor, x: Tensor, slope: Tensor) -> Tensor:
    r"""A copy of ``value`` whose gradient in ``x`` is ``slope``:
    :math:`\partial L/\partial x = \partial L/\partial v \cdot` ``slope`` (elementwise, one
    shape), for a value computed from detached terms whose derivative is known in closed form
    (the KL's :math:`\kappa A_d'(\kappa)`). First derivatives only: a second backward raises
    rather than return a silently wrong 0."""
    if _plain_eager():
        return _WithSlopeEager.apply(value, x, slope)
    return _WithSlope.apply(value, x, slope)
