"""Execute the book's notebooks with papermill and write each back in place, outputs included.

Usage::

    python tools/execute_notebooks.py [--profile quick|full] [--output-dir DIR] [NOTEBOOK ...]

Without NOTEBOOK arguments, every notebook listed in ``_toc.yml`` is executed, in reading order.
Each runs in a fresh kernel with ``chapters/`` (the notebook's folder) as working directory, so
that ``chapters/matplotlibrc`` applies. ``--profile`` other than the default ``quick`` is passed
to the notebook's ``parameters`` cell as papermill parameter ``profile`` (papermill adds an
``injected-parameters`` cell after it); with ``quick`` nothing is injected and a stale injected
cell is dropped, so that re-executing an unchanged notebook leaves ``git diff`` clean.

With ``--output-dir DIR`` the executed notebooks go to ``DIR/<path>`` instead (``make
reproduce`` writes the full-profile chapters to ``_build/reproduce/full/`` this way, leaving the
committed quick-profile chapters untouched).

A notebook is written back only when it ran through. A failing cell stops everything: the tool
prints ``chapters/X.ipynb, cell N: <error>`` (N counts all cells from 1, as in the file) and
exits non-zero; the partly executed notebook is kept under ``_build/papermill/`` to look at.

Every execution, passed or failed, is recorded in the execution log (``tools/execution_log.py``:
``_build/executions.json``, or ``$HVAE_EXECUTION_LOG``) for the book's reproducibility page:
profile, commit, UTC start, duration, result. Nothing of it goes into the notebooks.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import execution_log
import nbformat
import papermill
from ipykernel.kernelspec import RESOURCES, get_kernel_dict
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from strip_metadata import INJECTED, strip
from toc import ROOT, notebooks

DEFAULT_PROFILE = "quick"
SCRATCH = ROOT / "_build" / "papermill"
CELL_TIMEOUT_S = 1800


class ThisPythonKernelManager(AsyncKernelManager):
    """Runs a notebook in ipykernel on this very interpreter (the virtualenv with ``hvae``),
    whatever kernel its metadata names and whatever kernels the user has installed, as nbval's
    ``--nbval-current-env`` does in ``make book-check``."""

    @property
    def kernel_spec(self) -> KernelSpec:
        return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())


def without_injected_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop the ``injected-parameters`` cell a run with another profile left behind."""
    nb.cells = [c for c in nb.cells if INJECTED not in c.metadata.get("tags", [])]
    return nb


def execute(path: Path, profile: str, output_dir: Path | None = None) -> Path:
    """Execute the notebook at ``path`` (relative to the repository root); write it back, or to
    ``output_dir / path``. Returns where it was written."""
    source = ROOT / path
    nb = without_injected_cell(nbformat.read(source, as_version=4))
    parameters = None if profile == DEFAULT_PROFILE else {"profile": profile}
    scratch = SCRATCH / path
    scratch.parent.mkdir(parents=True, exist_ok=True)
    target = source if output_dir is None else output_dir / path
    log = _recorder(path, profile, output_dir)
    try:
        executed = papermill.execute_notebook(
            nb,
            str(scratch),
            parameters=parameters,
            cwd=str(source.parent),
            progress_bar=False,
            log_output=False,
            execution_timeout=CELL_TIMEOUT_S,
            kernel_name="python3",
            kernel_manager_class=ThisPythonKernelManager,
        )
    except papermill.PapermillExecutionError as error:
        # cell_index counts the cells of the executed notebook, which has the injected cell.
        injected = parameters is not None and error.cell_index > _parameters_index(nb)
        cell = error.cell_index + 1 - injected
        log(failed_cell=cell, error=f"{error.ename}: {error.evalue}")
        sys.exit(f"{path}, cell {cell}: {error.ename}: {error.evalue}\n"
                 f"(the partly executed notebook is {scratch.relative_to(ROOT)})")
    except Exception as error:  # the kernel died, a timeout, ...: no cell to blame
        log(error=f"{type(error).__name__}: {error}")
        raise
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(strip(executed), target)
    log()
    return target


def _recorder(path: Path, profile: str, output_dir: Path | None):
    """A function that records this execution of ``path`` in the execution log (call it once,
    when the execution has ended, with ``failed_cell=``, ``error=`` if it failed); the commit
    and the start are taken now."""
    commit, started = execution_log.git_commit(), execution_log.utc_now()
    start = time.perf_counter()
    output = None if output_dir is None else _shown(output_dir)

    def log(**failure) -> None:
        execution_log.record(execution_log.entry(
            notebook=path.as_posix(), tool="papermill", output=output, profile=profile,
            started=started, duration_s=time.perf_counter() - start, commit=commit, **failure))

    return log


def _shown(path: Path) -> str:
    """``path`` relative to the repository root when it is inside it."""
    return (path.relative_to(ROOT) if path.is_relative_to(ROOT) else path).as_posix()


def _parameters_index(nb: nbformat.NotebookNode) -> int:
    """Index of the ``parameters`` cell (papermill puts the injected cell right after it)."""
    for index, cell in enumerate(nb.cells):
        if "parameters" in cell.metadata.get("tags", []):
            return index
    return -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=DEFAULT_PROFILE, help="quick (default) or full")
    parser.add_argument("--output-dir", type=Path, default=None,
                        help="write the executed notebooks here (default: back in place)")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: all in _toc.yml")
    args = parser.parse_args()
    # Kernels inherit this: set and dict iteration order of strings is then the same every run.
    os.environ.setdefault("PYTHONHASHSEED", "0")
    paths = [p.resolve().relative_to(ROOT) for p in args.notebooks] or notebooks()
    if not paths:
        print("execute_notebooks: _toc.yml lists no notebooks; nothing to execute")
    for path in paths:
        start = time.perf_counter()
        target = execute(path, args.profile, args.output_dir and args.output_dir.resolve())
        print(f"executed {path} (profile {args.profile}) in {time.perf_counter() - start:.1f} s"
              f" -> {_shown(target)}")


if __name__ == "__main__":
    main()
