"""What each query term means, once: as an SQL clause for the SQLite store and as a Python
test for the JSON store (as beets' field queries carry both `col_clause` and `match`).

The SQL runs over `occurrences o LEFT JOIN images i ON i.sha256 = o.sha256`, with the
full-text tables `texts` (an occurrence's own text fields, rowid = o.id), `article_texts` (an
article's path and title, rowid = o.article_id) and `image_texts` (an image's embedded words,
rowid = i.id), and `o.src` and `i.camera`, all holding text as `normalize` leaves it,
and the temp tables `near` (the SHA-256s in near-duplicate clusters) and `uses` (places per
image) filled for the query that asks. Text is found as a
substring, as Python's `in` finds it: the full-text tables are indexed by trigrams, so a
value of three characters or more is looked up in the index, a shorter one by scanning.
Python tests a `Subject`. Both sides compare the same values: tests/test_stores.py checks that
the two stores agree on every generated query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .querylang import FREE_TEXT_FIELDS, TEXT_FIELDS, Term
from .text import normalize

_LIKE_LIMIT = 50_000  # SQLite's longest LIKE pattern in bytes (SQLITE_MAX_LIKE_PATTERN_LENGTH)
EMBEDDED_KEYS = ("caption", "headline", "creator", "credit", "alt_text", "extended_description")
# Places each image is used: its occurrences, plus files holding it that no occurrence points
# at; the SQLite store puts them in `temp.uses` for a query with a `uses:` term.
USES_SELECT = (
    "SELECT sha256, count(*) FROM (SELECT sha256 FROM occurrences WHERE sha256 IS NOT NULL"
    " UNION ALL SELECT f.sha256 FROM files f WHERE NOT EXISTS (SELECT 1 FROM occurrences p"
    " WHERE p.file = f.path)) GROUP BY sha256"
)
USES_SQL = "coalesce((SELECT n FROM temp.uses u WHERE u.sha256 = i.sha256), 0)"


def embedded_text(image: dict[str, Any] | None) -> str:
    """The words the photo carries itself (IPTC/XMP), normalised, one per line: free words
    search them too."""
    embedded = (image or {}).get("embedded")
    if not embedded:
        return ""
    words = [*(embedded.get(key) or "" for key in EMBEDDED_KEYS), *embedded.get("keywords", [])]
    return "\n".join(normalize(text) for text in words)


def camera_text(image: dict[str, Any]) -> str:
    exif = image["exif"]
    return normalize(f"{exif.get('make') or ''} {exif.get('model') or ''}")


@dataclass
class Subject:
    """An occurrence as the Python side of a term sees it: its doc, its image (None when
    unresolved) and the catalogue-wide facts about it."""

    doc: dict[str, Any]
    image: dict[str, Any] | None
    uses: int = 0
    near: bool = False
    error: bool = False

    def text(self, field: str) -> str:
        return normalize(self.doc.get(field) or "")


@dataclass(frozen=True)
class Clause:
    """A term compiled: `sql` with its `params` is true exactly when `match` is."""

    sql: str
    params: tuple[Any, ...]
    match: Callable[[Subject], bool]


def compile_term(term: Term) -> Clause:
    """The clause of `term`, negation included. No clause is ever NULL in SQL (an image term
    tests `i.sha256 IS NOT NULL` first), so NOT negates it as Python's `not` does."""
    clause = _clause(term.field, term.value)
    if not term.negated:
        return clause
    return Clause(f"NOT {clause.sql}", clause.params, lambda s: not clause.match(s))


def _clause(field: str | None, value: Any) -> Clause:
    if field is None:
        found, params = _text_sql(FREE_TEXT_FIELDS, value)
        embedded, more = _found("image_texts", ("embedded",), value)
        return Clause(
            f"({found} OR (o.sha256 IS NOT NULL AND o.sha256 IN "
            f"(SELECT e.sha256 FROM images e WHERE e.id IN ({embedded}))))",
            params + more,
            lambda s: (
                any(value in s.text(name) for name in FREE_TEXT_FIELDS)
                or value in embedded_text(s.image)
            ),
        )
    if field in TEXT_FIELDS:
        found, params = _text_sql((field,), value)
        return Clause(found, params, lambda s: value in s.text(field))
    if field == "unresolved":
        return Clause(
            "((o.sha256 IS NULL) = ?)", (value,), lambda s: (s.doc["sha256"] is None) == value
        )
    if field == "error":
        return Clause(
            "(EXISTS (SELECT 1 FROM errors e WHERE e.article = o.article"
            " AND e.position IS o.position) = ?)",
            (value,),
            lambda s: s.error == value,
        )
    if field == "credited":
        return Clause(
            "((SELECT json_extract(CAST(d.doc AS TEXT), '$.credit_source')"
            " FROM occurrence_docs d WHERE d.id = o.id) IS ?)",
            (value,),
            lambda s: s.doc.get("credit_source") == value,
        )
    if field == "dup":
        return Clause(
            "((o.sha256 IS NOT NULL AND o.sha256 IN (SELECT sha256 FROM temp.near)) = ?)",
            (value,),
            lambda s: s.near == value,
        )
    return _image_clause(field, value)


def _image_clause(field: str, value: Any) -> Clause:
    """A term on the image: false for an unresolved reference."""
    if field == "format":
        sql, params = "upper(i.format) = ?", (value,)
        test: Callable[[Subject], bool] = lambda s: s.image["format"].upper() == value  # noqa: E731
    elif field == "camera":
        sql, params = _substring("i.camera", value)
        test = lambda s: value in camera_text(s.image)  # noqa: E731
    elif field == "taken":
        sql, params = _range("i.taken", value, prefix=True)
        test = lambda s: _in_range(s.image["exif"].get("taken"), value)  # noqa: E731
    else:  # width, height, uses
        column = USES_SQL if field == "uses" else f"i.{field}"
        sql, params = _range(column, value, prefix=False)
        test = lambda s: _in_range(  # noqa: E731
            s.uses if field == "uses" else s.image[field], value
        )
    return Clause(
        f"(i.sha256 IS NOT NULL AND {sql})",
        params,
        lambda s: s.image is not None and test(s),
    )


def _range(column: str, bounds: Any, *, prefix: bool) -> tuple[str, tuple[Any, ...]]:
    """SQL true when `column` lies within (low, high), inclusive; with `prefix`, ISO dates
    compared on the bounds' length, and a missing date never in range."""
    low, high = bounds
    parts = [f"{column} IS NOT NULL AND {column} != ''"] if prefix else ["1"]
    params: list[Any] = []
    for bound, op in ((low, ">="), (high, "<=")):
        if bound is None:
            continue
        if prefix:
            parts.append(f"substr({column}, 1, ?) {op} ?")
            params += [len(bound), bound]
        else:
            parts.append(f"{column} {op} ?")
            params.append(bound)
    return "(" + " AND ".join(parts) + ")", tuple(params)


def _in_range(found: Any, bounds: Any) -> bool:
    """Whether `found` (a number, or an ISO date compared on the bounds' length) lies in
    (low, high), inclusive; an empty date never does."""
    if found is None or found == "":
        return False
    low, high = bounds
    if isinstance(found, str):
        return (low is None or found[: len(low)] >= low) and (
            high is None or found[: len(high)] <= high
        )
    return (low is None or found >= low) and (high is None or found <= high)


# Where the SQLite store keeps each text field's search text (see store/sqlite.py).
_IN_TABLE = {
    **dict.fromkeys(("alt", "caption", "credit", "title"), ("texts", "o.id")),
    **dict.fromkeys(("article", "article_title"), ("article_texts", "o.article_id")),
}


def _text_sql(fields: tuple[str, ...], value: str) -> tuple[str, tuple[Any, ...]]:
    """SQL true when one of the text `fields` holds `value`."""
    parts, params = [], ()
    for table, key in dict.fromkeys(_IN_TABLE[f] for f in fields if f in _IN_TABLE):
        columns = tuple(f for f in fields if _IN_TABLE.get(f) == (table, key))
        found, more = _found(table, columns, value)
        parts.append(f"{key} IN ({found})")
        params += more
    if "src" in fields:  # as written, not worth indexing: a field term reads every row
        found, more = _substring("o.src", value)
        parts.append(found)
        params += more
    return "(" + " OR ".join(parts) + ")", params


def _found(table: str, columns: tuple[str, ...], value: str) -> tuple[str, tuple[Any, ...]]:
    """SQL selecting the rowids of `table` (a trigram full-text table) one of whose
    `columns` holds `value`: a phrase query on the index (a trigram phrase is a substring),
    or for fewer than three characters, which make no trigram, instr() over each column (which
    the full-text table leaves to SQLite, where it would answer GLOB itself, and wrongly)."""
    if len(value) >= 3:
        query = "{" + " ".join(columns) + '} : "' + value.replace('"', '""') + '"'
        return f"SELECT rowid FROM {table} WHERE {table} MATCH ?", (query,)
    where = " OR ".join(f"instr({column}, ?) > 0" for column in columns)
    return f"SELECT rowid FROM {table} WHERE {where}", (value,) * len(columns)


def _substring(column: str, value: str) -> tuple[str, tuple[Any, ...]]:
    """SQL true when `column` holds `value`. LIKE runs up to twice as fast as instr(); its
    folding of ASCII letters changes nothing here, since `normalize` leaves none in upper
    case, nor a NUL, where LIKE would stop. SQLite takes no LIKE pattern over 50,000 bytes:
    a longer value is looked for with instr()."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if len(escaped.encode()) + 2 > _LIKE_LIMIT:
        return f"(instr({column}, ?) > 0)", (value,)
    return f"({column} LIKE ? ESCAPE '\\')", (f"%{escaped}%",)
