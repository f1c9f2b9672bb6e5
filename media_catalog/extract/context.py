"""The text around each image of an HTML page: up to `chars` characters before and after it,
whitespace collapsed and no word cut in two, and the nearest heading above it."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .tree import clean, laid_out_text

# Marks put in the page's text before each image ("\0" and its number) and heading ("\0h"
# and its number): the parser never leaves a NUL in a page's text, so the page cannot hold a
# look-alike, and a page in ASCII stays ASCII (its text a compact string, fast to search).
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


def _collapse(piece: str, need: int) -> str:
    """The words of a stretch of text between two marks, separated by one space; of a long
    stretch, only its first and last `need` characters or more (a context never reaches
    further into it: collapsing the page's whole text cost a tenth of the parse on news
    pages). The words of a window at either end are the stretch's own, but for the one the
    window cuts in two, which lies beyond those characters."""
    window = 2 * need
    if len(piece) > 3 * window:
        start, end = " ".join(piece[:window].split()), " ".join(piece[-window:].split())
        if len(start) >= need and len(end) >= need:
            return f"{start} {end}"
    return " ".join(piece.split())


def contexts(
    tree: LexborHTMLParser,
    images: list[LexborNode],
    headings: list[LexborNode],
    hidden: list[LexborNode],
    chars: int,
) -> list[tuple[str | None, str | None, str | None]]:
    """(text before, text after, nearest heading above) of every image, given the page's
    images (in document order), headings and the elements whose text is not shown (scripts,
    style sheets, templates). Takes those out, marks each image and heading in the tree, then
    reads the page's text once, collapses the whitespace of each stretch between two marks
    (`_collapse`) and cuts every image's context from them. (Cutting windows around each
    image and collapsing only those, as an earlier version did, cost twice as much on real
    news pages: galleries, where images stand close together, made it widen its windows
    again and again.) The tree is changed."""
    for node in hidden:
        node.decompose(recursive=False)
    titles = [clean(laid_out_text(node)) for node in headings]
    for number, node in enumerate(headings):
        node.insert_before(f"\x00h{number}\x01")
    for number, node in enumerate(images):
        node.insert_before(f"\x00{number}\x01")
    root = tree.body or tree.root
    # (text nodes of whitespace alone are left out: collapsed, they would add nothing)
    raw = root.text(separator=" ", skip_empty=True) if root is not None else ""
    # The text without marks, as words separated by one space (a mark separates the words
    # around it), and for each image: where the text before it ends, where the text after it
    # starts (past the space) and the nearest heading above it.
    parts = _MARK.split(raw)
    need = chars + 1  # (the character before a context tells whether its first word is cut)
    words: list[str] = []
    length = 0
    places: dict[int, tuple[int, int, str | None]] = {}
    heading = None
    for at in range(0, len(parts), 3):
        piece = _collapse(parts[at], need) if chars else ""
        if piece:
            length += len(piece) + bool(words)
            words.append(piece)
        if at + 2 < len(parts):
            if parts[at + 1]:
                heading = titles[int(parts[at + 2])]
            else:
                places[int(parts[at + 2])] = (length, length + bool(words), heading)
    text = " ".join(words)
    found = []
    for number in range(len(images)):
        end, start, heading = places.get(number, (len(text), len(text), None))
        if chars:
            found.append((text_before(text, end, chars), text_after(text, start, chars), heading))
        else:
            found.append((None, None, heading))
    return found
