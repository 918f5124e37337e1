"""M2 (hvae.semisupervised): its bounds against brute force and closed forms, what the labels
and the unlabelled points each do, exact resume, and every refused input."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from hvae.semisupervised import M2, M2Config, check_labels, fit_m2, load_m2, m2_accuracy


def _codes(likelihood: str, n: int = 7, dim: int = 4, seed: int = 0) -> torch.Tensor:
    z = torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return nn.functional.normalize(z, dim=1) if likelihood == "vmf" else z


def _model(likelihood: str, latent: str, k: int = 3, dim: int = 4) -> M2:
    torch.manual_seed(1)
    return M2(k, dim, likelihood, latent, 2, hidden=(8,)).double()


@pytest.mark.parametrize("likelihood", ["gaussian", "vmf"])
@pytest.mark.parametrize("latent", ["normal", "vmf"])
def test_unlabelled_bound_is_the_brute_force_sum_over_classes(likelihood, latent):
    model, z1 = _model(likelihood, latent), _codes(likelihood)
    got = model.unlabelled_bound(z1, kl_weight=0.7, sample=False)
    q = torch.softmax(model.classify(z1), -1)
    want = torch.zeros(z1.shape[0], dtype=torch.float64)
    for i in range(z1.shape[0]):  # one point and one class at a time
        for y in range(model.n_classes):
            elbo = model.labelled_elbo(z1[i:i + 1], torch.tensor([y]), 0.7, sample=False)
            want[i] += q[i, y] * elbo[0] - q[i, y] * torch.log(q[i, y])
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_labelled_elbo_of_the_gaussian_pair_matches_scipy_and_the_closed_form_kl():
    model, z1 = _model("gaussian", "normal"), _codes("gaussian")
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    got = model.labelled_elbo(z1, y, sample=False).detach().numpy()
    q = model.posterior(z1, y)
    mu, sd = q.base_dist.loc.detach().numpy(), q.base_dist.scale.detach().numpy()
    p = model.code_likelihood(q.mean, y)  # z2 at the posterior mean (sample=False)
    log_lik = stats.norm.logpdf(z1.numpy(), p.base_dist.loc.detach().numpy(),
                                p.base_dist.scale.detach().numpy()).sum(1)
    kl = 0.5 * (mu**2 + sd**2 - 1 - 2 * np.log(sd)).sum(1)
    np.testing.assert_allclose(got, log_lik - math.log(3) - kl, rtol=1e-10)


def test_sampled_bound_is_unbiased_for_its_expectation():
    """The one-draw bound averaged over 4000 draws is within 4 standard errors of the
    average of 4000 draws through labelled_elbo, class by class (two estimators of one
    expectation)."""
    model, z1 = _model("vmf", "vmf"), _codes("vmf", n=1)
    torch.manual_seed(0)
    with torch.no_grad():
        enum = model.class_elbos(z1.repeat(4000, 1))  # (4000, K)
        single = torch.stack([model.labelled_elbo(z1.repeat(4000, 1),
                                                  torch.full((4000,), y)) for y in range(3)], 1)
    diff = enum.mean(0) - single.mean(0)
    se = torch.sqrt(enum.var(0) / 4000 + single.var(0) / 4000)
    assert bool((diff.abs() < 4 * se).all()), (diff, se)


def _blobs(n: int, seed: int, k: int = 3, dim: int = 6):
    """k well-separated Gaussian blobs in R^dim."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    centres = 4.0 * np.eye(k, dim)
    return torch.tensor(centres[y] + rng.normal(size=(n, dim)), dtype=torch.float32), y


def test_with_every_point_labelled_and_a_large_alpha_the_classifier_is_a_plain_one():
    x, y = _blobs(600, 0)
    xt, yt = _blobs(600, 1)
    torch.manual_seed(0)
    model = M2(3, 6, "gaussian", "normal", 2, hidden=(16,))
    fit_m2(model, x, y, xt, yt, M2Config(epochs=15, patience=None, alpha=1e4, lr=1e-3,
                                         labelled_batch_size=50), progress=False)
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = torch.optim.Adam(plain.parameters(), lr=1e-3)
    for _ in range(15):
        for idx in torch.randperm(600).split(50):
            loss = nn.functional.cross_entropy(plain(x[idx]), torch.as_tensor(y)[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    pred_m2, pred_plain = model.predict(xt).numpy(), plain(xt).argmax(1).numpy()
    acc_m2, acc_plain = np.mean(pred_m2 == yt), np.mean(pred_plain == yt)
    assert acc_plain > 0.95
    assert abs(acc_m2 - acc_plain) < 0.02 and np.mean(pred_m2 == pred_plain) > 0.97


def _needs_unlabelled(n: int, seed: int):
    """Two classes apart in one coordinate, hidden among a wide continuous factor (which z2
    explains) and 18 noise coordinates: 10 labels alone overfit the noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = np.concatenate([(2 * y - 1)[:, None] * 1.5 + 0.5 * rng.normal(size=(n, 1)),
                        3.0 * rng.normal(size=(n, 1)), 2.0 * rng.normal(size=(n, 18))], 1)
    return torch.tensor(x, dtype=torch.float32), y


def test_m2_with_ten_labels_beats_the_classifier_trained_on_them_alone():
    """Threshold: M2 at least 0.15 more test accuracy (seeded data and training)."""
    x, y = _needs_unlabelled(2000, 0)
    xv, yv = _needs_unlabelled(500, 2)
    xt, yt = _needs_unlabelled(1000, 1)
    picked = np.concatenate([np.flatnonzero(y == k)[:5] for k in range(2)])
    labels = np.full(2000, -1)
    labels[picked] = y[picked]
    torch.manual_seed(0)
    alone = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = torch.optim.Adam(alone.parameters(), lr=1e-3)
    for _ in range(300):
        loss = nn.functional.cross_entropy(alone(x[picked]), torch.as_tensor(y[picked]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    acc_alone = float(np.mean(alone(xt).argmax(1).numpy() == yt))
    torch.manual_seed(0)
    model = M2(2, 20, "gaussian", "normal", 1, hidden=(32,))
    fit_m2(model, x, labels, xv, yv, M2Config(epochs=40, patience=None, warmup_epochs=2,
                                              lr=3e-3, batch_size=200,
                                              labelled_batch_size=10), progress=False)
    acc_m2 = m2_accuracy(model, xt, yt)
    assert acc_m2 > acc_alone + 0.15, (acc_m2, acc_alone)


def _short_fit(tmp_path, epochs, resume=False):
    x, y = _blobs(300, 0)
    labels = np.full(300, -1)
    labels[:30] = y[:30]
    xv, yv = _blobs(100, 1)
    torch.manual_seed(3)
    model = M2(3, 6, "gaussian", "vmf", 2, hidden=(8,))

    def codes(epoch):  # fresh inputs each epoch, as code_sampler gives
        return x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(epoch))

    return fit_m2(model, codes, labels, xv, yv, M2Config(epochs=epochs, patience=None,
                                                           warmup_epochs=2),
                  tmp_path / "run", resume=resume, progress=False)


def test_a_resumed_run_ends_exactly_where_an_uninterrupted_one_does(tmp_path):
    whole = _short_fit(tmp_path / "a", 4)
    _short_fit(tmp_path / "b", 2)
    resumed = _short_fit(tmp_path / "b", 4, resume=True)
    for key, value in whole.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0)
    strip = [{k: v for k, v in h.items() if k != "time_s"} for h in whole.history]
    assert strip == [{k: v for k, v in h.items() if k != "time_s"} for h in resumed.history]
    reloaded = load_m2(tmp_path / "b" / "run")
    for key, value in resumed.model.state_dict().items():
        torch.testing.assert_close(reloaded.state_dict()[key], value, rtol=0, atol=0)


def test_resuming_with_other_settings_is_refused(tmp_path):
    _short_fit(tmp_path, 1)
    x, y = _blobs(300, 0)
    model = M2(3, 6, "gaussian", "vmf", 2, hidden=(8,))
    with pytest.raises(ValueError, match="^resume: the training settings differ .*lr"):
        fit_m2(model, x, np.full(300, -1), x, config=M2Config(epochs=2, lr=1e-2),
               out_dir=tmp_path / "run", resume=True, progress=False)


@pytest.mark.parametrize(("labels", "match"), [
    ([0, 1, 2, 3], r"^labels: must be in 0\.\.2 or -1 \(unlabelled\), got 3$"),
    ([0, 1, -2, 2], r"^labels: must be in 0\.\.2 or -1 .*got -2$"),
    ([0, 1, -1, -1], r"^labels: must be at least one labelled point per class .*2 labelled "
                     r"points, none of class 2"),
    ([0.0, 1.0, 2.0, 1.0], r"^labels: must be a 1-D integer array"),
    ([0, 1, 2], r"^labels: must be a 1-D integer array of length 4"),
])
def test_bad_labels_are_refused_naming_the_argument(labels, match):
    with pytest.raises(ValueError, match=match):
        check_labels(np.array(labels), 3, n=4)


def test_no_labels_at_all_is_clustering_and_accepted():
    assert check_labels(np.full(5, -1), 3, n=5).tolist() == [-1] * 5


def test_fewer_labelled_points_than_classes_is_refused_by_fit():
    x, _ = _blobs(50, 0)
    labels = np.full(50, -1)
    labels[:2] = [0, 1]
    with pytest.raises(ValueError, match="^labels: must be at least one labelled point per "
                                         "class .*2 labelled points"):
        fit_m2(M2(3, 6, "gaussian", "normal", 2), x, labels, x, progress=False)


def test_codes_off_the_sphere_are_refused_for_a_vmf_likelihood():
    with pytest.raises(ValueError, match="^train_codes: must be codes on the unit sphere for "
                                         "likelihood 'vmf'"):
        fit_m2(M2(3, 6, "vmf", "normal", 2), torch.randn(20, 6), np.full(20, -1),
               nn.functional.normalize(torch.randn(5, 6), dim=1), progress=False)


def test_sphere_codes_are_refused_for_a_gaussian_likelihood():
    z = nn.functional.normalize(torch.randn(20, 6), dim=1)
    with pytest.raises(ValueError, match="^val_codes: must be codes in R\\^d for likelihood "
                                         "'gaussian'"):
        fit_m2(M2(3, 6, "gaussian", "normal", 2), torch.randn(20, 6), np.full(20, -1), z,
               progress=False)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"n_classes": 1}, r"^n_classes: must be an integer >= 2, got 1$"),
    ({"likelihood": "bernoulli"}, r"^likelihood: must be one of \('gaussian', 'vmf'\)"),
    ({"latent": "ae"}, r"^latent: must be one of \('normal', 'vmf'\)"),
    ({"manifold_dim": 0}, r"^manifold_dim: must be an integer >= 1"),
    ({"hidden": ()}, r"^hidden: must be at least one hidden layer size"),
])
def test_bad_model_arguments_are_refused(kwargs, match):
    args = {"n_classes": 3, "input_dim": 6, "likelihood": "gaussian", "latent": "normal",
            "manifold_dim": 2} | kwargs
    with pytest.raises(ValueError, match=match):
        M2(**args)


def test_wrong_code_length_is_refused():
    with pytest.raises(ValueError, match=r"^z1: must be a \(n, 6\) array of codes, got \(4, 5\)"):
        M2(3, 6, "gaussian", "normal", 2).check_codes(torch.randn(4, 5))


def test_clustering_scores_m2s_regions_and_the_mixture_finds_clear_blobs():
    from hvae.evaluate import clustering_scores
    from hvae.semisupervised import m2_clustering, mixture_clustering

    x, _ = _blobs(600, 0)
    xv, _ = _blobs(200, 1)
    xt, yt = _blobs(600, 2)
    fit, scores = m2_clustering(x, xv, xt, yt, 3, "gaussian", "normal", 2,
                                M2Config(epochs=30, patience=None, warmup_epochs=2, lr=3e-3),
                                hidden=(32,))
    assert scores == clustering_scores(yt, fit.model.predict(xt).numpy())
    assert scores["acc"] > 1 / 3 + 0.15  # above chance (3 equal classes), seeded
    # the baseline on the same codes: three blobs 4 standard deviations apart are found exactly
    assert mixture_clustering(x.numpy(), xt.numpy(), yt, 3, "gaussian")["ARI"] > 0.99
    unit = nn.functional.normalize(x, dim=1).numpy()
    unit_t = nn.functional.normalize(xt, dim=1).numpy()
    assert mixture_clustering(unit, unit_t, yt, 3, "vmf")["ARI"] > 0.99


def test_no_epoch_of_the_warm_up_is_selected_and_patience_counts_after_it():
    """The validation bound takes the full KL, so a warm-up epoch (trained on less) is never
    the one kept, and patience starts when the warm-up ends."""
    x, y = _blobs(300, 0)
    labels = np.full(300, -1)
    labels[:30] = y[:30]
    torch.manual_seed(0)
    fit = fit_m2(M2(3, 6, "gaussian", "normal", 2, hidden=(8,)), x, labels, x[:100], y[:100],
                 M2Config(epochs=12, warmup_epochs=5.0, patience=2), progress=False)
    assert fit.best_epoch >= 5
    best_after = max(h["val_bound"] for h in fit.history if h["epoch"] >= 5)
    assert fit.best_score == best_after
    assert fit.epochs_run >= 7  # at least the warm-up and then the patience
