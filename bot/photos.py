"""Photos of a published story: each one checked to be an image, turned upright, resized for phones
and saved as a JPEG with no metadata at all (no EXIF, so no GPS position, camera or date).

Citizens' originals stay private under DATA_DIR/media; only these copies are ever served.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from storage.files import write_private

MAX_SIDE = 1280  # wide enough for any phone screen, small enough for a slow connection
QUALITY = 82
MAX_PIXELS = 40_000_000  # refuse decompression bombs well before Pillow's own limit


class NotAPhoto(ValueError):
    """The file is not an image Pillow can read."""


def published_copy(source: Path, target: Path, *, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """Write a resized, metadata-free JPEG of `source` to `target` (0600); return its size in pixels."""
    try:
        with Image.open(source) as image:
            if image.width * image.height > MAX_PIXELS:
                raise NotAPhoto(f"{source.name}: too many pixels")
            upright = ImageOps.exif_transpose(image)  # the camera's rotation, applied before the tag is dropped
            upright = upright.convert("RGB")
            upright.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            clean = Image.new("RGB", upright.size)
            clean.paste(upright)  # a fresh image carries no info, EXIF or ICC from the original
            out = BytesIO()
            clean.save(out, "JPEG", quality=QUALITY, optimize=True)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise NotAPhoto(str(exc)) from exc
    write_private(target, out.getvalue())
    return clean.size
