"""The text around each image of an HTML page: up to `chars` characters before and after it,
whitespace collapsed and no word cut in two, and the nearest heading above it."""

from __future__ import annotations

import re
from collections.abc import Iterator

from selectolax.lexbor import LexborHTMLParser, LexborNode

# Marks put in the page's text before each image and heading (two patterns, as a pattern
# starting with one literal character is searched for fast).
_IMAGE_MARK = re.compile("\ue000(\\d+)\ue001")
_HEADING_MARK = re.compile("\ue002(\\d+)\ue001")


def _clean(text: str | None) -> str | None:
    """Whitespace collapsed; None for no text."""
    return " ".join(text.split()) or None if text else None


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


def _window(raw: str, start: int, end: int) -> str:
    piece = raw[max(0, start) : end]
    if "\ue001" in piece:
        piece = _HEADING_MARK.sub(" ", _IMAGE_MARK.sub(" ", piece))
    return " ".join(piece.split())


def _before(raw: str, start: int, chars: int) -> str | None:
    """`text_before` the image at `start` in the page's raw text, whitespace collapsed only
    in a window before it (widened when markup whitespace is long)."""
    short = chars + 64
    if short < chars * 3 and start > short:
        # Mostly a short window is enough: its last `chars` + 1 characters are those of the
        # wide one when they lie after its first word (which may be cut or hold half a mark).
        text = _window(raw, start - short, start)
        first = text.find(" ")
        if first >= 0 and len(text) - first > chars:
            return text_before(text, len(text), chars)
    span = chars * 3
    while True:
        text = _window(raw, start - span, start)
        if len(text) >= chars or start - span <= 0:
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
        if len(text) >= chars or end + span >= len(raw):
            return text_after(text, 0, chars)
        span *= 4


def contexts(
    tree: LexborHTMLParser,
    images: list[LexborNode],
    headings: list[LexborNode],
    hidden: list[LexborNode],
    chars: int,
) -> Iterator[tuple[str | None, str | None, str | None]]:
    """(text before, text after, nearest heading above) of every image, given the page's
    images, headings and `hidden` elements (script, style, template), all in document order.
    Marks each image and heading in the tree, takes the hidden elements out, then reads the
    page's text once. The tree is changed."""
    titles = [_clean(node.text(separator=" ")) for node in headings]
    for number, node in enumerate(headings):
        node.insert_before(f"\ue002{number}\ue001")
    for number, node in enumerate(images):
        node.insert_before(f"\ue000{number}\ue001")
    for node in hidden:
        node.decompose(recursive=False)
    root = tree.body or tree.root
    raw = root.text(separator=" ") if root is not None else ""
    marks = sorted(
        [*_IMAGE_MARK.finditer(raw), *_HEADING_MARK.finditer(raw)], key=lambda mark: mark.start()
    )
    places, heading = {}, None
    for mark in marks:
        number = int(mark.group(1))
        if mark.re is _IMAGE_MARK:
            places[number] = (mark.start(), mark.end(), heading)
        elif number < len(titles):  # (the page's own text may hold a look-alike)
            heading = titles[number]
    for number in range(len(images)):
        start, end, heading = places.get(number, (len(raw), len(raw), None))
        if chars:
            yield _before(raw, start, chars), _after(raw, end, chars), heading
        else:
            yield None, None, heading
