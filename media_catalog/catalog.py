"""Stage 5: the catalogue, a TinyDB file. The only module that touches storage.

Layout (TinyDB tables in one JSON file), schema 2:

    meta         one document: {"schema_version": 2}, and "clusters" (the duplicate-cluster
                 counts of the last scan: {"threshold", "version", "exact", "near"}) until
                 the catalogue changes
    images       one document per distinct image (by SHA-256): the Fingerprint + "files"
    occurrences  one document per reference: ImageRef fields + "file" and "sha256" (null
                 when unresolved) + "reason" (null when resolved), saved with these keys
                 first, in this order (STORED_OCCURRENCE_KEYS)
    errors       one document per recorded item error
    sources      one document per file a scan read: {"path", "size", "mtime_ns", "sha256"}
                 (sha256 of an article's bytes, or of a loose image's), and for an article
                 "settings" (a digest of the scan settings it was read with) — what lets a
                 re-scan skip unchanged files (new in schema 2)

Documents are plain dicts: keys added by later stages are stored and returned as they come.
Schema 1 catalogues are migrated in memory when opened and written as schema 2 by the next
save; newer schemas are refused.

Changes are kept in memory and written by `save()` in one go: the new file is written beside
the old one and renamed over it, so a crash, Ctrl-C or SIGKILL never leaves a half-written
catalogue. Writers hold `writing()`, an exclusive lock on `<catalogue>.lock`, so two
processes never write one catalogue at once.

Every save also rebuilds the read index `<catalogue>.index.sqlite` (media_catalog.index), a
derived copy that lookup, show and search read without parsing the JSON. A catalogue whose
index is current is parsed only when something needs all of it.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import stat
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from tinydb import TinyDB
from tinydb.middlewares import CachingMiddleware
from tinydb.storages import Storage

from . import __version__
from .errors import CatalogError
from .index import Index, Places, place
from .index import write as write_index
from .models import Fingerprint, ImageRef, ItemError, Occurrence

SCHEMA_VERSION = 2
DEFAULT_PATH = "media-catalog.json"
# The lock files this process holds open: a forked child (a hashing worker) closes its copies
# at once, so that the lock goes with this process alone (a killed scan releases it however
# long its workers live) while the lock itself stays held.
_held_locks: set[int] = set()


def _close_held_locks() -> None:
    for fd in _held_locks:
        os.close(fd)
    _held_locks.clear()


os.register_at_fork(after_in_child=_close_held_locks)
_JSONL_LINE = re.compile(r"#L\d+$")


class AtomicJSONStorage(Storage):
    """TinyDB storage that parses with orjson and replaces the file atomically on write.

    After a write, `places` tells where each document lies in the file: {table: {id:
    (offset, length)}}, the bytes `orjson.loads` reads back as that document, and `written`
    is the file's `os.stat` (taken before the rename, which keeps it).
    """

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.places: Places = {}
        self.written: os.stat_result | None = None

    def read(self) -> dict[str, Any] | None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CatalogError(
                f"cannot read the catalogue {self.path}: {exc.strerror or exc}", path=self.path
            ) from exc
        try:
            tables = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise CatalogError(
                f"{self.path} is not a readable catalogue ({exc}); it was left untouched. "
                "Restore it from a backup or pass another --db.",
                path=self.path,
            ) from exc
        if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
            raise CatalogError(
                f"{self.path} is JSON but not a media-catalog catalogue; pass another --db.",
                path=self.path,
            )
        return tables

    def write(self, data: dict[str, Any]) -> None:
        tmp = None
        try:
            fd, tmp = _new_file(self.path)
            with os.fdopen(fd, "wb") as handle:
                places = _write_tables(handle, data)
                handle.flush()
                os.fsync(handle.fileno())
                written = os.fstat(handle.fileno())
            os.replace(tmp, self.path)
            self.places, self.written = places, written
        except OSError as exc:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            raise CatalogError(
                f"cannot write the catalogue {self.path}: {exc.strerror or exc}; "
                "the previous catalogue is unchanged.",
                path=self.path,
            ) from exc
        except BaseException:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            raise


def _new_file(path: Path) -> tuple[int, Path]:
    """A new temporary file beside `path`, open for writing, with the permissions `path` has;
    for a new catalogue, those `open` gives a new file (0666 less the umask, which the system
    applies: reading it would mean setting it, which is not thread-safe). A file replacing an
    existing one is made 0600 until it has that one's permissions, so that nobody it would
    keep out can open it meanwhile."""
    try:
        mode: int | None = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = None
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else 0o600
            )
        except FileExistsError:
            continue
        if mode is not None:
            os.fchmod(fd, mode)
        return fd, tmp


def _write_tables(handle: BinaryIO, data: dict[str, dict[str, Any]]) -> Places:
    """Write `data` as `orjson.dumps(data)` would, one document at a time, noting where each
    document lies."""
    places: Places = {}
    written = 0  # bytes before `buffer`
    buffer = bytearray(b"{")
    for t, (name, docs) in enumerate(data.items()):
        buffer += b"," * bool(t) + orjson.dumps(name) + b":{"
        table = places[name] = {}
        for d, (key, doc) in enumerate(docs.items()):
            buffer += b"," * bool(d) + orjson.dumps(key) + b":"
            chunk = orjson.dumps(doc)
            table[key] = (written + len(buffer), len(chunk))
            buffer += chunk
            if len(buffer) >= 1 << 20:
                handle.write(buffer)
                written += len(buffer)
                buffer.clear()
        buffer += b"}"
    handle.write(buffer + b"}")
    return places


class _WriteOnSave(CachingMiddleware):
    """Keep every change in memory until `save()`."""

    WRITE_CACHE_SIZE = sys.maxsize

    @property
    def changed(self) -> bool:
        return self._cache_modified_count > 0

    def save(self) -> tuple[dict[str, dict[str, Any]], Places, os.stat_result]:
        """Write the tables now: the tables written, where each document lies, and the
        written file's `os.stat`."""
        tables = self.read()
        self.storage.write(tables)
        self._cache_modified_count = 0
        return tables, self.storage.places, self.storage.written


def article_file(article: str) -> str:
    """The file an article id lives in (`dump.jsonl#L12` lives in `dump.jsonl`)."""
    return _JSONL_LINE.sub("", article) if ".jsonl" in article else article


class Catalog:
    """A catalogue file. `Catalog(path)` opens it (a new one if absent and `create`).

    Nothing is written until `save()`; dropping the object without saving discards changes.
    """

    def __init__(self, path: str | Path = DEFAULT_PATH, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise CatalogError(
                f"no catalogue at {self.path}; run `media-catalog scan PATH --db {self.path}` "
                "first, or pass --db",
                path=self.path,
            )
        if self.path.is_dir():
            raise CatalogError(f"{self.path} is a folder, not a catalogue file", path=self.path)
        self._tinydb: TinyDB | None = None
        self._index = Index.open(self.path, SCHEMA_VERSION)
        if self._index is None:
            self._open()

    def _open(self) -> None:
        """Load the catalogue file; from then on this object answers from it alone."""
        self._index = None
        self._storage = _WriteOnSave(AtomicJSONStorage)
        # the index of the file loaded (if current), which the next save builds on, and the
        # articles whose occurrences changed since (see media_catalog.index.write)
        self._base = Index.open(self.path, SCHEMA_VERSION)
        self._changed: set[str] = set()
        self._tinydb = TinyDB(str(self.path), storage=self._storage)
        self._check_schema()
        if self._base is not None and not self._base.describes(self.path):
            self._base = None  # replaced while it was being read

    @property
    def _db(self) -> TinyDB:
        if self._tinydb is None:
            self._open()
        assert self._tinydb is not None
        return self._tinydb

    def index(self) -> Index | None:
        """The read index, when it is current and nothing here has loaded or changed the
        catalogue since it was opened; None means: answer from the loaded tables."""
        return self._index

    def _check_schema(self) -> None:
        meta = self._db.table("meta").all()
        tables = self._db.tables()
        if not meta:
            if tables - {"meta"}:
                raise CatalogError(
                    f"{self.path} is not a media-catalog catalogue (no schema version); "
                    "pass another --db.",
                    path=self.path,
                )
            return
        version = meta[0].get("schema_version")
        if not isinstance(version, int) or version < 1:
            raise CatalogError(
                f"{self.path} has no valid schema version ({version!r}); it is not a "
                "media-catalog catalogue or was edited by hand. Pass another --db.",
                path=self.path,
            )
        if version > SCHEMA_VERSION:
            raise CatalogError(
                f"{self.path} was written by a newer media-catalog (schema {version}); "
                f"this version reads schema {SCHEMA_VERSION}. Upgrade media-catalog.",
                path=self.path,
            )
        if version == 1:
            self._migrate_from_1()

    def _migrate_from_1(self) -> None:
        """Schema 1 had no `sources`: list the articles it knows, with no size or time, so
        the next scan re-reads them once and `--prune` knows them."""
        articles = sorted({article_file(doc["article"]) for doc in self.occurrences()})
        self._replace(
            "sources",
            [{"path": path, "size": None, "mtime_ns": None, "sha256": None} for path in articles],
        )
        self._replace("meta", [{"schema_version": SCHEMA_VERSION}])

    def _replace(self, name: str, docs: list[dict[str, Any]]) -> None:
        table = self._db.table(name)
        table.truncate()
        table.insert_multiple(docs)

    @contextmanager
    def writing(self) -> Iterator[Catalog]:
        """Hold the catalogue's write lock; reload it first, to build on what is on disk.

        A second writer gets CatalogError at once instead of waiting. The lock is the kernel's
        (flock): it goes with the process, so a killed scan never leaves a stale lock.
        """
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)  # (less the umask)
        except OSError as exc:
            if not self.path.parent.is_dir():
                raise CatalogError(
                    f"cannot write the catalogue {self.path}: the folder {self.path.parent} does "
                    "not exist. Create it or pass another --db.",
                    path=self.path,
                ) from exc
            raise CatalogError(
                f"cannot create the lock file {lock_path}: {exc.strerror or exc}", path=self.path
            ) from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
                raise CatalogError(
                    f"{self.path} is being written by another media-catalog process "
                    f"(pid {holder}, lock {lock_path}); wait for it to finish, or pass "
                    "another --db.",
                    path=self.path,
                ) from None
            _held_locks.add(fd)
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
                stale.unlink(missing_ok=True)  # left by a killed writer; we hold the lock
            self._open()
            yield self
        finally:
            _held_locks.discard(fd)
            os.close(fd)  # releases the lock

    # -- reading -------------------------------------------------------------------------

    def images(self) -> list[dict[str, Any]]:
        """Image documents: the Fingerprint's fields plus `files`."""
        return [dict(doc) for doc in self._db.table("images").all()]

    def occurrences(self) -> list[dict[str, Any]]:
        """Every reference: ImageRef fields plus `sha256` and `reason`."""
        return [dict(doc) for doc in self._db.table("occurrences").all()]

    def errors(self) -> list[dict[str, Any]]:
        return [dict(doc) for doc in self._db.table("errors").all()]

    def sources(self) -> dict[str, dict[str, Any]]:
        """What the last scans read, by path: {"path", "size", "mtime_ns", "sha256"}."""
        return {doc["path"]: dict(doc) for doc in self._db.table("sources").all()}

    def cluster_counts(self, threshold: int) -> tuple[int, int] | None:
        """(exact, near) duplicate clusters at `threshold` as kept by `keep_cluster_counts`
        for the catalogue as it is now (by this version of media-catalog), or None."""
        for doc in self._db.table("meta").all():
            kept = doc.get("clusters") or {}
            if (kept.get("threshold"), kept.get("version")) == (threshold, __version__):
                return kept["exact"], kept["near"]
        return None

    def keep_cluster_counts(self, threshold: int, exact: int, near: int) -> None:
        """Keep the duplicate-cluster counts of the catalogue as it is now, until it changes
        (`record` forgets them)."""
        clusters = {"threshold": threshold, "version": __version__, "exact": exact, "near": near}
        self._replace("meta", [{"schema_version": SCHEMA_VERSION, "clusters": clusters}])

    def known_sha256(self) -> set[str]:
        return {doc["sha256"] for doc in self._db.table("images").all()}

    # -- writing -------------------------------------------------------------------------

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
    ) -> None:
        """Replace what the catalogue knew about the re-read `sources` with a scan's results,
        and forget the `removed` files (vanished since they were catalogued).

        `sources` maps each article and image file the scan read to its state
        ({"size", "mtime_ns", "sha256"}, the values a re-scan compares); `files` maps every
        image file read to the SHA-256 of its bytes. `touched` maps files found unchanged
        without being read again (the same bytes under a new time) to their new state: only
        that state is recorded.
        Images left with neither files nor occurrences are dropped.
        """
        removed = set(removed)
        gone = set(sources) | removed
        # an image file forgotten now is missing for the articles that used it
        vanished = removed | {os.path.realpath(path) for path in removed}
        occurrence_docs = []
        for doc in self.occurrences():
            if article_file(doc["article"]) in gone:
                self._changed.add(doc["article"])
                continue
            if doc.get("file") in vanished:
                doc.update(file=None, sha256=None, reason="missing")
                self._changed.add(doc["article"])
            occurrence_docs.append(doc)
        added = [occurrence.to_dict() for occurrence in occurrences]
        self._changed.update(doc["article"] for doc in added)
        occurrence_docs += added
        error_docs = [
            doc
            for doc in self.errors()
            if doc["path"] not in gone and article_file(doc.get("article") or "") not in gone
        ]
        error_docs += [error.to_dict() for error in errors]
        error_docs = list({orjson.dumps(doc): doc for doc in error_docs}.values())  # no repeats
        source_docs = {path: doc for path, doc in self.sources().items() if path not in removed}
        for path, state in (*(touched or {}).items(), *sources.items()):
            source_docs[path] = {**state, "path": path}

        images = {doc["sha256"]: doc for doc in self.images()}
        for fingerprint in fingerprints:
            images.setdefault(fingerprint.sha256, {**fingerprint.to_dict(), "files": []})
        held: dict[str, list[str]] = defaultdict(list)
        for path, sha256 in files.items():
            held[sha256].append(path)
        used = {doc["sha256"] for doc in occurrence_docs if doc["sha256"]}
        image_docs = []
        for sha256, doc in images.items():
            kept = [path for path in doc["files"] if path not in files and path not in removed]
            doc["files"] = sorted({*kept, *held.get(sha256, ())})
            if doc["files"] or sha256 in used:
                image_docs.append(doc)

        self._replace("images", image_docs)
        self._replace("occurrences", occurrence_docs)
        self._replace("errors", error_docs)
        self._replace("sources", sorted(source_docs.values(), key=lambda doc: doc["path"]))
        self._replace("meta", [{"schema_version": SCHEMA_VERSION}])

    def save(self) -> None:
        """Write the catalogue atomically (temporary file, then rename), then its read index
        (likewise) unless the index on disk is already current."""
        if not self._db.table("meta").all():
            self._db.table("meta").insert({"schema_version": SCHEMA_VERSION})
        if self._storage.changed or Index.open(self.path, SCHEMA_VERSION) is None:
            occurrences = self._storage.read().get("occurrences", {})  # the tables in memory
            for key, doc in occurrences.items():
                occurrences[key] = stored_occurrence(doc)
            tables, places, written = self._storage.save()
            write_index(
                self.path, SCHEMA_VERSION, tables, places, written, self._base, self._changed
            )
            self._base = Index.open(self.path, SCHEMA_VERSION)
            self._changed = set()


# The documented occurrence object: the ImageRef's fields, then the file its bytes came from.
OCCURRENCE_KEYS = (*(field.name for field in fields(ImageRef)), "file")
# An occurrence document as saved: the occurrence object, then "sha256" and "reason", in this
# order (then keys a newer version added, if any). It is also a search result, which
# `search --format json` prints from the catalogue file as it is (media_catalog.index).
STORED_OCCURRENCE_KEYS = (*OCCURRENCE_KEYS, "sha256", "reason")


def occurrence_object(doc: dict[str, Any]) -> dict[str, Any]:
    """The documented occurrence shape of an occurrence document (keys a catalogue written
    before they existed lacks are null, "img" for `kind`)."""
    shaped = dict(zip(OCCURRENCE_KEYS, map(doc.get, OCCURRENCE_KEYS), strict=True))
    if "kind" not in doc:
        shaped["kind"] = "img"
    return shaped


def stored_occurrence(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` as saved: STORED_OCCURRENCE_KEYS first, in order (a document from an older
    catalogue may lack some or hold them in another order), then any other key as it came (a
    newer version's)."""
    if tuple(doc) == STORED_OCCURRENCE_KEYS:
        return doc
    known = {**occurrence_object(doc), "sha256": doc.get("sha256"), "reason": doc.get("reason")}
    return {**known, **{key: value for key, value in doc.items() if key not in known}}


def image_objects(catalog: Catalog) -> list[dict[str, Any]]:
    """Every image as the documented image object: its fields, `files` and `occurrences`
    (sorted by article, then position)."""
    return with_occurrences(catalog.images(), catalog.occurrences())


def with_occurrences(
    images: list[dict[str, Any]], occurrences: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Image documents as image objects, with those of `occurrences` that use them."""
    used: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for doc in occurrences:
        if doc["sha256"]:
            used[doc["sha256"]].append(occurrence_object(doc))
    return [{**image, "occurrences": sorted(used[image["sha256"]], key=place)} for image in images]


def unresolved(catalog: Catalog) -> list[dict[str, Any]]:
    """Occurrences whose bytes could not be had, each with its `reason`."""
    return sorted(
        (
            {**occurrence_object(doc), "reason": doc["reason"]}
            for doc in catalog.occurrences()
            if not doc["sha256"]
        ),
        key=place,
    )
