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
from .fingerprint import fingerprint
from .models import Fingerprint, ImageRef, ItemError, Occurrence
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
    """The results of one scan before they are written to the catalogue."""

    known: set[str]
    max_bytes: int
    sources: set[str] = field(default_factory=set)
    fingerprints: dict[str, Fingerprint] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    files: dict[str, str] = field(default_factory=dict)
    failed_files: dict[str, FingerprintError | ResolveError] = field(default_factory=dict)
    occurrences: list[Occurrence] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)

    def image_bytes(self, data: bytes, name: str) -> str:
        """SHA-256 of `data`, fingerprinting it unless these bytes are already known."""
        sha256 = hashlib.sha256(data).hexdigest()
        if sha256 not in self.known and sha256 not in self.fingerprints:
            self.fingerprints[sha256] = fingerprint(data, name, sha256=sha256)
        self.seen.add(sha256)
        return sha256

    def image_file(self, path: Path) -> str:
        """SHA-256 of an image file, reading and fingerprinting each file once per scan."""
        key = str(path)
        if key in self.files:
            return self.files[key]
        if key in self.failed_files:
            raise self.failed_files[key]
        try:
            sha256 = self.image_bytes(read_bytes(path, self.max_bytes), key)
        except (FingerprintError, ResolveError) as exc:
            self.failed_files[key] = exc
            raise
        self.files[key] = sha256
        return sha256


def _reference(scan: _Scan, resolver: Resolver, article: Article, ref: ImageRef) -> None:
    """Resolve the best candidate of `ref` that leads to a readable image (the largest
    `srcset` candidate first, then `src`); when none does, record the first one's failure."""
    failure: ResolveError | FingerprintError | None = None
    for src in ref.candidates():
        try:
            resolved = resolver.resolve(src, article.base)
            if resolved.file is not None:
                sha256 = scan.image_file(resolved.file)
            else:
                name = f"{ref.article} image {ref.position}"
                sha256 = scan.image_bytes(resolved.data or b"", name)
        except (ResolveError, FingerprintError) as exc:
            failure = failure or exc
            continue
        file = str(resolved.file) if resolved.file is not None else None
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
) -> ScanSummary:
    """Scan `paths` (files or folders, recursively) into `catalog` and save it.

    References resolve only inside `paths` and `assets`. Returns counts of what was read and
    of the duplicate clusters (within `threshold` bits) in the catalogue afterwards.
    `options` are the extraction choices (context size, JSON Lines fields).
    """
    paths = [Path(p) for p in paths]
    assets = [Path(a) for a in assets]
    resolver = Resolver(paths, assets)
    state = _Scan(known=catalog.known_sha256(), max_bytes=max_bytes)
    summary = ScanSummary()
    for source in walk(paths, state.errors):
        if on_file is not None:
            on_file(source)
        state.sources.add(str(source.path))
        if source.kind == "image":
            summary.loose_images += 1
            try:
                state.image_file(source.path)
            except (FingerprintError, ResolveError) as exc:
                code = getattr(exc, "code", None) or getattr(exc, "reason", "bad-image")
                state.errors.append(ItemError(str(source.path), code, str(exc)))
            continue
        try:
            for article in extract_file(source.path, source.kind, options or ExtractOptions()):
                summary.articles += 1
                state.errors.extend(article.errors)
                for ref in article.refs:
                    _reference(state, resolver, article, ref)
        except ExtractError as exc:
            state.errors.append(ItemError(exc.path, exc.code, str(exc), article=exc.path))

    catalog.record(
        sources=state.sources,
        fingerprints=state.fingerprints.values(),
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
