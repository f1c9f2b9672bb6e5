"""Bytes to text for articles: BOM, declared charset, UTF-8, a detector, then a lossless
fallback.

The detector is charset-normalizer (pure Python with optional compiled speed-ups, MIT, the
detector requests uses): it tells legacy Arabic/Persian windows-1256 and Cyrillic
windows-1251 pages apart from windows-1252, which a fixed fallback would turn to mojibake.
It runs only for pages that declare nothing and are not UTF-8. A declared charset counts only
when it is a label of the WHATWG Encoding Standard, as in browsers (webencodings has the
labels): a Python codec such as `utf-7`, `idna` or `undefined` is not a web encoding.
"""

from __future__ import annotations

import codecs
import re

import webencodings
from charset_normalizer import from_bytes

from ..models import ItemError

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


# Single-byte encodings of the legacy web, the commonest first; the detector chooses among
# them only when there are enough non-ASCII bytes to tell them apart.
_LEGACY = ("cp1252", "cp1256", "cp1251", "cp1253", "cp1255", "cp1254")
_HIGH_BYTES = bytes(range(128, 256))
_DETECT_MIN = 4
_PIECE = 16 * 1024


def _bom(data: bytes) -> tuple[str, bytes] | None:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding, data[len(bom) :]
    return None


def html_source(data: bytes) -> str | bytes:
    """An HTML page as the parser is given it. BOM first; then bytes that are valid UTF-8
    holding non-ASCII text are UTF-8 (a saved page often keeps a declaration its bytes no
    longer match); then a web encoding `<meta charset>`/`http-equiv` names in the first
    4 KiB, then UTF-8, then the legacy encoding charset-normalizer detects (given 4 or more
    non-ASCII bytes), then windows-1252 (which maps every byte, so nothing is lost).

    A page read as UTF-8 is its bytes themselves (after a BOM), neither decoded nor encoded
    again (the parser replaces invalid bytes as Python's "replace" does, as browsers do;
    `invalid_utf8` says where); any other, text."""
    found = _bom(data)
    if found:
        return found[1] if found[0] == "utf-8" else found[1].decode(found[0], errors="replace")
    declared = _declared(data)
    if declared is not None and declared.name == "utf-8":
        return data
    if not data.isascii() and invalid_utf8(data) is None:  # UTF-8, whatever is declared
        return data
    if declared is not None:
        return declared.codec_info.decode(data, "replace")[0]
    if data.isascii():
        return data
    if len(data) - len(data.translate(None, _HIGH_BYTES)) >= _DETECT_MIN:
        detected = from_bytes(data, cp_isolation=list(_LEGACY)).best()
        if detected is not None:
            return str(detected)
    return data.decode("cp1252", errors="replace")


def decode_html(data: bytes) -> str:
    """An HTML page's text, read as `html_source` reads it."""
    source = html_source(data)
    return source if isinstance(source, str) else source.decode("utf-8", errors="replace")


def invalid_utf8(data: bytes) -> int | None:
    """Where `data` first fails to be UTF-8 (a byte offset), or None when it is valid;
    checked in pieces, which costs an eighth of decoding it whole (one emoji makes a whole
    page's text four bytes a character)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for start in range(0, len(data), _PIECE):
            decoder.decode(view[start : start + _PIECE])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return exc.start
    return None


def _declared(data: bytes) -> webencodings.Encoding | None:
    """The web encoding a `<meta>` in the first 4 KiB declares (UTF-16 read as UTF-8: a page
    read as ASCII cannot be UTF-16), or None (none, or ISO-2022-KR and the like)."""
    match = _META_CHARSET.search(data[:4096])
    declared = webencodings.lookup(match.group(1).decode("ascii")) if match else None
    if declared is None or declared.name == "replacement":
        return None
    return webencodings.UTF8 if declared.name.startswith("utf-16") else declared


def decode_text(data: bytes, article: str, errors: list[ItemError]) -> str:
    """Decode Markdown or a text corpus as UTF-8; undecodable bytes are replaced and recorded."""
    found = _bom(data)
    if found:
        return found[1].decode(found[0], errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        errors.append(
            ItemError(
                article,
                "bad-encoding",
                f"not valid UTF-8 at byte {exc.start}; undecodable bytes were replaced",
                article=article,
            )
        )
        return data.decode("utf-8", errors="replace")
