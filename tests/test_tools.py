"""The book tooling: metadata stripping keeps notebooks byte-stable across re-executions; the
API reference's extension finds where each public name is defined."""

import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from strip_metadata import strip  # noqa: E402


def _cell_with(outputs, **metadata):
    cell = nbformat.v4.new_code_cell("print('a'); print('b')")
    cell.outputs = outputs
    cell.metadata.update(metadata)
    return cell


def test_consecutive_stream_outputs_of_one_stream_are_merged_in_order():
    out = nbformat.v4.new_output
    cell = _cell_with([out("stream", name="stdout", text="a\n"),
                       out("stream", name="stdout", text="b\n"),
                       out("stream", name="stderr", text="warn\n"),
                       out("stream", name="stdout", text="c\n")])
    nb = nbformat.v4.new_notebook(cells=[cell])
    outputs = strip(nb).cells[0].outputs
    assert [(o.name, o.text) for o in outputs] == [
        ("stdout", "a\nb\n"), ("stderr", "warn\n"), ("stdout", "c\n")]


def test_volatile_metadata_is_removed_and_tags_kept():
    cell = _cell_with([], papermill={"duration": 1.2}, execution={"iopub.status.idle": "x"},
                      tags=["parameters"])
    nb = nbformat.v4.new_notebook(cells=[cell], metadata={"papermill": {"start_time": "t"},
                                                           "language_info": {"version": "3.11.7",
                                                                             "name": "python"}})
    nb = strip(nb)
    assert "papermill" not in nb.metadata
    assert nb.metadata.language_info == {"name": "python"}
    assert dict(nb.cells[0].metadata) == {"tags": ["parameters"]}


# --- tools/sphinx_api.py ------------------------------------------------------------------------

FAKE_PACKAGE = {
    "__init__.py": """
        \"\"\"A package that only re-exports.\"\"\"
        from fakepkg import sub
        from fakepkg.core import LIMIT, scale
        from .mid import Thing
        __all__ = ["LIMIT", "Thing", "scale", "sub"]
    """,
    "core.py": """
        \"\"\"Defines things, in this order.\"\"\"
        __all__ = ["scale", "LIMIT", "Helper"]
        LIMIT = 3
        def scale(x):
            return x * LIMIT
        class Helper:
            pass
        def _private():
            pass
    """,
    "mid.py": """
        \"\"\"Defines one name and re-exports one.\"\"\"
        from fakepkg.core import scale as rescale
        __all__ = ["Thing", "rescale"]
        class Thing:
            pass
    """,
    "sub.py": """
        \"\"\"A submodule.\"\"\"
        __all__ = []
    """,
    "bare.py": """
        \"\"\"No __all__.\"\"\"
        X = 1
    """,
}


@pytest.fixture
def sphinx_api(tmp_path, monkeypatch):
    """tools/sphinx_api.py, with the package ``fakepkg`` importable from ``tmp_path``."""
    pytest.importorskip("sphinx")
    package = tmp_path / "fakepkg"
    package.mkdir()
    for name, source in FAKE_PACKAGE.items():
        (package / name).write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield __import__("sphinx_api")
    for name in [m for m in sys.modules if m == "fakepkg" or m.startswith("fakepkg.")]:
        del sys.modules[name]


def test_api_names_a_module_defines_come_in_source_order(sphinx_api):
    assert sphinx_api.split_public("fakepkg.core") == (["LIMIT", "scale", "Helper"], [])


def test_api_reexports_point_to_where_the_name_is_defined(sphinx_api):
    defined, reexported = sphinx_api.split_public("fakepkg")
    assert defined == []
    assert reexported == [("LIMIT", "fakepkg.core.LIMIT"), ("Thing", "fakepkg.mid.Thing"),
                          ("scale", "fakepkg.core.scale"), ("sub", "fakepkg.sub")]
    # through an ``import ... as``: the home keeps the defining module's name
    assert sphinx_api.split_public("fakepkg.mid") == (["Thing"], [("rescale",
                                                                   "fakepkg.core.scale")])


def test_api_a_module_without_all_is_an_error(sphinx_api):
    with pytest.raises(ValueError, match="fakepkg.bare has no __all__"):
        sphinx_api.split_public("fakepkg.bare")
