"""Stage 2: read an article file and find every image reference in it.

One module per format; each exposes `extract(text, article, *, context) -> (refs, errors)`
and never raises on malformed input: what can be read is returned, the rest is recorded as
errors. `ExtractOptions` carries the user's choices (context size, JSON Lines field names).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ExtractError
from ..models import ImageRef, ItemError
from . import html, jsonl, markdown, tagged
from .encoding import decode_html, decode_text
from .html import CONTEXT_CHARS

__all__ = ["CONTEXT_CHARS", "Article", "ExtractOptions", "extract_file", "extract_text"]


@dataclass(frozen=True)
class ExtractOptions:
    """`context`: characters of text kept before and after each image. `text_field`,
    `url_field`, `title_field`: the JSON Lines fields to read (default: detected)."""

    context: int = CONTEXT_CHARS
    text_field: str | None = None
    url_field: str | None = None
    title_field: str | None = None


@dataclass
class Article:
    """An article and what extraction found in it. `base` is the folder its relative
    references are resolved against."""

    id: str
    base: Path
    refs: list[ImageRef] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)


_EXTRACTORS = {"html": html.extract, "markdown": markdown.extract, "text": tagged.extract}


def extract_text(
    kind: str, text: str, article: str, options: ExtractOptions = ExtractOptions()
) -> tuple[list[ImageRef], list[ItemError]]:
    """Extract the references of one article given as text, `kind` naming its format."""
    return _EXTRACTORS[kind](text, article, context=options.context)


def extract_file(
    path: Path, kind: str, options: ExtractOptions = ExtractOptions()
) -> Iterator[Article]:
    """Yield the articles stored in `path` (one, or one per line for JSON Lines).

    Raises ExtractError when the file cannot be read at all.
    """
    if kind == "jsonl":
        yield from _jsonl_articles(path, options)
        return
    data = _read(path)
    article_id = str(path)
    errors: list[ItemError] = []
    text = decode_html(data) if kind == "html" else decode_text(data, article_id, errors)
    refs, found = extract_text(kind, text, article_id, options)
    yield Article(article_id, path.parent, refs, errors + found)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ExtractError(
            f"cannot read article: {exc.strerror or exc}", path=path, code="unreadable"
        ) from exc


def _lines(path: Path) -> Iterator[bytes]:
    """The lines of a JSON Lines file, decompressing `.gz` as a stream."""
    if path.suffix.lower() != ".gz":
        yield from _read(path).splitlines()
        return
    try:
        with gzip.open(path, "rb") as handle:
            for line in handle:
                yield line.rstrip(b"\r\n")
    except (OSError, EOFError, zlib.error) as exc:
        raise ExtractError(
            f"cannot read the gzip stream: {exc}; the lines before were read",
            path=path,
            code="unreadable",
        ) from exc


def _jsonl_articles(path: Path, options: ExtractOptions) -> Iterator[Article]:
    for line_no, line in enumerate(_lines(path), start=1):
        article_id = f"{path}#L{line_no}"
        if not line.strip():
            continue
        try:
            refs, errors = jsonl.extract_line(
                line,
                article_id,
                context=options.context,
                text_field=options.text_field,
                url_field=options.url_field,
                title_field=options.title_field,
            )
        except ExtractError as exc:
            error = ItemError(str(path), exc.code, str(exc), article=article_id)
            yield Article(article_id, path.parent, errors=[error])
            continue
        yield Article(article_id, path.parent, refs, errors)
