"""Tests of hvae.experiments: profiles, one stored run, skipping, resuming, summaries."""

import dataclasses
import json
import math
import shutil

import pytest

import hvae.train
from hvae import experiments as ex

#: One tiny run: the 5k subset, 1 epoch, small MLP, 5 importance samples, 100 labels.
TINY = ex.Profile(
    name="tiny",
    dims=(2,),
    seeds=(0,),
    epochs=1,
    warmup_epochs=1.0,
    patience=None,
    iw_samples=5,
    knn_labels=(100,),
    hidden=(32, 16),
    source="mnist-5k-subset",
)

PROVENANCE_KEYS = {
    "git_commit",
    "git_dirty",
    "date_utc",
    "device",
    "torch_version",
    "python_version",
    "hvae_version",
    "profile",
    "profile_params",
    "data",
    "wall_time_s",
    "run_dir",
}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """One finished S-VAE run (d = 2, seed 0): (its roots, the returned result)."""
    root = tmp_path_factory.mktemp("experiments")
    result = ex.run_mnist(
        "vmf", 2, 0, TINY, out_root=root / "runs", results_root=root / "results", device="cpu"
    )
    return root, result


@pytest.fixture
def copy_of(stored, tmp_path):
    """A private copy of the stored run's directories: (out_root, results_root)."""
    root, _ = stored
    shutil.copytree(root / "runs", tmp_path / "runs")
    shutil.copytree(root / "results", tmp_path / "results")
    return tmp_path / "runs", tmp_path / "results"


def _forbid_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("an epoch was trained")

    monkeypatch.setattr(hvae.train, "_train_epoch", refuse)


# ------------------------------------------------------------------------------ profiles


def test_profiles():
    quick, full = ex.get_profile("quick"), ex.get_profile("full")
    assert quick is ex.QUICK and full is ex.FULL
    assert quick.dims == (2, 5, 10) and quick.source == "mnist-5k-subset"
    assert quick.epochs <= 3 and quick.iw_samples <= 20
    assert full.dims == (2, 5, 10, 20, 40)
    assert (full.warmup_epochs, full.patience, full.iw_samples) == (100, 50, 500)
    assert len(full.seeds) >= 3 and full.hidden == (256, 128)
    assert full.knn_labels == (100, 600, 1000)
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.epochs = 5
    assert ex.get_profile(TINY) is TINY


def test_bad_profile_name_and_arguments(tmp_path):
    with pytest.raises(ValueError, match="profile"):
        ex.get_profile("nope")
    with pytest.raises(ValueError, match="profile"):
        ex.run_mnist("vmf", 2, 0, "nope", out_root=tmp_path, results_root=tmp_path)
    with pytest.raises(ValueError, match="latent"):
        ex.run_mnist("ae", 2, 0, TINY, out_root=tmp_path, results_root=tmp_path)
    with pytest.raises(ValueError, match="dim"):
        ex.run_mnist("vmf", 0, 0, TINY, out_root=tmp_path, results_root=tmp_path)
    with pytest.raises(ValueError, match="iw_samples"):
        dataclasses.replace(TINY, iw_samples=0)
    with pytest.raises(ValueError, match="epochs"):
        dataclasses.replace(TINY, epochs=0)
    assert not any(tmp_path.iterdir())  # nothing written


# ------------------------------------------------------------------------------ one run


def test_run_writes_result_with_provenance(stored):
    root, result = stored
    path = ex.result_path("vmf", 2, 0, TINY, root / "results")
    assert path == root / "results" / "tiny" / "mnist-vmf-d2-s0.json"
    assert json.loads(path.read_text()) == result
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left

    assert (result["latent"], result["model"], result["dim"], result["seed"]) == (
        "vmf",
        "S-VAE",
        2,
        0,
    )
    assert result["dim_convention"] == "paper (manifold)" and result["code_dim"] == 3
    prov = result["provenance"]
    assert PROVENANCE_KEYS <= set(prov)
    assert prov["profile"] == "tiny" and prov["profile_params"] == TINY.params()
    assert prov["profile_params"]["hidden"] == [32, 16]
    assert prov["device"].startswith("cpu")
    commit = prov["git_commit"]
    assert commit == "unknown" or (len(commit) == 40 and int(commit, 16) >= 0)
    assert prov["data"]["source"] == "mnist-5k-subset"
    assert prov["data"]["split_sizes"] == {"train": 3500, "validation": 500, "test": 1000}
    assert prov["data"]["n_test"] == 1000 and prov["wall_time_s"] > 0

    training = result["training"]
    assert training["epochs_run"] == 1 and training["best_epoch"] == 1
    assert training["resumed"] is False
    assert (root / "runs" / "tiny" / "vmf-d2-s0" / "checkpoint.pt").is_file()

    m = result["metrics"]
    assert set(m) == {"LL", "ELBO", "RE", "KL", "knn_100"}
    assert all(math.isfinite(v) for v in m.values())
    assert m["ELBO"] == pytest.approx(m["RE"] - m["KL"], abs=1e-6)
    assert m["KL"] > 0 and m["LL"] < 0
    assert 0.1 < m["knn_100"] <= 1.0  # better than chance (10 classes)
    assert result["iw_samples"] == 5 and all(s > 0 for s in result["sem"].values())


def test_second_call_returns_stored_result_without_training(copy_of, monkeypatch):
    runs, results = copy_of
    path = ex.result_path("vmf", 2, 0, TINY, results)
    before = path.stat().st_mtime_ns

    def refuse(*args, **kwargs):
        raise AssertionError("train() was called")

    monkeypatch.setattr(ex, "train", refuse)
    again = ex.run_mnist("vmf", 2, 0, TINY, out_root=runs, results_root=results)
    assert again == json.loads(path.read_text())
    assert path.stat().st_mtime_ns == before


def test_result_without_its_checkpoint_is_recomputed(copy_of, monkeypatch):
    """A fresh clone has data/results/ but not runs/: the run is trained again (so that its
    model exists for the chapters' figures) and its result rewritten."""
    runs, results = copy_of
    shutil.rmtree(runs / "tiny" / "vmf-d2-s0")
    calls = []
    real_train = ex.train

    def counting(*args, **kwargs):
        calls.append(kwargs.get("resume"))
        return real_train(*args, **kwargs)

    monkeypatch.setattr(ex, "train", counting)
    again = ex.run_mnist("vmf", 2, 0, TINY, out_root=runs, results_root=results, device="cpu")
    assert calls == [False]  # trained from scratch, not resumed
    assert (runs / "tiny" / "vmf-d2-s0" / "checkpoint.pt").is_file()
    assert json.loads(ex.result_path("vmf", 2, 0, TINY, results).read_text()) == again


def test_stored_result_of_other_parameters_is_refused(copy_of):
    runs, results = copy_of
    other = dataclasses.replace(TINY, iw_samples=6)
    with pytest.raises(ValueError, match="other parameters"):
        ex.run_mnist("vmf", 2, 0, other, out_root=runs, results_root=results)


def test_resume_from_finished_checkpoint_does_not_retrain(stored, copy_of, monkeypatch):
    _, first = stored
    runs, results = copy_of
    ex.result_path("vmf", 2, 0, TINY, results).unlink()
    _forbid_training(monkeypatch)
    again = ex.run_mnist("vmf", 2, 0, TINY, out_root=runs, results_root=results, device="cpu")
    assert again["training"]["epochs_run"] == first["training"]["epochs_run"] == 1
    assert again["training"]["resumed"] is True
    assert again["metrics"] == first["metrics"]  # same best parameters, same evaluation seeds


def test_interrupted_training_continues_from_its_checkpoint(copy_of, monkeypatch):
    """A 1-epoch checkpoint plus a 2-epoch profile: exactly one more epoch is trained."""
    runs, results = copy_of
    ex.result_path("vmf", 2, 0, TINY, results).unlink()
    calls = []
    real_epoch = hvae.train._train_epoch

    def counting(*args, **kwargs):
        calls.append(args[4])  # the 0-based epoch index
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(hvae.train, "_train_epoch", counting)
    longer = dataclasses.replace(TINY, epochs=2)
    result = ex.run_mnist("vmf", 2, 0, longer, out_root=runs, results_root=results, device="cpu")
    assert calls == [1]
    assert result["training"]["epochs_run"] == 2 and result["training"]["resumed"] is True
    history = json.loads((runs / "tiny" / "vmf-d2-s0" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]


def test_command_line_skips_stored_runs(copy_of, monkeypatch, capsys):
    runs, results = copy_of
    monkeypatch.setitem(ex.PROFILES, "tiny", TINY)
    _forbid_training(monkeypatch)
    argv = ["--profile", "tiny", "--latents", "vmf", "--device", "cpu"]
    argv += ["--out-root", str(runs), "--results-root", str(results)]
    assert ex.main(argv) == 0
    assert "1 runs of profile 'tiny'" in capsys.readouterr().out
    assert ex.main(["--profile", "nope"]) == 1
    assert "profile" in capsys.readouterr().err


# ------------------------------------------------------------------------------ results


def test_load_results(stored, tmp_path):
    root, result = stored
    assert ex.load_results(TINY, root / "results") == [result]
    assert ex.load_results("tiny", root / "results") == [result]
    assert ex.load_results("quick", tmp_path) == []


def _fake(latent, dim, seed, **metrics):
    return {"latent": latent, "dim": dim, "seed": seed, "metrics": metrics}


def test_summarize_mean_and_std_over_seeds():
    results = [
        _fake("vmf", 5, 1, LL=-100.0, KL=10.0, knn_100=0.5),
        _fake("normal", 2, 0, LL=-130.0, KL=7.0),
        _fake("vmf", 5, 0, LL=-104.0, KL=12.0, knn_100=0.7),
        _fake("vmf", 5, 2, LL=-102.0, KL=14.0, knn_100=0.6),
    ]
    summary = ex.summarize(results)
    assert list(summary) == [("normal", 2), ("vmf", 5)]
    s = summary[("vmf", 5)]
    assert (s["model"], s["n_runs"], s["seeds"]) == ("S-VAE", 3, [0, 1, 2])
    assert s["LL"]["mean"] == pytest.approx(-102.0) and s["LL"]["std"] == pytest.approx(2.0)
    assert s["KL"]["mean"] == pytest.approx(12.0) and s["KL"]["std"] == pytest.approx(2.0)
    assert s["knn_100"]["mean"] == pytest.approx(0.6)
    assert s["knn_100"]["std"] == pytest.approx(0.1)
    one = summary[("normal", 2)]
    assert one["model"] == "N-VAE" and one["n_runs"] == 1
    assert one["LL"]["mean"] == -130.0 and math.isnan(one["LL"]["std"])  # one seed: no std
    assert ex.summarize([]) == {}


def test_model_gap_is_the_difference_of_means_with_welch_standard_error():
    results = [
        _fake("vmf", 5, 0, LL=-100.0), _fake("vmf", 5, 1, LL=-104.0),  # mean -102, var 8
        _fake("normal", 5, 0, LL=-110.0), _fake("normal", 5, 1, LL=-111.0),
        _fake("normal", 5, 2, LL=-106.0),  # mean -109, var 7
        _fake("vmf", 2, 0, LL=-140.0), _fake("normal", 2, 0, LL=-145.0),  # one seed each
        _fake("normal", 10, 0, LL=-95.0),  # no S-VAE at d = 10: no gap
    ]
    gaps = ex.model_gap(ex.summarize(results))
    assert list(gaps) == [2, 5]
    assert gaps[5]["diff"] == pytest.approx(7.0)
    assert gaps[5]["se"] == pytest.approx(math.sqrt(8 / 2 + 7 / 3))
    assert (gaps[5]["n_vmf"], gaps[5]["n_normal"]) == (2, 3)
    assert gaps[2]["diff"] == pytest.approx(5.0) and math.isnan(gaps[2]["se"])
    assert ex.model_gap(ex.summarize(results), metric="knn_100") == {}
    # 7 > 2 SE (2.5): the S-VAE is ahead; one seed: no call
    assert gaps[5]["ahead"] == "S-VAE" and gaps[2]["ahead"] is None
    assert ex.model_gap(ex.summarize(results), n_se=3.0)[5]["ahead"] == "level"


def _gap(diff, se):
    ahead = "S-VAE" if diff > 2 * se else "N-VAE" if diff < -2 * se else "level"
    return {"diff": diff, "se": se, "ahead": ahead}


def test_headline_verdict_reads_signs_and_calls():
    clear = {2: _gap(3.0, 1.0), 5: _gap(2.0, 0.5), 10: _gap(1.0, 0.2), 40: _gap(-2.0, 0.4)}
    assert ex.headline_verdict(clear).startswith("holds on these runs, every difference")
    mixed = {**clear, 5: _gap(0.7, 0.6), 10: _gap(0.01, 0.2)}
    assert ex.headline_verdict(mixed) == ("holds in sign on these runs, but at d = 5, 10 the "
                                          "difference is within two standard errors")
    assert ex.headline_verdict({**clear, 40: _gap(0.5, 0.1)}) == "does not hold on these runs"
    assert ex.headline_verdict({2: clear[2]}).startswith("cannot be checked")


# ------------------------------------------------------------------------------ the paper


def test_paper_table1_matches_the_reference():
    t1 = ex.paper_table1()
    assert set(t1) == {(m, d) for m in ("N-VAE", "S-VAE") for d in (2, 5, 10, 20, 40)}
    assert t1[("N-VAE", 2)] == {
        "LL": -135.73,
        "LL_pm": 0.83,
        "ELBO": -137.08,
        "ELBO_pm": None,
        "RE": -129.84,
        "RE_pm": 0.91,
        "KL": 7.24,
        "KL_pm": 0.11,
    }
    assert t1[("S-VAE", 5)]["LL"] == -108.43 and t1[("S-VAE", 40)]["KL"] == 33.50
    assert t1[("N-VAE", 40)]["ELBO"] == -94.91 and t1[("S-VAE", 10)]["RE_pm"] == 0.39
    for row in t1.values():  # L[q] = RE - KL holds in the published table to rounding
        assert row["ELBO"] == pytest.approx(row["RE"] - row["KL"], abs=0.015)
    t1[("N-VAE", 2)]["LL"] = 0.0  # a copy: the constants stay intact
    assert ex.paper_table1()[("N-VAE", 2)]["LL"] == -135.73


def test_paper_table2_matches_the_reference():
    t2 = ex.paper_table2()
    assert t2[("N-VAE", 2)] == {100: 72.6, 600: 80.8, 1000: 81.7}
    assert t2[("S-VAE", 2)] == {100: 77.9, 600: 84.9, 1000: 85.6}
    assert t2[("N-VAE", 40)][100] == 72.3 and t2[("S-VAE", 40)][1000] == 90.4
    assert t2[("S-VAE", 10)][600] == 91.2
    assert ("N-VAE", 40, 100) in ex.PAPER_TABLE2_SIGNIFICANT
    assert ("S-VAE", 40, 100) not in ex.PAPER_TABLE2_SIGNIFICANT
    assert ("S-VAE", 20, 1000) in ex.PAPER_TABLE2_SIGNIFICANT
    assert len(ex.PAPER_TABLE2_SIGNIFICANT) == 13
