"""Table 3's runner (hvae.experiments.semisupervised): one stored M1 + M2 run with its
provenance and M1's, reloading instead of retraining, and the command line's refusals."""

import json

import pytest

from hvae.experiments import cli as ex_cli
from hvae.experiments import profiles as ex_profiles
from hvae.experiments import runs as ex_runs
from hvae.experiments import semisupervised as semi
from hvae.semisupervised import load_m2

M1_TINY = ex_profiles.Profile(name="tiny-m1", dims=(2,), seeds=(0,), epochs=1,
                              warmup_epochs=1.0, patience=None, iw_samples=5,
                              knn_labels=(100,), hidden=(32, 16), source="mnist-5k-subset")
SEMI_TINY = semi.SemiProfile(name="tiny-m2", m1_profile=M1_TINY, z1_dims=(2,), z2_dims=(2,),
                             seeds=(0,), epochs=2, warmup_epochs=1.0, patience=None,
                             pairs=(("vmf", "normal"),), hidden=(16,))


@pytest.fixture
def tiny_profiles(monkeypatch):
    monkeypatch.setitem(semi.SEMI_PROFILES, "tiny-m2", SEMI_TINY)
    monkeypatch.setattr(ex_cli, "git_state", lambda: ("0" * 40, False))


def test_one_run_is_stored_with_its_provenance_and_m1s(tiny_profiles, tmp_path, monkeypatch):
    roots = {"out_root": tmp_path / "runs", "results_root": tmp_path / "results"}
    result = semi.run_m2(("vmf", "normal"), 2, 2, 0, "tiny-m2", device="cpu", **roots)
    path = semi.m2_result_path(("vmf", "normal"), 2, 2, 0, "tiny-m2", roots["results_root"])
    assert json.loads(path.read_text()) == json.loads(json.dumps(result))
    assert result["pair"] == "S+N" and result["z1_dim"] == 2 and result["z2_dim"] == 2
    assert result["dim_convention"] == "paper (manifold)" and result["n_labels"] == 100
    assert 0.0 <= result["metrics"]["accuracy"] <= 1.0
    assert result["training"]["epochs_run"] == 2
    assert result["m1"]["code_dim"] == 3 and result["m1"]["model"] == "S-VAE"
    assert result["provenance"]["profile_params"] == SEMI_TINY.params()
    assert result["provenance"]["data"]["n_train"] == 3500
    # M1 is the stored Table 1 run of its profile: its result file is there too
    assert ex_runs.result_path("vmf", 2, 0, M1_TINY, roots["results_root"]).is_file()
    model = load_m2(semi.m2_run_dir(("vmf", "normal"), 2, 2, 0, "tiny-m2", roots["out_root"]))
    assert model.likelihood == "vmf" and model.input_dim == 3

    def no_training(*args, **kwargs):
        raise AssertionError("a stored run was trained again")

    monkeypatch.setattr(semi, "fit_m2", no_training)
    again = semi.run_m2(("vmf", "normal"), 2, 2, 0, "tiny-m2", device="cpu", **roots)
    assert again == json.loads(path.read_text())


def test_a_bad_pair_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"^pair: must be one of .*got \('normal', 'vmf'\)"):
        semi.run_m2(("normal", "vmf"), 5, 5, 0, "quick")


def test_a_profile_with_an_unknown_pair_is_refused():
    with pytest.raises(ValueError, match=r"^pairs: must be pairs among"):
        semi.SemiProfile(name="x", m1_profile="quick", z1_dims=(5,), z2_dims=(5,), seeds=(0,),
                         epochs=1, warmup_epochs=0.0, patience=None, pairs=(("ae", "vmf"),))


def test_the_command_line_runs_the_grid_and_refuses_latents(tiny_profiles, tmp_path, capsys):
    argv = ["--experiment", "semisupervised", "--profile", "tiny-m2", "--device", "cpu",
            "--out-root", str(tmp_path / "runs"), "--results-root", str(tmp_path / "res")]
    assert ex_cli.main([*argv, "--latents", "vmf"]) == 1
    assert capsys.readouterr().err.strip() == (
        "hvae.experiments: error: --latents: not for --experiment semisupervised (its pairs "
        "are fixed)")
    assert ex_cli.main([*argv, "--profile", "nope"]) == 1
    assert "--profile: must be one of ('quick', 'full'" in capsys.readouterr().err
    assert ex_cli.main(argv) == 0
    assert semi.m2_result_path(("vmf", "normal"), 2, 2, 0, "tiny-m2", tmp_path / "res").is_file()
