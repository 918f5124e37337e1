"""How wide the built book's display equations, tables, figures and outputs are, per page.

For every page of ``_toc.yml``, headless Chromium (the one ``tests/test_book.py`` drives) loads
the built page, waits for MathJax, and measures at two window widths, 1300 px (a desktop) and
390 px (a phone), every element of these kinds inside the text column (the theme's
``article.bd-article``, its content box):

* ``equation``: a display formula (``mjx-container[display="true"]``), named by its label and TeX;
* ``table``: a ``<table>`` (Markdown, HTML output, the API reference's summaries);
* ``figure``: an ``<img>`` or ``<figure>``;
* ``output``: the printed text of a code cell (``div.cell_output pre``).

An element's width is its content's (``scrollWidth``: what it would show without scrolling),
its overflow how far that reaches past the column's right edge. The page scrolls sideways when
``document.documentElement.scrollWidth`` exceeds the window's width; the elements that make it
do so (reaching past the window and not inside a box that scrolls or clips) are listed.

What counts (``tests/test_book.py`` asserts it on every page):

* at 1300 px no equation, table, figure or printed code output is wider than the column (1 px
  of rounding allowed), even one that could scroll inside its own box (a printed text table
  wider than the column goes to ``hvae.book.show_table``, prose to ``show(..., width=78)``);
* at 390 px the page does not scroll sideways; an equation, table or output that scrolls inside
  its own box (``overflow-x: auto``, ``tools/html_static/hvae.css``) is fine there.

Usage::

    python tools/measure_widths.py                        # _build/html (or $HVAE_BOOK_HTML)
    python tools/measure_widths.py --html /tmp/b/_build/html --out widths.txt
    python tools/measure_widths.py --all api/ 04_kl   # these pages, every element past the column
"""

import argparse
import functools
import http.server
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import toc  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HTML = Path(os.environ.get("HVAE_BOOK_HTML", ROOT / "_build" / "html"))
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WIDE, NARROW = 1300, 390  # window widths, px
HEIGHT = 1000
TOLERANCE = 1  # px of rounding
KINDS = ("equation", "table", "figure", "output")
STRICT_KINDS = ("equation", "table", "figure", "output")  # none wider than the column at 1300 px

# Returns {width, column: {left, right, width}, scrolls, pageWidth, elements: [...], culprits}.
MEASURE_JS = """
const selectors = {
  equation: 'mjx-container[display="true"]',
  table: 'table',
  figure: 'img, figure',
  output: 'div.cell_output pre',
};
const column = document.querySelector('main#main-content article.bd-article')
  || document.querySelector('article.bd-article');
if (!column) { return {error: 'no article.bd-article on the page'}; }
const px = (v) => parseFloat(v) || 0;
const cs = getComputedStyle(column);
const box = column.getBoundingClientRect();
const left = box.left + px(cs.borderLeftWidth) + px(cs.paddingLeft);
const right = box.right - px(cs.borderRightWidth) - px(cs.paddingRight);
const short = (s) => (s || '').replace(/\\s+/g, ' ').trim().slice(0, 60);
function describe(kind, el) {
  if (kind === 'equation') {
    let tex = '';
    try {
      const items = MathJax.startup.document.getMathItemsWithin(el.parentElement);
      const item = items.find((it) => it.typesetRoot === el) || items[0];
      if (item) { tex = item.math; }
    } catch (e) { tex = ''; }
    const math = el.closest('div.math');
    const label = math && math.id ? math.id.replace(/^equation-/, '') + ': ' : '';
    return short(label + tex);
  }
  if (kind === 'figure') {
    const img = el.tagName === 'IMG' ? el : el.querySelector('img');
    const src = img ? img.getAttribute('src') || '' : '';
    return short(src.split('/').pop() || el.textContent);
  }
  return short(el.textContent);
}
const elements = [];
for (const [kind, selector] of Object.entries(selectors)) {
  for (const el of column.querySelectorAll(selector)) {
    if (el.getClientRects().length === 0) { continue; }  // not shown (a collapsed toggle)
    const r = el.getBoundingClientRect();
    const width = Math.max(el.scrollWidth, r.width);
    elements.push({kind, text: describe(kind, el), width: Math.round(width),
                   overflow: Math.round(r.left + width - right),
                   scrollsInside: el.scrollWidth > el.clientWidth + 1
                     || getComputedStyle(el).overflowX !== 'visible'});
  }
}
// What pushes the page sideways: elements reaching past the window, not inside a box that
// scrolls or clips, outermost first.
const W = window.innerWidth;
const culprits = [];
const clipped = (el) => {
  for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
    if (getComputedStyle(a).overflowX !== 'visible') { return true; }
  }
  return false;
};
if (document.documentElement.scrollWidth > W + 1) {
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.right <= W + 1 || el.getClientRects().length === 0 || clipped(el)) { continue; }
    if (getComputedStyle(el).position === 'fixed') { continue; }
    const parent = el.parentElement;
    if (parent && parent.getBoundingClientRect().right > W + 1 && !clipped(parent)) { continue; }
    const classes = typeof el.className === 'string' && el.className.trim()
      ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
    culprits.push({tag: el.tagName.toLowerCase() + classes, right: Math.round(r.right),
                   text: short(el.textContent)});
  }
}
return {width: W, column: {left: Math.round(left), right: Math.round(right),
                           width: Math.round(right - left)},
        pageWidth: document.documentElement.scrollWidth,
        scrolls: document.documentElement.scrollWidth > W + 1,
        elements, culprits: culprits.slice(0, 10)};
"""

# Resolves once MathJax has typeset the page (at once on a page without MathJax). MathJax
# loads asynchronously, so on a busy machine it may not exist yet when the load event fires: on
# a page that loads it, wait up to 30 s for it to appear. tests/test_book.py uses it too.
MATHJAX_JS = """
const done = arguments[arguments.length - 1];
const start = Date.now();
const script = Array.from(document.scripts).find((el) => el.src.toLowerCase().includes('mathjax'));
if (!script) { done('no MathJax script on the page'); return; }
(function wait() {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(() => done('ok'), (e) => done('error: ' + e));
  } else if (Date.now() - start > 30000) {
    const loads = performance.getEntriesByName(script.src);
    done('MathJax did not start within 30 s; its script ' + (loads.length
      ? 'loaded in ' + Math.round(loads[0].duration) + ' ms (' + loads[0].transferSize + ' B)'
      : 'has no load record'));
  } else { setTimeout(wait, 50); }
})();
"""


def set_width(driver, width: int, height: int = HEIGHT) -> None:
    """Make the window's inner width (the layout viewport) exactly ``width`` px."""
    driver.set_window_size(width, height)
    inner = driver.execute_script("return window.innerWidth")
    if inner != width:  # window chrome: make up the difference once
        driver.set_window_size(2 * width - inner, height)


def measure(driver, width: int) -> dict:
    """Measure the page loaded in ``driver`` at window width ``width`` (see MEASURE_JS)."""
    set_width(driver, width)
    return driver.execute_script(MEASURE_JS)


def widest(result: dict, kinds=KINDS) -> dict | None:
    """The element of ``kinds`` that reaches furthest past (or nearest to) the column's edge."""
    found = [el for el in result.get("elements", []) if el["kind"] in kinds]
    return max(found, key=lambda el: el["overflow"], default=None)


def too_wide(result: dict, kinds=STRICT_KINDS) -> list[dict]:
    """Elements of ``kinds`` wider than the column (beyond TOLERANCE px)."""
    return [el for el in result.get("elements", [])
            if el["kind"] in kinds and el["overflow"] > TOLERANCE]


def describe(el: dict | None) -> str:
    if el is None:
        return "-"
    return f"{el['width']} px {el['kind']}, {el['overflow']:+d} px ({el['text'][:40]})"


def start_browser(width: int = WIDE, height: int = HEIGHT, console_log: bool = False):
    """Headless Chromium driven by Debian's chromedriver, in a fresh profile; returns (driver,
    profile directory), the directory for the caller to delete after ``driver.quit()``.
    ``console_log`` keeps the browser console for ``driver.get_log("browser")`` (the tests)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="hvae-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # No display and no network here: without the background-networking flags Chromium keeps
    # trying to reach Google's services and fills the log with refused connections.
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--hide-scrollbars", f"--window-size={width},{height}",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    if console_log:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path keeps Selenium Manager (which would download a driver) out of it.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    return driver, profile


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=HTML,
                        help="the built book (default: _build/html, or $HVAE_BOOK_HTML)")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument("pages", nargs="*",
                        help="measure only the pages whose path contains one of these")
    parser.add_argument("--all", action="store_true",
                        help="list every element past the column, not only the widest")
    args = parser.parse_args()
    if not (args.html / "index.html").exists():
        sys.exit(f"measure_widths: no {args.html / 'index.html'}; build the book first")

    class Server(http.server.ThreadingHTTPServer):
        request_queue_size = 64

    httpd = Server(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(args.html)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    driver, profile = start_browser()
    lines = [f"widths in {args.html}: each widest element as its width, its kind, how far it "
             "reaches past the column's right edge (-: inside)",
             "", f"page | {WIDE} px: widest equation/table/figure | {WIDE} px: widest output | "
             f"{NARROW} px: widest element | page scrolls sideways at {WIDE} / {NARROW} px",
             "--- | --- | --- | --- | ---"]
    details = []
    try:
        for page in toc.pages():
            name = page.with_suffix("").as_posix()
            if args.pages and not any(part in name for part in args.pages):
                continue
            if not (args.html / f"{name}.html").exists():
                lines.append(f"{name} | not in this build | | | ")
                continue
            set_width(driver, WIDE)
            driver.get(f"{base}/{name}.html")
            state = driver.execute_async_script(MATHJAX_JS)
            wide, narrow = measure(driver, WIDE), measure(driver, NARROW)
            if "error" in wide:
                lines.append(f"{name} | {wide['error']} | | | ")
                continue
            scrolls = " / ".join(f"yes ({r['pageWidth']} px)" if r["scrolls"] else "no"
                                 for r in (wide, narrow))
            lines.append(f"{name} | {describe(widest(wide, STRICT_KINDS))} | "
                         f"{describe(widest(wide, ('output',)))} | {describe(widest(narrow))} | "
                         f"{scrolls}")
            for label, result in (("1300", wide), ("390", narrow)):
                past = [el for el in result["elements"] if el["overflow"] > TOLERANCE
                        and (args.all or result is wide)]
                for el in sorted(past, key=lambda el: -el["overflow"]):
                    details.append(f"  {name} @ {label} (column {result['column']['width']} px): "
                                   f"{el['kind']} {el['width']} px, {el['overflow']:+d} px"
                                   f"{' [scrolls inside]' if el['scrollsInside'] else ''}: "
                                   f"{el['text']}")
                for c in result["culprits"] if result["scrolls"] else []:
                    details.append(f"  {name} @ {label}: page pushed to {c['right']} px by "
                                   f"<{c['tag']}>: {c['text']}")
            if state not in ("ok", "no MathJax script on the page"):
                details.append(f"  {name}: MathJax: {state}")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        httpd.shutdown()
    text = "\n".join(lines + ["", "past the column (or pushing the page):"] + details) + "\n"
    print(text, end="")
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
