"""Argument checks shared by every module, with one message format.

Every check raises :class:`ValueError` with the message ``"NAME: must be WHAT, got VALUE"``,
so that a caller (and the command line, which prints it as its one-line error) always says
which argument was wrong, what was expected and what arrived. Each returns the value
normalised (a Python ``int`` or ``float``), so that constructors can store what they return.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "as_float64_array",
    "check_choice",
    "check_dim",
    "check_int",
    "check_number",
    "check_out_dir",
    "check_seed",
    "check_sha256",
    "fail",
    "resolve_device",
]


def fail(name: str, what: str, value: Any) -> ValueError:
    """The error every check raises: ``"name: must be what, got value"``."""
    return ValueError(f"{name}: must be {what}, got {value!r}")


def check_int(value: Any, name: str, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """An integer (Python or numpy, not ``bool``) in ``[minimum, maximum]``."""
    bounds = ("an integer" + (f" >= {minimum}" if minimum is not None else "")
              + (f" and <= {maximum}" if maximum is not None else ""))
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise fail(name, bounds, value)
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise fail(name, bounds, value)
    return value


#: Seeds a run accepts: torch generators take [-2**63, 2**64 - 1], numpy's take only >= 0, and
#: evaluation seeds ``seed + 1``; so [0, 2**63 - 1] fits every generator the package seeds.
SEED_MAX = 2**63 - 1


def check_seed(value: Any, name: str = "seed") -> int:
    """A random seed every generator accepts: an integer in ``[0, 2**63 - 1]``."""
    return check_int(value, name, minimum=0, maximum=SEED_MAX)


def check_out_dir(path: Any, name: str) -> Path:
    """A directory to write into: it is a directory or does not exist yet, and no existing
    ancestor of it is a file (checked before anything is computed)."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise fail(name, "a directory (or a path that does not exist yet), not a file", str(out))
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise fail(name, f"a path whose parent {str(parent)!r} is a directory", str(out))
            break
    return out


def check_dim(value: Any, name: str = "dim") -> int:
    """An ambient dimension: an integer >= 2 (points of S^{d-1} in R^d)."""
    try:
        return check_int(value, name, minimum=2)
    except ValueError:
        raise fail(name, "an integer >= 2 (the ambient dimension)", value) from None


def check_number(value: Any, name: str, *, positive: bool = False,
                 nonnegative: bool = False, finite: bool = True) -> float:
    """A real number (not ``bool``), optionally > 0 or >= 0, finite unless ``finite=False``."""
    what = ("a finite " if finite else "a ") + "number" + (
        " > 0" if positive else " >= 0" if nonnegative else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise fail(name, what, value)
    out = float(value)
    if math.isnan(out) or (finite and math.isinf(out)) or (positive and not out > 0) or (
            nonnegative and not out >= 0):
        raise fail(name, what, value)
    return out


def check_choice(value: Any, name: str, choices: Iterable[Any]) -> Any:
    """One of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise fail(name, f"one of {choices}", value)
    return value


def resolve_device(device: str | torch.device | None, name: str = "device") -> torch.device:
    """The device a run uses: ``None`` or ``"auto"`` is CUDA when present, else the CPU.

    A device that does not exist here (``"cuda"`` without a GPU, a misspelt name) is a
    :class:`ValueError` naming the argument.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        out = torch.device(device)
    except (RuntimeError, TypeError):
        raise fail(name, "'auto', 'cpu' or 'cuda[:N]'", device) from None
    if out.type == "cuda":
        if not torch.cuda.is_available():
            raise fail(name, "a device present on this machine (CUDA is not available)", device)
        if out.index is not None and out.index >= torch.cuda.device_count():
            raise fail(name, f"a CUDA index < {torch.cuda.device_count()}", device)
    elif out.type != "cpu":
        raise fail(name, "'auto', 'cpu' or 'cuda[:N]'", device)
    return out


def as_float64_array(value: Any, name: str) -> np.ndarray:
    """A float64 numpy copy of an array-like or a torch tensor (any device, autograd detached)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        return np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise fail(name, "a numeric array", type(value).__name__) from None


def check_sha256(value: Any, name: str) -> str:
    """A SHA-256 digest: a string of 64 hexadecimal digits, returned in lower case."""
    if not (isinstance(value, str) and len(value) == 64
            and all(c in "0123456789abcdefABCDEF" for c in value)):
        raise fail(name, "a 64-character hexadecimal SHA-256", value)
    return value.lower()
