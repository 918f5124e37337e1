"""Tests of the book (the Jupyter Book in chapters/, built by ``make book``).

Five groups:

* structure (always runs, cheap): every page in ``_toc.yml`` exists; every chapter notebook has
  exactly one ``parameters`` cell that sets ``profile``, was committed executed and stripped, and
  has at least one cell tagged ``nbval-check-output`` and no nbval comment marker;
* API reference: every public module of ``hvae`` is documented on exactly one page of ``api/``
  (always runs); once built, those pages show every public name and no private one, and the
  docstrings' math reaches MathJax;
* figures: the PNGs that nbval's re-execution produced (``_build/executed/``, written by
  ``tools/nbval_capture.py``) match the committed ones within ``FIGURE_TOL`` RMS;
* HTML: the built book (``_build/html``) loads nothing from another host (MathJax included);
* browser: headless Chromium loads the built book (``_build/html``) from a loopback HTTP server
  and checks that MathJax typeset every formula, every image loaded and the console shows no
  error; a screenshot of each page goes to ``_build/screenshots/``. It also checks that at
  1300 px no display equation, table or figure is wider than the text column and that at
  390 px no page scrolls sideways (``tools/measure_widths.py`` measures and prints the widths).

``HVAE_BOOK_HTML`` and ``HVAE_BOOK_SCREENSHOTS`` point the built pages' checks at another build
(``jupyter-book build --path-output DIR`` puts it in ``DIR/_build/html``) and the screenshots
elsewhere.

The checks of built pages (those of the API reference and the last three groups) need what
``make book-check`` makes first (the nbval run, the HTML build), so they run only when it sets
``HVAE_BOOK_CHECK=1`` and are skipped in a plain ``pytest tests``.
"""

import base64
import functools
import hashlib
import http.server
import os
import re
import shutil
import sys
import threading
import warnings
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import measure_widths  # noqa: E402
import toc  # noqa: E402

# The built book and where its screenshots go; HVAE_BOOK_HTML and HVAE_BOOK_SCREENSHOTS point
# them elsewhere (a build made with `jupyter-book build --path-output DIR` is in DIR/_build/html).
HTML = Path(os.environ.get("HVAE_BOOK_HTML", ROOT / "_build" / "html"))
EXECUTED = ROOT / "_build" / "executed"
FIGURE_DIFFS = ROOT / "_build" / "figure-diffs"
SCREENSHOTS = Path(os.environ.get("HVAE_BOOK_SCREENSHOTS", ROOT / "_build" / "screenshots"))
FIGURE_TOL = 2.0  # RMS difference, in 0-255 grey levels, that matplotlib's compare_images allows
CHROMIUM, CHROMEDRIVER = measure_widths.CHROMIUM, measure_widths.CHROMEDRIVER
INSTALL_HINT = "install them with `apt-get install -y chromium chromium-driver` (as root)"

PAGES = toc.pages()
NOTEBOOKS = toc.notebooks()
# `make unit` deselects these (-m "not book_check"); `make book-check` runs them after it has
# re-executed the chapters and built the HTML. A bare `pytest tests` skips them with a reason.
_needs_build = pytest.mark.skipif(
    os.environ.get("HVAE_BOOK_CHECK") != "1",
    reason="needs the nbval run and HTML build of `make book-check`, which sets HVAE_BOOK_CHECK=1",
)


def book_check(test):
    return pytest.mark.book_check(_needs_build(test))


def _tags(cell: nbformat.NotebookNode) -> list[str]:
    return cell.metadata.get("tags", [])


def _pngs(cell: nbformat.NotebookNode) -> list[bytes]:
    return [base64.b64decode(out["data"]["image/png"])
            for out in cell.get("outputs", []) if "image/png" in out.get("data", {})]


# --- structure ---------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=str)
def test_toc_page_exists(page):
    # A generated page (tools/toc.py GENERATED) exists only once the Makefile has built the book.
    assert (ROOT / page).is_file() or page in toc.GENERATED, (
        f"_toc.yml lists {page}, which does not exist")


def test_every_chapter_notebook_is_in_the_toc():
    listed = set(NOTEBOOKS)
    stray = [p for p in sorted((ROOT / "chapters").glob("*.ipynb"))
             if p.relative_to(ROOT) not in listed]
    assert not stray, f"notebooks missing from _toc.yml (so neither built nor tested): {stray}"


def _plumbing(cell) -> bool:
    """A code cell that shows nothing but its code and glues values for the prose (and defines
    no function the reader is meant to see): set-up, not content."""
    glue_only = all(output.get("output_type") == "display_data" and all(
        key.startswith("application/papermill.record") for key in output.get("data", {}))
        for output in cell.get("outputs", []))
    return glue_only and "glue(" in cell.source and not re.search(r"^def ", cell.source, re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=str)
def test_plumbing_cells_are_out_of_sight(path):
    nb = nbformat.read(ROOT / path, as_version=4)
    shown = [i for i, cell in enumerate(nb.cells, 1) if cell.cell_type == "code"
             and _plumbing(cell) and not {"hide-input", "remove-input"} & set(_tags(cell))]
    assert not shown, (f"{path}: cells {shown} only set up and glue values, yet the page shows "
                       "their code; tag them `hide-input` (or `remove-input`)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=str)
def test_notebook_structure(path):
    nb = nbformat.read(ROOT / path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]

    parameters = [cell for cell in code if "parameters" in _tags(cell)]
    assert len(parameters) == 1, f"{path}: {len(parameters)} cells tagged `parameters`, want 1"
    assert re.search(r"^profile\s*=", parameters[0].source, re.MULTILINE), (
        f"{path}: the `parameters` cell does not set `profile`")

    unrun = [i for i, cell in enumerate(nb.cells, 1)
             if cell.cell_type == "code" and cell.source.strip() and cell.execution_count is None]
    assert not unrun, f"{path}: cells {unrun} were not executed; run `make book` and commit"

    assert any("nbval-check-output" in _tags(cell) for cell in code), (
        f"{path}: no cell tagged `nbval-check-output`, so nbval checks no number")
    markers = [i for i, cell in enumerate(nb.cells, 1) if "# NBVAL_" in cell.source]
    assert not markers, (f"{path}: cells {markers} carry an nbval comment, which the page would "
                         "show; tag them (`nbval-check-output`) instead")

    volatile = [key for key in ("papermill",) if key in nb.metadata] + [
        f"cell {i}: {key}" for i, cell in enumerate(nb.cells, 1)
        for key in ("papermill", "execution") if key in cell.metadata]
    assert not volatile, (f"{path}: volatile metadata {volatile}; "
                          "run `python tools/strip_metadata.py` on it (make book does)")


# --- figures -----------------------------------------------------------------------------------


@book_check
@pytest.mark.parametrize("path", NOTEBOOKS, ids=str)
def test_figures_match_committed(path):
    from matplotlib.testing.compare import compare_images

    committed = nbformat.read(ROOT / path, as_version=4)
    copy_path = EXECUTED / path
    assert copy_path.exists(), f"no re-executed copy {copy_path}: run `make book-check`"
    executed = nbformat.read(copy_path, as_version=4)
    sha = hashlib.sha256((ROOT / path).read_bytes()).hexdigest()
    assert executed.metadata.get("hvae_book", {}).get("source_sha256") == sha, (
        f"{copy_path} was made from another version of {path}: run `make book-check`")

    out = FIGURE_DIFFS / path.stem
    shutil.rmtree(out, ignore_errors=True)
    problems = []
    for number, (old, new) in enumerate(zip(committed.cells, executed.cells, strict=True), 1):
        if old.cell_type != "code" or new.execution_count is None:
            continue  # not code, or not re-executed (e.g. # NBVAL_SKIP)
        expected, actual = _pngs(old), _pngs(new)
        if len(expected) != len(actual):
            problems.append(f"cell {number}: {len(expected)} figures committed, "
                            f"{len(actual)} after re-execution")
            continue
        for k, (want, got) in enumerate(zip(expected, actual, strict=True)):
            if want == got:
                continue
            out.mkdir(parents=True, exist_ok=True)
            want_file = out / f"cell{number}-{k + 1}-expected.png"
            got_file = out / f"cell{number}-{k + 1}.png"
            want_file.write_bytes(want)
            got_file.write_bytes(got)
            try:
                result = compare_images(str(want_file), str(got_file), tol=FIGURE_TOL)
            except Exception as error:  # e.g. ImageComparisonFailure: sizes differ
                result = str(error)
            if result is not None:
                problems.append(f"cell {number}, figure {k + 1}: {result}")
    assert not problems, (f"{path}: figures changed on re-execution (images in {out}); if that is "
                          "intended, run `make book` and commit:\n" + "\n".join(problems))


# --- the API reference -------------------------------------------------------------------------

API_DIRECTIVE = re.compile(r"^\.\. hvae-module:: (\S+)\s*$", re.MULTILINE)


def _public_modules() -> set[str]:
    """Every importable module of hvae without a private part (``_io``, ``__main__``, ...)."""
    found = set()
    for path in (ROOT / "hvae").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not any(part.startswith("_") for part in parts):
            found.add(".".join(parts))
    return found


def _api_pages() -> dict[Path, list[str]]:
    """The pages of api/ and the modules each documents (its ``hvae-module`` directives)."""
    return {page.relative_to(ROOT): API_DIRECTIVE.findall(page.read_text(encoding="utf-8"))
            for page in sorted((ROOT / "api").glob("*.md"))}


def test_api_reference_documents_every_public_module():
    pages = _api_pages()
    assert pages, "no API reference pages in api/"
    unlisted = [page for page in pages if page not in PAGES]
    assert not unlisted, f"API pages missing from _toc.yml (so not built): {unlisted}"
    documented = [module for modules in pages.values() for module in modules]
    twice = sorted({m for m in documented if documented.count(m) > 1})
    assert not twice, f"modules documented on more than one API page: {twice}"
    public = _public_modules()
    missing = sorted(public - set(documented))
    assert not missing, ("public modules without an API page: add `.. hvae-module:: NAME` "
                         f"to a page in api/ (see tools/README.md): {missing}")
    stale = sorted(set(documented) - public)
    assert not stale, f"API pages document modules that are not public modules of hvae: {stale}"


def _private(name: str) -> bool:
    """``_x`` is private; ``__version__`` (a dunder) is not."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@book_check
def test_api_pages_show_every_public_name_and_nothing_private():
    """Each built API page has an entry for every name its modules define in ``__all__``, a link
    for every name they re-export, and no entry for a private name."""
    import sphinx_api  # tools/sphinx_api.py, the extension that writes these pages

    problems = []
    for page, modules in _api_pages().items():
        built = HTML / page.with_suffix(".html")
        assert built.is_file(), f"{page} was not built: run `make book-check`"
        text = built.read_text(encoding="utf-8")
        ids = set(re.findall(r'<dt class="sig sig-object py" id="([^"]+)"', text))
        links = set(re.findall(r'href="[^"#]*#([^"]+)"', text))
        problems += [f"{page}: private entry {i}" for i in sorted(ids)
                     if any(_private(part) for part in i.split("."))]
        for module in modules:
            defined, reexported = sphinx_api.split_public(module)
            problems += [f"{page}: no entry for {module}.{name}" for name in defined
                         if f"{module}.{name}" not in ids]
            problems += [f"{page}: no link to {full} (re-exported by {module})"
                         for _, full in reexported if not {full, f"module-{full}"} & links]
    assert not problems, "\n".join(problems)


@book_check
def test_api_pages_render_docstring_math():
    text = (HTML / "api" / "special.html").read_text(encoding="utf-8")
    assert '<span class="math notranslate nohighlight">\\(' in text, (
        "no :math: of the docstrings reached MathJax on api/special.html")
    assert '<div class="math notranslate nohighlight">' in text, (
        "no `.. math::` block of the docstrings reached MathJax on api/special.html")


# --- the built HTML ----------------------------------------------------------------------------

REMOTE_ASSET = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=[\"']?(?:https?:)?//",
                          re.IGNORECASE)
CDN_HOST = re.compile(r"unpkg\.com|jsdelivr\.net|cdnjs\.cloudflare\.com|googleapis\.com",
                      re.IGNORECASE)


@book_check
def test_html_is_self_contained():
    """No page loads anything (MathJax above all) from another host; links to papers are fine."""
    pages = sorted(HTML.rglob("*.html"))
    assert pages, "no _build/html: build the book first (make book-check does)"
    assert (HTML / "_static" / "mathjax" / "tex-chtml.js").is_file(), "MathJax was not copied"
    problems = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        problems += [f"{page.relative_to(HTML)}: {m.group(0)}" for m in REMOTE_ASSET.finditer(text)]
        problems += [f"{page.relative_to(HTML)}: CDN {m.group(0)}" for m in CDN_HOST.finditer(text)]
    assert not problems, "remote assets in the built book:\n" + "\n".join(problems[:20])


# --- browser -----------------------------------------------------------------------------------

# Text that is visible to the reader, outside code blocks and typeset math.
VISIBLE_TEXT_JS = """
const skip = 'pre, code, script, style, mjx-container, .MathJax';
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
const parts = [];
while (walker.nextNode()) {
  const el = walker.currentNode.parentElement;
  if (el && !el.closest(skip) && el.getClientRects().length > 0) {
    parts.push(walker.currentNode.textContent);
  }
}
return parts.join(' ');
"""

def _load_with_mathjax(browser, url: str) -> str:
    """Open url and wait for MathJax; returns 'ok' or what went wrong.

    A MathJax that never started after its script was requested (or a page with formulas but
    no MathJax script) is a failed load of a 1 MB file
    from the loopback server (it happened once in CI on a loaded machine), not a defect of the
    page, so the page is reloaded once; a second failure is reported with both diagnostics.
    """
    browser.get(url)
    first = browser.execute_async_script(measure_widths.MATHJAX_JS)
    # no script on a page with formulas (once in a loaded run: the document was not yet the
    # built page's) is the same kind of failed load
    lost_script = first == "no MathJax script on the page" and browser.execute_script(
        "return document.querySelectorAll('.math').length") > 0
    if not (first.startswith("MathJax did not start") or lost_script):
        return first
    warnings.warn(f"{url}: {first}; reloading once (console: {_console_errors(browser)})",
                  stacklevel=2)
    browser.refresh()
    second = browser.execute_async_script(measure_widths.MATHJAX_JS)
    return second if second == "ok" else f"{first}; after a reload: {second}"


# Forces lazy images to load, waits for every image, then reports the broken ones.
IMAGES_JS = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
images.forEach((img) => { img.loading = 'eager'; });
Promise.allSettled(images.map((img) => img.decode())).then(() => done(
  images.filter((img) => !(img.complete && img.naturalWidth > 0)).map((img) => img.src)));
"""


class _Server(http.server.ThreadingHTTPServer):
    request_queue_size = 64  # socketserver's 5 is short for Chromium's parallel connections


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    """Serve _build/html on a free loopback port; yields the base URL."""
    if not (HTML / "index.html").exists():
        pytest.fail("no _build/html/index.html: build the book first (make book-check does)")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium driven by Debian's chromedriver; skipped when they are not installed
    (outside CI)."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        message = f"no Chromium or ChromeDriver ({CHROMIUM}, {CHROMEDRIVER}): {INSTALL_HINT}"
        if os.environ.get("CI"):  # .ci/run installs them; in CI their absence is an error
            pytest.fail(message)
        pytest.skip(message)
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)  # no stale screenshot of a removed page
    driver, profile = measure_widths.start_browser(1280, 1000, console_log=True)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def _screenshot(driver, name: str) -> None:
    """Save a screenshot of the whole page (the window is made as tall as the page)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(height, 800), 12000))
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    driver.set_window_size(1280, 1000)


@book_check
def test_index_redirects_to_the_intro(server, browser):
    browser.get(f"{server}/index.html")
    root = PAGES[0].with_suffix(".html").as_posix()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 30).until(lambda d: d.current_url.endswith(root))
    assert not _console_errors(browser)


@book_check
@pytest.mark.parametrize("page", PAGES, ids=str)
def test_page_renders(server, browser, page):
    name = page.with_suffix("").as_posix()
    mathjax = _load_with_mathjax(browser, f"{server}/{name}.html")
    broken_images = browser.execute_async_script(IMAGES_JS)
    math = browser.execute_script("""return {
        formulas: document.querySelectorAll('.math').length,
        untypeset: Array.from(document.querySelectorAll('.math'))
            .filter((el) => !el.querySelector('mjx-container')).map((el) => el.textContent),
        errors: Array.from(document.querySelectorAll('mjx-merror'))
            .map((el) => el.getAttribute('data-mjx-error') || el.textContent),
        containers: document.querySelectorAll('mjx-container').length};""")
    text = browser.execute_script(VISIBLE_TEXT_JS)
    # glued numbers in the weight of the sentence around them (tools/html_static/hvae.css)
    bold_glue = browser.execute_script("""return Array.from(
        document.querySelectorAll('span.pasted-text')).filter((el) =>
        getComputedStyle(el).fontWeight !== getComputedStyle(el.parentElement).fontWeight)
        .map((el) => el.textContent);""")
    _screenshot(browser, name.replace("/", "__"))
    errors = _console_errors(browser)

    if page == PAGES[0]:
        assert math["formulas"] > 0, "the intro page must have math, to prove MathJax works"
    if math["formulas"]:
        assert mathjax == "ok", f"MathJax did not finish: {mathjax}; console: {errors}"
        assert math["containers"] > 0 and not math["untypeset"], (
            f"formulas MathJax did not typeset: {math['untypeset'][:5]}")
        assert not math["errors"], f"TeX errors: {math['errors'][:5]}"
    raw = [s for s in ("$$", "\\begin{", "\\(", "\\[") if s in text]
    assert not raw, f"raw TeX {raw} in the visible text of {name}"
    assert not broken_images, f"images that did not load: {broken_images}"
    assert not bold_glue, f"glued values set apart in weight on {name}: {bold_glue[:5]}"
    assert not errors, f"console errors on {name}: {errors}"


@book_check
@pytest.mark.parametrize("page", PAGES, ids=str)
def test_page_widths(server, browser, page):
    """Nothing wider than the text column (tools/measure_widths.py measures it): at 1300 px no
    display equation, table, figure or printed code output; at 390 px the page does not scroll
    sideways (what does not fit there scrolls inside its own box)."""
    name = page.with_suffix("").as_posix()
    try:
        measure_widths.set_width(browser, measure_widths.WIDE)
        mathjax = _load_with_mathjax(browser, f"{server}/{name}.html")
        wide = measure_widths.measure(browser, measure_widths.WIDE)
        narrow = measure_widths.measure(browser, measure_widths.NARROW)
    finally:
        browser.set_window_size(1280, 1000)
    assert mathjax in ("ok", "no MathJax script on the page"), f"{name}: MathJax: {mathjax}"
    assert "error" not in wide, f"{name}: {wide.get('error')}"

    column = wide["column"]["width"]
    too_wide = measure_widths.too_wide(wide)
    assert not too_wide, (
        f"{name} at {measure_widths.WIDE} px: wider than the text column ({column} px):\n"
        + "\n".join(f"  {el['kind']} {el['width']} px, {el['overflow']} px past the column: "
                    f"{el['text']}" for el in too_wide))
    assert not narrow["scrolls"], (
        f"{name} at {measure_widths.NARROW} px scrolls sideways (the page is "
        f"{narrow['pageWidth']} px wide), pushed by:\n"
        + "\n".join(f"  <{c['tag']}> to {c['right']} px: {c['text']}"
                    for c in narrow["culprits"]))
