"""The JSON store: a TinyDB file, the default for small catalogues and the portable format.

Layout (TinyDB tables in one JSON file), schema 2:

    meta         one document: {"schema_version": 2}, and "kept" (values kept until the
                 catalogue changes, such as the duplicate-cluster counts)
    images       one document per distinct image (by SHA-256): the Fingerprint + "files"
    occurrences  one document per reference, in the stored shape (STORED_OCCURRENCE_KEYS)
    errors       one document per recorded item error
    sources      one document per file a scan read: its state (see store.base)

Schema 1 catalogues are migrated in memory when opened and written as schema 2 by the next
save; newer schemas are refused. Changes are kept in memory and written by `save()` in one
go: the new file is written beside the old one and renamed over it, so a crash, Ctrl-C or
SIGKILL never leaves a half-written catalogue. Writers hold `writing()`, an exclusive lock on
`<catalogue>.lock`, so two processes never write one catalogue at once.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import stat
import sys
from collections.abc import Callable, Collection, Container, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from tinydb import Query, TinyDB
from tinydb.middlewares import CachingMiddleware
from tinydb.storages import Storage

from ..errors import CatalogError
from ..querylang import Term
from ..records import (
    ErrorRecord,
    ImageRecord,
    OccurrenceRecord,
    SourceRecord,
    stored_occurrence,
)
from .base import (
    Change,
    Store,
    article_file,
    refuse_newer,
    refuse_read_only,
    under,
)
from .docs import catalogued_docs, count_docs, errors_under_docs, search_docs, usage_docs

SCHEMA_VERSION = 2
# The lock files this process holds open: a forked child (a hashing worker) closes its copies
# at once, so that the lock goes with this process alone (a killed scan releases it however
# long its workers live) while the lock itself stays held.
_held_locks: set[int] = set()


def _close_held_locks() -> None:
    for fd in _held_locks:
        os.close(fd)
    _held_locks.clear()


os.register_at_fork(after_in_child=_close_held_locks)


class AtomicJSONStorage(Storage):
    """TinyDB storage that parses with orjson and replaces the file atomically on write."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

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
                handle.write(orjson.dumps(data))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
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


def _inside(path: str, archives: set[str]) -> bool:
    """Whether `path` is a record inside one of `archives` (`crawl.warc.gz#URL`)."""
    holder = article_file(path)
    return holder != path and holder in archives


def _file_state(path: Path) -> tuple[int, int, int] | None:
    """The file's inode, modification time and size (a save replaces the file), or None."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns, info.st_size


def _new_file(path: Path) -> tuple[int, Path]:
    """A new temporary file beside `path`, open for writing, with the permissions `path` has;
    for a new catalogue, those `open` gives a new file (0666 less the umask). A file
    replacing an existing one is made 0600 until it has that one's permissions, so that
    nobody it would keep out can open it meanwhile."""
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


class _WriteOnSave(CachingMiddleware):
    """Keep every change in memory until `save()`."""

    WRITE_CACHE_SIZE = sys.maxsize

    @property
    def changed(self) -> bool:
        return self._cache_modified_count > 0


class JSONStore(Store):
    """A catalogue in a TinyDB JSON file (a new one if absent and `create`). Nothing is
    written until `save()`; dropping the object without saving discards changes."""

    def __init__(self, path: Path, *, create: bool = True, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        if not create and not path.exists():
            raise CatalogError(
                f"no catalogue at {path}; run `media-catalog scan PATH --db {path}` first, "
                "or pass --db",
                path=path,
            )
        self._open()

    def _open(self) -> None:
        self._read_as = _file_state(self.path)
        self._storage = _WriteOnSave(AtomicJSONStorage)
        self._db = TinyDB(str(self.path), storage=self._storage)
        self._check_schema()

    def _check_schema(self) -> None:
        meta = self._db.table("meta").all()
        if not meta:
            if self._db.tables() - {"meta"}:
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
        refuse_newer(self.path, version, SCHEMA_VERSION)
        if version == 1:
            # schema 1 had no `sources`: list the articles it knows, with no size or time,
            # so the next scan re-reads them once and `--prune` knows them
            articles = sorted({article_file(o.article) for o in self.occurrences()})
            self._replace(
                "sources",
                [{"path": p, "size": None, "mtime_ns": None, "sha256": None} for p in articles],
            )
            self._replace("meta", [{"schema_version": SCHEMA_VERSION}])

    def _replace(self, name: str, docs: list[dict[str, Any]]) -> None:
        table = self._db.table(name)
        table.truncate()
        table.insert_multiple(docs)

    def _all(self, name: str) -> list[dict[str, Any]]:
        return [dict(doc) for doc in self._db.table(name).all()]

    # -- writing ---------------------------------------------------------------------------

    @contextmanager
    def writing(self, on_wait: Callable[[], None] | None = None) -> Iterator[JSONStore]:
        """Hold the catalogue's write lock; reload it first, to build on what is on disk.

        A second writer gets CatalogError at once instead of waiting. The lock is the kernel's
        (flock): it goes with the process, so a killed scan never leaves a stale lock.
        """
        refuse_read_only(self.path, self.read_only)
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
        except OSError as exc:
            if not self.path.parent.is_dir():
                raise CatalogError(
                    f"cannot write the catalogue {self.path}: the folder {self.path.parent} does "
                    "not exist. Create it or pass another --db.",
                    path=self.path,
                ) from exc
            raise CatalogError(
                f"cannot open the lock file {lock_path}: {exc.strerror or exc}; remove it if "
                "it is a link or not a file.",
                path=self.path,
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
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.ftruncate(fd, 0)
                os.write(fd, str(os.getpid()).encode())
            for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
                stale.unlink(missing_ok=True)  # left by a killed writer; we hold the lock
            self._open()
            yield self
        finally:
            _held_locks.discard(fd)
            os.close(fd)  # releases the lock

    def write(self, change: Change) -> None:
        gone = change.replaced | change.removed
        vanished = change.removed | {os.path.realpath(path) for path in change.removed}
        occurrences = []
        for doc in self._all("occurrences"):
            if article_file(doc["article"]) in gone:
                continue
            if doc.get("file") in vanished:
                doc.update(file=None, sha256=None, reason="missing")
            occurrences.append(doc)
        occurrences += change.occurrences
        errors = [
            doc
            for doc in self._all("errors")
            if doc["path"] not in gone and article_file(doc.get("article") or "") not in gone
        ]
        errors = list({orjson.dumps(d): d for d in [*errors, *change.errors]}.values())
        sources = {
            doc["path"]: doc for doc in self._all("sources") if doc["path"] not in change.removed
        }
        sources.update(change.sources)

        images = {doc["sha256"]: doc for doc in self._all("images")}
        for doc in change.images:
            images.setdefault(doc["sha256"], {**doc, "files": []})
        held: dict[str, list[str]] = {}
        for path, sha256 in change.files.items():
            held.setdefault(sha256, []).append(path)
        used = {doc["sha256"] for doc in occurrences if doc["sha256"]}
        kept_images = []
        for sha256, doc in images.items():
            kept = [
                p
                for p in doc["files"]
                if p not in change.files and p not in change.removed and not _inside(p, gone)
            ]
            doc["files"] = sorted({*kept, *held.get(sha256, ())})
            if doc["files"] or sha256 in used or not change.sweep:
                kept_images.append(doc)

        self._replace("images", kept_images)
        self._replace("occurrences", [stored_occurrence(doc) for doc in occurrences])
        self._replace("errors", errors)
        self._replace("sources", sorted(sources.values(), key=lambda doc: doc["path"]))
        self._replace("meta", [{"schema_version": SCHEMA_VERSION}])

    def is_empty(self) -> bool:
        return not any(len(self._db.table(name)) for name in self._db.tables() - {"meta"})

    def save(self) -> None:
        if not self._db.table("meta").all():
            self._db.table("meta").insert({"schema_version": SCHEMA_VERSION})
        if self._storage.changed:
            self._storage.flush()
            self._read_as = _file_state(self.path)
        # the read index media-catalog 0.1 kept beside the file, which nothing reads any more
        self.path.with_name(self.path.name + ".index.sqlite").unlink(missing_ok=True)

    # -- reading ---------------------------------------------------------------------------

    def source(self, path: str) -> SourceRecord | None:
        found = self._db.table("sources").get(Query().path == path)
        return SourceRecord(dict(found)) if found is not None else None  # type: ignore[arg-type]

    def sources(self) -> dict[str, SourceRecord]:
        return {doc["path"]: SourceRecord(doc) for doc in self._all("sources")}

    def catalogued_under(self, roots: Collection[str]) -> set[str]:
        tables = self._db.table("sources"), self._db.table("occurrences")
        return catalogued_docs(tables[0].all(), tables[1].all(), roots)

    def known_images(self) -> Container[str]:
        return {doc["sha256"] for doc in self._db.table("images").all()}

    def images(self, sha256s: Collection[str] | None = None) -> Iterator[ImageRecord]:
        table = self._db.table("images")
        docs = table.all() if sha256s is None else table.search(Query().sha256.one_of(sha256s))
        return (ImageRecord(dict(doc)) for doc in docs)

    def occurrences(self, sha256s: Collection[str] | None = None) -> Iterator[OccurrenceRecord]:
        table = self._db.table("occurrences")
        docs = table.all() if sha256s is None else table.search(Query().sha256.one_of(sha256s))
        return (OccurrenceRecord(dict(doc)) for doc in docs)

    def unresolved_under(
        self, reasons: Collection[str], roots: Collection[str]
    ) -> Iterator[OccurrenceRecord]:
        found = self._db.table("occurrences").search(
            Query().reason.one_of(reasons)
            & Query().article.test(lambda article: under(article_file(article), roots))
        )
        return (OccurrenceRecord(dict(doc)) for doc in found)

    def errors(self) -> Iterator[ErrorRecord]:
        return (ErrorRecord(doc) for doc in self._all("errors"))

    def count_errors_under(self, roots: Collection[str]) -> int:
        return errors_under_docs(self._db.table("errors").all(), roots)

    def image_count(self) -> int:
        return len(self._db.table("images"))

    def changed(self) -> bool:
        return _file_state(self.path) != self._read_as

    def sha256s_with_prefix(self, prefix: str) -> list[str]:
        found = self._db.table("images").search(Query().sha256.test(str.startswith, prefix))
        return [doc["sha256"] for doc in found]

    def near_phash(self, phashes: list[int], distance: int) -> list[tuple[int, int, str]]:
        images = self._db.table("images").all()
        codes = [int(image["phash"], 16) for image in images]
        hits = []
        for view, target in enumerate(phashes):
            for row, code in enumerate(codes):
                bits = (code ^ target).bit_count()
                if bits <= distance:
                    hits.append((bits, view, row))
        hits.sort()
        return [(bits, view, images[row]["sha256"]) for bits, view, row in hits]

    def search(
        self, terms: list[Term], limit: int | None, near: Callable[[], set[str]]
    ) -> tuple[int, Iterator[bytes]]:
        return search_docs(
            terms,
            limit,
            near,
            {doc["sha256"]: doc for doc in self._db.table("images").all()},
            self._db.table("occurrences").all(),
            self._db.table("errors").all(),
        )

    def counts(self) -> dict[str, Any]:
        return count_docs(
            self._all("images"),
            self._db.table("occurrences").all(),
            self._db.table("errors").all(),
        )

    def fingerprints(self) -> Iterator[ImageRecord]:
        for doc in self._db.table("images").all():
            yield ImageRecord({key: value for key, value in doc.items() if key != "files"})

    def usage(self, tracking: bool) -> tuple[dict[str, tuple[int, int]], int]:
        images = {doc["sha256"]: doc for doc in self._db.table("images").all()}
        return usage_docs(images, self._db.table("occurrences").all(), tracking)

    def kept(self, key: str) -> Any:
        for doc in self._db.table("meta").all():
            return (doc.get("kept") or {}).get(key)
        return None

    def keep(self, key: str, value: Any) -> None:
        """(Kept in memory: saved with the next change a writer saves.)"""
        if self.read_only:
            return
        meta = {"schema_version": SCHEMA_VERSION, "kept": {**self._kept(), key: value}}
        self._replace("meta", [meta])

    def _kept(self) -> dict[str, Any]:
        for doc in self._db.table("meta").all():
            return dict(doc.get("kept") or {})
        return {}
