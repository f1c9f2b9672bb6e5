"""Stage 5: the catalogue. The only package that touches storage: a `Store` interface
(base.py) with two back ends, the TinyDB JSON file (jsonfile.py, the default) and SQLite
(sqlite.py, for archives of millions of photos)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .base import (
    CONTRACT_LISTS,
    JSON_IMAGES_ADVISED,
    Change,
    Store,
    article_file,
    damage,
    record_problem,
    under,
)

DEFAULT_PATH = "media-catalog.json"
SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
# What a catalogue raises when its file fails under a command (see `failure`).
FAILURES = (sqlite3.DatabaseError,)

__all__ = [
    "CONTRACT_LISTS",
    "DEFAULT_PATH",
    "FAILURES",
    "JSON_IMAGES_ADVISED",
    "SQLITE_SUFFIXES",
    "Change",
    "Store",
    "article_file",
    "damage",
    "existing_catalogue",
    "failure",
    "move_advice",
    "open_store",
    "record_problem",
    "under",
]


def open_store(
    path: str | Path = DEFAULT_PATH, *, create: bool = True, read_only: bool = False
) -> Store:
    """The catalogue at `path`: SQLite when its name ends in .sqlite, .sqlite3 or .db, the
    output of a sharded scan when it is a folder holding plan.json or an object-store prefix
    (read-only), else a TinyDB JSON file; created when absent if `create`, else CatalogError.
    A `read_only` store refuses to write and keeps nothing with the catalogue (Store.keep)."""
    from ..errors import CatalogError
    from ..objects import object_url

    url = object_url(path)
    if url is not None:  # a run's output in an object store
        from .run import RunStore

        return RunStore(url)
    path = Path(path)
    sqlite = path.suffix.lower() in SQLITE_SUFFIXES  # the name given says which store
    if path.is_symlink():  # write the catalogue the link names, not a file in its place
        path = path.resolve()
    if path.is_dir():
        if (path / "plan.json").is_file():  # a sharded run's output: read-only
            from .run import RunStore

            return RunStore(path)
        raise CatalogError(f"{path} is a folder, not a catalogue file", path=path)
    if sqlite:
        from .sqlite import SQLiteStore

        return SQLiteStore(path, create=create, read_only=read_only)
    from .jsonfile import JSONStore

    return JSONStore(path, create=create, read_only=read_only)


def existing_catalogue(path: Path) -> Store | None:
    """The catalogue in the file at `path` when it is one (SQLite by its name, or a TinyDB
    file: tables of documents, where an export holds lists), else None."""
    if path.suffix.lower() in SQLITE_SUFFIXES:
        return open_store(path, create=False)
    with path.open("rb") as handle:
        start = handle.read(4096).lstrip()
    key_end = start.find(b":")
    if start[:1] == b"{" and key_end > 0 and start[key_end + 1 :].lstrip()[:1] == b"{":
        return open_store(path, create=False)
    return None


def move_advice(catalog: Store) -> str | None:
    """What to do about a JSON catalogue grown past what it suits, or None."""
    if catalog.path.suffix.lower() in SQLITE_SUFFIXES:
        return None
    images = catalog.image_count()
    if images <= JSON_IMAGES_ADVISED:
        return None
    sqlite = catalog.path.with_suffix(".sqlite")
    return (
        f"This JSON catalogue holds {images:,} images; past {JSON_IMAGES_ADVISED:,} the "
        f"SQLite store is faster and lighter: media-catalog import {catalog.path} "
        f"--db {sqlite}, then pass --db {sqlite}."
    )


def failure(exc: Exception, path: Path) -> str | None:
    """What to tell the user when the catalogue at `path` raised `exc` (one of FAILURES):
    a damaged file, a full disk, an I/O error; None for an error that is not the file's."""
    if type(exc) is sqlite3.OperationalError:
        return (
            f"the catalogue {path} could not be used: {exc} (SQLite). What it held at its "
            "last commit is kept; free disk space or check the disk, then run the command again."
        )
    if type(exc) is sqlite3.DatabaseError:
        return (
            f"the catalogue {path} is damaged: {exc} (SQLite). Restore it from a backup, or "
            f"save what can still be read: sqlite3 {path} .recover | sqlite3 recovered.sqlite, "
            "then pass --db recovered.sqlite."
        )
    return None
