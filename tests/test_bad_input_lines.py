"""Positions in error messages are the ones a user counts (issue 10 item 6): the 1-based line of
a CSV file (the header is line 1, CRLF and chunking changing nothing), the 0-based row index of
an ``.npy`` matrix (the number the index columns use). Every reader: the out-of-core pair
reader of the local engine, the LFW pairs reader and extract's labels CSV (the in-memory
loaders are tested in tests/test_bad_input_matrix.py)."""

from __future__ import annotations

import numpy as np
import pytest

from metricbench.errors import InputError

HEAD = "index1,index2,Id\n"


@pytest.fixture
def X(tmp_path):
    p = tmp_path / "X.npy"
    np.save(p, np.random.default_rng(0).standard_normal((10, 4)))
    return p


@pytest.mark.parametrize("body, words", [
    ("0,1,5\n1,2,6\n2,x,7\n", "line 4, column 'index2' holds 'x'"),
    ("0,1,5\n\n2,3,7\n", "line 3, column 'index1' is empty"),
    ("0,1,5\n1,2,6\n2,30,7\n", "line 4: index2 = 30 is out of range for a matrix of 10 rows (valid: 0..9)"),
    ("0,1,5\n1,2,6\n-1,3,7\n", "line 4: index1 = -1 is out of range"),
    ("0,1,5\n1,2,6\n2,3,5\n", "line 4 repeats Id 5"),
    ("0,1,5\n1,2,-6\n", "line 3: Id -6 is outside"),
    ("0,1,5\n1,2,6\n2,3,7,9\n", "line 4 does not split into the header's fields"),
    ("0,1,5\n1,2,6\n2,3.5,7\n", "line 4, column 'index2' holds '3.5'"),
])
@pytest.mark.parametrize("chunk", [1, 2, 1000])
@pytest.mark.parametrize("crlf", [False, True])
def test_streaming_pair_reader_names_the_file_line(X, tmp_path, body, words, chunk, crlf):
    from metricbench.engines.local import score_pairs_file

    text = HEAD + body
    p = tmp_path / "pairs.csv"
    p.write_bytes((text.replace("\n", "\r\n") if crlf else text).encode())
    out = tmp_path / "out.csv"
    with pytest.raises(InputError) as e:
        score_pairs_file(X, p, out, metric="cosine", chunk_pairs=chunk)
    msg = str(e.value)
    assert msg.startswith(f"{p}: ") and words in msg and "\n" not in msg, msg
    assert not out.exists()


def test_streaming_pair_reader_npy_pairs_use_0_based_rows(X, tmp_path):
    from metricbench.engines.local import score_pairs_file

    P = np.array([[0, 1, 5], [1, 2, 6], [2, 30, 7]], dtype=np.int64)
    p = tmp_path / "pairs.npy"
    np.save(p, P)
    with pytest.raises(InputError, match=r"pairs.npy: row 2 \(0-based\): index2 = 30 is out of range"):
        score_pairs_file(X, p, tmp_path / "o.csv", metric="cosine", chunk_pairs=2)


def test_streaming_pair_reader_clean_file_with_extra_column_and_crlf(X, tmp_path):
    from metricbench.engines.local import score_pairs_file
    from metricbench.distances import paired_distances

    p = tmp_path / "pairs.csv"
    p.write_bytes(b"index1,index2,Id,note\r\n0,1,5,a\r\n3,2,6,b\r\n")
    score_pairs_file(X, p, tmp_path / "o.csv", metric="cosine", chunk_pairs=1)
    got = np.loadtxt(tmp_path / "o.csv", delimiter=",", skiprows=1)
    ref = paired_distances(np.load(X), [0, 3], [1, 2], metric="cosine")
    np.testing.assert_allclose(got[:, 1], ref, rtol=1e-8)


@pytest.mark.parametrize("body, words", [
    ("1,a,1,a,2,1\n1,b,x,b,2,1\n", "line 3, column 'num1' holds 'x'"),
    ("1,a,1,a,2,1\n1,b,1,b,2,1\n1,c,1,d,1,3\n", "line 4, column 'same' is 3, must be 0 or 1"),
])
@pytest.mark.parametrize("crlf", [False, True])
def test_lfw_pairs_csv_names_the_file_line(tmp_path, body, words, crlf):
    from metricbench.evaluation.lfw import read_pairs

    text = "fold,name1,num1,name2,num2,same\n" + body
    p = tmp_path / "pairs.csv"
    p.write_bytes((text.replace("\n", "\r\n") if crlf else text).encode())
    with pytest.raises(InputError) as e:
        read_pairs(p)
    assert words in str(e.value) and str(p) in str(e.value), str(e.value)


def test_lfw_pairs_txt_names_the_file_line(tmp_path):
    from metricbench.evaluation.lfw import read_pairs

    p = tmp_path / "pairs.txt"
    p.write_text("1 1\nAnn 1 2\nBob 1 Cy\n")
    with pytest.raises(InputError, match="line 3"):
        read_pairs(p)


def test_extract_labels_csv_names_the_file_line(tmp_path):
    from metricbench.extract.runner import _list_from_csv

    (tmp_path / "imgs").mkdir()
    csv = tmp_path / "labels.csv"
    csv.write_bytes(b"path,class\r\na.png,1\r\nb.png,2\r\na.png,3\r\n")
    with pytest.raises(InputError, match=r"labels.csv line 4: path 'a.png' repeats line 2"):
        _list_from_csv(tmp_path / "imgs", csv)
