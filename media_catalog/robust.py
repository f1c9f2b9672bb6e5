"""Matching that survives cropping, turning and mirroring (`dupes --robust`, `lookup --image
FILE --robust`), with every pair verified before it is reported.

Features: ORB keypoints (OpenCV) of the image's upright grey picture at most SIDE px, and of
that picture mirrored (ORB turns with the picture, but does not mirror).

Candidates: keypoint descriptors (256 bits) that fall in the same bucket of any of TABLES
locality-sensitive hash tables (BITS sampled bits each), grouped per pair of images; a pair
is a candidate when a similarity transform fitted by RANSAC to its colliding keypoints holds
at least SPATIAL_INLIERS of them (random collisions do not line up).

Verification: descriptors matched by Hamming distance with Lowe's ratio test, a similarity
transform (rotation, scale, translation: any crop, turn, letterbox; the mirrored keypoints
for a mirrored copy) fitted by RANSAC, then the pixel check: the finer picture shrunk and
warped onto the coarser, both compared cell by cell (CELL px) over the content they share
(flat fill reached from a corner: bars, padding, the corners of a turned copy, is left
out). A pair is the same photo when the shared content covers at least MIN_OVERLAP of the
smaller picture, at least MIN_CELLS cells are textured in both, and at least AGREEING of
those correlate at CELL_NCC or better (AGREEING_HASHED for a pair a mirrored or turned
view's hashes matched), and no second transform fits the other matches nearly as well (a
repeated pattern). The limits come from benchmarks/accuracy.py --robust (docs/benchmarks.md).
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Callable, Container, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .errors import FingerprintError, QueryError
from .fingerprint import upright_grey
from .hashing import default_workers, pool_context
from .records import ImageRecord
from .resolve import stored_bytes
from .store import Store

try:
    import cv2
except ImportError as exc:  # pragma: no cover - the extra is installed with the tests
    raise QueryError("--robust needs OpenCV: pip install 'media-catalog[robust]'") from exc

SIDE = 512  # the picture features are found on and compared at, longer side in px
KEYPOINTS = 500
MIN_KEYPOINTS = 16  # fewer (flat pictures, charts): the image is matched by its hashes only
MIN_SIDE = 32  # a smaller picture gets no keypoints (ORB's pyramid cannot shrink it)
TABLES, BITS, BUCKET_CAP = 8, 32, 16  # a bucket of more descriptors than the cap says nothing
SPATIAL_VOTES, SPATIAL_INLIERS = 4, 5
CHUNK = 50_000  # query keypoints whose collisions are held at once (memory)
PER_IMAGE = 32  # image pairs fitted per image and side (mirrored or not), most collisions first
RATIO = 0.8  # Lowe's ratio test
MIN_INLIERS = 8
# A second transform fitting this share of the first's inliers among the other matches means
# a repeated pattern (a facade, a tiled texture): the keypoints cannot say where one lies.
REPEATED = 0.3
PIXELS_OFF = 3.0  # RANSAC's reprojection limit, px at SIDE
CELL = 16
BLUR = 1.0  # Gaussian sigma, px, applied to both pictures before cells are compared
CELL_NCC = 0.8
AGREEING = 0.95
# A pair already matched by the hashes of a mirrored or turned view has a second signal: its
# cells need agree less (fine textures turned by 90 or 180 degrees lose some correlation).
AGREEING_HASHED = 0.75
MIN_CELLS = 24
MIN_OVERLAP = 0.5
FORMAT = 1  # the layout of a cached Features record
_HEADER = struct.Struct("<HHHII")  # format, width, height, keypoints, mirrored keypoints


@dataclass(frozen=True)
class Features:
    """ORB keypoints of a picture `width`×`height` px: (n, 2) float32 positions and (n, 32)
    uint8 descriptors; and those of the picture mirrored left to right."""

    width: int
    height: int
    points: np.ndarray
    descriptors: np.ndarray
    mirror_points: np.ndarray
    mirror_descriptors: np.ndarray

    def to_bytes(self) -> bytes:
        head = _HEADER.pack(
            FORMAT, self.width, self.height, len(self.points), len(self.mirror_points)
        )
        return head + b"".join(array.tobytes() for array in self._arrays())

    def _arrays(self) -> tuple[np.ndarray, ...]:
        return (self.points, self.descriptors, self.mirror_points, self.mirror_descriptors)

    @classmethod
    def from_bytes(cls, blob: bytes) -> Features | None:
        """The record `to_bytes` wrote; None for a record of another layout or type."""
        if not isinstance(blob, bytes) or len(blob) < _HEADER.size:
            return None
        layout, width, height, n, m = _HEADER.unpack_from(blob)
        if layout != FORMAT or len(blob) != _HEADER.size + 40 * (n + m):
            return None
        at, arrays = _HEADER.size, []
        for count, dtype, columns in (
            (n, np.float32, 2),
            (n, np.uint8, 32),
            (m, np.float32, 2),
            (m, np.uint8, 32),
        ):
            arrays.append(np.frombuffer(blob, dtype, count * columns, at).reshape(count, columns))
            at += count * columns * np.dtype(dtype).itemsize
        return cls(width, height, *arrays)


@dataclass(frozen=True)
class Verification:
    """How a pair was verified: keypoints that agree with the fitted transform, the turn in
    degrees (counter-clockwise) taking the second picture onto the first (after mirroring it
    when `mirrored`), the share of the smaller picture's content the two show (`overlap`: 1
    for a crop) and of the larger's (`coverage`: about 0.36 for a 60 % crop), textured cells
    compared there, and the share of those that agree."""

    mirrored: bool
    inliers: int
    rotation: float
    overlap: float
    coverage: float
    cells: int
    agreeing: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "mirrored": self.mirrored,
            "inliers": self.inliers,
            "rotation": round(float(self.rotation), 1),
            "overlap": round(float(self.overlap), 3),
            "coverage": round(float(self.coverage), 3),
            "cells": self.cells,
            "agreeing": round(float(self.agreeing), 3),
        }


def picture(data: bytes, name: str | None = None) -> np.ndarray:
    """The grey picture features are found on (upright, at most SIDE px); raises
    FingerprintError for bytes that are not a usable image."""
    return upright_grey(data, SIDE, name)


@lru_cache(maxsize=1)
def _orb() -> cv2.ORB:
    return cv2.ORB_create(nfeatures=KEYPOINTS, edgeThreshold=15, patchSize=15, fastThreshold=10)


def stored_picture(image: ImageRecord) -> np.ndarray | None:
    """The picture of a catalogued image (an image object), from the file that still holds
    its bytes; None when none does, or they no longer decode."""
    data = stored_bytes(image.sha256, image.paths())
    try:
        return None if data is None else picture(data, image.sha256)
    except FingerprintError:
        return None


def features(grey: np.ndarray) -> Features:
    """ORB keypoints of `grey` and of `grey` mirrored (none for a picture under MIN_SIDE px
    on a side: a strip, a divider)."""
    height, width = grey.shape
    found = []
    for pixels in (grey, np.ascontiguousarray(grey[:, ::-1])):
        keypoints, descriptors = (
            _orb().detectAndCompute(pixels, None) if min(height, width) >= MIN_SIDE else ((), None)
        )
        if descriptors is None:
            found += [np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)]
        else:
            found += [np.array([k.pt for k in keypoints], np.float32), descriptors]
    return Features(width, height, *found)


def features_of(data: bytes, name: str | None = None) -> Features:
    """`features` of an image's bytes."""
    return features(picture(data, name))


def checkable(*found: Features | None) -> bool:
    """Whether each has the keypoints a verification needs (MIN_KEYPOINTS, both sides)."""
    return all(
        item is not None and min(len(item.points), len(item.mirror_points)) >= MIN_KEYPOINTS
        for item in found
    )


def _keys(descriptors: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Each descriptor's bucket in one table: the BITS bits at `positions`, as a uint32."""
    key = np.zeros(len(descriptors), np.uint32)
    for k, bit in enumerate(positions.tolist()):
        key |= ((descriptors[:, bit >> 3] >> (7 - (bit & 7))) & 1).astype(np.uint32) << k
    return key


def _stacked(found: Sequence[Features | None], mirrored: bool) -> tuple[np.ndarray, ...]:
    """All keypoints of `found` (mirrored or not) in one array each: owner, point, descriptor;
    images with fewer than MIN_KEYPOINTS are left out."""
    owners, points, descriptors = [np.zeros(0, np.int64)], [np.zeros((0, 2), np.float32)], []
    descriptors.append(np.zeros((0, 32), np.uint8))
    for number, item in enumerate(found):
        if item is None or len(item.points) < MIN_KEYPOINTS:
            continue
        p, d = (
            (item.mirror_points, item.mirror_descriptors)
            if mirrored
            else (item.points, item.descriptors)
        )
        owners.append(np.full(len(p), number, np.int64))
        points.append(p)
        descriptors.append(d)
    return np.concatenate(owners), np.concatenate(points), np.concatenate(descriptors)


def candidates(
    index: Sequence[Features | None], queries: Sequence[Features | None]
) -> set[tuple[int, int, bool]]:
    """(query number, index number, mirrored) of the pairs worth verifying: the query's
    keypoints (mirrored or not) collide with the indexed image's in the hash tables, and
    enough of the collisions fit one similarity transform (tried for the PER_IMAGE images
    each query collides with most, on each side). Pass the same list twice to pair a
    collection with itself (a pair with itself is never given)."""
    owner, point, descriptor = _stacked(index, False)
    rng = np.random.default_rng(20261205)  # fixed: the same catalogue gives the same pairs
    tables = []
    for positions in (rng.choice(256, BITS, replace=False) for _ in range(TABLES)):
        key = _keys(descriptor, positions)
        order = np.argsort(key, kind="stable").astype(np.int32)
        tables.append((positions, key[order], order))
    del descriptor
    found: set[tuple[int, int, bool]] = set()
    for mirrored in (False, True):
        q_owner, q_point, q_descriptor = _stacked(queries, mirrored)
        for start, stop in _chunks(q_owner):  # collisions held for one chunk of queries
            hits = [
                _collisions(_keys(q_descriptor[start:stop], positions), keys, order)
                for positions, keys, order in tables
            ]
            both = np.sort(np.concatenate(hits) @ np.array([len(owner), 1], np.int64))
            both = both[np.r_[True, both[1:] != both[:-1]]] if len(both) else both  # once each
            pairs = np.stack([start + both // len(owner), both % len(owner)], axis=1)
            if index is queries:
                pairs = pairs[q_owner[pairs[:, 0]] != owner[pairs[:, 1]]]
            spatial = _spatial(pairs, q_owner, owner, q_point, point)
            found.update((a, b, mirrored) for a, b in spatial)
    return found


def _chunks(owner: np.ndarray) -> Iterable[tuple[int, int]]:
    """(start, stop) rows of about CHUNK keypoints, never splitting one image's."""
    if not len(owner):
        return
    firsts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    start = 0
    while start < len(owner):
        later = firsts[firsts >= start + CHUNK]
        stop = int(later[0]) if len(later) else len(owner)
        yield start, stop
        start = stop


def _collisions(query_keys: np.ndarray, sorted_keys: np.ndarray, order: np.ndarray) -> np.ndarray:
    """(query row, index row) of every query key found in a bucket of at most BUCKET_CAP."""
    low = np.searchsorted(sorted_keys, query_keys, "left")
    count = np.searchsorted(sorted_keys, query_keys, "right") - low
    useful = (count > 0) & (count <= BUCKET_CAP)
    count = count[useful]
    rows = np.repeat(np.flatnonzero(useful), count)
    offsets = np.arange(len(rows)) - np.repeat(np.cumsum(count) - count, count)
    return np.stack([rows, order[np.repeat(low[useful], count) + offsets]], axis=1)


def _spatial(
    pairs: np.ndarray,
    q_owner: np.ndarray,
    owner: np.ndarray,
    q_point: np.ndarray,
    point: np.ndarray,
) -> Iterable[tuple[int, int]]:
    """The image pairs among colliding keypoint `pairs` (query row, index row) whose
    collisions fit one similarity transform (at least SPATIAL_INLIERS, RANSAC); only the
    PER_IMAGE pairs of most collisions of each query image are fitted."""
    if not len(pairs):
        return
    a, b = q_owner[pairs[:, 0]], owner[pairs[:, 1]]
    key = a * (int(owner.max()) + 1) + b
    order = np.argsort(key, kind="stable")
    key, pairs, a, b = key[order], pairs[order], a[order], b[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    counts = np.diff(np.r_[starts, len(key)])
    # per query image, its PER_IMAGE pairs of most collisions (of at least SPATIAL_VOTES)
    ranked = np.lexsort((-counts, a[starts]))
    ranked = ranked[counts[ranked] >= SPATIAL_VOTES]
    first = np.r_[True, a[starts][ranked][1:] != a[starts][ranked][:-1]]
    rank = np.arange(len(ranked)) - np.maximum.accumulate(
        np.where(first, np.arange(len(ranked)), 0)
    )
    for group in ranked[rank < PER_IMAGE].tolist():
        start, end = int(starts[group]), int(starts[group] + counts[group])
        model, inliers = cv2.estimateAffinePartial2D(
            q_point[pairs[start:end, 0]],
            point[pairs[start:end, 1]],
            method=cv2.RANSAC,
            ransacReprojThreshold=4.0,
            maxIters=200,
        )
        if model is not None and int(inliers.sum()) >= SPATIAL_INLIERS:
            yield int(a[start]), int(b[start])


def verify(
    grey_a: np.ndarray,
    found_a: Features,
    grey_b: np.ndarray,
    found_b: Features,
    mirrored: bool,
    agreeing: float = AGREEING,
) -> Verification | None:
    """A Verification when picture b (mirrored when `mirrored`) shows the same photo as
    picture a, possibly cropped, scaled, turned or padded, at least `agreeing` of the
    textured cells agreeing; None when it does not."""
    points_b, descriptors_b = (
        (found_b.mirror_points, found_b.mirror_descriptors)
        if mirrored
        else (found_b.points, found_b.descriptors)
    )
    if len(found_a.points) < MIN_KEYPOINTS or len(points_b) < MIN_KEYPOINTS:
        return None
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    good = [
        pair[0]
        for pair in matcher.knnMatch(descriptors_b, found_a.descriptors, k=2)
        if len(pair) == 2 and pair[0].distance < RATIO * pair[1].distance
    ]
    if len(good) < MIN_INLIERS:
        return None
    source = points_b[[m.queryIdx for m in good]]
    target = found_a.points[[m.trainIdx for m in good]]
    model, inliers = _fit(source, target)
    if model is None or int(inliers.sum()) < MIN_INLIERS:
        return None
    rest = ~inliers.ravel().astype(bool)
    _, again = _fit(source[rest], target[rest]) if rest.sum() >= MIN_INLIERS else (None, None)
    if again is not None and int(again.sum()) >= max(MIN_INLIERS, REPEATED * inliers.sum()):
        return None  # a second transform fits as well: a repeated pattern, not one photo
    if mirrored:
        grey_b = np.ascontiguousarray(grey_b[:, ::-1])
    compared = _compare(grey_a, grey_b, model)
    if compared is None:
        return None
    overlap, coverage, cells, agreed = compared
    if overlap < MIN_OVERLAP or cells < MIN_CELLS or agreed < agreeing:
        return None
    rotation = float(np.degrees(np.arctan2(model[1, 0], model[0, 0])))
    return Verification(mirrored, int(inliers.sum()), rotation, overlap, coverage, cells, agreed)


def _fit(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """A similarity transform taking `source` points onto `target` (RANSAC), and the
    inlier mask."""
    return cv2.estimateAffinePartial2D(
        source,
        target,
        method=cv2.RANSAC,
        ransacReprojThreshold=PIXELS_OFF,
        maxIters=2000,
        confidence=0.999,
    )


def content(grey: np.ndarray) -> np.ndarray:
    """255 where `grey` shows content, 0 on flat fill reached from a corner (bars, padding,
    the blank corners of a turned copy); fill of half the picture or more is its background
    (a page, a chart), which is content."""
    height, width = grey.shape
    mask = np.zeros((height + 2, width + 2), np.uint8)
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
    for x, y in ((0, 0), (width - 1, 0), (0, height - 1), (width - 1, height - 1)):
        if not mask[y + 1, x + 1]:
            cv2.floodFill(grey, mask, (x, y), 0, 3, 3, flags)
    fill = mask[1:-1, 1:-1] > 0
    if np.count_nonzero(fill) >= fill.size / 2:
        return np.full(grey.shape, 255, np.uint8)
    return np.where(fill, 0, 255).astype(np.uint8)


def _compare(
    grey_a: np.ndarray, grey_b: np.ndarray, model: np.ndarray
) -> tuple[float, float, int, float] | None:
    """(share of the smaller picture's content the two share, share of the larger's, textured
    cells compared, share agreeing) with b warped onto a by `model` (the finer picture is
    warped onto the coarser)."""
    if np.hypot(model[0, 0], model[1, 0]) > 1:  # b is the coarser: warp a onto it
        model = cv2.invertAffineTransform(model)
        grey_a, grey_b = grey_b, grey_a
    mask_a, mask_b = content(grey_a), content(grey_b)
    scale = float(np.hypot(model[0, 0], model[1, 0]))
    if scale < 0.8:  # shrink the finer picture by area first: a warp alone would alias it
        size = (max(1, round(grey_b.shape[1] * scale)), max(1, round(grey_b.shape[0] * scale)))
        fx, fy = size[0] / grey_b.shape[1], size[1] / grey_b.shape[0]
        grey_b = cv2.resize(grey_b, size, interpolation=cv2.INTER_AREA)
        mask_b = cv2.resize(mask_b, size, interpolation=cv2.INTER_NEAREST)
        model = model @ np.array([[1 / fx, 0, 0], [0, 1 / fy, 0], [0, 0, 1]])
        scale = float(np.hypot(model[0, 0], model[1, 0]))
    height, width = grey_a.shape
    rows, columns = height // CELL, width // CELL
    if not rows or not columns:
        return None
    a = cv2.GaussianBlur(grey_a.astype(np.float32), (0, 0), BLUR)
    b = cv2.warpAffine(
        cv2.GaussianBlur(grey_b.astype(np.float32), (0, 0), BLUR), model, (width, height)
    )
    warped_mask = cv2.warpAffine(mask_b, model, (width, height), flags=cv2.INTER_NEAREST)
    shared = warped_mask & mask_a
    areas = sorted((float(np.count_nonzero(mask_a)), np.count_nonzero(mask_b) * scale**2))
    overlap = float(np.count_nonzero(shared)) / max(areas[0], 1.0)
    coverage = float(np.count_nonzero(shared)) / max(areas[1], 1.0)

    def cells(pixels: np.ndarray) -> np.ndarray:
        part = pixels[: rows * CELL, : columns * CELL]
        return part.reshape(rows, CELL, columns, CELL).transpose(0, 2, 1, 3).reshape(-1, CELL**2)

    inside = cells(shared).min(axis=1) > 0
    x, y = cells(a)[inside], cells(b)[inside]
    x, y = x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
    sx, sy = np.sqrt((x * x).mean(axis=1)), np.sqrt((y * y).mean(axis=1))
    textured = (sx > 4) & (sy > 4)
    if not textured.any():
        return min(overlap, 1.0), min(coverage, 1.0), 0, 0.0
    ncc = (x * y).mean(axis=1)[textured] / (sx[textured] * sy[textured])
    agreeing = float(np.mean(ncc >= CELL_NCC))
    return min(overlap, 1.0), min(coverage, 1.0), int(textured.sum()), agreeing


class FeatureCache:
    """Features kept by SHA-256 in an SQLite file (written in one transaction per batch);
    a cache that cannot be opened or written only means features are found again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS features (sha256 TEXT PRIMARY KEY, data BLOB)"
            )
        except (OSError, sqlite3.Error):
            self._db = None

    def get(self, sha256s: Iterable[str]) -> dict[str, Features]:
        """The cached features of those of `sha256s` that have them."""
        found: dict[str, Features] = {}
        if self._db is None:
            return found
        wanted = list(sha256s)
        try:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT sha256, data FROM features WHERE sha256 IN ({marks})"
                for sha256, blob in self._db.execute(query, chunk):
                    item = Features.from_bytes(blob)
                    if item is not None:
                        found[sha256] = item
        except sqlite3.Error:
            pass
        return found

    def put(self, found: dict[str, Features]) -> None:
        if self._db is None or not found:
            return
        try:
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO features VALUES (?, ?)",
                    [(sha256, item.to_bytes()) for sha256, item in found.items()],
                )
        except sqlite3.Error:
            pass


def _features_blob(sha256: str, paths: list[str]) -> bytes | None:
    """In a worker: the features of the image in the first of `paths` that holds its bytes."""
    data = stored_bytes(sha256, paths)
    if data is None:
        return None
    try:
        return features_of(data, paths[0]).to_bytes()
    except FingerprintError:
        return None


def catalogue_features(
    catalog: Store, sha256s: Sequence[str], folder: Path, workers: int | None = None
) -> tuple[list[Features | None], dict[str, int]]:
    """The features of each of `sha256s` (None where no file holds its bytes any more), from
    the cache in `folder` (features.sqlite), else found from the catalogued files by
    `workers` processes (default: all cores) and cached. Counts: `cached`, `found`,
    `unavailable`."""
    cache = FeatureCache(folder / "features.sqlite")
    have = cache.get(sha256s)
    missing = [sha256 for sha256 in sha256s if sha256 not in have]
    counts = {"cached": len(have), "found": 0, "unavailable": 0}
    if missing:
        context = pool_context()
        with ProcessPoolExecutor(workers or default_workers(), mp_context=context) as pool:
            for start in range(0, len(missing), 512):
                jobs = [
                    (image.sha256, image.paths())
                    for image in catalog.image_objects(missing[start : start + 512])
                ]
                new = {}
                blobs = pool.map(_features_blob, *zip(*jobs, strict=True), chunksize=8)
                for (sha256, _), blob in zip(jobs, blobs, strict=True):
                    item = None if blob is None else Features.from_bytes(blob)
                    if item is None:
                        counts["unavailable"] += 1
                    else:
                        new[sha256] = have[sha256] = item
                counts["found"] += len(new)
                cache.put(new)
    return [have.get(sha256) for sha256 in sha256s], counts


def verified(
    found: Sequence[Features | None],
    wanted: Iterable[tuple[int, int, bool]],
    picture_of: Callable[[int], np.ndarray | None],
    hashed: Container[tuple[int, int]] = (),
) -> dict[tuple[int, int], Verification]:
    """The pairs (a, b, mirrored) of `wanted` that `verify` confirms, by (a, b); those in
    `hashed` (matched by a mirrored or turned view's hashes) need only AGREEING_HASHED.
    Pictures come from `picture_of(number)` (None: not readable), the most recent kept for
    the next pairs."""
    pictures = lru_cache(maxsize=256)(picture_of)
    confirmed: dict[tuple[int, int], Verification] = {}
    for a, b, mirrored in sorted(wanted):
        if (a, b) in confirmed or found[a] is None or found[b] is None:
            continue
        grey_a, grey_b = pictures(a), pictures(b)
        if grey_a is None or grey_b is None:
            continue
        least = AGREEING_HASHED if (a, b) in hashed else AGREEING
        result = verify(grey_a, found[a], grey_b, found[b], mirrored, least)
        if result is not None:
            confirmed[(a, b)] = result
    return confirmed
