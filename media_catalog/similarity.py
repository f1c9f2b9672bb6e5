"""Stage 6: duplicate clusters — exact reuse (same SHA-256) and near duplicates (pHash).

Near duplicates are grouped by *leader clustering*: images are taken in keeper order (largest
resolution, then earliest date taken, then shortest path); each image not yet in a cluster
becomes a leader and gathers every unclustered image within the threshold of *it*. A member is
therefore always close to its leader, and two different photos can never be chained into one
cluster through a series of in-between near matches (A~B~C with A far from C), as
single-linkage (union-find) grouping would. A near match must be confirmed by a second,
independent hash: dHash, or for a looser dHash the 256-bit pHash (`near_pairs` has the rule,
docs/threshold.md the curves that chose it).

Each image is compared through its *views*: its own hashes, the hashes of the image with
uniform borders trimmed (letterboxing, padding), of its central 90/80/70 % (crops), and of its
mirror and quarter turns (see `fingerprint.variant_pictures`; a pair matched only through
those is kept when its pixels confirm it, `checked_by_pixels`). All near pairs are found at
once with multi-index hashes (`hamming.pairs_within`).

Left out by default: low-information images (blank, flat) from the near tier; tracking pixels
(see `untracked`) and *site furniture* (one image used in a large share of the articles: a
logo, an icon, an ad) from both tiers; and any SHA-256 or pHash on an ignore list.
"""

from __future__ import annotations

import math
from array import array
from collections import defaultdict
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from .dating import chronological, first_use
from .errors import FingerprintError, QueryError, ResolveError
from .hamming import PairSearch, oversized, pairs_within
from .models import DEFAULT_THRESHOLD, MAX_THRESHOLD, counts_key
from .records import ImageRecord
from .resolve import read_bytes, stored_bytes
from .store import Store
from .walk import walk

DHASH_CONFIRM = 8  # dHash bits that confirm a pHash match (see DEFAULT_THRESHOLD in models)
# The other ways a pair matches (near_pairs), chosen from the curves in docs/threshold.md
# (benchmarks/accuracy.py): a looser dHash confirmed by the 256-bit pHash; a near-equal dHash
# with a pHash a third looser (16 bits at the default 12); a closer dHash for derived views
# (central regions, mirrors, turns).
DHASH_WIDE = 12
FINE_CONFIRM = 48
# A pair of whole pictures whose 256-bit pHashes are further apart is checked against its
# pixels when they are at hand (`checked_by_pixels`): symmetric look-alikes come this close.
FINE_SURE = 12
DHASH_EXACT = 2
VIEW_DHASH = 6
# A copy of the whole frame keeps its shape within this factor (a 16:9 picture squashed to a
# square: 1.78); a portrait beside a landscape picture (2.25 for 3:2) is another photo.
MAX_SQUASH = 2.0
# An image in at least this share of the articles, and in at least FURNITURE_MIN_ARTICLES of
# them, is site furniture (logo, icon, ad), not a reused photo.
FURNITURE_SHARE = 0.3
FURNITURE_MIN_ARTICLES = 10
TRANSFORMS = ("mirror", "rot90", "rot180", "rot270")
# How picture b is turned to show picture a, for a pair matched through a view of TRANSFORMS
# (mirrored, quarter turns as numpy.rot90 turns): `via` does not say which of the two was
# turned, so a quarter turn is tried both ways.
_TURNS = {
    "mirror": ((True, 0),),
    "rot90": ((False, 1), (False, 3)),
    "rot180": ((False, 2),),
    "rot270": ((False, 1), (False, 3)),
}
CENTRES = ("centre90", "centre80", "centre70")
SORTS = ("size", "reach", "first-seen")


@dataclass(frozen=True)
class Cluster:
    """A group of images reported together: `kind` is "exact" (one image, several places)
    or "near" (several images of the same photo); images[0] is the keeper. `distances` has one
    entry per image: pHash and dHash bits to the keeper and the view that matched ("trimmed",
    "mirror", "rot90", … or None for the plain images). `first_seen`: the earliest use in an
    article (dating.first_use)."""

    kind: str
    images: list[ImageRecord]
    distances: list[dict[str, Any]] = field(default_factory=list)
    first_seen: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        distances = self.distances or [_distance(0, 0, None)] * len(self.images)
        return {
            "kind": self.kind,
            "tier": 1 if self.kind == "exact" else 2,
            "keeper": self.images[0].sha256,
            "reach": reach(self.images),
            "first_seen": self.first_seen,
            "distances": [
                {"sha256": image.sha256, **d}
                for image, d in zip(self.images, distances, strict=True)
            ],
            "images": [image.to_dict() for image in self.images],
        }


def _distance(phash: int, dhash: int, via: str | None) -> dict[str, Any]:
    return {"phash": phash, "dhash": dhash, "via": via}


def places(image: ImageRecord) -> int:
    """How many places use this image (an image object): its occurrences in articles, plus
    the files that hold it and that no occurrence points at (loose copies in a gallery
    folder)."""
    occurrences = image.occurrences or ()
    used = {occurrence.file for occurrence in occurrences}
    return len(occurrences) + sum(1 for path in image.files if path not in used)


def reach(images: Iterable[ImageRecord]) -> dict[str, int]:
    """How far a photo travelled: distinct articles and places (see `places`) over its copies."""
    images = list(images)
    articles = {o.article for image in images for o in image.occurrences or ()}
    return {"articles": len(articles), "places": sum(places(image) for image in images)}


def keeper_key(image: ImageRecord) -> tuple[int, int, str, str]:
    """Sort key that puts the copy to keep first: largest, earliest taken, shortest path."""
    taken = image.exif.get("taken")
    paths = image.files + [o.article for o in image.occurrences or ()]
    shortest = min(paths, key=lambda p: (len(p), p)) if paths else ""
    return (-image.width * image.height, 0 if taken else 1, taken or "", shortest)


def low_information(image: ImageRecord) -> bool:
    """Blank, flat or near-flat: the fingerprint's `low_information` flag where recorded, else
    a pHash far from 32 set bits (imagehash's pHash of any textured image has exactly 32)."""
    flag = image.low_information
    if flag is not None:
        return bool(flag)
    return abs(int(image.phash, 16).bit_count() - 32) > 8


def read_ignore_list(path: Path) -> set[str]:
    """Hashes to leave out, one per line: a SHA-256 (64 hex, `sha256:` prefix allowed) or a
    pHash (16 hex); `#` starts a comment."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise QueryError(f"cannot read the ignore list {path}: {exc}") from exc
    hashes = set()
    for number, line in enumerate(lines, start=1):
        value = line.split("#", 1)[0].strip().lower().removeprefix("sha256:")
        if not value:
            continue
        if len(value) not in (16, 64) or any(c not in "0123456789abcdef" for c in value):
            raise QueryError(
                f"{path}, line {number}: {line.strip()!r} is not a hash; write one SHA-256 "
                "(64 hex digits) or pHash (16 hex digits) per line"
            )
        hashes.add(value)
    return hashes


VIEWS = (None, "trimmed", *CENTRES, *TRANSFORMS)  # a view's number is its index here


class ViewTable:
    """The hashes of images as arrays, one row per (image, view): the owner's number, the
    view's number in VIEWS, pHash and dHash codes; and each image's 256-bit pHash (hex) and
    shape (log of its upright width over height; NaN when not recorded)."""

    def __init__(self, transforms: bool) -> None:
        self.names = VIEWS if transforms else VIEWS[: 2 + len(CENTRES)]
        self.owner, self.view = array("q"), array("b")
        self.pcode, self.dcode = array("Q"), array("Q")
        self.fine: list[str | None] = []
        self.shape = array("d")
        self.oversized = (0, 0)  # the last search's buckets left out, and their codes

    @classmethod
    def of(cls, images: Iterable[ImageRecord], transforms: bool) -> ViewTable:
        table = cls(transforms)
        for image in images:
            table.add(image)
        return table

    def add(self, image: ImageRecord) -> None:
        """Add the next image (its number is the count added before it)."""
        number = len(self.fine)
        variants = image.variants or {}
        for index, name in enumerate(self.names):
            hashes = variants.get(name) if name else image.doc
            if hashes:
                self.owner.append(number)
                self.view.append(index)
                self.pcode.append(int(hashes["phash"], 16))
                self.dcode.append(int(hashes["dhash"], 16))
        self.fine.append(image.phash256)
        self.shape.append(_shape(image))

    def _columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The table as numpy arrays (views, not copies): owner, view, pHash, dHash."""
        return (
            np.frombuffer(self.owner, dtype=np.int64),
            np.frombuffer(self.view, dtype=np.int8),
            np.frombuffer(self.pcode, dtype=np.uint64),
            np.frombuffer(self.dcode, dtype=np.uint64),
        )

    def _candidates(
        self, threshold: int, dhash_threshold: int, search: PairSearch = pairs_within
    ) -> tuple[np.ndarray, np.ndarray]:
        """Row pairs (i < j, unique) among which `_matches` finds every match: three exact
        searches (`search`: `pairs_within` or its equal on a cluster), each as narrow as the
        match rules allow."""
        owner, view, pcodes, dcodes = self._columns()
        base = view <= 1  # plain or trimmed
        rows = np.flatnonzero(base)
        p, d, who, none = pcodes[rows], dcodes[rows], owner[rows], np.zeros(len(rows), bool)
        wide = max(dhash_threshold, DHASH_WIDE)
        loose = threshold + threshold // 3
        # plain and trimmed views with each other: pHash within the threshold, or near-equal dHash
        i, j = search(p, threshold, d, wide, who, none)
        k, m = search(d, DHASH_EXACT, p, loose, who, none)
        # a derived view (central region, mirror, turn) with any view: only a dHash within
        # VIEW_DHASH confirms it, so this search runs on dHash (far fewer buckets to compare)
        view_dhash = min(dhash_threshold, VIEW_DHASH)
        x, y = search(dcodes, view_dhash, pcodes, threshold, owner, base)
        left = [
            oversized(*args) for args in ((p, threshold), (d, DHASH_EXACT), (dcodes, view_dhash))
        ]
        self.oversized = (sum(b for b, _ in left), sum(r for _, r in left))
        found = np.unique(
            np.concatenate(
                [
                    np.stack([rows[i], rows[j]], 1),
                    np.stack([rows[k], rows[m]], 1),
                    np.stack([x, y], 1),
                ]
            ),
            axis=0,
        )
        return found[:, 0], found[:, 1]

    def _matches(
        self, i: np.ndarray, j: np.ndarray, threshold: int, dhash_threshold: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Which row pairs (i, j) of different images match (see `near_pairs`), and their
        pHash and dHash distances."""
        owner, view, pcodes, dcodes = self._columns()
        turned = view >= VIEWS.index(TRANSFORMS[0])
        plain = view == 0
        base = view <= 1  # plain or trimmed
        pdist = np.bitwise_count(pcodes[i] ^ pcodes[j]).astype(np.int64)
        ddist = np.bitwise_count(dcodes[i] ^ dcodes[j]).astype(np.int64)
        # mirror-vs-mirror (or vs a centre) would give a pair a second, different dHash test and
        # let near misses through; derived views need a closer dHash, as near-symmetric pictures
        # and the flat middles of different photos come close otherwise.
        derived = ~base[i] | ~base[j]
        confirm = np.where(derived, min(dhash_threshold, VIEW_DHASH), dhash_threshold)
        both = plain[i] & plain[j]
        fine = np.full(len(i), 257, dtype=np.int64)
        fine[both] = _fine_distances(self.fine, owner[i][both], owner[j][both])
        match = (
            ((pdist <= threshold) & (ddist <= confirm))
            | ((pdist <= threshold) & (ddist <= DHASH_WIDE) & (fine <= FINE_CONFIRM))
            | ((ddist <= DHASH_EXACT) & (pdist <= threshold + threshold // 3) & ~derived)
        )
        apart = (turned[i] & ~base[j]) | (turned[j] & ~base[i])
        # a copy keeps the shape of its frame (and a central region the shape of its picture)
        whole = view != VIEWS.index("trimmed")  # (the shape of a trimmed view is not known)
        quarter = np.isin(view, [VIEWS.index("rot90"), VIEWS.index("rot270")])
        shape = np.frombuffer(self.shape, dtype=np.float64)[owner] * np.where(quarter, -1, 1)
        # (NaN, a shape not recorded, is never misshapen)
        misshapen = whole[i] & whole[j] & (abs(shape[i] - shape[j]) > math.log(MAX_SQUASH))
        return match & ~apart & ~misshapen & (owner[i] != owner[j]), pdist, ddist

    def pairs(
        self,
        threshold: int,
        dhash_threshold: int = DHASH_CONFIRM,
        search: PairSearch = pairs_within,
    ) -> dict[tuple[int, int], dict[str, Any]]:
        """See `near_pairs`."""
        if len(self.fine) < 2:
            return {}
        i, j = self._candidates(threshold, dhash_threshold, search)
        keep, pdist, ddist = self._matches(i, j, threshold, dhash_threshold)
        owner, view, _, _ = self._columns()
        best: dict[tuple[int, int], dict[str, Any]] = {}
        for a, b, p, d in zip(i[keep], j[keep], pdist[keep], ddist[keep], strict=True):
            via = "+".join(v for v in (VIEWS[view[a]], VIEWS[view[b]]) if v) or None
            key = (int(min(owner[a], owner[b])), int(max(owner[a], owner[b])))
            distance = _distance(int(p), int(d), via)
            if key not in best or _rank(distance) < _rank(best[key]):
                best[key] = distance
        return best


def _fine_distances(fine: Sequence[str | None], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """256-bit pHash distances between images a[k] and b[k] (`fine`: hex by image number);
    257 where one has none (a catalogue made before it was recorded)."""
    numbers = np.unique(np.concatenate([a, b]))
    words = np.zeros((len(numbers), 4), dtype=np.uint64)
    known = np.zeros(len(numbers), dtype=bool)
    for row, number in enumerate(numbers.tolist()):
        if fine[number]:
            value = int(fine[number], 16)
            words[row] = [(value >> (64 * w)) & 0xFFFF_FFFF_FFFF_FFFF for w in range(4)]
            known[row] = True
    ra, rb = np.searchsorted(numbers, a), np.searchsorted(numbers, b)
    distances = np.bitwise_count(words[ra] ^ words[rb]).sum(axis=1).astype(np.int64)
    return np.where(known[ra] & known[rb], distances, 257)


def _shape(image: ImageRecord) -> float:
    """log(width / height) of the image upright; NaN when not recorded."""
    if image.turned is None or not image.width or not image.height:
        return math.nan
    return math.log(image.height / image.width if image.turned else image.width / image.height)


def near_pairs(
    images: list[ImageRecord],
    threshold: int,
    *,
    dhash_threshold: int = DHASH_CONFIRM,
    transforms: bool = False,
) -> dict[tuple[int, int], dict[str, Any]]:
    """Pairs of image numbers (a < b) with a view pair that matches, with the closest
    match's distances. A view pair matches when

    - pHash <= `threshold` and dHash <= `dhash_threshold` (at most VIEW_DHASH when one side
      is a derived view: a central region, mirror or turn); or
    - between the images themselves, pHash <= `threshold`, dHash <= DHASH_WIDE and 256-bit
      pHash <= FINE_CONFIRM (heavy recompression, small thumbnails, low-contrast textures:
      their 9×8 dHash moves most); or
    - between plain or trimmed views, dHash <= DHASH_EXACT and pHash <= `threshold` plus a
      third (16 at the default 12; 0 stays 0): pictures whose 64-bit pHash is unstable
      (regular patterns, a credit line on a dark sky or on a page).

    Pairs come from three multi-index searches (`ViewTable._candidates`): plain and trimmed
    views by pHash within `threshold` and by dHash within DHASH_EXACT, every derived view by
    dHash within VIEW_DHASH. A mirrored or turned view is only compared with plain and trimmed
    views.
    """
    return ViewTable.of(images, transforms).pairs(threshold, dhash_threshold)


def _rank(distance: dict[str, Any]) -> tuple[bool, bool, int, int, bool]:
    """Closest first, but a central region last and a mirror or turn after it: a
    recompressed copy is not reported as matching "via" a view that happens to be closer
    than the whole picture (and a pair that matches upright needs no pixel check)."""
    via = distance["via"] or ""
    return (
        _turn_of(via) is not None,
        "centre" in via,
        distance["phash"],
        distance["dhash"],
        bool(via),
    )


def _turn_of(via: str | None) -> str | None:
    """The mirrored or turned view (of TRANSFORMS) a pair matched through, if any."""
    return next((name for name in (via or "").split("+") if name in _TURNS), None)


def _ways(via: str) -> tuple[tuple[bool, int], ...]:
    """How to turn picture b onto picture a for a pair matched through `via`, a mirrored or
    turned view (none through a trimmed one: its frame is not the picture's)."""
    return () if "trimmed" in via else _TURNS[_turn_of(via)]


def _leaders(
    order: list[int], pairs: dict[tuple[int, int], dict[str, Any]]
) -> list[tuple[list[int], list[dict[str, Any]]]]:
    """Leader clusters over image numbers taken in keeper `order`: (members, leader first;
    their distances to the leader)."""
    neighbours: dict[int, list[int]] = defaultdict(list)
    for a, b in pairs:
        neighbours[a].append(b)
        neighbours[b].append(a)
    rank = {number: position for position, number in enumerate(order)}
    free = set(order)
    clusters = []
    for leader in order:
        if leader not in free:
            continue
        free.discard(leader)
        members = sorted((n for n in neighbours[leader] if n in free), key=rank.__getitem__)
        if members:
            free.difference_update(members)
            distances = [_from(leader, m, pairs[(min(leader, m), max(leader, m))]) for m in members]
            clusters.append(([leader, *members], [_distance(0, 0, None), *distances]))
    return clusters


def _from(leader: int, member: int, distance: dict[str, Any]) -> dict[str, Any]:
    """A pair's distance as from its cluster's leader: a verification's turn (of the pair's
    second image onto its first) taken the other way when the leader is the second."""
    how = distance.get("verification")
    if leader < member or how is None or how["mirrored"]:
        return distance
    turn = -how["rotation"] or 0.0
    return {**distance, "verification": {**how, "rotation": turn + 360 if turn <= -180 else turn}}


def near_clusters(
    images: list[ImageRecord],
    threshold: int,
    *,
    dhash_threshold: int = DHASH_CONFIRM,
    transforms: bool = False,
) -> list[Cluster]:
    """Leader clusters of images whose pHash is within `threshold` bits (dHash-confirmed)."""
    pairs = near_pairs(images, threshold, dhash_threshold=dhash_threshold, transforms=transforms)
    order = sorted(range(len(images)), key=lambda n: keeper_key(images[n]))
    return [
        Cluster("near", [images[n] for n in members], distances)
        for members, distances in _leaders(order, pairs)
    ]


def _untracked(image: ImageRecord) -> ImageRecord:
    """The image object without its tracking occurrences."""
    return ImageRecord(image.doc, tuple(o for o in image.occurrences or () if not o.tracking))


@dataclass(frozen=True)
class _Plan:
    """A cluster before its images are read: SHA-256s (keeper first), distances, reach."""

    kind: str
    sha256s: list[str]
    distances: list[dict[str, Any]]
    reach: tuple[int, int]


class DuplicateReport:
    """Clusters and what was left out of them (SHA-256s per reason). The clusters' images are
    read from the catalogue only as they are listed (`iter_clusters`), a batch at a time."""

    def __init__(
        self,
        catalog: Store | None,
        threshold: int,
        plans: list[_Plan],
        excluded: dict[str, list[str]],
        tracking: bool = True,
        robust: dict[str, Any] | None = None,
        oversized: dict[str, int] | None = None,
        checked: dict[str, int] | None = None,
    ) -> None:
        self.catalog, self.threshold, self.excluded = catalog, threshold, excluded
        self.plans, self.tracking, self.robust = plans, tracking, robust
        self.oversized, self.checked = oversized, checked

    def counts(self) -> dict[str, int]:
        """{"exact", "near", "images_in_near"}: how many clusters, without reading them."""
        near = [plan for plan in self.plans if plan.kind == "near"]
        return {
            "exact": len(self.plans) - len(near),
            "near": len(near),
            "images_in_near": sum(len(plan.sha256s) for plan in near),
        }

    def iter_clusters(self, batch: int = 500) -> Iterator[Cluster]:
        assert self.catalog is not None
        for start in range(0, len(self.plans), batch):
            plans = self.plans[start : start + batch]
            wanted = {sha256 for plan in plans for sha256 in plan.sha256s}
            found = {image.sha256: image for image in self.catalog.image_objects(wanted)}
            for plan in plans:
                images = [found[sha256] for sha256 in plan.sha256s]
                if not self.tracking:
                    images = [_untracked(image) for image in images]
                yield Cluster(plan.kind, images, plan.distances, first_use(images))

    @property
    def clusters(self) -> list[Cluster]:
        return list(self.iter_clusters())

    def to_dict(self) -> dict[str, Any]:
        members = self.members()
        return {**members, "clusters": list(members["clusters"])}

    def members(self) -> dict[str, Any]:
        """`to_dict` with the clusters as an iterator (for streaming writers)."""
        members = {
            "threshold": self.threshold,
            "clusters": (c.to_dict() for c in self.iter_clusters()),
            "excluded": self.excluded,
        }
        if self.oversized is not None:
            members["oversized"] = self.oversized
        if self.checked is not None:
            members["checked"] = self.checked
        return members if self.robust is None else {**members, "robust": self.robust}


def duplicate_report(
    catalog: Store,
    threshold: int = DEFAULT_THRESHOLD,
    *,
    dhash_threshold: int = DHASH_CONFIRM,
    min_articles: int = 0,
    sort: str = "size",
    ignore: Iterable[str] = (),
    transforms: bool = False,
    include_low_information: bool = False,
    include_furniture: bool = False,
    tracking: bool = False,
    robust: Path | None = None,
    search: PairSearch = pairs_within,
) -> DuplicateReport:
    """Exact-reuse and near-duplicate clusters, and what was left out of them.

    One cluster per photo: an image with near copies is reported in their near cluster
    (with all its places), never also as exact reuse. `sort="size"`: exact clusters (most
    places first), then near clusters (most images first); `sort="reach"`: every cluster by
    the number of articles it spans, then places; `sort="first-seen"`: oldest first use
    first. `min_articles` keeps only clusters spanning at least that many articles. `ignore`
    holds SHA-256s and pHashes (hex) to leave out. Tracking pixels, spacers and 1×1 images
    are left out unless `tracking` is true. Pairs the hashes are least sure of are checked
    by their pixels (`checked_by_pixels`): mirrored and turned copies are kept when their
    pixels confirm them, with `transforms` unless they refute them. Memory grows with the
    catalogue by the hash arrays only: the places of every image are counted by the store,
    and the images of the near pairs alone are read whole. `search` finds the pairs of codes
    within a radius (`hamming.pairs_within`, or its equal on a Dask cluster:
    media_catalog.cluster).
    """
    if sort not in SORTS:
        raise QueryError(f"unknown sort {sort!r}; use one of: {', '.join(SORTS)}")
    if not 0 <= threshold <= MAX_THRESHOLD:
        raise QueryError(f"threshold {threshold}: give 0 to {MAX_THRESHOLD} bits")
    ignore = {value.lower() for value in ignore}
    usage, total = catalog.usage(tracking)
    needed = max(FURNITURE_MIN_ARTICLES, FURNITURE_SHARE * total)
    excluded: dict[str, list[str]] = {
        "ignored": [],
        "furniture": [],
        "tracking": [],
        "low_information": [],
    }
    exact: list[tuple[int, str]] = []
    table = ViewTable(robust is None)  # mirrors and turns are kept when checked by pixels
    turned = ViewTable(True) if robust is not None else None  # what --robust verifies
    shas: list[str] = []  # the images near pairs are looked for among
    for image in catalog.fingerprints():
        sha256 = image.sha256
        places, articles = usage.get(sha256, (0, 0))
        if not tracking and (image.width * image.height <= 1 or not places):
            excluded["tracking"].append(sha256)
            continue
        left_out = False
        if {sha256, image.phash} & ignore:
            excluded["ignored"].append(sha256)
            left_out = True
        if not include_furniture and articles >= needed:
            excluded["furniture"].append(sha256)
            left_out = True
        flat = not include_low_information and low_information(image)
        if flat:
            excluded["low_information"].append(sha256)
        if left_out:
            continue
        if places >= 2:
            exact.append((places, sha256))
        if not flat:
            table.add(image)
            if turned is not None:
                turned.add(image)
            shas.append(sha256)
    for found in excluded.values():
        found.sort()
    pairs = table.pairs(threshold, dhash_threshold, search)
    summary = checked = None
    if turned is not None and robust is not None:
        turns = turned.pairs(threshold, dhash_threshold, search)
        summary = robust_pairs(catalog, shas, pairs, turns, robust, tracking)
    else:
        unsure, turns = unsure_pairs(pairs, table.fine), turned_pairs(pairs)
        wanted = {shas[n] for pair in [*unsure, *turns] for n in pair}
        images = {image.sha256: image for image in catalog.image_objects(wanted)} if wanted else {}
        checked = checked_by_pixels(
            pairs, unsure, turns, lambda n: _stored_picture(images[shas[n]]), transforms
        )
    near = _near_plans(catalog, pairs, shas, tracking)
    in_near = {sha256 for plan in near for sha256 in plan.sha256s}
    exact.sort(key=lambda e: (-e[0], e[1]))
    plans = [
        _Plan("exact", [sha256], [], (usage[sha256][1], places))
        for places, sha256 in exact
        if sha256 not in in_near  # reported once: with its near copies, all its places there
    ]
    plans += near
    plans = [plan for plan in plans if plan.reach[0] >= min_articles]
    if sort == "reach":
        plans.sort(key=lambda plan: (-plan.reach[0], -plan.reach[1]))
    buckets, codes = table.oversized
    left_out = {"buckets": buckets, "codes": codes} if buckets else None
    report = DuplicateReport(
        catalog, threshold, plans, excluded, tracking, summary, left_out, checked
    )
    if sort == "first-seen":  # (the clusters are read twice: to date them, then to list them)
        seen = [  # oldest first; undated, then used in no article, last
            (first is None, chronological(first) if first else ())
            for first in (cluster.first_seen for cluster in report.iter_clusters())
        ]
        order = sorted(range(len(plans)), key=seen.__getitem__)
        report.plans = [plans[number] for number in order]
    options = (min_articles, ignore, transforms, include_low_information, include_furniture, robust)
    if not any(options) and not tracking and dhash_threshold == DHASH_CONFIRM:
        catalog.keep(counts_key(threshold), report.counts())  # the counts scan and stats show
    return report


def _stored_picture(image: ImageRecord) -> Any:
    """robust.stored_picture of an image object (OpenCV loaded only when asked for)."""
    from . import robust

    return robust.stored_picture(image)


def robust_pairs(
    catalog: Store,
    shas: list[str],
    pairs: dict[tuple[int, int], dict[str, Any]],
    turned: dict[tuple[int, int], dict[str, Any]],
    cache: Path,
    tracking: bool,
) -> dict[str, Any]:
    """`robust_verified` on the catalogue's images (numbers in `shas`), their features
    cached in `cache`/features.sqlite, their pictures read again from their files, their
    records as `dupes` reads them (with their tracking occurrences when `tracking`). Returns
    what was done: features cached, found and unavailable, candidates, verified, refuted."""
    from . import robust  # OpenCV, loaded only when asked for

    found, counts = robust.catalogue_features(catalog, shas, cache)
    images: dict[int, ImageRecord] = {}

    def records(numbers: list[int]) -> dict[int, ImageRecord]:
        read = catalog.image_objects([shas[n] for n in numbers])
        by_sha = {i.sha256: i if tracking else _untracked(i) for i in read}
        images.update((n, by_sha[shas[n]]) for n in numbers)
        return images

    def picture_of(number: int) -> Any:
        return robust.stored_picture(images[number])

    return {"features": counts, **robust_verified(pairs, turned, found, picture_of, records)}


def robust_verified(
    pairs: dict[tuple[int, int], dict[str, Any]],
    turned: dict[tuple[int, int], dict[str, Any]],
    found: Sequence[Any],
    picture_of: Callable[[int], Any],
    records: Callable[[list[int]], dict[int, ImageRecord]],
) -> dict[str, int]:
    """What --robust does to `pairs` (image numbers, as `near_pairs` gives them without
    transforms): add the cropped, turned and mirrored copies `robust` verifies among the
    images of `found` (robust.Features or None), and those of `turned` (the same with
    transforms) as `checked_by_pixels` keeps them with transforms; compare the pictures of
    each pair matched by whole-picture hashes, and leave out those whose cells disagree and
    whose keypoints cannot verify them either (look-alikes: the same composition, other
    details); copies the hashes matched are searched through one of them
    (`searched_copies`). Pictures come from `picture_of(number)`, image records from
    `records(numbers)` (read once it is known which). Returns how many pairs were
    candidates, verified and refuted (pairs the hashes matched that their pixels refute)."""
    from . import robust

    picture_of = lru_cache(maxsize=256)(picture_of)  # frames and verification read alike
    framed = [pair for pair, distance in pairs.items() if distance["via"] is None]
    turns = [p for p, d in turned.items() if p not in pairs and _turn_of(d["via"])]
    pairs.update((pair, turned[pair]) for pair in turns)
    images = records(sorted({*chain(*pairs)}))
    compared = robust.compared_frames(framed, picture_of)
    doubted = _doubted(compared, found)
    copies, skip = searched_copies(pairs, found, lambda _: images, doubted)
    wanted = robust_candidates(pairs, found, skip) | {(a, b, False) for a, b in doubted}
    images.update(records(sorted({n for a, b, _ in wanted for n in (a, b)} - images.keys())))
    confirmed = robust.verified(found, wanted, picture_of, doubted)
    refused = set()
    for pair, verification in compared.items():
        if pair in doubted:
            verification = confirmed.pop(pair, None)
            if verification is None:
                del pairs[pair]
                refused.add(pair)
                continue
        if verification is not None:
            pairs[pair]["verification"] = verification.to_dict()
    turns_refuted = checked_by_pixels(pairs, [], turns, picture_of, True)["refuted"]
    verified = len(confirmed)
    given = {
        pair: how
        for pair, how in _given_to_copies(confirmed, copies).items()
        if pair not in pairs and pair not in confirmed and pair not in refused
    }
    confirmed.update((pair, verification) for pair, (verification, _) in given.items())
    add_verified(pairs, confirmed, images)
    for pair, (_, (a, b)) in given.items():
        pairs[pair]["verification"]["through"] = [images[a].sha256, images[b].sha256]
    refuted = len(framed) - sum(pair in pairs for pair in framed) + turns_refuted
    return {"candidates": len(wanted), "verified": verified, "refuted": refuted}


def _doubted(
    compared: dict[tuple[int, int], Any], found: Sequence[Any] | dict[int, Any]
) -> set[tuple[int, int]]:
    """The pairs of `compared` (robust.compared_frames) whose cells refute them and whose
    keypoints (`found[number]`) could verify them: cells that disagree may be a crop or a
    small turn the hashes still matched, so a pair is left out only when its keypoints
    cannot verify it either."""
    from . import robust

    return {
        (a, b)
        for (a, b), verification in compared.items()
        if robust.refutes(verification) and robust.checkable(found[a], found[b])
    }


def unsure_pairs(
    pairs: dict[tuple[int, int], dict[str, Any]], fine: Sequence[str | None]
) -> list[tuple[int, int]]:
    """The pairs of whole pictures in `pairs` (as `near_pairs` gives them) whose 256-bit
    pHashes (`fine`, hex by image number; None when not recorded) are over FINE_SURE bits
    apart: those `checked_by_pixels` compares."""
    whole = [pair for pair, distance in pairs.items() if distance["via"] is None]
    if not whole:
        return []
    a, b = np.array(whole, dtype=np.int64).T
    apart = _fine_distances(fine, a, b).tolist()
    return [pair for pair, bits in zip(whole, apart, strict=True) if FINE_SURE < bits < 257]


def turned_pairs(pairs: dict[tuple[int, int], dict[str, Any]]) -> list[tuple[int, int]]:
    """The pairs of `pairs` (as `near_pairs` gives them with transforms) matched only through
    a mirrored or turned view: those `checked_by_pixels` confirms."""
    return [pair for pair, distance in pairs.items() if _turn_of(distance["via"])]


TURNED_TRIES = 3  # turned pairs compared between two groups of copies, closest first


def checked_by_pixels(
    pairs: dict[tuple[int, int], dict[str, Any]],
    unsure: list[tuple[int, int]],
    turned: list[tuple[int, int]],
    picture_of: Callable[[int], Any],
    keep_unconfirmed: bool = False,
) -> dict[str, int]:
    """Check pairs of `pairs` against their pictures (`picture_of(number)`, None when
    unreadable). Those of `unsure` (see `unsure_pairs`) are left out when they show two
    photos: cells that disagree and keypoints that cannot verify the pair. Those of `turned`
    (see `turned_pairs`) are judged together between two groups of copies (images the pairs
    of whole pictures join), by their closest pairs whose pictures are at hand (TURNED_TRIES
    at most, each by its own `_turned_verdict`): the others are kept when one is confirmed
    (that pair carries its verification), left out when one shows two photos, and otherwise
    left out, or kept with `keep_unconfirmed`. Returns how
    many pairs were compared, refuted (left out as two photos), unchecked (pictures not at
    hand, or OpenCV not installed: an unsure pair's hashes decide), turned, confirmed and
    unconfirmed (turned pairs their pictures neither confirm nor refute)."""
    counts = dict.fromkeys(("compared", "refuted", "unchecked", "confirmed", "unconfirmed"), 0)
    counts["turned"] = len(turned)
    if not unsure and not turned:  # (OpenCV is not even loaded)
        return counts
    try:
        from . import robust
    except QueryError:  # OpenCV is not installed
        if not keep_unconfirmed:
            for pair in turned:
                del pairs[pair]
        return {**counts, "unchecked": len(unsure) + len(turned)}
    picture_of = lru_cache(maxsize=256)(picture_of)
    features = lru_cache(maxsize=256)(
        lambda number: None if (grey := picture_of(number)) is None else robust.features(grey)
    )
    compared = robust.compared_frames(unsure, picture_of)
    refuting = {pair: compared[pair] for pair in unsure if robust.refutes(compared[pair])}
    found = {number: features(number) for number in chain(*refuting)}
    doubted = _doubted(refuting, found)
    wanted = [(a, b, False) for a, b in doubted]
    different = doubted - robust.verified(found, wanted, picture_of, doubted, workers=1).keys()
    for pair in different:
        del pairs[pair]
    counts["compared"] = sum(seen is not None for seen in compared.values())
    counts["refuted"] = len(different)
    counts["unchecked"] = len(unsure) - counts["compared"]
    copies = _groups(pair for pair, distance in pairs.items() if distance["via"] is None)
    between = defaultdict(list)
    for a, b in turned:
        between[tuple(sorted((copies.get(a, a), copies.get(b, b))))].append((a, b))
    for members in between.values():
        members.sort(key=lambda pair: (pairs[pair]["phash"], pairs[pair]["dhash"], pair))
        verdicts: dict[tuple[int, int], str] = {}
        tried = 0  # (pairs whose pictures are not at hand are not tries)
        for pair in members:
            if tried == TURNED_TRIES:
                break
            verdict, verification = _turned_verdict(
                robust, pair, pairs[pair]["via"], picture_of, features
            )
            verdicts[pair] = verdict
            tried += verdict != "unchecked"
            if verification is not None:
                pairs[pair]["verification"] = verification.to_dict()
                break
        counts["compared"] += tried
        seen = set(verdicts.values())
        judged = next(v for v in ("confirmed", "refuted", "unconfirmed", "unchecked") if v in seen)
        for pair in members:  # a pair compared by its own verdict, the others by their group's
            verdict = verdicts.get(pair, judged)
            counts[verdict] += 1
            if verdict == "refuted" or (verdict != "confirmed" and not keep_unconfirmed):
                del pairs[pair]
    return counts


def _turned_verdict(
    robust: Any,
    pair: tuple[int, int],
    via: str,
    picture_of: Callable[[int], Any],
    features: Callable[[int], Any],
) -> tuple[str, Any]:
    """("confirmed", its verification) when the pair's frames, one turned onto the other as
    `via` says, agree (`robust.confirms`), or else keypoints verify it (AGREEING_HASHED);
    ("refuted", None) when the frames refute it; ("unconfirmed", None) when neither;
    ("unchecked", None) when a picture is not at hand."""
    grey_a, grey_b = picture_of(pair[0]), picture_of(pair[1])
    if grey_a is None or grey_b is None:
        return "unchecked", None
    turned = [robust.compare_frame(grey_a, grey_b, *way) for way in _ways(via)]
    frames = max((v for v in turned if v is not None), key=lambda v: v.agreeing, default=None)
    if robust.confirms(frames):
        return "confirmed", frames
    found_a, found_b = features(pair[0]), features(pair[1])
    if robust.checkable(found_a, found_b):
        mirrored = _turn_of(via) == "mirror"
        verified = robust.verify(grey_a, found_a, grey_b, found_b, mirrored, robust.AGREEING_HASHED)
        if verified is not None:
            return "confirmed", verified
    return ("refuted" if robust.refutes(frames) else "unconfirmed"), None


def _groups(pairs: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Each image of `pairs` with the least image number it is joined to through them."""
    parent: dict[int, int] = {}

    def root(number: int) -> int:
        while parent.setdefault(number, number) != number:
            parent[number] = parent[parent[number]]
            number = parent[number]
        return number

    for a, b in pairs:
        first, second = sorted((root(a), root(b)))
        parent[second] = first
    return {number: root(number) for number in parent}


def searched_copies(
    pairs: dict[tuple[int, int], dict[str, Any]],
    found: Sequence[Any],
    records: Callable[[list[int]], dict[int, ImageRecord]],
    refuted: Container[tuple[int, int]] = (),
) -> tuple[dict[int, list[int]], set[int]]:
    """Copies a keypoint search looks for through one of them (a photo's many copies would
    fill the index's buckets): the leader clusters, in keeper order as `dupes` forms them,
    of the pairs of `pairs` whose whole pictures match (`via` null) but those `refuted`, by
    the image searched; and the images not searched. `found`: robust.Features by number;
    `records(numbers)`: their image objects. The image searched is the first with the
    keypoints a search needs and no uniform borders (a padded copy shows the photo
    smaller), else one with the keypoints, whose bytes a file still holds (it is read again
    to verify)."""
    from . import robust

    same = {p: d for p, d in pairs.items() if d["via"] is None and p not in refuted}
    numbers = sorted({*chain(*same)})
    images = records(numbers)
    copies = {}
    for members, _ in _leaders(sorted(numbers, key=lambda n: keeper_key(images[n])), same):
        worse = {
            n: (not robust.checkable(found[n]), "trimmed" in (images[n].variants or {}))
            for n in members
        }
        ranked = sorted(members, key=worse.__getitem__)
        held = (n for n in ranked if stored_bytes(images[n].sha256, images[n].paths()))
        copies[next(held, ranked[0])] = members
    skip = {n for searched, members in copies.items() for n in members if n != searched}
    return copies, skip


def robust_candidates(
    pairs: dict[tuple[int, int], dict[str, Any]], found: Sequence[Any], skip: set[int]
) -> set[tuple[int, int, bool]]:
    """The keypoint candidates (a < b, mirrored) among `found` (robust.Features or None per
    image number) `robust.verified` should check, none that `pairs` holds. The images in
    `skip` are not searched (see `searched_copies`)."""
    from . import robust

    wanted = {(min(a, b), max(a, b), m) for a, b, m in robust.candidates(found, found, skip=skip)}
    return {w for w in wanted if w[:2] not in pairs}


def _given_to_copies(
    confirmed: dict[tuple[int, int], Any], copies: dict[int, list[int]]
) -> dict[tuple[int, int], tuple[Any, tuple[int, int]]]:
    """Each verified pair (a, b) of images searched, given to their copies (see
    `searched_copies`: a copy shows the same frame): every copy of a with b's keeper, and
    a's keeper with every copy of b, as `dupes` clusters them; with the pair's verification
    and the pair compared, each taken in the given pair's order."""
    given = {}
    for (a, b), verification in confirmed.items():
        one, other = copies.get(a, [a]), copies.get(b, [b])
        for x, y in [*((x, other[0]) for x in one), *((one[0], y) for y in other)]:
            if x < y:
                given[(x, y)] = verification, (a, b)
            elif x > y:
                given[(y, x)] = verification.reversed(), (b, a)
    return given


def add_verified(
    pairs: dict[tuple[int, int], dict[str, Any]],
    confirmed: dict[tuple[int, int], Any],
    images: dict[int, ImageRecord],
) -> None:
    """Add the pairs `robust.verified` confirmed to `pairs`: pHash and dHash bits between
    the images (by number in `images`), via "robust" or "robust+mirror", and how."""
    for (a, b), verification in confirmed.items():
        one, other = images[a], images[b]
        pairs[(a, b)] = {
            **_distance(_bits(one, other, "phash"), _bits(one, other, "dhash"), None),
            "via": "robust+mirror" if verification.mirrored else "robust",
            "verification": verification.to_dict(),
        }


def _bits(one: ImageRecord, other: ImageRecord, name: str) -> int:
    return (int(getattr(one, name), 16) ^ int(getattr(other, name), 16)).bit_count()


def _near_plans(
    catalog: Store,
    pairs: dict[tuple[int, int], dict[str, Any]],
    shas: list[str],
    tracking: bool,
) -> list[_Plan]:
    """Near-duplicate clusters (most images first) of `pairs`: the images of the pairs are
    read to order them as keepers and to count how far each cluster travelled."""
    involved = sorted({number for pair in pairs for number in pair})
    images = {
        image.sha256: image if tracking else _untracked(image)
        for image in catalog.image_objects([shas[n] for n in involved])
    }
    order = sorted(involved, key=lambda n: keeper_key(images[shas[n]]))
    plans = []
    for members, distances in _leaders(order, pairs):
        copies = [images[shas[n]] for n in members]
        spread = reach(copies)
        plans.append(
            _Plan(
                "near",
                [shas[n] for n in members],
                distances,
                (spread["articles"], spread["places"]),
            )
        )
    plans.sort(key=lambda plan: (-len(plan.sha256s), plan.sha256s[0]))
    return plans


def duplicate_clusters(
    catalog: Store, threshold: int = DEFAULT_THRESHOLD, **options: Any
) -> list[Cluster]:
    """Exact-reuse clusters (most places first), then near-duplicate clusters (largest first);
    `options` are those of `duplicate_report`."""
    return duplicate_report(catalog, threshold, **options).clusters


def reference_matches(
    catalog: Store,
    folder: Path,
    threshold: int = DEFAULT_THRESHOLD,
    *,
    dhash_threshold: int = DHASH_CONFIRM,
    transforms: bool = False,
) -> list[dict[str, Any]]:
    """Which catalogued images match each image file under `folder` (agency pictures, known
    fakes): `{"file", "sha256", "matches": [{"distance", "dhash_distance", "via", "image"}]}`
    per file, closest first; a file that cannot be read gets `"error"` instead of matches."""
    if not folder.is_dir():
        raise QueryError(f"--reference {folder} is not a folder; give a folder of known photos")
    from .fingerprint import fingerprint  # the image stack, loaded only when photos are read

    errors: list = []
    files = sorted(s.path for s in walk([folder], errors) if s.kind == "image")
    results, known = [], []
    for path in files:
        try:
            print_ = ImageRecord(fingerprint(read_bytes(path), str(path)).to_dict())
        except (FingerprintError, ResolveError) as exc:
            results.append({"file": str(path), "sha256": None, "matches": [], "error": str(exc)})
            continue
        results.append({"file": str(path), "sha256": print_.sha256, "matches": []})
        known.append((results[-1], print_))
    catalogued = [i for i in catalog.image_objects() if not low_information(i)]
    pairs = near_pairs(
        [p for _, p in known] + catalogued,
        threshold,
        dhash_threshold=dhash_threshold,
        transforms=transforms,
    )
    for (a, b), d in pairs.items():
        if a < len(known) <= b:
            known[a][0]["matches"].append(
                {
                    "distance": d["phash"],
                    "dhash_distance": d["dhash"],
                    "via": d["via"],
                    "image": catalogued[b - len(known)].to_dict(),
                }
            )
    for result in results:
        result["matches"].sort(
            key=lambda m: (m["distance"], m["dhash_distance"], m["image"]["sha256"])
        )
    return results
