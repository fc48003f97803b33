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


def top_level_names() -> list[tuple[str, str]]:
    """``(name, where it is documented)`` for every name in ``metricbench.__all__``: its defining module's entry."""
    import importlib

    import metricbench

    mods = public_modules()
    out = []
    for name in metricbench.__all__:
        obj = getattr(metricbench, name)
        home = getattr(obj, "__module__", None)
        if home in mods and getattr(importlib.import_module(home), name, None) is obj:
            out.append((name, f"{home}.{name}"))
        else:  # a value (no __module__), or defined in a private module: the public module re-exporting it
            owners = [m for m in mods if getattr(importlib.import_module(m), name, None) is obj
                      and name in getattr(importlib.import_module(m), "__all__", ())]
            out.append((name, f"{owners[0]}.{name}" if owners else ""))
    return out


def on_page_markdown(markdown, page, config, files):
    if MARKER not in markdown:
        return markdown
    lines = ["## `import metricbench`: the top-level names\n",
             "Each is documented below in the module that defines it.\n",
             "| name | documented as |", "|---|---|"]
    for name, where in top_level_names():
        doc = f"[`{where}`][{where}]" if where else "the installed version, a string (`metricbench --version`)"
        lines.append(f"| `metricbench.{name}` | {doc} |")
    lines.append("")
    for name in public_modules():
        lines.append(f"::: {name}\n    options:\n      heading_level: 2\n")
    return markdown.replace(MARKER, "\n".join(lines))
