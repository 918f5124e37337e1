"""The log of chapter executions behind the book's reproducibility page.

``tools/execute_notebooks.py`` (papermill: ``make book``, ``make reproduce``) and the
``nbval_capture`` plugin of ``tools/run_nbval.py`` (nbval: ``make book-check``) record one entry
per chapter they executed into ``_build/executions.json`` (``HVAE_EXECUTION_LOG`` names another
file): which notebook, by which tool, written where, in which profile, at which commit (and
whether the work tree had uncommitted changes), when (UTC), for how long, and whether it ran
through (else the failing cell, counted from 1 over all cells as in the file, and its error).
``tools/reproducibility_page.py`` turns the log into the page.

The log lives outside the notebooks on purpose: they are committed and compared by nbval, and
``strip_metadata.py`` removes every time stamp from them. Recording replaces the entry of the
same run (tool, notebook, output folder) and keeps the others, so the log holds the latest run
of each; the file is rewritten atomically (a temporary file, then ``os.replace``).
"""

import contextlib
import fcntl
import json
import os
import re
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LOG = ROOT / "_build" / "executions.json"
LOG_ENV = "HVAE_EXECUTION_LOG"
VERSION = 1


def log_path() -> Path:
    """``$HVAE_EXECUTION_LOG`` if set, else ``_build/executions.json``."""
    return Path(os.environ[LOG_ENV]) if os.environ.get(LOG_ENV) else DEFAULT_LOG


def git_commit(root: Path = ROOT) -> dict:
    """``{"commit": short hash or None, "dirty": bool or None}`` of the work tree at ``root``
    (dirty: tracked files differ from the commit; untracked files do not count)."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                  timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "--short", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def utc_now() -> str:
    """The present moment, UTC, ISO 8601 to the second (``2026-01-02T03:04:05+00:00``)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def notebook_profile(nb: nbformat.NotebookNode) -> str | None:
    """The profile a notebook sets in its ``parameters`` cell (``profile = "quick"``), or None."""
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            match = re.search(r"""^profile\s*=\s*["']([^"']+)["']""", cell.source, re.MULTILINE)
            return match.group(1) if match else None
    return None


def run_key(tool: str, notebook: str, output: str | None = None) -> str:
    """The key of a run in the log: one entry per tool, notebook and output folder."""
    return f"{tool}:{notebook}" + (f"->{output}" if output else "")


def entry(*, notebook: str, tool: str, profile: str | None, started: str, duration_s: float,
          failed_cell: int | None = None, error: str | None = None, output: str | None = None,
          commit: dict | None = None) -> dict:
    """One execution of one chapter, as the log stores it."""
    commit = git_commit() if commit is None else commit
    return {"notebook": notebook, "tool": tool, "output": output, "profile": profile,
            "commit": commit["commit"], "dirty": commit["dirty"], "started": started,
            "duration_s": round(duration_s, 1), "passed": failed_cell is None and error is None,
            "failed_cell": failed_cell, "error": error}


def read(path: Path | None = None) -> dict[str, dict]:
    """The runs of the log (key -> entry); empty when there is no log or it cannot be read."""
    path = log_path() if path is None else path
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    runs = data.get("runs") if isinstance(data, dict) else None
    return runs if isinstance(runs, dict) else {}


@contextlib.contextmanager
def _locked(path: Path):
    """Serialises the read-modify-write of two tools recording at the same time."""
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and
    ``os.replace``: a reader sees the old file or the new one, never a partial one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def record(*entries: dict, path: Path | None = None) -> Path:
    """Merge ``entries`` into the log: each replaces the entry of the same run, the others
    stay. Returns the log's path."""
    path = log_path() if path is None else path
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        runs = read(path)
        for e in entries:
            runs[run_key(e["tool"], e["notebook"], e.get("output"))] = e
        write_atomic(path, json.dumps({"version": VERSION, "runs": runs}, indent=1,
                                      sort_keys=True) + "\n")
    return path
