"""Wires the stages: walk → extract → resolve → fingerprint → catalogue.

The runner, not the stages, turns per-item failures into recorded errors: a bad article,
reference or image is noted with its location and the scan goes on.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .archive import WebArchive
from .errors import ExtractError, FingerprintError, ResolveError
from .extract import Article, ExtractOptions, archived_pages, extract_file
from .hashing import Hasher
from .models import (
    DEFAULT_THRESHOLD,
    IMAGE_SECONDS,
    ImageRef,
    ItemError,
    Occurrence,
)
from .query import cluster_counts
from .records import OccurrenceRecord, SourceRecord
from .resolve import DEFAULT_MAX_BYTES, Resolver, file_size, web_url
from .store import Store, article_file, under
from .walk import SourceFile, admitted, walk

if TYPE_CHECKING:
    from .fetch import Fetcher
    from .objects import Mirror, ObjectAssets

# Seconds the extraction of one article may take (a 64 MiB page takes a few): a backstop
# for a slow path no limit foresaw, checked between Python steps of the main thread.
ARTICLE_SECONDS = 60.0


class _Overran(BaseException):
    """An article's extraction ran over ARTICLE_SECONDS (a BaseException, as KeyboardInterrupt
    is: the extractors' `except Exception` around a parser's quirks must not swallow it)."""


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise _Overran in the block once it has run `seconds` (SIGALRM, so only in the main
    thread; in another, no limit), and again every 0.1 s after: an exception raised where a
    signal handler happens to run (a garbage-collector callback, a `__del__`) is dropped.
    The previous SIGALRM handler is put back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def overran(signum: int, frame: object) -> None:
        raise _Overran

    previous = signal.signal(signal.SIGALRM, overran)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.1)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class ScanSummary:
    """What one scan read and found. Clusters are counted over the whole catalogue after it
    (None when it holds too many images to count them at every scan: `dupes` counts them).

    `skipped` counts files left alone because they did not change since the last scan (their
    articles, images and references are not counted again); `pruned` counts catalogued files
    that vanished and were forgotten (`prune=True`); `fetched`, with a fetcher, counts the web
    URLs it fetched, found cached, or failed on by reason.
    """

    articles: int = 0
    loose_images: int = 0
    occurrences: int = 0
    unique_images: int = 0
    unresolved: int = 0
    errors: int = 0
    exact_clusters: int | None = 0
    near_clusters: int | None = 0
    skipped: int = 0
    pruned: int = 0
    fetched: dict[str, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# Where to go on resolving a reference: its article, its candidate, the first failure so far.
_Resume = tuple[Article, int, ResolveError | FingerprintError | None]


@dataclass
class _Scan:
    """The results of one scan before they are written to the catalogue.

    Image files go to the hasher as they are found, which reads them in its workers; their
    SHA-256, and whether they were a usable image, are known only once it has finished, so
    `settle()` fills those in and deals with the files that were no image or unreadable.
    """

    max_bytes: int
    hasher: Hasher
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    touched: dict[str, dict[str, Any]] = field(default_factory=dict)  # same bytes, new time
    seen: set[str] = field(default_factory=set)
    files: dict[str, str] = field(default_factory=dict)
    reading: set[str] = field(default_factory=set)
    loose: list[str] = field(default_factory=list)
    failed_files: dict[str, ResolveError] = field(default_factory=dict)
    occurrences: list[Occurrence | None] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)
    # occurrence index -> (article, candidate index, first failure so far), for `settle`
    resume: dict[int, _Resume] = field(default_factory=dict)
    # the same, for occurrences held by a fetch under way (their place kept, filled in `settle`)
    fetching: dict[int, _Resume] = field(default_factory=dict)
    archived: list[str] = field(default_factory=list)  # loose images in web archives (places)

    def image_bytes(self, data: bytes, name: str) -> str:
        """SHA-256 of `data`, fingerprinting it unless these bytes are already known."""
        sha256 = hashlib.sha256(data).hexdigest()
        self.hasher.submit(sha256, data, name)
        self.seen.add(sha256)
        return sha256

    def image_file(self, path: Path) -> str | None:
        """SHA-256 of an image file, or None while the hasher reads it (`settle` fills it in);
        each file is read once per scan. Raises ResolveError for a file that is over the byte
        limit or cannot be read (or, after `settle`, could not be)."""
        key = str(path)
        if key in self.files:
            return self.files[key]
        if key in self.failed_files:
            raise self.failed_files[key]
        if key not in self.reading:
            try:
                size = file_size(path, self.max_bytes)
            except ResolveError as exc:
                self.failed_files[key] = exc
                raise
            self.reading.add(key)
            self.hasher.submit_file(key, size, self.max_bytes)
        return None

    def _read(self) -> None:
        """Take the hasher's results for the files it has read (all of them: after `wait`)."""
        for key in self.reading:
            if key in self.hasher.read:
                self.files[key] = sha256 = self.hasher.read.pop(key)
                self.seen.add(sha256)
            else:
                self.failed_files[key] = self.hasher.unreadable.pop(key)
        self.reading.clear()

    def settle(self, resolver: Resolver) -> None:
        """Wait for the hasher. A reference whose file could not be read or was no image tries
        its next candidate (and waits again); bytes still no image become errors wherever
        they were used. After this, the occurrences, files and errors gathered so far are
        final."""
        failed = self.hasher.failed
        for i, (article, index, failure) in self.fetching.items():  # the fetches, all at once
            ref = self.occurrences[i].ref
            _reference(self, resolver, article, ref, index, failure, slot=i, wait=True)
        self.fetching.clear()
        while True:
            self.hasher.wait()
            self._read()
            retry = []
            for i in self.resume:
                o = self.occurrences[i]
                if o.sha256 is None and o.file in self.files:
                    o = self.occurrences[i] = replace(o, sha256=self.files[o.file])
                if o.sha256 is None:
                    retry.append((i, self.failed_files[o.file]))
                elif o.sha256 in failed:
                    retry.append((i, self.failure(o.sha256, o.file, o.ref)))
            if not retry:
                break
            for i, problem in retry:
                article, index, failure = self.resume.pop(i)
                ref = self.occurrences[i].ref
                self.occurrences[i] = None
                _reference(self, resolver, article, ref, index + 1, failure or problem, wait=True)
        for path in self.loose:
            sha256 = self.files.get(path)
            exc = self.failed_files[path] if sha256 is None else None
            if sha256 in failed:
                exc = self.failure(sha256, path)
            if exc is not None:
                self.errors.append(ItemError(path, exc.code, str(exc)))
            self.sources[path]["sha256"] = None if exc else sha256
        for place in self.archived:
            if self.files[place] in failed:
                exc = self.failure(self.files[place], place)
                self.errors.append(ItemError(article_file(place), exc.code, str(exc), place))
        self.occurrences = [o for o in self.occurrences if o is not None]
        self.files = {path: sha for path, sha in self.files.items() if sha not in failed}
        self.seen -= failed.keys()
        self.resume.clear()
        self.loose.clear()
        self.archived.clear()

    def failure(
        self, sha256: str, file: str | None, ref: ImageRef | None = None
    ) -> FingerprintError:
        """The hasher's error for `sha256`, told about the place (a file, or the reference of
        a data URI) where these bytes were used."""
        exc = self.hasher.failed[sha256]
        place = file or (f"{ref.article} image {ref.position}" if ref else None)
        message = str(exc) if place == exc.path else f"{place}: {exc}"
        return FingerprintError(message, path=place, code=exc.code)


def _reference(
    scan: _Scan,
    resolver: Resolver,
    article: Article,
    ref: ImageRef,
    start: int = 0,
    failure: ResolveError | FingerprintError | None = None,
    slot: int | None = None,
    wait: bool = False,
) -> None:
    """Resolve the best candidate of `ref` that leads to a readable image (the largest
    `srcset` candidate first, then `src`); when none does, record the first one's failure.

    Whether a file can be read and its bytes are a readable image is known only once they are
    hashed: the occurrence is recorded at once, and `settle` comes back here with `start` at
    the next candidate when they were not. A candidate being fetched is not waited for
    (unless `wait`: `settle` does): its place is kept and `settle` comes back for it (with
    `slot`, that place)."""
    candidates = resolver.candidates(ref)

    def put(occurrence: Occurrence) -> int:
        if slot is None:
            scan.occurrences.append(occurrence)
            return len(scan.occurrences) - 1
        scan.occurrences[slot] = occurrence
        return slot

    for index in range(start, len(candidates)):
        if not wait and resolver.fetching(candidates[index], article.base):
            scan.fetching[put(Occurrence(ref))] = (article, index, failure)
            return
        try:
            resolved = resolver.resolve(candidates[index], article.base)
            if resolved.file is not None:
                sha256 = scan.image_file(resolved.file)
            else:
                name = f"{ref.article} image {ref.position}"
                sha256 = scan.image_bytes(resolved.data or b"", name)
        except ResolveError as exc:
            failure = failure or exc
            continue
        file = str(resolved.file) if resolved.file is not None else resolved.place
        at = put(Occurrence(ref, sha256, file, origin=resolved.origin))
        scan.resume[at] = (article, index, failure)
        return
    assert failure is not None  # candidates() is never empty
    put(Occurrence(ref, reason=failure.code))
    if isinstance(failure, FingerprintError):
        path = failure.path
    elif failure.reason in ("bad-data-uri", "unreadable", "too-large"):
        path = failure.ref if failure.reason != "bad-data-uri" else ref.article
    else:
        return
    scan.errors.append(ItemError(path, failure.code, str(failure), ref.article, ref.position))


def _state(path: Path) -> dict[str, Any] | None:
    """What a re-scan compares: size and modification time (None if the file cannot be
    stat'ed; reading it will record why)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": None}


def _unchanged(source: SourceFile, state: dict[str, Any] | None, old: SourceRecord | None) -> bool:
    """Whether `source` can be skipped: same size and time as catalogued, or an article with
    the same bytes (its state is updated in place to carry the content hash), read with the
    same settings (an article's state carries them)."""
    if state is None or old is None or state.get("settings") != old.settings:
        return False
    if (state["size"], state["mtime_ns"]) == (old.size, old.mtime_ns):
        return True
    if source.kind == "image" or old.sha256 is None:
        return False
    try:
        state["sha256"] = hashlib.sha256(source.path.read_bytes()).hexdigest()
    except OSError:
        return False
    return state["sha256"] == old.sha256


def _settings(
    paths: list[Path],
    assets: list[Path],
    max_bytes: int,
    options: ExtractOptions,
    fetch: tuple[object, ...] | None,
) -> str:
    """What an article's references and extraction depend on besides its bytes: the folders
    references may resolve in, the size limit, the extraction options and how web URLs are
    fetched, if they are. An article read with other settings is read again."""
    roots = sorted(os.path.abspath(p) for p in paths), sorted(os.path.abspath(a) for a in assets)
    settings = (roots, max_bytes, options, fetch) if fetch else (roots, max_bytes, options)
    return hashlib.sha256(repr(settings).encode()).hexdigest()[:16]


def _unresolved(catalog: Store, roots: list[str]) -> dict[str, dict[str, list[OccurrenceRecord]]]:
    """The occurrences under `roots` left `missing` or with `no-asset`, by reason, then by
    article file."""
    found: dict[str, dict[str, list[OccurrenceRecord]]] = defaultdict(lambda: defaultdict(list))
    for occurrence in catalog.unresolved_under(("missing", "no-asset"), roots):
        found[occurrence.reason or ""][article_file(occurrence.article)].append(occurrence)
    return found


def _found_now(resolver: Resolver, occurrence: OccurrenceRecord) -> bool:
    """Whether a reference recorded as missing would find a file now (a stat per candidate)."""
    base = Path(article_file(occurrence.article)).parent
    for src in occurrence.ref().candidates():
        if web_url(src) is not None:
            continue  # (a file that appeared is what is looked for: nothing is fetched here)
        try:
            resolver.resolve(src, base)
        except ResolveError:
            continue
        return True
    return False


def scan(
    paths: Iterable[Path],
    catalog: Store,
    *,
    assets: Iterable[Path] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
    threshold: int = DEFAULT_THRESHOLD,
    prune: bool = False,
    save_every: float = 60.0,
    on_file: Callable[[SourceFile], None] | None = None,
    options: ExtractOptions | None = None,
    workers: int | None = None,
    image_seconds: float = IMAGE_SECONDS,
    fetcher: Fetcher | None = None,
    base_url: str | None = None,
    objects: ObjectAssets | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_wait: Callable[[], None] | None = None,
    files: Iterable[SourceFile] | None = None,
    clusters: bool = True,
    mirror: Mirror | None = None,
) -> ScanSummary:
    """Scan `paths` (files or folders, recursively) into `catalog` and save it.

    Files whose size and modification time are unchanged since the last scan (and articles
    whose bytes are unchanged) are skipped; with `prune`, catalogued files under `paths` that
    no longer exist are forgotten. Progress is saved every `save_every` seconds (or ten times
    as long as the last save took, if longer), so an interrupted scan resumes where it
    stopped. The catalogue's write lock is held throughout.

    References resolve only inside `paths` and `assets`, and web URLs through `fetcher` when
    one is given (media_catalog.fetch; else they stay `remote`), relative ones also against
    the article's URL, or `base_url` for an article that states none; keys also under the
    object-store prefixes of `objects` (media_catalog.objects). Returns counts of what
    was read and of the duplicate clusters (within `threshold` bits) in the catalogue after.
    `options` are the extraction choices (context size, JSON Lines fields). Images are
    fingerprinted by `workers` processes (default: all cores), each image in at most
    `image_seconds` (else recorded as `too-slow`). `progress(done, total)` is
    called as files are read (it costs one extra listing of the folders); `on_wait` when
    another process writing the catalogue makes this scan wait (SQLite).

    With `files` (walked already: one shard of a distributed run), only they are read, each
    checked again to lie in the allowed roots, and `paths` are only those roots. Without
    `clusters`, none are counted (None). A `mirror` copies the objects of an object-store
    input into its folders (roots) as references ask for them.
    """
    paths = [Path(p) for p in paths]
    assets = [Path(a) for a in assets]
    with (
        catalog.writing(on_wait),
        Hasher(workers, known=catalog.known_images(), seconds=image_seconds) as hasher,
    ):
        state = _Scan(max_bytes=max_bytes, hasher=hasher)
        resolver = Resolver(paths, assets, max_bytes, fetcher, base_url, objects, mirror)
        summary = _scan(
            paths,
            assets,
            catalog,
            state,
            prune,
            save_every,
            options,
            on_file,
            progress,
            resolver,
            None if files is None else list(files),
        )
        if fetcher is not None:
            summary.fetched = fetcher.outcomes()
        try:
            counts = cluster_counts(catalog, threshold) if clusters else None
            if counts is None:
                summary.exact_clusters = summary.near_clusters = None
            else:
                summary.exact_clusters, summary.near_clusters = counts["exact"], counts["near"]
        finally:  # (an interrupted count loses nothing the scan read)
            catalog.save()  # (writes nothing when nothing changed)
    return summary


def _scan(
    paths: list[Path],
    assets: list[Path],
    catalog: Store,
    state: _Scan,
    prune: bool,
    save_every: float,
    options: ExtractOptions | None,
    on_file: Callable[[SourceFile], None] | None,
    progress: Callable[[int, int], None] | None,
    resolver: Resolver,
    files: list[SourceFile] | None,
) -> ScanSummary:
    hasher = state.hasher
    options = options or ExtractOptions()
    settings = _settings(paths, assets, state.max_bytes, options, resolver.remote_settings)
    roots = [os.path.abspath(path) for path in paths]
    # keys no asset folder held are looked for again (asset folders are often filled after
    # the articles are); with no folder, nothing can appear
    unresolved = _unresolved(catalog, roots)
    retried = set(unresolved["no-asset"]) if assets or resolver.objects else set()
    missing = unresolved["missing"]  # read again when a file they missed is there now
    walked: set[str] = set()
    summary = ScanSummary()
    last_save = time.monotonic()
    save_cost = 0.0  # seconds the last save took: saving never takes over 1/10 of the scan

    recorded: set[str] = set()  # image files whose SHA-256 a batch has recorded already

    unswept = False  # a batch was recorded without dropping the images it left unused

    def record(removed: Iterable[str] = (), sweep: bool = True) -> None:
        nonlocal unswept
        unswept = not sweep
        state.settle(resolver)
        files = {path: sha for path, sha in state.files.items() if path not in recorded}
        recorded.update(files)
        catalog.record(
            sources=state.sources,
            fingerprints=hasher.take(),
            files=files,
            occurrences=state.occurrences,
            errors=state.errors,
            removed=removed,
            touched=state.touched,
            sweep=sweep,
        )
        summary.occurrences += len(state.occurrences)
        summary.unresolved += sum(1 for o in state.occurrences if o.sha256 is None)
        state.sources, state.touched, state.occurrences, state.errors = {}, {}, [], []

    # with prune, a path that is gone is only to be forgotten: no error for it
    present = [path for path in paths if not prune or os.path.lexists(path)]
    if files is not None:
        total = len(files)
    else:
        total = sum(1 for _ in walk(present, [])) if progress is not None else 0
    # the walk's own errors: state.errors is a new list after every save
    walk_errors: list[ItemError] = []
    unlisted: list[str] = []  # folders that could not be listed: nothing below them is pruned
    sources = files if files is not None else walk(present, walk_errors, resolver.assets, unlisted)
    for done, source in enumerate(sources):
        refused = files is not None and not admitted(source.path, resolver.roots, walk_errors)
        state.errors += walk_errors
        walk_errors.clear()
        if refused:
            continue
        if progress is not None:
            progress(done, total)
        key = str(source.path)
        walked.add(key)
        file_state = _state(source.path)
        if file_state is not None and source.kind != "image":
            file_state["settings"] = settings
        if (
            key not in retried
            and _unchanged(source, file_state, catalog.source(key))
            and not any(_found_now(resolver, doc) for doc in missing.get(key, ()))
        ):
            summary.skipped += 1
            if file_state and file_state["sha256"]:  # same bytes, new time: remember it
                state.touched[key] = file_state
            continue
        if on_file is not None:
            on_file(source)
        state.sources[key] = file_state or {"size": None, "mtime_ns": None, "sha256": None}
        try:
            if source.kind == "image":
                summary.loose_images += 1
                try:
                    state.image_file(source.path)
                    state.loose.append(key)
                except ResolveError as exc:
                    state.errors.append(ItemError(key, exc.reason, str(exc)))
            else:
                _article_file(state, resolver, source, summary, options)
        except Exception as exc:  # a bug on one file: recorded there, and the scan goes on
            message = f"{type(exc).__name__}: {exc}"[:500] + " (please report this file)"
            state.errors.append(ItemError(key, "internal-error", message, article=key))
        if time.monotonic() - last_save >= max(save_every, 10 * save_cost):
            started = time.monotonic()
            record(sweep=False)
            catalog.save()
            last_save = time.monotonic()
            save_cost = last_save - started
    state.errors += walk_errors  # (those after the last file)
    removed = []
    if prune:
        gone = catalog.catalogued_under(roots) - walked
        removed = sorted(path for path in gone if not under(path, unlisted))
        summary.pruned = len(removed)
    if state.sources or state.touched or state.errors or removed or unswept:
        record(removed)  # saved by `scan`, with the cluster counts
    if progress is not None:
        progress(total, total)
    summary.unique_images = len(state.seen)
    # on record for the scanned paths, skipped files' included
    summary.errors = catalog.count_errors_under(roots)
    return summary


def _article_file(
    state: _Scan,
    resolver: Resolver,
    source: SourceFile,
    summary: ScanSummary,
    options: ExtractOptions,
) -> None:
    if state.sources[str(source.path)]["sha256"] is None:
        try:  # (a stream: a JSON Lines dump or a web archive may be gigabytes)
            hashed = hashlib.sha256()
            with source.path.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    hashed.update(chunk)
            digest = hashed.hexdigest()
        except OSError:
            digest = None  # extract_file reports why
        state.sources[str(source.path)]["sha256"] = digest
    archive = None
    try:
        if source.kind == "warc":
            archive = WebArchive.listed(source.path)
            articles = archived_pages(archive, options)
        else:
            articles = extract_file(source.path, source.kind, options)
        while True:
            with _time_limit(ARTICLE_SECONDS):
                article = next(articles, None)
            if article is None:
                break
            summary.articles += 1
            state.errors.extend(article.errors)
            resolver.prefetch((resolver.candidates(ref)[0] for ref in article.refs), article.base)
            for ref in article.refs:
                _reference(state, resolver, article, ref)
    except ExtractError as exc:
        state.errors.append(ItemError(exc.path, exc.code, str(exc), article=exc.path))
    except _Overran:
        where = str(source.path)
        message = (
            f"reading its images took over {ARTICLE_SECONDS:g} s, so it was stopped "
            f"({where}); what was read before is kept, the rest of the file is not read"
        )
        state.errors.append(ItemError(where, "too-slow", message, article=where))
        archive = None
    if archive is not None:
        _archived_images(state, archive, summary)


def _archived_images(state: _Scan, archive: WebArchive, summary: ScanSummary) -> None:
    """Catalogue the images a web archive holds that none of its pages used, as loose image
    files `ARCHIVE#URL` (only raster image responses: others are no loose image); an error
    about one is the archive's, at that record (its `article`)."""
    used = {o.file for o in state.occurrences if o is not None and o.file}
    for url in dict.fromkeys(archive.images):  # (a URL captured twice: read once)
        place = f"{archive.path}#{url}"
        if place in used:
            continue
        try:
            data: bytes | None = archive.payload(url, state.max_bytes)[0]
        except ResolveError as exc:
            if exc.reason == "not-archived":
                continue  # an error page the crawler met: no image
            state.errors.append(ItemError(str(archive.path), exc.reason, str(exc), place))
            data = None
        summary.loose_images += 1
        if data is not None:
            state.files[place] = state.image_bytes(data, place)
            state.archived.append(place)
