"""The bad-input matrix: every hostile file, through every command that reads it (typer's CliRunner).

A refused cell must exit 2 with exactly one ``error:`` line that names the file and
the line / column (1-based, header = line 1) or row index at fault, print no
traceback and leave no output file. An accepted cell (a safe conversion) must exit 0
and, where the conversion is exact, give the same output as the clean files.
The table of cells is docs/errors.md.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from metricbench.cli.main import app
from tests.conftest import error_line, write_competition

runner = CliRunner()


# -- the cells ----------------------------------------------------------------------------------

def _npy_cells():
    """(id, mutate(path, X) -> None, expected: 'ok' | 'same' | regex)."""

    def save(arr):
        return lambda p, X: np.save(p, arr(X), allow_pickle=True)

    def truncate(p, X):
        np.save(p, X)
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2])

    def corrupt(p, X):
        p.write_bytes(b"\x93NUMPY\x01\x00\x20\x00{'descr': <garbage>, 'shape': ((}       \n" + b"\x00" * 64)

    def with_nan(p, X):
        Y = X.copy()
        Y[3, 1] = np.nan
        np.save(p, Y)

    def with_inf(p, X):
        Y = X.copy()
        Y[0, 0] = np.inf
        Y[5, 2] = -np.inf
        np.save(p, Y)

    return [
        ("missing", lambda p, X: None, r"{f}: file not found"),
        ("empty", lambda p, X: p.write_bytes(b""), r"{f}: file is empty"),
        ("truncated", truncate, r"{f}: file is truncated: its header promises shape"),
        ("corrupt-header", corrupt, r"{f}: corrupt \.npy header"),
        ("text-not-npy", lambda p, X: p.write_text("index,class\n0,1\n"), r"{f}: is a text file, not an \.npy"),
        ("npz-archive", lambda p, X: p.write_bytes(_npz_bytes(X)), r"{f}: is an \.npz archive"),
        ("object", save(lambda X: X.astype(object)), r"{f}: holds Python objects"),
        ("complex", save(lambda X: X.astype(np.complex64)), r"{f}: holds complex numbers"),
        ("string", save(lambda X: X.astype(str)), r"{f}: holds strings"),
        ("1-D", save(lambda X: X[0]), r"{f}: expected a 2-D matrix .*shape \(\d+,\); a 1-D array"),
        ("3-D", save(lambda X: X[None]), r"{f}: expected a 2-D matrix .*shape \(1, \d+, \d+\)"),
        ("nan", with_nan, r"{f}: 1 row\(s\) contain NaN or inf \(row index 3, 0-based"),
        ("inf", with_inf, r"{f}: 2 row\(s\) contain NaN or inf \(row index 0, 5, 0-based"),
        ("huge-int", save(lambda X: np.full(X.shape, 2**60, np.int64)), r"{f}: integer values beyond 2\*\*53"),
        # accepted: safe conversions
        ("float64", save(lambda X: X.astype(np.float64)), "same"),
        ("big-endian", save(lambda X: X.astype(">f4")), "same"),
        ("fortran", save(lambda X: np.asfortranarray(X)), "same"),
        ("float16", save(lambda X: X.astype(np.float16)), "ok"),
        ("integer", save(lambda X: np.round(X * 10).astype(np.int32)), "ok"),
    ]


def _npz_bytes(X):
    import io

    buf = io.BytesIO()
    np.savez(buf, X=X)
    return buf.getvalue()


def _at_line(text: str, line: int, s: str, insert: bool = False) -> str:
    """``text`` with ``s`` appended to 1-based ``line`` (or inserted as a new line there)."""
    lines = text.split("\n")
    if insert:
        lines.insert(line - 1, s)
    else:
        lines[line - 1] += s
    return "\n".join(lines)


def _labels_cells():
    """Cells of an ``index,class`` CSV: (id, mutate(path, df) -> None, expected)."""

    def text(fn):
        def make(p, df):
            p.write_bytes(fn(df).encode("utf-8") if isinstance(fn(df), str) else fn(df))
        return make

    def csv(df, sep=",", lt="\n"):
        return df.to_csv(index=False, sep=sep, lineterminator=lt)

    def swap(df, i, v, col="index"):
        df = df.copy().astype({col: object})
        df.loc[i, col] = v
        return df

    return [
        ("missing", lambda p, df: None, r"{f}: file not found"),
        ("empty", text(lambda df: ""), r"{f}: file is empty"),
        ("header-only", text(lambda df: "index,class\n"), r"{f}: has a header but no rows"),
        ("npy-not-csv", lambda p, df: np.save(open(p, "wb"), np.ones((2, 2))), r"{f}: is an \.npy matrix, not a CSV"),
        ("not-utf8", lambda p, df: p.write_bytes(csv(df.assign(**{"class": "Jos\u00e9"})).encode("latin-1")),
         r"{f}: is not UTF-8 text"),
        ("missing-column", text(lambda df: csv(df[["index"]])), r"{f}: line 1: missing column 'class'"),
        ("renamed-column", text(lambda df: csv(df.rename(columns={"class": "Class"}))),
         r"{f}: line 1: missing column 'class' \(found: index, Class\); rename column 'Class' to 'class'"),
        ("duplicated-column", text(lambda df: csv(df.assign(c2=df["class"])).replace("c2", "class", 1)),
         r"{f}: line 1: column 'class' appears 2 times \(columns 2, 3\)"),
        ("no-header", text(lambda df: csv(df).split("\n", 1)[1]), r"{f}: line 1 holds data, not a header"),
        ("blank-line", text(lambda df: _at_line(csv(df), 3, "", insert=True)), r"{f}: line 3 is empty"),
        ("extra-field-first-row", text(lambda df: _at_line(csv(df), 2, ",7")),
         r"{f}: line 2 has 3 fields but the header has 2"),
        ("extra-field", text(lambda df: _at_line(csv(df), 5, ",7")), r"{f}: line 5 has 3 fields but the header has 2"),
        ("empty-class", text(lambda df: csv(swap(df, 4, "", "class"))), r"{f}: line 6, column 2 \('class'\) is empty"),
        ("index-not-a-number", text(lambda df: csv(swap(df, 2, "x"))),
         r"{f}: line 4, column 1 \('index'\) holds 'x', expected a whole number"),
        ("index-fraction", text(lambda df: csv(swap(df, 0, "1.5"))), r"{f}: line 2, column 1 \('index'\) holds '1.5'"),
        ("index-negative", text(lambda df: csv(swap(df, 1, -1))), r"{f}: line 3: index -1 is out of range"),
        ("index-out-of-range", text(lambda df: csv(swap(df, 1, 10**6))), r"{f}: line 3: index 1000000 is out of range"),
        ("index-duplicate", text(lambda df: csv(swap(df, 3, df["index"][1]))),
         r"{f}: line 5 labels index \d+ again \(first on line 3\)"),
        ("fewer-rows", text(lambda df: csv(df.iloc[:-1])), r"{f}: has labels for \d+ rows but .* has \d+ rows"),
        # accepted
        ("bom", lambda p, df: p.write_bytes(b"\xef\xbb\xbf" + csv(df).encode()), "same"),
        ("semicolons", text(lambda df: csv(df, sep=";")), "same"),
        ("tabs", text(lambda df: csv(df, sep="\t")), "same"),
        ("crlf", text(lambda df: csv(df, lt="\r\n")), "same"),
        ("quoted", text(lambda df: df.to_csv(index=False, quoting=1)), "same"),
        ("extra-column", text(lambda df: csv(df.assign(note="x"))), "same"),
        ("trailing-blank-lines", text(lambda df: csv(df) + "\n\n"), "same"),
        ("shuffled-rows", text(lambda df: csv(df.sample(frac=1, random_state=0))), "same"),
        ("float-classes", text(lambda df: csv(df.assign(**{"class": df["class"].astype(float)}))), "same"),
        ("quoted-classes", text(lambda df: csv(df.assign(**{"class": df["class"].astype(str)}))), "same"),
    ]


def _pairs_cells():
    def text(fn):
        return lambda p, df: p.write_text(fn(df))

    def csv(df, sep=",", lt="\n"):
        return df.to_csv(index=False, sep=sep, lineterminator=lt)

    def swap(df, i, col, v):
        df = df.copy().astype({col: object})
        df.loc[i, col] = v
        return df

    return [
        ("missing", lambda p, df: None, r"{f}: file not found"),
        ("empty", text(lambda df: ""), r"{f}: file is empty"),
        ("header-only", text(lambda df: "index1,index2,Id\n"), r"{f}: has a header but no rows"),
        ("missing-column", text(lambda df: csv(df[["index1", "index2"]])), r"{f}: line 1: missing column 'Id'"),
        ("renamed-column", text(lambda df: csv(df.rename(columns={"Id": "id"}))), r"rename column 'id' to 'Id'"),
        ("duplicated-column", text(lambda df: csv(df.assign(x=df.Id)).replace(",x", ",Id", 1)),
         r"{f}: line 1: column 'Id' appears 2 times"),
        ("index-not-a-number", text(lambda df: csv(swap(df, 4, "index2", "seven"))),
         r"{f}: line 6, column 2 \('index2'\) holds 'seven'"),
        ("index-negative", text(lambda df: csv(swap(df, 0, "index1", -3))),
         r"{f}: line 2: index1 -3 is out of range for test_set\.npy with \d+ rows"),
        ("index-out-of-range", text(lambda df: csv(swap(df, 2, "index2", 999))),
         r"{f}: line 4: index2 999 is out of range for test_set\.npy"),
        ("duplicate-id", text(lambda df: csv(swap(df, 5, "Id", df.Id[1]))), r"{f}: line 7 repeats Id \d+ of line 3"),
        ("extra-field", text(lambda df: _at_line(csv(df), 2, ",1")), r"{f}: line 2 has 4 fields"),
        ("two-extra-fields", text(lambda df: _at_line(csv(df), 4, ",1,2")), r"{f}: line 4 has 5 fields"),
        ("bom", lambda p, df: p.write_bytes(b"\xef\xbb\xbf" + csv(df).encode()), "same"),
        ("semicolons", text(lambda df: csv(df, sep=";")), "same"),
        ("crlf", text(lambda df: csv(df, lt="\r\n")), "same"),
        ("quoted", text(lambda df: df.to_csv(index=False, quoting=1)), "same"),
        ("float-indices", text(lambda df: csv(df.astype(float))), "same"),
    ]


def _solution_cells():
    def text(fn):
        return lambda p, df: p.write_text(fn(df))

    return [
        ("expected-not-0-1", text(lambda df: df.assign(Expected=2).to_csv(index=False)), r"{f}: line 2: Expected is 2"),
        ("missing-id", text(lambda df: df.iloc[1:].to_csv(index=False)), r"{f}: no Expected value for Id \d+"),
        ("duplicate-id", text(lambda df: pd.concat([df, df.iloc[:1]]).to_csv(index=False)),
         r"{f}: line \d+ repeats Id \d+ of line 2"),
        ("bom-crlf", lambda p, df: p.write_bytes(b"\xef\xbb\xbf" + df.to_csv(index=False, lineterminator="\r\n")
                                                 .encode()), "same"),
    ]


# -- running a command and checking the contract ------------------------------------------------

def _outputs(root: Path) -> set:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _check(res, expected, fname, before, root, baseline=None, out=None):
    out_text = res.output
    assert "Traceback" not in out_text, out_text
    if expected in ("ok", "same"):
        assert res.exit_code == 0, out_text
        if expected == "same" and baseline is not None:
            assert out.read_bytes() == baseline
        return
    assert res.exit_code == 2, out_text
    errors = [error_line(res)]  # the whole of stderr: no stage line above it
    assert re.search(expected.format(f=re.escape(fname)), errors[0]), errors[0]
    assert _outputs(root) == before, "a failed command left output behind"


@pytest.fixture(scope="module")
def comp_template(tmp_path_factory):
    root = tmp_path_factory.mktemp("tpl")
    return write_competition(root / "c", n_train=60, n_test=20, d=8, n_cls=6, n_pairs=30)


def _score(d, out):
    return ["score", "-m", "cosine", "--no-validate", "--data", str(d), "--out", str(out)]


def _evaluate(d, out):
    return ["evaluate", "-m", "cosine", "--data", str(d), "--out", str(out), "--no-plot", "--n-boot", "5",
            "--val-pairs", "100"]


_COMP_COMMANDS = {"score": _score, "evaluate": _evaluate}


def _baseline(comp_template, tmp_path, command):
    d = tmp_path / "clean"
    shutil.copytree(comp_template, d)
    out = tmp_path / "clean-out.csv"
    res = runner.invoke(app, _score(d, out))
    assert res.exit_code == 0, res.output
    return out.read_bytes() if command == "score" else None


def _mutated(comp_template, tmp_path, fname, mutate) -> tuple[Path, Path]:
    """A copy of the competition with ``fname`` rewritten by a cell's ``mutate``, and an empty
    work folder: ``(competition, work)``."""
    d = tmp_path / "c"
    shutil.copytree(comp_template, d)
    p = d / fname
    data = np.load(p) if fname.endswith(".npy") else pd.read_csv(p)
    p.unlink()
    mutate(p, data)
    work = tmp_path / "work"
    work.mkdir()
    return d, work


@pytest.mark.parametrize("command", sorted(_COMP_COMMANDS))
@pytest.mark.parametrize("which", ["train_set.npy", "test_set.npy"])
@pytest.mark.parametrize("cell", _npy_cells(), ids=lambda c: c[0])
def test_competition_npy(cell, which, command, comp_template, tmp_path):
    name, mutate, expected = cell
    baseline = _baseline(comp_template, tmp_path, command) if expected == "same" else None
    d, work = _mutated(comp_template, tmp_path, which, mutate)
    before = _outputs(work)
    out = work / ("sub.csv" if command == "score" else "run")
    res = runner.invoke(app, _COMP_COMMANDS[command](d, out))
    _check(res, expected, which, before, work, baseline if command == "score" else None, out)


_COMP_CSV_CELLS = [(f, c) for f, cells in (("train_labels.csv", _labels_cells()), ("test_pairs.csv", _pairs_cells()),
                                            ("solution.csv", _solution_cells())) for c in cells]


@pytest.mark.parametrize("command", sorted(_COMP_COMMANDS))
@pytest.mark.parametrize("fname, cell", _COMP_CSV_CELLS, ids=[f"{f}-{c[0]}" for f, c in _COMP_CSV_CELLS])
def test_competition_csv(fname, cell, command, comp_template, tmp_path):
    name, mutate, expected = cell
    baseline = _baseline(comp_template, tmp_path, command) if expected == "same" else None
    d, work = _mutated(comp_template, tmp_path, fname, mutate)
    before = _outputs(work)
    out = work / ("sub.csv" if command == "score" else "run")
    res = runner.invoke(app, _COMP_COMMANDS[command](d, out))
    _check(res, expected, fname, before, work, baseline, out)


def test_competition_width_mismatch(comp_template, tmp_path):
    for command in _COMP_COMMANDS:
        d = tmp_path / command
        shutil.copytree(comp_template, d)
        np.save(d / "test_set.npy", np.ones((20, 5), np.float32))
        work = tmp_path / f"w-{command}"
        work.mkdir()
        res = runner.invoke(app, _COMP_COMMANDS[command](d, work / "o"))
        _check(res, r"test_set\.npy: 5-D embeddings but train_set\.npy is 8-D", "test_set.npy", set(), work)


def test_label_count_not_matching_rows(comp_template, tmp_path):
    d = tmp_path / "c"
    shutil.copytree(comp_template, d)
    X = np.load(d / "train_set.npy")
    np.save(d / "train_set.npy", np.vstack([X, X[:1]]))
    work = tmp_path / "work"
    work.mkdir()
    res = runner.invoke(app, _score(d, work / "o.csv"))
    _check(res, r"train_labels\.csv: has labels for 60 rows but train_set\.npy has 61 rows \(row index 60 has no label\)",
           "train_labels.csv", set(), work)


# -- retrieve ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def retrieval_template(tmp_path_factory):
    root = tmp_path_factory.mktemp("rtpl")
    r = np.random.default_rng(3)
    centres = r.standard_normal((5, 6)) * 3
    yq, yg = np.arange(10) % 5, np.arange(25) % 5
    np.save(root / "q.npy", (centres[yq] + r.standard_normal((10, 6))).astype(np.float32))
    np.save(root / "g.npy", (centres[yg] + r.standard_normal((25, 6))).astype(np.float32))
    pd.DataFrame({"index": np.arange(10), "class": yq}).to_csv(root / "q.csv", index=False)
    pd.DataFrame({"index": np.arange(25), "class": yg}).to_csv(root / "g.csv", index=False)
    return root


def _retrieve(d, out):
    return ["retrieve", "-m", "cosine", "-q", str(d / "q.npy"), "-g", str(d / "g.npy"), "-k", "3",
            "--query-labels", str(d / "q.csv"), "--gallery-labels", str(d / "g.csv"), "--out", str(out), "--json"]


def _measures(res):
    import json

    return json.loads(res.stdout[res.stdout.index("{"):])["measures"]


@pytest.mark.parametrize("which", ["q.npy", "g.npy"])
@pytest.mark.parametrize("cell", _npy_cells(), ids=lambda c: c[0])
def test_retrieve_npy(cell, which, retrieval_template, tmp_path):
    name, mutate, expected = cell
    d = tmp_path / "r"
    shutil.copytree(retrieval_template, d)
    base = runner.invoke(app, _retrieve(d, tmp_path / "base.csv"))
    assert base.exit_code == 0, base.output
    p = d / which
    X = np.load(p)
    p.unlink()
    mutate(p, X)
    work = tmp_path / "work"
    work.mkdir()
    res = runner.invoke(app, _retrieve(d, work / "out.csv"))
    _check(res, expected, which, set(), work, (tmp_path / "base.csv").read_bytes(), work / "out.csv")


@pytest.mark.parametrize("which", ["q.csv", "g.csv"])
@pytest.mark.parametrize("cell", _labels_cells(), ids=lambda c: c[0])
def test_retrieve_labels(cell, which, retrieval_template, tmp_path):
    name, mutate, expected = cell
    d = tmp_path / "r"
    shutil.copytree(retrieval_template, d)
    base = runner.invoke(app, _retrieve(d, tmp_path / "base.csv"))
    p = d / which
    df = pd.read_csv(p)
    p.unlink()
    mutate(p, df)
    work = tmp_path / "work"
    work.mkdir()
    res = runner.invoke(app, _retrieve(d, work / "out.csv"))
    _check(res, expected, which, set(), work, (tmp_path / "base.csv").read_bytes(), work / "out.csv")
    if expected == "same":
        assert _measures(res) == _measures(base)


@pytest.mark.parametrize(
    "gallery_classes, expected",
    [
        (lambda y: y.astype(float), "same"),  # 1 vs 1.0
        (lambda y: np.array([f'"{v}"' for v in y]), "same"),  # 1 vs "1" (quoted in the file)
        (lambda y: np.array([f"{v}" if v else "zero" for v in y]), "same-partly"),  # names and numbers mixed
        (lambda y: np.array([f"id{v}" for v in y]), r"q\.csv labels are numbers \(e\.g\. 0\) but .*g\.csv labels are names"),
    ],
    ids=["float", "quoted", "mixed", "names"],
)
def test_retrieve_labels_of_mixed_types(gallery_classes, expected, retrieval_template, tmp_path):
    d = tmp_path / "r"
    shutil.copytree(retrieval_template, d)
    base = runner.invoke(app, _retrieve(d, tmp_path / "base.csv"))
    g = pd.read_csv(d / "g.csv")
    cls = gallery_classes(g["class"].to_numpy())
    lines = ["index,class"] + [f"{i},{c}" for i, c in zip(g["index"], cls)]
    (d / "g.csv").write_text("\n".join(lines) + "\n")
    work = tmp_path / "work"
    work.mkdir()
    res = runner.invoke(app, _retrieve(d, work / "out.csv"))
    if expected == "same":
        assert res.exit_code == 0, res.output
        assert _measures(res) == _measures(base)
    elif expected == "same-partly":
        assert res.exit_code == 0, res.output
        m = _measures(res)
        assert m["n_queries_no_match"] == 2  # class 0 is "zero" in the gallery: no query of class 0 matches
    else:
        _check(res, expected, "g.csv", set(), work)


def test_retrieve_width_mismatch(retrieval_template, tmp_path):
    d = tmp_path / "r"
    shutil.copytree(retrieval_template, d)
    np.save(d / "g.npy", np.ones((25, 4), np.float32))
    work = tmp_path / "work"
    work.mkdir()
    res = runner.invoke(app, _retrieve(d, work / "o.csv"))
    _check(res, r"q\.npy is 6-D but .*g\.npy is 4-D", "g.npy", set(), work)


# -- make-competition -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def make_template(tmp_path_factory):
    root = tmp_path_factory.mktemp("mtpl")
    r = np.random.default_rng(5)
    y = np.arange(80) % 10
    np.save(root / "emb.npy", (r.standard_normal((10, 6))[y] * 3 + r.standard_normal((80, 6))).astype(np.float32))
    pd.DataFrame({"index": np.arange(80), "class": y}).to_csv(root / "labels.csv", index=False)
    return root


def _make(d, out):
    return ["make-competition", f"clean={d / 'emb.npy'}", "--labels", str(d / "labels.csv"), "--out", str(out),
            "--pairs", "40"]


@pytest.mark.parametrize("cell", _npy_cells(), ids=lambda c: c[0])
def test_make_competition_npy(cell, make_template, tmp_path):
    name, mutate, expected = cell
    d = tmp_path / "m"
    shutil.copytree(make_template, d)
    p = d / "emb.npy"
    X = np.load(p)
    p.unlink()
    mutate(p, X)
    work = tmp_path / "work"
    work.mkdir()
    res = runner.invoke(app, _make(d, work / "comp"))
    _check(res, "ok" if expected == "same" else expected, "emb.npy", set(), work)


@pytest.mark.parametrize("cell", _labels_cells(), ids=lambda c: c[0])
def test_make_competition_labels(cell, make_template, tmp_path):
    name, mutate, expected = cell
    d = tmp_path / "m"
    shutil.copytree(make_template, d)
    clean = runner.invoke(app, _make(d, tmp_path / "clean"))
    assert clean.exit_code == 0, clean.output
    p = d / "labels.csv"
    df = pd.read_csv(p)
    p.unlink()
    mutate(p, df)
    work = tmp_path / "work"
    work.mkdir()
    res = runner.invoke(app, _make(d, work / "comp"))
    _check(res, "ok" if expected == "same" else expected, "labels.csv", set(), work)
    if expected == "same":
        for f in ("train_set.npy", "test_pairs.csv", "solution.csv", "train_labels.csv"):
            assert (work / "comp" / f).read_bytes() == (tmp_path / "clean" / f).read_bytes(), (name, f)


def test_make_competition_width_mismatch(make_template, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(make_template, d)
    np.save(d / "other.npy", np.ones((80, 5), np.float32))
    work = tmp_path / "work"
    work.mkdir()
    res = runner.invoke(app, _make(d, work / "comp") + [f"xq={d / 'other.npy'}"])
    _check(res, r"variant 'xq' has shape \(80, 5\), expected \(80, 6\)", "other.npy", set(), work)


# -- extract's inputs -------------------------------------------------------------------------

def _extract_labels_cells():
    def text(s):
        return lambda p: p.write_text(s)

    return [
        ("missing", lambda p: None, r"{f}: file not found"),
        ("empty", text(""), r"{f}: file is empty"),
        ("npy-not-csv", lambda p: np.save(open(p, "wb"), np.ones(3)), r"{f}: is an \.npy matrix, not a CSV"),
        ("missing-column", text("path\nbob/b1.png\n"), r"{f}: line 1: missing column 'class'"),
        ("renamed-column", text("Path,class\nbob/b1.png,bob\n"), r"rename column 'Path' to 'path'"),
        ("duplicated-column", text("path,class,path\nbob/b1.png,bob,x\n"), r"{f}: line 1: column 'path' appears 2"),
        ("no-header", text("bob/b1.png,bob\n"), r"{f}: line 1: missing column 'path'"),
        ("blank-line", text("path,class\nbob/b1.png,bob\n\nbob/b2.png,bob\n"), r"{f}: line 3 is empty"),
        ("extra-field", text("path,class\nbob/b1.png,bob,x\n"), r"{f}: line 2 has 3 fields"),
        ("empty-class", text("path,class\nbob/b1.png,\n"), r"{f}: line 2, column 2 \('class'\) is empty"),
        ("repeated-path", text("path,class\nbob/b1.png,bob\nbob/b1.png,bob\n"), r"{f} line 3: path 'bob/b1.png' repeats"),
        ("bom-semicolon-crlf", lambda p: p.write_bytes(b"\xef\xbb\xbfpath;class\r\nbob/b1.png;bob\r\n"), "ok"),
    ]


@pytest.mark.parametrize("cell", _extract_labels_cells(), ids=lambda c: c[0])
def test_extract_labels_csv(cell, tmp_path):
    from PIL import Image

    name, mutate, expected = cell
    root = tmp_path / "imgs"
    (root / "bob").mkdir(parents=True)
    Image.new("RGB", (32, 32), (200, 200, 200)).save(root / "bob" / "b1.png")
    Image.new("RGB", (32, 32), (190, 180, 200)).save(root / "bob" / "b2.png")
    labels = tmp_path / "labels.csv"
    mutate(labels)
    work = tmp_path / "work"
    work.mkdir()
    res = runner.invoke(app, ["extract", str(root), "--out", str(work / "out"), "--labels", str(labels),
                              "--backend", "tests.test_extract:FakeBackend", "--no-progress"])
    _check(res, expected, "labels.csv", set(), work)


# -- commands added later: auto, synth (--like), lfw -------------------------------------------------
# auto and synth --like read a competition directory through the same loader as score and evaluate:
# every refused .npy, labels and pairs cell is refused by them too, before any search or drawing.

def _refused(cells):
    return [c for c in cells if c[2] not in ("ok", "same")]


def _auto(d, out):
    return ["auto", "--data", str(d), "--out", str(out), "--budget", "60s", "--trials", "1", "--metrics", "cosine"]


def _synth(d, out):
    return ["synth", "--like", str(d), "--out", str(out), "--n-train", "60", "--n-classes", "6", "--dim", "8",
            "--n-test", "12", "--n-pairs", "12"]


_LATER = {"auto": _auto, "synth": _synth}


@pytest.mark.parametrize("command", sorted(_LATER))
@pytest.mark.parametrize("cell", _refused(_npy_cells()), ids=lambda c: c[0])
def test_later_commands_npy(cell, command, comp_template, tmp_path):
    name, mutate, expected = cell
    d, work = _mutated(comp_template, tmp_path, "train_set.npy", mutate)
    res = runner.invoke(app, _LATER[command](d, work / "out"))
    _check(res, expected, "train_set.npy", set(), work)


@pytest.mark.parametrize("command", sorted(_LATER))
@pytest.mark.parametrize("cell", _refused(_labels_cells()), ids=lambda c: c[0])
def test_later_commands_labels(cell, command, comp_template, tmp_path):
    name, mutate, expected = cell
    d, work = _mutated(comp_template, tmp_path, "train_labels.csv", mutate)
    res = runner.invoke(app, _LATER[command](d, work / "out"))
    _check(res, expected, "train_labels.csv", set(), work)


@pytest.mark.parametrize("cell", _refused(_pairs_cells()), ids=lambda c: c[0])
def test_auto_pairs(cell, comp_template, tmp_path):
    name, mutate, expected = cell
    d, work = _mutated(comp_template, tmp_path, "test_pairs.csv", mutate)
    res = runner.invoke(app, _auto(d, work / "out.csv"))
    _check(res, expected, "test_pairs.csv", set(), work)


@pytest.mark.parametrize("args, expected", [
    (["--n-train", "x"], r"--n-train"),
    (["--n-train", "-5"], r"n.train|train rows"),
    (["--dim", "-3"], r"dim"),
    (["--n-classes", "1000"], r"class|identit"),
    (["--like", "no-such-preset"], r"no-such-preset"),
])
def test_synth_settings(args, expected, tmp_path):
    base = {"--out": str(tmp_path / "work" / "s"), "--n-train": "60", "--n-classes": "6", "--dim": "8",
            "--n-test": "12", "--n-pairs": "12"}
    for k, v in zip(args[::2], args[1::2]):
        base[k] = v
    (tmp_path / "work").mkdir()
    res = runner.invoke(app, ["synth", *[x for kv in base.items() for x in kv]])
    _check(res, expected, "", set(), tmp_path / "work")


@pytest.fixture(scope="module")
def lfw_template(tmp_path_factory):
    from metricbench.datasets import write_lfw_xq_protocol

    return write_lfw_xq_protocol(tmp_path_factory.mktemp("lfw"), n_folds=2, pairs_per_fold=20, seed=3)


def _lfw(files, d):
    return ["lfw", str(d / files["pairs"].name), "-e", str(d / files["embeddings"].name), "-l",
            str(d / files["labels"].name), "-m", "cosine", "--n-boot", "20"]


def _lfw_copy(lfw_template, tmp_path):
    d = tmp_path / "lfw"
    d.mkdir()
    for p in lfw_template.values():
        shutil.copy(p, d / p.name)
    return d


@pytest.mark.parametrize("cell", _npy_cells(), ids=lambda c: c[0])
def test_lfw_embeddings(cell, lfw_template, tmp_path):
    name, mutate, expected = cell
    d = _lfw_copy(lfw_template, tmp_path)
    p = d / "embeddings.npy"
    X = np.load(p)
    p.unlink()
    mutate(p, X)
    res = runner.invoke(app, _lfw(lfw_template, d))
    if name == "missing":
        _check(res, r"{f}: no such embeddings file", "embeddings.npy", _outputs(d), d)
    elif expected not in ("ok", "same"):
        _check(res, expected, "embeddings.npy", _outputs(d), d)
    else:
        _check(res, "ok", "embeddings.npy", _outputs(d), d)


def _lfw_text_cells():
    return [
        ("labels", "missing-path-column", lambda t: t.replace("path", "file", 1), r"{f}: line 1: missing column 'path'"),
        ("labels", "not-utf8", lambda t: t.encode("utf-16"), r"{f}: is (not UTF-8|a binary file)"),
        ("labels", "row-count", lambda t: "\n".join(t.split("\n")[:-3]) + "\n", r"{f}: has \d+ rows but the embeddings have \d+"),
        ("labels", "bom-crlf", lambda t: b"\xef\xbb\xbf" + t.replace("\n", "\r\n").encode(), "ok"),
        ("pairs", "missing-column", lambda t: t.replace("same", "label", 1), r"{f}: line 1: missing column 'same'"),
        ("pairs", "non-integer", lambda t: _at_line(t, 3, "x", insert=False).replace(",1x", ",x").replace(",0x", ",x"),
         r"{f}: line 3"),
        ("pairs", "same-not-0-1", lambda t: "\n".join([t.split("\n")[0]] + [t.split("\n")[1].rsplit(",", 1)[0] + ",2"]
                                                    + t.split("\n")[2:]), r"{f}: line 2, column 'same' is 2"),
        ("pairs", "unknown-image", lambda t: t.replace(t.split("\n")[1].split(",")[1], "Nobody_At_All", 1),
         r"without an embedding"),
        ("pairs", "blank-line", lambda t: _at_line(t, 3, "", insert=True), r"{f}: line 3 is empty"),
        ("pairs", "bom-semicolon-crlf", lambda t: b"\xef\xbb\xbf" + t.replace(",", ";").replace("\n", "\r\n").encode(),
         "ok"),
    ]


@pytest.mark.parametrize("cell", _lfw_text_cells(), ids=lambda c: f"{c[0]}-{c[1]}")
def test_lfw_pairs_and_labels(cell, lfw_template, tmp_path):
    which, name, mutate, expected = cell
    d = _lfw_copy(lfw_template, tmp_path)
    p = d / f"{which}.csv"
    new = mutate(p.read_text())
    p.write_bytes(new if isinstance(new, bytes) else new.encode())
    res = runner.invoke(app, _lfw(lfw_template, d))
    _check(res, expected, f"{which}.csv", _outputs(d), d)
