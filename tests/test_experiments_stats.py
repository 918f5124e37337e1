"""Tests of hvae.experiments' statistics over seeds, the paper's numbers and the reports,
and of the committed results of the full profile (data/results/full/) that the chapters read."""

import json
import math
import subprocess
from pathlib import Path

import pytest

from hvae import experiments as ex

REPO = Path(__file__).resolve().parent.parent
STORED = REPO / "data" / "results"


def _fake(latent, dim, seed, **metrics):
    return {"latent": latent, "dim": dim, "seed": seed, "metrics": metrics}


def test_summarize_runs_mean_and_std_over_seeds():
    results = [
        _fake("vmf", 5, 1, LL=-100.0, KL=10.0, knn_100=0.5),
        _fake("normal", 2, 0, LL=-130.0, KL=7.0),
        _fake("vmf", 5, 0, LL=-104.0, KL=12.0, knn_100=0.7),
        _fake("vmf", 5, 2, LL=-102.0, KL=14.0, knn_100=0.6),
    ]
    summary = ex.summarize_runs(results)
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
    assert ex.summarize_runs([]) == {}


def test_model_gap_is_the_difference_of_means_with_welch_standard_error():
    results = [
        _fake("vmf", 5, 0, LL=-100.0), _fake("vmf", 5, 1, LL=-104.0),  # mean -102, var 8
        _fake("normal", 5, 0, LL=-110.0), _fake("normal", 5, 1, LL=-111.0),
        _fake("normal", 5, 2, LL=-106.0),  # mean -109, var 7
        _fake("vmf", 2, 0, LL=-140.0), _fake("normal", 2, 0, LL=-145.0),  # one seed each
        _fake("normal", 10, 0, LL=-95.0),  # no S-VAE at d = 10: no gap
    ]
    gaps = ex.model_gap(ex.summarize_runs(results))
    assert list(gaps) == [2, 5]
    assert gaps[5]["diff"] == pytest.approx(7.0)
    assert gaps[5]["se"] == pytest.approx(math.sqrt(8 / 2 + 7 / 3))
    assert (gaps[5]["n_vmf"], gaps[5]["n_normal"]) == (2, 3)
    assert gaps[2]["diff"] == pytest.approx(5.0) and math.isnan(gaps[2]["se"])
    assert ex.model_gap(ex.summarize_runs(results), metric="knn_100") == {}
    # 7 > 2 SE (2.5): the S-VAE is ahead; one seed: no call
    assert gaps[5]["ahead"] == "S-VAE" and gaps[2]["ahead"] is None
    assert ex.model_gap(ex.summarize_runs(results), n_se=3.0)[5]["ahead"] == "level"


def test_gradient_gap_compares_the_s_vae_across_the_two_gradients():
    implicit = [_fake("vmf", 5, 0, LL=-100.0), _fake("vmf", 5, 1, LL=-104.0),  # -102, var 8
                _fake("vmf", 2, 0, LL=-130.0), _fake("vmf", 2, 1, LL=-131.0),  # -130.5, 0.5
                _fake("normal", 5, 0, LL=-90.0),  # not an S-VAE: ignored
                _fake("vmf", 10, 0, LL=-95.0)]  # no proposal run at d = 10
    proposal = [_fake("vmf", 5, 0, LL=-101.0), _fake("vmf", 5, 1, LL=-105.0),  # -103, var 8
                _fake("vmf", 5, 2, LL=-103.0),
                _fake("vmf", 2, 0, LL=-135.0), _fake("vmf", 2, 1, LL=-136.0)]  # -135.5, 0.5
    gaps = ex.gradient_gap(ex.summarize_runs(implicit), ex.summarize_runs(proposal))
    assert list(gaps) == [2, 5]
    assert gaps[5]["diff"] == pytest.approx(1.0)
    assert gaps[5]["se"] == pytest.approx(math.sqrt(8 / 2 + 4 / 3))  # proposal: std 2, var 4
    assert gaps[5]["ahead"] == "level" and (gaps[5]["n_implicit"], gaps[5]["n_proposal"]) == (2, 3)
    assert gaps[2]["diff"] == pytest.approx(5.0) and gaps[2]["se"] == pytest.approx(0.5**0.5)
    assert gaps[2]["ahead"] == "implicit"
    flipped = ex.gradient_gap(ex.summarize_runs(proposal), ex.summarize_runs(implicit))
    assert flipped[2]["ahead"] == "proposal" and flipped[2]["diff"] == pytest.approx(-5.0)


def _gap(diff, se):
    ahead = "S-VAE" if diff > 2 * se else "N-VAE" if diff < -2 * se else "level"
    return {"diff": diff, "se": se, "ahead": ahead}


def test_headline_verdict_is_built_from_the_calls_at_two_standard_errors():
    clear = {2: _gap(3.0, 1.0), 5: _gap(2.0, 0.5), 10: _gap(1.0, 0.2), 40: _gap(-2.0, 0.4)}
    assert ex.headline_verdict(clear) == (
        "holds on these runs, every difference beyond two standard errors (d = 2: S ahead; "
        "d = 5: S ahead; d = 10: S ahead; d = 40: N ahead)")
    # a +0.0 +- 0.2 is no sign: right signs within 2 SE are inconclusive, not "holds in sign"
    mixed = {**clear, 5: _gap(0.7, 0.6), 10: _gap(0.01, 0.2)}
    assert ex.headline_verdict(mixed) == (
        "is not borne out on these runs: inconclusive at two standard errors at d = 5, 10 "
        "(d = 2: S ahead; d = 5: inconclusive; d = 10: inconclusive; d = 40: N ahead)")
    # a wrong sign within 2 SE is inconclusive too; beyond 2 SE it contradicts
    assert ex.headline_verdict({**clear, 40: _gap(0.5, 0.4)}).startswith(
        "is not borne out on these runs: inconclusive at two standard errors at d = 40 (")
    assert ex.headline_verdict({**clear, 2: _gap(-3.0, 1.0), 5: _gap(0.1, 1.0)}) == (
        "is contradicted on these runs at d = 2 (d = 2: N ahead; d = 5: inconclusive; "
        "d = 10: S ahead; d = 40: N ahead)")
    single = {**clear, 10: {"diff": 1.0, "se": float("nan"), "ahead": None}}
    assert "d = 10: inconclusive" in ex.headline_verdict(single)
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


# ------------------------------------------------------------------------------ reports


def _stored_run(latent, dim, seed, commit="a" * 40, dirty=False, source="mnist", n_train=55000,
                date="2026-01-02T03:04:05+00:00", device="cuda (NVIDIA H200)"):
    data = {"source": source, "n_train": n_train, "n_validation": 5000, "n_test": 10000}
    return {**_fake(latent, dim, seed, LL=-100.0),
            "provenance": {"git_commit": commit, "git_dirty": dirty, "date_utc": date,
                           "device": device, "data": data}}


def test_describe_stored_without_runs_says_how_to_make_them():
    assert ex.describe_stored([]) == [
        "No stored results of the full profile in data/results/full/: `make reproduce` "
        "(python -m hvae.experiments --profile full --device cuda) has not written any yet, "
        "so there is nothing to compare with the paper here."]
    assert "of the quick profile in out/quick/" in ex.describe_stored([], "out", ex.QUICK)[0]


def test_describe_stored_lists_commits_dates_devices_and_data():
    stored = [
        _stored_run("vmf", 2, 0, date="2026-01-02T03:04:05+00:00"),
        _stored_run("vmf", 2, 1, commit="b" * 40, dirty=True, date="2026-01-01T00:00:00+00:00",
                    device="cpu (x86_64, 1 threads)"),
        _stored_run("normal", 2, 0, source="mnist-5k-subset", n_train=3500),
    ]
    assert ex.describe_stored(stored, Path("data") / "results") == [
        "STORED RESULTS OF THE FULL PROFILE (3 runs in data/results/full/; not recomputed by "
        "this page)",
        "  git commit(s): aaaaaaaaaa (whether hvae/ changed since: unknown to git here), "
        "bbbbbbbbbb (uncommitted changes) (whether hvae/ changed since: unknown to git here)",
        "  dates (UTC):   2026-01-01T00:00:00+00:00 .. 2026-01-02T03:04:05+00:00",
        "  device(s):     cpu (x86_64, 1 threads); cuda (NVIDIA H200)",
        "  data:          mnist, 55000 train / 5000 validation / 10000 test digits",
        "  data:          mnist-5k-subset, 3500 train / 5000 validation / 10000 test digits"
        "  <- NOT full MNIST: not comparable with the paper",
        "",
    ]


def test_code_changed_since_compares_the_commit_with_the_checked_out_tree(tmp_path):
    def git(*args):
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    (tmp_path / "hvae").mkdir()
    (tmp_path / "hvae" / "a.py").write_text("x = 1\n")
    (tmp_path / "README").write_text("r\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    first = git("rev-parse", "HEAD")
    assert ex.code_changed_since(first, root=tmp_path) is False
    (tmp_path / "README").write_text("changed\n")  # outside hvae/: not a code change
    assert ex.code_changed_since(first, root=tmp_path) is False
    (tmp_path / "hvae" / "a.py").write_text("x = 2\n")  # uncommitted, inside hvae/
    assert ex.code_changed_since(first, root=tmp_path) is True
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "two")
    assert ex.code_changed_since(first, root=tmp_path) is True
    assert ex.code_changed_since(git("rev-parse", "HEAD"), root=tmp_path) is False
    assert ex.code_changed_since("f" * 40, root=tmp_path) is None


def test_provenance_records_the_environment():
    record = ex.environment_record("cpu")
    assert list(record) == ["git_commit", "git_dirty", "date_utc", "device", "torch_version",
                            "python_version", "hvae_version"]
    assert record["device"] == ex.device_description("cpu")
    assert record["device"].startswith("cpu (") and record["device"].endswith(" threads)")
    commit, dirty = ex.git_state()
    assert commit == "unknown" or (len(commit) == 40 and dirty in (True, False, None))


# ------------------------------------------------------------------------------ committed results

RESULT_KEYS = ["schema", "experiment", "latent", "model", "dim", "dim_convention", "code_dim",
               "seed", "profile", "metrics", "sem", "iw_samples", "knn_k", "training",
               "provenance"]
TRAINING_KEYS = ["epochs_run", "best_epoch", "best_val_elbo", "stopped_early", "resumed",
                 "train_time_s"]
PROVENANCE_KEYS = ["git_commit", "git_dirty", "date_utc", "device", "torch_version",
                   "python_version", "hvae_version", "profile", "profile_params", "data",
                   "wall_time_s", "run_dir"]


def test_committed_full_results_load_with_the_result_schema():
    stored = ex.load_results("full", STORED)
    files = sorted((STORED / "full").glob("mnist-*.json"))
    every = [json.loads(f.read_text()) for f in files]  # with Table 3's M1 runs at d = 50
    assert len(stored) == sum(r["dim"] in ex.FULL.dims for r in every) > 0
    for r in every:
        assert list(r) == RESULT_KEYS and r["schema"] == 1
        assert list(r["training"]) == TRAINING_KEYS
        assert list(r["provenance"]) == PROVENANCE_KEYS
        assert r["provenance"]["profile_params"] == ex.FULL.params()
        assert r["dim_convention"] == ex.DIM_CONVENTION
        assert r["code_dim"] == r["dim"] + (r["latent"] == "vmf")
    summary = ex.summarize_runs(stored)
    assert sum(entry["n_runs"] for entry in summary.values()) == len(stored)
    for (latent, dim), entry in summary.items():
        runs = [r for r in stored if (r["latent"], r["dim"]) == (latent, dim)]
        ll = [r["metrics"]["LL"] for r in runs]
        assert entry["LL"]["mean"] == pytest.approx(sum(ll) / len(ll), rel=1e-12)
        assert entry["seeds"] == sorted(r["seed"] for r in runs)


def test_public_names_of_the_submodules_are_re_exported():
    from hvae.experiments import (
        cli,
        paper,
        profiles,
        provenance,
        report,
        runs,
        semisupervised,
        stats,
    )

    for module in (cli, paper, profiles, provenance, report, runs, semisupervised, stats):
        assert set(module.__all__) <= set(ex.__all__), module.__name__
        assert all(getattr(ex, name) is getattr(module, name) for name in module.__all__)


def test_paper_table3_matches_the_reference():
    t3 = ex.paper_table3()
    assert set(t3) == {(z1, z2) for z1 in (5, 10, 50) for z2 in (5, 10, 50)}
    assert t3[(5, 5)] == {"N+N": 90.0, "S+S": 94.0, "S+N": 93.8}
    assert t3[(10, 10)] == {"N+N": 92.2, "S+S": 96.0, "S+N": 95.9}
    assert t3[(50, 50)] == {"N+N": 93.2, "S+S": 94.2, "S+N": 97.4}
    assert t3[(50, 5)]["S+S"] == 91.7 and t3[(10, 50)]["N+N"] == 92.9
    assert (5, 5, "S+S") in ex.PAPER_TABLE3_SIGNIFICANT
    assert {(10, 10, "S+S"), (10, 10, "S+N")} <= ex.PAPER_TABLE3_SIGNIFICANT
    assert (5, 5, "S+N") not in ex.PAPER_TABLE3_SIGNIFICANT
    assert len(ex.PAPER_TABLE3_SIGNIFICANT) == 10


def _m2(pair, z1, z2, seed, acc):
    return {"pair": pair, "z1_dim": z1, "z2_dim": z2, "seed": seed,
            "metrics": {"accuracy": acc}}


def test_table3_summary_gaps_and_verdict_from_hand_computed_numbers():
    runs = [_m2("S+N", 5, 5, s, a) for s, a in enumerate((0.90, 0.92, 0.94))]
    runs += [_m2("N+N", 5, 5, s, a) for s, a in enumerate((0.80, 0.81, 0.82))]
    runs += [_m2("S+S", 5, 5, s, a) for s, a in enumerate((0.89, 0.93, 0.91))]
    summary = ex.summarize_m2_runs(runs)
    assert summary[(5, 5, "S+N")]["accuracy"]["mean"] == pytest.approx(0.92)
    assert summary[(5, 5, "S+N")]["accuracy"]["std"] == pytest.approx(0.02)
    gap = ex.pair_gap(summary, "S+N", "N+N")[(5, 5)]
    # 0.12 +- sqrt(0.02^2/3 + 0.01^2/3) = 0.0129: S+N ahead beyond 2 SE
    assert gap["diff"] == pytest.approx(0.11) and gap["ahead"] == "S+N"
    assert gap["se"] == pytest.approx(math.sqrt((0.02**2 + 0.01**2) / 3))
    assert ex.pair_gap(summary, "S+N", "S+S")[(5, 5)]["ahead"] == "level"
    assert ex.table3_verdict(summary) == (
        "is not borne out on these runs (S+N ahead in 1, behind in 0, level or not estimable "
        "in 1 of 2 comparisons)")
    worse = ex.summarize_m2_runs([*runs[:6], *[_m2("S+S", 5, 5, s, 0.99 + s / 1000)
                                               for s in range(3)]])
    assert ex.table3_verdict(worse).startswith("is contradicted on these runs (S+N ahead in 1, "
                                               "behind in 1")
    assert ex.table3_verdict(ex.summarize_m2_runs(runs[3:6])).startswith("cannot be checked")
