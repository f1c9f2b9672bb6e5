"""The read index: `<catalogue>.index.sqlite`, derived from the catalogue at every save, so
that `lookup`, `show` and `search` answer from the few documents they need instead of parsing
the whole JSON file.

The catalogue (TinyDB JSON) stays the source of truth; the index is never edited, only
rebuilt. `write` builds it in a temporary file and renames it into place after the
catalogue was written, and stamps it with the catalogue file's identity then (size,
modification time, inode: `token`). `Index.open` returns None, and readers load the whole
catalogue as before, when the index is missing, unreadable, of another version, or stamped
for another state of the catalogue (a save killed between the two renames, an older
media-catalog, a hand edit). Deleting it is always safe.

The index holds no documents: it records where each one lies in the catalogue file (offset
and length, from the save that wrote both), and a reader reads just those bytes from the
file it checked the stamp against (search hands them on unparsed, after checking the stamp
once more). Tables (one row per document; `row` is its place in catalogue order, from 0):

    meta         key, value: version, schema (of the catalogue), token, phash (the images'
                 pHashes as one array of native uint64, in image order)
    images       row, sha256, offset, length, width, height, format (upper case), camera
                 (normalised make and model), taken, uses
    occurrences  rank (the key: its place in the order results are listed, by article,
                 then body images by position, then metadata images; the table is stored
                 in that order, so results come in it unsorted), row, sha256, offset,
                 length, path and position (its article id and position as stored), error (1
                 when an error was recorded for its article and position), one column per
                 text field of the query language, and free (the text free words search:
                 the free-text fields and its image's own IPTC/XMP words, one per line);
                 text as `normalize` leaves it

An occurrence document is saved in the shape of a search result (see
media_catalog.catalog.STORED_OCCURRENCE_KEYS), so `search` returns the bytes of the documents
it finds as they lie in the file.

Folding the text is most of the work of a build, so `write` takes it from the previous index
for the occurrences of articles that did not change since it was written (`base`, `changed`):
a re-scan that changes a few articles folds only their text.

Search translates each parsed term into SQL over those columns (LIKE '%…%' on the normalised
text, which is Python's `in` there: see `_substring`); the values both paths compare come
from the functions below.
Normalised text holds no line break, so no word is found across two lines of `free`.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import stat
import tempfile
import weakref
from array import array
from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from .errors import CatalogError
from .querylang import FREE_TEXT_FIELDS, TEXT_FIELDS, Term
from .text import normalize

VERSION = 5
_LIKE_LIMIT = 50_000  # SQLite's longest LIKE pattern in bytes (SQLITE_MAX_LIKE_PATTERN_LENGTH)


def index_path(catalogue: Path) -> Path:
    return catalogue.with_name(catalogue.name + ".index.sqlite")


def token(stat: os.stat_result) -> str:
    """The identity of a catalogue file."""
    return f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ino}"


# -- the values search compares, for both paths ---------------------------------------------


def field_text(doc: dict[str, Any], field: str) -> str:
    """An occurrence's text field as search compares it."""
    return normalize(doc.get(field) or "")


_EMBEDDED = ("caption", "headline", "creator", "credit", "alt_text", "extended_description")


def embedded_text(image: dict[str, Any] | None) -> str:
    """The words the photo carries itself (IPTC/XMP; see media_catalog.metadata), which free
    words also search."""
    embedded = (image or {}).get("embedded")
    if not embedded:
        return ""
    words = [*(embedded.get(key) or "" for key in _EMBEDDED), *embedded.get("keywords", [])]
    return "\n".join(normalize(text) for text in words)


def camera_text(image: dict[str, Any]) -> str:
    exif = image["exif"]
    return normalize(f"{exif.get('make') or ''} {exif.get('model') or ''}")


def uses(images: Iterable[dict[str, Any]], occurrences: Iterable[dict[str, Any]]) -> Counter[str]:
    """Places each image is used: occurrences plus files no occurrence points at."""
    counts: Counter[str] = Counter()
    pointed: set[str] = set()
    for doc in occurrences:
        if doc["sha256"]:
            counts[doc["sha256"]] += 1
            pointed.add(doc["file"])
    for image in images:
        counts[image["sha256"]] += sum(1 for path in image["files"] if path not in pointed)
    return counts


def error_places(errors: Iterable[dict[str, Any]]) -> set[tuple[str, int | None]]:
    """(article, position) of every recorded error."""
    return {(error["article"], error["position"]) for error in errors}


# -- writing ---------------------------------------------------------------------------------

_SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value);
CREATE TABLE images (
    row INTEGER PRIMARY KEY, sha256 TEXT NOT NULL, offset INTEGER NOT NULL,
    length INTEGER NOT NULL, width INTEGER, height INTEGER, format TEXT, camera TEXT NOT NULL,
    taken TEXT, uses INTEGER NOT NULL
);
CREATE TABLE occurrences (
    rank INTEGER PRIMARY KEY, row INTEGER NOT NULL, sha256 TEXT, offset INTEGER NOT NULL,
    length INTEGER NOT NULL, path TEXT NOT NULL, position INTEGER, error INTEGER NOT NULL,
    {", ".join(f"{field} TEXT NOT NULL" for field in TEXT_FIELDS)}, free TEXT NOT NULL
);
"""
_INDEXES = """
CREATE INDEX images_sha256 ON images (sha256);
CREATE INDEX occurrences_sha256 ON occurrences (sha256);
CREATE INDEX occurrences_row ON occurrences (row);
"""


Places = dict[str, dict[str, tuple[int, int]]]


def write(
    catalogue: Path,
    schema: int,
    tables: dict[str, dict[str, Any]],
    places: Places,
    written: os.stat_result,
    base: Index | None = None,
    changed: Collection[str] = (),
) -> None:
    """Build the index of the catalogue just written at `catalogue` and rename it into place.

    `tables` are the TinyDB tables written ({table: {id: document}}), `places` where each
    document lies in the file ({table: {id: (offset, length)}}), `written` the file's
    `os.stat` as the writer left it (what the index is stamped with). `base`, when given, is the
    index of the catalogue these tables were made from, in which only the occurrences of the
    `changed` articles (article ids) were removed or added: the others keep their order, and
    their folded text is taken from it.
    """
    target = index_path(catalogue)
    tmp = None
    try:
        fd, name = tempfile.mkstemp(
            prefix=f".{catalogue.name}.index.", suffix=".tmp", dir=catalogue.parent
        )
        os.close(fd)
        tmp = Path(name)
        db = sqlite3.connect(tmp)
        try:
            _fill(db, token(written), schema, tables, places, base, changed)
        finally:
            db.close()
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)  # a renamed index is a whole one, even after a power cut
            # the catalogue's permissions, once written (a read-only mode would stop SQLite)
            os.fchmod(fd, stat.S_IMODE(written.st_mode))
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except (OSError, sqlite3.Error) as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise CatalogError(
            f"the catalogue {catalogue} was saved, but its read index {target} could not be "
            f"written ({exc}); reading falls back to the whole catalogue. Free some space or "
            "check the folder's permissions, then scan again.",
            path=catalogue,
        ) from exc
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise


def _fill(
    db: sqlite3.Connection,
    stamp: str,
    schema: int,
    tables: dict[str, Any],
    places: Places,
    base: Index | None,
    changed: Collection[str],
) -> None:
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.executescript(_SCHEMA)
    images = tables.get("images", {})
    occurrences = tables.get("occurrences", {})
    counts = uses(images.values(), occurrences.values())
    db.executemany(
        "INSERT INTO images VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (
                row,
                image["sha256"],
                *places["images"][key],
                image["width"],
                image["height"],
                image["format"].upper(),
                camera_text(image),
                image["exif"].get("taken"),
                counts[image["sha256"]],
            )
            for row, (key, image) in enumerate(images.items())
        ),
    )
    failed = error_places(tables.get("errors", {}).values())
    embedded = {image["sha256"]: embedded_text(image) for image in images.values()}
    folded = _folded_text(occurrences.values(), base, set(changed))
    docs = list(occurrences.values())
    rank = [0] * len(docs)
    for listed, row in enumerate(sorted(range(len(docs)), key=lambda row: place(docs[row]))):
        rank[row] = listed
    free = [TEXT_FIELDS.index(field) for field in FREE_TEXT_FIELDS]
    marks = ", ".join("?" * (9 + len(TEXT_FIELDS)))
    db.executemany(
        f"INSERT INTO occurrences VALUES ({marks})",
        (
            (
                rank[row],
                row,
                doc["sha256"],
                *places["occurrences"][key],
                doc["article"],
                doc["position"],
                (doc["article"], doc["position"]) in failed,
                *text,
                "\n".join([*(text[i] for i in free), embedded.get(doc["sha256"] or "", "")]),
            )
            for row, ((key, doc), text) in enumerate(zip(occurrences.items(), folded, strict=True))
        ),
    )
    db.executescript(_INDEXES)
    codes = array("Q", (int(image["phash"], 16) for image in images.values()))
    db.executemany(
        "INSERT INTO meta VALUES (?, ?)",
        [("version", VERSION), ("schema", schema), ("token", stamp), ("phash", codes.tobytes())],
    )
    db.commit()


def place(occurrence: dict[str, Any]) -> tuple[str, bool, int]:
    """Sort key of an occurrence: article, then body images by position, then metadata
    images (position null)."""
    position = occurrence["position"]
    return occurrence["article"], position is None, position or 0


def _folded_text(
    occurrences: Iterable[dict[str, Any]], base: Index | None, changed: set[str]
) -> Iterator[tuple[str, ...]]:
    """Each occurrence's text fields as `normalize` leaves them (TEXT_FIELDS order): from
    `base` for the articles not `changed`, folded here for the others. An occurrence that is
    not where `base` says (another place or image) stops the reuse: from then on all is folded
    here."""
    text = functools.cache(normalize)  # article paths and titles repeat: normalise each once
    previous = base.folded_text(changed) if base is not None else iter(())
    for doc in occurrences:
        if doc["article"] not in changed:
            kept = next(previous, None)
            if kept is not None and kept[:3] == (doc["article"], doc["position"], doc["sha256"]):
                yield kept[3:]
                continue
            previous = iter(())
        yield tuple(text(doc.get(field) or "") for field in TEXT_FIELDS)


# -- reading ---------------------------------------------------------------------------------


class Index:
    """An open read index and the catalogue file it describes; see the module's docstring.
    `Index.open` checks that one describes the other."""

    def __init__(self, db: sqlite3.Connection, catalogue: int, stamp: str) -> None:
        self._db = db
        self._catalogue = catalogue  # a descriptor of the very file the stamp matched
        self._stamp = stamp
        weakref.finalize(self, db.close)
        weakref.finalize(self, os.close, catalogue)

    def describes(self, catalogue: Path) -> bool:
        """Whether the file at `catalogue` is still the one this index describes."""
        try:
            return token(os.fstat(self._catalogue)) == token(os.stat(catalogue))
        except OSError:
            return False

    @classmethod
    def open(cls, catalogue: Path, schema: int) -> Index | None:
        """The index of `catalogue` if it describes the file as it is now, else None."""
        path = index_path(catalogue)
        if not path.is_file():
            return None
        try:
            fd = os.open(catalogue, os.O_RDONLY)
        except OSError:
            return None
        try:
            # immutable: the file is only ever replaced, never changed, so no locking is needed;
            # any thread: the garbage collector may close it from whichever thread it runs in
            db = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True, check_same_thread=False
            )
            # read through a memory map (a third faster to scan): for the same reason as
            # immutable, the file never changes under it
            db.execute(f"PRAGMA mmap_size = {1 << 30}")
            meta = dict(db.execute("SELECT key, value FROM meta WHERE key != 'phash'"))
            expected = {"version": VERSION, "schema": schema, "token": token(os.fstat(fd))}
            if meta == expected:
                return cls(db, fd, meta["token"])
            db.close()
        except sqlite3.Error:
            pass
        os.close(fd)
        return None

    def folded_text(self, changed: set[str]) -> Iterator[tuple[Any, ...]]:
        """(article, position, sha256, *folded text fields) of the occurrences of the articles
        not `changed`, in catalogue order."""
        columns = ", ".join(TEXT_FIELDS)
        for row in self._db.execute(
            f"SELECT path, position, sha256, {columns} FROM occurrences ORDER BY row"
        ):
            if row[0] not in changed:
                yield row

    def _raw(self, rows: Iterable[tuple[int, int]]) -> list[bytes]:
        """The bytes of the documents at these (offset, length) places of the catalogue file
        (`pread`: a file rewritten in place by hand meanwhile gives wrong bytes, never a
        crash)."""
        return [os.pread(self._catalogue, length, offset) for offset, length in rows]

    def _docs(self, rows: Iterable[tuple[int, int]]) -> list[dict[str, Any]]:
        """The documents at these (offset, length) places of the catalogue file."""
        return [orjson.loads(raw) for raw in self._raw(rows)]

    def images_with_prefix(self, prefix: str) -> list[dict[str, Any]]:
        """Image documents whose SHA-256 starts with `prefix` (lower-case hex digits)."""
        return self._docs(
            self._db.execute(
                "SELECT offset, length FROM images WHERE sha256 GLOB ? ORDER BY row",
                (prefix + "*",),
            )
        )

    def images_at(self, rows: list[int]) -> list[dict[str, Any]]:
        """Image documents at these rows (positions in `phash_codes`), in the order given."""
        found = {
            row: place
            for row, *place in self._db.execute(
                "SELECT row, offset, length FROM images "
                "WHERE row IN (SELECT value FROM json_each(?))",
                (orjson.dumps(rows),),
            )
        }
        return self._docs(found[row] for row in rows)

    def phash_codes(self) -> array[int]:
        """Every image's pHash, in catalogue order."""
        (blob,) = self._db.execute("SELECT value FROM meta WHERE key = 'phash'").fetchone()
        codes = array("Q")
        codes.frombytes(blob)
        return codes

    def occurrences_of(self, sha256s: Iterable[str]) -> list[dict[str, Any]]:
        """Occurrence documents of these images, in catalogue order."""
        return self._docs(
            self._db.execute(
                "SELECT offset, length FROM occurrences "
                "WHERE sha256 IN (SELECT value FROM json_each(?)) ORDER BY row",
                (orjson.dumps(sorted(set(sha256s))),),
            )
        )

    def search(self, terms: list[Term], limit: int | None = None) -> tuple[int, list[bytes]] | None:
        """How many occurrences match every term, and the first `limit` of them (all when
        None) by article, then position, each as the JSON bytes of its document; None when a
        term needs what the index does not hold (dup: the duplicate clusters), or when the
        catalogue file was rewritten in place meanwhile (its bytes are handed on unparsed)."""
        conditions, params = ["1"], []
        join = ""
        for term in terms:
            translated = _condition(term)
            if translated is None:
                return None
            sql, values, needs_image = translated
            if needs_image:
                join = "LEFT JOIN images i ON i.sha256 = o.sha256"
                sql = f"(i.sha256 IS NOT NULL AND {sql})"
            conditions.append(f"NOT ({sql})" if term.negated else f"({sql})")
            params += values
        # Occurrences are stored in rank order, so alone they are read in it without a sort.
        # With an image term, `+` stops SQLite from choosing that order (a scan of every
        # occurrence, looking up its image each time) over picking the matching images first
        # and sorting their occurrences, which is far quicker.
        order = "+o.rank" if join else "o.rank"
        found = self._db.execute(
            f"SELECT o.offset, o.length FROM occurrences o {join} "
            f"WHERE {' AND '.join(conditions)} ORDER BY {order}",
            params,
        ).fetchall()
        raw = self._raw(found[:limit])
        if token(os.fstat(self._catalogue)) != self._stamp:
            return None  # rewritten in place while being read (by hand): read it whole
        return len(found), raw


def _condition(term: Term) -> tuple[str, list[Any], bool] | None:
    """SQL true exactly when `term` (not negated) matches: (sql, parameters, needs the image)."""
    field, value = term.field, term.value
    if field is None:
        return (*_substring("o.free", value), False)
    if field in TEXT_FIELDS:
        return (*_substring(f"o.{field}", value), False)
    if field == "unresolved":
        return "(o.sha256 IS NULL) = ?", [value], False
    if field == "error":
        return "o.error = ?", [value], False
    if field == "format":
        return "i.format = ?", [value], True
    if field == "camera":
        return (*_substring("i.camera", value), True)
    if field == "taken":
        low, high = value  # type: ignore[misc]
        parts, params = ["i.taken IS NOT NULL AND i.taken != ''"], []
        if low is not None:
            parts.append("substr(i.taken, 1, ?) >= ?")
            params += [len(low), low]
        if high is not None:
            parts.append("substr(i.taken, 1, ?) <= ?")
            params += [len(high), high]
        return " AND ".join(parts), params, True
    if field in ("width", "height", "uses"):
        low, high = value  # type: ignore[misc]
        parts, params = ["1"], []
        if low is not None:
            parts.append(f"i.{field} >= ?")
            params.append(low)
        if high is not None:
            parts.append(f"i.{field} <= ?")
            params.append(high)
        return " AND ".join(parts), params, True
    return None  # dup


def _substring(column: str, value: str) -> tuple[str, list[Any]]:
    """SQL true when `column` holds `value`, and its parameters. LIKE runs up to twice as
    fast as instr(), which counts characters as it goes; its folding of ASCII letters changes
    nothing here, since `normalize` leaves none in upper case (tests/test_text.py checks that
    for every character), nor a NUL, where LIKE would stop. SQLite takes no LIKE pattern
    over 50,000 bytes: a longer value is looked for with instr()."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if len(escaped.encode()) + 2 > _LIKE_LIMIT:
        return f"instr({column}, ?) > 0", [value]
    return f"{column} LIKE ? ESCAPE '\\'", [f"%{escaped}%"]
