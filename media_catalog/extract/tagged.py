"""Image tags in plain-text corpora, the format of the seed article.

A tag whose local name is `image`, with any namespace prefix or none, holds a body such as

    data:image/s3,"s3://crabby-images/<5 hex>/<40 hex>" alt="the alt text"

where the `data:…,"KEY"` wrapper is only packaging: the reference is KEY (a content-addressed
name such as `s3://crabby-images/<5 hex>/<40 hex>`), never decoded as a data URI. The body
may also hold a plain URL or path (bare, or as a Markdown image `![](URL)`), a real data URI
(unquoted payload), or be empty with `src="…"` and `alt="…"` attributes on the tag.
An HTML5 parser would rewrite `<image>` into `<img>` and drop the body, hence this small
tokenizer of its own. Malformed tags are recorded as errors with
their line number and skipped; the rest of the text is still read.
"""

from __future__ import annotations

import html
import re

from ..models import ImageRef, ItemError
from .context import text_after, text_before
from .html import CONTEXT_CHARS

_OPEN = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?image\b(?P<attrs>[^<>]*?)(?P<empty>/?)>", re.I)
_CLOSE = re.compile(r"</(?:[A-Za-z_][\w.-]*:)?image\s*>", re.I)
_WRAPPED = re.compile(r"""^\s*data:[^,"'\s]*,\s*(?:"(?P<dq>[^"]*)"?|'(?P<sq>[^']*)'?)""", re.I)
_MARKDOWN = re.compile(r"^\s*!\[[^\]]*\]\(\s*<?(?P<url>[^\s()<>]*)>?\s*\)?")
_QUOTED = (
    r"""\s*=\s*(?:"(?P<dq>(?:\\.|[^"\\])*)"?|'(?P<sq>(?:\\.|[^'\\])*)'?|(?P<bare>[^\s"'>]+))"""
)
_ALT = re.compile(r"(?<![\w-])alt" + _QUOTED, re.I | re.S)
_SRC = re.compile(r"(?<![\w-])src" + _QUOTED, re.I | re.S)
_UNESCAPE = re.compile(r"\\(.)", re.S)


def _value(pattern: re.Pattern[str], text: str) -> str | None:
    match = pattern.search(text)
    if match is None:
        return None
    raw = next((g for g in match.group("dq", "sq", "bare") if g is not None), "")
    return html.unescape(_UNESCAPE.sub(r"\1", raw))


def _source(body: str, attrs: str) -> tuple[str | None, str]:
    """The reference of a tag, and the part of the body left for the alt."""
    match = _WRAPPED.match(body)
    if match:
        return (match.group("dq") or match.group("sq") or "").strip(), body[match.end() :]
    match = _MARKDOWN.match(body)
    if match:
        return match.group("url"), body[match.end() :]
    src = _value(_SRC, attrs)
    if src is not None:
        return src.strip(), body
    head = body.strip().split(maxsplit=1)
    if head and not head[0].lower().startswith("alt="):
        return head[0], body.strip()[len(head[0]) :]
    return None, body


def extract(
    text: str, article: str, *, context: int = CONTEXT_CHARS
) -> tuple[list[ImageRef], list[ItemError]]:
    """Every image tag in document order with its reference, alt text, and the text around
    it (`context` characters each side; never a caption)."""
    refs: list[ImageRef] = []
    spans: list[tuple[int, int]] = []
    errors: list[ItemError] = []

    counted = [0, 1]  # an offset and its line: errors come in order, so lines are counted once

    def error(offset: int, message: str) -> None:
        counted[:] = [offset, counted[1] + text.count("\n", counted[0], offset)]
        message = f"line {counted[1]}: {message}"
        errors.append(ItemError(article, "bad-tag", message, article=article))

    pos = 0
    closing: re.Match[str] | None = None  # the next closing tag, searched again once passed
    searched = False
    while (opening := _OPEN.search(text, pos)) is not None:
        attrs = opening.group("attrs")
        if opening.group("empty"):
            body, pos = "", opening.end()
        else:
            if not searched or (closing is not None and closing.start() < opening.end()):
                closing, searched = _CLOSE.search(text, opening.end()), True
            following = _OPEN.search(text, opening.end())
            if closing is None or (following is not None and following.start() < closing.start()):
                error(opening.start(), "image tag is never closed; skipped")
                pos = opening.end()
                continue
            body, pos = text[opening.end() : closing.start()], closing.end()
        src, rest = _source(body, attrs)
        if not src:
            error(opening.start(), "image tag has no reference; skipped")
            continue
        alt = _value(_ALT, rest)
        if alt is None:
            alt = _value(_ALT, attrs)
        refs.append(ImageRef(article=article, position=len(refs), src=src, alt=alt))
        spans.append((opening.start(), pos))
    return _with_context(text, refs, spans, context), errors


def _with_context(
    text: str, refs: list[ImageRef], spans: list[tuple[int, int]], chars: int
) -> list[ImageRef]:
    """`refs` with the text between the tags before and after each one as context."""
    if not chars:
        return refs
    plain, offsets, previous = "", [], 0
    for start, end in spans:
        piece = " ".join(text[previous:start].split())
        plain = f"{plain} {piece}" if plain and piece else plain or piece
        offsets.append(len(plain))
        previous = end
    piece = " ".join(text[previous:].split())
    plain = f"{plain} {piece}" if plain and piece else plain or piece
    return [
        ref.replaced(
            context_before=text_before(plain, offset, chars),
            context_after=text_after(plain, offset, chars),
        )
        for ref, offset in zip(refs, offsets, strict=True)
    ]
