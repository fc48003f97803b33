"""Reading images robustly and the cross-quality degradation recipe.

Pillow is imported lazily (inside the functions), so importing this module costs nothing
for users of the core package.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from metricbench.errors import InputError

#: File name endings treated as images when walking a folder (compared in lower case).
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)

#: Images with a side shorter than this are skipped (no detector or aligner works on them).
MIN_SIDE = 16


class ImageSkip(Exception):
    """An image that cannot be embedded; ``str(exc)`` is the one-line reason written to skipped.csv."""


@dataclass(frozen=True)
class Degrade:
    """Cross-quality degradation: shrink, JPEG-compress in memory, enlarge back.

    Parameters
    ----------
    size : int
        The longer side after shrinking (a square image becomes ``size x size``).
    quality : int
        JPEG quality (1-95) of the in-memory re-encoding.

    Notes
    -----
    For the 250 x 250 LFW images, ``Degrade(40, 30)`` is exactly the ``xq40`` recipe of
    ``shared/data/README.md``: ``im.resize((40, 40), BILINEAR)``, JPEG ``quality=30`` into
    memory, reopen, ``.convert("RGB").resize((250, 250), BILINEAR)``. Non-square images keep
    their aspect ratio (the longer side becomes ``size``).
    """

    size: int
    quality: int

    def __post_init__(self):
        if not 1 <= int(self.size):
            raise InputError(f"degradation size must be a positive number of pixels, got {self.size}", param="degrade")
        if not 1 <= int(self.quality) <= 100:
            raise InputError(f"degradation JPEG quality must be in 1..100, got {self.quality}", param="degrade")

    @property
    def name(self) -> str:
        """Short tag, ``xq40`` for the preset, ``s40q30`` for a general size/quality."""
        for tag, preset in DEGRADE_PRESETS.items():
            if preset == self:
                return tag
        return f"s{self.size}q{self.quality}"

    def apply(self, im):
        """Return the degraded copy of the RGB Pillow image ``im`` (same size as ``im``)."""
        from PIL import Image

        w, h = im.size
        if w == h:
            small = (self.size, self.size)
        else:
            scale = self.size / max(w, h)
            small = (max(1, round(w * scale)), max(1, round(h * scale)))
        buf = io.BytesIO()
        im.resize(small, Image.BILINEAR).save(buf, format="JPEG", quality=int(self.quality))
        buf.seek(0)
        return Image.open(buf).convert("RGB").resize((w, h), Image.BILINEAR)


#: Named degradations (``parse_degrade(preset=...)``, ``extract_folder(degrade=...)``).
DEGRADE_PRESETS = {"xq40": Degrade(40, 30)}


def parse_degrade(preset=None, size=None, quality=None):
    """Build a :class:`Degrade` from a preset name or from ``size`` and/or ``quality``.

    Returns ``None`` when nothing was asked. ``size`` alone uses quality 30, ``quality``
    alone uses size 40 (the XQLFW-like defaults).
    """
    if preset is not None and (size is not None or quality is not None):
        raise InputError("give either a degradation preset or a size and quality, not both", param="degrade")
    if preset is not None:
        if preset not in DEGRADE_PRESETS:
            raise InputError(
                f"unknown degradation preset {preset!r}; choose one of {', '.join(DEGRADE_PRESETS)} "
                "or give a size and a quality",
                param="degrade",
            )
        return DEGRADE_PRESETS[preset]
    if size is None and quality is None:
        return None
    return Degrade(int(40 if size is None else size), int(30 if quality is None else quality))


def load_rgb(path):
    """Open ``path`` as an RGB Pillow image, fully decoded.

    Any mode (L, LA, P, RGBA, CMYK, I;16, ...) is converted with ``.convert("RGB")``, as in the
    reference recipe; an EXIF orientation tag, if present and not 1, is applied first (a no-op
    for images without one, such as LFW). Multi-frame files use their first frame.

    Raises
    ------
    ImageSkip
        With a one-line reason when the file is not an image, is truncated or corrupt, is a
        decompression bomb, or is smaller than ``MIN_SIDE`` pixels.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            try:
                orientation = im.getexif().get(0x0112, 1)
            except Exception:  # a broken EXIF block must not lose the image
                orientation = 1
            if orientation not in (None, 1):
                im = ImageOps.exif_transpose(im)
            rgb = im.convert("RGB")
    except UnidentifiedImageError:
        raise ImageSkip("not an image: Pillow cannot identify the file format") from None
    except Image.DecompressionBombError as exc:
        raise ImageSkip(f"too large to decode safely: {_one_line(exc)}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageSkip(f"cannot decode: {_one_line(exc)}") from None
    if min(rgb.size) < MIN_SIDE:
        raise ImageSkip(f"image too small: {rgb.size[0]}x{rgb.size[1]} pixels (minimum side {MIN_SIDE})")
    return rgb


def _one_line(exc) -> str:
    text = " ".join(str(exc).split())
    return text if text else type(exc).__name__
