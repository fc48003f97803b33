"""Loaders and writers: valid files load lazily and memory-mapped; bad ones give one precise line."""

import numpy as np
import pandas as pd
import pytest

from metricbench.errors import InputError
from metricbench.io import (
    load_competition,
    load_embeddings,
    load_labels,
    load_pairs,
    load_solution,
    write_submission,
)
from tests.conftest import write_competition


def test_competition_loads_lazily_and_memory_mapped(tmp_path):
    comp = load_competition(write_competition(tmp_path / "c"))
    assert "train_X" not in vars(comp)  # nothing read yet
    X = comp.train_X
    assert isinstance(X, np.memmap) and not X.flags.writeable
    assert comp.train_y.dtype == np.int64 and comp.train_y.shape == (60,)
    assert list(comp.pairs.columns) == ["index1", "index2", "Id"]
    sol = comp.solution
    assert sol.shape == (30,) and set(np.unique(sol)) <= {0, 1}
    comp.validate()


def test_labels_reordered_by_index_and_string_classes(tmp_path):
    p = tmp_path / "l.csv"
    pd.DataFrame({"index": [2, 0, 1], "class": ["bob", "al", "cy"]}).to_csv(p, index=False)
    y = load_labels(p, n_rows=3)
    assert list(y) == ["al", "cy", "bob"]


def test_any_width_and_dtype(tmp_path):
    for d in (1, 3, 700):
        np.save(tmp_path / "x.npy", np.ones((4, d), np.float16))
        assert load_embeddings(tmp_path / "x.npy").shape == (4, d)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: None, r"x\.npy: file not found"),
        (lambda p: p.write_bytes(b""), r"x\.npy: file is empty"),
        (lambda p: p.write_text("hello"), r"x\.npy: is a text file, not an \.npy matrix"),
        (lambda p: p.write_bytes(b"\x00\x01garbage"), r"x\.npy: not a valid \.npy file"),
        (lambda p: np.save(p, np.ones(5, np.float32)), r"expected a 2-D matrix .* shape \(5,\)"),
        (lambda p: np.save(p, np.full((3, 2), 2**60, np.int64)), r"integer values beyond 2\*\*53"),
        (lambda p: np.save(p, np.array([[1.0, np.nan], [0, 0], [np.inf, 1]])),
         r"2 row\(s\) contain NaN or inf \(row index 0, 2, 0-based"),
        (lambda p: np.save(p, np.array([[1, 2]], dtype=object), allow_pickle=True), r"holds Python objects"),
    ],
)
def test_bad_embeddings(tmp_path, make, match):
    p = tmp_path / "x.npy"
    make(p)
    with pytest.raises(InputError, match=match):
        load_embeddings(p)


def _csv(tmp_path, text, name="t.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_bad_labels(tmp_path):
    with pytest.raises(InputError, match=r"missing column 'class'"):
        load_labels(_csv(tmp_path, "index,klass\n0,1\n"), n_rows=1)
    with pytest.raises(InputError, match=r"has labels for 2 rows but the embedding matrix has 3 rows \(row index 2 has no label\)"):
        load_labels(_csv(tmp_path, "index,class\n0,1\n1,1\n"), n_rows=3)
    with pytest.raises(InputError, match=r"line 3: index 7 is out of range for the embedding matrix with 2 rows"):
        load_labels(_csv(tmp_path, "index,class\n0,1\n7,1\n"), n_rows=2)
    with pytest.raises(InputError, match=r"line 3, column 1 \('index'\) holds 'x', expected a whole number"):
        load_labels(_csv(tmp_path, "index,class\n0,1\nx,1\n"), n_rows=2)
    with pytest.raises(InputError, match=r"line 3 labels index 0 again \(first on line 2\)"):
        load_labels(_csv(tmp_path, "index,class\n0,1\n0,2\n"), n_rows=2)
    with pytest.raises(InputError, match=r"file is empty"):
        load_labels(_csv(tmp_path, ""), n_rows=2)
    with pytest.raises(InputError, match=r"has a header but no rows"):
        load_labels(_csv(tmp_path, "index,class\n"), n_rows=2)
    with pytest.raises(InputError, match=r"line 2, column 2 \('class'\) is empty"):
        load_labels(_csv(tmp_path, "index,class\n0,\n"), n_rows=1)


def test_bad_pairs(tmp_path):
    with pytest.raises(InputError, match=r"line 3: index2 9 is out of range for test_set\.npy with 5 rows"):
        load_pairs(_csv(tmp_path, "index1,index2,Id\n0,1,0\n2,9,1\n"), n_rows=5)
    with pytest.raises(InputError, match=r"line 3 repeats Id 4 of line 2"):
        load_pairs(_csv(tmp_path, "index1,index2,Id\n0,1,4\n2,3,4\n"), n_rows=5)
    with pytest.raises(InputError, match=r"missing column 'Id'"):
        load_pairs(_csv(tmp_path, "index1,index2\n0,1\n"), n_rows=5)
    with pytest.raises(InputError, match=r"line 2, column 1 \('index1'\) holds '1.5'"):
        load_pairs(_csv(tmp_path, "index1,index2,Id\n1.5,1,0\n"), n_rows=5)


def test_solution(tmp_path):
    p = _csv(tmp_path, "Id,Expected\n5,1\n3,0\n")
    assert list(load_solution(p, ids=[3, 5])) == [0, 1]
    with pytest.raises(InputError, match=r"no Expected value for Id 9"):
        load_solution(p, ids=[3, 9])
    with pytest.raises(InputError, match=r"line 2: Expected is 2, must be 0 or 1"):
        load_solution(_csv(tmp_path, "Id,Expected\n5,2\n", "s2.csv"))


def test_width_mismatch(tmp_path):
    d = write_competition(tmp_path / "c")
    np.save(d / "test_set.npy", np.ones((20, 5), np.float32))
    with pytest.raises(InputError, match=r"test_set\.npy: 5-D embeddings but train_set\.npy is 8-D"):
        load_competition(d).test_X


def test_submission_sorted_by_id_and_atomic(tmp_path):
    out = tmp_path / "sub" / "s.csv"
    write_submission(out, [3, 1, 2], [0.3, 0.1, 0.2])
    df = pd.read_csv(out)
    assert list(df.columns) == ["Id", "Predicted"]
    assert list(df.Id) == [1, 2, 3] and np.allclose(df.Predicted, [0.1, 0.2, 0.3])
    before = out.read_bytes()
    with pytest.raises(InputError, match=r"1 prediction\(s\) are NaN or inf \(first for Id 2\)"):
        write_submission(out, [1, 2], [0.5, np.nan])
    assert out.read_bytes() == before  # the old file is untouched
    assert [p.name for p in out.parent.iterdir()] == ["s.csv"]  # no temporary left behind
