"""pytest plugin: keep what nbval's re-execution of the chapters produced.

nbval executes every code cell of a notebook and keeps the fresh outputs on the test item
(``IPyNbCell.test_outputs``, in nbval 0.11 also in ``--nbval-lax`` mode), but it compares only
the cells tagged ``nbval-check-output`` and never images. This plugin collects those outputs
and, at the end of the session, writes ``_build/executed/<notebook path>``: a copy of each
committed notebook whose code cells hold the re-executed outputs (a cell nbval did not run, e.g.
``# NBVAL_SKIP``, gets ``execution_count`` None and no outputs). ``tests/test_book.py`` compares
its figures with the committed ones, so ``make book-check`` executes each chapter only once.

The copy records the SHA-256 of the committed notebook it was made from (metadata
``hvae_book.source_sha256``), so that a figure check against a stale copy fails.

Loaded by ``tools/run_nbval.py`` with ``-p nbval_capture``.
"""

import hashlib
import shutil
from pathlib import Path

import nbformat
import pytest

OUT = Path("_build") / "executed"
_runs: dict[Path, dict] = {}


def _out_dir(config: pytest.Config) -> Path:
    return config.rootpath / OUT


def pytest_sessionstart(session: pytest.Session) -> None:
    """Remove the copies of an earlier run, so that none can be mistaken for this one's."""
    shutil.rmtree(_out_dir(session.config), ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """After nbval has run a cell (failing or not), keep its fresh outputs."""
    try:
        return (yield)
    finally:
        if type(item).__name__ == "IPyNbCell" and item.test_outputs is not None:
            notebook = Path(item.parent.path)
            run = _runs.setdefault(notebook, {"nb": item.parent.nb, "cells": {}})
            run["cells"][id(item.cell)] = item.test_outputs


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write one executed copy per notebook that nbval ran."""
    for notebook, run in _runs.items():
        copy = nbformat.from_dict(run["nb"])  # a deep copy of the committed notebook
        count = 0
        for cell, original in zip(copy.cells, run["nb"].cells, strict=True):
            if cell.cell_type != "code":
                continue
            outputs = run["cells"].get(id(original))
            cell.outputs = outputs or []
            cell.execution_count = None
            if outputs is not None:
                count += 1
                cell.execution_count = count
        copy.metadata["hvae_book"] = {
            "source_sha256": hashlib.sha256(notebook.read_bytes()).hexdigest()
        }
        target = _out_dir(session.config) / notebook.relative_to(session.config.rootpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(copy, target)
