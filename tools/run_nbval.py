"""Re-execute every chapter with nbval: the one execution of the notebooks in ``make book-check``.

Runs, from the repository root::

    pytest -p nbval_capture --nbval-lax --nbval-current-env \\
        --nbval-sanitize-with chapters/nbval_sanitize.cfg <the notebooks in _toc.yml>

In lax mode nbval fails on any cell that raises, and compares with the committed outputs only
the cells tagged ``nbval-check-output`` (after the replacements in ``nbval_sanitize.cfg``).
nbval starts each notebook's kernel in the notebook's folder, so ``chapters/matplotlibrc``
applies; ``--nbval-current-env`` makes the kernel this virtualenv's Python. The
``nbval_capture`` plugin (importable: this script's folder is on ``sys.path``) saves the fresh
outputs to ``_build/executed/`` for the figure check in ``tests/test_book.py``, and records each
notebook's run (profile, commit, UTC start, duration, first failing cell) in the execution log
``_build/executions.json`` (``tools/execution_log.py``) for the reproducibility page. Extra
arguments are passed on to pytest (e.g. ``-x``).
"""

import os
import sys

import pytest
from toc import ROOT, notebooks

SANITIZE = "chapters/nbval_sanitize.cfg"
CELL_TIMEOUT_S = 1800


def main() -> int:
    chapters = [str(path) for path in notebooks()]
    if not chapters:
        print("run_nbval: _toc.yml lists no notebooks; nothing to re-execute")
        return 0
    os.chdir(ROOT)
    os.environ.setdefault("PYTHONHASHSEED", "0")  # as in tools/execute_notebooks.py
    args = ["-p", "nbval_capture", "--nbval-lax", "--nbval-current-env",
            "--nbval-sanitize-with", SANITIZE, f"--nbval-cell-timeout={CELL_TIMEOUT_S}",
            "-p", "no:cacheprovider", *sys.argv[1:], *chapters]
    return pytest.main(args)


if __name__ == "__main__":
    sys.exit(main())
