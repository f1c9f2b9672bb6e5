"""Matching that survives cropping, turning and mirroring (`dupes --robust`, `lookup --image
FILE --robust`), with every pair verified before it is reported.

Features: ORB keypoints (OpenCV) of the image's upright grey picture at most SIDE px, and of
that picture mirrored (ORB turns with the picture, but does not mirror).

Candidates: keypoints whose descriptors (256 bits) are equal in any of their TABLES parts of
32 bits (a hash table each: descriptors under 8 bits apart share at least one part), grouped
per pair of images, one block of BLOCK indexed images at a time (memory); a pair is a
candidate when enough of its collisions agree on the turn between the pictures (from the
keypoints' orientations) and a similarity transform fitted by RANSAC to those holds at least
SPATIAL_INLIERS of them (random collisions do not line up).

Verification: descriptors matched by Hamming distance with Lowe's ratio test, a similarity
transform (rotation, scale, translation: any crop, turn, letterbox; the mirrored keypoints
for a mirrored copy) fitted by RANSAC, then the pixel check: the finer picture shrunk and
warped onto the coarser, both compared cell by cell (CELL px) over the content they share
(flat fill reached from a corner: bars, padding, the corners of a turned copy, is left
out). A pair is the same photo when the shared content covers at least MIN_OVERLAP of the
smaller picture, at least MIN_CELLS cells are textured in both, and at least AGREEING of
those correlate at CELL_NCC or better (AGREEING_MANY over MANY_CELLS cells or more;
AGREEING_HASHED for a pair a mirrored or turned view's hashes matched), and no second
transform fits the other matches nearly as well (a repeated pattern). The limits come from
benchmarks/accuracy.py --robust (docs/benchmarks.md).
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import struct
import time
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, overload

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

# OpenCV's thread pool does not survive a fork: a worker forked after this process used it
# can wait for pool threads it does not have. Work is spread over processes instead.
cv2.setNumThreads(0)

SIDE = 512  # the picture features are found on and compared at, longer side in px
KEYPOINTS = 500
MIN_KEYPOINTS = 16  # fewer (flat pictures, charts): the image is matched by its hashes only
MIN_SIDE = 32  # a smaller picture gets no keypoints (ORB's pyramid cannot shrink it)
_SHIFT = 6  # a table's bitmap of the key hashes that hold a bucket: 2**26 bits (8 MB)
TABLES, BUCKET_CAP = 8, 16  # the descriptor's 8 parts of 32 bits; a fuller bucket says nothing
SPATIAL_VOTES, SPATIAL_INLIERS = 4, 5
TURN_BINS = 16  # orientation differences are voted in bins of 22.5 degrees
CHUNK = 50_000  # query keypoints whose collisions are held at once (memory)
BLOCK = 10_000  # images whose keypoints are indexed at once (memory: about 1 GB)
ASKED = 1_000  # images whose features are read from the cache at once
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
# Over a larger overlap a look-alike shows its differences: among the keypoint candidates of
# different photos of benchmarks/accuracy.py --robust, those with MANY_CELLS textured cells
# or more agree in at most 68 % of them, while a copy turned by a few degrees loses some
# cells of fine texture to resampling (92-95 % agreeing on full-size photographs).
MANY_CELLS = 100
AGREEING_MANY = 0.9
# A transform fitted to keypoints can be a fraction of a degree off, enough for fine texture to
# disagree (a fig on concrete turned 10 degrees: -9.6 fitted, 0.77 of 323 cells agreeing). A
# pair of MANY_CELLS cells or more that falls short but agrees in SECOND_CHANCE of them is
# compared again with the transform refined by the pixels (ECC), when that moves no corner of
# the picture over REFINED_MOVE px (look-alikes that large rise from at most 0.68 to 0.82).
SECOND_CHANCE = 0.5
REFINED_MOVE = 8.0
# A pair already matched by the hashes of a mirrored or turned view has a second signal: its
# cells need agree less (fine textures turned by 90 or 180 degrees lose some correlation).
AGREEING_HASHED = 0.75
# Two pictures whole-picture hashes matched, compared as one frame: look-alikes (other
# details in the same composition) agree in 4-10 % of the cells, a copy at JPEG quality 10
# or under a watermark in 65 % and more, a 90 % crop or a 3-degree turn in 17-42 %.
FRAME_AGREEING = 0.25
MIN_CELLS = 24
# Fewer cells suffice to refute than to verify: a padded look-alike that only a mirror view's
# hashes matched disagrees in all of its 23 cells.
REFUTING_CELLS = 16
MIN_OVERLAP = 0.5
FORMAT = 2  # the layout of a cached Features record
# The cached features of an image not catalogued are kept this long after they were written:
# another run, whose catalogue holds it, may be using them (seconds; a day).
KEPT_UNKNOWN = 86_400
_HEADER = struct.Struct("<HHHII")  # format, width, height, keypoints, mirrored keypoints
_PER_KEYPOINT = 8 + 32 + 1  # bytes: position, descriptor, orientation


@dataclass(frozen=True)
class Features:
    """ORB keypoints of a picture `width`×`height` px: (n, 2) float32 positions, (n, 32)
    uint8 descriptors and (n,) uint8 orientations (256 steps a turn); and those of the
    picture mirrored left to right."""

    width: int
    height: int
    points: np.ndarray
    descriptors: np.ndarray
    angles: np.ndarray
    mirror_points: np.ndarray
    mirror_descriptors: np.ndarray
    mirror_angles: np.ndarray

    def side(self, mirrored: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Points, descriptors and orientations of the picture, or of it mirrored."""
        if mirrored:
            return self.mirror_points, self.mirror_descriptors, self.mirror_angles
        return self.points, self.descriptors, self.angles

    def to_bytes(self) -> bytes:
        head = _HEADER.pack(
            FORMAT, self.width, self.height, len(self.points), len(self.mirror_points)
        )
        return head + b"".join(a.tobytes() for a in (*self.side(False), *self.side(True)))

    @classmethod
    def from_bytes(cls, blob: bytes) -> Features | None:
        """The record `to_bytes` wrote; None for a record of another layout or type."""
        if not isinstance(blob, bytes) or not _complete(blob, len(blob)):
            return None
        _, width, height, n, m = _HEADER.unpack_from(blob)
        at, arrays = _HEADER.size, []
        for count in (n, m):
            for dtype, shape in ((np.float32, (count, 2)), (np.uint8, (count, 32))):
                size = count * shape[1]
                arrays.append(np.frombuffer(blob, dtype, size, at).reshape(shape))
                at += size * np.dtype(dtype).itemsize
            arrays.append(np.frombuffer(blob, np.uint8, count, at))
            at += count
        return cls(width, height, *arrays)


def _complete(head: bytes, size: int) -> bool:
    """Whether a record beginning `head` (its header at least) and `size` bytes long is a
    whole Features record of this layout."""
    if len(head) < _HEADER.size:
        return False
    layout, _, _, n, m = _HEADER.unpack_from(head)
    return layout == FORMAT and size == _HEADER.size + _PER_KEYPOINT * (n + m)


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

    def reversed(self) -> Verification:
        """The same verification of the pair taken the other way round (the inverse of a
        mirrored transform turns by the same angle)."""
        return replace(self, rotation=self.rotation if self.mirrored else -self.rotation)

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
    found: list[np.ndarray] = []
    for pixels in (grey, np.ascontiguousarray(grey[:, ::-1])):
        keypoints, descriptors = (
            _orb().detectAndCompute(pixels, None) if min(height, width) >= MIN_SIDE else ((), None)
        )
        if descriptors is None:
            keypoints, descriptors = (), np.zeros((0, 32), np.uint8)
        degrees = np.array([k.angle for k in keypoints], np.float64)
        found += [
            np.array([k.pt for k in keypoints], np.float32).reshape(-1, 2),
            descriptors,
            np.round(degrees * 256 / 360).astype(np.int64).astype(np.uint8),  # 360 deg: 0
        ]
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


def _keys(descriptors: np.ndarray, table: int) -> np.ndarray:
    """Each descriptor's bucket in one table: its 32-bit part number `table`."""
    part = np.ascontiguousarray(descriptors[:, 4 * table : 4 * table + 4])
    return part.view(np.uint32).ravel()


def _stacked(
    found: Sequence[Features | None],
    mirrored: bool,
    first: int = 0,
    skip: Container[int] = (),
) -> tuple[np.ndarray, ...]:
    """All keypoints of `found` (mirrored or not) in one array each: owner (its number in
    `found` plus `first`), point, descriptor, orientation; images with fewer than
    MIN_KEYPOINTS, and those numbered in `skip`, are left out."""
    owners = [np.zeros(0, np.int64)]
    points, descriptors, angles = [np.zeros((0, 2), np.float32)], [], [np.zeros(0, np.uint8)]
    descriptors.append(np.zeros((0, 32), np.uint8))
    for number, item in enumerate(found):
        if item is None or len(item.points) < MIN_KEYPOINTS or first + number in skip:
            continue
        p, d, o = item.side(mirrored)
        owners.append(np.full(len(p), first + number, np.int64))
        points.append(p)
        descriptors.append(d)
        angles.append(o)
    return tuple(np.concatenate(x) for x in (owners, points, descriptors, angles))


def candidates(
    index: Sequence[Features | None],
    queries: Sequence[Features | None],
    workers: int | None = None,
    skip: Container[int] = (),
) -> set[tuple[int, int, bool]]:
    """(query number, index number, mirrored) of the pairs worth verifying: the query's
    keypoints (mirrored or not) collide with the indexed image's in the hash tables, and
    enough of the collisions fit one similarity transform (tried for the PER_IMAGE images
    each query collides with most, on each side, in each block of BLOCK indexed images).
    Pass the same sequence twice to pair a collection with itself (a pair with itself is
    never given); images numbered in `skip` are not indexed (nor asked, for a collection
    paired with itself). Memory is bounded: BLOCK images are indexed at once, ASKED queried
    by each of `workers` processes (default: all cores; forked, sharing the index; one
    process where there is no fork)."""
    found: set[tuple[int, int, bool]] = set()
    itself = index is queries
    workers = workers or default_workers()
    for start in range(0, len(index), BLOCK):
        block = _indexed(index, start, min(start + BLOCK, len(index)), workers, skip)
        if not len(block[0]):
            continue
        # a collection paired with itself: an earlier block's pairs with this one are found
        # when that block is indexed and this one queries it
        slices = range(start if itself else 0, len(queries), ASKED)
        shared = (queries, itself, skip if itself else (), *block)
        for part in _in_workers(_query, list(slices), shared, workers):
            found |= part
    return found


_SHARED: tuple[Any, ...] | None = None  # what a task of _in_workers reads: set before the fork


def _in_workers(
    task: Callable[[Any], Any], parts: list[Any], shared: tuple[Any, ...], workers: int
) -> Iterable[Any]:
    """task(part) for each of `parts`, in order, by `workers` processes forked with `shared`
    (as _SHARED: large arrays, cache connections and callables are not sent); in this
    process where there is no fork, or for a single part."""
    global _SHARED
    _SHARED = shared
    try:
        if workers < 2 or len(parts) < 2 or "fork" not in multiprocessing.get_all_start_methods():
            yield from map(task, parts)
            return
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            yield from pool.map(task, parts)
    finally:
        _SHARED = None


def _query(q_start: int) -> set[tuple[int, int, bool]]:
    """candidates' pairs of the ASKED queries from `q_start` with the indexed block."""
    assert _SHARED is not None
    queries, itself, skip, owner, point, angle, tables = _SHARED
    found: set[tuple[int, int, bool]] = set()
    asking = queries[q_start : q_start + ASKED]
    for mirrored in (False, True):
        q_owner, q_point, q_descriptor, q_angle = _stacked(asking, mirrored, q_start, skip)
        for first, stop in _chunks(q_owner):  # collisions held for a chunk of queries
            hits = np.concatenate(
                [
                    _collisions(_keys(q_descriptor[first:stop], number), *table)
                    for number, table in enumerate(tables)
                ]
            )
            both = np.sort(hits[:, 0] * len(owner) + hits[:, 1])
            both = both[np.r_[True, both[1:] != both[:-1]]] if len(both) else both  # once
            pairs = np.stack([first + both // len(owner), both % len(owner)], axis=1)
            if itself:
                pairs = pairs[q_owner[pairs[:, 0]] != owner[pairs[:, 1]]]
            turns = q_angle[pairs[:, 0]] - angle[pairs[:, 1]]  # uint8: modulo a turn
            spatial = _spatial(pairs, turns, q_owner, owner, q_point, point)
            found.update((a, b, mirrored) for a, b in spatial)
    return found


def _indexed(
    index: Sequence[Features | None], start: int, stop: int, workers: int, skip: Container[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[np.ndarray, ...]]]:
    """The keypoints of `index[start:stop]` but those numbered in `skip` (read ASKED images
    at a time): owner, point and orientation arrays, and a hash table over each part of their
    descriptors (built by `workers` threads)."""
    parts = [
        _stacked(index[at : min(at + ASKED, stop)], False, at, skip)
        for at in range(start, stop, ASKED)
    ]
    owner, point, descriptor, angle = (np.concatenate(c) for c in zip(*parts, strict=True))
    del parts
    if not len(owner):
        return owner, point, angle, []
    with ThreadPoolExecutor(workers) as threads:  # numpy sorts without holding the GIL
        tables = list(threads.map(lambda n: _table(_keys(descriptor, n)), range(TABLES)))
    return owner.astype(np.int32), point, angle, tables


def _table(keys: np.ndarray) -> tuple[np.ndarray, ...]:
    """One hash table over an indexed block's `keys`: the keys of its buckets of at most
    BUCKET_CAP keypoints (sorted), where each bucket starts in `rows` and how many it holds,
    and `rows`, the block's keypoints ordered by key."""
    rows = np.argsort(keys, kind="stable").astype(np.int32)
    ordered = keys[rows]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]).astype(np.int32)
    counts = np.diff(np.r_[starts, len(keys)])
    buckets = ordered[starts]
    small = counts <= BUCKET_CAP  # a bucket of more descriptors than the cap says nothing
    buckets = buckets[small]
    present = np.zeros(1 << (32 - _SHIFT), bool)  # which hashes of keys have a bucket
    present[_spread(buckets)] = True
    bitmap = np.packbits(present, bitorder="little")
    return bitmap, buckets, starts[small], counts[small].astype(np.uint8), rows


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


def _spread(keys: np.ndarray) -> np.ndarray:
    """A hash of 32 - _SHIFT bits of each key (keys of one bucket are alike: their high bits
    would not tell them apart)."""
    return (keys * np.uint32(0x9E3779B1)) >> np.uint32(_SHIFT)


def _collisions(
    query_keys: np.ndarray,
    present: np.ndarray,
    buckets: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
    rows: np.ndarray,
) -> np.ndarray:
    """(query row, index row) of every query key found in a bucket of the table."""
    spread = _spread(query_keys)
    maybe = np.flatnonzero((present[spread >> 3] >> (spread & 7).astype(np.uint8)) & 1)
    order = maybe[np.argsort(query_keys[maybe])]  # sorted: a search starts where one ended
    at = np.searchsorted(buckets, query_keys[order])
    at[at == len(buckets)] = 0
    hit = buckets[at] == query_keys[order] if len(buckets) else np.zeros(len(at), bool)
    queried, at = order[hit], at[hit]
    count = counts[at].astype(np.int64)
    offsets = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    return np.stack([np.repeat(queried, count), rows[np.repeat(starts[at], count) + offsets]], 1)


def _spatial(
    pairs: np.ndarray,
    turns: np.ndarray,
    q_owner: np.ndarray,
    owner: np.ndarray,
    q_point: np.ndarray,
    point: np.ndarray,
) -> Iterable[tuple[int, int]]:
    """The image pairs among colliding keypoint `pairs` (query row, index row) whose
    collisions agree on the turn between the pictures (at least SPATIAL_VOTES within two
    neighbouring bins of TURN_BINS, from the keypoints' orientations: `turns`) and fit one
    similarity transform (at least SPATIAL_INLIERS of those, RANSAC); only the PER_IMAGE
    pairs of most agreeing collisions of each query image are fitted."""
    a, b = q_owner[pairs[:, 0]], owner[pairs[:, 1]]
    key = a * (int(owner.max(initial=0)) + 1) + b
    # most image pairs collide once or twice: counted roughly (by a hash of the pair, which
    # can only count more) to leave them out before the exact count, which sorts
    bits = max(8, len(key).bit_length() + 1)  # slots: 2 to 4 for each collision
    slot = (key.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits)
    kept = np.flatnonzero(np.bincount(slot.astype(np.int64))[slot] >= SPATIAL_VOTES)
    if not len(kept):
        return
    kept = kept[np.argsort(key[kept], kind="stable")]
    key, pairs, a, b = key[kept], pairs[kept], a[kept], b[kept]
    turn = turns[kept].astype(np.int64) * TURN_BINS // 256
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    group = np.cumsum(np.r_[True, key[1:] != key[:-1]]) - 1
    votes = np.bincount(group * TURN_BINS + turn, minlength=len(starts) * TURN_BINS)
    votes = votes.reshape(len(starts), TURN_BINS)
    votes += np.roll(votes, -1, axis=1)  # a turn near a bin's edge: two bins together
    best = votes.argmax(axis=1)
    agreeing = votes[np.arange(len(starts)), best]
    # per query image, its PER_IMAGE pairs of most agreeing collisions
    ranked = np.lexsort((-agreeing, a[starts]))
    ranked = ranked[agreeing[ranked] >= SPATIAL_VOTES]
    first = np.r_[True, a[starts][ranked][1:] != a[starts][ranked][:-1]]
    rank = np.arange(len(ranked)) - np.maximum.accumulate(
        np.where(first, np.arange(len(ranked)), 0)
    )
    ends = np.r_[starts[1:], len(key)]
    for g in ranked[rank < PER_IMAGE].tolist():
        rows = np.arange(starts[g], ends[g])
        rows = rows[(turn[rows] - best[g]) % TURN_BINS <= 1]  # the collisions that agree
        model, inliers = cv2.estimateAffinePartial2D(
            q_point[pairs[rows, 0]],
            point[pairs[rows, 1]],
            method=cv2.RANSAC,
            ransacReprojThreshold=4.0,
            maxIters=200,
        )
        if model is not None and int(inliers.sum()) >= SPATIAL_INLIERS:
            yield int(a[rows[0]]), int(b[rows[0]])


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
    points_b, descriptors_b, _ = found_b.side(mirrored)
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
    if mirrored:
        grey_b = np.ascontiguousarray(grey_b[:, ::-1])
    rest = ~inliers.ravel().astype(bool)
    other, also = _fit(source[rest], target[rest]) if rest.sum() >= MIN_INLIERS else (None, None)
    if also is not None and int(also.sum()) >= max(MIN_INLIERS, REPEATED * inliers.sum()):
        # a second transform fits as well: a repeated pattern, when the pictures agree there too
        shifted = _compare(grey_a, grey_b, other)
        if shifted is None or shifted[2] < REFUTING_CELLS or shifted[3] >= SECOND_CHANCE:
            return None
    compared = _compare(grey_a, grey_b, model)
    if compared is None:
        return None
    overlap, coverage, cells, agreed = compared
    if cells >= MANY_CELLS:
        agreeing = min(agreeing, AGREEING_MANY)
        refined = _refined(grey_a, grey_b, model) if SECOND_CHANCE <= agreed < agreeing else None
        again = None if refined is None else _compare(grey_a, grey_b, refined)
        if again is not None and again[3] > agreed:
            model, (overlap, coverage, cells, agreed) = refined, again
    if overlap < MIN_OVERLAP or cells < MIN_CELLS or agreed < agreeing:
        return None
    rotation = float(np.degrees(np.arctan2(model[1, 0], model[0, 0])))
    return Verification(mirrored, int(inliers.sum()), rotation, overlap, coverage, cells, agreed)


def _refined(grey_a: np.ndarray, grey_b: np.ndarray, model: np.ndarray) -> np.ndarray | None:
    """`model` (taking picture b onto picture a) refined by the pictures' pixels (ECC, an
    affine transform); None when that fails or moves a corner of b over REFINED_MOVE px."""
    try:
        _, refined = cv2.findTransformECC(
            grey_b.astype(np.float32),
            grey_a.astype(np.float32),
            model.astype(np.float32),
            cv2.MOTION_AFFINE,
            (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4),
            None,
            5,
        )
    except cv2.error:  # (it did not converge)
        return None
    height, width = grey_b.shape
    corners = np.array([[0, 0, 1], [width, 0, 1], [0, height, 1], [width, height, 1]], float)
    moved = np.abs(corners @ refined.T.astype(float) - corners @ model.T).max()
    return refined.astype(float) if moved <= REFINED_MOVE else None


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
    if scale < 0.9:  # shrink the finer picture by area first: a warp alone would alias it
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
    b = cv2.warpAffine(  # edge pixels repeated outside b: black would darken its border cells
        cv2.GaussianBlur(grey_b.astype(np.float32), (0, 0), BLUR),
        model,
        (width, height),
        borderMode=cv2.BORDER_REPLICATE,
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
        self._opened: tuple[int, sqlite3.Connection | None] = (os.getpid(), self._open())

    def _open(self) -> sqlite3.Connection | None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30)
            db.execute("CREATE TABLE IF NOT EXISTS features (sha256 TEXT PRIMARY KEY, data BLOB)")
            if "written" not in {row[1] for row in db.execute("PRAGMA table_info(features)")}:
                db.execute("ALTER TABLE features ADD COLUMN written REAL")  # (a cache before it)
        except (OSError, sqlite3.Error):
            return None
        return db

    @property
    def _db(self) -> sqlite3.Connection | None:
        """The connection of this process (a forked worker opens its own)."""
        pid, db = self._opened
        if pid != os.getpid():
            self._opened = (os.getpid(), self._open() if db is not None else None)
        return self._opened[1]

    def get(self, sha256s: Iterable[str]) -> dict[str, Features]:
        """The cached features of those of `sha256s` that have them."""
        return {
            sha256: item
            for sha256, blob in self._rows(sha256s, "data")
            if (item := Features.from_bytes(blob)) is not None
        }

    def have(self, sha256s: Iterable[str]) -> set[str]:
        """Those of `sha256s` whose features `get` gives, read without them."""
        head = f"substr(data, 1, {_HEADER.size}), length(data)"
        return {
            sha256
            for sha256, start, size in self._rows(sha256s, head)
            if isinstance(start, bytes) and _complete(start, size)
        }

    def _rows(self, sha256s: Iterable[str], columns: str) -> list[tuple[Any, ...]]:
        db = self._db
        if db is None:
            return []
        wanted, rows = list(sha256s), []
        try:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT sha256, {columns} FROM features WHERE sha256 IN ({marks})"
                rows += db.execute(query, chunk).fetchall()
        except sqlite3.Error:
            return []
        return rows

    def prune(self, known: Container[str]) -> int:
        """Delete the features of images not `known` (no longer catalogued) written over
        KEPT_UNKNOWN seconds ago; how many (0 when the cache cannot be written: they are
        only kept longer)."""
        db = self._db
        if db is None:
            return 0
        try:
            query = "SELECT sha256 FROM features WHERE written IS NULL OR written < ?"
            rows = db.execute(query, (time.time() - KEPT_UNKNOWN,)).fetchall()
            gone = [row for row in rows if row[0] not in known]
            with db:
                db.executemany("DELETE FROM features WHERE sha256 = ?", gone)
        except sqlite3.Error:
            return 0
        return len(gone)

    def put(self, found: dict[str, Features]) -> bool:
        """Cache `found`; False when the cache could not keep them."""
        db = self._db
        if db is None:
            return False
        now = time.time()
        try:
            with db:
                db.executemany(
                    "INSERT OR REPLACE INTO features (sha256, data, written) VALUES (?, ?, ?)",
                    [(sha256, item.to_bytes(), now) for sha256, item in found.items()],
                )
        except sqlite3.Error:
            return False
        return True


class CatalogueFeatures(Sequence[Features | None]):
    """The features of catalogued images by number (None: no file holds its bytes), read
    from the cache when asked for (a slice in one read), so a catalogue's keypoints are never
    all in memory; those the cache could not keep are held here."""

    def __init__(self, cache: FeatureCache, sha256s: Sequence[str], held: dict[str, Features]):
        self._cache, self._sha256s, self._held = cache, sha256s, held

    def __len__(self) -> int:
        return len(self._sha256s)

    @overload
    def __getitem__(self, item: int) -> Features | None: ...

    @overload
    def __getitem__(self, item: slice) -> list[Features | None]: ...

    def __getitem__(self, item: int | slice) -> Features | list[Features | None] | None:
        if isinstance(item, slice):
            wanted = self._sha256s[item]
            found = {**self._cache.get(s for s in wanted if s not in self._held), **self._held}
            return [found.get(sha256) for sha256 in wanted]
        at = item if item >= 0 else len(self) + item
        if not 0 <= at < len(self):
            raise IndexError(item)
        return self[at : at + 1][0]


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
) -> tuple[CatalogueFeatures, dict[str, int]]:
    """The features of each of `sha256s` (None where no file holds its bytes any more), from
    the cache in `folder` (features.sqlite), else found from the catalogued files by
    `workers` processes (default: all cores) and cached; the features of images no longer
    catalogued are deleted first. Counts: `cached`, `found`, `unavailable`, `pruned`."""
    cache = FeatureCache(folder / "features.sqlite")
    pruned = cache.prune(catalog.known_images())
    have = cache.have(sha256s)
    missing = [sha256 for sha256 in dict.fromkeys(sha256s) if sha256 not in have]
    counts = {"cached": len(have), "found": 0, "unavailable": 0, "pruned": pruned}
    held: dict[str, Features] = {}
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
                        new[sha256] = item
                counts["found"] += len(new)
                if not cache.put(new):
                    held.update(new)
    return CatalogueFeatures(cache, sha256s, held), counts


def compare_frame(
    grey_a: np.ndarray, grey_b: np.ndarray, mirrored: bool = False, turns: int = 0
) -> Verification | None:
    """How picture b (mirrored when `mirrored`, then turned by `turns` quarter turns as
    numpy.rot90 turns it), scaled to picture a's frame, agrees with it cell by cell (a pair
    its whole-picture hashes matched shows one frame); None when one is too small for
    cells."""
    if mirrored or turns % 4:
        grey_b = np.ascontiguousarray(np.rot90(grey_b[:, ::-1] if mirrored else grey_b, turns))
    (height_a, width_a), (height_b, width_b) = grey_a.shape, grey_b.shape
    model = np.array([[width_a / width_b, 0, 0], [0, height_a / height_b, 0]])
    compared = _compare(grey_a, grey_b, model)
    if compared is None:
        return None
    rotation = (0.0, -90.0, 180.0, 90.0)[turns % 4]  # (as `verify` measures it)
    return Verification(mirrored, 0, rotation, *compared)


def confirms(verification: Verification | None) -> bool:
    """Whether a comparison of two frames (one turned onto the other as the hashes matched
    them) shows one photo: MIN_CELLS textured cells or more, AGREEING of them agreeing."""
    return (
        verification is not None
        and verification.cells >= MIN_CELLS
        and verification.agreeing >= AGREEING
    )


def refutes(verification: Verification | None) -> bool:
    """Whether a comparison of two frames shows two different photos: enough textured
    cells, and fewer than FRAME_AGREEING of them agreeing."""
    return (
        verification is not None
        and verification.cells >= REFUTING_CELLS
        and verification.agreeing < FRAME_AGREEING
    )


def compared_frames(
    wanted: Iterable[tuple[int, int]], picture_of: Callable[[int], np.ndarray | None]
) -> dict[tuple[int, int], Verification | None]:
    """`compare_frame` of each pair (a, b) of `wanted`, by pair (None: a picture not
    readable, or too small); pictures as `verified` reads them (pass a cached `picture_of`
    to read each once: the pairs are taken in order)."""
    compared: dict[tuple[int, int], Verification | None] = {}
    for a, b in sorted(wanted):
        grey_a, grey_b = picture_of(a), picture_of(b)
        both = grey_a is not None and grey_b is not None
        compared[(a, b)] = compare_frame(grey_a, grey_b) if both else None
    return compared


def verified(
    found: Sequence[Features | None] | Mapping[int, Features | None],
    wanted: Iterable[tuple[int, int, bool]],
    picture_of: Callable[[int], np.ndarray | None],
    hashed: Container[tuple[int, int]] = (),
    workers: int | None = None,
) -> dict[tuple[int, int], Verification]:
    """The pairs (a, b, mirrored) of `wanted` that `verify` confirms, by (a, b); those in
    `hashed` (matched by a mirrored or turned view's hashes) need only AGREEING_HASHED.
    Pictures come from `picture_of(number)` (None: not readable); the most recent pictures
    and features are kept for the next pairs. Parts of the pairs (each image's together)
    are verified by `workers` processes (default: all cores; forked; one where there is no
    fork)."""
    ordered = sorted(wanted)
    workers = workers or default_workers()
    size = max(VERIFIED_AT_ONCE, -(-len(ordered) // (4 * workers)))
    parts, start = [], 0
    while start < len(ordered):
        stop = min(start + size, len(ordered))
        while stop < len(ordered) and ordered[stop][0] == ordered[stop - 1][0]:
            stop += 1  # an image's pairs stay together: its picture is read once
        parts.append(ordered[start:stop])
        start = stop
    confirmed: dict[tuple[int, int], Verification] = {}
    for part in _in_workers(_verified_part, parts, (found, picture_of, hashed), workers):
        confirmed.update(part)
    return confirmed


VERIFIED_AT_ONCE = 256  # pairs a worker verifies at least, in one task


def _verified_part(pairs: list[tuple[int, int, bool]]) -> dict[tuple[int, int], Verification]:
    assert _SHARED is not None
    found, picture_of, hashed = _SHARED
    return _verified(found, pairs, picture_of, hashed)


def _verified(
    found: Sequence[Features | None] | Mapping[int, Features | None],
    ordered: list[tuple[int, int, bool]],
    picture_of: Callable[[int], np.ndarray | None],
    hashed: Container[tuple[int, int]],
) -> dict[tuple[int, int], Verification]:
    """`verified` of the sorted pairs `ordered`, in this process."""
    pictures = lru_cache(maxsize=256)(picture_of)
    keypoints = lru_cache(maxsize=256)(found.__getitem__)  # (read from the cache)
    confirmed: dict[tuple[int, int], Verification] = {}
    for a, b, mirrored in ordered:
        found_a, found_b = keypoints(a), keypoints(b)
        if (a, b) in confirmed or found_a is None or found_b is None:
            continue
        grey_a, grey_b = pictures(a), pictures(b)
        if grey_a is None or grey_b is None:
            continue
        least = AGREEING_HASHED if (a, b) in hashed else AGREEING
        result = verify(grey_a, found_a, grey_b, found_b, mirrored, least)
        if result is not None:
            confirmed[(a, b)] = result
    return confirmed
