"""Web archives (WARC, plain or gzipped): their pages are articles, and their other responses
the bytes those pages' references resolve to, with no network.

Read with warcio (the `warc` extra) as streams: one pass lists every response by its URL and
where its record starts, then pages and images are read by seeking to their records, so a
1 GB archive never sits in memory. A revisit record stands for the response it refers to.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ExtractError, ResolveError
from .models import byte_limit

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_REVISIT_HOPS = 8


def _iterator(stream: object) -> Iterator[object]:
    try:
        from warcio.archiveiterator import ArchiveIterator
    except ImportError as exc:  # pragma: no cover - the extra is installed with the tests
        raise ExtractError(
            "reading web archives needs warcio: pip install 'media-catalog[warc]'",
            path=None,
            code="unreadable",
        ) from exc
    return ArchiveIterator(stream)


@dataclass
class WebArchive:
    """A WARC file, listed once: `pages` are the URLs and offsets of its HTML responses, in
    order, and `images` the URLs of its raster image responses (by their type);
    `where` maps each response's URL to its record's offset (the first capture wins), or a
    revisit's URL to the URL it refers to."""

    path: Path
    pages: list[tuple[str, int]] = field(default_factory=list)
    images: list[str] = field(default_factory=list)  # URLs of image/* responses (not SVG)
    where: dict[str, int | str] = field(default_factory=dict)
    damage: str | None = None  # why the listing stopped before the end, if it did

    @classmethod
    def listed(cls, path: Path) -> WebArchive:
        """The archive at `path`, listed; ExtractError (`unreadable`) when it cannot be read
        at all. A record that breaks the stream ends the listing: what came before counts."""
        archive = cls(path)
        offset = 0
        try:
            with path.open("rb") as stream:
                records = _iterator(stream)
                for record in records:
                    offset = records.get_record_offset()  # type: ignore[attr-defined]
                    if _cut_short(record):
                        raise ExtractError(f"the record at byte {offset} is cut short")
                    archive._list(record, offset)
        except OSError as exc:
            raise ExtractError(
                f"cannot read the archive {path}: {exc.strerror or exc}",
                path=str(path),
                code="unreadable",
            ) from exc
        except Exception as exc:  # warcio's errors on a damaged archive; the rest is read
            if isinstance(exc, ExtractError) and exc.code == "unreadable":
                raise  # (no warcio)
            if not archive.where:
                raise ExtractError(
                    f"{path} is not a readable web archive (WARC): {' '.join(str(exc).split())}"
                    " (one gzipped whole is not read: `warcio recompress` mends it)",
                    path=str(path),
                    code="unreadable",
                ) from exc
            archive.damage = (
                f"{path} could not be read past the record at byte {offset} ({exc}); "
                f"the {len(archive.where):,} responses before it were read. A WARC must be "
                "plain or gzipped record by record (warcio recompress mends one gzipped whole)."
            )
        return archive

    def _list(self, record: object, offset: int) -> None:
        headers = record.rec_headers  # type: ignore[attr-defined]
        url = headers.get_header("WARC-Target-URI")
        if not url:
            return
        kind = record.rec_type  # type: ignore[attr-defined]
        if kind == "revisit":
            refers = headers.get_header("WARC-Refers-To-Target-URI")
            if refers and refers != url:
                self.where.setdefault(url, refers)
            return
        if kind != "response":
            return
        self.where.setdefault(url, offset)
        http = record.http_headers  # type: ignore[attr-defined]
        content_type = (http.get_header("Content-Type") or "") if http else ""
        media_type = content_type.split(";")[0].strip().lower()
        if media_type in _HTML_TYPES:
            self.pages.append((url, offset))
        elif media_type.startswith("image/") and "svg" not in media_type:
            self.images.append(url)

    def read(self, offset: int, max_bytes: int) -> tuple[int, bytes | None, str | None]:
        """The HTTP status, payload (None when over `max_bytes`) and capture time of the
        record at `offset`; ExtractError (`unreadable`) when it cannot be read."""
        try:
            with self.path.open("rb") as stream:
                stream.seek(offset)
                record = next(iter(_iterator(stream)))
                http = record.http_headers
                status = int(http.get_statuscode() or 200) if http else 200
                captured = record.rec_headers.get_header("WARC-Date")
                data = record.content_stream().read(max_bytes + 1)
        except ExtractError:
            raise
        except Exception as exc:  # an OSError, or warcio's on a damaged record
            raise ExtractError(
                f"cannot read the record at byte {offset} of {self.path}: {exc}",
                path=str(self.path),
                code="unreadable",
            ) from exc
        return status, data if len(data) <= max_bytes else None, captured

    def payload(self, url: str, max_bytes: int) -> tuple[bytes, str | None]:
        """The bytes archived for `url` (following revisits) and when they were captured;
        ResolveError `not-archived` when the archive holds none (or an error page),
        `too-large` over `max_bytes`."""
        where: int | str | None = url
        for _ in range(_REVISIT_HOPS):
            where = self.where.get(where) if isinstance(where, str) else where
            if not isinstance(where, str):
                break
        if not isinstance(where, int):
            raise ResolveError(
                f"{url} is not in the archive {self.path}", reason="not-archived", ref=url
            )
        try:
            status, data, captured = self.read(where, max_bytes)
        except ExtractError as exc:
            raise ResolveError(str(exc), reason="unreadable", ref=url) from exc
        if not 200 <= status < 300:
            raise ResolveError(
                f"the archive {self.path} holds an HTTP {status} for {url}, no image",
                reason="not-archived",
                ref=url,
            )
        if data is None:
            raise ResolveError(
                f"{url} in {self.path} is over the {byte_limit(max_bytes)} limit",
                reason="too-large",
                ref=url,
            )
        return data, captured


def _cut_short(record: Any) -> bool:
    """Whether a record ends before the length its header states (a truncated file): read
    through, as the listing would anyway."""
    stream = record.raw_stream
    while stream.read(1 << 20):
        pass
    return getattr(stream, "limit", 0) > 0


@dataclass(frozen=True)
class ArchivedPage:
    """Where a page in a web archive resolves its references: its URL, in its archive (and
    the archive's folder, for what is no web URL)."""

    archive: WebArchive
    url: str
    folder: Path
