"""One image -> one embedding, the same for every backend; and the worker-process side.

Steps for one file: read as RGB (:func:`~metricbench.extract.images.load_rgb`), optionally
degrade (:class:`~metricbench.extract.images.Degrade`), detect, keep the face whose box centre
is nearest the image centre, else fall back to a fixed centre box or the whole image, align,
embed. Images larger than ``max_detect_side`` are detected on a downscaled copy and the box is
scaled back, so landmarks and descriptor still see full resolution; images up to that size are
processed exactly as the reference recipe says.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from metricbench.extract.backends import Face
from metricbench.extract.images import ImageSkip, load_rgb

#: Fallbacks when no face is found: the reference centre box, the whole image, or skip.
FALLBACKS = ("center", "whole", "skip")

#: Default longest side for detection; larger images are detected on a downscaled copy.
MAX_DETECT_SIDE = 1024


def center_box(width: int, height: int) -> Face:
    """The reference fallback ``dlib.rectangle(70, 70, 180, 180)`` scaled from 250 x 250 to the image."""
    return Face(
        int(round(70 * width / 250)),
        int(round(70 * height / 250)),
        int(round(180 * width / 250)),
        int(round(180 * height / 250)),
        "center",
    )


def whole_box(width: int, height: int) -> Face:
    return Face(0, 0, width - 1, height - 1, "whole")


def nearest_center(faces, width: int, height: int) -> Face:
    """The face whose box centre is closest to the image centre (first one on ties)."""
    cx, cy = width / 2.0, height / 2.0
    return min(faces, key=lambda f: (f.center[0] - cx) ** 2 + (f.center[1] - cy) ** 2)


def embed_image(backend, im, *, fallback="center", max_detect_side=MAX_DETECT_SIDE, return_face=False):
    """Embed one RGB Pillow image.

    Returns
    -------
    vector : ndarray of shape (dim,), float32
    detector : str
        The detector stage that found the face, or the fallback used.
    face : Face
        Only with ``return_face=True``, in place of ``detector``: the box embedded (image pixels, inclusive
        corners; ``face.stage`` is the detector), followed by ``n_faces``, the number of faces detected (0 when a
        fallback box was used; more than 1 means the face nearest the centre was chosen among several).

    Raises
    ------
    ImageSkip
        When no face is found and ``fallback="skip"``, or the embedding is not finite.
    """
    from PIL import Image  # noqa: PLC0415

    width, height = im.size
    rgb = np.asarray(im)
    if max_detect_side and max(width, height) > max_detect_side:
        scale = max_detect_side / max(width, height)
        small = im.resize(
            (max(1, round(width * scale)), max(1, round(height * scale))), Image.BILINEAR, reducing_gap=2.0
        )
        faces = [f.scaled(1.0 / scale) for f in backend.detect(np.asarray(small))]
    else:
        faces = backend.detect(rgb)
    n_faces = len(faces)
    if faces:
        face = nearest_center(faces, width, height)
    elif fallback == "center":
        face = center_box(width, height)
    elif fallback == "whole":
        face = whole_box(width, height)
    else:
        raise ImageSkip("no face found (fallback 'skip')")
    vec = np.asarray(backend.embed(rgb, backend.align(rgb, face)), dtype=np.float32).reshape(-1)
    if not np.all(np.isfinite(vec)):
        raise ImageSkip("embedding has NaN or infinite values")
    if return_face:
        return vec, face, n_faces
    return vec, face.stage


@dataclass
class Outcome:
    """Result for one file: either ``vector``/``detector`` or a skip ``reason``."""

    path: str  # relative, posix
    size: int
    mtime_ns: int
    vector: np.ndarray | None = None
    detector: str | None = None
    reason: str | None = None
    box: tuple | None = None  # (left, top, right, bottom) of the face embedded, image pixels
    n_faces: int = -1  # faces the detector found (-1: not recorded)

    @property
    def ok(self) -> bool:
        return self.vector is not None


def process_file(backend, root, rel, size, mtime_ns, *, degrade=None, fallback="center", max_detect_side=MAX_DETECT_SIDE):
    """Embed ``root/rel``; never raises for a bad image (the reason goes into the outcome)."""
    out = Outcome(rel, size, mtime_ns)
    try:
        im = load_rgb(os.path.join(root, rel))
        if degrade is not None:
            im = degrade.apply(im)
        out.vector, face, out.n_faces = embed_image(
            backend, im, fallback=fallback, max_detect_side=max_detect_side, return_face=True
        )
        out.detector = face.stage
        out.box = (int(face.left), int(face.top), int(face.right), int(face.bottom))
    except ImageSkip as exc:
        out.reason = str(exc)
    except MemoryError:
        out.reason = "out of memory while processing this image"
    except Exception as exc:  # a backend failure on one image must not stop the run
        msg = " ".join(str(exc).split())[:300]
        out.reason = f"error: {type(exc).__name__}: {msg}" if msg else f"error: {type(exc).__name__}"
    return out


# --------------------------------------------------------------------------- worker processes

_WORKER = {}


def init_worker(backend, options):
    """Process-pool initializer: load the backend's models once per worker."""
    # one BLAS / OpenMP thread per worker: parallelism comes from --jobs
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    backend.load()
    _WORKER["backend"] = backend
    _WORKER["options"] = options


def process_chunk(root, items):
    """Worker task: ``items`` is a list of ``(rel, size, mtime_ns)``; returns a list of :class:`Outcome`."""
    return process_items(_WORKER["backend"], _WORKER["options"], root, items)


def process_items(backend, options, root, items):
    """:func:`process_file` of every ``(rel, size, mtime_ns)`` of ``items``, in order."""
    return [process_file(backend, root, rel, size, mtime, **options) for rel, size, mtime in items]


_LOADED: dict = {}


def process_shard(backend, options, root, items):
    """A task for workers that live longer than one run (a Dask cluster): :func:`process_items` with
    the backend's models loaded once per worker process (cached by the backend's spec)."""
    key = repr(backend.spec())
    be = _LOADED.get(key)
    if be is None:
        backend.load()
        be = _LOADED[key] = backend
    return process_items(be, options, root, items)
