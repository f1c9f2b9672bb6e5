"""Stage 5: the catalogue, a TinyDB file. The only module that touches storage.

Layout (TinyDB tables in one JSON file):

    meta         one document: {"schema_version": 1}
    images       one document per distinct image (by SHA-256): the Fingerprint + "files"
    occurrences  one document per reference: ImageRef fields + "file" and "sha256" (null
                 when unresolved) + "reason" (null when resolved)
    errors       one document per recorded item error

Changes are kept in memory and written by `save()` in one go: the new file is written beside
the old one and renamed over it, so a crash or Ctrl-C never leaves a half-written catalogue.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from tinydb import TinyDB
from tinydb.middlewares import CachingMiddleware
from tinydb.storages import Storage

from .errors import CatalogError
from .models import Fingerprint, ItemError, Occurrence

SCHEMA_VERSION = 1
DEFAULT_PATH = "media-catalog.json"
_JSONL_LINE = re.compile(r"#L\d+$")


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
            fd, name = tempfile.mkstemp(
                prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
            )
            tmp = Path(name)
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


class _WriteOnSave(CachingMiddleware):
    """Keep every change in memory until `flush()`."""

    WRITE_CACHE_SIZE = sys.maxsize


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
        self._db = TinyDB(str(self.path), storage=_WriteOnSave(AtomicJSONStorage))
        self._check_schema()

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
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise CatalogError(
                f"{self.path} was written by a newer media-catalog (schema {version}); "
                f"this version reads schema {SCHEMA_VERSION}. Upgrade media-catalog.",
                path=self.path,
            )

    # -- reading -------------------------------------------------------------------------

    def images(self) -> list[dict[str, Any]]:
        """Image documents: the Fingerprint's fields plus `files`."""
        return [dict(doc) for doc in self._db.table("images").all()]

    def occurrences(self) -> list[dict[str, Any]]:
        """Every reference: ImageRef fields plus `sha256` and `reason`."""
        return [dict(doc) for doc in self._db.table("occurrences").all()]

    def errors(self) -> list[dict[str, Any]]:
        return [dict(doc) for doc in self._db.table("errors").all()]

    def known_sha256(self) -> set[str]:
        return {doc["sha256"] for doc in self._db.table("images").all()}

    # -- writing -------------------------------------------------------------------------

    def record(
        self,
        *,
        sources: Iterable[str],
        fingerprints: Iterable[Fingerprint],
        files: dict[str, str],
        occurrences: Iterable[Occurrence],
        errors: Iterable[ItemError],
    ) -> None:
        """Replace what the catalogue knew about the re-read `sources` with a scan's results.

        `sources` are the article and image files read by the scan; `files` maps every image
        file read to the SHA-256 of its bytes.
        Images left with neither files nor occurrences are dropped.
        """
        sources = set(sources)
        occurrence_docs = [
            doc for doc in self.occurrences() if article_file(doc["article"]) not in sources
        ]
        occurrence_docs += [occurrence.to_dict() for occurrence in occurrences]
        error_docs = [
            doc
            for doc in self.errors()
            if doc["path"] not in sources and article_file(doc.get("article") or "") not in sources
        ]
        error_docs += [error.to_dict() for error in errors]

        images = {doc["sha256"]: doc for doc in self.images()}
        for fingerprint in fingerprints:
            images.setdefault(fingerprint.sha256, {**fingerprint.to_dict(), "files": []})
        held: dict[str, list[str]] = defaultdict(list)
        for path, sha256 in files.items():
            held[sha256].append(path)
        used = {doc["sha256"] for doc in occurrence_docs if doc["sha256"]}
        image_docs = []
        for sha256, doc in images.items():
            kept = [path for path in doc["files"] if path not in files]
            doc["files"] = sorted({*kept, *held.get(sha256, ())})
            if doc["files"] or sha256 in used:
                image_docs.append(doc)

        for name, docs in (
            ("images", image_docs),
            ("occurrences", occurrence_docs),
            ("errors", error_docs),
            ("meta", [{"schema_version": SCHEMA_VERSION}]),
        ):
            table = self._db.table(name)
            table.truncate()
            table.insert_multiple(docs)

    def save(self) -> None:
        """Write the catalogue atomically (temporary file, then rename)."""
        if not self._db.table("meta").all():
            self._db.table("meta").insert({"schema_version": SCHEMA_VERSION})
        self._db.storage.flush()


OCCURRENCE_KEYS = (
    *("article", "position", "src", "alt", "caption", "title", "file"),
    *("kind", "credit", "srcset", "placeholder", "base", "link"),
    *("declared_width", "declared_height", "decorative", "tracking"),
    *("context_before", "context_after", "heading"),
    *("article_title", "article_url", "article_date"),
)


def occurrence_object(doc: dict[str, Any]) -> dict[str, Any]:
    """The documented occurrence shape of an occurrence document (keys a catalogue written
    before they existed lacks are null, "img" for `kind`)."""
    return {key: doc.get(key, "img" if key == "kind" else None) for key in OCCURRENCE_KEYS}


def image_objects(catalog: Catalog) -> list[dict[str, Any]]:
    """Every image as the documented image object: its fields, `files` and `occurrences`
    (sorted by article, then position)."""
    used: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for doc in catalog.occurrences():
        if doc["sha256"]:
            used[doc["sha256"]].append(occurrence_object(doc))
    return [
        {**image, "occurrences": sorted(used[image["sha256"]], key=_place)}
        for image in catalog.images()
    ]


def unresolved(catalog: Catalog) -> list[dict[str, Any]]:
    """Occurrences whose bytes could not be had, each with its `reason`."""
    return sorted(
        (
            {**occurrence_object(doc), "reason": doc["reason"]}
            for doc in catalog.occurrences()
            if not doc["sha256"]
        ),
        key=_place,
    )


def _place(occurrence: dict[str, Any]) -> tuple[str, bool, int]:
    """Article, then body images by position, then metadata images (position null)."""
    position = occurrence["position"]
    return occurrence["article"], position is None, position or 0
