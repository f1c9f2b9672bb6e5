"""JSON Lines dumps: each line is one article whose text sits in a known field."""

from __future__ import annotations

import re

import orjson

from ..errors import ExtractError

FIELDS = ("html", "text", "content")
_IMAGE_TAG = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?image\b", re.I)


def article_text(line: bytes) -> tuple[str, str]:
    """The (format, text) of one JSON Lines record: the first of `html`, `text`, `content`.

    `html` is parsed as HTML; the other fields as HTML when they contain `<img` and no
    image tag of the text-corpus format, else as a text corpus.
    """
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ExtractError(f"line is not valid JSON: {exc}", code="bad-json") from exc
    if not isinstance(record, dict):
        raise ExtractError("line is not a JSON object", code="bad-json")
    for name in FIELDS:
        value = record.get(name)
        if isinstance(value, str):
            if name == "html" or ("<img" in value.lower() and not _IMAGE_TAG.search(value)):
                return "html", value
            return "text", value
    raise ExtractError(
        f"record has none of the text fields {', '.join(FIELDS)}", code="no-text-field"
    )
