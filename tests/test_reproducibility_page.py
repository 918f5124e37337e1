"""The execution log (tools/execution_log.py) and the reproducibility page written from it
(tools/reproducibility_page.py), on a fabricated book and log: nothing is executed."""

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import execution_log  # noqa: E402
import reproducibility_page  # noqa: E402
import toc  # noqa: E402

v4 = nbformat.v4


def _notebook(path: Path, heading: str) -> None:
    nb = v4.new_notebook(cells=[v4.new_markdown_cell(f"# {heading}\n\nSome text."),
                                v4.new_code_cell('profile = "quick"',
                                                 metadata={"tags": ["parameters"]})])
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


@pytest.fixture
def book(tmp_path):
    """A book of three chapters (one with a pipe in its title) and the generated page."""
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "intro.md").write_text("# Intro\n")
    _notebook(tmp_path / "chapters" / "01_a.ipynb", "Alpha")
    _notebook(tmp_path / "chapters" / "02_b.ipynb", "Beta | gamma")
    _notebook(tmp_path / "chapters" / "03_c.ipynb", "Gamma")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: chapters/intro\nparts:\n"
        "  - caption: Chapters\n    chapters:\n      - file: chapters/01_a\n"
        "      - file: chapters/02_b\n      - file: chapters/03_c\n"
        "  - caption: About\n    chapters:\n      - file: chapters/reproducibility\n")
    return tmp_path


COMMIT = {"commit": "abc1234", "dirty": False}


def _entry(notebook, **kwargs):
    defaults = dict(tool="papermill", profile="quick", started="2026-03-04T05:06:07+00:00",
                    duration_s=12.34, commit=COMMIT)
    return execution_log.entry(notebook=notebook, **{**defaults, **kwargs})


def _rows(page: Path) -> dict[str, list[str]]:
    """The rows of the chapters' table: first cell -> the other cells (pipes kept escaped)."""
    rows = {}
    for line in page.read_text().splitlines():
        if line.startswith("| [") or line.startswith("| Chapter"):
            cells = [c.strip() for c in line.strip("|").replace(r"\|", "\0").split("|")]
            cells = [c.replace("\0", r"\|") for c in cells]
            rows.setdefault(cells[0], []).append(cells[1:])
    return rows


# --- the log ------------------------------------------------------------------------------------


def test_entry_passed_and_failed():
    ok = _entry("chapters/01_a.ipynb", duration_s=3.14159)
    assert ok == {"notebook": "chapters/01_a.ipynb", "tool": "papermill", "output": None,
                  "profile": "quick", "commit": "abc1234", "dirty": False,
                  "started": "2026-03-04T05:06:07+00:00", "duration_s": 3.1, "passed": True,
                  "failed_cell": None, "error": None}
    bad = _entry("chapters/01_a.ipynb", failed_cell=5, error="ValueError: no")
    assert (bad["passed"], bad["failed_cell"], bad["error"]) == (False, 5, "ValueError: no")
    # a failure without a cell (the kernel died) is a failure too
    assert _entry("chapters/01_a.ipynb", error="DeadKernelError: gone")["passed"] is False


def test_record_merges_and_keeps_the_other_runs(tmp_path):
    log = tmp_path / "sub" / "executions.json"
    execution_log.record(_entry("chapters/01_a.ipynb", duration_s=1.0),
                         _entry("chapters/02_b.ipynb", duration_s=2.0), path=log)
    execution_log.record(_entry("chapters/01_a.ipynb", tool="nbval", output="_build/executed",
                                duration_s=3.0), path=log)
    # re-running chapter 1 with papermill replaces its papermill entry, nothing else
    execution_log.record(_entry("chapters/01_a.ipynb", duration_s=4.0, failed_cell=2,
                                error="E: x"), path=log)
    runs = json.loads(log.read_text())["runs"]
    assert {key: run["duration_s"] for key, run in runs.items()} == {
        "papermill:chapters/01_a.ipynb": 4.0,
        "papermill:chapters/02_b.ipynb": 2.0,
        "nbval:chapters/01_a.ipynb->_build/executed": 3.0,
    }
    assert runs["papermill:chapters/01_a.ipynb"]["failed_cell"] == 2
    assert execution_log.read(log) == runs


def test_an_output_folder_is_a_run_of_its_own(tmp_path):
    log = tmp_path / "executions.json"
    execution_log.record(_entry("chapters/07.ipynb"), path=log)
    execution_log.record(_entry("chapters/07.ipynb", profile="full",
                                output="_build/reproduce/full"), path=log)
    assert sorted(execution_log.read(log)) == [
        "papermill:chapters/07.ipynb", "papermill:chapters/07.ipynb->_build/reproduce/full"]


def test_an_unreadable_log_reads_as_empty_and_is_replaced(tmp_path):
    log = tmp_path / "executions.json"
    log.write_text("{not json")
    assert execution_log.read(log) == {}
    assert execution_log.read(tmp_path / "missing.json") == {}
    execution_log.record(_entry("chapters/01_a.ipynb"), path=log)
    assert list(execution_log.read(log)) == ["papermill:chapters/01_a.ipynb"]


def test_the_log_path_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(execution_log.LOG_ENV, raising=False)
    assert execution_log.log_path() == ROOT / "_build" / "executions.json"
    monkeypatch.setenv(execution_log.LOG_ENV, str(tmp_path / "x.json"))
    assert execution_log.log_path() == tmp_path / "x.json"


def test_write_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "page.md"
    target.write_text("old")
    replaced = []
    real_replace = os.replace

    def spy(src, dst):
        replaced.append((Path(src).parent, Path(src).name.startswith(".page.md."), Path(dst)))
        assert target.read_text() == "old"  # the new text is elsewhere until the replace
        real_replace(src, dst)

    monkeypatch.setattr(execution_log.os, "replace", spy)
    execution_log.write_atomic(target, "new")
    assert target.read_text() == "new"
    assert replaced == [(tmp_path, True, target)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.md"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "page.md"
    target.write_text("old")

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(execution_log.os, "replace", fail)
    with pytest.raises(OSError):
        execution_log.write_atomic(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.md"]


def test_notebook_profile():
    nb = v4.new_notebook(cells=[v4.new_code_cell("x = 1"), v4.new_code_cell(
        "seed = 0\nprofile = 'full'", metadata={"tags": ["parameters"]})])
    assert execution_log.notebook_profile(nb) == "full"
    assert execution_log.notebook_profile(v4.new_notebook(cells=[v4.new_code_cell("x")])) is None


# --- the page -----------------------------------------------------------------------------------


def test_page_rows_pass_fail_and_not_executed(book):
    log = book / "_build" / "executions.json"
    execution_log.record(
        _entry("chapters/01_a.ipynb"),
        _entry("chapters/01_a.ipynb", tool="nbval", output="_build/executed",
               started="2026-03-05T00:00:00+00:00", duration_s=7.0,
               commit={"commit": "def5678", "dirty": True}),
        _entry("chapters/02_b.ipynb", profile="full", duration_s=100.0, failed_cell=4,
               error="ValueError: a | b"),
        _entry("chapters/gone.ipynb"),  # no longer in the toc: not shown
        path=log)
    page = book / "chapters" / "reproducibility.md"
    reproducibility_page.write(page, log, book)

    rows = _rows(page)
    assert rows["Chapter"] == [["Run", "Profile", "Commit", "Started (UTC)", "Duration (s)",
                                "Result"]]
    assert rows["[Alpha](01_a.ipynb)"] == [
        ["papermill (`make book`)", "quick", "`abc1234`", "2026-03-04 05:06:07", "12.3",
         "passed"],
        ["nbval (`make book-check`)", "quick", "`def5678` + uncommitted changes",
         "2026-03-05 00:00:00", "7.0", "passed"],
    ]
    assert rows[r"[Beta \| gamma](02_b.ipynb)"] == [
        ["papermill (`make book`)", "full", "`abc1234`", "2026-03-04 05:06:07", "100.0",
         r"**failed at cell 4**: `ValueError: a \| b`"],
    ]
    assert rows["[Gamma](03_c.ipynb)"] == [["—", "—", "—", "—", "—", "not executed"]]
    assert len(rows) == 4
    text = page.read_text()
    assert "gone" not in text
    assert "No chapter has been executed" not in text
    assert "make reproduce" in text and "## Environment" in text


def test_page_without_a_log(book):
    page = book / "chapters" / "reproducibility.md"
    reproducibility_page.write(page, book / "_build" / "executions.json", book)
    text = page.read_text()
    assert "No chapter has been executed on this machine" in text
    assert "| Python | CPython " in text and "| numpy | " in text and "| hvae | " in text
    rows = _rows(page)
    assert [cells[0][-1] for name, cells in rows.items() if name != "Chapter"] == [
        "not executed"] * 3


def test_a_reproduce_run_names_its_folder(book):
    log = book / "executions.json"
    execution_log.record(_entry("chapters/03_c.ipynb", profile="full",
                                output="_build/reproduce/full"),
                         _entry("chapters/03_c.ipynb", tool="nbval", output="_build/executed"),
                         _entry("chapters/03_c.ipynb"), path=log)
    page = book / "chapters" / "reproducibility.md"
    reproducibility_page.write(page, log, book)
    assert [cells[0] for cells in _rows(page)["[Gamma](03_c.ipynb)"]] == [
        "papermill (`make book`)",
        "papermill → `_build/reproduce/full` (`make reproduce`)",
        "nbval (`make book-check`)",
    ]


def test_escaping():
    assert reproducibility_page.escape("a | b\nc") == r"a \| b c"
    assert reproducibility_page.code("x|y") == r"`x\|y`"
    assert reproducibility_page.code("a `b` c") == "`` a `b` c ``"
    assert reproducibility_page.result_text(
        {"passed": False, "failed_cell": None, "error": "DeadKernelError: gone"}) == (
        "**failed**: `DeadKernelError: gone`")
    long = reproducibility_page.result_text({"passed": False, "failed_cell": 2, "error": "x" * 500})
    assert len(long) < 200 and long.endswith("…`")


def test_the_generated_page_is_listed_and_ignored():
    assert reproducibility_page.PAGE.relative_to(ROOT) in toc.GENERATED
    assert reproducibility_page.PAGE.relative_to(ROOT) in toc.pages()
    assert reproducibility_page.PAGE.relative_to(ROOT) not in toc.notebooks()
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "chapters/reproducibility.md" in ignored
