"""Faults of run directories: one run per directory (the lock) and damaged checkpoints.

Every refusal is checked the way a user meets it: the exit status, the exact one-line message
on stderr, and the files of the run left byte for byte as they were.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from hvae import train as T
from hvae._io import LOCK_FILE, _host, read_digested, run_lock, write_digested
from hvae.cli import main

REPO = Path(__file__).resolve().parent.parent
TRAIN = ["train", "--latent", "vmf", "--dim", "1", "--dataset", "circle", "--limit", "64",
         "--quiet"]  # fmt: skip
ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
HOLD = ("import sys; from hvae._io import run_lock\n"
        "with run_lock(sys.argv[1]):\n    print('locked', flush=True)\n    sys.stdin.read()\n")


def hvae(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hvae", *args], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=120)


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def in_use(directory: Path, pid: int, advice: str = "choose another --out") -> str:
    return (f"{directory}: in use by another run (host {_host()}, pid {pid}); wait for it or "
            f"{advice}")


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished one-epoch run (not to be modified: tests copy it)."""
    out = tmp_path_factory.mktemp("runs") / "done"
    assert main([*TRAIN, "--epochs", "1", "--out", str(out)]) == 0
    return out


@pytest.fixture
def run(finished: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    out.mkdir()
    for name, data in snapshot(finished).items():
        (out / name).write_bytes(data)
    return out


class Holder:
    """Another process holding a run directory's lock until stopped or killed."""

    def __init__(self, directory: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", HOLD, str(directory)], cwd=REPO,
                                     env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        assert self.proc.stdout.readline() == "locked\n"  # it holds the lock from here on
        self.pid = self.proc.pid

    def stop(self) -> None:
        self.proc.communicate("", timeout=60)
        assert self.proc.returncode == 0

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.communicate(timeout=60)


# ------------------------------------------------------------------------------ the lock


def test_second_train_into_a_held_directory_is_refused(run: Path, tmp_path: Path) -> None:
    """A second ``hvae train`` (a child process) into a directory that a run holds: resuming
    the run, or starting a new one."""
    before, fresh = snapshot(run), tmp_path / "fresh"
    with run_lock(run), run_lock(fresh):  # this process is the first run of each
        for out, extra in ((run, ["--resume", "--epochs", "2"]), (fresh, ["--epochs", "1"])):
            result = hvae(*TRAIN, *extra, "--out", str(out))
            assert result.returncode == 1 and "Traceback" not in result.stderr
            assert result.stderr.splitlines() == [f"hvae train: error: {in_use(out, os.getpid())}"]
        assert snapshot(run) == {**before, LOCK_FILE: f"{_host()} {os.getpid()}\n".encode()}
        assert [p.name for p in fresh.iterdir()] == [LOCK_FILE]  # nothing of the second run
    assert snapshot(run) == before and not any(fresh.iterdir())  # the lock file went with it
    assert hvae(*TRAIN, "--resume", "--epochs", "2", "--out", str(run)).returncode == 0
    assert [h["epoch"] for h in json.loads((run / T.HISTORY).read_text())] == [1, 2]
    assert sorted(p.name for p in run.iterdir()) == [T.CHECKPOINT, T.CONFIG, T.HISTORY]


def test_lock_held_by_another_process_then_killed(run: Path) -> None:
    """A run killed with SIGKILL leaves its lock file, but not its lock: the next run goes."""
    before = snapshot(run)
    holder = Holder(run)
    try:
        result = hvae(*TRAIN, "--resume", "--epochs", "2", "--out", str(run))
        assert result.returncode == 1
        assert result.stderr.splitlines() == [f"hvae train: error: {in_use(run, holder.pid)}"]
        with pytest.raises(BlockingIOError, match=re.escape(in_use(run, holder.pid, "x"))):
            with run_lock(run, "x"):
                pass
    finally:
        holder.kill()
    stale = (run / LOCK_FILE).read_text()
    assert stale == f"{_host()} {holder.pid}\n"  # left behind, naming a dead process
    assert snapshot(run) == {**before, LOCK_FILE: stale.encode()}
    result = hvae(*TRAIN, "--resume", "--epochs", "2", "--out", str(run))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in run.iterdir()) == [T.CHECKPOINT, T.CONFIG, T.HISTORY]


def test_stale_lock_file_naming_a_live_process_does_not_block(tmp_path: Path) -> None:
    """Only the kernel's lock counts: a lock file naming even a live pid (ours) is no lock."""
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_FILE).write_text(f"{_host()} {os.getppid()}\n")
    result = hvae(*TRAIN, "--epochs", "1", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [T.CHECKPOINT, T.CONFIG, T.HISTORY]


def test_lock_is_released_on_exceptions_and_is_reentrant(tmp_path: Path) -> None:
    with pytest.raises(KeyError), run_lock(tmp_path):
        with run_lock(tmp_path):  # the holder may take it again (the CLI around train())
            assert (tmp_path / LOCK_FILE).is_file()
        assert (tmp_path / LOCK_FILE).is_file()  # still held by the outer block
        raise KeyError("boom")
    assert not (tmp_path / LOCK_FILE).exists()
    holder = Holder(tmp_path)  # another process can take it now
    holder.stop()
    assert not any(tmp_path.iterdir())


def test_another_thread_does_not_share_the_lock(tmp_path: Path) -> None:
    errors = []

    def second() -> None:
        try:
            with run_lock(tmp_path):
                pass
        except BlockingIOError as err:
            errors.append(str(err))

    with run_lock(tmp_path):
        thread = threading.Thread(target=second)
        thread.start()
        thread.join()
    assert errors == [in_use(tmp_path, os.getpid(), "choose another run directory")]


def test_diverged_training_releases_the_lock(tmp_path: Path) -> None:
    from hvae.data import make_circle_data
    from hvae.models import VAE

    data = make_circle_data(96, seed=0).x, make_circle_data(32, seed=1).x
    model = VAE("normal", 2, hidden=(8,), input_dim=100, likelihood="gaussian")
    with pytest.raises(T.TrainingDivergedError):
        T.train(model, *data, T.TrainConfig(epochs=2, binarize=False, lr=1e30, batch_size=16),
                tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [T.CONFIG]
    Holder(tmp_path).stop()


# ------------------------------------------------------------------------------ checkpoints


def flip_bit(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ (1 << (index % 8))]) + data[index + 1:]


DAMAGED = r"damaged \(the SHA-256 of its contents, [0-9a-f]{12}\.\.\., is not the recorded " \
          r"[0-9a-f]{12}\.\.\.: the file was corrupted or truncated\)"
RESTORE = "; retrain the run or restore the file"


def damage(run: Path, fault: str) -> str:
    """Apply ``fault`` to the run; the regex of the one-line error it must give."""
    ckpt, data = run / T.CHECKPOINT, (run / T.CHECKPOINT).read_bytes()
    where = re.escape(str(ckpt))
    if fault == "flipped bit":
        ckpt.write_bytes(flip_bit(data, len(data) // 2))
        return rf"{where}: {DAMAGED}{RESTORE}"
    if fault == "truncated":
        ckpt.write_bytes(data[: len(data) // 3])
        return rf"{where}: {DAMAGED}{RESTORE}"
    if fault == "empty":
        ckpt.write_bytes(b"")
        return rf"{where}: the file is empty{RESTORE}"
    if fault == "garbage":
        junk = b"\x00\x17garbage" + random.Random(0).randbytes(5000)
        ckpt.write_bytes(junk)
        start = re.escape(repr(junk[:12]))
        return rf"{where}: not a file of this package \(it starts with {start}\){RESTORE}"
    assert fault == "other latent size"
    config = json.loads((run / T.CONFIG).read_text())
    config["model"]["manifold_dim"] = 3
    (run / T.CONFIG).write_text(json.dumps(config))
    return (rf"{re.escape(str(run / T.CONFIG))}: describes another model than checkpoint\.pt "
            r"\(manifold_dim: 3 in config\.json, 1 in checkpoint\.pt\); restore it or retrain "
            r"the run")


FAULTS = ["flipped bit", "truncated", "empty", "garbage", "other latent size"]


@pytest.mark.parametrize("fault", FAULTS)
def test_damaged_checkpoint_is_refused_everywhere(run: Path, fault: str, capsys) -> None:
    pattern = damage(run, fault)
    before = snapshot(run)
    with pytest.raises(T.CheckpointError, match=f"^{pattern}$"):
        T.load_model(run)
    capsys.readouterr()
    for argv in (["evaluate", str(run), "--iw-samples", "2"],
                 [*TRAIN, "--resume", "--epochs", "2", "--out", str(run)]):
        assert main(argv) == 1
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and re.fullmatch(f"hvae {argv[0]}: error: {pattern}", err[0]), err
        assert snapshot(run) == before  # nothing written, nothing replaced, no temporary left


def test_damaged_checkpoint_from_a_child_process_is_one_line(run: Path) -> None:
    pattern = damage(run, "flipped bit")
    result = hvae("evaluate", str(run), "--iw-samples", "2")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert re.fullmatch(f"hvae evaluate: error: {pattern}", result.stderr.strip())


def test_no_single_bit_flip_is_accepted(finished: Path, tmp_path: Path) -> None:
    """Bits spread over the whole file, header included: each flip is refused."""
    data = (finished / T.CHECKPOINT).read_bytes()
    path = tmp_path / T.CHECKPOINT
    header = data.index(b"\n") + 1  # every byte of the header, and bytes all over the rest
    for index in [*range(header + 2), *range(header, len(data), len(data) // 400)]:
        path.write_bytes(flip_bit(data, index))
        with pytest.raises(ValueError, match=r"damaged|not a file of this package"):
            read_digested(path, legacy_magic=b"PK\x03\x04")


def test_weights_that_do_not_fit_their_config(run: Path, capsys) -> None:
    """A checkpoint whose recorded model is not the one its weights belong to (digest intact)."""
    ckpt, config = T.load_checkpoint(run), json.loads((run / T.CONFIG).read_text())
    ckpt["config"]["model"]["manifold_dim"] = config["model"]["manifold_dim"] = 4
    (run / T.CONFIG).write_text(json.dumps(config))
    write_digested(run / T.CHECKPOINT, _saved(ckpt))
    message = (rf"{re.escape(str(run / T.CHECKPOINT))}: the weights do not fit the model of its "
               r"config \(Error\(s\) in loading state_dict for VAE: .*size mismatch.*\)")
    with pytest.raises(T.CheckpointError, match=f"^{message}$"):
        T.load_model(run)
    assert main(["evaluate", str(run), "--iw-samples", "2"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and re.fullmatch(f"hvae evaluate: error: {message}", err[0])


def test_checkpoints_from_before_the_digest_still_load(finished: Path, run: Path) -> None:
    """A bare torch.save archive (the format before the header) loads unchecked, evaluates,
    resumes, and comes out of the resume with a digest."""
    payload, checked = read_digested(run / T.CHECKPOINT)
    assert checked and payload.startswith(b"PK\x03\x04")
    (run / T.CHECKPOINT).write_bytes(payload)  # the legacy file
    legacy, current = T.load_model(run), T.load_model(finished)
    for a, b in zip(legacy.state_dict().values(), current.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert hvae("evaluate", str(run), "--iw-samples", "2").returncode == 0
    assert hvae(*TRAIN, "--resume", "--epochs", "2", "--out", str(run)).returncode == 0
    assert read_digested(run / T.CHECKPOINT)[1]  # rewritten with its digest
    (run / T.CHECKPOINT).write_bytes(payload[: len(payload) // 2])  # a damaged legacy file
    with pytest.raises(T.CheckpointError, match=r": not a readable checkpoint \(.+\)$"):
        T.load_model(run)


def test_checkpoint_of_another_kind_is_refused(run: Path) -> None:
    write_digested(run / T.CHECKPOINT, _saved({"weights": torch.zeros(3)}))
    with pytest.raises(T.CheckpointError, match="not a checkpoint of hvae.train"):
        T.load_checkpoint(run)


def _saved(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()
