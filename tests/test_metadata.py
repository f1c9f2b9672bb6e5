"""EXIF, IPTC IIM and XMP read from real files made in the test."""

import struct

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from media_catalog.fingerprint import fingerprint
from media_catalog.metadata import parse_iim, parse_xmp, read_exif

from .conftest import encode, photo


def with_iptc(jpeg: bytes, records: list[tuple[int, bytes]]) -> bytes:
    """`jpeg` with an APP13 Photoshop segment holding IPTC IIM record-2 datasets."""
    iim = b"".join(b"\x1c\x02" + bytes([ds]) + struct.pack(">H", len(v)) + v for ds, v in records)
    resource = (
        b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(iim)) + iim + b"\x00" * (len(iim) % 2)
    )
    body = b"Photoshop 3.0\x00" + resource
    return jpeg[:2] + b"\xff\xed" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def xmp_packet(caption: str = "Smoke over the market", credit: str = "Reuters") -> bytes:
    return f"""<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"
    photoshop:Credit="{credit}" photoshop:Headline="Fire">
   <dc:description><rdf:Alt>
     <rdf:li xml:lang="fa">دود بر فراز بازار</rdf:li>
     <rdf:li xml:lang="x-default">{caption}</rdf:li>
   </rdf:Alt></dc:description>
   <dc:creator><rdf:Seq><rdf:li>Jane Roe</rdf:li><rdf:li>John Doe</rdf:li></rdf:Seq></dc:creator>
   <dc:rights><rdf:Alt><rdf:li xml:lang="x-default">© 2024 Jane Roe</rdf:li></rdf:Alt></dc:rights>
   <dc:subject><rdf:Bag><rdf:li>fire</rdf:li><rdf:li>market</rdf:li></rdf:Bag></dc:subject>
   <Iptc4xmpCore:AltTextAccessibility><rdf:Alt>
     <rdf:li xml:lang="x-default">Grey smoke rises above shop roofs</rdf:li>
   </rdf:Alt></Iptc4xmpCore:AltTextAccessibility>
   <Iptc4xmpCore:ExtDescrAccessibility><rdf:Alt>
     <rdf:li xml:lang="x-default">A long description.</rdf:li>
   </rdf:Alt></Iptc4xmpCore:ExtDescrAccessibility>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()


EXPECTED_XMP = {
    "caption": "Smoke over the market",
    "headline": "Fire",
    "creator": "Jane Roe; John Doe",
    "credit": "Reuters",
    "copyright": "© 2024 Jane Roe",
    "keywords": ["fire", "market"],
    "alt_text": "Grey smoke rises above shop roofs",
    "extended_description": "A long description.",
}


def test_exif_lens_software_and_offset(tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "FUJIFILM"
    exif[0x0131] = "Darktable 4.6"
    exif.get_ifd(0x8769).update(
        {0xA434: "XF23mmF2 R WR", 0x9003: "2023:02:01 08:15:00", 0x9011: "-05:00"}
    )
    found = read_exif(encode(photo(40), "JPEG", exif=exif.tobytes()))
    assert found["lens"] == "XF23mmF2 R WR" and found["software"] == "Darktable 4.6"
    assert found["taken"] == "2023-02-01T08:15:00-05:00"


def test_iptc_iim_in_a_jpeg():
    data = with_iptc(
        encode(photo(41)),
        [
            (120, "Rescue workers in Hasakah — حسکه".encode()),
            (105, b"Bombings"),
            (80, b"A. Photographer"),
            (110, b"AFP"),
            (116, "\xa9 AFP".encode("latin-1")),  # not UTF-8: read as Latin-1
            (25, b"syria"),
            (25, b"news"),
        ],
    )
    assert fingerprint(data).embedded == {
        "caption": "Rescue workers in Hasakah — حسکه",
        "headline": "Bombings",
        "creator": "A. Photographer",
        "credit": "AFP",
        "copyright": "© AFP",
        "keywords": ["syria", "news"],
    }


def test_xmp_in_jpeg_png_webp_and_tiff():
    packet = xmp_packet()
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", packet.decode())
    for data in (
        encode(photo(42), "JPEG", xmp=packet),
        encode(photo(42), "PNG", pnginfo=info),
        encode(photo(42), "WEBP", xmp=packet),
        encode(photo(42), "TIFF", tiffinfo={700: packet}),
    ):
        assert fingerprint(data).embedded == EXPECTED_XMP


def test_xmp_wins_over_iptc_and_both_merge():
    data = with_iptc(
        encode(photo(43), "JPEG", xmp=xmp_packet(caption="XMP caption")),
        [(120, b"IIM caption"), (25, b"iim-only-keyword")],
    )
    embedded = fingerprint(data).embedded
    assert embedded["caption"] == "XMP caption"
    assert embedded["keywords"] == ["fire", "market"]
    assert embedded["credit"] == "Reuters"


def test_hostile_xmp_is_ignored_and_the_image_kept():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/">&b;</x:xmpmeta>'
    )
    assert parse_xmp(bomb) == {}
    assert parse_xmp(b"<x:xmpmeta><unclosed>") == {}
    assert parse_xmp(b"<a>" * 100_000 + b"</a>" * 100_000) == {}  # deep, but no fields
    made = fingerprint(encode(photo(44), "JPEG", xmp=bomb))
    assert made.embedded == {} and made.width == 320


def test_iptc_parser_round_trips_records_including_extended_lengths():
    big = b"k" * 40_000  # over 32767 bytes: written as an extended dataset
    data = (
        b"\x1c\x02\x78"
        + struct.pack(">H", 5)
        + b"hello"
        + b"\x1c\x02\x19"
        + struct.pack(">H", 0x8004)
        + struct.pack(">I", len(big))
        + big
    )
    assert parse_iim(data) == {(2, 120): [b"hello"], (2, 25): [big]}
    assert parse_iim(data[:-1]) == {(2, 120): [b"hello"]}  # a cut dataset is dropped


@given(st.binary(max_size=300))
def test_iptc_parser_never_raises_on_any_bytes(data):
    for values in parse_iim(data).values():
        assert all(isinstance(v, bytes) for v in values)


@given(st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=70)), max_size=8))
def test_iptc_parser_reads_back_what_was_written(records):
    data = b"".join(b"\x1c\x02" + bytes([ds]) + struct.pack(">H", len(v)) + v for ds, v in records)
    expected: dict[tuple[int, int], list[bytes]] = {}
    for ds, value in records:
        expected.setdefault((2, ds), []).append(value)
    assert parse_iim(data) == expected


@given(st.binary(max_size=400))
def test_xmp_parser_never_raises_on_any_bytes(data):
    assert isinstance(parse_xmp(data), dict)
    assert isinstance(parse_xmp(b"<x:xmpmeta>" + data), dict)


def test_embedded_metadata_survives_the_catalogue(tmp_path):
    from media_catalog import open_store, scan

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(encode(photo(45), "JPEG", xmp=xmp_packet()))
    scan([folder], open_store(tmp_path / "c.json"), workers=1)
    (image,) = open_store(tmp_path / "c.json").image_objects()
    assert image.embedded == EXPECTED_XMP
