"""Stage 5: the catalogue. The only package that touches storage: a `Store` interface
(base.py) with two back ends, the TinyDB JSON file (jsonfile.py, the default) and SQLite
(sqlite.py, for archives of millions of photos)."""

from __future__ import annotations

from pathlib import Path

from .base import (
    JSON_IMAGES_ADVISED,
    OCCURRENCE_KEYS,
    STORED_OCCURRENCE_KEYS,
    Change,
    Store,
    article_file,
    occurrence_object,
    place,
    stored_occurrence,
)

DEFAULT_PATH = "media-catalog.json"
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")

__all__ = [
    "DEFAULT_PATH",
    "JSON_IMAGES_ADVISED",
    "OCCURRENCE_KEYS",
    "SQLITE_SUFFIXES",
    "STORED_OCCURRENCE_KEYS",
    "Change",
    "Store",
    "article_file",
    "occurrence_object",
    "open_store",
    "place",
    "stored_occurrence",
]


def open_store(path: str | Path = DEFAULT_PATH, *, create: bool = True) -> Store:
    """The catalogue at `path`: SQLite when its name ends in .sqlite, .sqlite3 or .db, else
    a TinyDB JSON file; created when absent if `create`, else CatalogError."""
    from ..errors import CatalogError

    path = Path(path)
    if path.is_symlink():  # write the catalogue the link names, not a file in its place
        path = path.resolve()
    if path.is_dir():
        raise CatalogError(f"{path} is a folder, not a catalogue file", path=path)
    if path.suffix.lower() in SQLITE_SUFFIXES:
        from .sqlite import SQLiteStore

        return SQLiteStore(path, create=create)
    from .jsonfile import JSONStore

    return JSONStore(path, create=create)
