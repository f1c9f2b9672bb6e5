"""`import`: merge exports and other catalogues into a catalogue.

An input is `export --format json` (read as a stream with ijson: a file of gigabytes never sits
in memory), `export --format jsonl` (one image object per line), a catalogue of either
store, or the output folder of a sharded run (media_catalog.shards). Each article an input
brings replaces what the catalogue knew of that article (as a scan re-reading it would);
images are added unless known, and the files holding them are added. Changes are written in
batches (one transaction each in SQLite); an input of APART bytes or more is read, checked
and made into the store's rows by a second process while this one writes.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .errors import CatalogError
from .objects import is_object_url
from .records import stored_occurrence
from .shards import PLAN, RunFolder, run_records
from .store import (
    CONTRACT_LISTS,
    Change,
    Store,
    article_file,
    existing_catalogue,
    record_problem,
)

BATCH = 25_000  # records (an image, each of its occurrences, …) in one write
# From this size an input is read by a second process while this one writes, and an export's
# short lists by a third.
APART = 64 << 20


@dataclass
class ImportSummary:
    """What an import brought: inputs read and the records in them."""

    inputs: int = 0
    images: int = 0
    occurrences: int = 0
    unresolved: int = 0
    errors: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def import_files(
    catalog: Store,
    paths: Iterable[Path | str | RunFolder],
    on_wait: Callable[[], None] | None = None,
) -> ImportSummary:
    """Merge every file of `paths` into `catalog` and save it (see the module docstring); a
    run's output is named by its folder or object-store prefix (`s3://bucket/prefix`)."""
    summary = ImportSummary()
    with catalog.writing(on_wait):
        for name in paths:
            path = _input(name)
            if isinstance(path, Path) and path.resolve() == catalog.path.resolve():
                raise CatalogError(f"{path} is the catalogue itself; import another file")
            with catalog.bulk():
                for change in _changes(path, catalog.is_empty(), type(catalog).prepare, summary):
                    catalog.write(change)
            summary.inputs += 1
        catalog.save()
    return summary


def _input(name: Path | str | RunFolder) -> Path | RunFolder:
    """What an input names: a file, or the output of a sharded run (its folder holds
    plan.json; or an object-store prefix)."""
    if isinstance(name, RunFolder):
        return name
    if isinstance(name, str) and is_object_url(name):
        return RunFolder(name)
    path = Path(name)
    return RunFolder(path) if (path / PLAN).is_file() else path


def _changes(
    path: Path | RunFolder, fresh: bool, prepare: Callable[[Change], Change], summary: ImportSummary
) -> Iterator[Change]:
    """The input's records in batches of changes made ready to write (`prepare`); `fresh`: the
    catalogue is empty, nothing to replace. An input of APART bytes or more is read by a
    second process while this one writes: reading and preparing cost as much as writing."""
    if not isinstance(path, Path) or not path.is_file() or path.stat().st_size < APART:
        yield from _batches(path, fresh, prepare, summary)
        return
    channel: multiprocessing.Queue = multiprocessing.Queue(maxsize=2)
    reader = multiprocessing.Process(
        target=_read, args=(path, fresh, prepare, channel), name="media-catalog import reader"
    )
    reader.start()
    try:
        while True:
            try:
                kind, item = channel.get(timeout=1)
            except queue.Empty:
                if not reader.is_alive():
                    raise CatalogError(
                        f"the process reading {path} stopped (exit code {reader.exitcode}); "
                        "what was read before is kept",
                        path=path,
                    ) from None
                continue
            if kind == "error":
                raise item
            if kind == "done":
                for name, count in item.to_dict().items():
                    setattr(summary, name, getattr(summary, name) + count)
                return
            yield item
    finally:
        if reader.is_alive():
            reader.terminate()
        reader.join()


def _read(
    path: Path, fresh: bool, prepare: Callable[[Change], Change], channel: multiprocessing.Queue
) -> None:
    """`_changes`'s second process: send ("change", change)…, then ("done", counts) or
    ("error", exc). Ctrl-C is the writing process's to handle: it stops this one."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    summary = ImportSummary()
    try:
        for change in _batches(path, fresh, prepare, summary):
            channel.put(("change", change))
        channel.put(("done", summary))
    except Exception as exc:
        if not isinstance(exc, CatalogError):
            exc = CatalogError(f"cannot import {path}: {type(exc).__name__}: {exc}", path=path)
        channel.put(("error", exc))


def _batches(
    path: Path | RunFolder, fresh: bool, prepare: Callable[[Change], Change], summary: ImportSummary
) -> Iterator[Change]:
    merger = _Merger(fresh, summary, run=isinstance(path, RunFolder))
    for kind, record in _records(path):
        if merger.add(kind, record):
            yield prepare(merger.flush())
    if merger.size:
        yield prepare(merger.flush())


def _records(path: Path | RunFolder) -> Iterator[tuple[str, dict[str, Any]]]:
    """("image" | "unresolved" | "error" | "source", record) of one input."""
    if isinstance(path, RunFolder):
        yield from run_records(path)
        return
    if path.is_dir():
        raise CatalogError(
            f"cannot import {path}: a folder, and no run's output (it holds no plan.json)"
        )
    if not path.is_file():
        raise CatalogError(f"cannot import {path}: no such file")
    source = existing_catalogue(path)
    if source is not None:
        lists = source.contract_lists()
        for key, kind in CONTRACT_LISTS:
            yield from ((kind, record) for record in lists[key])
        yield from (("source", state.to_dict()) for state in source.sources().values())
        return
    if path.suffix.lower() == ".jsonl":
        yield from _jsonl(path)
        return
    if path.stat().st_size < APART:
        for key, kind in CONTRACT_LISTS:
            yield from _items(path, key, kind)
        return
    # each list is a pass over the whole file (24 s at a million images): the short lists
    # after the images are read by another process meanwhile
    with multiprocessing.Pool(1) as pool:  # (terminated on leaving, if still reading)
        tail = pool.apply_async(_tail, (path,))
        yield from _items(path, *CONTRACT_LISTS[0])
        records = tail.get()
    yield from records


def _tail(path: Path) -> list[tuple[str, dict[str, Any]]]:
    return [record for key, kind in CONTRACT_LISTS[1:] for record in _items(path, key, kind)]


def _items(path: Path, key: str, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind, record) for each item of the export's list `key`."""
    import ijson  # streams the export: C parsing, one object built at a time

    try:
        with path.open("rb") as handle:
            for record in ijson.items(handle, f"{key}.item", use_float=True):
                yield kind, record
    except (ijson.JSONError, ijson.IncompleteJSONError, OSError) as exc:
        raise CatalogError(
            f"cannot import {path}: it is not a whole `media-catalog export` ({exc})",
            path=path,
        ) from exc


def _jsonl(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield "image", orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise CatalogError(
                    f"cannot import {path}, line {number}: {exc}; what was read before is kept.",
                    path=path,
                ) from exc


class _Merger:
    """Gathers one input's records into batches of changes. An article is replaced when the
    input first brings it, so that its occurrences may come in several batches."""

    def __init__(self, fresh: bool, summary: ImportSummary, run: bool = False) -> None:
        self.summary = summary
        self.fresh = fresh  # an empty catalogue: nothing to replace
        # a run's images, counted once each however many shards bring them
        self.seen_images: set[str] | None = set() if run else None
        self.seen: set[str] = set()
        self.change = Change()
        self.size = 0

    def _article(self, article: str | None) -> None:
        if not article:
            return
        path = article_file(article)
        if path not in self.seen:
            self.seen.add(path)
            if not self.fresh:
                self.change.replaced.add(path)
            self.change.sources.setdefault(
                path, {"path": path, "size": None, "mtime_ns": None, "sha256": None}
            )

    def add(self, kind: str, record: Any) -> bool:
        """Gather `record`; whether the batch is full (then `flush` it)."""
        problem = record_problem(kind, record)
        if problem:
            shown = orjson.dumps(record)[:200].decode(errors="replace")
            raise CatalogError(
                f"cannot import this {kind} record: {problem} ({shown}…); is it a "
                "`media-catalog export`?"
            )
        self._add(kind, record)
        return self.size >= BATCH

    def _add(self, kind: str, record: dict[str, Any]) -> None:
        change = self.change
        if kind == "image":
            occurrences = record.pop("occurrences", [])
            files = record.pop("files", [])
            if not files and not occurrences:
                return  # used nowhere: no catalogue keeps such an image
            change.images.append(record)
            if self.seen_images is not None:  # (a run: an image may come in several shards)
                if record["sha256"] in self.seen_images:
                    self.summary.images -= 1
                self.seen_images.add(record["sha256"])
            for path in files:
                change.files[path] = record["sha256"]
            for occurrence in occurrences:
                self._article(occurrence["article"])
                change.occurrences.append(
                    stored_occurrence({**occurrence, "sha256": record["sha256"], "reason": None})
                )
            self.summary.images += 1
            self.summary.occurrences += len(occurrences)
            self.size += len(occurrences)
        elif kind == "unresolved":
            self._article(record["article"])
            change.occurrences.append(stored_occurrence({**record, "sha256": None}))
            self.summary.unresolved += 1
        elif kind == "error":
            self._article(record.get("article") or record["path"])
            change.errors.append(record)
            self.summary.errors += 1
        else:  # a catalogue's source state: the files it read, as it read them
            change.sources[record["path"]] = record
        self.size += 1

    def flush(self) -> Change:
        """The batch gathered so far; the next starts empty."""
        change, self.change, self.size = self.change, Change(), 0
        return change
