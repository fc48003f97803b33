"""Static checks of the library's layering (issue #9, items 6 and 8).

* Library messages never name command-line flags: every string in a ``raise``, a
  ``warnings.warn`` or an exception constructor outside ``metricbench/cli/`` is free of ``--flag``
  and ``-p KEY=VALUE`` patterns. The library names its own arguments (``InputError(param=...)``);
  the CLI maps them to its options (``metricbench.cli.common._hint``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "metricbench"

#: a long flag (``--norm``), or a short flag before KEY=VALUE (``-p shrinkage=0.1``)
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9]*(?:-[a-z0-9]+)*|(?<![\w-])-[a-zA-Z] [a-z_]\w*=")

#: files whose messages still name flags, each with its reason (remove the entry when fixed)
FLAG_ALLOWED: dict[str, str] = {}


def _library_files():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        if not rel.startswith("cli/"):
            yield rel, path


def _strings(node):
    """The literal text of a string expression (f-strings: their constant parts)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            yield sub.value


def _is_message_call(call: ast.Call) -> bool:
    f = call.func
    name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
    return name == "warn" or name.endswith(("Error", "Exception", "Warning"))


def _messages(tree):
    """``(line, text)`` of every string raised, warned or passed to an exception class."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            targets = [node.exc]
        elif isinstance(node, ast.Call) and _is_message_call(node):
            targets = [*node.args, *(k.value for k in node.keywords)]
        else:
            continue
        for t in targets:
            for text in _strings(t):
                yield t.lineno, text


def test_flag_pattern_catches_what_it_should():
    for text in ("pass --overwrite to replace it", "use -p shrinkage=0.1", "--degrade-size must be"):
        assert FLAG.search(text), text
    for text in ("n_components must be at least 1", "s-norm or as-norm", "x = a - b", "AUROC 0.9 -- 0.95", "-D embeddings"):
        assert not FLAG.search(text), text


@pytest.mark.parametrize("rel", [rel for rel, _ in _library_files()])
def test_library_messages_name_no_cli_flags(rel):
    """The library raises with library terms; the CLI adds its flags (one test per module)."""
    if rel in FLAG_ALLOWED:
        pytest.skip(FLAG_ALLOWED[rel])
    tree = ast.parse((PKG / rel).read_text(encoding="utf-8"))
    bad = sorted({f"{rel}:{line}: {text!r}" for line, text in _messages(tree) if FLAG.search(text)})
    assert not bad, "library messages that name CLI flags:\n" + "\n".join(bad)
