"""Sphinx extension (loaded by ``_config.yml``): pages a reader can open offline without errors.

On every page it drops

* inline scripts that appear twice (Sphinx 7.4 adds the inline scripts that extensions register
  late, e.g. sphinx-togglebutton's and sphinx-thebe's, once with file name ``None`` and once with
  ``''``; the repeated ``const THEBE_JS_URL`` is then a console error), and
* sphinx-thebe's scripts when the launch button for thebe is off: they only name a CDN
  (unpkg.com) from which thebe would be fetched on demand.
"""


def _clean_scripts(app, pagename, templatename, context, doctree):
    thebe = app.config.html_theme_options.get("launch_buttons", {}).get("thebe", False)
    seen, kept = set(), []
    for script in context.get("script_files", []):
        body = script.attributes.get("body", "")
        if not thebe and ("THEBE_JS_URL" in body or (script.filename or "").endswith("thebe.js")):
            continue
        key = (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    # After every other handler (MathJax's adds its scripts in this event too).
    app.connect("html-page-context", _clean_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
