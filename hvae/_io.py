"""Atomic file writes: a reader never sees a half-written download, checkpoint or result file.

A temporary file is named ``.<target>.<host>~<pid>.<random>.part`` (hidden, next to its
target): the writer's host and process id are in the name so that :func:`remove_stale_parts`
can tell the leftover of a killed writer (SIGKILL skips the clean-up) from a live write.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

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
