"""Where a result came from: the git commit, the device and the software versions of a run.

Every stored result carries this record (``result["provenance"]``), so that a number in the
book can be traced to the code, the machine and the library versions that produced it.
"""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

import hvae

__all__ = ["code_changed_since", "device_description", "environment_record", "git_state"]


def git_state() -> tuple[str, bool | None]:
    """(commit of the repository holding this package or ``"unknown"``, whether it has changes).

    Whether it has changes is ``None`` when git cannot say; untracked files do not count.
    """
    cwd = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return "unknown", None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=30,
        )
        dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
        return commit.stdout.strip(), dirty
    except (OSError, subprocess.SubprocessError):
        return "unknown", None


def code_changed_since(commit: str, paths: tuple[str, ...] = ("hvae",),
                       root: str | Path | None = None) -> bool | None:
    """Whether ``paths`` (the package, by default) differ between ``commit`` and the checked-out
    tree (uncommitted changes included), by ``git diff --quiet``: ``False`` means a stored
    result made at ``commit`` came from the code that is here now. ``None`` when git cannot say
    (no repository, or a commit it does not know). ``root``: the repository (default: the one
    holding this package)."""
    root = Path(__file__).resolve().parents[2] if root is None else Path(root)
    try:
        done = subprocess.run(["git", "diff", "--quiet", commit, "--", *paths], cwd=root,
                              capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return {0: False, 1: True}.get(done.returncode)


def device_description(device: str | torch.device) -> str:
    """The device as a result records it: ``"cuda:0 (<GPU name>)"`` or
    ``"cpu (<processor>, <n> threads)"``."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def environment_record(device: str | torch.device) -> dict[str, Any]:
    """The code and machine of a run, now: ``git_commit``, ``git_dirty``, ``date_utc``,
    ``device`` (:func:`device_description`), ``torch_version``, ``python_version`` and
    ``hvae_version``, in that order (the first keys of a result's ``provenance``)."""
    commit, dirty = git_state()
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "date_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "device": device_description(device),
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "hvae_version": hvae.__version__,
    }
