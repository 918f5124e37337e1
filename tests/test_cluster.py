"""Tests for hvae.cluster: kappa_mle and the EM-fitted VMFMixture.

kappa_mle is compared with the mpmath root of A_d(kappa) = r (``tests/reference.py``). The
mixture is checked on samples from known mixtures (hvae's sampler, fixed seeds): recovery within
thresholds derived from the estimators' standard errors, monotone EM histories, the closed form
for one component, densities against scipy's Bessel functions, a case that needs labels, model
selection by BIC, degenerate data, argument validation, and the scikit-learn estimator
contract (clone, get/set_params, Pipeline after Normalizer, aic/bic, parameter checks at
fit, scikit-learn's own estimator checks).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import reference as ref
import scipy.sparse
import scipy.special
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted

from hvae.cluster import VMFMixture, kappa_mle
from hvae.sampling import sample_vmf

F64 = torch.float64

# ----------------------------------------------------------------------------------------------
# Helpers (numpy / scipy only)
# ----------------------------------------------------------------------------------------------


def orthonormal_directions(d: int, k: int, seed: int) -> np.ndarray:
    """k orthonormal unit vectors of R^d (rows), from the QR decomposition of a Gaussian."""
    g = np.random.default_rng(seed).standard_normal((d, k))
    q, _ = np.linalg.qr(g)
    return q.T.copy()


def draw_mixture(means, kappas, weights, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n draws of a vMF mixture with hvae's sampler: (points, component of each point)."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.multinomial(torch.as_tensor(weights, dtype=F64), n, replacement=True,
                               generator=gen).numpy()
    x = np.empty((n, len(means[0])))
    for k, (mu, kappa) in enumerate(zip(means, kappas, strict=True)):
        rows = np.flatnonzero(labels == k)
        x[rows] = sample_vmf(torch.as_tensor(mu, dtype=F64), torch.tensor(float(kappa), dtype=F64),
                             (len(rows),), generator=gen).numpy()
    return x, labels


def scipy_mean_resultant_length(d: int, kappa: float) -> float:
    """A_d(kappa) = I_{d/2}(kappa) / I_{d/2-1}(kappa) from scipy's exponentially scaled ive."""
    return float(scipy.special.ive(d / 2, kappa) / scipy.special.ive(d / 2 - 1, kappa))


def scipy_log_vmf(x: np.ndarray, mu: np.ndarray, kappa: float) -> np.ndarray:
    """log of C_d(kappa) exp(kappa <mu, x>), C_d = kappa^(d/2-1) / ((2 pi)^(d/2) I_{d/2-1}),
    with log I_v(kappa) = log ive(v, kappa) + kappa."""
    d = x.shape[1]
    log_iv = math.log(scipy.special.ive(d / 2 - 1, kappa)) + kappa
    log_c = (d / 2 - 1) * math.log(kappa) - (d / 2) * math.log(2 * math.pi) - log_iv
    return log_c + kappa * (x @ mu)


def accuracy_up_to_relabelling(pred: np.ndarray, truth: np.ndarray) -> float:
    """Best accuracy over one-to-one matchings of predicted components to classes (Hungarian)."""
    k = max(pred.max(), truth.max()) + 1
    counts = np.zeros((k, k))
    np.add.at(counts, (pred, truth), 1)
    rows, cols = linear_sum_assignment(-counts)
    return counts[rows, cols].sum() / len(pred)


def four_corners(n_per: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Four tight vMF blobs (kappa = 200, d = 3) at tangent coordinates (+-0.6, +-0.5) rad from
    the north pole; class = sign of the second coordinate (top pair vs bottom pair)."""
    def tangent(u, v):  # exponential map at the north pole
        r = math.hypot(u, v)
        return [math.sin(r) * u / r, math.sin(r) * v / r, math.cos(r)]

    corners = [tangent(su * 0.6, sv * 0.5) for su in (-1, 1) for sv in (-1, 1)]
    x, blob = draw_mixture(corners, [200.0] * 4, [0.25] * 4, 4 * n_per, seed)
    classes = np.array([0, 1, 0, 1])[blob]
    return x, classes


# ----------------------------------------------------------------------------------------------
# kappa_mle
# ----------------------------------------------------------------------------------------------

R_GRID = (1e-6, 1e-3, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 0.999, 1 - 1e-4, 1 - 1e-6, 1 - 1e-8)


@pytest.mark.parametrize("d", [2, 3, 10, 100, 1000, 10000])
def test_kappa_mle_matches_mpmath_root(d: int) -> None:
    """Relative error <= 1e-8 against the 40-digit mpmath root of A_d(kappa) = r, over r from
    1e-6 (kappa ~ d r) to 1 - 1e-8 (kappa ~ (d-1) / (2 (1 - r)), up to 5e11); the array call
    and scalar calls agree exactly."""
    got = kappa_mle(np.array(R_GRID), d)
    errors = [float(abs(g - ref.kappa_root(d, r)) / ref.kappa_root(d, r))
              for g, r in zip(got, R_GRID, strict=True)]
    assert max(errors) <= 1e-8, dict(zip(R_GRID, errors, strict=True))
    assert [kappa_mle(r, d) for r in R_GRID] == got.tolist()


@pytest.mark.parametrize(("d", "kappa"), [(3, 50.0), (1000, 1e3), (1000, 1e5), (10000, 1e3)])
def test_reference_gap_routes_agree(d: int, kappa: float) -> None:
    """The reference's quadrature for 1 - A_d (its fallback where mpmath.besseli gives up, d =
    10^4 and kappa ~ 1e4..1e5) agrees with the besseli ratio where both work, to 1e-20."""
    _, gap = ref.mean_resultant_length_and_gap(d, kappa)
    assert abs(ref.gap_by_integral(d, kappa) - gap) <= 1e-20 * gap


def test_kappa_mle_limits_and_shapes() -> None:
    """0 -> 0; tiny r -> d r (A_d(k) = k/d + O(k^3)); finite and increasing over an extreme grid
    from 5e-324 to the float just below 1, where kappa -> (d-1) / (2 (1 - r)); scalars give
    floats, arrays keep their shape; newton_steps=0 is Banerjee et al.'s closed form."""
    assert kappa_mle(0.0, 3) == 0.0
    assert isinstance(kappa_mle(0.5, 3), float)
    assert kappa_mle(np.zeros((2, 3)), 5).shape == (2, 3)
    assert kappa_mle(torch.tensor([0.0, 0.5], dtype=F64), 3).shape == (2,)
    for d in (2, 3, 50, 10000):
        assert kappa_mle(1e-9, d) == pytest.approx(d * 1e-9, rel=1e-12)
        r = np.unique(np.concatenate([[5e-324, 1e-300, 1e-20], np.linspace(0, 1, 401)[1:-1],
                                      1 - np.logspace(-3, -16, 40), [np.nextafter(1.0, 0.0)]]))
        k = kappa_mle(r, d)
        assert np.all(np.isfinite(k)) and np.all(k > 0) and np.all(np.diff(k) >= 0)
        q = 1 - r[-1]
        assert k[-1] == pytest.approx((d - 1) / (2 * q), rel=1e-3)
        assert kappa_mle(0.7, d, newton_steps=0) == pytest.approx(0.7 * (d - 0.49) / 0.51,
                                                                   rel=1e-14)


@pytest.mark.parametrize(("r", "d", "kwargs", "match"), [
    (1.0, 3, {}, r"\[0, 1\)"),
    (1.5, 3, {}, r"\[0, 1\)"),
    (-0.1, 3, {}, r"\[0, 1\)"),
    ([0.2, 1.0], 3, {}, r"\[0, 1\)"),
    (float("nan"), 3, {}, "finite"),
    (float("inf"), 3, {}, "finite"),
    (0.5, 1, {}, "integer >= 2"),
    (0.5, 2.5, {}, "integer >= 2"),
    (0.5, True, {}, "integer >= 2"),
    (0.5, 3, {"newton_steps": -1}, "newton_steps"),
])
def test_kappa_mle_rejects_bad_input(r, d, kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        kappa_mle(r, d, **kwargs)


# ----------------------------------------------------------------------------------------------
# EM on known mixtures
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("d", [3, 10, 50])
def test_em_recovers_a_known_mixture(d: int) -> None:
    """K = 3, weights (0.5, 0.3, 0.2), orthonormal mean directions, kappa = (d-1)(6, 9, 12)
    (typical angle to the mean ~ sqrt((d-1)/kappa): 24, 19 and 17 degrees), n = 6000.

    Thresholds after Hungarian matching: the angle between a fitted and a true mean direction
    has rms sqrt((d-1) / (n_k kappa A_d(kappa))) radians (tangential spread A/kappa per
    coordinate, d-1 coordinates, divided by A^2 n_k), at most 0.5 degrees here (asserted), so
    <= 2 degrees is >= 4 standard errors; kappa has relative standard error ~ sqrt(2 / (n_k
    (d-1))) (<= 3% at d = 3), threshold 10%; weights have standard error sqrt(w(1-w)/n) <=
    0.0065, threshold 0.03."""
    weights = np.array([0.5, 0.3, 0.2])
    kappas = (d - 1) * np.array([6.0, 9.0, 12.0])
    means = orthonormal_directions(d, 3, seed=d)
    x, labels = draw_mixture(means, kappas, weights, 6000, seed=100 + d)
    n_k = np.bincount(labels, minlength=3)
    a = np.array([scipy_mean_resultant_length(d, k) for k in kappas])
    rms_angle = np.degrees(np.sqrt((d - 1) / (n_k * kappas * a)))
    assert np.all(4 * rms_angle <= 2.0), rms_angle

    fit = VMFMixture(3, n_init=3, random_state=0).fit(x)
    assert fit.converged_
    fitted, true = linear_sum_assignment(-(fit.means_ @ means.T))
    angles = np.degrees(np.arccos(np.clip((fit.means_[fitted] * means[true]).sum(1), -1, 1)))
    kappa_err = np.abs(fit.concentrations_[fitted] / kappas[true] - 1)
    weight_err = np.abs(fit.weights_[fitted] - weights[true])
    assert np.all(angles <= 2.0), angles
    assert np.all(kappa_err <= 0.10), kappa_err
    assert np.all(weight_err <= 0.03), weight_err
    assert np.allclose(np.linalg.norm(fit.means_, axis=1), 1, atol=1e-12)
    assert fit.weights_.sum() == pytest.approx(1, abs=1e-12)


def overlapping_data(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """d = 5, three components 60-70 degrees apart with kappa 6, 10 and 15: they overlap, so EM
    needs many iterations."""
    rng = np.random.default_rng(seed)
    base = orthonormal_directions(5, 3, seed)
    means = base + 0.6 * rng.standard_normal(base.shape) / math.sqrt(5)
    means = 0.6 * means + 0.4 * means.mean(0)
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    return draw_mixture(means, [6.0, 10.0, 15.0], [0.4, 0.35, 0.25], 1500, seed)


def test_log_likelihood_never_decreases() -> None:
    """EM's mean log-likelihood (and the semi-supervised objective, 20% labels) is
    non-decreasing from iteration to iteration, up to 1e-10 relative rounding, on overlapping
    clusters where EM runs for at least 10 iterations."""
    x, labels = overlapping_data()
    y = np.where(np.random.default_rng(0).random(len(labels)) < 0.2, labels, -1)
    for fit in (VMFMixture(3, n_init=2, tol=1e-10, max_iter=1000, random_state=1).fit(x),
                VMFMixture(3, tol=1e-10, max_iter=1000, random_state=1).fit(x, y)):
        history = fit.log_likelihood_history_
        assert fit.converged_ and fit.n_iter_ >= 10 and len(history) == fit.n_iter_ + 1
        assert np.all(np.diff(history) >= -1e-10 * np.abs(history[1:])), np.diff(history).min()
        assert fit.lower_bound_ == history[-1]
        assert fit.n_reseeds_ == 0


def test_single_component_is_the_closed_form() -> None:
    """K = 1: the mean direction is the normalised resultant and kappa the root of A_d(kappa) =
    |mean of x| (mpmath, relative 1e-8; kappa_mle, relative 1e-10)."""
    d = 7
    x, _ = draw_mixture([orthonormal_directions(d, 1, 3)[0]], [30.0], [1.0], 500, seed=3)
    fit = VMFMixture(1, random_state=0).fit(x)
    resultant = x.sum(0)
    r_bar = np.linalg.norm(resultant) / len(x)
    np.testing.assert_allclose(fit.means_[0], resultant / np.linalg.norm(resultant), atol=1e-12)
    assert fit.concentrations_[0] == pytest.approx(float(ref.kappa_root(d, r_bar)), rel=1e-8)
    assert fit.concentrations_[0] == pytest.approx(kappa_mle(r_bar, d), rel=1e-10)
    assert fit.weights_.tolist() == [1.0]


def test_score_samples_matches_scipy_density() -> None:
    """score_samples = log of the vMF density written with scipy's ive (K = 1), and the
    log-sum-exp of the weighted component densities (K = 3); score = their mean;
    predict_proba = the normalised weighted densities, predict its argmax."""
    x, _ = overlapping_data()
    one = VMFMixture(1, random_state=0).fit(x)
    expected = scipy_log_vmf(x, one.means_[0], float(one.concentrations_[0]))
    np.testing.assert_allclose(one.score_samples(x), expected, rtol=1e-10)

    three = VMFMixture(3, n_init=2, random_state=0).fit(x)
    log_joint = np.stack([math.log(w) + scipy_log_vmf(x, mu, float(k)) for w, mu, k in
                          zip(three.weights_, three.means_, three.concentrations_, strict=True)],
                         axis=1)
    expected = scipy.special.logsumexp(log_joint, axis=1)
    np.testing.assert_allclose(three.score_samples(x), expected, rtol=1e-10)
    assert three.score(x) == pytest.approx(expected.mean(), rel=1e-10)
    proba = three.predict_proba(x)
    np.testing.assert_allclose(proba, np.exp(log_joint - expected[:, None]), atol=1e-12)
    np.testing.assert_array_equal(three.predict(x), proba.argmax(1))


def test_semi_supervised_beats_unsupervised() -> None:
    """Four tight blobs at the corners of a 1.2 x 1.0 rad rectangle; the classes are the top and
    bottom pairs. One vMF per class fits worse than one per left/right pair (spread ~0.6 rad
    against ~0.5 rad), so the unsupervised maximum-likelihood split is left/right: accuracy
    (best relabelling) ~0.5, asserted <= 0.7. With 10% of the labels, components start as the
    labelled classes and the top/bottom split is a stable EM fixed point: accuracy on the
    unlabelled points >= 0.95."""
    x, classes = four_corners(400, seed=11)
    unsupervised = VMFMixture(2, n_init=5, random_state=0).fit(x)
    acc_unsupervised = accuracy_up_to_relabelling(unsupervised.predict(x), classes)

    labelled = np.random.default_rng(5).random(len(x)) < 0.1
    y = np.where(labelled, classes, -1)
    semi = VMFMixture(2, random_state=0).fit(x, y)
    acc_semi = np.mean(semi.predict(x)[~labelled] == classes[~labelled])
    assert acc_unsupervised <= 0.7, acc_unsupervised
    assert acc_semi >= 0.95, acc_semi
    # the unsupervised fit has the higher likelihood: the labels, not the model, fix the split
    assert unsupervised.score(x) > semi.score(x)


def test_semi_supervised_with_an_unlabelled_class() -> None:
    """Labels for classes 0 and 1 only (K = 3): the third component is seeded by k-means++ and
    the labelled classes keep their ids (>= 0.95 of their unlabelled points)."""
    d = 4
    means = orthonormal_directions(d, 3, seed=2)
    x, labels = draw_mixture(means, [40.0, 40.0, 40.0], [1 / 3] * 3, 900, seed=2)
    rng = np.random.default_rng(2)
    y = np.where((labels < 2) & (rng.random(len(x)) < 0.1), labels, -1)
    fit = VMFMixture(3, n_init=2, random_state=0).fit(x, y)
    pred = fit.predict(x)
    for k in (0, 1):
        rows = (labels == k) & (y < 0)
        assert np.mean(pred[rows] == k) >= 0.95
    assert np.mean(pred[labels == 2] == 2) >= 0.95


def test_semi_supervised_single_label(capsys) -> None:
    """Class 0 has one label, class 1 twenty. A concentration from one point would be kappa_max:
    class 0 would stay pinned to its labelled point while class 1 (kappa ~30) took all the
    other points (accuracy ~0.5). It starts at a typical value instead, and the classes are
    recovered (>= 0.95 of the points; clusters 90 degrees apart, kappa 30). verbose prints one
    line for the single (deterministic) initialisation."""
    means = orthonormal_directions(3, 2, seed=8)
    x, labels = draw_mixture(means, [30.0, 30.0], [0.5, 0.5], 400, seed=8)
    y = np.full(len(x), -1)
    y[np.flatnonzero(labels == 0)[0]] = 0
    y[np.flatnonzero(labels == 1)[:20]] = 1
    fit = VMFMixture(2, n_init=4, random_state=0, verbose=True).fit(x, y)
    assert np.mean(fit.predict(x) == labels) >= 0.95
    assert np.all(fit.concentrations_ < 100)
    assert capsys.readouterr().out.count("VMFMixture init 1/1") == 1


def test_bic_picks_the_true_number_of_components() -> None:
    """Three well-separated clusters (d = 5, kappa = 50, orthonormal means, n = 900): BIC over
    K = 1..5 is smallest at K = 3; n_parameters = K(d-1) + K + (K-1) = 17 for K = 3."""
    d = 5
    x, _ = draw_mixture(orthonormal_directions(d, 3, seed=4), [50.0] * 3, [0.4, 0.35, 0.25],
                        900, seed=4)
    # tol 1e-4 per sample: 0.1 in the total log-likelihood, against BIC gaps of tens
    fits = {k: VMFMixture(k, n_init=2, tol=1e-4, random_state=0).fit(x) for k in range(1, 6)}
    bics = {k: m.bic(x) for k, m in fits.items()}
    assert min(bics, key=bics.get) == 3, bics
    assert fits[3].n_parameters() == 17
    assert fits[3].bic(x) == pytest.approx(-2 * fits[3].score_samples(x).sum()
                                           + 17 * math.log(900), rel=1e-12)


# ----------------------------------------------------------------------------------------------
# Degenerate data
# ----------------------------------------------------------------------------------------------


def assert_sane(fit: VMFMixture, x: np.ndarray) -> None:
    """No NaN anywhere, unit means, weights summing to 1, kappas in [0, kappa_max]."""
    for a in (fit.means_, fit.concentrations_, fit.weights_, fit.log_likelihood_history_,
              fit.score_samples(x), fit.predict_proba(x)):
        assert np.all(np.isfinite(a))
    np.testing.assert_allclose(np.linalg.norm(fit.means_, axis=1), 1, atol=1e-12)
    assert fit.weights_.sum() == pytest.approx(1, abs=1e-12) and np.all(fit.weights_ > 0)
    assert np.all((fit.concentrations_ >= 0) & (fit.concentrations_ <= fit.kappa_max))


def test_duplicated_points_and_empty_components() -> None:
    """Three distinct points, 40 copies each, K = 5: k-means++ must repeat centres, whose
    Voronoi cells are empty; they are re-seeded (n_reseeds_ > 0), components on a point sit
    at kappa_max, and nothing is NaN."""
    points = orthonormal_directions(4, 3, seed=9)
    x = np.repeat(points, 40, axis=0)
    fit = VMFMixture(5, n_init=2, random_state=0).fit(x)
    assert_sane(fit, x)
    assert fit.n_reseeds_ > 0
    assert np.max(fit.concentrations_) == fit.kappa_max


def test_more_components_than_clusters() -> None:
    """K = 6 on two well-separated clusters (orthogonal means, kappa 30 and 60, d = 4): a sane
    fit whose extra components split the clusters rather than straddle them (each component's
    points >= 95% from one cluster)."""
    x, labels = draw_mixture(orthonormal_directions(4, 2, seed=1), [30.0, 60.0], [0.5, 0.5],
                             400, seed=1)
    fit = VMFMixture(6, n_init=2, random_state=0).fit(x)
    assert_sane(fit, x)
    pred = fit.predict(x)
    for k in np.unique(pred):
        assert np.bincount(labels[pred == k], minlength=2).max() >= 0.95 * np.sum(pred == k)


@pytest.mark.parametrize("kappa_max", [1e3, 1e6])
def test_identical_points_cap_kappa(kappa_max: float) -> None:
    """All points equal: r_bar = 1 (or 1 + eps by rounding), kappa is capped at kappa_max."""
    x = np.tile(orthonormal_directions(3, 1, seed=0), (50, 1))
    fit = VMFMixture(1, kappa_max=kappa_max).fit(x)
    assert_sane(fit, x)
    assert fit.concentrations_[0] == kappa_max


def test_inputs_torch_float32_and_sample() -> None:
    """A float32 torch tensor (unit rows to float32 precision) is accepted; sample() draws from
    the fitted mixture: unit rows, components in proportion to the weights (within 5 standard
    errors), reproducible with random_state."""
    x, _ = draw_mixture(orthonormal_directions(3, 2, seed=6), [20.0, 20.0], [0.7, 0.3], 600,
                        seed=6)
    fit = VMFMixture(2, random_state=0).fit(torch.from_numpy(x).float())
    assert_sane(fit, x)
    draws, comp = fit.sample(4000)
    assert draws.shape == (4000, 3) and comp.shape == (4000,)
    np.testing.assert_allclose(np.linalg.norm(draws, axis=1), 1, atol=1e-12)
    freq = np.bincount(comp, minlength=2) / 4000
    assert np.all(np.abs(freq - fit.weights_) <= 5 * np.sqrt(fit.weights_ * (1 - fit.weights_)
                                                             / 4000))
    np.testing.assert_array_equal(fit.sample(10)[0], fit.sample(10)[0])


# ----------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------

_X = orthonormal_directions(3, 3, seed=0)
_X10 = np.tile(_X, (4, 1))


@pytest.mark.parametrize(("x", "y", "k", "match"), [
    (_X[0], None, 1, "2-D"),
    (_X[None], None, 1, "2-D"),
    (np.ones((5, 1)), None, 1, "d >= 2"),
    (np.where(np.eye(3) > 0, np.nan, 0.0), None, 1, "NaN or infinite"),
    (np.where(np.eye(3) > 0, np.inf, 0.0), None, 1, "NaN or infinite"),
    (2 * _X, None, 1, "unit vectors.*normalise"),
    (_X * (1 + 1e-4), None, 1, "unit vectors"),
    (_X, None, 0, "n_components"),
    (_X, None, 4, r"n_components: must be <= the number of samples \(3\)"),
    (_X10, np.zeros(11, dtype=int), 2, "shape"),
    (_X10, np.full(12, 2), 2, r"-1 \(unlabelled\) or a class 0..1"),
    (_X10, np.full(12, -2), 2, r"-1 \(unlabelled\) or a class 0..1"),
    (_X10, np.full(12, 0.5), 2, "integer labels"),
])
def test_fit_rejects_bad_input(x, y, k, match) -> None:
    with pytest.raises(ValueError, match=match):
        VMFMixture(k).fit(x, y)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"n_init": 0}, "n_init"), ({"max_iter": 0}, "max_iter"), ({"tol": -1.0}, "tol"),
    ({"kappa_max": 0.0}, "kappa_max"), ({"kappa_max": math.inf}, "kappa_max"),
])
def test_fit_rejects_bad_parameters(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        VMFMixture(1, **kwargs).fit(_X10)


def test_unfitted_and_wrong_dimension() -> None:
    model = VMFMixture(2)
    for method in (model.predict, model.predict_proba, model.score_samples, model.score,
                   model.bic):
        with pytest.raises(NotFittedError, match="not fitted"):
            method(_X)
    model.fit(_X10)
    with pytest.raises(ValueError, match="fitted with d = 3"):
        model.predict(orthonormal_directions(4, 2, seed=0))
    assert np.all(model.predict(_X10) >= 0) and model.predict(_X10).shape == (12,)


# ----------------------------------------------------------------------------------------------
# The scikit-learn estimator contract
# ----------------------------------------------------------------------------------------------

PARAMS = {"n_components": 3, "n_init": 2, "max_iter": 50, "tol": 1e-5, "random_state": 4,
          "kappa_max": 1e4, "verbose": False}
FITTED = ("weights_", "means_", "concentrations_", "log_likelihood_history_")


def assert_same_fit(a: VMFMixture, b: VMFMixture) -> None:
    for name in FITTED:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert (a.n_iter_, a.converged_, a.lower_bound_) == (b.n_iter_, b.converged_, b.lower_bound_)


def test_get_params_set_params_and_clone() -> None:
    """get_params returns the constructor's arguments, set_params changes them and returns the
    estimator, clone copies the parameters and nothing fitted; a clone of a fitted mixture fits
    to the same numbers (the seed is a parameter); the repr lists the non-default parameters."""
    model = VMFMixture(**PARAMS)
    assert model.get_params() == PARAMS
    copy = clone(model)
    assert copy is not model and copy.get_params() == PARAMS
    assert model.set_params(n_components=2, tol=1e-3) is model
    assert model.get_params() == {**PARAMS, "n_components": 2, "tol": 1e-3}
    assert copy.get_params() == PARAMS
    x, _ = overlapping_data()
    fitted = copy.fit(x)
    again = clone(fitted)
    with pytest.raises(NotFittedError):
        check_is_fitted(again)
    assert_same_fit(again.fit(x), fitted)
    assert repr(VMFMixture(3, random_state=0)) == "VMFMixture(n_components=3, random_state=0)"


def test_random_state_int_generator_and_random_state_instance() -> None:
    """A seed and numpy.random.default_rng(seed) give the same fit (both start the same stream);
    a RandomState is accepted as well."""
    x, _ = overlapping_data()
    by_seed = VMFMixture(3, n_init=2, random_state=5).fit(x)
    assert_same_fit(VMFMixture(3, n_init=2, random_state=np.random.default_rng(5)).fit(x),
                    by_seed)
    assert_sane(VMFMixture(3, n_init=2, random_state=np.random.RandomState(5)).fit(x), x)


def test_pipeline_after_normalizer() -> None:
    """Rows scaled off the sphere are rejected by the mixture alone and accepted after
    Normalizer() in a Pipeline, which then fits, predicts and scores as the mixture does on the
    unit rows (up to the rounding of the normalisation), with or without partial labels (the
    pipeline passes y to the mixture); the pipeline's parameters reach the mixture's."""
    x, labels = overlapping_data()
    raw = x * np.random.default_rng(3).uniform(0.5, 20.0, size=(len(x), 1))
    with pytest.raises(ValueError, match="X: must have unit vectors as rows.*Normalizer"):
        VMFMixture(3).fit(raw)
    y = np.where(np.random.default_rng(0).random(len(labels)) < 0.2, labels, -1)
    for partial in (None, y):
        pipe = make_pipeline(Normalizer(), VMFMixture(3, n_init=2, random_state=0))
        pipe.fit(raw, partial)
        alone = VMFMixture(3, n_init=2, random_state=0).fit(x, partial)
        mixture = pipe[-1]
        assert mixture.n_iter_ == alone.n_iter_
        np.testing.assert_allclose(mixture.means_, alone.means_, atol=1e-9)
        np.testing.assert_allclose(mixture.concentrations_, alone.concentrations_, rtol=1e-9)
        np.testing.assert_allclose(mixture.weights_, alone.weights_, atol=1e-12)
        np.testing.assert_array_equal(pipe.predict(raw), alone.predict(x))
        np.testing.assert_allclose(pipe.predict_proba(raw), alone.predict_proba(x), atol=1e-9)
        np.testing.assert_allclose(pipe.score_samples(raw), alone.score_samples(x), rtol=1e-9)
        assert pipe.score(raw) == pytest.approx(alone.score(x), rel=1e-9)
    np.testing.assert_array_equal(pipe.fit_predict(raw, y), pipe.predict(raw))
    assert pipe.get_params()["vmfmixture__n_components"] == 3
    pipe.set_params(vmfmixture__n_components=2)
    assert clone(pipe)[-1].n_components == 2


def test_convergence_warning_points_at_the_caller() -> None:
    """Too few iterations: a ConvergenceWarning, attributed to the line that called fit (not
    to scikit-learn's wrapper around fit), and converged_ is False."""
    x, _ = overlapping_data()
    with pytest.warns(ConvergenceWarning, match="did not converge in max_iter=2") as caught:
        fit = VMFMixture(3, max_iter=2, random_state=0).fit(x)
    assert not fit.converged_ and fit.n_iter_ == 2
    assert caught[0].filename == __file__


def test_aic_and_bic_closed_forms() -> None:
    """bic = -2 log L + p log n and aic = -2 log L + 2 p, log L the total log-likelihood of the
    data scored and p = K(d-1) + K + (K-1) (17 for K = 3, d = 5), n the number of points
    scored (1500, then 700)."""
    x, _ = overlapping_data()
    fit = VMFMixture(3, n_init=2, random_state=0).fit(x)
    assert fit.n_parameters() == 17
    for data in (x, x[:700]):
        log_l = fit.score_samples(data).sum()
        n = len(data)
        assert fit.aic(data) == pytest.approx(-2 * log_l + 2 * 17, rel=1e-12)
        assert fit.bic(data) == pytest.approx(-2 * log_l + 17 * math.log(n), rel=1e-12)
        assert fit.aic(data) == pytest.approx(-2 * n * fit.score(data) + 34, rel=1e-12)
        assert fit.bic(data) - fit.aic(data) == pytest.approx(17 * (math.log(n) - 2), rel=1e-9)


@pytest.mark.parametrize(("name", "value"), [
    ("n_components", 0), ("n_components", 2.0), ("n_components", "3"),
    ("n_init", 0), ("n_init", 1.5), ("max_iter", 0), ("max_iter", None),
    ("tol", -1e-3), ("tol", math.nan), ("tol", math.inf), ("tol", "small"),
    ("kappa_max", 0.0), ("kappa_max", -5.0), ("kappa_max", math.inf), ("kappa_max", math.nan),
    ("random_state", -1), ("random_state", 2.5), ("random_state", "seed"),
    ("verbose", -1), ("verbose", "yes"),
])
def test_invalid_parameters_rejected_at_fit(name, value) -> None:
    """The constructor and set_params store any value; fit rejects an invalid one with a
    ValueError (scikit-learn's InvalidParameterError) that names the parameter."""
    model = VMFMixture(**{"n_components": 1, name: value})
    assert model.get_params()[name] is value
    match = f"The '{name}' parameter of VMFMixture must be"
    with pytest.raises(ValueError, match=match):
        model.fit(_X10)
    with pytest.raises(ValueError, match=match):
        VMFMixture(1).set_params(**{name: value}).fit(_X10)
    with pytest.raises(NotFittedError):
        check_is_fitted(model)


def test_not_fitted_before_fit_and_after_a_failed_fit() -> None:
    """Every method that needs a fit raises NotFittedError before it; so does a mixture whose fit
    failed after checking X (it has n_features_in_ but no components). sample's argument is
    checked in the one message format."""
    model = VMFMixture(2)
    for call in (lambda: model.aic(_X), model.n_parameters, model.sample,
                 lambda: check_is_fitted(model)):
        with pytest.raises(NotFittedError, match="not fitted"):
            call()
    failed = VMFMixture(4)
    with pytest.raises(ValueError, match="n_components: must be <="):
        failed.fit(_X)
    assert failed.n_features_in_ == 3
    with pytest.raises(NotFittedError):
        failed.predict(_X)
    with pytest.raises(ValueError, match="n_samples: must be an integer >= 1, got 0"):
        VMFMixture(2, random_state=0).fit(_X10).sample(0)


@pytest.mark.parametrize(("x", "match"), [
    (_X[0], "X: must be a 2-D array"),
    (np.ones((5, 1)), "X: must have d >= 2 columns"),
    (np.where(np.eye(3) > 0, np.nan, 0.0), "X: must be finite"),
    (2 * _X, "X: must have unit vectors as rows"),
    (_X.astype(complex), "X: must hold real numbers"),
    (scipy.sparse.csr_matrix(_X), "X: must be a dense array.*sparse"),
    (np.array([[{"a": 1}, 0.0]], dtype=object), "X: must be a numeric array"),
    (np.empty((0, 3)), "X: must have at least one sample"),
])
def test_bad_x_messages_name_x(x, match) -> None:
    """Input errors come in the one format "X: must ..., got ..."."""
    with pytest.raises(ValueError, match=match):
        VMFMixture(1).fit(x)


def _to_sphere(X):
    """Rows of a real 2-D array scaled to unit norm (zero rows become e_1); anything else, which
    the checks pass to see it rejected, unchanged."""
    if np.iscomplexobj(X):
        return X
    try:
        x = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        return X
    if x.ndim != 2 or x.shape[1] == 0:
        return X
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):  # NaN rows stay NaN, for the checks that pass them
        return np.where(norms == 0, np.eye(1, x.shape[1]), x / np.where(norms == 0, 1.0, norms))


class OnTheSphere(VMFMixture):
    """VMFMixture as scikit-learn's generic checks can use it.

    The checks draw data anywhere in R^d and pass class labels as y (for a density estimator
    they are ignored). VMFMixture rejects both, rightly: rows off the sphere (a ValueError
    asking to normalise them) and labels beyond its K classes (y is its semi-supervised
    labels). This subclass only scales the rows to the sphere and drops y; fit, the
    parameters, the checks and every method are VMFMixture's own.
    """

    def fit(self, X, y=None):
        return super().fit(X)

    def _validated_x(self, X, *, reset):
        return super()._validated_x(_to_sphere(X), reset=reset)


# The checks that do not apply, each because hvae's one message format for input errors
# ("X: must ..., got ...", always a ValueError) replaces the scikit-learn wording they match.
NOT_APPLICABLE = {
    "check_complex_data": "expects the wording 'Complex data not supported'",
    "check_dtype_object": "expects numpy's TypeError for a dict in X; hvae raises ValueError",
    "check_estimators_empty_data_messages": "expects '0 feature(s) (shape=...) while a minimum "
                                            "of 2 is required'",
    "check_fit2d_1feature": "expects 'n_features = 1'; one column is no sphere (d >= 2)",
    "check_fit2d_predict1d": "expects 'Reshape your data' for a 1-D X",
    "check_n_features_in_after_fitting": "expects 'X has 1 features, but ... is expecting'",
}


@parametrize_with_checks([OnTheSphere(n_init=1, max_iter=20, random_state=0)],
                         expected_failed_checks=lambda estimator: NOT_APPLICABLE,
                         xfail_strict=True)
def test_scikit_learn_estimator_checks(estimator, check) -> None:
    """scikit-learn's check_estimator suite: cloning, parameters untouched by fit, fit
    returning self, pickling, idempotent fits, sample order and subset invariance, read-only
    and Fortran-ordered inputs, dtypes, NaN/inf and sparse input rejected, n_features_in_,
    check_is_fitted... (33 checks pass; the six above are wording, checked strictly)."""
    check(estimator)
