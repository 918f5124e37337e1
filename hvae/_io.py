"""Atomic file writes: a reader never sees a half-written download, checkpoint or result file."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_output(path: Path, mode: str = "wb") -> Iterator[IO]:
    """Yield a file handle on a temporary file next to ``path``.

    On normal exit the temporary file is flushed, fsynced and renamed onto ``path`` with
    :func:`os.replace` (atomic on POSIX and Windows); on any exception it is deleted, so a
    failed write never leaves a partial ``path`` behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
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
