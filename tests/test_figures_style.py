"""The book's figure rules, checked without executing anything.

"Figures: PNG at >= 150 dpi, text >= 9 pt at the size shown, at most three panels a row, every
panel labelled, colour-blind-safe maps (no red/green pairs)." Three checks:

* ``chapters/matplotlibrc``: dpi, every font size, the colour cycle;
* every chapter's code cells, scanned (``ast``) for a text size below ``MIN_FONT_PT``, a figure
  wider than ``MAX_WIDTH_IN``, more than three panels a row, a red/green pair or a rainbow map;
  the scanner is tested on planted violations;
* the committed PNG outputs: width and dpi (the pHYs chunk), read with the standard library.

The size rule, from the text column of sphinx-book-theme measured at a 1300 px window
(``COLUMN_PX`` = 704 CSS px, tools/measure_widths.py; see chapters/matplotlibrc): text of s pt
in a figure w in wide, drawn wider than the column and scaled down to it, appears at
s * COLUMN_PX / (96 * w) CSS pt. For it to appear at >= ``MIN_SHOWN_PT`` = 9 pt in every figure
(w <= ``MAX_WIDTH_IN`` = 7.8 in), s >= 9 * 96 * 7.8 / 704 = 9.6 pt: ``MIN_FONT_PT`` = 10 pt.
"""

import ast
import base64
import colorsys
import json
import math
import re
import struct
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import toc  # noqa: E402

COLUMN_PX = 704  # the text column at a 1300 px window, measured in headless Chromium
MAX_WIDTH_IN = 7.8  # the widest figure
MIN_SHOWN_PT = 9  # the smallest text at the size shown
CSS_PX_PER_IN = 96
# the smallest font size that appears at >= MIN_SHOWN_PT in a figure MAX_WIDTH_IN wide: 10 pt
MIN_FONT_PT = math.ceil(MIN_SHOWN_PT * CSS_PX_PER_IN * MAX_WIDTH_IN / COLUMN_PX)
MIN_DPI = 150
MAX_PNG_WIDTH_PX = round(MAX_WIDTH_IN * MIN_DPI)  # 1170
MAX_PANELS_A_ROW = 3
NOTEBOOKS = toc.notebooks()
RC = ROOT / "chapters" / "matplotlibrc"

FONT_KEYS = ("font.size", "axes.titlesize", "axes.labelsize", "xtick.labelsize",
             "ytick.labelsize", "legend.fontsize", "legend.title_fontsize", "figure.titlesize")
RELATIVE_SIZES = {"xx-small": 0.579, "x-small": 0.694, "small": 0.833, "medium": 1.0,
                  "large": 1.2, "x-large": 1.44, "xx-large": 1.728, "larger": 1.2,
                  "smaller": 0.833}
TEXT_SIZE_KEYWORDS = {"fontsize", "labelsize", "title_fontsize"}
# calls whose size= is a text size (elsewhere size= is an array shape)
TEXT_CALLS = {"text", "text2D", "annotate", "set_title", "set_xlabel", "set_ylabel",
              "suptitle", "supxlabel", "supylabel", "figtext", "legend", "tick_params",
              "set_xticklabels", "set_yticklabels", "clabel", "table"}
COLOUR_KEYWORDS = {"color", "c", "colors", "facecolor", "edgecolor", "fc", "ec", "mfc", "mec",
                   "markerfacecolor", "markeredgecolor"}
RED_GREEN_NAMES = {"red", "green", "tab:red", "tab:green", "lime", "darkgreen", "darkred",
                   "crimson", "forestgreen", "limegreen", "xkcd:red", "xkcd:green"}
FORBIDDEN_MAPS = {"jet", "rainbow", "gist_rainbow", "hsv", "nipy_spectral", "gist_ncar",
                  "RdYlGn", "Spectral", "tab10", "tab20", "Set1", "Paired"}
PLOT_CALLS = {"plot", "semilogx", "semilogy", "loglog", "errorbar", "step"}
FMT = re.compile(r"^[-.:,ov^<>1234sp*hH+xXDd|_bcmykw]*[rg][-.:,ov^<>1234sp*hH+xXDd|_bcmykw]*$")


# --- colours ----------------------------------------------------------------------------------


def _rgb(colour: str):
    text = colour.strip().strip("'\"").lstrip("#")
    if not re.fullmatch(r"[0-9a-fA-F]{6}", text):
        return None
    return tuple(int(text[i:i + 2], 16) / 255 for i in (0, 2, 4))


def colour_band(colour: str):
    """'red' or 'green' when a hex colour lies in that hue band, saturated (> 0.4); else None.

    Red: hue < 20 or > 340 degrees; green: 90 to 150 degrees (HSV). A figure that uses one of
    each relies on the distinction red-green colour blindness (1 man in 12) loses.
    """
    rgb = _rgb(colour)
    if rgb is None:
        return None
    hue, saturation, _ = colorsys.rgb_to_hsv(*rgb)
    hue *= 360
    if saturation <= 0.4:
        return None
    if hue < 20 or hue > 340:
        return "red"
    if 90 <= hue <= 150:
        return "green"
    return None


def has_red_green_pair(colours) -> bool:
    bands = {colour_band(c) for c in colours}
    return {"red", "green"} <= bands


# --- the rc file ------------------------------------------------------------------------------


def _rc() -> dict[str, str]:
    values = {}
    for line in RC.read_text().splitlines():
        line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("axes.prop_cycle") \
            else line.strip()
        if ":" in line:
            key, value = line.split(":", 1)
            values[key.strip()] = value.strip()
    return values


def _cycle_colours(rc) -> list[str]:
    return re.findall(r"'#?([0-9a-fA-F]{6})'", rc["axes.prop_cycle"])


def test_rc_resolution():
    rc = _rc()
    assert float(rc["figure.dpi"]) >= MIN_DPI
    assert rc["savefig.dpi"] == "figure"


def test_minimum_font_size_follows_from_the_column():
    assert MIN_FONT_PT == 10
    assert MIN_FONT_PT * COLUMN_PX / (CSS_PX_PER_IN * MAX_WIDTH_IN) >= MIN_SHOWN_PT  # 9.4 pt
    assert (MIN_FONT_PT - 1) * COLUMN_PX / (CSS_PX_PER_IN * MAX_WIDTH_IN) < MIN_SHOWN_PT


def test_rc_font_sizes_are_at_least_the_minimum():
    rc = _rc()
    base = float(rc["font.size"])
    for key in FONT_KEYS:
        assert key in rc, f"{key} not set explicitly in {RC.name}"
        value = rc[key]
        size = base * RELATIVE_SIZES[value] if value in RELATIVE_SIZES else float(value)
        assert size >= MIN_FONT_PT, f"{key}: {value} = {size:.1f} pt < {MIN_FONT_PT} pt"


def test_rc_colours_are_colour_blind_safe():
    rc = _rc()
    colours = _cycle_colours(rc)
    assert len(colours) >= 6
    assert not has_red_green_pair(colours[:6]), colours
    assert rc["image.cmap"] in {"viridis", "cividis"}


@pytest.mark.parametrize("colours, pair", [
    (["1f77b4", "ff7f0e", "2ca02c", "d62728"], True),  # matplotlib's default cycle
    (["4daf4a", "ff7f00", "e41a1c"], True),
    (["0072B2", "E69F00", "009E73", "CC79A7", "56B4E9", "D55E00"], False),  # Okabe-Ito
])
def test_red_green_pair_definition(colours, pair):
    assert has_red_green_pair(colours) is pair


# --- the scanner of code cells -----------------------------------------------------------------


def _name(func) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _number(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) \
            and not isinstance(node.value, bool):
        return node.value
    return None


def _strings(node):
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)]


def _check_size(name, node, problems):
    value = _number(node)
    if value is not None and value < MIN_FONT_PT:
        problems.append(f"{name}={value}: text below {MIN_FONT_PT} pt")
    if isinstance(node, ast.Constant) and node.value in RELATIVE_SIZES \
            and 10 * RELATIVE_SIZES[node.value] < MIN_FONT_PT:
        problems.append(f"{name}={node.value!r}: text below {MIN_FONT_PT} pt")


def _check_call(call: ast.Call, problems: list[str]) -> None:
    name = _name(call.func)
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    for key, value in keywords.items():
        if key in TEXT_SIZE_KEYWORDS or (key == "size" and name in TEXT_CALLS):
            _check_size(key, value, problems)
        if key in ("prop", "fontdict") and isinstance(value, ast.Dict):
            for k, v in zip(value.keys, value.values, strict=True):
                if isinstance(k, ast.Constant) and k.value in ("size", "fontsize"):
                    _check_size(f"{key}[{k.value!r}]", v, problems)
        if key == "figsize" and isinstance(value, ast.Tuple | ast.List) and value.elts:
            width = _number(value.elts[0])
            if width is not None and width > MAX_WIDTH_IN:
                problems.append(f"figsize width {width} in > {MAX_WIDTH_IN} in")
        if key in COLOUR_KEYWORDS:
            for s in _strings(value):
                if s.lower() in RED_GREEN_NAMES or s in ("r", "g"):
                    problems.append(f"{key}={s!r}: red or green by name")
        if key in ("cmap", "fmt"):
            for s in _strings(value):
                if s.removesuffix("_r") in FORBIDDEN_MAPS:
                    problems.append(f"colour map {s!r}")
                if key == "fmt" and FMT.match(s):
                    problems.append(f"format {s!r}: red or green")
    if name == "set_size_inches" and call.args:
        width = _number(call.args[0])
        if width is not None and width > MAX_WIDTH_IN:
            problems.append(f"set_size_inches width {width} in > {MAX_WIDTH_IN} in")
    if name in PLOT_CALLS:
        for arg in call.args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) \
                    and FMT.match(arg.value):
                problems.append(f"format {arg.value!r}: red or green")
    if name in ("subplots", "add_gridspec", "GridSpec"):
        rows = call.args[0] if call.args else keywords.get("nrows")
        cols = call.args[1] if len(call.args) > 1 else keywords.get("ncols")
        n_cols = _number(cols) if cols is not None else None
        if n_cols is not None and n_cols > MAX_PANELS_A_ROW:
            problems.append(f"{name}: {n_cols} panels a row > {MAX_PANELS_A_ROW}")
        elif cols is not None and n_cols is None and _number(rows) == 1:
            problems.append(f"{name}(1, {ast.unparse(cols)}): one row of an unknown number of "
                            f"panels")
    if name == "add_subplot" and call.args:
        first = _number(call.args[0])
        if len(call.args) >= 3 and _number(call.args[1]) is not None \
                and _number(call.args[1]) > MAX_PANELS_A_ROW:
            problems.append(f"add_subplot: {_number(call.args[1])} panels a row")
        elif len(call.args) == 1 and isinstance(first, int) and 100 <= first <= 999 \
                and (first // 10) % 10 > MAX_PANELS_A_ROW:
            problems.append(f"add_subplot({first}): {(first // 10) % 10} panels a row")


def scan_source(source: str) -> list[str]:
    """The violations of the figure rules in one code cell's source (a list of messages)."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    tree = ast.parse("\n".join(lines))
    problems: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            _check_call(node, problems)
        if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_MAPS \
                and _name(node.value) == "cm":
            problems.append(f"colour map cm.{node.attr}")
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                and _name(node.value) in ("colormaps", "color_sequences") \
                and str(node.slice.value).removesuffix("_r") in FORBIDDEN_MAPS:
            problems.append(f"colour map {node.slice.value!r}")
    if has_red_green_pair(_strings(tree)):
        problems.append("hex colours: a red/green pair")
    return problems


def _code_cells(path: Path):
    notebook = json.loads((ROOT / path).read_text(encoding="utf-8"))
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code":
            yield index, cell


@pytest.mark.parametrize("source, expected", [
    ("ax.legend(fontsize=8)", "fontsize=8"),
    ("ax.legend(fontsize=9)", "fontsize=9"),
    ("ax.tick_params(labelsize=9)", "labelsize=9"),
    ("ax.tick_params(labelsize=7)", "labelsize=7"),
    ("ax.text(0, 0, 's', size=9)", "size=9"),
    ("ax.annotate('s', (0, 0), fontsize=9.5)", "fontsize=9.5"),
    ("ax.set_title('t', fontsize='small')", "fontsize='small'"),
    ("ax.legend(title='t', title_fontsize=9)", "title_fontsize=9"),
    ("ax.legend(prop={'size': 9})", "prop['size']=9"),
    ("fig = plt.figure(figsize=(10.0, 4.0))", "figsize width 10.0"),
    ("fig, ax = plt.subplots(figsize=(9.6, 3))", "figsize width 9.6"),
    ("fig.set_size_inches(8, 3)", "set_size_inches width 8"),
    ("fig, axes = plt.subplots(1, 5)", "5 panels a row"),
    ("fig, axes = plt.subplots(2, 4, figsize=(7, 4))", "4 panels a row"),
    ("fig, axes = plt.subplots(nrows=1, ncols=6)", "6 panels a row"),
    ("fig, axes = plt.subplots(1, len(dims))", "one row of an unknown number"),
    ("ax = fig.add_subplot(1, 4, 1)", "4 panels a row"),
    ("ax = fig.add_subplot(141)", "4 panels a row"),
    ("ax.plot(x, y, color='red')\nax.plot(x, z, color='green')", "red or green by name"),
    ("ax.plot(x, y, 'r--')", "format 'r--'"),
    ("ax.plot(x, y, 'g')", "format 'g'"),
    ("ax.errorbar(x, y, fmt='ro')", "format 'ro'"),
    ("ax.axvline(1, c='tab:green')", "red or green by name"),
    ("ax.imshow(a, cmap='jet')", "colour map 'jet'"),
    ("ax.pcolormesh(a, cmap='RdYlGn_r')", "colour map 'RdYlGn_r'"),
    ("ax.bar(x, y, color=plt.cm.tab10(k))", "cm.tab10"),
    ("c = plt.colormaps['rainbow']", "colour map 'rainbow'"),
    ("cmap = ListedColormap(['#4daf4a', '#ff7f00', '#e41a1c'])", "red/green pair"),
])
def test_scanner_reports_a_planted_violation(source, expected):
    problems = scan_source(source)
    assert any(expected in p for p in problems), (source, problems)


@pytest.mark.parametrize("source", [
    "ax.legend(fontsize=10)\nax.set_title('t', fontsize=11)\nax.tick_params(labelsize=10)",
    "ax.text(0, 0, 's', size=10, fontsize='medium')",
    "fig, axes = plt.subplots(2, 3, figsize=(7.8, 5.2))",
    "fig, axes = plt.subplots(n_rows, 3, figsize=(7.8, 6))",
    "x = rng.beta(a, a, size=5)",  # an array shape, not a text size
    "ax.plot(x, y, '--s', color='C0', ms=4)\nax.scatter(x, y, s=3, c=d, cmap='viridis')",
    "cmap = ListedColormap(['#0072B2', '#F0E442', '#D55E00'])",
    "ax.pcolormesh(a, cmap='PuOr')\nf = open(path, 'r')",
])
def test_scanner_passes_what_follows_the_rules(source):
    assert scan_source(source) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=str)
def test_chapter_figures_follow_the_rules(path):
    problems = [f"cell {index}: {problem}" for index, cell in _code_cells(path)
                for problem in scan_source("".join(cell["source"]))]
    assert not problems, f"{path}:\n" + "\n".join(problems)


# --- the committed PNG outputs ----------------------------------------------------------------


def png_size_and_dpi(data: bytes) -> tuple[int, int, float | None]:
    """Width and height in pixels and the resolution in dots per inch (pHYs; None without it)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width = height = None
    dpi = None
    offset = 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        kind = data[offset + 4:offset + 8]
        body = data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"pHYs":
            x_per_unit, _, unit = struct.unpack(">IIB", body)
            if unit == 1:  # pixels per metre
                dpi = x_per_unit * 0.0254
        elif kind == b"IEND":
            break
        offset += 12 + length
    return width, height, dpi


def test_png_parser_reads_matplotlib_output(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(2.0, 1.0), dpi=150)
    try:
        fig.savefig(tmp_path / "f.png", dpi=150)
    finally:
        plt.close(fig)
    width, height, dpi = png_size_and_dpi((tmp_path / "f.png").read_bytes())
    assert (width, height) == (300, 150)
    assert dpi == pytest.approx(150, abs=0.1)  # 5906 px/m


@pytest.mark.parametrize("path", NOTEBOOKS, ids=str)
def test_committed_figures_are_sharp_and_fit_the_column(path):
    """Fails until the chapters are re-executed after a change of the rc file or a figure."""
    problems = []
    for index, cell in _code_cells(path):
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png is None:
                continue
            width, _, dpi = png_size_and_dpi(base64.b64decode(png))
            if width > MAX_PNG_WIDTH_PX:
                problems.append(f"cell {index}: {width} px wide > {MAX_PNG_WIDTH_PX} px")
            if dpi is None or dpi < MIN_DPI - 0.5:
                problems.append(f"cell {index}: {dpi if dpi is None else round(dpi)} dpi "
                                f"< {MIN_DPI}")
    assert not problems, f"{path}:\n" + "\n".join(problems)
