import hashlib
import importlib
import io
import struct
import tracemalloc
import zlib

import imagehash
import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from media_catalog.errors import FingerprintError
from media_catalog.fingerprint import fingerprint
from media_catalog.metadata import read_exif
from media_catalog.models import PerceptualHash

from .conftest import SAMPLES, encode, photo

fingerprint_module = importlib.import_module("media_catalog.fingerprint")


def test_golden_hashes_never_change_silently():
    # Golden values: a change here changes every catalogue's hashes; bump the schema if so.
    made = fingerprint(encode(photo(1), "PNG"))
    assert (str(made.phash), str(made.dhash)) == ("fe6eb943d4a0005f", "1333252444c39b38")
    assert str(made.phash256) == (
        "fe426e44b930439ed4aba07526475f072a16bc66464fe347dd6a68bc9a78454e"
    )
    assert made.variants["centre80"] == {"phash": "ce0e1b4395ec95e1", "dhash": "71652424c6c38118"}
    shipped = fingerprint((SAMPLES / "gallery" / "pompeii-coins.jpg").read_bytes())
    assert (str(shipped.phash), str(shipped.dhash)) == ("e4d5b5a92b54523a", "a2e285a553d5264f")


def test_fields_match_the_plain_libraries(tmp_path):
    data = encode(photo(7, (300, 200)), "JPEG", quality=90)
    path = tmp_path / "p.jpg"
    path.write_bytes(data)
    made = fingerprint(data)
    assert made.sha256 == hashlib.sha256(data).hexdigest()
    assert str(made.phash) == str(imagehash.phash(Image.open(path)))
    assert str(made.dhash) == str(imagehash.dhash(Image.open(path)))
    assert (made.width, made.height, made.format) == (300, 200, "JPEG")
    assert made.to_dict()["phash"] == str(made.phash)
    # read from a faster shrink than imagehash's 64x64 one: a few of its 256 bits differ
    reference = PerceptualHash.from_hex(
        "phash", str(imagehash.phash(Image.open(path), hash_size=16))
    )
    assert made.phash256 - reference <= 20
    assert len(made.to_dict()["phash256"]) == 64


def test_central_regions_hash_like_the_cropped_copy():
    # from a faster shrink than imagehash's: within a few bits of hashing the crop itself
    for seed in (8, 9, 10):
        original = photo(seed, (400, 300))
        views = fingerprint(encode(original, "PNG")).variants
        for percent in (90, 80, 70):
            dx, dy = round(400 * (100 - percent) / 200), round(300 * (100 - percent) / 200)
            cropped = fingerprint(encode(original.crop((dx, dy, 400 - dx, 300 - dy)), "PNG"))
            view = views[f"centre{percent}"]
            assert PerceptualHash.from_hex("phash", view["phash"]) - cropped.phash <= 4
            assert PerceptualHash.from_hex("dhash", view["dhash"]) - cropped.dhash <= 4


def test_perceptual_hash_is_a_value():
    a = PerceptualHash.from_hex("phash", "fe6eb943d4a0005f")
    b = PerceptualHash.from_hex("phash", "fe6eb943d4a0005e")
    assert str(a) == "fe6eb943d4a0005f" and a - b == 1 and a - a == 0
    with pytest.raises(TypeError):
        a - PerceptualHash.from_hex("dhash", "fe6eb943d4a0005f")


def test_exif_fields(tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "EOS 5D"
    exif[0x0112] = 1
    exif.get_ifd(0x8769).update({0x9003: "2015:06:01 12:30:00", 0x9011: "+03:30"})
    exif.get_ifd(0x8825).update({1: "N", 2: (35.0, 41.0, 24.0), 3: "W", 4: (51.0, 23.0, 6.0)})
    data = encode(photo(8), "JPEG", exif=exif.tobytes())
    assert read_exif(data) == {
        "make": "Canon",
        "model": "EOS 5D",
        "taken": "2015-06-01T12:30:00+03:30",
        "orientation": 1,
        "gps": {"lat": 35.69, "lon": -51.385},
    }
    assert fingerprint(data).exif["model"] == "EOS 5D"
    assert read_exif(encode(photo(8), "PNG")) == {}


def test_exif_orientation_is_applied_before_hashing():
    upright = photo(9, (320, 240))
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    tagged = fingerprint(encode(stored, "JPEG", quality=95, exif=exif.tobytes()))
    plain = fingerprint(encode(upright, "JPEG", quality=95))
    assert tagged.phash - plain.phash <= 2
    assert tagged.exif["orientation"] == 6


def test_alpha_is_composited_so_png_and_jpeg_copies_match():
    rgba = photo(10).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    flat = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    assert fingerprint(encode(rgba, "PNG")).phash - fingerprint(encode(flat, "JPEG")).phash <= 2


def _bomb_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"this is not an image", "bad-image"),
        (encode(photo(11), "JPEG")[:600], "bad-image"),  # truncated
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "bad-image"),  # unsupported
        (_bomb_png(40_000, 40_000), "too-large"),  # over Pillow's decompression-bomb limit
        (_bomb_png(12_000, 12_000), "too-large"),  # over the limit, under twice it (a warning)
    ],
)
def test_bad_images_raise_a_clear_error(data, code):
    with pytest.raises(FingerprintError) as info:
        fingerprint(data, "where.jpg")
    assert info.value.code == code
    assert "where.jpg" in str(info.value)


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"<?xml version='1.0'?>\n<svg xmlns='http://www.w3.org/2000/svg'/>", "an SVG drawing"),
        (b"\n<!DOCTYPE html><html><title>404 Not Found</title>", "an HTML page"),
        (b"\xef\xbb\xbf<!doctype html><svg viewBox='0 0 1 1'></svg>", "an HTML page"),
        (b"<?xml version='1.0'?><html xmlns='http://www.w3.org/1999/xhtml'/>", "an HTML page"),
        (b"<!-- icon --><svg xmlns='http://www.w3.org/2000/svg'/>", "an SVG drawing"),
        (b"%PDF-1.7\n%\xe2\xe3", "a PDF document"),
        (b"this is not an image", "no image format Pillow reads"),
    ],
)
def test_bytes_that_are_no_image_say_what_they_are(data, said):
    with pytest.raises(FingerprintError) as info:
        fingerprint(data, "photo.jpg")
    assert str(info.value).startswith(f"not a readable image (photo.jpg): {said}")
    assert "BytesIO" not in str(info.value) and info.value.code == "bad-image"


# -- every real file -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("format", "options", "name"),
    [
        ("JPEG", {"quality": 95}, "JPEG"),
        ("PNG", {}, "PNG"),
        ("GIF", {}, "GIF"),
        ("WEBP", {"quality": 95}, "WEBP"),
        ("BMP", {}, "BMP"),
        ("TIFF", {}, "TIFF"),
        ("AVIF", {"quality": 95}, "AVIF"),
        ("HEIF", {"quality": 95}, "HEIF"),  # HEIC through pillow-heif
    ],
)
def test_every_format_hashes_like_the_plain_copy(format, options, name):
    made = fingerprint(encode(photo(20), format, **options))
    plain = fingerprint(encode(photo(20), "PNG"))
    assert made.format == name and (made.width, made.height) == (320, 240)
    assert made.phash - plain.phash <= 2 and made.dhash - plain.dhash <= 4
    assert made.decode == "full" and not made.low_information


def test_animated_gif_is_hashed_by_its_first_frame():
    first, second = photo(21), photo(22)
    animated = encode(first, "GIF", save_all=True, append_images=[second], duration=100, loop=0)
    assert Image.open(io.BytesIO(animated)).n_frames == 2
    assert fingerprint(animated).phash == fingerprint(encode(first, "GIF")).phash
    assert fingerprint(animated).phash - fingerprint(encode(second, "GIF")).phash > 10


def test_cmyk_hashes_like_rgb():
    rgb = photo(23)
    cmyk = rgb.convert("CMYK")
    assert Image.open(io.BytesIO(encode(cmyk, "JPEG"))).mode == "CMYK"
    reference = fingerprint(encode(rgb, "PNG")).phash
    assert fingerprint(encode(cmyk, "JPEG", quality=95)).phash - reference <= 2
    assert fingerprint(encode(cmyk, "TIFF")).phash - reference <= 2


def _png_rgb16(pixels: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one)."""
    height, width, _ = pixels.shape
    rows = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return _png([(b"IHDR", header), (b"IDAT", zlib.compress(rows))])


def test_16_bit_images_hash_like_their_8_bit_copy():
    grey8 = photo(24).convert("L")
    wide = Image.fromarray(np.asarray(grey8).astype(np.uint16) * 257)
    assert wide.mode == "I;16"
    reference = fingerprint(encode(grey8, "PNG"))
    for data in (encode(wide, "PNG"), encode(wide, "TIFF")):
        made = fingerprint(data)
        assert (made.phash, made.dhash) == (reference.phash, reference.dhash)
        assert not made.low_information
    rgb8 = np.asarray(photo(25))
    rgb16 = fingerprint(_png_rgb16(rgb8.astype(np.uint16) * 257))
    assert rgb16.phash - fingerprint(encode(photo(25), "PNG")).phash == 0


def test_grey_image_with_a_transparent_colour_is_composited_on_white():
    grey = photo(27).convert("L")
    mask = Image.new("L", grey.size, 0)
    mask.paste(255, (40, 30, 280, 210))
    flat = Image.composite(grey, Image.new("L", grey.size, 255), mask)
    keyed = Image.composite(grey.point(lambda v: max(v, 1)), Image.new("L", grey.size, 0), mask)
    reference = fingerprint(encode(flat, "PNG"))
    made = fingerprint(encode(keyed, "PNG", transparency=0))  # black (0) is transparent
    assert made.phash - reference.phash <= 2 and made.dhash - reference.dhash <= 2


def test_palette_transparency_and_alpha_are_composited_on_white():
    base = photo(26)
    white = Image.new("RGB", base.size, "white")
    mask = Image.new("L", base.size, 0)
    mask.paste(255, (40, 30, 280, 210))  # an opaque window, transparent around it
    flat = Image.composite(base, white, mask)
    reference = fingerprint(encode(flat, "PNG")).phash

    palette = base.quantize(255)
    palette.putpalette([*palette.getpalette()[: 255 * 3], 0, 0, 0])  # index 255: black
    palette.paste(255, (0, 0, base.width, base.height), Image.eval(mask, lambda v: 255 - v))
    for data in (
        encode(palette, "PNG", transparency=255),
        encode(palette, "GIF", transparency=255),
    ):
        assert fingerprint(data).phash - reference <= 4

    rgba = base.convert("RGBA")
    rgba.putalpha(mask)
    la = base.convert("L").convert("LA")
    la.putalpha(mask)
    assert fingerprint(encode(rgba, "PNG")).phash - reference <= 2
    assert fingerprint(encode(rgba, "WEBP", lossless=True)).phash - reference <= 2
    assert (
        fingerprint(encode(la, "PNG")).phash - fingerprint(encode(flat.convert("L"), "PNG")).phash
        <= 2
    )


# Pillow's transposition that undoes each EXIF orientation is its own inverse except 6 and 8.
_STORE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("orientation", sorted(_STORE))
@pytest.mark.parametrize("size", [(320, 240), (1600, 1200)])  # full decode and draft decode
def test_every_exif_orientation_matches_the_upright_copy(orientation, size):
    upright = photo(27, size)
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = upright.transpose(_STORE[orientation])
    tagged = fingerprint(encode(stored, "JPEG", quality=95, exif=exif.tobytes()))
    plain = fingerprint(encode(upright, "JPEG", quality=95))
    assert (tagged.width, tagged.height) == stored.size  # as stored in the file
    assert tagged.decode == plain.decode
    assert tagged.phash - plain.phash <= 2 and tagged.dhash - plain.dhash <= 4
    assert tagged.exif["orientation"] == orientation


# -- decode paths ----------------------------------------------------------------------------


def test_large_jpegs_are_draft_decoded_within_the_measured_agreement():
    data = encode(photo(28, (1600, 1200)), "JPEG", quality=90)
    draft, full = fingerprint(data), fingerprint(data, draft=False)
    assert (draft.decode, full.decode) == ("draft", "full")
    assert (draft.width, draft.height) == (1600, 1200)  # the file's size, not the decoded one
    assert draft.phash - full.phash <= 6 and draft.dhash - full.dhash <= 3  # measured bounds
    assert draft.to_dict()["decode"] == "draft"


@pytest.mark.parametrize(
    ("image", "format"),
    [
        (photo(29, (1000, 1200)), "JPEG"),  # shorter side under 1024
        (photo(29, (1600, 1200)), "PNG"),  # not a JPEG
        (photo(29, (1600, 1200)).convert("CMYK"), "JPEG"),  # CMYK has no luminance-only draft
    ],
)
def test_other_images_are_decoded_in_full(image, format):
    assert fingerprint(encode(image, format)).decode == "full"


GOLDEN_DRAFT = ("bff1c1c0434e8cbc", "509a3c7fbc756cec")


def test_golden_hashes_of_the_draft_path():
    # A shipped 512x512 JPEG is decoded in full; the same photo at 2048x2048 in draft.
    shipped = (SAMPLES / "photos" / "photographer.jpg").read_bytes()
    assert fingerprint(shipped).decode == "full"
    big = encode(Image.open(io.BytesIO(shipped)).resize((2048, 2048), Image.Resampling.NEAREST))
    made = fingerprint(big)
    assert made.decode == "draft"
    assert (str(made.phash), str(made.dhash)) == GOLDEN_DRAFT
    assert made.phash - fingerprint(big, draft=False).phash <= 4


# -- low information -------------------------------------------------------------------------


def _near_blank(seed: int) -> Image.Image:
    page = np.full((600, 800), 250.0) + np.random.default_rng(seed).normal(0, 2, (600, 800))
    page[300:306, 400:406] = 90  # a speck
    return Image.fromarray(np.clip(page, 0, 255).astype(np.uint8), "L")


@pytest.mark.parametrize(
    ("image", "low"),
    [
        (Image.new("RGB", (800, 600), "white"), True),
        (Image.new("RGB", (800, 600), (40, 90, 160)), True),  # flat colour
        (_near_blank(1), True),
        (photo(30, (32, 32)), True),  # an icon
        (photo(30, (48, 36)), True),
        (photo(30, (64, 48)), False),  # a thumbnail still hashes reliably
        (photo(30, (96, 72)), False),
        (photo(30), False),
    ],
)
def test_low_information_images_are_marked(image, low):
    assert fingerprint(encode(image, "PNG")).low_information is low


def test_no_shipped_photo_is_low_information():
    for path in [*SAMPLES.glob("*/*.jpg"), *SAMPLES.glob("*/*.png")]:
        assert not fingerprint(path.read_bytes()).low_information, path


# -- hostile files ---------------------------------------------------------------------------


def _png(chunks: list[tuple[bytes, bytes]]) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    return b"\x89PNG\r\n\x1a\n" + b"".join(chunk(k, b) for k, b in [*chunks, (b"IEND", b"")])


def _huge_gif() -> bytes:
    data = bytearray(encode(Image.new("L", (1, 1)), "GIF"))
    data[6:10] = struct.pack("<HH", 65535, 65535)  # logical screen 65535 x 65535
    return bytes(data)


def _huge_jpeg() -> bytes:
    data = bytearray(encode(photo(31, (64, 64))))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)
    return bytes(data)


def _app1_exif(jpeg: bytes, tiff: bytes) -> bytes:
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (_huge_gif(), "too-large"),
        (_huge_jpeg(), "too-large"),
        (encode(photo(32), "PNG")[:-40], "bad-image"),  # truncated PNG
        (encode(photo(33), "WEBP")[:300], "bad-image"),  # truncated WebP
        (b"\x89PNG\r\n\x1a\n" + bytes(200), "bad-image"),  # a header, then nothing usable
    ],
)
def test_more_hostile_files_raise_a_clear_error(data, code):
    with pytest.raises(FingerprintError) as info:
        fingerprint(data, "hostile")
    assert info.value.code == code and "hostile" in str(info.value)


def test_an_exif_loop_does_not_hang_or_lose_the_image():
    ifd = (
        struct.pack("<H", 2)
        + struct.pack("<HHII", 0x0112, 3, 1, 6)  # orientation 6
        + struct.pack("<HHII", 0x8769, 4, 1, 8)  # EXIF sub-IFD pointing back at IFD0
        + struct.pack("<I", 8)  # next IFD: IFD0 again
    )
    data = _app1_exif(encode(photo(34)), b"II*\x00" + struct.pack("<I", 8) + ifd)
    made = fingerprint(data)
    assert made.exif.get("orientation") == 6 and (made.width, made.height) == (320, 240)


def test_garbage_exif_keeps_the_image():
    made = fingerprint(_app1_exif(encode(photo(35)), b"MM\x00*" + bytes(range(256)) * 40))
    assert made.phash - fingerprint(encode(photo(35))).phash == 0


def test_oversized_metadata_is_skipped_and_the_image_kept():
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "x" * (8 * 1024 * 1024))
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>" + "<a>" * 300_000)
    made = fingerprint(encode(photo(36), "PNG", pnginfo=info))
    assert made.embedded == {} and not made.low_information


@pytest.mark.parametrize("mode", ["I;16", "I", "F", "RGBA", "P", "CMYK"])
def test_large_images_are_made_grey_in_strips_with_the_same_pixels(mode):
    # 1,600 × 1,000 px: two strips of STRIP_PIXELS and a bit; what the whole image converted
    # at once gives (as before strips), pixel for pixel
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (1000, 1600, 4), dtype=np.uint8)
    if mode in ("I;16", "I", "F"):
        values = noise[..., 0].astype(np.float64) * 257
        if mode == "F":
            values /= 65535  # a float image in 0..1
        image = Image.fromarray(values.astype({"I;16": np.uint16, "I": np.int32}.get(mode, "f4")))
        whole = np.clip(
            np.rint(
                np.asarray(image, dtype=np.float64)
                * (255 if mode == "F" else 1)
                / (1 if mode == "F" else 257)
            ),
            0,
            255,
        ).astype(np.uint8)
    else:
        image = Image.fromarray(noise, "RGBA").convert(mode)
        if mode == "RGBA":
            on_white = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image)
            whole = np.asarray(on_white.convert("L"))
        else:
            whole = np.asarray(image.convert("RGB").convert("L"))
    assert image.width * image.height > fingerprint_module.STRIP_PIXELS
    assert (np.asarray(fingerprint_module._grey(image)) == whole).all()


def test_a_16_bit_image_is_narrowed_in_bounded_memory():
    # the whole image as float64 was 8 bytes a pixel, three times over (2.3 GB a worker for a
    # PNG just under the pixel limit): now a strip at a time
    pixels = np.random.default_rng(8).integers(0, 65536, (2000, 4000), dtype=np.uint16)
    image = Image.open(io.BytesIO(encode(Image.fromarray(pixels), "PNG")))
    image.load()
    tracemalloc.start()
    try:
        grey = fingerprint_module._grey(image)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert grey.size == image.size
    assert peak < 2 * 8 * fingerprint_module.STRIP_PIXELS  # numpy's part: a strip or two
