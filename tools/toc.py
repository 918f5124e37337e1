"""The book's pages, read from ``_toc.yml``: every tool and test takes the chapter list from here.

Usage: ``python tools/toc.py`` prints the notebooks the book lists, one a line, relative to the
repository root.
"""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SUFFIXES = (".ipynb", ".md")
# Pages written at build time (gitignored, so absent from a fresh clone until the first build):
# tools/reproducibility_page.py writes this one before every `jupyter-book build` of the Makefile.
GENERATED = (Path("chapters/reproducibility.md"),)


def _files(entry: dict) -> list[str]:
    """The ``file`` entries below one node of the toc, depth first, in reading order."""
    found = [entry["file"]] if "file" in entry else []
    for key in ("parts", "chapters", "sections"):
        for child in entry.get(key, []):
            found += _files(child)
    return found


def pages(root: Path = ROOT) -> list[Path]:
    """Every page of the book (root first) as a path relative to ``root``, suffix resolved."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    result = []
    for name in [toc["root"], *_files(toc)]:
        candidates = [Path(name)] if Path(name).suffix else [
            Path(name + suffix) for suffix in SUFFIXES
        ]
        existing = [c for c in candidates if (root / c).exists()]
        generated = [c for c in candidates if c in GENERATED]
        # A page listed but missing is kept (a generated one with its suffix, another with the
        # first suffix) so that callers can report it.
        result.append(existing[0] if existing else (generated or candidates)[0])
    return result


def notebooks(root: Path = ROOT) -> list[Path]:
    """The book's notebooks (the chapters), relative to ``root``, in reading order."""
    return [page for page in pages(root) if page.suffix == ".ipynb"]


if __name__ == "__main__":
    for path in notebooks():
        print(path)
