"""Sphinx extension (loaded by ``_config.yml``): the book's API reference, from the docstrings.

The pages in ``api/`` hold one directive per module (inside MyST's ``{eval-rst}``, since autodoc
writes reStructuredText)::

    .. hvae-module:: hvae.data.mnist

It documents that module with autodoc: its docstring, then every name of its ``__all__`` that
the module *defines*, in source order (classes with their documented public methods), then a
table of the names of ``__all__`` it only *re-exports* (``hvae``, the packages, ``hvae.cluster``'s
``kappa_mle``), each linked to the module that defines it. So every object is described once,
where it lives, and the pages follow ``__all__`` without being edited when a name is added.

A re-exported name also becomes a cross-reference target (``hvae.VonMisesFisher``,
``hvae.data.load_mnist``): :func:`load_mnist` in the ``hvae.data`` docstring and
``:class:`hvae.VonMisesFisher``` resolve to the one description. So does a name a module only
imports (``from hvae.experiments.profiles import Profile``: ``:class:`Profile``` in its
docstrings), where the imported object is documented. A re-export whose home no page documents
is a build warning (an error under ``-W``), as is a module without ``__all__``.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx import addnodes
from sphinx.domains.python import ObjectEntry
from sphinx.ext.autosummary import autosummary_table
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

logger = logging.getLogger(__name__)

MAX_VALUE_REPR = 60  # longer values of module constants are not printed (``:no-value:``)


# --- where a public name lives -------------------------------------------------------------------


def _bindings(module: str) -> dict[str, tuple]:
    """Top-level names bound in ``module``'s source: ``("defined", line)`` for a def, class or
    assignment, ``("imported", source_module, source_name)`` for a ``from ... import``."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return {}
    package = module if spec.submodule_search_locations else module.rpartition(".")[0]
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    found: dict[str, tuple] = {}
    statements = list(tree.body)
    while statements:
        node = statements.pop(0)
        if isinstance(node, (ast.If, ast.Try, ast.With)):  # e.g. optional imports
            statements[:0] = [*node.body, *getattr(node, "orelse", []),
                              *[s for h in getattr(node, "handlers", []) for s in h.body]]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.setdefault(node.name, ("defined", node.lineno))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        found.setdefault(name.id, ("defined", node.lineno))
        elif isinstance(node, ast.ImportFrom):
            source = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            for alias in node.names:
                found.setdefault(alias.asname or alias.name, ("imported", source, alias.name))
    return found


def home(module: str, name: str) -> tuple[str, int | None]:
    """The full name under which ``module.name`` is documented and, when ``module`` defines it,
    its line there (``None`` for a re-export), following chains of re-exports."""
    obj = getattr(importlib.import_module(module), name)
    if inspect.ismodule(obj):
        return obj.__name__, None
    seen = set()
    current, attr = module, name
    while (current, attr) not in seen:
        seen.add((current, attr))
        binding = _bindings(current).get(attr)
        if binding is None:  # bound some other way (globals(), a star import)
            owner = getattr(obj, "__module__", None)
            if owner and owner != module and hasattr(obj, "__qualname__"):
                return f"{owner}.{obj.__qualname__}", None
            return f"{module}.{name}", 0
        if binding[0] == "defined":
            if (current, attr) == (module, name):
                return f"{module}.{name}", binding[1]
            return f"{current}.{attr}", None
        _, source, source_name = binding
        current, attr = source, source_name
    raise ValueError(f"{module}.{name}: circular re-exports")


def split_public(module: str) -> tuple[list[str], list[tuple[str, str]]]:
    """``module``'s ``__all__`` as (names it defines, in source order; (name, home) pairs of the
    names it re-exports, in ``__all__`` order)."""
    names = getattr(importlib.import_module(module), "__all__", None)
    if names is None:
        raise ValueError(f"{module} has no __all__")
    defined, reexported = [], []
    for name in names:
        full, line = home(module, name)
        if line is None:
            reexported.append((name, full))
        else:
            defined.append((line, name))
    return [name for _, name in sorted(defined)], reexported


def imported_names(module: str, skip=()) -> list[tuple[str, str]]:
    """(name, home) of the other names ``module`` imports with ``from ... import`` (those of
    ``skip`` left out): inside its docstrings, ``:class:`Profile``` means the imported one."""
    found = []
    for name, binding in _bindings(module).items():
        if binding[0] != "imported" or name in skip or name.startswith("_"):
            continue
        try:
            found.append((name, home(module, name)[0]))
        except (AttributeError, ImportError, ValueError):  # e.g. an import under TYPE_CHECKING
            continue
    return found


# --- the directive -------------------------------------------------------------------------------


def _autodoc_lines(module: str, name: str) -> list[str]:
    obj = getattr(importlib.import_module(module), name)
    full = f"{module}.{name}"
    if inspect.isclass(obj):
        kind = "autoexception" if issubclass(obj, BaseException) else "autoclass"
        return [f".. {kind}:: {full}", "   :members:", "   :show-inheritance:", ""]
    if callable(obj):
        return [f".. autofunction:: {full}", ""]
    value = repr(obj)
    short = len(value) <= MAX_VALUE_REPR and "\n" not in value and " at 0x" not in value
    return [f".. autodata:: {full}", *([] if short else ["   :no-value:"]), ""]


class ModuleDirective(SphinxDirective):
    """``.. hvae-module:: NAME``: the module's docstring, what it defines, what it re-exports."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        module = self.arguments[0]
        try:
            defined, reexported = split_public(module)
        except (ImportError, ValueError) as error:
            logger.warning("hvae-module %s: %s", module, error, location=self.get_location())
            return []
        lines = [f".. automodule:: {module}", "   :no-members:", ""]
        for name in defined:
            lines += _autodoc_lines(module, name)
        if reexported:
            lines += [".. rubric:: Re-exported names", "",
                      f"Also importable from ``{module}``; each is described in the module "
                      "that defines it.", "",
                      # autosummary refuses names under the current module; none is current here.
                      ".. py:currentmodule:: None", "", ".. autosummary::", ""]
            lines += [f"   ~{full}" for _, full in reexported]
            lines += ["", f".. py:currentmodule:: {module}", ""]
        aliases = self.env.__dict__.setdefault("hvae_api_aliases", {})
        for name, full in reexported:
            aliases[f"{module}.{name}"] = (full, self.env.docname, self.lineno, True)
        for name, full in imported_names(module, skip={n for n, _ in reexported}):
            aliases[f"{module}.{name}"] = (full, self.env.docname, self.lineno, False)
        container = nodes.container()
        nested_parse_with_titles(self.state, StringList(lines, source=f"<hvae-module {module}>"),
                                 container)
        if reexported:
            _summaries_in_their_modules(container, [full for _, full in reexported])
        return container.children


def _summaries_in_their_modules(container: nodes.Element, homes: list[str]) -> None:
    """Resolve the references in each row of the re-export table from the module of the name
    in that row: the summary is the first sentence of a docstring written there."""
    table = next(iter(container.findall(autosummary_table)))
    rows = list(table.findall(nodes.row))
    for row, full in zip(rows, homes, strict=True):
        owner = full if inspect.ismodule(_import(full)) else full.rpartition(".")[0]
        for ref in row.findall(addnodes.pending_xref):
            ref["py:module"], ref["py:class"] = owner, None


def _import(full: str):
    module, _, name = full.rpartition(".")
    try:
        return importlib.import_module(full)
    except ImportError:
        return getattr(importlib.import_module(module), name)


# --- cross-references to re-exported names -------------------------------------------------------


def _purge(app, env, docname):
    aliases = getattr(env, "hvae_api_aliases", {})
    for alias in [a for a, (_, doc, *_) in aliases.items() if doc == docname]:
        del aliases[alias]


def _merge(app, env, docnames, other):
    env.__dict__.setdefault("hvae_api_aliases", {}).update(
        getattr(other, "hvae_api_aliases", {}))


def _register_aliases(app, env):
    """After every page is read: each re-exported name points at its home's description."""
    domain = env.get_domain("py")
    for alias, (full, docname, line, public) in sorted(
            getattr(env, "hvae_api_aliases", {}).items()):
        entry = domain.objects.get(full)
        if entry is None:
            if public:
                logger.warning("%s re-exports %s, which no page of the API reference documents",
                               alias, full, location=(docname, line))
            continue
        if alias not in domain.objects or domain.objects[alias].aliased:
            domain.objects[alias] = ObjectEntry(entry.docname, entry.node_id, entry.objtype,
                                                aliased=True)
    return []


# --- module constants and properties are prose ----------------------------------------------------

# Napoleon reads the first line of the docstring of a constant, attribute or property as
# ``type: description``, so "Sizes of the splits (stratified: 350/50/100 ...)" would become a
# type "Sizes of the splits (stratified". hvae writes those docstrings as plain prose (the type
# is in the annotation): these two handlers, on each side of napoleon's (priority 500), put
# their text back as written. A constant without a ``#:`` comment would show the docstring of
# its type (``str(object='') -> str ...``): it shows none.
PROSE = ("data", "attribute", "property")


def _keep_prose(app, what, name, obj, options, lines):
    if what not in PROSE:
        return
    type_doc = getattr(type(obj), "__doc__", None)
    if (not isinstance(obj, type) and isinstance(type_doc, str)
            and "\n".join(lines).strip() == inspect.cleandoc(type_doc).strip()):
        lines[:] = []
    app.env.__dict__.setdefault("hvae_api_prose", {})[name] = list(lines)


def _restore_prose(app, what, name, obj, options, lines):
    kept = app.env.__dict__.get("hvae_api_prose", {}).pop(name, None)
    if what in PROSE and kept is not None:
        lines[:] = kept


def setup(app):
    app.setup_extension("sphinx.ext.autodoc")
    app.setup_extension("sphinx.ext.autosummary")
    app.add_directive("hvae-module", ModuleDirective)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("env-updated", _register_aliases)
    app.connect("autodoc-process-docstring", _keep_prose, priority=499)
    app.connect("autodoc-process-docstring", _restore_prose, priority=501)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
