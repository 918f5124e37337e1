"""Tests of hvae.experiments: profiles, one stored run, skipping, resuming, the command line.

The statistics, the paper's numbers and the reports are tested in test_experiments_stats.py.
"""

import dataclasses
import json
import math
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

import hvae.train
from hvae import experiments as ex
from hvae.experiments import cli as ex_cli
from hvae.experiments import runs as ex_runs

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

#: A committed result of the full profile (the first by name; the 5k subset there).
COMMITTED = min((Path(__file__).resolve().parent.parent / "data" / "results" / "full")
                .glob("mnist-*.json"))

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


@pytest.fixture(autouse=True)
def clean_tree(monkeypatch):
    """The command line as on a committed tree, whatever the state of this checkout (the
    refusal of a dirty one is tested on its own)."""
    monkeypatch.setattr(ex_cli, "git_state", lambda: ("0" * 40, False))


def _forbid_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("an epoch was trained")

    monkeypatch.setattr(hvae.train, "train_epoch", refuse)


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
    ablation = ex.get_profile("full-proposal-gradient")
    assert ablation.latents == ("vmf",) and ablation.kappa_gradient == "proposal"
    assert ablation.dims == (2, 5, 10) and full.kappa_gradient == "implicit"
    # apart from what it ablates, the paper's protocol
    assert dataclasses.replace(ablation, name="full", dims=full.dims, latents=full.latents,
                               kappa_gradient="implicit") == full


def test_bad_profile_name_and_arguments(tmp_path):
    with pytest.raises(ValueError, match=r"^profile: must be one of \('quick', 'full', "):
        ex.get_profile("nope")
    with pytest.raises(ValueError, match="^profile: must be"):
        ex.run_mnist("vmf", 2, 0, "nope", out_root=tmp_path, results_root=tmp_path)
    with pytest.raises(ValueError, match="^latent: must be one of"):
        ex.run_mnist("ae", 2, 0, TINY, out_root=tmp_path, results_root=tmp_path)
    with pytest.raises(ValueError, match=r"^dim: must be an integer >= 1 \(the paper's d"):
        ex.run_mnist("vmf", 0, 0, TINY, out_root=tmp_path, results_root=tmp_path)
    with pytest.raises(ValueError, match="^iw_samples: must be an integer >= 1, got 0"):
        dataclasses.replace(TINY, iw_samples=0)
    with pytest.raises(ValueError, match="epochs"):
        dataclasses.replace(TINY, epochs=0)
    with pytest.raises(ValueError, match=r"^dims: must be positive integers"):
        dataclasses.replace(TINY, dims=(2, 0))
    with pytest.raises(ValueError, match="^dims: must be a non-empty sequence"):
        dataclasses.replace(TINY, dims=())
    with pytest.raises(ValueError, match=r"^knn_labels: must be integers >= 10"):
        dataclasses.replace(TINY, knn_labels=(5,))
    with pytest.raises(ValueError, match="^kappa_gradient: must be one of"):
        dataclasses.replace(TINY, kappa_gradient="paper")
    with pytest.raises(ValueError, match="^latents: must be one of"):
        dataclasses.replace(TINY, latents=("ae",))
    with pytest.raises(ValueError, match="^source: must be one of"):
        dataclasses.replace(TINY, source="cifar")
    with pytest.raises(ValueError, match="^name: must be a non-empty name without '/'"):
        dataclasses.replace(TINY, name="a/b")
    with pytest.raises(ValueError, match="^device: must be"):
        ex.run_mnist("vmf", 2, 0, TINY, out_root=tmp_path, results_root=tmp_path, device="tpu")
    assert not any(tmp_path.iterdir())  # nothing written


def test_profile_normalises_lists_to_tuples_of_ints():
    p = dataclasses.replace(TINY, dims=[2, 5], knn_labels=[100])
    assert p.dims == (2, 5) and p.knn_labels == (100,)
    assert p.params()["dims"] == [2, 5]


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

    # the same keys, in the same order, as the committed results that the chapters read
    committed = json.loads(COMMITTED.read_text())
    assert list(result) == list(committed)
    for key in ("sem", "training", "provenance"):
        assert list(result[key]) == list(committed[key])
    assert list(result["metrics"]) == list(committed["metrics"])[:5]  # TINY: only 100 labels
    assert list(prov["data"]) == list(committed["provenance"]["data"])

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


def test_a_run_repeated_with_its_recorded_thread_count_reproduces_it_exactly(stored, tmp_path):
    """The mechanism behind the stored results: the same code, profile, seed and thread count
    give the same metrics to the last digit (no tolerance)."""
    root, result = stored
    threads = int(re.fullmatch(r"cpu \(.*, (\d+) threads\)", result["provenance"]["device"])[1])
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        again = ex.run_mnist("vmf", 2, 0, TINY, out_root=tmp_path / "runs",
                             results_root=tmp_path / "results", device="cpu")
    finally:
        torch.set_num_threads(before)
    assert again["metrics"] == result["metrics"] and again["sem"] == result["sem"]
    assert again["training"]["best_val_elbo"] == result["training"]["best_val_elbo"]


def test_provenance_is_the_environment_when_the_run_started(tmp_path, monkeypatch):
    """A commit checked out while a run trains is not the run's: the record is taken first."""
    real = ex_runs.environment_record
    calls = []

    def record(device):
        calls.append(device)
        return {**real(device), "git_commit": f"call {len(calls)}"}

    monkeypatch.setattr(ex_runs, "environment_record", record)
    real_fit = ex_runs._fit

    def fit_then_commit(*args, **kwargs):
        fitted = real_fit(*args, **kwargs)
        record("cpu")  # what a checkout during training would change
        return fitted

    monkeypatch.setattr(ex_runs, "_fit", fit_then_commit)
    result = ex.run_mnist("vmf", 2, 0, TINY, out_root=tmp_path / "runs",
                          results_root=tmp_path / "results", device="cpu")
    assert result["provenance"]["git_commit"] == "call 1" and len(calls) == 2


def test_second_call_returns_stored_result_without_training(copy_of, monkeypatch):
    runs, results = copy_of
    path = ex.result_path("vmf", 2, 0, TINY, results)
    before = path.stat().st_mtime_ns

    def refuse(*args, **kwargs):
        raise AssertionError("train() was called")

    monkeypatch.setattr(ex_runs, "train", refuse)
    again = ex.run_mnist("vmf", 2, 0, TINY, out_root=runs, results_root=results)
    assert again == json.loads(path.read_text())
    assert path.stat().st_mtime_ns == before


def test_result_without_its_checkpoint_is_recomputed(copy_of, monkeypatch):
    """A fresh clone has data/results/ but not runs/: the run is trained again (so that its
    model exists for the chapters' figures) and its result rewritten."""
    runs, results = copy_of
    shutil.rmtree(runs / "tiny" / "vmf-d2-s0")
    calls = []
    real_train = ex_runs.train

    def counting(*args, **kwargs):
        calls.append(kwargs.get("resume"))
        return real_train(*args, **kwargs)

    monkeypatch.setattr(ex_runs, "train", counting)
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
    real_epoch = hvae.train.train_epoch

    def counting(*args, **kwargs):
        calls.append(args[4])  # the 0-based epoch index
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(hvae.train, "train_epoch", counting)
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
    assert ex.main(["--profile", "tiny", "--dims", "0"]) == 1
    error = capsys.readouterr().err
    assert "hvae.experiments: error: dims: must be an integer >= 1, got 0" in error


def test_command_line_refuses_a_dirty_tree_unless_allowed(copy_of, monkeypatch, capsys):
    runs, results = copy_of
    monkeypatch.setitem(ex.PROFILES, "tiny", TINY)
    monkeypatch.setattr(ex_cli, "git_state", lambda: ("1" * 40, True))
    _forbid_training(monkeypatch)
    argv = ["--profile", "tiny", "--latents", "vmf", "--device", "cpu",
            "--out-root", str(runs), "--results-root", str(results)]  # fmt: skip
    before = _files(runs, results)
    assert ex.main(argv) == 1
    assert capsys.readouterr().err.strip() == (
        "hvae.experiments: error: the working tree has uncommitted changes to tracked files "
        "(git status), which no commit would reproduce; commit them, or pass --allow-dirty "
        "(the results then record git_dirty: true)")
    assert _files(runs, results) == before
    assert ex.main([*argv, "--allow-dirty"]) == 0  # the stored run is skipped


def test_module_runs_as_a_program():
    """``python -m hvae.experiments`` (the Makefile's ``reproduce``) reaches main."""
    done = subprocess.run([sys.executable, "-m", "hvae.experiments", "--profile", "nope"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().endswith("profile: must be one of ('quick', 'full', "
                                        "'quick-proposal-gradient', 'full-proposal-gradient'), "
                                        "got 'nope'")


def test_load_results(stored, tmp_path):
    root, result = stored
    assert ex.load_results(TINY, root / "results") == [result]
    assert ex.load_results("tiny", root / "results") == [result]
    assert ex.load_results("quick", tmp_path) == []


def test_load_results_keeps_to_the_profiles_dims(stored, copy_of):
    """A run at a d outside the profile's (Table 3's M1 at d = 50) is not one of its rows."""
    _, result = stored
    _, results = copy_of
    other = dict(result, dim=50)
    (results / "tiny" / "mnist-vmf-d50-s0.json").write_text(json.dumps(other))
    assert ex.load_results(TINY, results) == [result]
    assert len(ex.load_results("tiny", results)) == 2  # an unknown name: every stored run


# ------------------------------------------------------------------------------ failed runs

RUN = "hvae.experiments: error: S-VAE d=2 seed=0 (profile 'tiny'): "
HOLD = ("import sys; from hvae._io import run_lock\n"
        "with run_lock(sys.argv[1]):\n    print('locked', flush=True)\n    sys.stdin.read()\n")


def _main_fails(runs, results, monkeypatch, capsys) -> str:
    """ex.main on the tiny profile's S-VAE run: exit status 1; its one error line (stderr holds
    nothing else but the progress bar)."""
    monkeypatch.setitem(ex.PROFILES, "tiny", TINY)
    capsys.readouterr()
    argv = ["--profile", "tiny", "--latents", "vmf", "--device", "cpu",
            "--out-root", str(runs), "--results-root", str(results)]  # fmt: skip
    assert ex.main(argv) == 1
    err = capsys.readouterr().err.splitlines()
    assert "Traceback" not in "\n".join(err)
    assert all(" runs" in line or not line.strip() for line in err[:-1]), err  # tqdm's bar
    return err[-1]


def _files(*roots):
    return {p: p.read_bytes() for root in roots for p in sorted(root.rglob("*")) if p.is_file()}


def test_command_line_diverged_run(copy_of, monkeypatch, capsys):
    runs, results = copy_of
    shutil.rmtree(runs / "tiny" / "vmf-d2-s0")
    ex.result_path("vmf", 2, 0, TINY, results).unlink()
    real = ex.Profile.train_config
    monkeypatch.setattr(ex.Profile, "train_config",
                        lambda self, seed, device: dataclasses.replace(real(self, seed, device),
                                                                       lr=1e30))
    line = _main_fails(runs, results, monkeypatch, capsys)
    assert re.fullmatch(re.escape(RUN) + r"epoch 1: training diverged \(.*\); the learning rate "
                        r"1e\+30 is probably too high", line), line
    assert not (runs / "tiny" / "vmf-d2-s0" / "checkpoint.pt").exists()
    assert not any((results / "tiny").iterdir())


def test_command_line_damaged_checkpoint(copy_of, monkeypatch, capsys):
    runs, results = copy_of
    ckpt = runs / "tiny" / "vmf-d2-s0" / "checkpoint.pt"
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[:1000] + bytes([data[1000] ^ 4]) + data[1001:])
    before = _files(runs, results)
    for stored in (True, False):  # the stored result is checked too; a resume would read it
        if not stored:
            ex.result_path("vmf", 2, 0, TINY, results).unlink()
            before = _files(runs, results)
        line = _main_fails(runs, results, monkeypatch, capsys)
        assert line.startswith(f"{RUN}{ckpt}: damaged (the SHA-256 of its contents")
        assert line.endswith("retrain the run or restore the file")
        assert _files(runs, results) == before


def test_command_line_run_directory_in_use(copy_of, monkeypatch, capsys):
    runs, results = copy_of
    ex.result_path("vmf", 2, 0, TINY, results).unlink()
    directory = runs / "tiny" / "vmf-d2-s0"
    before = _files(runs, results)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(directory)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        line = _main_fails(runs, results, monkeypatch, capsys)
        lock = directory / ".lock"
        host = lock.read_text().split()[0]  # the holder's record: "<host> <pid>"
        assert line == (f"{RUN}{directory}: in use by another run (host {host}, pid "
                        f"{holder.pid}); wait for it or choose another out_root")
        assert _files(runs, results) == {**before, lock: lock.read_bytes()}
    finally:
        holder.communicate("", timeout=60)
    assert _files(runs, results) == before


def test_command_line_result_cannot_be_written(copy_of, monkeypatch, capsys):
    runs, results = copy_of
    path = ex.result_path("vmf", 2, 0, TINY, results)
    path.unlink()
    path.mkdir()  # the result's name is taken by a directory
    before = _files(runs, results)
    line = _main_fails(runs, results, monkeypatch, capsys)
    assert line.startswith(f"{RUN}[Errno 21] Is a directory: ") and str(path) in line
    assert _files(runs, results) == before  # no temporary file left
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_command_line_bug_is_a_traceback(copy_of, monkeypatch):
    """An unexpected error (a bug) is not dressed up as a one-line failure of the run."""
    runs, results = copy_of
    ex.result_path("vmf", 2, 0, TINY, results).unlink()
    monkeypatch.setitem(ex.PROFILES, "tiny", TINY)

    def bug(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(ex_runs, "_evaluate_run", bug)
    with pytest.raises(KeyError, match="a bug"):
        ex.main(["--profile", "tiny", "--latents", "vmf", "--device", "cpu",
                 "--out-root", str(runs), "--results-root", str(results)])
    assert not (runs / "tiny" / "vmf-d2-s0" / ".lock").exists()  # released all the same


def test_a_profile_of_source_auto_warns_when_it_falls_back_to_the_subset(monkeypatch):
    auto = dataclasses.replace(TINY, name="tiny-auto", source="auto")
    real = ex_runs.load_mnist
    monkeypatch.setattr(ex_runs, "load_mnist",
                        lambda split, source: real(split=split, source="mnist-5k-subset"))
    with pytest.warns(UserWarning, match=r"^profile 'tiny-auto': full MNIST not found"):
        ex_runs._load_splits(auto)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ex_runs._load_splits(TINY)  # an explicit subset: no warning
