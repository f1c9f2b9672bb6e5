"""Metadata embedded in image files: EXIF (via exifread), IPTC IIM and XMP.

All of it is best effort and bounded: unreadable, oversized or hostile metadata gives empty or
partial results, never a failed image. XMP is parsed only when it is at most XMP_MAX_BYTES and
declares no DTD or entities (no entity expansion, no external references).

`read_embedded` merges IPTC IIM and XMP into one dict of the photo's own words; where both
hold a field, XMP wins (the Metadata Working Group's rule):

    caption               XMP dc:description      IPTC 2:120 Caption/Abstract
    headline              photoshop:Headline      2:105 Headline
    creator               dc:creator              2:80  By-line
    credit                photoshop:Credit        2:110 Credit
    copyright             dc:rights               2:116 Copyright Notice
    keywords (a list)     dc:subject              2:25  Keywords
    alt_text              Iptc4xmpCore:AltTextAccessibility
    extended_description  Iptc4xmpCore:ExtDescrAccessibility
"""

from __future__ import annotations

import io
import logging
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import datetime
from typing import Any

import exifread
from PIL import Image

logging.getLogger("exifread").setLevel(logging.CRITICAL)

XMP_MAX_BYTES = 1024 * 1024
IIM_MAX_BYTES = 1024 * 1024

_DC = "http://purl.org/dc/elements/1.1/"
_PHOTOSHOP = "http://ns.adobe.com/photoshop/1.0/"
_IPTC_CORE = "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_XMP_FIELDS = {
    "caption": (_DC, "description"),
    "headline": (_PHOTOSHOP, "Headline"),
    "creator": (_DC, "creator"),
    "credit": (_PHOTOSHOP, "Credit"),
    "copyright": (_DC, "rights"),
    "keywords": (_DC, "subject"),
    "alt_text": (_IPTC_CORE, "AltTextAccessibility"),
    "extended_description": (_IPTC_CORE, "ExtDescrAccessibility"),
}
_IIM_FIELDS = {
    "caption": 120,
    "headline": 105,
    "creator": 80,
    "credit": 110,
    "copyright": 116,
    "keywords": 25,
}
_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


# -- EXIF ----------------------------------------------------------------------------------


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
    """EXIF fields `make`, `model`, `lens`, `software`, `taken` (ISO 8601, with the offset
    when recorded), `orientation`, `gps` (decimal degrees) where present."""
    try:
        tags = exifread.process_file(io.BytesIO(data), details=False)
    except Exception:  # exifread's boundary: corrupt metadata must not lose the image
        return {}
    exif: dict[str, Any] = {}
    for key, tag in (
        ("make", "Image Make"),
        ("model", "Image Model"),
        ("lens", "EXIF LensModel"),
        ("software", "Image Software"),
    ):
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


# -- IPTC IIM ------------------------------------------------------------------------------


def parse_iim(data: bytes) -> dict[tuple[int, int], list[bytes]]:
    """IPTC IIM datasets as {(record, dataset): [value, …]}; stops at the first malformed one."""
    fields: dict[tuple[int, int], list[bytes]] = defaultdict(list)
    i = 0
    while i + 5 <= len(data) and data[i] == 0x1C:
        record, dataset = data[i + 1], data[i + 2]
        size = int.from_bytes(data[i + 3 : i + 5], "big")
        i += 5
        if size & 0x8000:  # extended dataset: the next (size & 0x7FFF) bytes hold the length
            count = size & 0x7FFF
            if count > 4 or i + count > len(data):
                break
            size = int.from_bytes(data[i : i + count], "big")
            i += count
        if i + size > len(data):
            break
        fields[(record, dataset)].append(data[i : i + size])
        i += size
    return dict(fields)


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _iim_bytes(image: Image.Image) -> bytes:
    photoshop = image.info.get("photoshop")
    if isinstance(photoshop, dict) and isinstance(photoshop.get(0x0404), bytes):
        return photoshop[0x0404]
    tags = getattr(image, "tag_v2", None)
    value = tags.get(33723) if tags is not None else None
    return value if isinstance(value, bytes) else b""


def read_iptc(image: Image.Image) -> dict[str, Any]:
    """IPTC IIM fields (see the module docstring) of an opened image."""
    data = _iim_bytes(image)
    if not data or len(data) > IIM_MAX_BYTES:
        return {}
    fields = parse_iim(data)
    found: dict[str, Any] = {}
    for key, dataset in _IIM_FIELDS.items():
        values = [_text(v).strip() for v in fields.get((2, dataset), [])]
        values = [v for v in values if v]
        if values:
            found[key] = values if key == "keywords" else "; ".join(values)
    return found


# -- XMP -----------------------------------------------------------------------------------


def _xmp_bytes(image: Image.Image) -> bytes:
    value = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    if value is None and getattr(image, "tag_v2", None) is not None:
        value = image.tag_v2.get(700)
    if isinstance(value, str):
        value = value.encode("utf-8")
    return value if isinstance(value, bytes) else b""


def _xmp_values(root: ET.Element, namespace: str, name: str) -> list[str]:
    tag = f"{{{namespace}}}{name}"
    values = [d.attrib[tag] for d in root.iter(f"{{{_RDF}}}Description") if tag in d.attrib]
    for element in root.iter(tag):
        items = list(element.iter(f"{{{_RDF}}}li"))
        items.sort(key=lambda li: li.get(_LANG) != "x-default")  # the default language first
        if items:
            values.extend(li.text or "" for li in items)
        else:
            values.append(element.text or "")
    return [v.strip() for v in values if v and v.strip()]


def parse_xmp(data: bytes) -> dict[str, Any]:
    """XMP fields (see the module docstring) of an XMP packet; {} when it is unsafe or bad."""
    data = data.strip(b"\x00 \t\r\n")
    if not data or len(data) > XMP_MAX_BYTES or _DTD.search(data):
        return {}
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return {}
    found: dict[str, Any] = {}
    for key, (namespace, name) in _XMP_FIELDS.items():
        values = _xmp_values(root, namespace, name)
        if values:
            single = values[:1] if key != "creator" else values
            found[key] = values if key == "keywords" else "; ".join(single)
    return found


def read_embedded(image: Image.Image) -> dict[str, Any]:
    """The photo's own caption, credit, keywords… from IPTC IIM and XMP, XMP winning."""
    try:
        return {**read_iptc(image), **parse_xmp(_xmp_bytes(image))}
    except Exception:  # Pillow parsing TIFF tags lazily on hostile files: metadata is optional
        return {}
