"""A re-implementation of the S-VAE reference sampler, for timing only. NOT the official code.

The reference implementation of Davidson et al. (2018), github.com/nicola-decao/s-vae-pytorch,
file ``hyperspherical_vae/distributions/von_mises_fisher.py`` (read at commit 671c46c, its
latest version with the d = 3 closed form and the ``k``-proposal while loop), cannot be
installed here (no network). This module re-implements, in its own words, the *algorithm* its
``VonMisesFisher.rsample`` runs, step for step and with the same kind of torch calls, so that
``benchmarks/sampling.py`` can time "the official way" of drawing vMF samples. It is not their
code, it is not tested against it, and nothing in ``hvae`` uses it. What it does:

1. ``w`` (the cosine to ``mu``), one per row, by

   - d = 3: the closed-form inverse CDF, ``w = 1 + logsumexp(log u, log(1 - u) - 2 kappa) /
     kappa``, i.e. ``1 + log(u + (1 - u) exp(-2 kappa)) / kappa`` (their ``__sample_w3``);
   - otherwise Wood's (1994) rejection sampler (their ``__sample_w_rej`` and ``__while_loop``):
     envelope ``b`` from the exact formula ``(sqrt(4 kappa^2 + m'^2) - 2 kappa) / m'``
     (``m' = d - 1``) blended linearly into its large-kappa approximation ``m' / (4 kappa)`` as
     kappa goes from 10 to 11; ``a = (m' + 2 kappa + sqrt(4 kappa^2 + m'^2)) / 4`` and
     ``d_ = 4ab / (1 + b) - m' log m'``. Then a ``while`` loop that, until every row has been
     accepted, draws for ALL rows (accepted or not) ``k`` proposals ``e ~ Beta(m'/2, m'/2)``
     from a ``torch.distributions.Beta`` object (float64 concentrations, cast to the working
     dtype) and ``u ~ Uniform(eps, 1 - eps)``, forms ``w = (1 - (1 + b) e) / (1 - (1 - b) e)``
     and ``t = 2ab / (1 - (1 - b) e)``, accepts where ``m' log t - t + d_ > log u``, takes each
     row's first accepted proposal by ``argmax`` and ``gather``, and writes it into the rows
     still pending with boolean-mask indexing (``k = 1``, their default).

2. The tangent part: a standard Normal block of the full shape ``(..., d)`` from a
   ``torch.distributions.Normal`` object with its first coordinate dropped, normalised, times
   ``sqrt(clamp(1 - w^2, 1e-10))``, concatenated after ``w``.

3. The Householder reflection taking ``e1`` to ``mu``: ``u = e1 - mu``, ``u /= |u| + 1e-5``,
   ``z = x - 2 (x . u) u``.

The cost structure (Beta objects, all rows redrawn each round, masked writes, a
host-synchronising loop condition) is the point of the comparison. Their blend of ``b`` inherits
one flaw of theirs, reproduced on purpose: past kappa = 11 it uses ``m' / (4 kappa)`` whatever
the dimension, which is far from the true ``b`` when ``m' >> kappa`` (d = 1000, kappa = 100:
``b`` 2.5 instead of 0.82, and the draws' mean cosine comes out near -0.43 instead of
A_d = 0.099), so their draws are wrong there; the timing is of what the code does.
"""

from __future__ import annotations

import math

import torch

__all__ = ["OfficialStyleVonMisesFisher"]


class OfficialStyleVonMisesFisher:
    """vMF(loc, scale) drawn the way the S-VAE reference code draws it (see the module docstring).

    Args:
        loc: unit mean directions, (d,) or (n, d).
        scale: concentrations with a trailing singleton, (1,) or (n, 1), as their encoder
            outputs them.
        k: proposals per row and round of the rejection loop (their default is 1).
    """

    def __init__(self, loc: torch.Tensor, scale: torch.Tensor, k: int = 1) -> None:
        self.loc = loc
        self.scale = scale
        self.dtype = loc.dtype
        self.device = loc.device
        self.m = loc.shape[-1]
        self.e1 = torch.zeros(self.m, dtype=self.dtype, device=self.device)
        self.e1[0] = 1.0
        self.k = k

    def rsample(self, shape: torch.Size = torch.Size()) -> torch.Tensor:
        shape = torch.Size(shape)
        w = self._sample_w3(shape) if self.m == 3 else self._sample_w_rej(shape)
        v = torch.distributions.Normal(0, 1).sample(shape + self.loc.shape).to(self.device)
        v = v.transpose(0, -1)[1:].transpose(0, -1).to(self.dtype)
        v = v / v.norm(dim=-1, keepdim=True)
        w_perp = torch.sqrt(torch.clamp(1 - w**2, 1e-10))
        x = torch.cat((w, w_perp * v), -1)
        return self._householder(x).type(self.dtype)

    def _sample_w3(self, shape: torch.Size) -> torch.Tensor:
        shape = shape + self.scale.shape
        u = torch.distributions.Uniform(0, 1).sample(shape).to(self.device).to(self.dtype)
        stacked = torch.stack([torch.log(u), torch.log(1 - u) - 2 * self.scale], dim=0)
        return 1 + stacked.logsumexp(0) / self.scale

    def _sample_w_rej(self, shape: torch.Size) -> torch.Tensor:
        m1 = self.m - 1
        c = torch.sqrt(4 * self.scale**2 + m1**2)
        b_true = (-2 * self.scale + c) / m1
        b_app = m1 / (4 * self.scale)  # Taylor approximation, for large kappa
        zero = torch.tensor([0.0], dtype=self.dtype, device=self.device)
        one = torch.tensor([1.0], dtype=self.dtype, device=self.device)
        s = torch.min(torch.max(zero, self.scale - 10), one)  # 0 below kappa 10, 1 above 11
        b = b_app * s + b_true * (1 - s)
        a = (m1 + 2 * self.scale + c) / 4
        d = (4 * a * b) / (1 + b) - m1 * math.log(m1)
        return self._while_loop(b, a, d, shape)

    @staticmethod
    def _first_nonzero(x: torch.Tensor, invalid: int = -1) -> torch.Tensor:
        mask = x > 0
        return torch.where(mask.any(dim=-1), mask.float().argmax(dim=1),
                           torch.tensor(invalid, device=x.device))

    def _while_loop(self, b, a, d, shape: torch.Size, eps: float = 1e-20) -> torch.Tensor:
        ones = [1] * len(self.scale.shape)
        b, a, d = (t.repeat(*shape, *ones).reshape(-1, 1) for t in (b, a, d))
        w, e = torch.zeros_like(b), torch.zeros_like(b)
        pending = torch.ones_like(b, dtype=torch.bool)
        sample_shape = torch.Size([b.shape[0], self.k])
        concentration = torch.tensor(0.5 * (self.m - 1), dtype=torch.float64)
        while pending.sum() != 0:  # every row redrawn each round, until all are accepted
            e_ = (torch.distributions.Beta(concentration, concentration).sample(sample_shape)
                  .to(self.device).type(self.dtype))
            u = (torch.distributions.Uniform(0 + eps, 1 - eps).sample(sample_shape)
                 .to(self.device).type(self.dtype))
            w_ = (1 - (1 + b) * e_) / (1 - (1 - b) * e_)
            t = (2 * a * b) / (1 - (1 - b) * e_)
            accept = ((self.m - 1.0) * t.log() - t + d) > torch.log(u)
            first = self._first_nonzero(accept).unsqueeze(1)
            w_ = w_.gather(1, first.clamp(0).view(-1, 1))
            e_ = e_.gather(1, first.clamp(0).view(-1, 1))  # they keep the Beta draws too
            reject = first < 0
            take = pending & ~reject
            w[take] = w_[take]
            e[take] = e_[take]
            pending[take] = reject[take]
        return w.reshape(shape + self.scale.shape)

    def _householder(self, x: torch.Tensor) -> torch.Tensor:
        u = self.e1 - self.loc
        u = u / (u.norm(dim=-1, keepdim=True) + 1e-5)
        return x - 2 * (x * u).sum(-1, keepdim=True) * u
