"""Wires the stages: walk → extract → resolve → fingerprint → catalogue.

The runner, not the stages, turns per-item failures into recorded errors: a bad article,
reference or image is noted with its location and the scan goes on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .catalog import Catalog
from .errors import ExtractError, FingerprintError, ResolveError
from .extract import Article, ExtractOptions, extract_file
from .hashing import Hasher
from .models import ImageRef, ItemError, Occurrence
from .resolve import DEFAULT_MAX_BYTES, Resolver, read_bytes
from .similarity import DEFAULT_THRESHOLD, duplicate_clusters
from .walk import SourceFile, walk


@dataclass
class ScanSummary:
    """What one scan read and found. Clusters are counted over the whole catalogue after it."""

    articles: int = 0
    loose_images: int = 0
    occurrences: int = 0
    unique_images: int = 0
    unresolved: int = 0
    errors: int = 0
    exact_clusters: int = 0
    near_clusters: int = 0

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Scan:
    """The results of one scan before they are written to the catalogue.

    New bytes go to the hasher as they are found; whether they were a usable image is known
    only once it has finished, so `settle()` deals with the ones that were not.
    """

    known: set[str]
    max_bytes: int
    hasher: Hasher
    sources: set[str] = field(default_factory=set)
    submitted: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    files: dict[str, str] = field(default_factory=dict)
    loose: list[str] = field(default_factory=list)
    failed_files: dict[str, ResolveError] = field(default_factory=dict)
    occurrences: list[Occurrence | None] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)
    # occurrence index -> (article, candidate index, first failure so far), for `settle`
    resume: dict[int, tuple[Article, int, ResolveError | FingerprintError | None]] = field(
        default_factory=dict
    )

    def image_bytes(self, data: bytes, name: str) -> str:
        """SHA-256 of `data`, fingerprinting it unless these bytes are already known."""
        sha256 = hashlib.sha256(data).hexdigest()
        if sha256 not in self.known and sha256 not in self.submitted:
            self.submitted.add(sha256)
            self.hasher.submit(sha256, data, name)
        self.seen.add(sha256)
        return sha256

    def image_file(self, path: Path) -> str:
        """SHA-256 of an image file, reading each file once per scan."""
        key = str(path)
        if key in self.files:
            return self.files[key]
        if key in self.failed_files:
            raise self.failed_files[key]
        try:
            sha256 = self.image_bytes(read_bytes(path, self.max_bytes), key)
        except ResolveError as exc:
            self.failed_files[key] = exc
            raise
        self.files[key] = sha256
        return sha256

    def settle(self, resolver: Resolver) -> None:
        """Wait for the hasher. A reference whose bytes were no image tries its next candidate
        (and waits again); bytes still no image become errors wherever they were used."""
        self.hasher.close()
        failed = self.hasher.failed
        while retry := [i for i in self.resume if self.occurrences[i].sha256 in failed]:
            for i in retry:
                article, index, failure = self.resume.pop(i)
                occurrence = self.occurrences[i]
                self.occurrences[i] = None
                failure = failure or self.failure(
                    occurrence.sha256, occurrence.file, occurrence.ref
                )
                _reference(self, resolver, article, occurrence.ref, index + 1, failure)
            self.hasher.close()
        for path in self.loose:
            if self.files[path] in failed:
                exc = self.failure(self.files[path], path)
                self.errors.append(ItemError(path, exc.code, str(exc)))
        self.occurrences = [o for o in self.occurrences if o is not None]
        self.files = {path: sha for path, sha in self.files.items() if sha not in failed}
        self.seen -= failed.keys()

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
) -> None:
    """Resolve the best candidate of `ref` that leads to a readable image (the largest
    `srcset` candidate first, then `src`); when none does, record the first one's failure.

    Whether bytes are a readable image is known only once they are hashed: the occurrence is
    recorded at once, and `settle` comes back here with `start` at the next candidate when
    they were not."""
    candidates = ref.candidates()
    for index in range(start, len(candidates)):
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
        file = str(resolved.file) if resolved.file is not None else None
        scan.resume[len(scan.occurrences)] = (article, index, failure)
        scan.occurrences.append(Occurrence(ref, sha256, file))
        return
    assert failure is not None  # candidates() is never empty
    code = failure.reason if isinstance(failure, ResolveError) else failure.code
    scan.occurrences.append(Occurrence(ref, reason=code))
    if isinstance(failure, FingerprintError):
        path = failure.path
    elif failure.reason in ("bad-data-uri", "unreadable", "too-large"):
        path = failure.ref if failure.reason != "bad-data-uri" else ref.article
    else:
        return
    scan.errors.append(ItemError(path, code, str(failure), ref.article, ref.position))


def scan(
    paths: Iterable[Path],
    catalog: Catalog,
    *,
    assets: Iterable[Path] = (),
    max_bytes: int = DEFAULT_MAX_BYTES,
    threshold: int = DEFAULT_THRESHOLD,
    on_file: Callable[[SourceFile], None] | None = None,
    options: ExtractOptions | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ScanSummary:
    """Scan `paths` (files or folders, recursively) into `catalog` and save it.

    References resolve only inside `paths` and `assets`. Returns counts of what was read and
    of the duplicate clusters (within `threshold` bits) in the catalogue afterwards.
    `options` are the extraction choices (context size, JSON Lines fields). Images are
    fingerprinted by `workers` processes (default: all cores). `progress(done, total)` is
    called as files are read (it costs one extra listing of the folders).
    """
    paths = [Path(p) for p in paths]
    assets = [Path(a) for a in assets]
    resolver = Resolver(paths, assets)
    total = sum(1 for _ in walk(paths, [])) if progress is not None else 0
    with Hasher(workers) as hasher:
        state = _Scan(known=catalog.known_sha256(), max_bytes=max_bytes, hasher=hasher)
        summary = ScanSummary()
        for done, source in enumerate(walk(paths, state.errors)):
            if progress is not None:
                progress(done, total)
            if on_file is not None:
                on_file(source)
            _source(state, resolver, summary, source, options or ExtractOptions())
        state.settle(resolver)
    if progress is not None:
        progress(total, total)

    catalog.record(
        sources=state.sources,
        fingerprints=hasher.done.values(),
        files=state.files,
        occurrences=state.occurrences,
        errors=state.errors,
    )
    catalog.save()
    summary.occurrences = len(state.occurrences)
    summary.unique_images = len(state.seen)
    summary.unresolved = sum(1 for occurrence in state.occurrences if occurrence.sha256 is None)
    summary.errors = len(state.errors)
    for cluster in duplicate_clusters(catalog, threshold):
        if cluster.kind == "exact":
            summary.exact_clusters += 1
        else:
            summary.near_clusters += 1
    return summary


def _source(
    state: _Scan,
    resolver: Resolver,
    summary: ScanSummary,
    source: SourceFile,
    options: ExtractOptions,
) -> None:
    """Read one article or loose image file."""
    state.sources.add(str(source.path))
    if source.kind == "image":
        summary.loose_images += 1
        try:
            state.image_file(source.path)
            state.loose.append(str(source.path))
        except ResolveError as exc:
            state.errors.append(ItemError(str(source.path), exc.reason, str(exc)))
        return
    try:
        for article in extract_file(source.path, source.kind, options):
            summary.articles += 1
            state.errors.extend(article.errors)
            for ref in article.refs:
                _reference(state, resolver, article, ref)
    except ExtractError as exc:
        state.errors.append(ItemError(exc.path, exc.code, str(exc), article=exc.path))
