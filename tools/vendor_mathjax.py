"""Serve MathJax from the built book itself, so that it reads offline and loads nothing from a CDN.

MathJax comes from the npm package ``mathjax``, pinned (with its integrity hash) by
``tools/mathjax/package.json`` and ``package-lock.json``. ``npm ci`` installs it into the
git-ignored ``_build/.mathjax``; the part a browser needs is then copied into
``_build/html/_static/mathjax``, where ``sphinx.config.mathjax_path`` in ``_config.yml`` points.

Usage::

    python tools/vendor_mathjax.py install   # npm ci, skipped when the pinned version is there
    python tools/vendor_mathjax.py copy      # into the built HTML (after jupyter-book build)
    python tools/vendor_mathjax.py copy --html /tmp/book/_build/html   # a build elsewhere

The HTML folder of ``copy`` is ``_build/html`` unless ``--html`` or the environment variable
``HVAE_BOOK_HTML`` (which ``tests/test_book.py`` reads too) names another one, e.g. for a build
made with ``jupyter-book build --path-output``.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PINNED = ROOT / "tools" / "mathjax"
PREFIX = ROOT / "_build" / ".mathjax"
PACKAGE = PREFIX / "node_modules" / "mathjax"
HTML = ROOT / "_build" / "html"
# The one combined component the book loads (TeX in, CommonHTML out); the folders hold what it
# loads on demand (TeX extensions, fonts, menu, accessibility). The other combined files are
# left out: they are never loaded and would add 15 MB.
ENTRY = "tex-chtml.js"


def pinned_version() -> str:
    """The MathJax version that tools/mathjax/package.json asks for."""
    return json.loads((PINNED / "package.json").read_text())["dependencies"]["mathjax"]


def install() -> None:
    """Install the pinned MathJax into _build/.mathjax unless it is there already."""
    manifest = PACKAGE / "package.json"
    if manifest.exists() and json.loads(manifest.read_text())["version"] == pinned_version():
        return
    if shutil.which("npm") is None:
        sys.exit("vendor_mathjax: npm not found; install Node.js (it ships npm) and retry")
    PREFIX.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(PINNED / name, PREFIX / name)
    subprocess.run(
        ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=PREFIX,
        check=True,
    )


def copy(html: Path = HTML) -> None:
    """Copy MathJax's browser build (es5/) into the _static folder of the built book in html."""
    target = Path(html) / "_static" / "mathjax"
    source = PACKAGE / "es5"
    if not (source / ENTRY).exists():
        sys.exit("vendor_mathjax: MathJax is not installed; run `vendor_mathjax.py install` first")
    if not target.parent.is_dir():
        sys.exit(f"vendor_mathjax: {target.parent} does not exist; build the book first")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    for path in source.iterdir():
        if path.is_dir():
            shutil.copytree(path, target / path.name)
    shutil.copy2(source / ENTRY, target / ENTRY)
    shutil.copy2(PACKAGE / "LICENSE", target / "LICENSE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["install", "copy"])
    parser.add_argument("--html", type=Path, default=Path(os.environ.get("HVAE_BOOK_HTML", HTML)),
                        help="the built HTML that `copy` copies into (default: _build/html, "
                             "or $HVAE_BOOK_HTML)")
    args = parser.parse_args()
    if args.action == "install":
        install()
    else:
        copy(args.html)


if __name__ == "__main__":
    main()
