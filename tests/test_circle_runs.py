"""hvae.experiments.circle: Figure 1's runs over seeds, their metrics and the verdict."""

import json
import math

import numpy as np
import pytest
import torch

from hvae.data import CIRCLE_SPLITS, make_circle_data
from hvae.experiments import (
    CIRCLE_MODELS,
    CircleProfile,
    circle_metrics,
    circle_stability,
    instability_verdict,
    load_circle_results,
    main,
    run_circle,
)
from hvae.models import VAE

TINY = CircleProfile("tiny", n_train=200, epochs=2, warmup_epochs=1, patience=None, seeds=(0,))


@pytest.fixture(scope="module")
def test_data():
    n, seed = CIRCLE_SPLITS["test"]
    return make_circle_data(n=n, seed=seed)


def _with_codes(latent, dim, codes):
    """A fresh model whose deterministic codes are ``codes`` (the metrics read embed())."""
    model = VAE(latent, dim, input_dim=100, likelihood="gaussian")
    model.embed = lambda x: torch.as_tensor(codes, dtype=torch.float32)
    return model


def test_true_circle_is_kept_and_a_scrambled_one_is_not(test_data):
    theta = test_data.angles
    exact = np.stack([np.cos(theta), np.sin(theta)], axis=1)
    metrics, codes = circle_metrics(_with_codes("vmf", 1, exact), test_data)
    assert codes.shape == (len(theta), 2)
    assert metrics["rho_centred"] == pytest.approx(1.0, abs=1e-3)
    assert metrics["winding"] == 1 and metrics["monotone"] == 1.0
    assert metrics["keeps_circle"] and metrics["radius_sd"] < 1e-6

    reflected = exact * np.array([1.0, -1.0])  # phi = -theta: kept, winding -1
    assert circle_metrics(_with_codes("vmf", 1, reflected), test_data)[0]["winding"] == -1

    rng = np.random.default_rng(0)
    angle = rng.uniform(-math.pi, math.pi, len(theta))  # codes independent of theta
    scrambled = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    metrics = circle_metrics(_with_codes("vmf", 1, scrambled), test_data)[0]
    assert not metrics["keeps_circle"]
    assert len(theta) * abs(metrics["rho_centred"]) < 10  # n |rho| ~ Laplace(0, 1) under H0


def test_empty_fraction_matches_closed_forms(test_data):
    """All codes at one point: the share of prior draws farther than 0.25 from it is, on the
    circle, 1 - 2 alpha / (2 pi) with 2 sin(alpha / 2) = 0.25 (chord), and under N(0, I_2)
    with the point at the origin, P(|z| > 0.25) = exp(-0.25^2 / 2). 4000 draws: within 4
    binomial standard errors."""
    n, r = 4000, 0.25
    point = np.tile([1.0, 0.0], (len(test_data.angles), 1))
    got = circle_metrics(_with_codes("vmf", 1, point), test_data)[0]["empty_fraction"]
    want = 1 - 2 * (2 * math.asin(r / 2)) / (2 * math.pi)
    assert abs(got - want) < 4 * math.sqrt(want * (1 - want) / n)

    origin = np.zeros((len(test_data.angles), 2))
    got = circle_metrics(_with_codes("normal", 2, origin), test_data)[0]["empty_fraction"]
    want = math.exp(-r * r / 2)
    assert abs(got - want) < 4 * math.sqrt(want * (1 - want) / n)


def test_the_ae_has_no_elbo_and_no_prior(test_data):
    theta = test_data.angles
    codes = 3.0 + np.stack([np.cos(theta), np.sin(theta)], axis=1)  # an off-centre circle
    metrics = circle_metrics(_with_codes("ae", 2, codes), test_data)[0]
    assert metrics["ELBO"] is None and metrics["KL"] is None and metrics["empty_fraction"] is None
    assert math.isfinite(metrics["RE"])
    assert metrics["keeps_circle"]  # about the codes' mean, not the origin
    assert abs(metrics["rho"]) < 0.5  # seen from the origin, the angle hardly moves


def test_run_is_stored_with_codes_and_provenance_and_resumes(tmp_path):
    first = run_circle("S-VAE, proposal gradient", 0, TINY, results_root=tmp_path,
                       out_root=tmp_path / "runs")
    path = tmp_path / "tiny" / "circle-vmf-proposal-s0.json"
    stored = json.loads(path.read_text())
    assert stored["kappa_gradient"] == "proposal" and stored["dim"] == 1
    assert stored["training"]["epochs_run"] == 2
    codes = np.asarray(stored["codes"])
    assert codes.shape == (CIRCLE_SPLITS["test"][0], 2)
    assert np.allclose(np.linalg.norm(codes, axis=1), 1.0, atol=2e-4)  # S^1, rounded to 1e-4
    assert stored["provenance"]["data"]["n_train"] == 200
    provenance = stored["provenance"]
    assert {"git_commit", "git_dirty", "date_utc", "device"} <= set(provenance)
    assert "threads" in provenance["device"]  # the thread count a re-run needs
    assert provenance["profile_params"]["epochs"] == 2
    stamp = path.stat().st_mtime_ns
    again = run_circle("S-VAE, proposal gradient", 0, TINY, results_root=tmp_path)
    assert again["metrics"] == first["metrics"] and path.stat().st_mtime_ns == stamp
    other = CircleProfile("tiny", n_train=200, epochs=3, warmup_epochs=1, patience=None,
                          seeds=(0,))
    with pytest.raises(ValueError, match="other parameters"):
        run_circle("S-VAE, proposal gradient", 0, other, results_root=tmp_path)


def test_unknown_model_or_profile_is_one_line_error():
    with pytest.raises(ValueError, match="name"):
        run_circle("VAE", 0)
    with pytest.raises(ValueError, match="profile"):
        run_circle("AE", 0, "paper")


def _fake(name, seed, rho, keeps, re=-80.0, empty=0.5):
    key = CIRCLE_MODELS[name].key
    return {"model": name, "key": key, "seed": seed,
            "metrics": {"rho_centred": rho, "keeps_circle": keeps, "RE": re,
                        "empty_fraction": None if name == "AE" else empty}}


def test_stability_summary_and_verdicts():
    runs = ([_fake("AE", s, 0.99, True) for s in range(5)]
            + [_fake("S-VAE", s, -0.98, True) for s in range(5)]
            + [_fake("N-VAE", s, r, k) for s, (r, k) in
               enumerate([(0.9, True), (0.3, False), (-0.95, True), (0.5, False), (0.9, True)])])
    summary = circle_stability(runs)
    assert list(summary) == ["AE", "N-VAE", "S-VAE"]  # the order of CIRCLE_MODELS
    n = summary["N-VAE"]
    assert (n["seeds"], n["kept"]) == (5, 3)
    assert n["rho_mean"] == pytest.approx((0.9 + 0.3 + 0.95 + 0.5 + 0.9) / 5)
    assert n["rho_min"] == pytest.approx(0.3)
    assert n["rho_sd"] == pytest.approx(np.std([0.9, 0.3, 0.95, 0.5, 0.9], ddof=1))
    assert summary["AE"]["empty_fraction"] is None
    assert instability_verdict(summary).startswith("borne out")

    steady = [r for r in runs if r["model"] != "N-VAE"] + [
        _fake("N-VAE", s, 0.97, True) for s in range(5)]
    assert instability_verdict(circle_stability(steady)).startswith("not borne out")
    shaky_ae = [_fake("AE", 0, 0.2, False)] + runs[1:]
    assert instability_verdict(circle_stability(shaky_ae)).startswith("not specific")
    assert instability_verdict(circle_stability(runs[:12])).startswith("cannot be checked")


def test_load_orders_by_model_then_seed(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    for name, seed in (("S-VAE", 1), ("AE", 1), ("S-VAE", 0), ("AE", 0)):
        record = _fake(name, seed, 0.9, True)
        (folder / f"circle-{record['key']}-s{seed}.json").write_text(json.dumps(record))
    got = [(r["model"], r["seed"]) for r in load_circle_results(TINY, tmp_path)]
    assert got == [("AE", 0), ("AE", 1), ("S-VAE", 0), ("S-VAE", 1)]


def test_cli_circle_refuses_mnist_options(capsys):
    assert main(["--experiment", "circle", "--dims", "2", "--allow-dirty"]) == 1
    assert "not for --experiment circle" in capsys.readouterr().err
    assert main(["--experiment", "circle", "--profile", "paper", "--allow-dirty"]) == 1
    assert "--profile: must be one of" in capsys.readouterr().err
