"""Stage 4: bytes to a Fingerprint (SHA-256, perceptual hashes, size, format, EXIF).

The image is decoded once; EXIF orientation is applied and transparency composited on white
before the perceptual hashes, so a rotated-by-tag photo or a PNG with alpha matches its plain
copy. Pillow's decompression-bomb limit is enforced (its warning counts as an error too).
"""

from __future__ import annotations

import hashlib
import io
import logging
import warnings
from datetime import datetime
from typing import Any

import exifread
import imagehash
import numpy as np
from PIL import Image, ImageOps

from .errors import FingerprintError
from .models import Fingerprint, PerceptualHash

logging.getLogger("exifread").setLevel(logging.CRITICAL)


def _hash(algorithm: str, value: imagehash.ImageHash) -> PerceptualHash:
    return PerceptualHash(algorithm, int(str(value), 16), value.hash.size)


def _flatten(image: Image.Image) -> Image.Image:
    """Upright, opaque image: EXIF orientation applied, alpha composited on white."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image


def fingerprint(data: bytes, name: str | None = None, *, sha256: str | None = None) -> Fingerprint:
    """Fingerprint one image's bytes; raises FingerprintError when they are not a usable image.

    `name` (a path or reference) is only used in error messages; pass `sha256` when the
    caller already hashed the bytes.
    """
    where = f" ({name})" if name else ""
    if not data:
        raise FingerprintError(f"empty file{where}: zero bytes", path=name, code="empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                width, height, format_ = image.width, image.height, image.format or "unknown"
                gray = _flatten(image).convert("L")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise FingerprintError(
            f"image is too large to decode safely{where}: {exc}", path=name, code="too-large"
        ) from exc
    except Exception as exc:  # Pillow raises many types on hostile bytes; this is its boundary
        raise FingerprintError(
            f"not a readable image{where}: {exc}", path=name, code="bad-image"
        ) from exc
    return Fingerprint(
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        phash=_hash("phash", imagehash.phash(gray)),
        dhash=_hash("dhash", imagehash.dhash(gray)),
        width=width,
        height=height,
        format=format_,
        exif=read_exif(data),
        variants=variant_hashes(gray),
    )


def variant_hashes(gray: Image.Image) -> dict[str, dict[str, str]]:
    """pHash/dHash hex of the image with uniform borders trimmed ("trimmed", only when it
    has such borders: letterboxing, padding) and of its mirror and quarter turns ("mirror",
    "rot90", "rot180", "rot270"), for the duplicate search. Made from a copy at most 512 px
    wide so they stay cheap on large photos."""
    small = gray.copy()
    small.thumbnail((512, 512), Image.Resampling.BOX)
    views = {"mirror": ImageOps.mirror(small)}
    for degrees in (90, 180, 270):
        views[f"rot{degrees}"] = small.rotate(degrees, expand=True)
    pixels = np.asarray(small, dtype=np.int16)
    rows = np.flatnonzero(np.ptp(pixels, axis=1) > 24)  # rows and columns that are not flat
    cols = np.flatnonzero(np.ptp(pixels, axis=0) > 24)
    if len(rows) and len(cols):
        box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
        kept = (box[2] - box[0]) * (box[3] - box[1])
        if box != (0, 0, *small.size) and kept >= 0.25 * small.width * small.height:
            views["trimmed"] = small.crop(box)
    return {
        name: {"phash": str(imagehash.phash(view)), "dhash": str(imagehash.dhash(view))}
        for name, view in views.items()
    }


def _ratio(value: Any) -> float:
    return float(value.num) / float(value.den) if value.den else 0.0


def _degrees(tag: Any, ref: Any) -> float | None:
    values = getattr(tag, "values", None)
    if not values or len(values) != 3:
        return None
    degrees = _ratio(values[0]) + _ratio(values[1]) / 60 + _ratio(values[2]) / 3600
    if str(ref).strip().upper() in ("S", "W"):
        degrees = -degrees
    return round(degrees, 7)


def _taken(tags: dict[str, Any]) -> str | None:
    raw = tags.get("EXIF DateTimeOriginal") or tags.get("Image DateTime")
    if raw is None:
        return None
    try:
        taken = datetime.strptime(str(raw).strip(), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = tags.get("EXIF OffsetTimeOriginal")
    return taken.isoformat() + (str(offset).strip() if offset else "")


def read_exif(data: bytes) -> dict[str, Any]:
    """EXIF fields `make`, `model`, `taken` (ISO 8601), `orientation`, `gps` where present.

    Metadata is best effort: unreadable EXIF gives an empty dict, never a failed image.
    """
    try:
        tags = exifread.process_file(io.BytesIO(data), details=False)
    except Exception:  # exifread's boundary: corrupt metadata must not lose the image
        return {}
    exif: dict[str, Any] = {}
    for key, tag in (("make", "Image Make"), ("model", "Image Model")):
        if tags.get(tag) is not None and str(tags[tag]).strip():
            exif[key] = str(tags[tag]).strip()
    taken = _taken(tags)
    if taken:
        exif["taken"] = taken
    orientation = tags.get("Image Orientation")
    if orientation is not None and getattr(orientation, "values", None):
        exif["orientation"] = int(orientation.values[0])
    lat = _degrees(tags.get("GPS GPSLatitude"), tags.get("GPS GPSLatitudeRef"))
    lon = _degrees(tags.get("GPS GPSLongitude"), tags.get("GPS GPSLongitudeRef"))
    if lat is not None and lon is not None:
        exif["gps"] = {"lat": lat, "lon": lon}
    return exif
