"""JSON Lines dumps: each line is one article.

A record holds its text in a field (named, or the first of `html`, `text`, `content`) with
optional URL, title and date fields; or it is an interleaved web document (OBELICS-style:
parallel `texts` and `images` lists, one of the two set at each index), read in order.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from typing import Any

import orjson

from ..errors import ExtractError
from ..models import ImageRef, ItemError, unwrapped_key
from . import html, tagged
from .context import text_after, text_before

FIELDS = ("html", "text", "content")
URL_FIELDS = ("url", "link", "source_url", "canonical_url")
TITLE_FIELDS = ("title", "headline")
DATE_FIELDS = ("date", "published", "date_published", "published_at")
_IMAGE_TAG = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?image\b", re.I)


def _string(record: dict[str, Any], names: tuple[str, ...]) -> str | None:
    return next((v for n in names if isinstance(v := record.get(n), str) and v.strip()), None)


def _json(value: Any) -> Any:
    """A field that may hold JSON as a string (OBELICS stores its metadata so)."""
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    return value


def extract_line(
    line: bytes,
    article: str,
    *,
    context: int = html.CONTEXT_CHARS,
    text_field: str | None = None,
    url_field: str | None = None,
    title_field: str | None = None,
) -> tuple[list[ImageRef], list[ItemError]]:
    """The references of one JSON Lines record. Raises ExtractError (`bad-json`,
    `no-text-field`) when the record cannot be read.

    The text field is parsed as HTML when it is `html`, or when it contains `<img` and no
    image tag of the text-corpus format; else as a text corpus.
    """
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ExtractError(f"line is not valid JSON: {exc}", code="bad-json") from exc
    if not isinstance(record, dict):
        raise ExtractError("line is not a JSON object", code="bad-json")
    general = _json(record.get("general_metadata"))
    general = general if isinstance(general, dict) else {}
    url = _string(record, (url_field,) if url_field else URL_FIELDS) or _string(general, URL_FIELDS)
    title = _string(record, (title_field,) if title_field else TITLE_FIELDS)
    date = _string(record, DATE_FIELDS)
    if text_field is None and isinstance(record.get("texts"), list):
        refs, errors = _interleaved(record, article, context), []
    else:
        names = (text_field,) if text_field else FIELDS
        name = next((n for n in names if isinstance(record.get(n), str)), None)
        if name is None:
            raise ExtractError(
                f"record has none of the text fields {', '.join(names)}; "
                "name the field with --text-field",
                code="no-text-field",
            )
        value = record[name]
        if name == "html" or ("<img" in value.lower() and not _IMAGE_TAG.search(value)):
            refs, errors = html.extract(value, article, context=context)
        else:
            refs, errors = tagged.extract(value, article, context=context)
    refs = [
        ref.replaced(
            article_title=title or ref.article_title,
            article_url=url or ref.article_url,
            article_date=date or ref.article_date,
        )
        for ref in refs
    ]
    return refs, errors


def _interleaved(record: dict[str, Any], article: str, context: int) -> list[ImageRef]:
    """Images of an interleaved document, in order, with the texts around them as context."""
    texts = record.get("texts") or []
    images = record.get("images")
    images = images if isinstance(images, list) else []
    metadata = _json(record.get("metadata"))
    metadata = metadata if isinstance(metadata, list) else []
    size = max(len(texts), len(images))
    words = [" ".join(t.split()) if isinstance(t, str) else "" for t in texts]
    filled = [k for k, w in enumerate(words) if w]  # the texts that hold words
    refs: list[ImageRef] = []
    for index in range(size):
        src = images[index] if index < len(images) else None
        if not isinstance(src, str) or not src.strip():
            continue
        meta = metadata[index] if index < len(metadata) else None
        meta = meta if isinstance(meta, dict) else {}
        before = _joined(words, filled, bisect_left(filled, index) - 1, -1, context + 1)
        after = _joined(words, filled, bisect_right(filled, index), 1, context + 1)
        alt = meta.get("alt_text", meta.get("alt"))
        refs.append(
            ImageRef(
                article=article,
                position=len(refs),
                src=unwrapped_key(src.strip()),
                alt=alt if isinstance(alt, str) else None,
                context_before=text_before(before, len(before), context) if context else None,
                context_after=text_after(after, 0, context) if context else None,
            )
        )
    return refs


def _joined(words: list[str], filled: list[int], start: int, step: int, need: int) -> str:
    """The texts `filled[start]`, `filled[start + step]`, … joined by spaces in document
    order, only as many as make `need` characters: the end of what precedes an image
    (step -1) or the start of what follows it (step 1), without joining the whole document
    for each image."""
    picked: list[str] = []
    length = -1
    while 0 <= start < len(filled) and length < need:
        picked.append(words[filled[start]])
        length += len(picked[-1]) + 1
        start += step
    return " ".join(reversed(picked) if step < 0 else picked)
