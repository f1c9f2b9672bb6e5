"""The text around each image of an HTML page: up to `chars` characters before and after it,
whitespace collapsed and no word cut in two, and the nearest heading above it."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .tree import clean

# Marks put in the page's text before each image ("\0" and its number) and heading ("\0h"
# and its number): the parser never leaves a NUL in a page's text, so the page cannot hold a
# look-alike, and a page in ASCII stays ASCII (its text a compact string, fast to search).
_MARK = re.compile("\x00(h?)(\\d+)\x01")
_HIDDEN = ("script", "style", "template")


def text_before(text: str, offset: int, chars: int) -> str | None:
    """Up to `chars` characters of `text` before `offset`, without a word cut in two."""
    start = max(0, offset - chars)
    piece = text[start:offset]
    if start > 0 and not text[start - 1].isspace() and not text[start].isspace():
        piece = piece.split(" ", 1)[1] if " " in piece else ""
    return piece.strip() or None


def text_after(text: str, offset: int, chars: int) -> str | None:
    """Up to `chars` characters of `text` from `offset`, without a word cut in two."""
    end = offset + chars
    piece = text[offset:end]
    if end < len(text) and not text[end].isspace() and not text[end - 1].isspace():
        piece = piece.rsplit(" ", 1)[0] if " " in piece else ""
    return piece.strip() or None


def _outside_mark(raw: str, offset: int) -> int:
    """`offset`, or the end of the mark it falls inside."""
    mark = raw.rfind("\x00", max(0, offset - 12), offset)
    return max(offset, raw.find("\x01", mark) + 1) if mark >= 0 else offset


def _window(raw: str, start: int, end: int) -> str:
    """`raw[start:end]` (widened so as not to cut a mark) without marks, whitespace
    collapsed."""
    piece = raw[_outside_mark(raw, max(0, start)) : _outside_mark(raw, end)]
    if "\x00" in piece:
        piece = _MARK.sub(" ", piece)
    return " ".join(piece.split())


def _before(raw: str, start: int, chars: int) -> str | None:
    """`text_before` the image at `start` in the page's raw text, whitespace collapsed only
    in a window before it (widened when markup whitespace is long)."""
    short = chars + 64
    if short < chars * 3 and start > short:
        # Mostly a short window is enough: its last `chars` + 1 characters are those of the
        # wide one when they lie after its first word (which may be cut).
        text = _window(raw, start - short, start)
        first = text.find(" ")
        if first >= 0 and len(text) - first > chars:
            return text_before(text, len(text), chars)
    span = chars * 3
    while True:
        text = _window(raw, start - span, start)
        if len(text) > chars or start - span <= 0:
            return text_before(text, len(text), chars)
        span *= 4


def _after(raw: str, end: int, chars: int) -> str | None:
    """`text_after` the image ending at `end` in the page's raw text (as `_before`)."""
    short = chars + 64
    if short < chars * 3 and end + short < len(raw):
        text = _window(raw, end, end + short)
        if text.rfind(" ") >= chars:
            return text_after(text, 0, chars)
    span = chars * 3
    while True:
        text = _window(raw, end, end + span)
        if len(text) > chars or end + span >= len(raw):
            return text_after(text, 0, chars)
        span *= 4


def contexts(
    tree: LexborHTMLParser, images: list[LexborNode], headings: list[LexborNode], chars: int
) -> list[tuple[str | None, str | None, str | None]]:
    """(text before, text after, nearest heading above) of every image, given the page's
    images (in document order) and headings. Marks each image and heading in the tree, takes
    out the elements whose text is not shown (script, style, template), then reads the page's
    text once; whitespace is collapsed only in windows around each image (collapsing all of
    it costs as much as parsing the page). The tree is changed."""
    titles = [clean(node.text(separator=" ")) for node in headings]
    for number, node in enumerate(headings):
        node.insert_before(f"\x00h{number}\x01")
    for number, node in enumerate(images):
        node.insert_before(f"\x00{number}\x01")
    tree.strip_tags(list(_HIDDEN))
    root = tree.body or tree.root
    raw = root.text(separator=" ") if root is not None else ""
    places, heading = {}, None
    for mark in _MARK.finditer(raw):
        if mark.group(1):
            heading = titles[int(mark.group(2))]
        else:
            places[int(mark.group(2))] = (mark.start(), mark.end(), heading)
    found = []
    for number in range(len(images)):
        start, end, heading = places.get(number, (len(raw), len(raw), None))
        if chars:
            found.append((_before(raw, start, chars), _after(raw, end, chars), heading))
        else:
            found.append((None, None, heading))
    return found
