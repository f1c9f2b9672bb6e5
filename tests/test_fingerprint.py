import hashlib
import struct
import zlib

import imagehash
import pytest
from PIL import Image

from media_catalog.errors import FingerprintError
from media_catalog.fingerprint import fingerprint
from media_catalog.metadata import read_exif
from media_catalog.models import PerceptualHash

from .conftest import SAMPLES, encode, photo


def test_golden_hashes_never_change_silently():
    # Golden values: a change here changes every catalogue's hashes; bump the schema if so.
    made = fingerprint(encode(photo(1), "PNG"))
    assert (str(made.phash), str(made.dhash)) == ("fe6eb943d4a0005f", "1333252444c39b38")
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
