"""Write the book's reproducibility page from the execution log, at build time.

Usage::

    python tools/reproducibility_page.py [--log LOG] [--output PAGE]

The page (default ``chapters/reproducibility.md``, listed in ``_toc.yml``, gitignored: it is
written by every ``make book`` and ``make book-check`` before ``jupyter-book build`` and never
committed) states the environment of the build (Python, platform, CPUs, the versions of torch,
numpy, scipy, numba, scikit-learn, matplotlib, jupyter-book, hvae, ...; the commit and the UTC
date of the build) and, for every chapter of ``_toc.yml``, the latest run of each tool recorded
in the execution log (``tools/execution_log.py``; default ``_build/executions.json``, or
``$HVAE_EXECUTION_LOG``): tool, profile, commit, UTC start, duration, and whether it passed
(else the cell it failed at) -- or "not executed". Without a log the page says that no chapter
has been executed on this machine. Nothing volatile reaches the committed notebooks, which
nbval compares.
"""

import argparse
import os
import platform
import re
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import execution_log
import nbformat
from toc import ROOT, notebooks

PAGE = ROOT / "chapters" / "reproducibility.md"
PACKAGES = ("torch", "numpy", "scipy", "numba", "scikit-learn", "matplotlib", "jupyter-book",
            "sphinx", "myst-nb", "papermill", "nbval", "hvae")
NOT_EXECUTED = "not executed"
ERROR_CHARS = 160  # an error message longer than this is cut


def escape(text: str) -> str:
    """``text`` on one line, safe in a cell of a pipe table (``|`` escaped)."""
    return " ".join(str(text).split()).replace("|", r"\|")


def code(text: str) -> str:
    """``text`` as inline code in a table cell, whatever backticks or pipes it holds."""
    text = " ".join(str(text).split())
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or fence != "`" else ""
    text = text.replace("|", r"\|")
    return f"{fence}{pad}{text}{pad}{fence}"


def title(path: Path, root: Path = ROOT) -> str:
    """The notebook's first markdown heading, else its file name."""
    try:
        nb = nbformat.read(root / path, as_version=4)
    except (OSError, ValueError):
        return path.stem
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#{1,6}\s+(.+?)\s*#*\s*$", cell.source, re.MULTILINE)
            if match:
                return match.group(1)
    return path.stem


def run_label(run: dict) -> str:
    """Which tool ran the chapter, and through which make target."""
    if run.get("tool") == "nbval":
        return "nbval (`make book-check`)"
    output = run.get("output")
    if run.get("tool") == "papermill" and not output:
        return "papermill (`make book`)"
    target = " (`make reproduce`)" if str(output).startswith("_build/reproduce/") else ""
    return f"{escape(run.get('tool') or '?')} → {code(output)}{target}"


def commit_text(commit: str | None, dirty: bool | None) -> str:
    if not commit:
        return "unknown"
    return code(commit) + (" + uncommitted changes" if dirty else "")


def date_text(iso: str | None) -> str:
    """An ISO 8601 time as ``YYYY-MM-DD HH:MM:SS`` UTC."""
    if not iso:
        return "—"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return escape(iso)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def result_text(run: dict) -> str:
    if run.get("passed"):
        return "passed"
    error = " ".join(str(run.get("error") or "").split())
    if len(error) > ERROR_CHARS:
        error = error[:ERROR_CHARS - 1] + "…"
    where = f"failed at cell {run['failed_cell']}" if run.get("failed_cell") else "failed"
    return f"**{where}**" + (f": {code(error)}" if error else "")


def _order(run: dict) -> tuple[int, str]:
    """papermill in place, papermill into other folders, any other tool, nbval."""
    tool = run.get("tool")
    rank = 3 if tool == "nbval" else 2 if tool != "papermill" else 1 if run.get("output") else 0
    return rank, str(run.get("output") or "")


def chapter_rows(chapters: list[Path], runs: dict[str, dict], page_dir: Path,
                 root: Path = ROOT) -> list[str]:
    """The lines of the chapters' table: one row per recorded run, or one "not executed" row
    for a chapter without any."""
    lines = ["| Chapter | Run | Profile | Commit | Started (UTC) | Duration (s) | Result |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for path in chapters:
        link = os.path.relpath(root / path, page_dir).replace(os.sep, "/")
        name = f"[{escape(title(path, root))}]({link})"
        mine = sorted((r for r in runs.values() if r.get("notebook") == path.as_posix()),
                      key=_order)
        if not mine:
            lines.append(f"| {name} | — | — | — | — | — | {NOT_EXECUTED} |")
        for run in mine:
            duration = run.get("duration_s")
            lines.append(" | ".join([
                f"| {name}", run_label(run), escape(run.get("profile") or "—"),
                commit_text(run.get("commit"), run.get("dirty")), date_text(run.get("started")),
                "—" if duration is None else f"{float(duration):.1f}", result_text(run)]) + " |")
    return lines


def environment(root: Path = ROOT) -> list[tuple[str, str]]:
    """(what, value) pairs describing the machine and the packages of this build."""
    build = execution_log.git_commit(root)
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = None
    cpus = f"{os.cpu_count()}" + (f" ({usable} usable by this process)"
                                  if usable not in (None, os.cpu_count()) else "")
    rows = [
        ("Built (UTC)", datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")),
        ("Commit of the build", commit_text(build["commit"], build["dirty"])),
        ("Python", escape(f"{platform.python_implementation()} {platform.python_version()}")),
        ("Platform", escape(platform.platform())),
        ("Machine", escape(platform.machine() or "unknown")),
        ("CPUs", cpus),
    ]
    for package in PACKAGES:
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            version = "not installed"
        rows.append((package, escape(version)))
    return rows


def render(runs: dict[str, dict] | None, chapters: list[Path], page: Path = PAGE,
           log: Path | None = None, root: Path = ROOT) -> str:
    """The page's markdown; ``runs`` None: there is no execution log."""
    log = execution_log.log_path() if log is None else log
    shown_log = log.relative_to(root).as_posix() if log.is_relative_to(root) else str(log)
    lines = [
        "# Reproducibility",
        "",
        "This page is written when the book is built (`tools/reproducibility_page.py`, run by "
        "`make book` and `make book-check`), on the machine that builds it; it is not part of "
        "the repository. The chapters are committed with the outputs of their last execution; "
        "the table below says how and when each was last executed here.",
        "",
        "## Environment",
        "",
        "The machine and packages of this build (the `make` targets execute the chapters in the "
        "same virtual environment, `.venv`).",
        "",
        "| Item | Value |",
        "| --- | --- |",
        *[f"| {what} | {value} |" for what, value in environment(root)],
        "",
        "## Chapter executions",
        "",
    ]
    if runs is None:
        lines += [f"No chapter has been executed on this machine: there is no execution log "
                  f"({code(shown_log)}). Run `make book` or `make book-check` (below).", ""]
    else:
        lines += [f"The latest run of each chapter by each tool, from the execution log "
                  f"{code(shown_log)}. Cells are counted from 1 over all the cells of the "
                  "notebook; a commit marked with uncommitted changes was the work tree's "
                  "`HEAD` while it differed from it.", ""]
    lines += chapter_rows(chapters, runs or {}, page.parent, root)
    lines += [
        "",
        "## How to reproduce",
        "",
        "From a clone of the repository (`tools/README.md` has the details):",
        "",
        "- `make book` sets up `.venv`, executes every chapter with papermill in the quick "
        "profile (`make book PROFILE=full` for the long runs), writes them back with their "
        "outputs and builds the HTML.",
        "- `make book-check` re-executes every chapter once with nbval, which compares the "
        "checked outputs with the committed ones, builds the HTML and checks the figures and "
        "the pages in a headless browser.",
        "- `make reproduce` trains and evaluates every run of the paper's Tables 1 and 2 (the "
        "full profile; on the GPU when there is one), then executes chapters 7 and 8 on the "
        "stored results into `_build/reproduce/full/`.",
        "",
    ]
    return "\n".join(lines)


def write(page: Path = PAGE, log: Path | None = None, root: Path = ROOT) -> Path:
    """Write the page (atomically) from the log and ``_toc.yml`` at ``root``."""
    log = execution_log.log_path() if log is None else log
    runs = execution_log.read(log) if log.exists() else None
    execution_log.write_atomic(page, render(runs, notebooks(root), page, log, root))
    return page


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, default=None,
                        help=f"the execution log (default: ${execution_log.LOG_ENV} or "
                             "_build/executions.json)")
    parser.add_argument("--output", type=Path, default=PAGE,
                        help="the page to write (default: chapters/reproducibility.md)")
    args = parser.parse_args()
    page = write(args.output.resolve(), args.log and args.log.resolve())
    shown = page.relative_to(ROOT) if page.is_relative_to(ROOT) else page
    print(f"reproducibility_page: wrote {shown}")


if __name__ == "__main__":
    main()
