"""The storage boundary: what every stage after the scan asks of a catalogue, whichever back
end holds it. Nothing outside `media_catalog.store` knows which one it talks to.

Reads give typed records (media_catalog.records), views over the documents the stores hold,
which have the shapes of the README's JSON contract:

    image doc        the Fingerprint's fields, then "files" (sorted paths holding its bytes)
    occurrence doc   the occurrence object (ImageRef fields + "file"), then "sha256" and
                     "reason" (STORED_OCCURRENCE_KEYS), then keys a newer version added
    error doc        {"path", "article", "position", "code", "message"}
    source state     {"path", "size", "mtime_ns", "sha256"} (+ "settings" for an article)

Writes take documents and go through `write`: one call is one transaction (SQLite) or one
in-memory change saved by `save` (JSON); `record` (a scan's batch) and `merge` (an import)
are built on it.
"""

from __future__ import annotations

import os
import re
import stat
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Container, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..errors import CatalogError
from ..models import Fingerprint, ItemError, Occurrence
from ..querylang import Term
from ..records import (
    ErrorRecord,
    ImageRecord,
    OccurrenceRecord,
    SourceRecord,
    stored_occurrence,
)

_JSONL_LINE = re.compile(r"#L\d+$")
_WARC_PAGE = re.compile(r"\.warc(?:\.gz)?#", re.I)
# A JSON catalogue holding more images than this is better kept in SQLite (`scan` says how);
# up to it, the cluster counts of `scan` and `stats` are counted when not kept.
JSON_IMAGES_ADVISED = 50_000
SIZE_BUCKETS = ((256, "< 256 px"), (1024, "256–1023 px"), (2048, "1024–2047 px"))
LARGEST = ">= 2048 px"
BUCKETS = (*(name for _, name in SIZE_BUCKETS), LARGEST)  # smallest first


def article_file(article: str) -> str:
    """The file an article id lives in (`dump.jsonl#L12` lives in `dump.jsonl`, a page
    `crawl.warc.gz#https://…` in `crawl.warc.gz`)."""
    if ".warc" in article:
        found = _WARC_PAGE.search(article)
        if found is not None:
            return article[: found.end() - 1]
    return _JSONL_LINE.sub("", article) if ".jsonl" in article else article


def size_bucket(width: int, height: int) -> str:
    """The bucket of an image's longer side."""
    side = max(width, height)
    return next((name for limit, name in SIZE_BUCKETS if side < limit), LARGEST)


def refuse_newer(path: Path, version: int, supported: int) -> None:
    """CatalogError when a catalogue's schema `version` is newer than this code reads."""
    if version > supported:
        raise CatalogError(
            f"{path} was written by a newer media-catalog (schema {version}); this version "
            f"reads schema {supported}. Upgrade media-catalog.",
            path=path,
        )


def refuse_read_only(path: Path, opened_read_only: bool = False) -> None:
    """CatalogError when the catalogue was opened read-only, or its file is marked read-only
    (its owner may not write it): whoever did so meant it not to change, even for a user the
    system would let write."""
    if opened_read_only:
        raise CatalogError(f"{path} was opened read-only; nothing was changed.", path=path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    if not mode & stat.S_IWUSR:
        raise CatalogError(
            f"{path} is read-only; nothing was changed. Make it writable (chmod u+w {path}) "
            "to add to it, or pass another --db.",
            path=path,
        )


_HEX = frozenset("0123456789abcdef")
# What each record must hold for the stores to index it: key -> accepted types.
_REQUIRED: dict[str, dict[str, tuple[type, ...]]] = {
    "image": {
        "sha256": (str,),
        "phash": (str,),
        "dhash": (str,),
        "width": (int,),
        "height": (int,),
        "format": (str,),
        "exif": (dict,),
        "files": (list,),
        "occurrences": (list,),
    },
    "occurrence": {
        "article": (str,),
        "position": (int, type(None)),
        "src": (str,),
        **dict.fromkeys(("alt", "caption", "title", "credit"), (str, type(None))),
    },
    "error": {
        "path": (str, type(None)),
        "article": (str, type(None)),
        "position": (int, type(None)),
        "code": (str,),
        "message": (str,),
    },
    "source": {"path": (str,)},
}


# The JSON contract's lists (`Store.contract_lists`, an export's members) and the kind of
# record each holds (`record_problem`).
CONTRACT_LISTS = (("images", "image"), ("unresolved", "unresolved"), ("errors", "error"))


def record_problem(kind: str, record: Any) -> str | None:
    """What makes `record` unfit as a `kind` record ("image" object, "unresolved", "error",
    "source") of an export or a catalogue, or None."""
    if not isinstance(record, dict):
        return "it is not an object"
    if kind == "unresolved":
        if not isinstance(record.get("reason"), str):
            return "'reason' is missing or not a str"
        kind = "occurrence"
    for key, types in _REQUIRED[kind].items():
        if not isinstance(record.get(key), types) or isinstance(record.get(key), bool):
            return f"{key!r} is missing or not a {' or '.join(t.__name__ for t in types)}"
    if kind == "image":
        for key, length in (("sha256", 64), ("phash", 16), ("dhash", 16)):
            if len(record[key]) != length or not _HEX.issuperset(record[key]):
                return f"{key!r} is not {length} lower-case hex digits"
        for occurrence in record["occurrences"]:
            problem = record_problem("occurrence", occurrence)
            if problem:
                return f"an occurrence: {problem}"
    return None


def damage(catalog: Store) -> str | None:
    """The first record of `catalog` that no media-catalog wrote (edited by hand, or damaged),
    described; None when every record is whole. Reads the whole catalogue: for explaining a
    failure, not for every command."""
    try:
        lists = catalog.contract_lists()
        for key, kind in CONTRACT_LISTS:
            for record in lists[key]:
                problem = record_problem(kind, record)
                if problem:
                    shown = orjson.dumps(record, default=str)[:200].decode(errors="replace")
                    return f"this {kind} record: {problem} ({shown}…)"
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return f"reading it fails ({type(exc).__name__}: {exc})"
    return None


def under(path: str, roots: Iterable[str]) -> bool:
    """Whether `path` is one of `roots` (absolute) or lies below one."""
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


@dataclass
class Change:
    """One write: what replaces what the catalogue knew about some files.

    Rows of the `replaced` files (occurrences of their articles, errors about them, what the
    `removed` files held) are deleted first; `removed` files are forgotten, and occurrences
    whose bytes came from one become `missing`. Then `images` (image docs without "files")
    are added unless known, `files` (path → SHA-256) replace what those paths held,
    `occurrences` and `errors` are added (an error already recorded is not repeated), and
    `sources` (path → state) are set. Images left with neither a file nor an occurrence go,
    when `sweep`; otherwise they stay until a later write sweeps (a scan sweeps in its last
    write only, so that a batch never drops an image a later batch of the same scan uses
    again without fingerprinting it).
    """

    replaced: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    images: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    occurrences: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    sweep: bool = True
    rows: Any = None  # a store's own rows for `images` and `occurrences` (see Store.prepare)


class Store(ABC):
    """A catalogue. Open one with `media_catalog.store.open_store`."""

    path: Path
    read_only: bool = False  # (open_store): writing() refuses, keep() keeps nothing

    # -- writing ---------------------------------------------------------------------------

    @abstractmethod
    def writing(self, on_wait: Callable[[], None] | None = None) -> AbstractContextManager[Store]:
        """Be the catalogue's writer while inside. `on_wait` is called when another writer
        makes this one wait (SQLite); the JSON store refuses a second writer at once."""

    @staticmethod
    def prepare(change: Change) -> Change:
        """`change` as this store will write it, made without the catalogue (so in another
        process, beside the one writing): the SQLite store's rows in place of the docs."""
        return change

    @abstractmethod
    def write(self, change: Change) -> None:
        """Apply `change` (see Change) at once, as one transaction or one in-memory edit."""

    @abstractmethod
    def is_empty(self) -> bool:
        """Whether the catalogue holds nothing at all."""

    def bulk(self) -> AbstractContextManager[None]:
        """Inside, a large load may go faster (SQLite builds its indexes at the end); the
        catalogue may answer slowly until it is over."""
        return nullcontext()

    @abstractmethod
    def save(self) -> None:
        """Make every change so far durable (atomic: all of it or none)."""

    def record(
        self,
        *,
        sources: Mapping[str, dict[str, Any]],
        fingerprints: Iterable[Fingerprint],
        files: dict[str, str],
        occurrences: Iterable[Occurrence],
        errors: Iterable[ItemError],
        removed: Iterable[str] = (),
        touched: Mapping[str, dict[str, Any]] | None = None,
        sweep: bool = True,
    ) -> None:
        """Replace what the catalogue knew about the re-read `sources` with a scan's results,
        and forget the `removed` files (vanished since they were catalogued).

        `sources` maps each file the scan read to its state ({"size", "mtime_ns", "sha256"});
        `files` maps every image file read to the SHA-256 of its bytes. `touched` maps files
        found unchanged without being read again (the same bytes under a new time) to their
        new state: only that state is recorded. `sweep`: see Change."""
        states = {**(touched or {}), **sources}
        self.write(
            Change(
                replaced=set(sources),
                removed=set(removed),
                images=[print_.to_dict() for print_ in fingerprints],
                files=dict(files),
                occurrences=[stored_occurrence(o.to_dict()) for o in occurrences],
                errors=[error.to_dict() for error in errors],
                sources={path: {**state, "path": path} for path, state in states.items()},
                sweep=sweep,
            )
        )

    # -- reading ---------------------------------------------------------------------------

    @abstractmethod
    def source(self, path: str) -> SourceRecord | None:
        """The state recorded for a file the scans read, or None."""

    @abstractmethod
    def sources(self) -> dict[str, SourceRecord]:
        """Every recorded source state, by path."""

    @abstractmethod
    def catalogued_under(self, roots: Collection[str]) -> set[str]:
        """Files the catalogue knows (sources, articles) at or below the absolute `roots`."""

    @abstractmethod
    def known_images(self) -> Container[str]:
        """The catalogued SHA-256s, as a container a forked process may use too."""

    @abstractmethod
    def images(self, sha256s: Collection[str] | None = None) -> Iterator[ImageRecord]:
        """Images (with their files, without occurrences), in catalogue order; only
        `sha256s` when given."""

    @abstractmethod
    def occurrences(self, sha256s: Collection[str] | None = None) -> Iterator[OccurrenceRecord]:
        """Occurrences in catalogue order; only those of `sha256s` when given."""

    @abstractmethod
    def unresolved_under(
        self, reasons: Collection[str], roots: Collection[str]
    ) -> Iterator[OccurrenceRecord]:
        """Occurrences left unresolved for one of `reasons`, of articles below `roots`."""

    @abstractmethod
    def errors(self) -> Iterator[ErrorRecord]:
        """Errors in the order they were recorded."""

    @abstractmethod
    def count_errors_under(self, roots: Collection[str]) -> int:
        """Errors about a file, or an article, at or below the absolute `roots`."""

    @abstractmethod
    def image_count(self) -> int:
        """How many images the catalogue holds."""

    @abstractmethod
    def changed(self) -> bool:
        """Whether another process saved the catalogue since this object read it (open the
        store again to read what it saved)."""

    @abstractmethod
    def sha256s_with_prefix(self, prefix: str) -> list[str]:
        """The catalogued SHA-256s that start with `prefix` (lower-case hex)."""

    @abstractmethod
    def near_phash(self, phashes: list[int], distance: int) -> list[tuple[int, int, str]]:
        """(bits, view, sha256) for every image within `distance` pHash bits of
        `phashes[view]`, once per view that reaches it, closest first (then view, then
        catalogue order)."""

    @abstractmethod
    def search(
        self, terms: list[Term], limit: int | None, near: Callable[[], set[str]]
    ) -> tuple[int, Iterator[bytes]]:
        """How many occurrences match every term, and the first `limit` (all when None) by
        article then position, each as the compact JSON of its stored doc. `near` gives the
        SHA-256s in near-duplicate clusters (asked only for a `dup:` term)."""

    @abstractmethod
    def counts(self) -> dict[str, Any]:
        """The `stats` counts but the clusters (see query.stats)."""

    @abstractmethod
    def fingerprints(self) -> Iterator[ImageRecord]:
        """Images without their files, in catalogue order (the cheapest full read)."""

    @abstractmethod
    def usage(self, tracking: bool) -> tuple[dict[str, tuple[int, int]], int]:
        """Per SHA-256 of an image used anywhere: (places, articles); and how many articles
        use any image. Places are occurrences plus files no occurrence points at; tracking
        occurrences (and, unless `tracking`, images of 1×1 pixels) are not counted unless
        `tracking`."""

    @abstractmethod
    def kept(self, key: str) -> Any:
        """A value kept with the catalogue as it is now; None once the catalogue changed."""

    @abstractmethod
    def keep(self, key: str, value: Any) -> None:
        """Keep `value` with the catalogue until it next changes."""

    # -- shared ------------------------------------------------------------------------------

    def image_objects(self, sha256s: Collection[str] | None = None) -> Iterator[ImageRecord]:
        """Images as image objects: with their occurrences (by article, then position), in
        catalogue order; only `sha256s` when given."""
        if sha256s is not None:
            sha256s = set(sha256s)
            images = list(self.images(sha256s))
            used = _grouped(self.occurrences(sha256s))
            for image in images:
                yield ImageRecord(image.doc, used.get(image.sha256, ()))
            return
        used = _grouped(self.occurrences())
        for image in self.images():
            yield ImageRecord(image.doc, used.get(image.sha256, ()))

    def placed(self) -> Iterator[tuple[OccurrenceRecord, ImageRecord | None]]:
        """Every occurrence with its image (None when unresolved): by article, then position
        (metadata images last), then the resolved first, in catalogue order of their images,
        then in catalogue order."""
        images = {image.sha256: (number, image) for number, image in enumerate(self.images())}
        found = list(self.occurrences())

        def order(k: int) -> tuple[Any, ...]:
            sha256 = found[k].sha256
            return (*found[k].place(), sha256 is None, images[sha256][0] if sha256 else 0, k)

        for k in sorted(range(len(found)), key=order):
            sha256 = found[k].sha256
            yield found[k], images[sha256][1] if sha256 else None

    def loose_files(self) -> Iterator[tuple[str, ImageRecord]]:
        """(path, image) of every file holding an image that none of the image's occurrences
        points at (a loose copy in a gallery folder), by path."""
        pointed = {(o.sha256, o.file) for o in self.occurrences() if o.sha256}
        loose = [
            (path, image)
            for image in self.images()
            for path in image.files
            if (image.sha256, path) not in pointed
        ]
        return iter(sorted(loose, key=lambda found: found[0]))

    def contract_lists(self) -> dict[str, Iterator[dict[str, Any]]]:
        """The JSON contract's three lists, as `export` writes them, each read as it is
        written: image objects, unresolved references (each with its `reason`), errors."""
        return {
            "images": (image.to_dict() for image in self.image_objects()),
            "unresolved": (occurrence.unresolved_dict() for occurrence in self.unresolved()),
            "errors": (error.to_dict() for error in self.errors()),
        }

    def unresolved(self) -> Iterator[OccurrenceRecord]:
        """Occurrences whose bytes could not be had (each with its `reason`), by place."""
        found = [o for o in self.occurrences() if not o.sha256]
        return iter(sorted(found, key=OccurrenceRecord.place))


def _grouped(
    occurrences: Iterable[OccurrenceRecord],
) -> dict[str, tuple[OccurrenceRecord, ...]]:
    """Resolved occurrences by SHA-256, each group sorted by place."""
    used: dict[str, list[OccurrenceRecord]] = {}
    for occurrence in occurrences:
        if sha256 := occurrence.sha256:
            used.setdefault(sha256, []).append(occurrence)
    return {
        sha256: tuple(sorted(found, key=OccurrenceRecord.place)) for sha256, found in used.items()
    }
