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

It also records each notebook's run in the execution log (``tools/execution_log.py``, for the
book's reproducibility page): profile (that of its ``parameters`` cell), commit, UTC start,
duration (from the first cell's set-up, which starts the kernel, to the last cell's tear-down),
and the first failing cell (counted from 1 over all cells, as in the file) with its error.

Loaded by ``tools/run_nbval.py`` with ``-p nbval_capture``.
"""

import hashlib
import shutil
import time
from pathlib import Path

import execution_log
import nbformat
import pytest

OUT = Path("_build") / "executed"
_runs: dict[Path, dict] = {}
_timings: dict[Path, dict] = {}  # notebook -> started, start, end, failed_cell, error, nb
_commit: dict = {}  # the work tree's commit when the session started


def _out_dir(config: pytest.Config) -> Path:
    return config.rootpath / OUT


def pytest_sessionstart(session: pytest.Session) -> None:
    """Remove the copies of an earlier run, so that none can be mistaken for this one's; note
    the commit the run starts from."""
    shutil.rmtree(_out_dir(session.config), ignore_errors=True)
    _commit.update(execution_log.git_commit(session.config.rootpath))


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


def _is_cell(item: pytest.Item) -> bool:
    return type(item).__name__ == "IPyNbCell"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """Time each notebook: its first cell's protocol starts the kernel (the set-up of the
    notebook), its last one's stops it."""
    if not _is_cell(item):
        return (yield)
    timing = _timings.setdefault(Path(item.parent.path), {
        "started": execution_log.utc_now(), "start": time.perf_counter(),
        "failed_cell": None, "error": None, "nb": item.parent.nb})
    try:
        return (yield)
    finally:
        timing["end"] = time.perf_counter()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keep the first failing cell of each notebook and its error."""
    report = yield
    if _is_cell(item) and report.failed:
        timing = _timings.get(Path(item.parent.path))
        if timing is not None and timing["failed_cell"] is None:
            timing["failed_cell"] = _cell_number(item)
            timing["error"] = _error(item, call)
    return report


def _cell_number(item: pytest.Item) -> int:
    """The cell's position in its notebook, from 1, counting all cells (nbval's ``Cell N``
    counts only the code cells, from 0)."""
    cells = item.parent.nb.cells
    return next(i for i, cell in enumerate(cells, 1) if cell is item.cell)


def _error(item: pytest.Item, call: pytest.CallInfo) -> str:
    """``Name: message`` of the exception the cell raised in the kernel; else what nbval
    reported (outputs that differ, a time-out, a kernel that did not start)."""
    for out in item.test_outputs or []:
        if out.get("output_type") == "error":
            return f"{out['ename']}: {out['evalue']}"
    if call.excinfo is None:
        return f"failed in {call.when}"
    message = str(call.excinfo.value).strip()  # nbval's NbCellError: "Cell outputs differ"
    return message.splitlines()[0] if message else call.excinfo.typename


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Record the run of every notebook nbval started; write one executed copy per notebook
    that nbval ran."""
    _record(session)
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


def _record(session: pytest.Session) -> None:
    root = session.config.rootpath
    commit = _commit or execution_log.git_commit(root)
    entries = [execution_log.entry(
        notebook=notebook.relative_to(root).as_posix(), tool="nbval", output=OUT.as_posix(),
        profile=execution_log.notebook_profile(t["nb"]), started=t["started"],
        duration_s=t.get("end", t["start"]) - t["start"], failed_cell=t["failed_cell"],
        error=t["error"], commit=commit) for notebook, t in _timings.items()]
    if entries:
        execution_log.record(*entries)
