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
import warnings
from numbers import Integral, Real
from typing import ClassVar, NamedTuple

import numpy as np
import scipy.sparse
import torch
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from hvae._validation import check_int, fail
from hvae.distributions import log_sphere_area
from hvae.sampling import sample_uniform_sphere, sample_vmf
from hvae.special import bessel_terms, iv_ratio, kappa_mle

__all__ = ["VMFMixture", "kappa_mle"]

# A component whose total responsibility is below this (in points) is empty: its M-step would
# divide ~0 by ~0. It is re-seeded (see VMFMixture).
_EMPTY_MASS = 1e-10
# A row of X may have a norm off 1 by this much (or by 100 ulps of its dtype, if more) before fit
# rejects X as not on the sphere; accepted rows are renormalised exactly.
_UNIT_NORM_TOL = 1e-6


# ----------------------------------------------------------------------------------------------
# What the EM steps hand each other
# ----------------------------------------------------------------------------------------------


class _Components(NamedTuple):
    """The parameters of a mixture of K vMFs on S^{d-1}."""

    weights: np.ndarray  # (K,), summing to 1
    means: np.ndarray  # (K, d) unit vectors
    kappas: np.ndarray  # (K,) concentrations in [0, kappa_max]


class _MStep(NamedTuple):
    """An M-step's output: the new parameters and how many empty components it re-seeded."""

    components: _Components
    n_reseeded: int


class _EStep(NamedTuple):
    """An E-step's output, per point."""

    resp: np.ndarray  # (n, K) responsibilities (one-hot on labelled points)
    log_lik: np.ndarray  # (n,) log p(x_i)
    objective: np.ndarray  # (n,) log p(x_i), or log[pi_y f_y(x_i)] on labelled points


class _Seeds(NamedTuple):
    """The starting centres of one initialisation."""

    centres: np.ndarray  # (K, d) unit vectors
    drawn: np.ndarray  # (K,) bool: drawn by k-means++ (False: a labelled class's mean direction)


class _EMRun(NamedTuple):
    """One initialisation's EM, from its first M-step to its last E-step."""

    components: _Components
    history: np.ndarray  # the mean objective after the first M-step and after each iteration
    converged: bool
    n_iter: int
    n_reseeds: int

    @property
    def final(self) -> np.float64:
        """The mean objective the run ends with (how initialisations are compared)."""
        return self.history[-1]


# ----------------------------------------------------------------------------------------------
# Input checks (one message format: "name: must be ..., got ...")
# ----------------------------------------------------------------------------------------------


def _unit_norm_tolerance(a) -> float:
    """How far off 1 a row's norm may be: ``_UNIT_NORM_TOL``, or 100 ulps of a float input."""
    if isinstance(a, torch.Tensor) and a.is_floating_point():
        return max(_UNIT_NORM_TOL, 100 * torch.finfo(a.dtype).eps)
    if isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating):
        return max(_UNIT_NORM_TOL, 100 * float(np.finfo(a.dtype).eps))
    return _UNIT_NORM_TOL


def _as_numpy(a):
    """A torch tensor as a numpy array (any device, autograd detached); anything else as is."""
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a


def _check_points(x: np.ndarray, n_features: int | None) -> None:
    """X is a finite (n, d) float array, n >= 1, d >= 2 (``n_features`` if given)."""
    if x.ndim != 2:
        raise ValueError(f"X: must be a 2-D array (n_samples, d), got shape {x.shape}")
    if x.shape[0] < 1:
        raise ValueError(f"X: must have at least one sample, got shape {x.shape}")
    if x.shape[1] < 2:
        raise ValueError(f"X: must have d >= 2 columns (points of S^(d-1) in R^d), got "
                         f"d = {x.shape[1]}")
    if n_features is not None and x.shape[1] != n_features:
        raise ValueError(f"X: must have d = {n_features} columns (the mixture was fitted with "
                         f"d = {n_features}), got d = {x.shape[1]}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"X: must be finite, got NaN or infinite entries in "
                         f"{int(np.sum(~np.all(np.isfinite(x), axis=1)))} rows")


def _unit_rows(x: np.ndarray, tol: float) -> np.ndarray:
    """The rows of X renormalised exactly, once they are checked to be unit vectors to ``tol``."""
    norms = np.linalg.norm(x, axis=1)
    bad = np.abs(norms - 1) > tol
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"X: must have unit vectors as rows (points of the sphere; normalise them first, "
            f"e.g. with sklearn.preprocessing.Normalizer() before the mixture in a Pipeline, or "
            f"X / np.linalg.norm(X, axis=1, keepdims=True)), got {int(bad.sum())} of {len(x)} "
            f"rows with a norm off 1 by more than {tol:g} (row {i} has norm {norms[i]!r})")
    return x / norms[:, None]


def _check_labels(y, n_samples: int, n_components: int) -> np.ndarray | None:
    """Labels as an int array (-1 = unlabelled), or None if there are none."""
    if y is None:
        return None
    y = np.asarray(_as_numpy(y))
    if y.shape != (n_samples,):
        raise ValueError(f"y: must have shape ({n_samples},) like X's rows, got {y.shape}")
    if not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise ValueError(f"y: must hold integer labels (-1 for unlabelled), got dtype {y.dtype}")
    if np.issubdtype(y.dtype, np.floating) and not np.all(np.isfinite(y) & (y == np.round(y))):
        raise ValueError("y: must hold integer labels (-1 for unlabelled), got non-integer "
                         "values")
    y = y.astype(np.int64)
    if np.any((y < -1) | (y >= n_components)):
        raise ValueError(f"y: must hold -1 (unlabelled) or a class 0..{n_components - 1} "
                         f"(component k is class k), got values in [{y.min()}, {y.max()}]")
    return y if np.any(y >= 0) else None


# ----------------------------------------------------------------------------------------------
# The mixture
# ----------------------------------------------------------------------------------------------


def _log_vmf_densities(x: np.ndarray, means: np.ndarray, kappas: np.ndarray) -> np.ndarray:
    r"""(n, K) log densities
    :math:`\kappa_k(\langle\mu_k, x_i\rangle - 1) + (\kappa_k - L(\kappa_k)) - \log|S^{d-1}|`,
    with :math:`\kappa - L` from the Bessel kernel (never a difference of two
    numbers of size :math:`\kappa`)."""
    d = x.shape[1]
    terms = bessel_terms(0.5 * d - 1, torch.from_numpy(np.ascontiguousarray(kappas)))
    shift = terms.complement.numpy() - log_sphere_area(d)
    return kappas * (x @ means.T - 1) + shift


class VMFMixture(DensityMixin, BaseEstimator):
    r"""A mixture of K von Mises-Fisher distributions on :math:`S^{d-1}`, fitted by EM.

    A scikit-learn estimator (a density estimator, like ``GaussianMixture``): ``fit``,
    ``fit_predict``, ``predict``, ``predict_proba``, ``score_samples``, ``score``, ``bic``,
    ``aic``, ``sample``; ``get_params``/``set_params`` and :func:`sklearn.base.clone` work,
    the parameters are checked when ``fit`` runs (a ``ValueError`` naming the parameter), and it
    can follow ``sklearn.preprocessing.Normalizer()`` in a ``Pipeline``. The algorithm is the
    soft-assignment one (soft-moVMF) of Banerjee et al. (2005); see the module docstring for the
    E- and M-steps.

    The rows of X must be unit vectors (to 1e-6, or 100 ulps of a float input's dtype, if more;
    they are then renormalised exactly): anything else is a ``ValueError`` that says so. X may be
    a numpy array, an array-like or a torch tensor (any device); everything runs in float64.

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
        max_iter: maximum number of EM iterations per initialisation (>= 1).
        tol: convergence threshold on the change of the mean (per-sample) log-likelihood
            between two iterations, as in scikit-learn's ``GaussianMixture`` (finite, >= 0).
        random_state: seed for the initialisations and for :meth:`sample`: None, an int in
            [0, 2**32 - 1], a ``numpy.random.Generator`` or a ``numpy.random.RandomState``
            (passed to ``numpy.random.default_rng``; a generator's state advances).
        kappa_max: upper bound on the concentrations (finite, > 0). A component that collapses
            onto a few (or duplicated) points has :math:`\bar r_k \to 1` and its
            maximum-likelihood :math:`\kappa_k \to \infty`, with an unbounded likelihood; the
            M-step instead takes the best :math:`\kappa_k \le` ``kappa_max`` (the objective is
            concave in :math:`\kappa`, so EM still never decreases it). The default 1e6
            corresponds to an angular spread :math:`\sqrt{(d-1)/\kappa}` of 0.08 degrees at
            d = 3 and 5.7 degrees at d = 10^4.
        verbose: print one line per initialisation (a bool or an int >= 0).

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
    initialisation is run whatever ``n_init``. :meth:`predict` then returns classes. Without
    labels, ``y`` is ignored (``y=None``, or all -1).

    Fitted attributes: ``means_`` (K, d) unit vectors, ``concentrations_`` (K,), ``weights_``
    (K,) summing to 1, ``converged_``, ``n_iter_`` (EM iterations of the kept fit),
    ``lower_bound_`` (its final mean log-likelihood, or the semi-supervised objective above
    divided by n), ``log_likelihood_history_`` (that quantity after the initial M-step and after
    each iteration: ``n_iter_ + 1`` values), ``n_reseeds_`` and ``n_features_in_`` (d).

    It is not a ``ClusterMixin``: a scikit-learn estimator has one type, and this one is a
    density estimator, as ``GaussianMixture`` is; it has ``fit_predict`` all the same.
    """

    # checked by fit (through _fit_context) as scikit-learn's own estimators are checked: the
    # private names sklearn.utils._param_validation and sklearn.base._fit_context have no
    # public equivalent in scikit-learn 1.9.1, the version pyproject.toml pins
    _parameter_constraints: ClassVar[dict] = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, math.inf, closed="left")],
        "random_state": ["random_state", np.random.Generator],
        "kappa_max": [Interval(Real, 0, math.inf, closed="neither")],
        "verbose": ["verbose"],
    }

    def __init__(self, n_components: int = 1, *, n_init: int = 5, max_iter: int = 300,
                 tol: float = 1e-6, random_state=None, kappa_max: float = 1e6,
                 verbose: bool = False):
        # scikit-learn's contract: store the parameters as given; fit checks them
        self.n_components, self.kappa_max = n_components, kappa_max
        self.n_init, self.max_iter, self.tol = n_init, max_iter, tol
        self.random_state, self.verbose = random_state, verbose

    def __sklearn_is_fitted__(self) -> bool:
        # not "any attribute ending in _": a fit that fails after checking X leaves
        # n_features_in_ behind without a mixture
        return hasattr(self, "means_")

    # ------------------------------------------------------------------------------------------
    # validation
    # ------------------------------------------------------------------------------------------

    def _validated_x(self, X, *, reset: bool) -> np.ndarray:
        """X as a float64 (n, d) array of unit rows (renormalised exactly).

        ``reset``: at fit, record ``n_features_in_``; otherwise X must have that many columns.
        """
        tol = _unit_norm_tolerance(X)
        X = _as_numpy(X)
        if scipy.sparse.issparse(X):
            raise ValueError(f"X: must be a dense array (sparse input is not supported; "
                             f"X.toarray() is one), got {type(X).__name__}")
        if np.iscomplexobj(X):
            raise ValueError(f"X: must hold real numbers (complex data is not supported), got "
                             f"dtype {np.asarray(X).dtype}")
        try:
            x = np.array(X, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"X: must be a numeric array, got a {type(X).__name__} that numpy "
                             f"cannot turn into float64 ({err})") from err
        _check_points(x, None if reset else self.n_features_in_)
        # scikit-learn's bookkeeping (n_features_in_, and feature_names_in_ for a data frame)
        x = validate_data(self, X, reset=reset, dtype=np.float64)
        return _unit_rows(x, tol)

    def _r_cap(self, d: int) -> float:
        """The largest mean resultant length the M-step uses: kappa_max's A_d (< 1)."""
        kappa_max = torch.tensor(float(self.kappa_max), dtype=torch.float64)
        return min(float(iv_ratio(0.5 * d, kappa_max)), np.nextafter(1.0, 0.0))

    # ------------------------------------------------------------------------------------------
    # EM
    # ------------------------------------------------------------------------------------------

    def _seed(self, x: np.ndarray, y: np.ndarray | None, rng: np.random.Generator) -> _Seeds:
        """The starting centres: the labelled classes' mean directions are fixed, the other
        centres are drawn by k-means++ around them."""
        n, k_total = x.shape[0], self.n_components
        centres = np.zeros((k_total, x.shape[1]))
        drawn = np.ones(k_total, dtype=bool)
        if y is not None:
            for k in np.unique(y[y >= 0]):
                members = x[y == k]
                s = members.sum(0)
                norm = np.linalg.norm(s)
                # a symmetric set of labelled points has no mean direction: take one of them
                centres[k] = s / norm if norm > 1e-12 * len(members) else members[0]
                drawn[k] = False
        free = list(np.flatnonzero(drawn))
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
        return _Seeds(centres, drawn)

    def _m_step(self, x, resp, goodness, prev_means, r_cap, first=False) -> _MStep:
        """Weights, means and concentrations from responsibilities; re-seeds empty components at
        the points with the lowest ``goodness`` (the worst fitted).

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
            worst = np.argsort(goodness, kind="stable")[:n_empty]
            means[empty] = x[worst]
            mass[empty] = 1.0
        return _MStep(_Components(mass / mass.sum(), means, kappas), n_empty)

    def _kappa(self, r_bar, d: int, r_cap: float):
        """kappa_mle, and exactly kappa_max from r_bar >= A_d(kappa_max) on."""
        kappa = np.minimum(kappa_mle(np.minimum(r_bar, r_cap), d), self.kappa_max)
        return np.where(r_bar >= r_cap, float(self.kappa_max), kappa)

    @staticmethod
    def _e_step(x: np.ndarray, components: _Components, y: np.ndarray | None) -> _EStep:
        """Responsibilities, per-point log p(x) and per-point objective."""
        with np.errstate(divide="ignore"):
            log_p = np.log(components.weights) + _log_vmf_densities(x, components.means,
                                                                    components.kappas)
        log_lik = logsumexp(log_p, axis=1)
        resp = np.exp(log_p - log_lik[:, None])
        objective = log_lik
        if y is not None:
            labelled = np.flatnonzero(y >= 0)
            resp[labelled] = 0.0
            resp[labelled, y[labelled]] = 1.0
            objective = log_lik.copy()
            objective[labelled] = log_p[labelled, y[labelled]]
        return _EStep(resp, log_lik, objective)

    def _first_m_step(self, x, y, rng, r_cap) -> _MStep:
        """The M-step on the seeds' hard assignments that starts EM.

        Labelled points go with their classes; unlabelled points whose nearest centre is a
        k-means++ one with it (all of them when there are no labels); the other unlabelled
        points wait for the first E-step, so that a labelled class starts as its labelled
        points' vMF (Nigam et al., 2000), not as a Voronoi cell.
        """
        seeds = self._seed(x, y, rng)
        cos = x @ seeds.centres.T
        nearest = cos.argmax(1)
        drawn = seeds.drawn[nearest]
        rows = np.flatnonzero(drawn if y is None else drawn & (y < 0))
        resp = np.zeros_like(cos)
        resp[rows, nearest[rows]] = 1.0
        if y is not None:
            labelled = np.flatnonzero(y >= 0)
            resp[labelled, y[labelled]] = 1.0
        return self._m_step(x, resp, cos.max(1), seeds.centres, r_cap, first=True)

    def _fit_once(self, x, y, rng, r_cap) -> _EMRun:
        """One initialisation: seeds, then EM until convergence or ``max_iter`` iterations."""
        step = self._first_m_step(x, y, rng, r_cap)
        n_reseeds = step.n_reseeded
        e = self._e_step(x, step.components, y)
        history = [e.objective.mean()]
        converged, n_iter = False, 0
        while n_iter < self.max_iter:
            n_iter += 1
            step = self._m_step(x, e.resp, e.log_lik, step.components.means, r_cap)
            n_reseeds += step.n_reseeded
            e = self._e_step(x, step.components, y)
            history.append(e.objective.mean())
            if step.n_reseeded == 0 and abs(history[-1] - history[-2]) <= self.tol:
                converged = True
                break
        return _EMRun(step.components, np.array(history), converged, n_iter, n_reseeds)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None) -> VMFMixture:
        """Fit the mixture to X (n, d), unit rows; ``y`` optional labels (-1 = unlabelled).

        Keeps, of ``n_init`` initialisations, the run with the highest final objective; warns
        (``sklearn.exceptions.ConvergenceWarning``) if that run did not converge.
        """
        x = self._validated_x(X, reset=True)
        n_samples, d = x.shape
        if self.n_components > n_samples:
            raise fail("n_components", f"<= the number of samples ({n_samples})",
                       self.n_components)
        labels = _check_labels(y, n_samples, self.n_components)
        r_cap = self._r_cap(d)
        rng = np.random.default_rng(self.random_state)
        n_init = self.n_init
        if labels is not None and np.unique(labels[labels >= 0]).size == self.n_components:
            n_init = 1  # the start is the labelled classes' fit: every init would be the same
        best = None
        for i in range(n_init):
            run = self._fit_once(x, labels, rng, r_cap)
            if self.verbose:
                print(f"VMFMixture init {i + 1}/{n_init}: log-likelihood {run.final:.8g} "
                      f"after {run.n_iter} iterations (converged: {run.converged})")
            if best is None or run.final > best.final:
                best = run
        self.weights_, self.means_, self.concentrations_ = best.components
        self.log_likelihood_history_ = best.history
        self.lower_bound_ = float(best.final)
        self.converged_ = best.converged
        self.n_iter_ = best.n_iter
        self.n_reseeds_ = best.n_reseeds
        if not best.converged:
            # stacklevel 3: the caller of fit, past _fit_context's wrapper
            warnings.warn(f"VMFMixture did not converge in max_iter={self.max_iter} iterations "
                          f"(tol={self.tol}); raise max_iter or tol", ConvergenceWarning,
                          stacklevel=3)
        return self

    def fit_predict(self, X, y=None) -> np.ndarray:
        """``fit(X, y)``, then the components (classes) of X."""
        return self.fit(X, y).predict(X)

    # ------------------------------------------------------------------------------------------
    # inference
    # ------------------------------------------------------------------------------------------

    def _log_joint(self, X) -> np.ndarray:
        """(n, K) log pi_k + log f_k(x_i)."""
        check_is_fitted(self)
        x = self._validated_x(X, reset=False)
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
        check_is_fitted(self)
        k, d = self.n_components, self.n_features_in_
        return k * (d - 1) + k + (k - 1)

    def bic(self, X) -> float:
        r"""Bayesian information criterion :math:`-2\sum_i\log p(x_i) + p\log n`, p from
        :meth:`n_parameters`; lower is better."""
        log_p = self.score_samples(X)
        return float(-2 * log_p.sum() + self.n_parameters() * math.log(len(log_p)))

    def aic(self, X) -> float:
        r"""Akaike information criterion :math:`-2\sum_i\log p(x_i) + 2p`, p from
        :meth:`n_parameters`; lower is better."""
        log_p = self.score_samples(X)
        return float(-2 * log_p.sum() + 2 * self.n_parameters())

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n_samples`` points from the fitted mixture (:func:`hvae.sampling.sample_vmf`).

        Returns ``(X, labels)``: float64 (n_samples, d) points grouped by component, as
        scikit-learn's ``GaussianMixture.sample``, and their components. Seeded by
        ``random_state``.
        """
        check_is_fitted(self)
        n_samples = check_int(n_samples, "n_samples", minimum=1)
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
