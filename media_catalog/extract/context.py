"""The text around each image of an HTML page: up to `chars` characters before and after it,
whitespace collapsed and no word cut in two, and the nearest heading above it."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .tree import clean

# Marks put in the page's text before each image ("\0" and its number) and heading ("\0h"
# and its number): the parser never leaves a NUL in a page's text, so the page cannot hold a
# look-alike, and a page in ASCII stays ASCII (its text a compact string, fast to handle).
_MARK = re.compile("\x00(h?)(\\d+)\x01")


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


def contexts(
    tree: LexborHTMLParser, images: list[LexborNode], headings: list[LexborNode], chars: int
) -> list[tuple[str | None, str | None, str | None]]:
    """(text before, text after, nearest heading above) of every image, given the page's
    images (in document order) and headings. Marks each image and heading in the tree, takes
    out the elements whose text is not shown (script, style, template), reads the page's text
    once and collapses its whitespace once; each image's texts are then slices of it. The tree
    is changed."""
    titles = [clean(node.text(separator=" ")) for node in headings]
    for number, node in enumerate(headings):
        node.insert_before(f"\x00h{number}\x01")
    for number, node in enumerate(images):
        node.insert_before(f"\x00{number}\x01")
    tree.strip_tags(["script", "style", "template"])
    root = tree.body or tree.root
    text = root.text(separator=" ") if root is not None else ""
    if chars:
        text = " ".join(text.split())
    # The text without the marks (each mark, a word of its own, taken out with the space
    # after it), and where each image's mark was in it.
    pieces, length, last = [], 0, 0
    places, heading = {}, None
    for mark in _MARK.finditer(text):
        piece = text[last : mark.start()]
        pieces.append(piece)
        length += len(piece)
        last = mark.end() + 1
        if mark.group(1):
            heading = titles[int(mark.group(2))]
        else:
            places[int(mark.group(2))] = (length, heading)
    pieces.append(text[last:])
    text = "".join(pieces)
    found = []
    for number in range(len(images)):
        offset, heading = places.get(number, (len(text), None))
        if not chars:
            found.append((None, None, heading))
            continue
        end = offset - 1 if offset and text[offset - 1] == " " else offset
        found.append((text_before(text, end, chars), text_after(text, offset, chars), heading))
    return found
