"""Remove the volatile metadata that executing a notebook leaves behind, so that re-executing an
unchanged notebook gives the same file byte for byte.

Removed: papermill's notebook-level ``papermill`` block (times, paths, parameters) and its
per-cell ``papermill`` entries, nbclient's per-cell ``execution`` time stamps, the empty ``tags``
lists papermill adds to every cell, and the interpreter's patch version in ``language_info``
(it differs between machines and says nothing about the outputs). Consecutive stream outputs
of the same stream are merged: how the kernel splits printed text into messages depends on
timing, so a busy machine would otherwise make the same text into a different file. Kept:
everything else, the ``parameters`` tag and, when a run used a non-default profile, papermill's
``injected-parameters`` cell (given a fixed cell id, so that repeated runs agree).

Usage: ``python tools/strip_metadata.py NOTEBOOK...`` strips notebooks in place, e.g. one saved
from JupyterLab.
"""

import sys

import nbformat

INJECTED = "injected-parameters"


def _merge_streams(outputs: list) -> list:
    """Join each run of consecutive ``stream`` outputs of the same name into one output."""
    merged = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (out.get("output_type") == "stream" and prev is not None
                and prev.get("output_type") == "stream" and prev.get("name") == out.get("name")):
            prev["text"] = "".join(prev["text"]) + "".join(out["text"])
        else:
            merged.append(out)
    return merged


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip ``nb`` in place and return it."""
    nb.metadata.pop("papermill", None)
    nb.metadata.get("language_info", {}).pop("version", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.metadata.get("tags") == []:
            del cell.metadata["tags"]
        if INJECTED in cell.metadata.get("tags", []):
            cell.id = INJECTED
        if cell.cell_type == "code":
            cell.outputs = _merge_streams(cell.outputs)
    return nb


def main(paths: list[str]) -> None:
    for path in paths:
        nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
        nbformat.write(strip(nb), path)


if __name__ == "__main__":
    main(sys.argv[1:])
