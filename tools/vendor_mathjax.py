"""Serve MathJax from the built book itself, so that it reads offline and loads nothing from a CDN.

MathJax comes from the npm package ``mathjax``, pinned (with its integrity hash) by
``tools/mathjax/package.json`` and ``package-lock.json``. ``npm ci`` installs it into the
git-ignored ``_build/.mathjax``; the part a browser needs is then copied into
``_build/html/_static/mathjax``, where ``sphinx.config.mathjax_path`` in ``_config.yml`` points.

Usage::

    python tools/vendor_mathjax.py install   # npm ci, skipped when the pinned version is there
    python tools/vendor_mathjax.py copy      # into the built HTML (after jupyter-book build)
"""

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PINNED = ROOT / "tools" / "mathjax"
PREFIX = ROOT / "_build" / ".mathjax"
PACKAGE = PREFIX / "node_modules" / "mathjax"
TARGET = ROOT / "_build" / "html" / "_static" / "mathjax"
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


def copy() -> None:
    """Copy MathJax's browser build (es5/) into the built book's _static folder."""
    source = PACKAGE / "es5"
    if not (source / ENTRY).exists():
        sys.exit("vendor_mathjax: MathJax is not installed; run `vendor_mathjax.py install` first")
    if not TARGET.parent.is_dir():
        sys.exit(f"vendor_mathjax: {TARGET.parent} does not exist; build the book first")
    shutil.rmtree(TARGET, ignore_errors=True)
    TARGET.mkdir()
    for path in source.iterdir():
        if path.is_dir():
            shutil.copytree(path, TARGET / path.name)
    shutil.copy2(source / ENTRY, TARGET / ENTRY)
    shutil.copy2(PACKAGE / "LICENSE", TARGET / "LICENSE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["install", "copy"])
    {"install": install, "copy": copy}[parser.parse_args().action]()


if __name__ == "__main__":
    main()
