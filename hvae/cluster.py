r"""Mixtures of von Mises-Fisher distributions on :math:`S^{d-1} \subset \mathbb{R}^d`, by EM.

The model (Banerjee, Dhillon, Ghosh and Sra, JMLR 6, 2005, "Clustering on the unit hypersphere
using von Mises-Fisher distributions") is

.. math::
   p(x) = \sum_{k=1}^K \pi_k\, C_d(\kappa_k)\, e^{\kappa_k \langle\mu_k, x\rangle}, \qquad
   C_d(\kappa) = \frac{\kappa^{d/2-1}}{(2\pi)^{d/2} I_{d/2-1}(\kappa)},

with ``d`` the ambient dimension, as everywhere in ``hvae``. EM alternates

- **E-step**: responsibilities :math:`r_{ik} \propto \pi_k\, C_d(\kappa_k)
  e^{\kappa_k\langle\mu_k, x_i\rangle}`, normalised over k in log space (log-sum-exp);
- **M-step**: :math:`N_k = \sum_i r_{ik}`, :math:`\pi_k = N_k / n`, the weighted resultant
  :math:`s_k = \sum_i r_{ik} x_i`, :math:`\mu_k = s_k / \|s_k\|` and :math:`\kappa_k` solving
  :math:`A_d(\kappa_k) = \bar r_k = \|s_k\| / N_k`, :math:`A_d = I_{d/2}/I_{d/2-1}` (see
  :func:`kappa_mle`).

Each step maximises the expected complete-data log-likelihood exactly (the objective is concave in
:math:`\kappa`, since :math:`\partial_\kappa^2 \log C_d = -A_d' < 0`), so the log-likelihood never
decreases. Densities are evaluated as :math:`\kappa(\langle\mu, x\rangle - 1) + (\kappa - L) -
\log|S^{d-1}|` with :math:`L(\kappa) = \log[\Gamma(d/2)(2/\kappa)^{d/2-1} I_{d/2-1}(\kappa)]`
from :func:`hvae.special.bessel_terms`, the form :mod:`hvae.distributions` uses: no overflow for
large :math:`\kappa` and the uniform limit :math:`-\log|S^{d-1}|` at :math:`\kappa = 0`.

:class:`VMFMixture` also fits with partial labels (semi-supervised EM, component k = class k)
and handles empty or collapsing components; see its docstring. Everything runs in numpy float64
(inputs may be numpy arrays or torch tensors).
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
import torch
from scipy.special import logsumexp

from hvae.distributions import log_sphere_area
from hvae.sampling import sample_uniform_sphere, sample_vmf
from hvae.special import bessel_terms, iv_ratio, kappa_mle

__all__ = ["VMFMixture", "kappa_mle"]

# A component whose total responsibility is below this (in points) is empty: its M-step would
# divide ~0 by ~0. It is re-seeded (see VMFMixture).
_EMPTY_MASS = 1e-10


def _as_float64(a, name: str) -> np.ndarray:
    """A float64 numpy copy of an array-like or a torch tensor (any device, autograd detached)."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    try:
        return np.array(a, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric array, got {type(a).__name__}") from err


# ----------------------------------------------------------------------------------------------
# The mixture
# ----------------------------------------------------------------------------------------------


def _log_vmf_densities(x: np.ndarray, means: np.ndarray, kappas: np.ndarray) -> np.ndarray:
    r"""(n, K) log densities :math:`\kappa_k(\langle\mu_k, x_i\rangle - 1) + \kappa_k - L(\kappa_k)
    - \log|S^{d-1}|`."""
    d = x.shape[1]
    rescaled = bessel_terms(0.5 * d - 1, torch.from_numpy(np.ascontiguousarray(kappas)))[2]
    shift = kappas - rescaled.numpy() - log_sphere_area(d)
    return kappas * (x @ means.T - 1) + shift


class VMFMixture:
    r"""A mixture of K von Mises-Fisher distributions on :math:`S^{d-1}`, fitted by EM.

    A scikit-learn-like estimator (``fit``, ``predict``, ``predict_proba``, ``score_samples``,
    ``score``, ``bic``, ``sample``), the soft-assignment algorithm (soft-moVMF) of Banerjee et
    al. (2005); see the module docstring for the E- and M-steps.

    Args:
        n_components: K, the number of components (1 <= K <= number of samples).
        n_init: number of initialisations; the fit with the highest final log-likelihood is
            kept. Each is seeded by k-means++ on the sphere: the first centre a uniformly random
            point, each next one a point drawn with probability proportional to
            :math:`1 - \max_j\langle x, c_j\rangle` (half the squared chord distance to the
            nearest centre, so this is k-means++ itself). The points are then assigned to their
            nearest centre and a first M-step on these hard assignments starts EM; a component
            resting on fewer than 2 points there starts with the median concentration of the
            others (alone, it would start, and stay, at ``kappa_max``).
        max_iter: maximum number of EM iterations per initialisation.
        tol: convergence threshold on the change of the mean (per-sample) log-likelihood
            between two iterations, as in scikit-learn's ``GaussianMixture``.
        random_state: seed (an int, None or a ``numpy.random.Generator``) for the
            initialisations and for :meth:`sample`.
        kappa_max: upper bound on the concentrations. A component that collapses onto a few
            (or duplicated) points has :math:`\bar r_k \to 1` and its maximum-likelihood
            :math:`\kappa_k \to \infty`, with an unbounded likelihood; the M-step instead takes
            the best :math:`\kappa_k \le` ``kappa_max`` (the objective is concave in
            :math:`\kappa`, so EM still never decreases it). The default 1e6 corresponds to an
            angular spread :math:`\sqrt{(d-1)/\kappa}` of 0.08 degrees at d = 3 and 5.7 degrees
            at d = 10^4.
        verbose: print one line per initialisation.

    Empty components: a component whose total responsibility falls below 1e-10 (an M-step would
    divide 0 by 0; it also happens at the start when centres coincide on duplicated points) is
    re-seeded, as k-means does with an empty cluster: its mean becomes the worst-fitted point
    (lowest mixture log-density; at the start, farthest from every centre), its concentration
    the median of the others, its weight that of one point. A re-seed can lower the
    log-likelihood once; convergence is not declared on such an iteration, and
    ``n_reseeds_`` counts them.

    Semi-supervised fit: ``fit(X, y)`` with ``y[i]`` a class in 0..K-1 or -1 (unlabelled).
    Component k is class k: labelled points keep one-hot responsibilities for their class in
    every E-step, and EM maximises :math:`\sum_{i\ \text{unlabelled}} \log p(x_i) +
    \sum_{i\ \text{labelled}} \log[\pi_{y_i} f_{y_i}(x_i)]`, which it never decreases either.
    The first M-step fits each labelled class to its labelled points alone (as Nigam et al.,
    2000, start semi-supervised EM) and classes without labels to the Voronoi cells of k-means++
    centres drawn around the labelled classes' mean directions; the other unlabelled points
    join at the first E-step. When every class has labels this start is deterministic and one
    initialisation is run whatever ``n_init``. :meth:`predict` then returns classes.

    Fitted attributes: ``means_`` (K, d) unit vectors, ``concentrations_`` (K,), ``weights_``
    (K,) summing to 1, ``converged_``, ``n_iter_`` (EM iterations of the kept fit),
    ``lower_bound_`` (its final mean log-likelihood, or the semi-supervised objective above
    divided by n), ``log_likelihood_history_`` (that quantity after the initial M-step and after
    each iteration: ``n_iter_ + 1`` values), ``n_reseeds_`` and ``n_features_in_`` (d).
    """

    def __init__(self, n_components: int = 1, *, n_init: int = 5, max_iter: int = 300,
                 tol: float = 1e-6, random_state=None, kappa_max: float = 1e6,
                 verbose: bool = False):
        self.n_components = n_components
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.kappa_max = kappa_max
        self.verbose = verbose

    def __repr__(self) -> str:
        return (f"VMFMixture(n_components={self.n_components}, n_init={self.n_init}, "
                f"max_iter={self.max_iter}, tol={self.tol}, random_state={self.random_state}, "
                f"kappa_max={self.kappa_max})")

    # ------------------------------------------------------------------------------------------
    # validation
    # ------------------------------------------------------------------------------------------

    def _check_params(self, n_samples: int) -> None:
        def is_int(v):
            return isinstance(v, int | np.integer) and not isinstance(v, bool)

        k = self.n_components
        if not is_int(k) or k < 1:
            raise ValueError(f"n_components must be an integer >= 1, got {k!r}")
        if k > n_samples:
            raise ValueError(f"n_components={k} exceeds the number of samples ({n_samples})")
        if not is_int(self.n_init) or self.n_init < 1:
            raise ValueError(f"n_init must be an integer >= 1, got {self.n_init!r}")
        if not is_int(self.max_iter) or self.max_iter < 1:
            raise ValueError(f"max_iter must be an integer >= 1, got {self.max_iter!r}")
        if not (isinstance(self.tol, numbers.Real) and math.isfinite(self.tol)
                and self.tol >= 0):
            raise ValueError(f"tol must be a finite number >= 0, got {self.tol!r}")
        if not (isinstance(self.kappa_max, numbers.Real) and math.isfinite(self.kappa_max)
                and self.kappa_max > 0):
            raise ValueError(f"kappa_max must be a finite number > 0, got {self.kappa_max!r}")

    @staticmethod
    def _check_x(x, d: int | None = None) -> np.ndarray:
        """X as a float64 (n, d) array of unit rows (renormalised exactly); ``d`` if given."""
        tol = 1e-6
        if isinstance(x, torch.Tensor) and x.is_floating_point():
            tol = max(tol, 100 * torch.finfo(x.dtype).eps)
        elif isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating):
            tol = max(tol, 100 * float(np.finfo(x.dtype).eps))
        x = _as_float64(x, "X")
        if x.ndim != 2:
            raise ValueError(f"X must be a 2-D array (n_samples, d), got shape {x.shape}")
        if x.shape[0] < 1:
            raise ValueError("X has no samples")
        if x.shape[1] < 2:
            raise ValueError(f"X must have d >= 2 columns (points of S^(d-1) in R^d), got "
                             f"d = {x.shape[1]}")
        if d is not None and x.shape[1] != d:
            raise ValueError(f"X has d = {x.shape[1]} columns, the mixture was fitted with d = {d}")
        if not np.all(np.isfinite(x)):
            raise ValueError("X contains NaN or infinite entries")
        norms = np.linalg.norm(x, axis=1)
        bad = np.abs(norms - 1) > tol
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"the rows of X must be unit vectors: {int(bad.sum())} of {len(x)} have a norm "
                f"off 1 by more than {tol:g} (row {i} has norm {norms[i]!r}); normalise them "
                f"first, e.g. X / np.linalg.norm(X, axis=1, keepdims=True)")
        return x / norms[:, None]

    def _check_y(self, y, n_samples: int) -> np.ndarray | None:
        """Labels as an int array (-1 = unlabelled), or None if there are none."""
        if y is None:
            return None
        if isinstance(y, torch.Tensor):
            y = y.detach().cpu().numpy()
        y = np.asarray(y)
        if y.shape != (n_samples,):
            raise ValueError(f"y must have shape ({n_samples},) like X's rows, got {y.shape}")
        if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
            raise ValueError(f"y must hold integer labels, got dtype {y.dtype}")
        if np.issubdtype(y.dtype, np.floating) and not np.all(np.isfinite(y) & (y == np.round(y))):
            raise ValueError("y must hold integer labels (-1 for unlabelled)")
        y = y.astype(np.int64)
        k = self.n_components
        if np.any((y < -1) | (y >= k)):
            raise ValueError(f"labels in y must be -1 (unlabelled) or a class 0..{k - 1} "
                             f"(component k is class k), got values in [{y.min()}, {y.max()}]")
        return y if np.any(y >= 0) else None

    def _check_fitted(self) -> None:
        if not hasattr(self, "means_"):
            from sklearn.exceptions import NotFittedError  # slow to import: only when needed

            raise NotFittedError("This VMFMixture instance is not fitted yet; call fit(X) "
                                 "before using it.")

    # ------------------------------------------------------------------------------------------
    # EM
    # ------------------------------------------------------------------------------------------

    def _seed(self, x: np.ndarray, y: np.ndarray | None, rng: np.random.Generator):
        """Centres (K, d) and which of them k-means++ chose: the labelled classes' mean
        directions are fixed, the other centres are drawn by k-means++ around them."""
        n, k_total = x.shape[0], self.n_components
        centres = np.zeros((k_total, x.shape[1]))
        seeded = np.ones(k_total, dtype=bool)
        if y is not None:
            for k in np.unique(y[y >= 0]):
                members = x[y == k]
                s = members.sum(0)
                norm = np.linalg.norm(s)
                # a symmetric set of labelled points has no mean direction: take one of them
                centres[k] = s / norm if norm > 1e-12 * len(members) else members[0]
                seeded[k] = False
        free = list(np.flatnonzero(seeded))
        if len(free) == k_total:
            centres[free.pop(0)] = x[rng.integers(n)]
        taken = [k for k in range(k_total) if k not in free]
        closest = (x @ centres[taken].T).max(1)
        for k in free:
            dist = np.clip(1 - closest, 0, None)
            total = dist.sum()
            # all points on the centres (duplicated points): any point; the duplicate centre will
            # get no points and be re-seeded
            i = rng.choice(n, p=dist / total) if total > 0 else rng.integers(n)
            centres[k] = x[i]
            closest = np.maximum(closest, x @ x[i])
        return centres, seeded

    def _m_step(self, x, resp, fit, prev_means, r_cap, first=False):
        """Weights, means and concentrations from responsibilities; re-seeds empty components at
        the points with the lowest ``fit``. Returns (weights, means, kappas, n_reseeded).

        ``first``: the initial step, where a concentration resting on fewer than 2 points
        (e.g. a class with a single label) would be kappa_max and pin its component there.
        """
        d = x.shape[1]
        mass = resp.sum(0)
        resultant = resp.T @ x
        length = np.linalg.norm(resultant, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            # a resultant of exactly 0 leaves the direction free: keep the previous one
            means = np.where(length[:, None] > 0, resultant / length[:, None], prev_means)
            r_bar = np.where(mass > 0, length / mass, 0.0)
        empty = mass < _EMPTY_MASS
        # r_bar may exceed 1 by rounding (all points equal); the cap keeps kappa <= kappa_max
        kappas = self._kappa(np.where(empty, 0.0, r_bar), d, r_cap)
        thin = mass < 2
        if empty.any() or (first and thin.any()):
            # a typical concentration: the median of the components resting on >= 2 points, or
            # that of all the points as one vMF
            typical = (np.median(kappas[~thin]) if (~thin).any()
                       else self._kappa(np.linalg.norm(x.mean(0)), d, r_cap))
            kappas[empty | (thin & first)] = typical
        n_empty = int(empty.sum())
        if n_empty:
            worst = np.argsort(fit, kind="stable")[:n_empty]
            means[empty] = x[worst]
            mass[empty] = 1.0
        return mass / mass.sum(), means, kappas, n_empty

    def _kappa(self, r_bar, d: int, r_cap: float):
        """kappa_mle, and exactly kappa_max from r_bar >= A_d(kappa_max) on."""
        kappa = np.minimum(kappa_mle(np.minimum(r_bar, r_cap), d), self.kappa_max)
        return np.where(r_bar >= r_cap, float(self.kappa_max), kappa)

    @staticmethod
    def _e_step(x, weights, means, kappas, y):
        """(responsibilities, per-point log p(x), per-point objective)."""
        with np.errstate(divide="ignore"):
            log_p = np.log(weights) + _log_vmf_densities(x, means, kappas)
        log_lik = logsumexp(log_p, axis=1)
        resp = np.exp(log_p - log_lik[:, None])
        objective = log_lik
        if y is not None:
            labelled = np.flatnonzero(y >= 0)
            resp[labelled] = 0.0
            resp[labelled, y[labelled]] = 1.0
            objective = log_lik.copy()
            objective[labelled] = log_p[labelled, y[labelled]]
        return resp, log_lik, objective

    def _fit_once(self, x, y, rng, r_cap):
        # first M-step: labelled points with their classes; unlabelled points whose nearest
        # centre is a k-means++ one with it (all of them when there are no labels); the other
        # unlabelled points wait for the first E-step, so that a labelled class starts as
        # its labelled points' vMF (Nigam et al., 2000), not as a Voronoi cell
        centres, seeded = self._seed(x, y, rng)
        cos = x @ centres.T
        nearest = cos.argmax(1)
        rows = np.flatnonzero(seeded[nearest] if y is None else seeded[nearest] & (y < 0))
        resp = np.zeros_like(cos)
        resp[rows, nearest[rows]] = 1.0
        if y is not None:
            labelled = np.flatnonzero(y >= 0)
            resp[labelled, y[labelled]] = 1.0
        params = self._m_step(x, resp, cos.max(1), centres, r_cap, first=True)
        n_reseeds = params[3]
        resp, log_lik, objective = self._e_step(x, *params[:3], y)
        history = [objective.mean()]
        converged, n_iter = False, 0
        while n_iter < self.max_iter:
            n_iter += 1
            params = self._m_step(x, resp, log_lik, params[1], r_cap)
            n_reseeds += params[3]
            resp, log_lik, objective = self._e_step(x, *params[:3], y)
            history.append(objective.mean())
            if params[3] == 0 and abs(history[-1] - history[-2]) <= self.tol:
                converged = True
                break
        return params[:3], np.array(history), converged, n_iter, n_reseeds

    def fit(self, X, y=None) -> VMFMixture:
        """Fit the mixture to X (n, d), unit rows; ``y`` optional labels (-1 = unlabelled)."""
        x = self._check_x(X)
        self._check_params(x.shape[0])
        labels = self._check_y(y, x.shape[0])
        d = x.shape[1]
        # the largest mean resultant length the M-step uses: kappa_max's (< 1)
        r_cap = min(float(iv_ratio(0.5 * d, torch.tensor(float(self.kappa_max),
                                                          dtype=torch.float64))),
                    np.nextafter(1.0, 0.0))
        rng = np.random.default_rng(self.random_state)
        n_init = self.n_init
        if labels is not None and np.unique(labels[labels >= 0]).size == self.n_components:
            n_init = 1  # the start is the labelled classes' fit: every init would be the same
        best = None
        for i in range(n_init):
            result = self._fit_once(x, labels, rng, r_cap)
            if self.verbose:
                print(f"VMFMixture init {i + 1}/{n_init}: log-likelihood {result[1][-1]:.8g} "
                      f"after {result[3]} iterations (converged: {result[2]})")
            if best is None or result[1][-1] > best[1][-1]:
                best = result
        (weights, means, kappas), history, converged, n_iter, n_reseeds = best
        self.weights_, self.means_, self.concentrations_ = weights, means, kappas
        self.log_likelihood_history_ = history
        self.lower_bound_ = float(history[-1])
        self.converged_ = converged
        self.n_iter_ = n_iter
        self.n_reseeds_ = n_reseeds
        self.n_features_in_ = d
        if not converged:
            from sklearn.exceptions import ConvergenceWarning

            warnings.warn(f"VMFMixture did not converge in max_iter={self.max_iter} iterations "
                          f"(tol={self.tol}); raise max_iter or tol", ConvergenceWarning,
                          stacklevel=2)
        return self

    def fit_predict(self, X, y=None) -> np.ndarray:
        """``fit(X, y)``, then the components (classes) of X."""
        return self.fit(X, y).predict(X)

    # ------------------------------------------------------------------------------------------
    # inference
    # ------------------------------------------------------------------------------------------

    def _log_joint(self, X) -> np.ndarray:
        """(n, K) log pi_k + log f_k(x_i)."""
        self._check_fitted()
        x = self._check_x(X, self.n_features_in_)
        with np.errstate(divide="ignore"):
            return np.log(self.weights_) + _log_vmf_densities(x, self.means_,
                                                               self.concentrations_)

    def score_samples(self, X) -> np.ndarray:
        r"""Per-point log density :math:`\log p(x_i)` (with respect to the surface measure)."""
        return logsumexp(self._log_joint(X), axis=1)

    def score(self, X, y=None) -> float:
        """Mean log density of the points of X (``y`` is ignored)."""
        return float(self.score_samples(X).mean())

    def predict_proba(self, X) -> np.ndarray:
        """(n, K) posterior probabilities of the components (responsibilities)."""
        log_joint = self._log_joint(X)
        return np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))

    def predict(self, X) -> np.ndarray:
        """The most probable component (the class, after a semi-supervised fit) of each point."""
        return self._log_joint(X).argmax(1)

    def n_parameters(self) -> int:
        """K(d-1) for the directions, K concentrations and K-1 free weights."""
        self._check_fitted()
        k, d = self.n_components, self.n_features_in_
        return k * (d - 1) + k + (k - 1)

    def bic(self, X) -> float:
        r"""Bayesian information criterion :math:`-2\sum_i\log p(x_i) + p\log n`, p from
        :meth:`n_parameters`; lower is better."""
        log_p = self.score_samples(X)
        return float(-2 * log_p.sum() + self.n_parameters() * math.log(len(log_p)))

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n_samples`` points from the fitted mixture (:func:`hvae.sampling.sample_vmf`).

        Returns ``(X, labels)``: float64 (n_samples, d) points grouped by component, as
        scikit-learn's ``GaussianMixture.sample``, and their components. Seeded by
        ``random_state``.
        """
        self._check_fitted()
        if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer) or (
                n_samples < 1):
            raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}")
        rng = np.random.default_rng(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_ / self.weights_.sum())
        gen = torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))
        d = self.n_features_in_
        draws = []
        for mean, kappa, count in zip(self.means_, self.concentrations_, counts, strict=True):
            if count == 0:
                continue
            if kappa > 0:
                draws.append(sample_vmf(torch.from_numpy(mean.copy()),
                                        torch.tensor(kappa, dtype=torch.float64), (int(count),),
                                        generator=gen).numpy())
            else:
                draws.append(sample_uniform_sphere((int(count),), d, torch.float64,
                                                   generator=gen).numpy())
        labels = np.repeat(np.arange(self.n_components), counts)
        return np.concatenate(draws), labels
