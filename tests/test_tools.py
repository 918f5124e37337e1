"""The book tooling: metadata stripping keeps notebooks byte-stable across re-executions."""

import sys
from pathlib import Path

import nbformat

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
