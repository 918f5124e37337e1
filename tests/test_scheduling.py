"""Experiment grids on Dask (hvae.experiments.scheduling), on loopback only: a LocalCluster of
two processes gives the serial runner's results run for run; a worker killed mid-run loses
nothing but its own run, which a second call completes; a complete grid submits nothing; a
failed run is reported while the others go on; bad scheduler arguments and an unreachable
scheduler are one-line errors."""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
import torch

import hvae.experiments as ex
from hvae.experiments import Job, parse_scheduler, run_grid

#: Tiny MNIST runs: the 5k subset, 2 epochs, a small MLP, 5 importance samples.
TINY = ex.Profile(name="tiny", dims=(2, 3), seeds=(0,), epochs=2, warmup_epochs=1.0,
                  patience=None, iw_samples=5, knn_labels=(100,), hidden=(32, 16),
                  source="mnist-5k-subset")
#: Volatile provenance: when and where a run happened, not what it computed.
VOLATILE = {"date_utc", "wall_time_s", "run_dir", "device"}


def grid(root: Path, profile: ex.Profile = TINY) -> list[Job]:
    out, res = root / "runs", root / "results"
    return [Job(f"{latent} d={d}",
                ex.job_finished(ex.result_path(latent, d, 0, profile, res),
                                ex.run_dir(latent, d, 0, profile, out)),
                functools.partial(ex.run_mnist, latent, d, 0, profile, out_root=out,
                                  results_root=res, device="cpu"))
            for latent in ("normal", "vmf") for d in profile.dims]


def stored(root: Path, profile: ex.Profile = TINY) -> dict[str, dict]:
    folder = root / "results" / profile.name
    return {p.name: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def comparable(result: dict) -> dict:
    result = json.loads(json.dumps(result))
    for key in VOLATILE:
        result["provenance"].pop(key, None)
    result["training"].pop("train_time_s", None)
    return result


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> dict[str, dict]:
    """The tiny grid run in this process with one torch thread, as a worker runs it."""
    root = tmp_path_factory.mktemp("serial")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        report = run_grid(grid(root), parse_scheduler("none"), "tiny")
    finally:
        torch.set_num_threads(threads)
    assert report.failed == []
    return stored(root)


def test_local_cluster_matches_serial_run_for_run(serial, tmp_path):
    report = run_grid(grid(tmp_path), parse_scheduler("local:2"), "tiny")
    assert (report.total, report.submitted, report.failed) == (4, 4, [])
    ours = stored(tmp_path)
    assert set(ours) == set(serial) and len(ours) == 4
    for name, result in ours.items():
        assert result["metrics"] == serial[name]["metrics"], name  # to the last bit
        assert comparable(result) == comparable(serial[name]), name
    again = run_grid(grid(tmp_path), parse_scheduler("local:2"), "tiny")
    assert (again.submitted, again.failed) == (0, [])  # complete: nothing submitted
    assert {n: r["provenance"]["date_utc"] for n, r in stored(tmp_path).items()} == {
        n: r["provenance"]["date_utc"] for n, r in ours.items()}


def test_killed_worker_loses_only_its_run(serial, tmp_path):
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        pids = list(client.run(os.getpid).values())
        outcome = {}
        thread = threading.Thread(target=lambda: outcome.update(report=run_grid(
            grid(tmp_path), parse_scheduler(cluster.scheduler_address), "tiny")))
        thread.start()
        deadline = time.monotonic() + 120
        while not list((tmp_path / "runs").rglob("checkpoint.pt")):  # a run is under way
            assert time.monotonic() < deadline, "no run started"
            time.sleep(0.05)
        os.kill(pids[0], signal.SIGKILL)
        thread.join(timeout=300)
        assert not thread.is_alive()
    for name, result in stored(tmp_path).items():  # whatever landed is whole and right
        assert result["metrics"] == serial[name]["metrics"], name
    second = run_grid(grid(tmp_path), parse_scheduler("local:2"), "tiny")
    assert second.failed == []
    final = stored(tmp_path)
    assert set(final) == set(serial)
    assert all(final[n]["metrics"] == serial[n]["metrics"] for n in final)


def test_failed_run_is_reported_the_others_go_on_and_order_is_kept(tmp_path, capsys):
    jobs = grid(tmp_path)
    marker = tmp_path / "results" / "tiny" / "mnist-normal-d2-s0.json"
    # the reader needs the first job's result: it fails unless Dask runs it after that job
    reader = Job("reader", False, functools.partial(Path.read_text, marker),
                 after=(jobs[0].label,))
    broken = Job("broken run", False, functools.partial(int, "not a number"))
    report = run_grid([broken, jobs[0], reader, *jobs[1:]], parse_scheduler("local:2"), "tiny")
    assert report.failed == [("broken run", "invalid literal for int() with base 10: "
                                            "'not a number'")]
    assert len(stored(tmp_path)) == 4
    assert "hvae.experiments: error: broken run (profile 'tiny'): invalid literal" in (
        capsys.readouterr().err)


@pytest.mark.parametrize("spec", ["local:0", "local:-1", "local:x", "local:", "cluster",
                                  "tcp://host", "127.0.0.1:8786", "tcp://host:0",
                                  "tcp://host:70000", "http://host:8786"])
def test_bad_scheduler_arguments(spec, tmp_path, capsys):
    with pytest.raises(ValueError, match="^--scheduler: "):
        parse_scheduler(spec)
    code = ex.main(["--profile", "quick", "--scheduler", spec, "--allow-dirty",
                    "--results-root", str(tmp_path / "res"), "--out-root", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith("hvae.experiments: error: "
                                                             "--scheduler: ")
    assert not (tmp_path / "res").exists() and not (tmp_path / "r").exists()


def test_good_scheduler_arguments():
    assert parse_scheduler("none") == ex.Scheduler("none")
    assert parse_scheduler("local") == ex.Scheduler("local", workers=os.cpu_count())
    assert parse_scheduler("local:3") == ex.Scheduler("local", workers=3)
    assert parse_scheduler("tcp://10.0.0.5:8786").address == "tcp://10.0.0.5:8786"
    assert parse_scheduler("tls://[::1]:8786").kind == "address"


def test_unreachable_scheduler_fails_within_the_timeout(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tic = time.monotonic()
    with pytest.raises(ConnectionError, match=f"^--scheduler: no Dask scheduler answered at "
                       f"tcp://127.0.0.1:{port} within 2 s"):
        run_grid(grid(tmp_path), parse_scheduler(f"tcp://127.0.0.1:{port}"), "tiny",
                 connect_timeout=2.0)
    assert time.monotonic() - tic < 2.0 + 30  # the timeout, plus Dask's last attempt
    assert not (tmp_path / "results").exists()


def test_expected_speedup_is_the_greedy_makespan():
    assert ex.expected_speedup([1.0] * 4, 2) == pytest.approx(2.0)
    assert ex.expected_speedup([3.0, 1.0, 1.0, 1.0], 2) == pytest.approx(2.0)  # 6 / 3
    assert ex.expected_speedup([5.0, 1.0], 4) == pytest.approx(1.2)  # one long run bounds it
