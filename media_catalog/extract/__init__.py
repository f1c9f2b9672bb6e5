"""Stage 2: read an article file and find every image reference in it.

One module per format; each exposes `extract(text, article) -> (refs, errors)` and never
raises on malformed input: what can be read is returned, the rest is recorded as errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ExtractError
from ..models import ImageRef, ItemError
from . import html, jsonl, markdown, tagged
from .encoding import decode_html, decode_text

__all__ = ["Article", "extract_file", "extract_text"]


@dataclass
class Article:
    """An article and what extraction found in it. `base` is the folder its relative
    references are resolved against."""

    id: str
    base: Path
    refs: list[ImageRef] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)


_EXTRACTORS = {"html": html.extract, "markdown": markdown.extract, "text": tagged.extract}


def extract_text(kind: str, text: str, article: str) -> tuple[list[ImageRef], list[ItemError]]:
    """Extract the references of one article given as text, `kind` naming its format."""
    return _EXTRACTORS[kind](text, article)


def extract_file(path: Path, kind: str) -> Iterator[Article]:
    """Yield the articles stored in `path` (one, or one per line for JSON Lines).

    Raises ExtractError when the file cannot be read at all.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ExtractError(
            f"cannot read article: {exc.strerror or exc}", path=path, code="unreadable"
        ) from exc
    article_id = str(path)
    if kind == "jsonl":
        yield from _jsonl_articles(path, data)
        return
    errors: list[ItemError] = []
    text = decode_html(data) if kind == "html" else decode_text(data, article_id, errors)
    refs, found = extract_text(kind, text, article_id)
    yield Article(article_id, path.parent, refs, errors + found)


def _jsonl_articles(path: Path, data: bytes) -> Iterator[Article]:
    for line_no, line in enumerate(data.splitlines(), start=1):
        article_id = f"{path}#L{line_no}"
        if not line.strip():
            continue
        try:
            kind, text = jsonl.article_text(line)
        except ExtractError as exc:
            error = ItemError(str(path), exc.code, str(exc), article=article_id)
            yield Article(article_id, path.parent, errors=[error])
            continue
        refs, errors = extract_text(kind, text, article_id)
        yield Article(article_id, path.parent, refs, errors)
