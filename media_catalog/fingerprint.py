"""Stage 4: bytes to a Fingerprint (SHA-256, perceptual hashes, size, format, metadata).

Each image is decoded once, for both hashes. Before hashing it is made upright (EXIF
orientation), opaque (alpha and palette transparency composited on white) and grey: CMYK goes
through RGB, 16-bit and float images are scaled to 8 bits, so a CMYK, 16-bit or RGBA copy
hashes like its plain 8-bit RGB twin. Animated images are hashed by their first frame.

Decode paths (recorded on every Fingerprint as `decode`, so hashes made by different paths
are never mixed up unknowingly):

    full   every pixel decoded.
    draft  a JPEG whose shorter side is at least DRAFT_SCALE * DRAFT_MIN_SIDE (1024 px) is
           decoded by libjpeg at 1/DRAFT_SCALE (1/4) scale, luminance only.
           benchmarks/fingerprint.py measures how its hashes agree with full decodes
           (docs/benchmarks.md, "Fingerprinting"): pHash the same for 82% of photos, 2 bits
           apart (one pair of coefficients at the median trading places) for 18%, 4 bits for
           0.3%; dHash at most 3 bits apart. Re-saving a photo at JPEG quality 95 moves them
           by up to 2 (pHash) and 4 (dHash) bits. Smaller JPEGs and other formats are decoded
           in full.

Low-information images (tiny icons, flat or near-blank pictures) are marked: their perceptual
hashes carry no signal, so duplicate search leaves them out of near matching.

Formats: whatever Pillow opens (JPEG, PNG, GIF, WebP, BMP, TIFF, AVIF…) plus HEIC/HEIF through
pillow-heif. Pillow's decompression-bomb limit is enforced (its warning counts as an error too).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import warnings
from collections.abc import Callable, Iterable, Iterator

import numpy as np
from PIL import ExifTags, Image
from pillow_heif import register_heif_opener

from .errors import FingerprintError
from .metadata import read_embedded, read_exif
from .models import Fingerprint, PerceptualHash

register_heif_opener()  # HEIC/HEIF through pillow-heif's Pillow plugin

# Chosen from the draft-vs-full measurement in docs/benchmarks.md.
DRAFT_SCALE = 4
DRAFT_MIN_SIDE = 256
# Box-reduce a draft decode to this many times pHash's 32×32 before its LANCZOS shrink (not
# dHash's 9×8: boxes that coarse move dHash up to 11 bits). Measured in docs/benchmarks.md.
DRAFT_PHASH_GAP = 4.0
# An image whose longer side is at most this many pixels is an icon, not a photo. At 64 a
# quarter-size copy of a 256-px photo counted as an icon, which cost 25 % resizes 40 % of
# their recall in benchmarks/accuracy.py; 48 keeps such thumbnails in the near tier.
ICON_MAX_SIDE = 48
# Standard deviation (grey levels) of the 32x32 picture pHash sees, below which it is flat.
FLAT_MAX_STD = 3.0
# Central regions hashed as views ("centre90"…): a crop that keeps the middle of a photo
# matches the original's view of about the same size (benchmarks/accuracy.py).
CENTRES = (90, 80, 70)
# The derived hashes (256-bit pHash, central regions, quarter-turned dHash) are read from
# one SQUARE×SQUARE shrink, box-reduced to REDUCING_GAP times that first.
SQUARE = 128
REDUCING_GAP = 2.0

# Scans a progressive JPEG may hold: libjpeg passes over every block of the image for each,
# so a file of thousands of scans of a few bytes each takes minutes to decode (6,000 of a
# 1,024-px picture take 2 s: tests/hostile.py's `many_scans`). Encoders write about 10.
MAX_JPEG_SCANS = 200
# Pixels converted at a time when making an image grey takes copies (see `_grey`).
STRIP_PIXELS = 1 << 20

_DRAFT_FORMATS = ("JPEG", "MPO")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
_WIDE_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")


# EXIF orientation -> the turn that makes the picture upright (as ImageOps.exif_transpose)
_TURNS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


_QUARTER_TURNS = {_TURNS[orientation] for orientation in (5, 6, 7, 8)}


def _turn(image: Image.Image) -> Image.Transpose | None:
    """The turn its EXIF orientation asks for; unreadable EXIF leaves it as stored."""
    try:
        return _TURNS.get(image.getexif().get(ExifTags.Base.Orientation, 1))
    except Exception:  # Pillow's EXIF parser on hostile metadata: the pixels are still good
        return None


def _grey(image: Image.Image) -> Image.Image:
    """8-bit greyscale of any mode: alpha on white, CMYK via RGB, wide modes scaled. A
    conversion that makes copies runs STRIP_PIXELS at a time, so that it needs little more
    memory than the image and its grey copy."""
    if image.mode == "L" and "transparency" not in image.info:
        return image
    if image.mode in _WIDE_MODES:
        convert = _narrowing(image)
    elif image.mode in _ALPHA_MODES or "transparency" in image.info:
        convert = _on_white
    elif image.mode in ("1", "RGB"):
        return image.convert("L")
    else:
        convert = _via_rgb
    if image.width * image.height <= STRIP_PIXELS:
        return convert(image)
    grey = Image.new("L", image.size)
    rows = max(1, STRIP_PIXELS // image.width)
    for top in range(0, image.height, rows):
        box = (0, top, image.width, min(image.height, top + rows))
        grey.paste(convert(image.crop(box)), box[:2])
    return grey


def _narrowing(image: Image.Image) -> Callable[[Image.Image], Image.Image]:
    """What makes a part of `image` (16-bit, 32-bit or float) 8-bit grey: a 16-bit range
    (or a 32-bit one past 255) divided by 257, a float one up to 1.0 times 255."""
    top = max(float(image.getextrema()[1]), 0.0)
    times, by = 1, 1
    if image.mode == "F" and top <= 1.0:
        times = 255
    elif image.mode != "F" and (image.mode != "I" or top > 255):
        by = 257

    def narrow(part: Image.Image) -> Image.Image:
        pixels = np.asarray(part, dtype=np.float64)  # a copy: changed in place
        pixels *= times
        pixels /= by
        np.clip(np.rint(pixels, out=pixels), 0, 255, out=pixels)
        return Image.fromarray(pixels.astype(np.uint8), "L")

    return narrow


def _on_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("L")


def _via_rgb(image: Image.Image) -> Image.Image:
    return image.convert("RGB").convert("L")


def _low_information(small: np.ndarray, width: int, height: int) -> bool:
    """An icon, or flat: `small` is the 32x32 picture pHash works on."""
    if max(width, height) <= ICON_MAX_SIDE:
        return True
    return float(small.std()) < FLAT_MAX_STD


def _trimmed(picture: Image.Image) -> Image.Image | None:
    """`picture` without its uniform borders, when it has some and they leave a quarter."""
    pixels = np.asarray(picture)  # (uint8: a row's max - min never wraps)
    edges = (pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1])
    if all(np.ptp(edge) > 24 for edge in edges):  # no flat edge: no border (most photos)
        return None
    rows = np.flatnonzero(np.ptp(pixels, axis=1) > 24)  # rows and columns that are not flat
    cols = np.flatnonzero(np.ptp(pixels, axis=0) > 24)
    if not len(rows) or not len(cols):
        return None
    box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    kept = (box[2] - box[0]) * (box[3] - box[1])
    if box == (0, 0, *picture.size) or kept < 0.25 * picture.width * picture.height:
        return None
    return picture.crop(box)


def _decode(image: Image.Image, draft: bool) -> tuple[Image.Image, str, bool]:
    """The upright grey picture to hash, the decode path that made it, and whether making
    it upright turned it a quarter (its width and height swapped)."""
    scaled = (
        draft
        and image.format in _DRAFT_FORMATS
        and min(image.size) >= DRAFT_SCALE * DRAFT_MIN_SIDE
        and image.mode in ("L", "RGB")
        # Pillow returns None when it cannot scale this JPEG: then it is decoded in full
        and image.draft("L", (image.width // DRAFT_SCALE, image.height // DRAFT_SCALE)) is not None
    )
    image.load()
    grey = _grey(image)  # grey first: turning it moves a third of the bytes an RGB turn would
    turn = _turn(image)
    picture = grey if turn is None else grey.transpose(turn)
    return picture, "draft" if scaled else "full", turn in _QUARTER_TURNS


def fingerprint(
    data: bytes, name: str | None = None, *, sha256: str | None = None, draft: bool = True
) -> Fingerprint:
    """Fingerprint one image's bytes; raises FingerprintError when they are not a usable image.

    `name` (a path or reference) is only used in error messages; pass `sha256` when the
    caller already hashed the bytes. `draft=False` decodes every JPEG in full.
    """
    with _decoding(data, name) as image:
        width, height, format_ = image.width, image.height, image.format or "unknown"
        embedded = read_embedded(image)
        grey, path, turned = _decode(image, draft)
        hashes = _hashes(grey, exact=path == "full")
    small, phash, dhash, phash256, variants = hashes
    return Fingerprint(
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        phash=PerceptualHash.from_hex("phash", phash),
        dhash=PerceptualHash.from_hex("dhash", dhash),
        phash256=PerceptualHash.from_hex("phash", phash256),
        width=width,
        height=height,
        format=format_,
        exif=read_exif(data),
        decode=path,
        low_information=_low_information(small, width, height),
        turned=turned,
        embedded=embedded,
        variants=variants,
    )


@contextlib.contextmanager
def _decoding(data: bytes, name: str | None) -> Iterator[Image.Image]:
    """The opened image, with every way Pillow fails on it (and its decompression-bomb
    limit) raised as a FingerprintError that names `name`."""
    where = f" ({name})" if name else ""
    if not data:
        raise FingerprintError(f"empty file{where}: zero bytes", path=name, code="empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's notes on corrupt metadata: not ours to print
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.info.get("progressive"):
                    _refuse_many_scans(data, where, name)
                yield image
    except FingerprintError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise FingerprintError(
            f"image is too large to decode safely{where}: {exc}", path=name, code="too-large"
        ) from exc
    except Image.UnidentifiedImageError as exc:
        raise FingerprintError(
            f"not a readable image{where}: {_not_an_image(data)}", path=name, code="bad-image"
        ) from exc
    except Exception as exc:  # Pillow raises many types on hostile bytes; this is its boundary
        raise FingerprintError(
            f"not a readable image{where}: {exc}", path=name, code="bad-image"
        ) from exc


def upright_grey(data: bytes, side: int, name: str | None = None) -> np.ndarray:
    """The image upright, opaque and grey (as `fingerprint` sees it), shrunk to at most
    `side` px on its longer side; a JPEG is decoded at the smallest scale that keeps `side`.
    Raises FingerprintError as `fingerprint` does."""
    with _decoding(data, name) as image:
        if image.format in _DRAFT_FORMATS and image.mode in ("L", "RGB"):
            image.draft("L", (side, side))
        image.load()
        grey, turn = _grey(image), _turn(image)
        if turn is not None:
            grey = grey.transpose(turn)
        if max(grey.size) > side:
            grey.thumbnail((side, side), Image.Resampling.LANCZOS, reducing_gap=2.0)
        return np.array(grey)


def _refuse_many_scans(data: bytes, where: str, name: str | None) -> None:
    """FingerprintError (`too-slow`) for a progressive JPEG of over MAX_JPEG_SCANS scans
    (counted by their start marker, which the coded data cannot hold)."""
    scans = data.count(b"\xff\xda")
    if scans > MAX_JPEG_SCANS:
        raise FingerprintError(
            f"a progressive JPEG of {scans:,} scans{where}: decoding over {MAX_JPEG_SCANS} "
            "would take too long, so it was not decoded",
            path=name,
            code="too-slow",
        )


def _not_an_image(data: bytes) -> str:
    """What bytes in which Pillow finds no image format are, as far as their start tells."""
    head = data[:1024].removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if head.startswith(b"%pdf"):
        return "a PDF document"
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or (
        head.startswith(b"<?xml") and b"<html" in head
    ):
        return "an HTML page (a server's answer saved in place of the image?)"
    if head.startswith(b"<svg") or (head.startswith((b"<?xml", b"<!")) and b"<svg" in head):
        return "an SVG drawing (vector images are not fingerprinted, only raster ones)"
    return "no image format Pillow reads (a corrupt file, or a format it does not know)"


def _hashes(
    grey: Image.Image, exact: bool
) -> tuple[np.ndarray, str, str, str, dict[str, dict[str, str]]]:
    """pHash's 32×32 picture, pHash, dHash and 256-bit pHash hex, and the variant hashes.

    imagehash.phash and imagehash.dhash shrink the whole picture with LANCZOS to 32×32 and
    9×8 first; shrinking here, once each, gives the same bits and lets the variant hashes
    and the low-information test reuse those pictures. A draft decode (not `exact`) is not
    imagehash's picture anyway, so its 32×32 is box-reduced first (DRAFT_PHASH_GAP): a
    quarter of the time, and as close to the full decode's pHash (docs/benchmarks.md).
    Each of these shrinks reads every pixel, so everything else is read from one more: a
    SQUARE×SQUARE picture (box-reduced first, REDUCING_GAP) that the 256-bit pHash and the
    central regions are cut and shrunk from at almost no cost (uniform borders are found on
    a copy up to 512 px wide). Shrinking commutes with cropping and with squashing to a
    square, so these hashes stay within a few bits of hashing the cropped full-size picture
    (tests/test_fingerprint.py)."""
    lanczos = Image.Resampling.LANCZOS
    gap = None if exact else DRAFT_PHASH_GAP
    small = np.asarray(grey.resize((32, 32), lanczos, reducing_gap=gap))
    wide = np.asarray(grey.resize((9, 8), lanczos))
    square = grey.resize((SQUARE, SQUARE), lanczos, reducing_gap=REDUCING_GAP)
    (phash256,) = _phash_hexes(np.asarray(square.resize((64, 64), lanczos))[None], bits=16)
    views = {"": (small, wide), **variant_pictures(grey, small, wide, square)}
    hashes = dict(zip(views, _view_hashes(views.values()), strict=True))
    plain = hashes.pop("")
    return small, plain["phash"], plain["dhash"], phash256, hashes


def _dct_rows(size: int, bits: int) -> np.ndarray:
    """The first `bits` rows of the unnormalised DCT-II of `size` points (scipy's and
    imagehash's): row k is 2·cos(π·k·(2n+1) / 2·size)."""
    k, n = np.arange(bits)[:, None], np.arange(size)[None, :]
    return 2 * np.cos(np.pi * k * (2 * n + 1) / (2 * size))


_DCT = {(32, 8): _dct_rows(32, 8), (64, 16): _dct_rows(64, 16)}


def _phash_hexes(pictures: np.ndarray, bits: int = 8) -> list[str]:
    """imagehash.phash's hex of each of its own pictures (n×32×32 for 8×8 bits, n×64×64 for
    16×16): the low bits×bits corner of the 2-D DCT, above its median.

    Only that corner is computed, as two matrix products; coefficients are rounded to 1e-6
    so that those that are zero (every one but the first of a flat picture, and half of a
    symmetric one) are exactly zero, not the rounding noise of one DCT algorithm that decided
    their bits. Of any other picture the bits are imagehash's (tests/test_fingerprint.py)."""
    rows = _DCT[pictures.shape[1], bits]
    dct = np.round(rows @ pictures.astype(np.float64) @ rows.T, 6).reshape(len(pictures), -1)
    return _hexes(dct > np.median(dct, axis=1, keepdims=True))


def _dhash_hexes(pictures: np.ndarray) -> list[str]:
    """imagehash.dhash's hex of each of its own n×8×9 pictures (a pixel brighter than its left)."""
    return _hexes((pictures[:, :, 1:] > pictures[:, :, :-1]).reshape(len(pictures), -1))


def _hexes(bits: np.ndarray) -> list[str]:
    """Each row of bits as imagehash writes it: hex, first bit most significant."""
    return [row.tobytes().hex() for row in np.packbits(bits, axis=1)]


def _view_hashes(pictures: Iterable[tuple[np.ndarray, np.ndarray]]) -> list[dict[str, str]]:
    """pHash/dHash hex of each (32×32, 8×9) pair of pictures, in one vectorised pass."""
    ps, ds = zip(*pictures, strict=True)
    return [
        {"phash": p, "dhash": d}
        for p, d in zip(_phash_hexes(np.stack(ps)), _dhash_hexes(np.stack(ds)), strict=True)
    ]


def variant_pictures(
    grey: Image.Image, small: np.ndarray, wide: np.ndarray, square: Image.Image
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The 32×32 and 9×8 pictures pHash and dHash read of the image mirrored and turned by
    quarter turns ("mirror", "rot90", "rot180", "rot270"), of its central regions
    ("centre90", "centre80", "centre70": crops) and with uniform borders trimmed ("trimmed",
    only when it has such borders: letterboxing, padding), hashed as views for the duplicate
    search. `small` and `wide` are `grey`'s 32×32 and 9×8 LANCZOS shrinks, `square` its
    SQUARE×SQUARE one.

    Shrinking commutes with mirroring and quarter turns, so the turned views turn those
    shrunk pictures instead of the whole image (the 8×9 one a quarter-turned dHash reads comes
    from `square`)."""
    lanczos = Image.Resampling.LANCZOS

    def shrunk(region: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(region.resize((32, 32), lanczos)), np.asarray(
            region.resize((9, 8), lanczos)
        )

    tall = np.asarray(square.resize((8, 9), lanczos))  # dHash's picture after a quarter turn
    views = {
        "mirror": (small[:, ::-1], wide[:, ::-1]),
        "rot90": (np.rot90(small, 1), np.rot90(tall, 1)),
        "rot180": (np.rot90(small, 2), np.rot90(wide, 2)),
        "rot270": (np.rot90(small, 3), np.rot90(tall, 3)),
    }
    for percent in CENTRES:
        margin = round(SQUARE * (100 - percent) / 200)
        views[f"centre{percent}"] = shrunk(
            square.crop((margin, margin, SQUARE - margin, SQUARE - margin))
        )
    # borders found at up to 512 px: at SQUARE px, 10 % paddings were found 5 % less often
    trimmed = _trimmed(grey.reduce(max(1, max(grey.size) // 512)))
    if trimmed is not None:
        views["trimmed"] = shrunk(trimmed)
    return views
