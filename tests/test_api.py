"""The package's public surface: headline names, every module's ``__all__``, no private imports.

A name is public when it has no leading underscore. Every public function, class or constant
a module defines is listed in its ``__all__`` (and every listed name exists), so that
``from module import *``, the API reference and a reader see the same set. No module of
``hvae``, no chapter, benchmark or tool imports another module's private names: the private
helper modules ``hvae._kernels``, ``hvae._io`` and ``hvae._validation`` are the package's own
internals, imported by name inside ``hvae`` only. (Tests may exercise private helpers of the
module they test, so ``tests/`` is not scanned.)
"""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import re
from pathlib import Path

import pytest

import hvae

ROOT = Path(__file__).resolve().parents[1]
PRIVATE_MODULES = {"hvae._kernels", "hvae._array_kernels", "hvae._io", "hvae._validation"}


def _modules() -> list[str]:
    names = ["hvae"]
    for info in pkgutil.walk_packages(hvae.__path__, prefix="hvae."):
        names.append(info.name)
    return sorted(names)


def _defined_public_names(path: Path) -> set[str]:
    """Public names a module's source defines at top level (not those it imports)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if not n.startswith("_")}


def test_headline_names_import_from_the_package() -> None:
    from hvae import (  # noqa: F401
        VAE,
        HypersphericalUniform,
        VMFMixture,
        VonMisesFisher,
        iv_ratio,
        kappa_mle,
        log_iv,
    )

    assert {"VonMisesFisher", "HypersphericalUniform", "log_iv", "iv_ratio", "kappa_mle",
            "VAE", "VMFMixture"} <= set(hvae.__all__)


def test_headline_names_do_not_hide_submodules() -> None:
    # `from hvae.train import train` in hvae/__init__ would make `hvae.train` the function
    for name in hvae.__all__:
        assert not (ROOT / "hvae" / f"{name}.py").exists(), name
        assert not (ROOT / "hvae" / name).is_dir(), name


@pytest.mark.parametrize("name", [m for m in _modules() if m not in PRIVATE_MODULES])
def test_all_lists_exactly_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    listed = set(module.__all__)
    assert len(listed) == len(module.__all__), f"{name}.__all__ repeats a name"
    missing = [n for n in listed if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ lists undefined names {missing}"
    assert not [n for n in listed if n.startswith("_") and n != "__version__"]
    path = Path(module.__file__)
    if name.endswith("__main__"):
        return
    unlisted = sorted(_defined_public_names(path) - listed)
    assert not unlisted, f"{name} defines public names missing from __all__: {unlisted}"


_ATTRIBUTE = re.compile(r"\bhvae(?:\.[A-Za-z]\w*)*\._(?!_)\w+")  # hvae.x._y, not dunders


def _private_imports(tree: ast.AST, inside: bool) -> list[str]:
    """``from hvae.x import _y`` (and, outside the package, any import of a private module)."""
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hvae"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if alias.name.startswith("_") and not (inside and full in PRIVATE_MODULES):
                    bad.append(full)
            if node.module in PRIVATE_MODULES and not inside:
                bad.append(node.module)
        elif isinstance(node, ast.Import):
            bad += [a.name for a in node.names
                    if a.name in PRIVATE_MODULES and not inside]
    return bad


def _sources() -> list[tuple[str, str, bool]]:
    """(label, source, inside the package) of every module, chapter, benchmark and tool."""
    out = []
    for path in sorted((ROOT / "hvae").rglob("*.py")):
        out.append((str(path.relative_to(ROOT)), path.read_text(), True))
    for folder in ("benchmarks", "tools"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            out.append((str(path.relative_to(ROOT)), path.read_text(), False))
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        # IPython magics (`%matplotlib`, `!pip`) are not Python: blank them for the parser
        code = re.sub(r"(?m)^\s*[%!].*$", "", code)
        out.append((str(path.relative_to(ROOT)), code, False))
    return out


@pytest.mark.parametrize("label, source, inside", _sources(), ids=lambda v: str(v)[:40])
def test_no_private_names_imported_across_modules(label: str, source: str, inside: bool) -> None:
    bad = _private_imports(ast.parse(source), inside)
    if not inside:  # chapters, benchmarks and tools read no private attribute either
        bad += _ATTRIBUTE.findall(source)
    assert not bad, f"{label} uses private names: {sorted(set(bad))}"


def test_the_private_import_check_catches_each_form() -> None:
    """The checker itself: each forbidden form is reported, the allowed ones are not."""
    cases = {
        "from hvae.special import _V0": True,
        "from hvae.special import log_iv": False,
        "from hvae import _kernels": True,
        "import hvae._kernels": True,
    }
    for code, flagged in cases.items():
        assert bool(_private_imports(ast.parse(code), inside=False)) == flagged, code
    assert not _private_imports(ast.parse("from hvae import _kernels"), inside=True)
    assert _private_imports(ast.parse("from hvae.sampling import _VmfDraw"), inside=True)
    assert _ATTRIBUTE.findall("glue('x', hvae.special._V0)") == ["hvae.special._V0"]
    assert not _ATTRIBUTE.findall("hvae.__version__")
