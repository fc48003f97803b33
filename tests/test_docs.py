"""The documentation: figures and tables regenerate to what the pages show, and the site builds strictly.

Every figure and table under docs/generated/ comes from ``scripts/make_docs_figures.py`` (real runs). Here a sample
is regenerated into a temporary folder and compared with the committed files; a fresh ``evaluate`` run of two
metrics must reproduce their rows of the committed metric table.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
GEN = ROOT / "docs" / "generated"
SCRIPT = ROOT / "scripts" / "make_docs_figures.py"


def _regenerate(tmp_path, *parts):
    out = tmp_path / "gen"
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--only", *parts, "--work", str(tmp_path / "work"), "--gen-dir", str(out),
         "--img-dir", str(tmp_path / "img")],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return out


def _stable(text: str) -> str:
    """Timings vary from run to run; every other character must not."""
    return re.sub(r"\d+\.\d+ s\b", "<t> s", text)


def test_generated_parts_are_current(tmp_path):
    out = _regenerate(tmp_path, "metrics", "lfw", "retrieve")
    for name in ("metrics", "lfw", "retrieve"):
        assert _stable((out / f"{name}.md").read_text()) == _stable((GEN / f"{name}.md").read_text()), (
            f"docs/generated/{name}.md is stale: run python scripts/make_docs_figures.py --only {name}"
        )


@pytest.mark.slow
def test_evaluate_tables_match_a_fresh_run(tmp_path):
    """Rows of the committed metric tables against a fresh `metricbench evaluate` of the same settings.

    docs/generated/evaluate.md and all-metrics.md (and lmnn.md's cosine row) come from `evaluate ... --n-boot 200`
    with the default split and seed; the fixed distances' rows of a fresh run must appear in them word for word,
    and one learned metric's (lda-cosine: its search, statistics and LDA) in evaluate.md, which the README quotes.
    """
    from typer.testing import CliRunner

    from metricbench.cli.main import app

    res = CliRunner().invoke(app, ["evaluate", "--metrics", "euclidean,cosine,lda-cosine", "--n-boot", "200",
                                   "--no-plot", "--out", str(tmp_path / "ev")])
    assert res.exit_code == 0, res.output
    t = pd.read_csv(tmp_path / "ev" / "evaluation.csv")
    pages = {name: (GEN / f"{name}.md").read_text() for name in ("evaluate", "all-metrics", "lmnn")}
    for name, page in pages.items():
        assert "--n-boot 200" in page, name
    for metric in ("euclidean", "cosine", "lda-cosine"):
        v = t[(t.metric == metric) & (t.split == "validation")].iloc[0]
        s = t[(t.metric == metric) & (t.split == "test")].iloc[0]
        aurocs = (f"| `{metric}` | {v.auroc:.4f} [{v.auroc_low:.4f}, {v.auroc_high:.4f}] | {s.auroc:.4f} "
                  f"[{s.auroc_low:.4f}, {s.auroc_high:.4f}] |")
        row = f"{aurocs} {s['tar@far=1e-02']:.4f} | {s.eer:.4f} |"
        for name in ("evaluate", "all-metrics") if metric != "lda-cosine" else ("evaluate",):
            assert row in pages[name], f"docs/generated/{name}.md says otherwise than a fresh run:\n{row}"
        if metric == "cosine":
            assert aurocs in pages["lmnn"], f"docs/generated/lmnn.md says otherwise than a fresh run:\n{aurocs}"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built once, strictly (warnings are errors), for the tests that read it."""
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocstrings") is None:
        pytest.skip("mkdocs / mkdocstrings not installed: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    # not -q: mkdocs -q drops the griffe docstring warnings before --strict counts them
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
                         cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "NO_MKDOCS_2_WARNING": "1",
                              "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))})
    assert res.returncode == 0, res.stdout + res.stderr
    return out


@pytest.mark.slow
def test_site_builds_strictly(site):
    assert (site / "api" / "index.html").is_file()
    html = (site / "commands" / "lfw" / "index.html").read_text()
    assert "AUROC" in html  # the generated snippet was included


def _static_names(module) -> set[str]:
    """Names a module's source binds at top level (defs, classes, assignments, imports)."""
    import ast

    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    out = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                out.update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in node.names)
    return out


@pytest.mark.slow
def test_api_reference_covers_every_public_name(site):
    """Every name in the ``__all__`` of metricbench and of each public module is rendered in the API reference.

    A name counts as covered when its own entry (``module.name``) or its defining module's entry is on the page;
    a name a module creates lazily (module ``__getattr__``) must at least be named there.
    """
    sys.path.insert(0, str(ROOT / "scripts"))
    import mkdocs_hooks

    html = (site / "api" / "index.html").read_text()
    ids = set(re.findall(r'id="([\w.]+)"', html))
    missing = []
    for mod in ["metricbench", *mkdocs_hooks.public_modules()]:
        m = importlib.import_module(mod)
        for name in getattr(m, "__all__", ()):
            lazy = hasattr(m, "__getattr__") and name not in _static_names(m)
            obj = getattr(m, name)
            home = f"{getattr(obj, '__module__', None)}.{name}"
            if f"{mod}.{name}" in ids or home in ids:
                continue
            if lazy and re.search(rf"\b{re.escape(name)}\b", html):
                continue  # created on first access by the module's __getattr__: named in its docstring
            if mod == "metricbench" and name == "__version__" and "metricbench.__version__" in html:
                continue
            missing.append(f"{mod}.{name}")
    assert not missing, f"public names missing from the API reference: {missing}"


@pytest.mark.slow
def test_metric_gallery_shows_every_metric(site):
    """Every registered metric is named in the built metric gallery (and has a row in the every-metric table)."""
    from metricbench.registry import registry

    html = (site / "metrics" / "index.html").read_text()
    missing = [n for n in registry() if f"<code>{n}</code>" not in html]
    assert not missing, f"metrics missing from the metric gallery: {missing}"
    table = (GEN / "all-metrics.md").read_text()
    absent = [n for n in registry() if f"| `{n}` |" not in table]
    assert not absent, (f"docs/generated/all-metrics.md lacks {absent}: "
                        "python scripts/make_docs_figures.py --only all-metrics")


def test_every_command_has_a_page():
    """The site covers every command: docs/commands/<name>.md, listed in mkdocs.yml's nav."""
    from typer.main import get_command

    from metricbench.cli.main import app

    names = sorted(get_command(app).commands)
    nav = (ROOT / "mkdocs.yml").read_text()
    missing = [n for n in names if not (ROOT / "docs" / "commands" / f"{n}.md").is_file()]
    assert not missing, f"commands without a page in docs/commands/: {missing}"
    assert all(f"commands/{n}.md" in nav for n in names), "a command page is missing from mkdocs.yml's nav"


def test_api_reference_covers_every_public_module():
    """docs/api.md expands (scripts/mkdocs_hooks.py) to every public module, so none can be left out."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import mkdocs_hooks

    mods = mkdocs_hooks.public_modules()
    assert {"metricbench.datasets", "metricbench.io", "metricbench.learn.plda", "metricbench.evaluation.lfw"} <= set(mods)
    assert not [m for m in mods if ".cli" in m or "._" in m]
    page = mkdocs_hooks.on_page_markdown((ROOT / "docs" / "api.md").read_text(), None, None, None)
    assert all(f"::: {m}\n" in page for m in mods)


def test_readme_is_short_and_its_figures_are_the_generated_ones():
    """README under 15 KB; every headline figure is one a regenerated docs file holds, beside its command."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) < 15 * 1024, f"README.md is {len(readme.encode())} bytes"
    ev = (GEN / "evaluate.md").read_text()
    cmd = re.search(r"```bash\n(metricbench evaluate [^\n]+)\n```", ev).group(1)
    assert cmd in readme, "the README's table must sit under the command that produced it"
    rows = re.findall(r"^\| `([\w-]+)`[^|]*\| (\d\.\d{4} \[[^\]]+\]) \| (\d\.\d{4} \[[^\]]+\]) \|$", readme, re.M)
    assert len(rows) >= 4
    for name, val, test in rows:
        assert f"| `{name}` | {val} | {test} |" in ev, f"README's {name} row differs from docs/generated/evaluate.md"
    ret = (GEN / "retrieve.md").read_text()
    tops = re.findall(r"^(\d\.\d{4}) ", ret, re.M)  # the first column of retrieve's table: top-1 (cosine, then learned)
    assert re.findall(r"top-1 identity accuracy from (\d\.\d{4}).*?to (\d\.\d{4})", readme, re.S)[0] == tuple(tops)
    # the quick start is the one CI runs
    ci = (ROOT / ".ci" / "run").read_text()
    extras = re.search(r'pip install -q -e "\.\[([\w,]+)\]"', ci).group(1)
    assert "metricbench score --metric cosine-whitened" in ci and "python -m pytest -q" in ci
    assert f'pip install -e ".[{extras}]" && python -m pytest -q' in readme, f"README's test line must install [{extras}] as .ci/run does"
    assert ("python3 -m venv .venv && . .venv/bin/activate && pip install -e . && "
            "metricbench score --metric cosine-whitened") in readme


def test_every_generated_table_names_the_script_that_wrote_it():
    """Each docs/generated/*.md starts by naming the script (and, for a benchmark's ``--write``, the command) that
    wrote it, and that script exists; every snippet a page includes exists. No table is typed by hand."""
    head = re.compile(r"<!-- (?:generated by|written by:) (?:PYTHONPATH=\. )?(?:python )?((?:scripts|benchmarks)/[\w.]+\.py)")
    for page in sorted(GEN.glob("*.md")):
        m = head.match(page.read_text().splitlines()[0])
        assert m, f"{page.name}: its first line must say which script wrote it"
        script = ROOT / m.group(1)
        assert script.is_file(), f"{page.name} names {m.group(1)}, which does not exist"
        if "written by:" in m.group(0):
            assert "--write" in script.read_text(), f"{m.group(1)} has no --write option"
    for doc in sorted((ROOT / "docs").rglob("*.md")):
        for inc in re.findall(r'^--8<-- "([^"]+)"', doc.read_text(), re.M):
            assert (ROOT / "docs" / inc).is_file(), f"{doc.name} includes {inc}, which does not exist"


def test_benchmark_commands_in_the_docs_name_no_local_folder():
    """A benchmark's --write shows its command with placeholders for folders and addresses (benchmarks/_report.py)."""
    spec = importlib.util.spec_from_file_location("_report", ROOT / "benchmarks" / "_report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    argv = ["--dir", "/work/x/big", "--write", "docs/generated/t.md", "--scheduler=tcp://10.0.0.5:8786"]
    assert report.shown_command("b.py", argv, {"--dir": "BIG", "--scheduler": "ADDRESS"}) == (
        "PYTHONPATH=. python benchmarks/b.py --dir BIG --write docs/generated/t.md --scheduler=ADDRESS")
