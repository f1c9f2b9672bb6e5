"""A sharded run's output (media_catalog.shards: a folder or an object-store prefix) read as a
catalogue, read-only: `dupes`,
`lookup`, `search`, `show`, `stats` and `export` answer from the Parquet files, shard by shard,
without an import. Filters on SHA-256 are pushed into the Parquet reader; `dupes` holds the
hash arrays and the places counted per image; `search` and `stats` hold the run's documents,
as the JSON store does. An image used in several shards is one image, its files joined.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Container, Iterator
from pathlib import Path
from typing import Any

from ..errors import CatalogError
from ..querylang import Term
from ..records import ErrorRecord, ImageRecord, OccurrenceRecord, SourceRecord
from ..shards import Plan, RunFolder, finished_shards, shard_docs, shard_table
from .base import Change, Store, article_file, under
from .docs import catalogued_docs, count_docs, errors_under_docs, search_docs, usage_docs


class RunStore(Store):
    """The run at `where` (a local folder holding plan.json, or an object-store prefix), every
    shard done."""

    read_only = True

    def __init__(self, where: Path | str) -> None:
        from ..shards import arrow

        self.path = Path(where)
        self._pa = arrow()
        self._folder = RunFolder(where)
        plan = Plan.load(self._folder)
        if plan is None:
            raise CatalogError(f"{where} holds no plan.json; is it a run's --out folder?")
        done = finished_shards(self._folder, plan, "cannot read")
        self._plan_errors = plan.errors
        self._shards = sorted(done)

    def _tables(
        self, table: str, columns: list[str] | None = None, where: Any = None
    ) -> Iterator[Any]:
        """Each shard's `table` (only `columns`; only the rows `where` keeps)."""
        for number in self._shards:
            yield shard_table(self._folder, table, number, columns, where)

    def _docs(self, table: str, where: Any = None) -> Iterator[dict[str, Any]]:
        for number in self._shards:
            yield from shard_docs(self._folder, table, number, where)

    def _among(self, column: str, values: Collection[str] | None) -> Any:
        if values is None:
            return None
        wanted = sorted(set(values))
        if not wanted:  # (isin of no values is typed null: Arrow refuses it)
            return self._pa.compute.scalar(False)
        return self._pa.compute.field(column).isin(wanted)

    # -- writing: refused --------------------------------------------------------------------

    def writing(self, on_wait: Callable[[], None] | None = None) -> Any:
        raise CatalogError(
            f"{self._folder} is a sharded scan's output, read-only; bring it into a catalogue "
            f"to add to it: media-catalog import {self._folder} --db catalogue.sqlite"
        )

    def write(self, change: Change) -> None:
        self.writing()

    def is_empty(self) -> bool:
        return not self._shards

    def save(self) -> None:
        """(Nothing to save: a run is never changed.)"""

    # -- reading ---------------------------------------------------------------------------

    def source(self, path: str) -> SourceRecord | None:
        found = next(self._docs("sources", self._among("path", [path])), None)
        return SourceRecord(found) if found is not None else None

    def sources(self) -> dict[str, SourceRecord]:
        return {doc["path"]: SourceRecord(doc) for doc in self._docs("sources")}

    def catalogued_under(self, roots: Collection[str]) -> set[str]:
        return catalogued_docs(self._docs("sources"), self._docs("occurrences"), roots)

    def known_images(self) -> Container[str]:
        return {sha for part in self._tables("images", ["sha256"]) for sha in _column(part)}

    def images(self, sha256s: Collection[str] | None = None) -> Iterator[ImageRecord]:
        return map(ImageRecord, self._image_docs(sha256s))

    def _image_docs(self, sha256s: Collection[str] | None = None) -> Iterator[dict[str, Any]]:
        files = self._files(sha256s)
        seen: set[str] = set()
        for doc in self._docs("images", self._among("sha256", sha256s)):
            if doc["sha256"] not in seen:
                seen.add(doc["sha256"])
                yield {**doc, "files": list(files.get(doc["sha256"], ()))}

    def _files(self, sha256s: Collection[str] | None = None) -> dict[str, dict[str, None]]:
        """The files holding each image (of `sha256s`), once each: shards that used the
        same file both list it."""
        files: dict[str, dict[str, None]] = {}
        for part in self._tables("files", where=self._among("sha256", sha256s)):
            held = part.to_pydict()
            for path, sha256 in zip(held["path"], held["sha256"], strict=True):
                files.setdefault(sha256, {})[path] = None
        return files

    def occurrences(self, sha256s: Collection[str] | None = None) -> Iterator[OccurrenceRecord]:
        return map(OccurrenceRecord, self._docs("occurrences", self._among("sha256", sha256s)))

    def unresolved_under(
        self, reasons: Collection[str], roots: Collection[str]
    ) -> Iterator[OccurrenceRecord]:
        for doc in self._docs("occurrences", self._among("reason", reasons)):
            if under(article_file(doc["article"]), roots):
                yield OccurrenceRecord(doc)

    def errors(self) -> Iterator[ErrorRecord]:
        return map(ErrorRecord, self._error_docs())

    def _error_docs(self) -> Iterator[dict[str, Any]]:
        yield from self._plan_errors
        yield from self._docs("errors")

    def count_errors_under(self, roots: Collection[str]) -> int:
        return errors_under_docs(self._error_docs(), roots)

    def image_count(self) -> int:
        return len(self.known_images())  # type: ignore[arg-type]

    def changed(self) -> bool:
        return False

    def sha256s_with_prefix(self, prefix: str) -> list[str]:
        found: dict[str, None] = {}
        for part in self._tables("images", ["sha256"]):
            found.update(dict.fromkeys(sha for sha in _column(part) if sha.startswith(prefix)))
        return list(found)

    def near_phash(self, phashes: list[int], distance: int) -> list[tuple[int, int, str]]:
        hits, seen = [], set()
        for part in self._tables("images", ["sha256", "phash"]):
            for sha256, phash in zip(_column(part), _column(part, "phash"), strict=True):
                if sha256 in seen:
                    continue
                seen.add(sha256)
                code = int(phash, 16)
                for view, target in enumerate(phashes):
                    bits = (code ^ target).bit_count()
                    if bits <= distance:
                        hits.append((bits, view, len(seen), sha256))
        hits.sort()
        return [(bits, view, sha256) for bits, view, _, sha256 in hits]

    def search(
        self, terms: list[Term], limit: int | None, near: Callable[[], set[str]]
    ) -> tuple[int, Iterator[bytes]]:
        images = {doc["sha256"]: doc for doc in self._image_docs()}
        occurrences = list(self._docs("occurrences"))
        return search_docs(terms, limit, near, images, occurrences, self._error_docs())

    def counts(self) -> dict[str, Any]:
        occurrences = list(self._docs("occurrences"))
        return count_docs(list(self._image_docs()), occurrences, self._error_docs())

    def fingerprints(self) -> Iterator[ImageRecord]:
        seen: set[str] = set()
        for doc in self._docs("images"):
            if doc["sha256"] not in seen:
                seen.add(doc["sha256"])
                yield ImageRecord(doc)

    def usage(self, tracking: bool) -> tuple[dict[str, tuple[int, int]], int]:
        images: dict[str, dict[str, Any]] = {}
        for part in self._tables("images", ["sha256", "width", "height"]):
            for row in part.to_pylist():
                images.setdefault(row["sha256"], {**row, "files": []})
        for sha256, paths in self._files().items():
            images[sha256]["files"] = list(paths)
        return usage_docs(images, self._docs("occurrences"), tracking)

    def kept(self, key: str) -> Any:
        return None

    def keep(self, key: str, value: Any) -> None:
        """(A run keeps nothing.)"""


def _column(part: Any, name: str = "sha256") -> list[Any]:
    return part.column(name).to_pylist()
