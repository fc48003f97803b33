"""load_labels reads a plain integer table through a fast path; every file gives what the strict reader gives.

The strict reader (every cell as text, the line at fault named) is the reference: each file below is read
both ways and must give the same labels or the same error message.
"""

from __future__ import annotations

import numpy as np
import pytest

from metricbench.errors import InputError
from metricbench.io import loaders

FILES = {
    "plain": "index,class\n0,5\n1,7\n2,5\n",
    "shuffled": "index,class\n2,1\n0,3\n1,3\n",
    "crlf": "index,class\r\n0,1\r\n1,2\r\n",
    "bom": "\ufeffindex,class\n0,1\n1,2\n",
    "spaces": "index, class\n0, 1\n1, 2\n",
    "semicolon": "index;class\n0;1\n1;2\n",
    "no-final-newline": "index,class\n0,1\n1,2",
    "trailing-blank": "index,class\n0,1\n1,2\n\n\n",
    "blank-inside": "index,class\n0,1\n\n1,2\n",
    "float-class": "index,class\n0,1.0\n1,2\n",
    "name-class": "index,class\n0,ann\n1,bob\n",
    "huge-class": "index,class\n0,9007199254740993\n1,2\n",
    "negative-class": "index,class\n0,-3\n1,2\n",
    "empty-cell": "index,class\n0,\n1,2\n",
    "extra-field": "index,class\n0,1,9\n1,2\n",
    "extra-column": "index,class,path\n0,1,a.jpg\n1,2,b.jpg\n",
    "columns-swapped": "class,index\n1,0\n2,1\n",
    "duplicate-index": "index,class\n0,1\n0,2\n",
    "out-of-range": "index,class\n0,1\n5,2\n",
    "missing-row": "index,class\n0,1\n",
    "float-index": "index,class\n0.0,1\n1,2\n",
    "header-only": "index,class\n",
    "quoted": 'index,class\n"0","1"\n1,2\n',
}


def _read(path, strict: bool, monkeypatch):
    with monkeypatch.context() as m:
        if strict:
            m.setattr(loaders, "_plain_int_table", lambda *a, **k: None)
        try:
            return "ok", loaders.load_labels(path, 2)
        except InputError as e:
            return "error", str(e)


@pytest.mark.parametrize("name", sorted(FILES))
def test_fast_path_equals_strict_reader(name, tmp_path, monkeypatch):
    path = tmp_path / "train_labels.csv"
    path.write_text(FILES[name], encoding="utf-8")
    kind_fast, fast = _read(path, False, monkeypatch)
    kind_strict, strict = _read(path, True, monkeypatch)
    assert kind_fast == kind_strict, (fast, strict)
    if kind_fast == "ok":
        assert fast.dtype == strict.dtype
        np.testing.assert_array_equal(fast, strict)
    else:
        assert fast == strict


def test_plain_table_takes_the_fast_path(tmp_path):
    path = tmp_path / "train_labels.csv"
    rng = np.random.default_rng(0)
    idx = rng.permutation(1000)
    path.write_text("index,class\n" + "".join(f"{i},{i % 37}\n" for i in idx), encoding="utf-8")
    got = loaders._plain_int_table(path, ["index", "class"], "labels")
    assert got is not None
    np.testing.assert_array_equal(got["index"], idx)
    np.testing.assert_array_equal(loaders.load_labels(path, 1000), np.arange(1000) % 37)
