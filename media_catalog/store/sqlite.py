"""The SQLite store: authoritative tables changed in place, for archives of millions of photos.

Every `write` is one transaction (BEGIN IMMEDIATE … COMMIT): a crash, Ctrl-C or SIGKILL loses
at most the change in flight. The database is in WAL mode: a process reads one snapshot
until it writes, never waiting for a writer; a second writer waits (`busy_timeout`), and is
told so through `on_wait`.

Tables (schema 1):

    meta             key, value: schema_version, generation (counts writes), kept values
    images           one row per SHA-256: pHash, its four 16-bit bands (indexed with the
                     pHash, probed by pigeonhole), size and format (indexed, for stats),
                     date taken, folded camera
    image_docs       the image doc as JSON (rowid = the image's)
    image_texts      full-text (trigram) index of its embedded words (rowid = the image's)
    files            path -> SHA-256
    occurrences      article file (`source`), article, position, SHA-256, file, reason,
                     tracking, `article_id`, folded src
    occurrence_docs  the stored doc as JSON (rowid = the occurrence's)
    texts            full-text (trigram) index of its alt, caption, credit and title
    articles         each (article, title) as search folds them, once; article_texts indexes them
    errors           the doc as JSON (unique), with its path, article file and place
    sources          path -> state as JSON
    unswept          images a write left unused without dropping them (Change.sweep)

Rows are numbered by the writer, so that a row, its doc and its text share a rowid; triggers
delete the doc and text with the row. Text is as `normalize` leaves it.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import sqlite3
from collections.abc import Callable, Collection, Container, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from ..errors import CatalogError
from ..querylang import Term
from ..records import ErrorRecord, ImageRecord, OccurrenceRecord, SourceRecord
from ..terms import USES_SELECT, camera_text, compile_term, embedded_text
from ..text import normalize
from . import failure
from .base import (
    BUCKETS,
    Change,
    Store,
    article_file,
    refuse_newer,
    refuse_read_only,
)

SCHEMA_VERSION = 1
CACHE_KIB = 256 * 1024  # SQLite's page cache per connection
BUSY_TIMEOUT_S = 600.0
# Search text: an occurrence's own text fields in `texts` (rowid = its id), its article's path
# and title once per article in `article_texts` (rowid = articles.id), its src in a column.
OWN_TEXT = ("alt", "caption", "credit", "title")
ARTICLE_TEXT = ("article", "article_title")
_TRIGRAMS = "'trigram case_sensitive 1'"  # text is folded by `normalize` already
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY, sha256 TEXT NOT NULL UNIQUE, phash INTEGER NOT NULL,
    b0 INTEGER AS (phash & 65535), b1 INTEGER AS ((phash >> 16) & 65535),
    b2 INTEGER AS ((phash >> 32) & 65535), b3 INTEGER AS ((phash >> 48) & 65535),
    width INTEGER NOT NULL, height INTEGER NOT NULL, format TEXT NOT NULL, taken TEXT,
    camera TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS image_docs (id INTEGER PRIMARY KEY, doc BLOB NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS image_texts USING fts5(embedded, tokenize={_TRIGRAMS});
CREATE TRIGGER IF NOT EXISTS images_gone AFTER DELETE ON images BEGIN
    DELETE FROM image_docs WHERE id = old.id;
    DELETE FROM image_texts WHERE rowid = old.id;
END;
CREATE INDEX IF NOT EXISTS images_b0 ON images (b0, phash);
CREATE INDEX IF NOT EXISTS images_b1 ON images (b1, phash);
CREATE INDEX IF NOT EXISTS images_b2 ON images (b2, phash);
CREATE INDEX IF NOT EXISTS images_b3 ON images (b3, phash);
CREATE INDEX IF NOT EXISTS images_size ON images (format, width, height);
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, sha256 TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS files_sha256 ON files (sha256);
CREATE TABLE IF NOT EXISTS occurrences (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL, article TEXT NOT NULL, position INTEGER,
    sha256 TEXT, file TEXT, reason TEXT, tracking INTEGER NOT NULL,
    article_id INTEGER NOT NULL, src TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS occurrence_docs (id INTEGER PRIMARY KEY, doc BLOB NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS texts USING fts5({", ".join(OWN_TEXT)}, tokenize={_TRIGRAMS});
CREATE TABLE IF NOT EXISTS articles (
    id INTEGER PRIMARY KEY, article TEXT NOT NULL, title TEXT NOT NULL, UNIQUE (article, title)
);
CREATE VIRTUAL TABLE IF NOT EXISTS article_texts USING fts5(
    {", ".join(ARTICLE_TEXT)}, tokenize={_TRIGRAMS}
);
CREATE TRIGGER IF NOT EXISTS occurrences_gone AFTER DELETE ON occurrences BEGIN
    DELETE FROM occurrence_docs WHERE id = old.id;
    DELETE FROM texts WHERE rowid = old.id;
END;
CREATE INDEX IF NOT EXISTS occurrences_source ON occurrences (source);
CREATE INDEX IF NOT EXISTS occurrences_article_id ON occurrences (article_id);
CREATE INDEX IF NOT EXISTS occurrences_sha256 ON occurrences (sha256, file);
CREATE INDEX IF NOT EXISTS occurrences_place ON occurrences (article, position IS NULL, position);
CREATE INDEX IF NOT EXISTS occurrences_file ON occurrences (file) WHERE file IS NOT NULL;
CREATE TABLE IF NOT EXISTS errors (
    id INTEGER PRIMARY KEY, path TEXT, source TEXT NOT NULL, article TEXT, position INTEGER,
    code TEXT NOT NULL, doc BLOB NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS errors_path ON errors (path);
CREATE INDEX IF NOT EXISTS errors_source ON errors (source);
CREATE INDEX IF NOT EXISTS errors_place ON errors (article, position);
CREATE TABLE IF NOT EXISTS sources (path TEXT PRIMARY KEY, doc BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS unswept (sha256 TEXT PRIMARY KEY) WITHOUT ROWID;
"""
# The secondary indexes, which a bulk load builds at its end.
_INDEXES = [line for line in _SCHEMA.splitlines() if line.startswith("CREATE INDEX")]
_INDEX_NAMES = [line.split()[5] for line in _INDEXES]
_ORDER = "o.article, o.position IS NULL, o.position, o.id"
# Probing the pHash bands pays while fewer bit patterns are probed than this; beyond it
# (large distances) every code is read.
_MAX_PROBES = 4096


def _signed(code: int) -> int:
    """A 64-bit code as SQLite's signed INTEGER."""
    return code - (1 << 64) if code >> 63 else code


def _within(roots: Collection[str], column: str) -> tuple[str, list[str]]:
    """SQL true when `column` is one of `roots` or lies below one (a range on the index)."""
    parts, params = [], []
    for root in roots:
        root = root.rstrip(os.sep)
        parts.append(f"({column} = ? OR ({column} >= ? AND {column} < ?))")
        params += [root, root + os.sep, root + chr(ord(os.sep) + 1)]
    return "(" + (" OR ".join(parts) or "0") + ")", params


class SQLiteStore(Store):
    """A catalogue in an SQLite file (created if absent and `create`)."""

    def __init__(self, path: Path, *, create: bool = True, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self._on_wait: Callable[[], None] | None = None
        if not path.exists() and not create:
            raise CatalogError(
                f"no catalogue at {path}; run `media-catalog scan PATH --db {path}` first, "
                "or pass --db",
                path=path,
            )
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=0)
            self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            # WAL with synchronous NORMAL: a commit survives a crash or SIGKILL of the
            # process; only a power cut may take back the last commits, never corrupt
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            # copy the write-ahead log into the database every 64 MiB rather than 4: pages
            # changed by several commits (the indexes') are written back once
            self._db.execute("PRAGMA wal_autocheckpoint = 16384")
            self._db.execute("PRAGMA temp_store = MEMORY")
            self._setup()
        except sqlite3.DatabaseError as exc:
            damaged = failure(exc, path) if "malformed" in str(exc) else None
            raise CatalogError(
                damaged
                or f"{path} is not a readable SQLite catalogue ({exc}); it was left untouched. "
                "Pass another --db.",
                path=path,
            ) from exc

    def _setup(self) -> None:
        if not self._db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone():
            self._db.execute("PRAGMA journal_mode = WAL")
            # (another process may be creating it too: every statement is idempotent)
            self._db.executescript(
                f"BEGIN IMMEDIATE; {_SCHEMA} INSERT OR IGNORE INTO meta VALUES "
                f"('schema_version', {SCHEMA_VERSION}), ('generation', 0); COMMIT;"
            )
        version = self._meta("schema_version")
        if not isinstance(version, int):
            raise CatalogError(
                f"{self.path} is an SQLite file but not a media-catalog catalogue; "
                "pass another --db.",
                path=self.path,
            )
        refuse_newer(self.path, version, SCHEMA_VERSION)
        self._generation = self._meta("generation")
        self._db.execute("BEGIN")  # reads see one state, until this process writes

    def _meta(self, key: str) -> Any:
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.OperationalError:
            return None
        return row[0] if row else None

    @contextmanager
    def _transaction(self, wait: bool = True) -> Iterator[None]:
        """BEGIN IMMEDIATE … COMMIT, then a new read snapshot. A writer holding the database
        makes this one wait (`on_wait` is told), unless not `wait`: then CatalogError."""
        db = self._db
        if db.in_transaction:
            db.execute("COMMIT")  # (the read snapshot: nothing was written in it)
        try:
            db.execute("PRAGMA busy_timeout = 0")
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if not wait or "locked" not in str(exc):
                    raise
                if self._on_wait is not None:
                    self._on_wait()
                db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
                db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if not db.in_transaction:
                db.execute("BEGIN")
            if "locked" not in str(exc):
                raise CatalogError(
                    f"cannot write the catalogue {self.path}: {exc}", path=self.path
                ) from exc
            waited = f" and stayed locked for {BUSY_TIMEOUT_S:.0f} s" if wait else ""
            raise CatalogError(
                f"{self.path} is being written by another process{waited} ({exc}); "
                "try again when it has finished.",
                path=self.path,
            ) from exc
        finally:
            db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        try:
            yield
            db.execute("COMMIT")
        except BaseException as exc:
            if db.in_transaction:  # (SQLite rolls back by itself after some errors)
                db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise CatalogError(
                    f"cannot write the catalogue {self.path}: {exc}; the last change was not "
                    "saved. Free some space or check the folder's permissions.",
                    path=self.path,
                ) from exc
            raise
        finally:
            if not db.in_transaction:
                db.execute("BEGIN")

    # -- writing ---------------------------------------------------------------------------

    @contextmanager
    def writing(self, on_wait: Callable[[], None] | None = None) -> Iterator[SQLiteStore]:
        refuse_read_only(self.path, self.read_only)
        self._on_wait = on_wait
        try:
            if self._missing_indexes():  # a bulk load was killed before it built them
                with self._transaction():
                    for statement in _INDEXES:
                        self._db.execute(statement)
            yield self
        finally:
            self._on_wait = None

    def _missing_indexes(self) -> bool:
        present = {
            name
            for (name,) in self._db.execute("SELECT name FROM sqlite_master WHERE type='index'")
        }
        return any(name not in present for name in _INDEX_NAMES)

    def is_empty(self) -> bool:
        return not any(
            self._db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone()
            for table in ("images", "occurrences", "errors", "sources")
        )

    @contextmanager
    def bulk(self) -> Iterator[None]:
        """Into an empty catalogue, load without the secondary indexes and build them once
        at the end (sorting beats millions of scattered inserts); otherwise nothing special.
        A load killed before the end leaves them for the next writer to build."""
        if not self.is_empty():
            yield
            return
        with self._transaction():
            for name in _INDEX_NAMES:
                self._db.execute(f"DROP INDEX IF EXISTS {name}")
        try:
            yield
        finally:
            with self._transaction():
                for statement in _INDEXES:
                    self._db.execute(statement)

    def save(self) -> None:
        """Nothing to do: every write was committed as it was made."""

    @staticmethod
    def prepare(change: Change) -> Change:
        return replace(change, images=[], occurrences=[], rows=_rows(change))

    def write(self, change: Change) -> None:
        with self._transaction():
            self._write(change)
            self._generation = self._meta("generation")

    def _write(self, change: Change) -> None:
        db = self._db
        gone = change.replaced | change.removed
        db.execute("CREATE TEMP TABLE IF NOT EXISTS gone (path TEXT PRIMARY KEY)")
        db.execute("CREATE TEMP TABLE IF NOT EXISTS touched (sha256 TEXT PRIMARY KEY)")
        db.execute("DELETE FROM temp.gone")
        db.execute("DELETE FROM temp.touched")
        if gone:  # (skipped when nothing goes: a bulk load has no indexes to find it by)
            db.executemany("INSERT OR IGNORE INTO temp.gone VALUES (?)", ((p,) for p in gone))
            # images that may be left unused: those of the rows deleted or changed now
            db.execute(
                "INSERT OR IGNORE INTO temp.touched SELECT sha256 FROM occurrences "
                "WHERE source IN (SELECT path FROM temp.gone) AND sha256 IS NOT NULL"
            )
            db.execute("DELETE FROM occurrences WHERE source IN (SELECT path FROM temp.gone)")
            db.execute(
                "DELETE FROM errors WHERE path IN (SELECT path FROM temp.gone) "
                "OR source IN (SELECT path FROM temp.gone)"
            )
        if change.removed:
            vanished = change.removed | {os.path.realpath(p) for p in change.removed}
            self._mark_missing(vanished)
            db.executemany("DELETE FROM sources WHERE path = ?", ((p,) for p in change.removed))
        replaced_files = set(change.files) | change.removed
        db.executemany(
            "INSERT OR IGNORE INTO temp.touched SELECT sha256 FROM files WHERE path = ?",
            ((p,) for p in replaced_files),
        )
        db.executemany("DELETE FROM files WHERE path = ?", ((p,) for p in replaced_files))
        # the records inside an archive read again (`crawl.warc.gz#URL`): '$' follows '#'
        inside = [(f"{p}#", f"{p}$") for p in gone if ".warc" in p]
        db.executemany(
            "INSERT OR IGNORE INTO temp.touched SELECT sha256 FROM files "
            "WHERE path >= ? AND path < ?",
            inside,
        )
        db.executemany("DELETE FROM files WHERE path >= ? AND path < ?", inside)
        images, occurrences = change.rows if change.rows is not None else _rows(change)
        self._add_images(images)
        db.executemany("INSERT INTO files VALUES (?, ?)", change.files.items())
        # rows numbered here, so that each one's search text goes in under the same number
        first = self._next_id("occurrences")
        articles = self._article_ids({row.article_key for row in occurrences})
        numbered = list(zip(itertools.count(first), occurrences))
        db.executemany(
            "INSERT INTO occurrences VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ((n, *row[1:8], articles[row.article_key], row.src) for n, row in numbered),
        )
        db.executemany(
            "INSERT INTO occurrence_docs VALUES (?, ?)", ((n, row.doc) for n, row in numbered)
        )
        db.executemany(
            f"INSERT INTO texts (rowid, {', '.join(OWN_TEXT)}) VALUES (?, ?, ?, ?, ?)",
            ((n, *row.texts) for n, row in numbered),
        )
        db.executemany(
            "INSERT OR IGNORE INTO errors (path, source, article, position, code, doc) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                (
                    e["path"],
                    article_file(e.get("article") or ""),
                    e.get("article"),
                    e.get("position"),
                    e["code"],
                    orjson.dumps(e),
                )
                for e in change.errors
            ),
        )
        db.executemany(
            "INSERT OR REPLACE INTO sources VALUES (?, ?)",
            ((path, orjson.dumps(state)) for path, state in change.sources.items()),
        )
        touched = "SELECT sha256 FROM temp.touched"
        if not change.sweep:  # remembered, with the change, for the write that sweeps
            db.execute(f"INSERT OR IGNORE INTO unswept {touched}")
        else:
            db.execute("INSERT OR IGNORE INTO temp.touched SELECT sha256 FROM unswept")
            db.execute("DELETE FROM unswept")
            db.execute(
                f"DELETE FROM images WHERE sha256 IN ({touched}) "
                "AND NOT EXISTS (SELECT 1 FROM files f WHERE f.sha256 = images.sha256) "
                "AND NOT EXISTS (SELECT 1 FROM occurrences o WHERE o.sha256 = images.sha256)"
            )
        db.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")

    def _article_ids(self, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """The row in `articles` of each (path, title) folded for search (`_article_key`);
        those not there yet are added, with their search text."""
        known = {
            (article, title): row
            for article, title, row in self._among(
                "SELECT article, title, id FROM articles", "article", {a for a, _ in wanted}
            )
        }
        new = list(enumerate(sorted(wanted - known.keys()), self._next_id("articles")))
        self._db.executemany(
            "INSERT INTO articles VALUES (?, ?, ?)", ((row, *key) for row, key in new)
        )
        self._db.executemany(
            "INSERT INTO article_texts (rowid, article, article_title) VALUES (?, ?, ?)",
            ((row, *key) for row, key in new),
        )
        return {**known, **{key: row for row, key in new}}

    def _next_id(self, table: str) -> int:
        return self._db.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()[0]

    def _add_images(self, rows: list[_ImageRow]) -> None:
        """Add the images not catalogued yet, with their embedded words' search text."""
        new: dict[str, _ImageRow] = {}
        for row in rows:
            new.setdefault(row.sha256, row)  # the first of a batch, as the JSON store
        for (known,) in self._among("SELECT sha256 FROM images", "sha256", new):
            del new[known]
        numbered = list(zip(itertools.count(self._next_id("images")), new.values()))
        self._db.executemany(
            "INSERT INTO images (id, sha256, phash, width, height, format, taken, camera) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ((n, *row[:7]) for n, row in numbered),
        )
        self._db.executemany(
            "INSERT INTO image_docs VALUES (?, ?)", ((n, row.doc) for n, row in numbered)
        )
        self._db.executemany(
            "INSERT INTO image_texts (rowid, embedded) VALUES (?, ?)",
            ((n, row.embedded) for n, row in numbered if row.embedded),
        )

    def _mark_missing(self, vanished: set[str]) -> None:
        """Occurrences whose bytes came from a file now forgotten: `missing`."""
        rows = []
        for path in vanished:
            for row_id, sha256, raw in self._db.execute(
                "SELECT o.id, o.sha256, d.doc FROM occurrences o "
                "JOIN occurrence_docs d ON d.id = o.id WHERE o.file = ?",
                (path,),
            ):
                doc = orjson.loads(raw)
                doc.update(file=None, sha256=None, reason="missing")
                rows.append((orjson.dumps(doc), row_id))
                self._db.execute("INSERT OR IGNORE INTO temp.touched VALUES (?)", (sha256,))
        self._db.executemany(
            "UPDATE occurrences SET file = NULL, sha256 = NULL, reason = 'missing' WHERE id = ?",
            ((row,) for _, row in rows),
        )
        self._db.executemany("UPDATE occurrence_docs SET doc = ? WHERE id = ?", rows)

    # -- reading ---------------------------------------------------------------------------

    def source(self, path: str) -> SourceRecord | None:
        row = self._db.execute("SELECT doc FROM sources WHERE path = ?", (path,)).fetchone()
        return SourceRecord(orjson.loads(row[0])) if row else None

    def sources(self) -> dict[str, SourceRecord]:
        return {
            path: SourceRecord(orjson.loads(doc))
            for path, doc in self._db.execute("SELECT path, doc FROM sources ORDER BY path")
        }

    def catalogued_under(self, roots: Collection[str]) -> set[str]:
        found = set()
        for table, column in (("sources", "path"), ("occurrences", "source")):
            sql, params = _within(roots, column)
            found |= {
                p for (p,) in self._db.execute(f"SELECT {column} FROM {table} WHERE {sql}", params)
            }
        return found

    def known_images(self) -> Container[str]:
        return _Known(self.path)

    def images(self, sha256s: Collection[str] | None = None) -> Iterator[ImageRecord]:
        if sha256s is None:
            rows = self._db.execute(
                "SELECT i.sha256, d.doc FROM images i JOIN image_docs d ON d.id = i.id "
                "ORDER BY i.id"
            )
            files = self._db.execute("SELECT sha256, path FROM files ORDER BY sha256, path")
            held: dict[str, list[str]] = {}
            for sha256, path in files:
                held.setdefault(sha256, []).append(path)
            for sha256, doc in rows:
                yield ImageRecord({**orjson.loads(doc), "files": held.get(sha256, [])})
            return
        held = {}
        for sha256, path in self._among("SELECT sha256, path FROM files", "sha256", sha256s):
            held.setdefault(sha256, []).append(path)
        found = self._among(
            "SELECT i.id, i.sha256, d.doc FROM images i JOIN image_docs d ON d.id = i.id",
            "i.sha256",
            sha256s,
        )
        for _, sha256, doc in sorted(found):
            yield ImageRecord({**orjson.loads(doc), "files": sorted(held.get(sha256, []))})

    def occurrences(self, sha256s: Collection[str] | None = None) -> Iterator[OccurrenceRecord]:
        if sha256s is None:
            for (doc,) in self._db.execute("SELECT doc FROM occurrence_docs ORDER BY id"):
                yield OccurrenceRecord(orjson.loads(doc))
            return
        found = self._among(
            "SELECT o.id, d.doc FROM occurrences o JOIN occurrence_docs d ON d.id = o.id",
            "o.sha256",
            sha256s,
        )
        for _, doc in sorted(found):
            yield OccurrenceRecord(orjson.loads(doc))

    def _among(self, select: str, column: str, values: Collection[Any]) -> list[Any]:
        """The rows of `select` whose `column` is one of `values`."""
        rows = []
        for chunk in _chunks(sorted(values)):
            marks = ", ".join("?" * len(chunk))
            rows += self._db.execute(f"{select} WHERE {column} IN ({marks})", chunk).fetchall()
        return rows

    def image_objects(self, sha256s: Collection[str] | None = None) -> Iterator[ImageRecord]:
        if sha256s is not None:
            yield from super().image_objects(sha256s)
            return
        rows = self._db.execute("SELECT sha256 FROM images ORDER BY id")
        while chunk := [sha256 for (sha256,) in rows.fetchmany(500)]:
            yield from super().image_objects(chunk)

    def placed(self) -> Iterator[tuple[OccurrenceRecord, ImageRecord | None]]:
        for doc, image in self._db.execute(
            "SELECT od.doc, idoc.doc FROM occurrences o "
            "JOIN occurrence_docs od ON od.id = o.id "
            "LEFT JOIN images i ON i.sha256 = o.sha256 "
            "LEFT JOIN image_docs idoc ON idoc.id = i.id "
            "ORDER BY o.article, o.position IS NULL, o.position, o.sha256 IS NULL, i.id, o.id"
        ):
            found = ImageRecord(orjson.loads(image)) if image is not None else None
            yield OccurrenceRecord(orjson.loads(doc)), found

    def loose_files(self) -> Iterator[tuple[str, ImageRecord]]:
        for path, doc in self._db.execute(
            "SELECT f.path, d.doc FROM files f JOIN images i ON i.sha256 = f.sha256 "
            "JOIN image_docs d ON d.id = i.id WHERE NOT EXISTS (SELECT 1 FROM occurrences o "
            "WHERE o.sha256 = f.sha256 AND o.file = f.path) ORDER BY f.path"
        ):
            yield path, ImageRecord(orjson.loads(doc))

    def unresolved(self) -> Iterator[OccurrenceRecord]:
        for (doc,) in self._db.execute(
            "SELECT d.doc FROM occurrences o JOIN occurrence_docs d ON d.id = o.id "
            f"WHERE o.sha256 IS NULL ORDER BY {_ORDER}"
        ):
            yield OccurrenceRecord(orjson.loads(doc))

    def unresolved_under(
        self, reasons: Collection[str], roots: Collection[str]
    ) -> Iterator[OccurrenceRecord]:
        within, params = _within(roots, "source")
        marks = ", ".join("?" * len(reasons))
        for (doc,) in self._db.execute(
            "SELECT d.doc FROM occurrences o JOIN occurrence_docs d ON d.id = o.id "
            f"WHERE o.reason IN ({marks}) AND {within} ORDER BY o.id",
            [*reasons, *params],
        ):
            yield OccurrenceRecord(orjson.loads(doc))

    def errors(self) -> Iterator[ErrorRecord]:
        for (doc,) in self._db.execute("SELECT doc FROM errors ORDER BY id"):
            yield ErrorRecord(orjson.loads(doc))

    def count_errors_under(self, roots: Collection[str]) -> int:
        paths, first = _within(roots, "path")
        sources, second = _within(roots, "source")
        (count,) = self._db.execute(
            f"SELECT count(*) FROM errors WHERE {paths} OR {sources}", [*first, *second]
        ).fetchone()
        return count

    def image_count(self) -> int:
        return self._db.execute("SELECT count(*) FROM images").fetchone()[0]

    def changed(self) -> bool:
        if self._db.in_transaction:
            self._db.execute("COMMIT")  # (the read snapshot: nothing was written in it)
        try:
            return self._meta("generation") != self._generation
        finally:
            self._db.execute("BEGIN")

    def sha256s_with_prefix(self, prefix: str) -> list[str]:
        rows = self._db.execute(
            "SELECT sha256 FROM images WHERE sha256 >= ? AND sha256 < ?", (prefix, prefix + "g")
        )
        return [sha256 for (sha256,) in rows]

    def near_phash(self, phashes: list[int], distance: int) -> list[tuple[int, int, str]]:
        per_band = distance // 4
        probes = sum(math.comb(16, r) for r in range(per_band + 1))
        hits = []
        for view, target in enumerate(phashes):
            if probes * 4 > _MAX_PROBES:
                rows = dict(self._db.execute("SELECT id, phash FROM images"))
            else:
                rows = dict(self._probe(target, per_band))
            for row_id, code in rows.items():
                bits = ((code & 0xFFFF_FFFF_FFFF_FFFF) ^ target).bit_count()
                if bits <= distance:
                    hits.append((bits, view, row_id))
        hits.sort()
        sha256s = dict(self._among("SELECT id, sha256 FROM images", "id", {h[2] for h in hits}))
        return [(bits, view, sha256s[row_id]) for bits, view, row_id in hits]

    def _probe(self, target: int, per_band: int) -> Iterator[tuple[int, int]]:
        """(id, pHash) of the images one of whose four 16-bit pHash bands is within
        `per_band` bits of the target's (by pigeonhole, every image within 4 * per_band + 3
        bits is among them), read from the bands' indexes alone; an image may come twice."""
        masks = [
            sum(1 << bit for bit in bits)
            for r in range(per_band + 1)
            for bits in itertools.combinations(range(16), r)
        ]
        for band in range(4):
            key = (target >> (16 * band)) & 0xFFFF
            values = sorted({key ^ mask for mask in masks})
            for chunk in _chunks(values):
                marks = ", ".join("?" * len(chunk))
                yield from self._db.execute(
                    f"SELECT id, phash FROM images WHERE b{band} IN ({marks})", chunk
                )

    def search(
        self, terms: list[Term], limit: int | None, near: Callable[[], set[str]]
    ) -> tuple[int, Iterator[bytes]]:
        fields = {term.field for term in terms}
        if "dup" in fields:
            self._temp("near", "SELECT value, 1 FROM json_each(?)", orjson.dumps(sorted(near())))
        if "uses" in fields:
            self._temp("uses", USES_SELECT)
        clauses = [compile_term(term) for term in terms]
        where = " AND ".join(c.sql for c in clauses) or "1"
        params = [p for c in clauses for p in c.params]
        # the matching rows' places, sorted here: the planner then drives the query from the
        # full-text matches instead of walking every occurrence in place order
        found = self._db.execute(
            "SELECT o.article, o.position IS NULL, coalesce(o.position, 0), o.id "
            f"FROM occurrences o LEFT JOIN images i ON i.sha256 = o.sha256 WHERE {where}",
            params,
        ).fetchall()
        found.sort()
        return len(found), self._docs([row[3] for row in found[:limit]])

    def _temp(self, name: str, select: str, *params: Any) -> None:
        """(Re)make temp table `name` (sha256 primary key, n) from `select`."""
        self._db.execute(f"DROP TABLE IF EXISTS temp.{name}")
        self._db.execute(f"CREATE TEMP TABLE {name} (sha256 TEXT PRIMARY KEY, n INTEGER)")
        self._db.execute(f"INSERT INTO temp.{name} {select}", params)

    def _docs(self, ids: list[int]) -> Iterator[bytes]:
        """The stored docs of these occurrences, in this order, as they are read."""
        for chunk in _chunks(ids):
            marks = ", ".join("?" * len(chunk))
            docs = dict(
                self._db.execute(
                    f"SELECT id, doc FROM occurrence_docs WHERE id IN ({marks})", chunk
                )
            )
            yield from (docs[row] for row in chunk)

    def counts(self) -> dict[str, Any]:
        db = self._db
        # formats and sizes in one pass over an index holding both
        sides = "max(width, height)"
        formats, found = [], dict.fromkeys(BUCKETS, 0)
        for format, count, first, *buckets in db.execute(
            f"SELECT format, count(*), min(id), sum({sides} < 256), "
            f"sum({sides} >= 256 AND {sides} < 1024), sum({sides} >= 1024 AND {sides} < 2048), "
            f"sum({sides} >= 2048) FROM images GROUP BY format"
        ):
            formats.append((-count, first, format, count))
            for name, number in zip(BUCKETS, buckets, strict=True):
                found[name] += number
        by_count = [(format, count) for *_, format, count in sorted(formats)]
        sizes = {name: found[name] for name in BUCKETS if found[name]}
        return {
            "images": self.image_count(),
            "files": db.execute("SELECT count(*) FROM files").fetchone()[0],
            "articles": db.execute(
                "SELECT count(*) FROM (SELECT DISTINCT article FROM occurrences)"
            ).fetchone()[0],
            "occurrences": db.execute("SELECT count(*) FROM occurrences").fetchone()[0],
            "formats": dict(by_count),
            "sizes": sizes,
            "errors": dict(
                db.execute(
                    "SELECT code, count(*) AS n FROM errors GROUP BY code ORDER BY n DESC, min(id)"
                )
            ),
            "unresolved": dict(
                db.execute(
                    "SELECT reason, count(*) AS n FROM occurrences WHERE sha256 IS NULL "
                    "GROUP BY reason ORDER BY n DESC, min(id)"
                )
            ),
        }

    def fingerprints(self) -> Iterator[ImageRecord]:
        for (doc,) in self._db.execute("SELECT doc FROM image_docs ORDER BY id"):
            yield ImageRecord(orjson.loads(doc))

    def usage(self, tracking: bool) -> tuple[dict[str, tuple[int, int]], int]:
        # the occurrences counted: all, or (by default) neither tracking nor of 1×1 images
        counted = (
            "o.sha256 IS NOT NULL"
            if tracking
            else "NOT o.tracking AND (SELECT width * height FROM images i "
            "WHERE i.sha256 = o.sha256) > 1"
        )
        usage = {
            sha256: [n, articles]
            for sha256, n, articles in self._db.execute(
                f"SELECT sha256, count(*), count(DISTINCT article) FROM occurrences o "
                f"WHERE {counted} GROUP BY sha256"
            )
        }
        for sha256, loose in self._db.execute(
            f"SELECT sha256, count(*) FROM files f WHERE NOT EXISTS (SELECT 1 FROM occurrences o "
            f"WHERE o.sha256 = f.sha256 AND o.file = f.path AND {counted}) GROUP BY sha256"
        ):
            usage.setdefault(sha256, [0, 0])[0] += loose
        (total,) = self._db.execute(
            f"SELECT count(DISTINCT article) FROM occurrences o WHERE {counted}"
        ).fetchone()
        return {sha256: (n, articles) for sha256, (n, articles) in usage.items()}, total

    def kept(self, key: str) -> Any:
        kept = self._meta(f"kept:{key}")
        if kept is None:
            return None
        generation, value = orjson.loads(kept)
        return value if generation == self._generation else None

    def keep(self, key: str, value: Any) -> None:
        """(Stamped with the state this process read; never waits: when another process
        is writing, or the file is read-only, the value is counted again next time.)"""
        if self.read_only:
            return
        generation = self._generation
        try:
            with self._transaction(wait=False):
                if self._meta("generation") == generation:
                    self._db.execute(
                        "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                        (f"kept:{key}", orjson.dumps([generation, value])),
                    )
        except CatalogError:
            pass


class _ImageRow(NamedTuple):
    """What the store writes of an image doc, but its row number (the first seven are the
    `images` columns after `id`)."""

    sha256: str
    phash: int
    width: int
    height: int
    format: str
    taken: str | None
    camera: str
    doc: bytes
    embedded: str


class _OccurrenceRow(NamedTuple):
    """What the store writes of an occurrence doc, but its row number and article's (the
    second to eighth are the `occurrences` columns after `id`)."""

    article_key: tuple[str, str]
    source: str
    article: str
    position: int | None
    sha256: str | None
    file: str | None
    reason: str | None
    tracking: bool
    src: str
    doc: bytes
    texts: tuple[str, ...]


def _rows(change: Change) -> tuple[list[_ImageRow], list[_OccurrenceRow]]:
    """The rows of `change`'s images and occurrences, made without the catalogue."""
    images = [
        _ImageRow(
            doc["sha256"],
            _signed(int(doc["phash"], 16)),
            doc["width"],
            doc["height"],
            doc["format"],
            doc["exif"].get("taken"),
            camera_text(doc),
            orjson.dumps(doc),
            embedded_text(doc),
        )
        for doc in change.images
    ]
    occurrences = [
        _OccurrenceRow(
            _article_key(doc),
            article_file(doc["article"]),
            doc["article"],
            doc["position"],
            doc["sha256"],
            doc["file"],
            doc["reason"],
            bool(doc.get("tracking")),
            normalize(doc["src"] or ""),
            orjson.dumps(doc),
            tuple(normalize(doc.get(field) or "") for field in OWN_TEXT),
        )
        for doc in change.occurrences
    ]
    return images, occurrences


def _article_key(doc: dict[str, Any]) -> tuple[str, str]:
    """An occurrence's article path and title as search folds them (each article's once)."""
    return _folded(doc["article"]), _folded(doc.get("article_title") or "")


@functools.lru_cache(maxsize=1 << 16)
def _folded(text: str) -> str:
    return normalize(text)


def _chunks(values: list[Any], size: int = 500) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class _Known:
    """Catalogued SHA-256s, looked up in the database by each process (forked hashing
    workers open their own connection, read-only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pid = -1
        self._db: sqlite3.Connection | None = None

    def __contains__(self, sha256: object) -> bool:
        if self._pid != os.getpid():
            self._db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
            self._pid = os.getpid()
        assert self._db is not None
        row = self._db.execute("SELECT 1 FROM images WHERE sha256 = ?", (sha256,)).fetchone()
        return row is not None

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "_pid": -1, "_db": None}
