"""A competition directory bundled lazily: files are read (and validated) on first use."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from metricbench.errors import InputError
from metricbench.io.loaders import (
    line_of,
    load_embeddings,
    load_labels,
    load_pairs,
    load_solution,
    npy_shape,
    read_csv_table,
)
from metricbench.io.loaders import _check_range, _first_duplicate, _int_column

TRAIN_X = "train_set.npy"
TRAIN_Y = "train_labels.csv"
TEST_X = "test_set.npy"
PAIRS = "test_pairs.csv"
SOLUTION = "solution.csv"
TRAIN_META = "train_meta.csv"


class Competition:
    """Files of a verification competition.

    Attributes are loaded on first access: ``train_X`` and ``test_X`` are read-only
    memory maps; ``train_y`` the identity of each train row; ``pairs`` a DataFrame
    ``index1, index2, Id``; ``solution`` the 0/1 truth aligned with ``pairs`` (or
    None); ``train_groups`` and ``train_images`` an optional variant tag and source
    image per train row read from ``train_meta.csv`` (``index,group,image``; not part
    of the competition format: used to draw cross-variant validation pairs that never
    pair an image with its own other variant, like the test pairs).
    """

    def __init__(self, path, *, mmap: bool = True):
        self.path = Path(path)
        self.mmap = mmap
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"{self.path} is a file, not a competition directory; give the folder that holds "
                             "train_set.npy, test_set.npy and test_pairs.csv")
        if not self.path.is_dir():
            raise InputError(f"{self.path}: competition directory not found")

    def file(self, name: str) -> Path:
        return self.path / name

    @cached_property
    def train_X(self) -> np.ndarray:
        return load_embeddings(self.file(TRAIN_X), mmap=self.mmap)

    @cached_property
    def test_X(self) -> np.ndarray:
        X = load_embeddings(self.file(TEST_X), mmap=self.mmap)
        if self.file(TRAIN_X).exists():
            d_train = npy_shape(self.file(TRAIN_X))[-1]
            if X.shape[1] != d_train:
                raise InputError(
                    f"{self.file(TEST_X)}: {X.shape[1]}-D embeddings but {TRAIN_X} is {d_train}-D; "
                    "both must come from the same network"
                )
        return X

    @cached_property
    def train_y(self) -> np.ndarray:
        return load_labels(self.file(TRAIN_Y), n_rows=self.train_X.shape[0], matrix=TRAIN_X)

    @cached_property
    def pairs(self):
        return load_pairs(self.file(PAIRS), n_rows=self.test_X.shape[0], matrix=TEST_X)

    @cached_property
    def solution(self):
        p = self.file(SOLUTION)
        if not p.exists():
            return None
        return load_solution(p, ids=self.pairs["Id"].to_numpy())

    @cached_property
    def _train_meta(self):
        p = self.file(TRAIN_META)
        if not p.exists():
            return None
        df = read_csv_table(p, ["index", "group"], "a CSV with columns index,group[,image]")

        idx = _int_column(df, "index", p)
        n = self.train_X.shape[0]
        _check_range(idx, n, "index", p, TRAIN_X)
        d = _first_duplicate(idx)
        if d is not None:
            raise InputError(f"{p}: line {line_of(d[0])} repeats index {idx[d[0]]} of line {line_of(d[1])}")
        if len(df) != n:
            raise InputError(f"{p}: must give a group for each of the {n} train rows exactly once, has {len(df)}")
        df["index"] = idx
        return df.sort_values("index").reset_index(drop=True)

    @cached_property
    def train_groups(self):
        """Variant tag of each train row (``train_meta.csv`` column ``group``), or None."""
        meta = self._train_meta
        return None if meta is None else meta["group"].astype(str).to_numpy()

    @cached_property
    def train_images(self):
        """Source image of each train row (``train_meta.csv`` column ``image``), or None."""
        meta = self._train_meta
        if meta is None or "image" not in meta.columns:
            return None
        return meta["image"].to_numpy()

    def validate(self) -> "Competition":
        """Load and check every file now (shapes, labels, pair indices, widths)."""
        _ = self.train_X, self.train_y, self.test_X, self.pairs, self.solution, self.train_groups, self.train_images
        return self

    def __repr__(self) -> str:
        return f"Competition({str(self.path)!r})"


def load_competition(path, *, mmap: bool = True, validate: bool = False) -> Competition:
    """Bundle a competition directory (``train_set.npy``, ``train_labels.csv``, ``test_set.npy``,
    ``test_pairs.csv``, optional ``solution.csv``); files load lazily unless ``validate``."""
    comp = Competition(path, mmap=mmap)
    return comp.validate() if validate else comp
