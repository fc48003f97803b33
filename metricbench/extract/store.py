"""The partial store that makes extraction resumable.

Finished work lives in ``OUT/.extract-partial/`` as shards (``shard-*.npz``), each written
atomically (temporary file + rename), so a crash, a kill or Ctrl-C loses at most the images
in flight. ``config.json`` records the settings; resuming with other settings is refused,
since mixing embeddings from two settings would be silently wrong.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from metricbench.errors import InputError
from metricbench.extract.pipeline import Outcome
from metricbench.io.atomic import atomic_path

PARTIAL_DIRNAME = ".extract-partial"


class PartialStore:
    """Shards of finished outcomes under ``folder``, for one fixed ``config``."""

    def __init__(self, folder, config: dict):
        self.folder = Path(folder)
        self.config = config
        self._seq = 0

    def open(self, *, restart=False) -> "PartialStore":
        """Create the folder; refuse (or with ``restart``, wipe) work done with other settings."""
        cfg_path = self.folder / "config.json"
        if restart and self.folder.exists():
            shutil.rmtree(self.folder)
        if cfg_path.exists():
            try:
                old = json.loads(cfg_path.read_text())
            except (OSError, ValueError):
                old = None
            new = _normalise(self.config)
            if old != new:
                changed = _changed(old, new)
                out = self.folder.parent
                if (out / "extract_info.json").is_file() and (out / "labels.csv").is_file():
                    raise InputError(
                        f"{out} holds a finished extraction made with other settings ({changed}); "
                        "write to another folder to keep both, or restart to replace it",
                        param="restart",
                    )
                raise InputError(
                    f"{self.folder} holds partial work made with other settings ({changed}); rerun with the same "
                    "settings, write to another folder, or restart to discard it",
                    param="restart",
                )
        self.folder.mkdir(parents=True, exist_ok=True)
        if not cfg_path.exists():
            with atomic_path(cfg_path) as tmp:
                Path(tmp).write_text(json.dumps(_normalise(self.config), indent=1, sort_keys=True))
        return self

    def shards(self) -> list[Path]:
        return sorted(self.folder.glob("shard-*.npz"))

    def load(self) -> dict[str, Outcome]:
        """All stored outcomes by relative path (a later shard wins on duplicates)."""
        done: dict[str, Outcome] = {}
        for shard in self.shards():
            try:
                with np.load(shard, allow_pickle=False) as z:
                    paths, sizes, mtimes = z["path"], z["size"], z["mtime_ns"]
                    ok, info, X = z["ok"], z["info"], z["X"]
                    # shards written before face boxes were recorded have none
                    boxes = z["box"] if "box" in z.files else np.full((paths.size, 4), -1, np.int64)
                    n_faces = z["n_faces"] if "n_faces" in z.files else np.full(paths.size, -1, np.int64)
            except Exception:  # an unreadable shard is only lost work: redo those images
                continue
            row = 0
            for j, (p, s, m, k, i) in enumerate(
                zip(paths.tolist(), sizes.tolist(), mtimes.tolist(), ok.tolist(), info.tolist())
            ):
                if k:
                    box = tuple(int(v) for v in boxes[j]) if boxes[j][0] >= 0 else None
                    done[p] = Outcome(p, s, m, vector=X[row], detector=i, box=box, n_faces=int(n_faces[j]))
                    row += 1
                else:
                    done[p] = Outcome(p, s, m, reason=i)
        return done

    def append(self, outcomes) -> Path | None:
        """Write ``outcomes`` as one new shard (atomically); returns its path."""
        outcomes = list(outcomes)
        if not outcomes:
            return None
        self._seq += 1
        path = self.folder / f"shard-{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}.npz"
        _write_shard(path, outcomes)
        return path

    def compact(self, outcomes) -> None:
        """Replace every shard by one holding ``outcomes`` (the new one is in place before the old go)."""
        old = self.shards()
        new = self.append(outcomes)
        for shard in old:
            if shard != new:
                shard.unlink(missing_ok=True)


def _write_shard(path, outcomes):
    good = [o for o in outcomes if o.ok]
    dim = good[0].vector.shape[0] if good else 0
    X = np.stack([o.vector for o in good]).astype(np.float32) if good else np.zeros((0, dim), np.float32)
    arrays = dict(
        path=np.array([o.path for o in outcomes], dtype=str),
        size=np.array([o.size for o in outcomes], dtype=np.int64),
        mtime_ns=np.array([o.mtime_ns for o in outcomes], dtype=np.int64),
        ok=np.array([o.ok for o in outcomes], dtype=bool),
        info=np.array([o.detector if o.ok else o.reason for o in outcomes], dtype=str),
        box=np.array([o.box if o.box is not None else (-1, -1, -1, -1) for o in outcomes], dtype=np.int64).reshape(-1, 4),
        n_faces=np.array([o.n_faces for o in outcomes], dtype=np.int64),
        X=X,
    )
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())


def _changed(old, new) -> str:
    """``degrade: None -> {...}`` for every top-level setting that differs (``old`` may be unreadable)."""
    if not isinstance(old, dict):
        return "its settings file is unreadable"
    keys = sorted(set(old) | set(new), key=str)
    return "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k))


def _normalise(config):
    return json.loads(json.dumps(config, sort_keys=True))
