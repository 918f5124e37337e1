"""File writes and run directories: atomic writes, self-checking files, one run per directory.

**Atomic writes.** A reader never sees a half-written download, checkpoint or result file. A
temporary file is named ``.<target>.<host>~<pid>.<random>.part`` (hidden, next to its target):
the writer's host and process id are in the name so that :func:`remove_stale_parts` can tell
the leftover of a killed writer (SIGKILL skips the clean-up) from a live write.

**Self-checking files** (:func:`write_digested`, :func:`read_digested`): a one-line header
``hvae-sha256:<64 hex digits>`` followed by the payload, whose SHA-256 the header records. The
digest lives in the file it checks, written in the same atomic write, so no crash between two
writes can leave a file whose digest is elsewhere and stale (refused for ever) or missing
(accepted unchecked). A flipped bit, a truncation or an empty file is refused on reading.

**Run-directory lock** (:func:`run_lock`): an exclusive, non-blocking ``flock`` on
``<run dir>/.lock``, so that two runs never write into one directory. The lock is the kernel's
and dies with its process; the file only names the holder (host and pid, for the error
message) and is removed when the run ends. A killed run leaves the file behind, unlocked: the
next run takes it over, so a stale file never blocks.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows: no flock; run_lock then does not lock (see its docstring)
    fcntl = None

#: Default age after which a ``.part`` file is removed whatever its writer (a day: no write of
#: this project takes that long, and a writer on another host cannot be asked if it is alive).
STALE_PART_AGE_S = 24 * 3600.0

_PART = re.compile(
    r"^\.(?P<target>.+)\.(?P<host>[A-Za-z0-9-]*)~(?P<pid>\d+)\.[A-Za-z0-9_]+\.part$"
)


def _host() -> str:
    """This machine's name reduced to ``[A-Za-z0-9-]`` (it goes into file names)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@contextlib.contextmanager
def atomic_output(path: Path, mode: str = "wb") -> Iterator[IO]:
    """Yield a file handle on a temporary file next to ``path``.

    On normal exit the temporary file is flushed, fsynced and renamed onto ``path`` with
    :func:`os.replace` (atomic on POSIX and Windows); on any exception it is deleted, so a
    failed write never leaves a partial ``path`` behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.{_host()}~{os.getpid()}."
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; give the usual permissions of a data file
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    """``obj`` as indented JSON with a final newline, written atomically."""
    with atomic_output(path, mode="w") as fh:
        fh.write(json.dumps(obj, indent=2) + "\n")


def remove_stale_parts(directory: Path, max_age_s: float = STALE_PART_AGE_S,
                       target: str | None = None) -> list[Path]:
    """Delete the temporary files :func:`atomic_output` left in ``directory`` when killed.

    A ``.part`` file of this project's naming is removed when its writer was a process of this
    host that no longer exists, or when it is older than ``max_age_s`` seconds (a writer on
    another host, or a name without host and pid). Other files are never touched; with
    ``target``, only the leftovers of that file name. Returns the paths removed.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed, now, host = [], time.time(), _host()
    for entry in directory.iterdir():
        match = _PART.match(entry.name)
        if (match is None or (target is not None and match["target"] != target)
                or not entry.is_file() or entry.is_symlink()):
            continue
        try:
            old = now - entry.stat().st_mtime > max_age_s
        except FileNotFoundError:
            continue
        dead = (match["host"] == host and int(match["pid"]) != os.getpid()
                and not _pid_alive(int(match["pid"])))
        if old or dead:
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


# --------------------------------------------------------------------------------------------
# Self-checking files
# --------------------------------------------------------------------------------------------

_DIGEST_HEADER = b"hvae-sha256:"
_HEADER_LEN = len(_DIGEST_HEADER) + 64 + 1  # the prefix, the hex digest, a newline


def write_digested(path: Path, payload: bytes) -> str:
    """Write ``payload`` behind a header recording its SHA-256, atomically; return the digest."""
    digest = hashlib.sha256(payload).hexdigest()
    with atomic_output(path) as fh:
        fh.write(_DIGEST_HEADER + digest.encode("ascii") + b"\n")
        fh.write(payload)
    return digest


def read_digested(path: Path, legacy_magic: bytes | None = None) -> tuple[bytes, bool]:
    """The payload of a file :func:`write_digested` wrote, checked against its digest.

    Returns ``(payload, True)``; a file that starts with ``legacy_magic`` instead of a header
    (written before digests were recorded) is returned whole as ``(contents, False)``.

    Raises:
        ValueError: one line naming ``path``: the file is empty, its header is damaged, its
            contents do not match the digest (corrupted or truncated), or it is neither format.
    """
    data = Path(path).read_bytes()
    if not data:
        raise ValueError(f"{path}: the file is empty")
    if legacy_magic is not None and data.startswith(legacy_magic):
        return data, False
    if not data.startswith(_DIGEST_HEADER):
        raise ValueError(f"{path}: not a file of this package (it starts with {data[:12]!r})")
    recorded = data[len(_DIGEST_HEADER):_HEADER_LEN - 1].decode("ascii", "replace")
    if data[_HEADER_LEN - 1:_HEADER_LEN] != b"\n" or not re.fullmatch(r"[0-9a-f]{64}", recorded):
        raise ValueError(f"{path}: damaged (its SHA-256 header is unreadable)")
    payload = data[_HEADER_LEN:]
    actual = hashlib.sha256(payload).hexdigest()
    if actual != recorded:
        raise ValueError(
            f"{path}: damaged (the SHA-256 of its contents, {actual[:12]}..., is not the "
            f"recorded {recorded[:12]}...: the file was corrupted or truncated)"
        )
    return payload, True


# --------------------------------------------------------------------------------------------
# Run-directory lock
# --------------------------------------------------------------------------------------------

#: The lock file of a run directory (hidden; present only while a run holds it, or left by a
#: killed run, when it holds no lock).
LOCK_FILE = ".lock"

# (directory, pid, thread) -> depth: the holder may take its lock again (the command lines hold
# it around train(), which takes it too); another thread or a forked child may not.
_HELD: dict[tuple[str, int, int], int] = {}


def _holder(fd: int) -> str:
    """``"host h, pid p"`` as the holder recorded it in its lock file."""
    os.lseek(fd, 0, os.SEEK_SET)
    words = os.read(fd, 400).decode("utf-8", "replace").split()
    if len(words) == 2 and words[1].isdigit():
        return f"host {words[0]}, pid {words[1]}"
    return "holder not recorded yet"  # it has the lock but has not written its name yet


def _acquire(path: Path, advice: str) -> int:
    """A descriptor of ``path`` holding its flock, with this process recorded in the file."""
    for _ in range(1000):  # only ever retried while other runs release the lock meanwhile
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise BlockingIOError(
                f"{path.parent}: in use by another run ({holder}); wait for it or {advice}"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:  # a releasing holder may have removed the file between our open and our flock
            current = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            current = False
        if current:
            os.ftruncate(fd, 0)
            os.write(fd, f"{_host()} {os.getpid()}\n".encode())
            return fd
        os.close(fd)
    raise BlockingIOError(f"{path.parent}: could not be locked; {advice}")


def _release(path: Path, fd: int) -> None:
    """Remove the lock file, then unlock: a run that opened the file meanwhile sees that it was
    removed once it gets the lock, and takes a new one."""
    try:
        if os.path.samestat(os.fstat(fd), os.stat(path)):
            path.unlink()
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)  # closing the only descriptor releases the flock


@contextlib.contextmanager
def run_lock(directory: str | os.PathLike[str],
             advice: str = "choose another run directory") -> Iterator[Path]:
    """Hold the exclusive lock of a run directory (created) for the body of the ``with``.

    Non-blocking: when another live run holds it, :class:`BlockingIOError` says
    ``"DIR: in use by another run (host H, pid P); wait for it or ADVICE"`` at once. Re-entrant
    in the thread that holds it. Released on normal exit and on exceptions (and by the kernel
    when the process dies, however it dies). Without ``fcntl`` (Windows) nothing is locked.
    Yields the directory.
    """
    directory = Path(directory)
    key = (os.path.realpath(directory), os.getpid(), threading.get_ident())
    directory.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield directory
        return
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield directory
        finally:
            _HELD[key] -= 1
        return
    path = directory / LOCK_FILE
    fd = _acquire(path, advice)
    _HELD[key] = 1
    try:
        yield directory
    finally:
        del _HELD[key]
        _release(path, fd)
