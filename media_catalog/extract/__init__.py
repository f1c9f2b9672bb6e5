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

from ..archive import ArchivedPage, WebArchive
from ..errors import ExtractError
from ..models import ImageRef, ItemError

# Characters of text kept before and after each image (`--context`).
CONTEXT_CHARS = 200

__all__ = [
    "CONTEXT_CHARS",
    "Article",
    "ExtractOptions",
    "archived_pages",
    "extract_file",
    "extract_text",
]


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
    references are resolved against, or for a page in a web archive, that page."""

    id: str
    base: Path | ArchivedPage
    refs: list[ImageRef] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)


def extract_text(
    kind: str, text: str | bytes, article: str, options: ExtractOptions = ExtractOptions()
) -> tuple[list[ImageRef], list[ItemError]]:
    """Extract the references of one article given as text or UTF-8 bytes (an HTML page is
    parsed as its bytes), `kind` naming its format."""
    # the parsers are imported with the first article: a scan of images never needs them
    from . import html, markdown, tagged

    if kind == "html":
        return html.extract(text, article, context=options.context)
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    extract = markdown.extract if kind == "markdown" else tagged.extract
    return extract(text, article, context=options.context)


def extract_file(
    path: Path, kind: str, options: ExtractOptions = ExtractOptions()
) -> Iterator[Article]:
    """Yield the articles stored in `path` (one, one per line for JSON Lines, one per page
    for a web archive).

    Raises ExtractError when the file cannot be read at all.
    """
    if kind == "jsonl":
        yield from _jsonl_articles(path, options)
        return
    if kind == "warc":
        yield from archived_pages(WebArchive.listed(path), options)
        return
    from .encoding import decode_text

    data = _read(path)
    article_id = str(path)
    if kind == "html":
        refs, errors = _html(data, article_id, options)
    else:
        errors = []
        text = decode_text(data, article_id, errors)
        refs, found = extract_text(kind, text, article_id, options)
        errors += found
    yield Article(article_id, path.parent, refs, errors)


MAX_ARTICLE_BYTES = 64 * 1024 * 1024  # an article file, or one JSON Lines record


def archived_pages(archive: WebArchive, options: ExtractOptions) -> Iterator[Article]:
    """The HTML pages of a web archive (listed), as articles `ARCHIVE#URL` whose references
    resolve in the archive; a page that states no URL of its own has its archived one."""
    path = archive.path
    for url, offset in archive.pages:
        article_id = f"{path}#{url}"
        page = ArchivedPage(archive, url, path.parent)
        try:
            status, data, _ = archive.read(offset, MAX_ARTICLE_BYTES)
        except ExtractError as exc:  # (the archive's error, at this record: see _jsonl_articles)
            error = ItemError(str(path), exc.code, str(exc), article=article_id)
            yield Article(article_id, page, [], [error])
            continue
        if not 200 <= status < 300:
            continue  # an error page the crawler met: no article
        if data is None:
            message = f"page over the {MAX_ARTICLE_BYTES >> 20} MiB limit; it was not read"
            error = ItemError(str(path), "too-large", message, article=article_id)
            yield Article(article_id, page, [], [error])
            continue
        refs, errors = _html(data, article_id, options)
        refs = [ref if ref.article_url else ref.replaced(article_url=url) for ref in refs]
        yield Article(article_id, page, refs, errors)
    if archive.damage is not None:
        raise ExtractError(archive.damage, path=path, code="unreadable")


def _html(
    data: bytes, article: str, options: ExtractOptions
) -> tuple[list[ImageRef], list[ItemError]]:
    """The references of an HTML page's bytes; a `bad-encoding` error when the page, read
    as UTF-8 (as it says it is), held bytes that are not, and what it says of its images
    shows them replaced."""
    from .encoding import html_source, invalid_utf8

    source = html_source(data)
    refs, errors = extract_text("html", source, article, options)
    if isinstance(source, bytes) and any("\ufffd" in _texts(ref) for ref in refs):
        at = invalid_utf8(data)
        if at is not None:
            message = (
                f"the page was read as UTF-8, as its BOM or declaration says, but byte {at} "
                "(and perhaps more) is not UTF-8; such bytes show as \ufffd in its texts"
            )
            errors.append(ItemError(article, "bad-encoding", message, article=article))
    return refs, errors


def _texts(ref: ImageRef) -> str:
    """The texts a reference carries, joined (to look for replaced bytes)."""
    fields = (ref.alt, ref.caption, ref.title, ref.credit, ref.context_before, ref.context_after)
    return " ".join(text for text in (*fields, ref.heading, ref.article_title) if text)


def _read(path: Path) -> bytes:
    """The article's bytes; ExtractError when it cannot be read or is over the limit (the
    rest is never read)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_ARTICLE_BYTES + 1)
    except OSError as exc:
        raise ExtractError(
            f"cannot read article: {exc.strerror or exc}", path=path, code="unreadable"
        ) from exc
    if len(data) > MAX_ARTICLE_BYTES:
        raise ExtractError(
            f"article over the {MAX_ARTICLE_BYTES >> 20} MiB limit; it was not read",
            path=path,
            code="too-large",
        )
    return data


def _lines(path: Path) -> Iterator[bytes | None]:
    """The lines of a JSON Lines file, read as a stream (`.gz` decompressed as it goes);
    None for a line over MAX_ARTICLE_BYTES, which is skipped unread."""
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            while line := handle.readline(MAX_ARTICLE_BYTES + 1):
                if len(line) > MAX_ARTICLE_BYTES and not line.endswith(b"\n"):
                    while (rest := handle.readline(1 << 20)) and not rest.endswith(b"\n"):
                        pass
                    yield None
                    continue
                yield line.rstrip(b"\r\n")  # (errors then name the record's own line)
    except (OSError, EOFError, zlib.error) as exc:
        raise ExtractError(
            f"cannot read the file: {exc}; the lines before were read",
            path=path,
            code="unreadable",
        ) from exc


def _jsonl_articles(path: Path, options: ExtractOptions) -> Iterator[Article]:
    from . import jsonl

    for line_no, line in enumerate(_lines(path), start=1):
        article_id = f"{path}#L{line_no}"
        if line is None:
            message = f"line over the {MAX_ARTICLE_BYTES >> 20} MiB limit; it was not read"
            error = ItemError(str(path), "too-large", message, article=article_id)
            yield Article(article_id, path.parent, errors=[error])
            continue
        if not line or line.isspace():
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
