"""mkdocs hook: the API reference lists every public module of metricbench, found at build time.

docs/api.md holds the marker ``<!-- api: every module -->``; this hook replaces it by one mkdocstrings directive per
public module (``metricbench.<name>``, sub-modules included; the CLI and private modules left out), so a new module
appears in the reference without anyone editing the page, and ``mkdocs build --strict`` checks its docstrings.
"""

from __future__ import annotations

import pkgutil

MARKER = "<!-- api: every module -->"


def public_modules() -> list[str]:
    import metricbench

    out = []
    for mod in pkgutil.walk_packages(metricbench.__path__, "metricbench."):
        parts = mod.name.split(".")
        if parts[1] == "cli" or any(p.startswith("_") for p in parts[1:]):
            continue
        out.append(mod.name)
    return sorted(out)


def on_page_markdown(markdown, page, config, files):
    if MARKER not in markdown:
        return markdown
    lines = []
    for name in public_modules():
        lines.append(f"::: {name}\n    options:\n      heading_level: 2\n")
    return markdown.replace(MARKER, "\n".join(lines))
