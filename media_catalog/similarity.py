"""Stage 6: duplicate clusters — exact reuse (same SHA-256) and near duplicates (pHash).

Near duplicates are grouped by *leader clustering*: images are taken in keeper order (largest
resolution, then earliest date taken, then shortest path); each image not yet in a cluster
becomes a leader and gathers every unclustered image within the threshold of *it*. A member is
therefore always close to its leader, and two different photos can never be chained into one
cluster through a series of in-between near matches (A~B~C with A far from C), as
single-linkage (union-find) grouping would. A near match must be confirmed by a second,
independent hash (dHash) within DHASH_CONFIRM bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .catalog import Catalog, image_objects

# Chosen from the measurement in docs/threshold.md (benchmarks/threshold.py): on 81 photos
# and 972 reuse variants, pHash <= 12 with dHash <= 8 matched no pair of different photos
# (3,184 pairs; 537,927 file pairs) and found 98.4 % of the reuse pairs.
DEFAULT_THRESHOLD = 12
DHASH_CONFIRM = 8


@dataclass(frozen=True)
class Cluster:
    """A group of images reported together: `kind` is "exact" (one image, several places)
    or "near" (several images of the same photo); images[0] is the keeper."""

    kind: str
    images: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "images": self.images}


def places(image: dict[str, Any]) -> int:
    """How many places use this image: its occurrences in articles, plus the files that hold
    it and that no occurrence points at (loose copies in a gallery folder)."""
    used = {occurrence["file"] for occurrence in image["occurrences"]}
    return len(image["occurrences"]) + sum(1 for path in image["files"] if path not in used)


def keeper_key(image: dict[str, Any]) -> tuple[int, int, str, str]:
    """Sort key that puts the copy to keep first: largest, earliest taken, shortest path."""
    taken = image["exif"].get("taken")
    paths = image["files"] + [o["article"] for o in image["occurrences"]]
    shortest = min(paths, key=lambda p: (len(p), p)) if paths else ""
    return (-image["width"] * image["height"], 0 if taken else 1, taken or "", shortest)


def hash_array(hexes: list[str]) -> np.ndarray:
    """64-bit hex hashes as a numpy uint64 array, ready for XOR + bit counts."""
    return np.array([int(h, 16) for h in hexes], dtype=np.uint64)


def hamming(codes: np.ndarray, code: np.uint64) -> np.ndarray:
    """Hamming distance of every code in `codes` to `code`."""
    return np.bitwise_count(codes ^ code)


def near_clusters(images: list[dict[str, Any]], threshold: int) -> list[Cluster]:
    """Leader clusters of images whose pHash is within `threshold` bits (dHash-confirmed).

    Low-information images (icons, flat or near-blank pictures) take no part: their
    perceptual hashes carry no signal, so any two of them would look alike.
    """
    ordered = sorted(
        (image for image in images if not image.get("low_information")), key=keeper_key
    )
    phashes = hash_array([image["phash"] for image in ordered])
    dhashes = hash_array([image["dhash"] for image in ordered])
    free = np.ones(len(ordered), dtype=bool)
    clusters = []
    for leader in range(len(ordered)):
        if not free[leader]:
            continue
        close = (hamming(phashes, phashes[leader]) <= threshold) & (
            hamming(dhashes, dhashes[leader]) <= DHASH_CONFIRM
        )
        members = np.flatnonzero(free & close)
        free[members] = False
        if len(members) > 1:
            clusters.append(Cluster("near", [ordered[i] for i in members]))
    return clusters


def untracked(images: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`images` without tracking pixels: no 1×1 images, no occurrences marked `tracking`
    (declared 1×1, known pixel URLs), and no image left with neither occurrence nor file."""
    kept = []
    for image in images:
        if image["width"] * image["height"] <= 1:
            continue
        occurrences = [o for o in image["occurrences"] if not o["tracking"]]
        if occurrences or image["files"]:
            kept.append({**image, "occurrences": occurrences})
    return kept


def duplicate_clusters(
    catalog: Catalog, threshold: int = DEFAULT_THRESHOLD, *, tracking: bool = False
) -> list[Cluster]:
    """Exact-reuse clusters (most places first), then near-duplicate clusters (largest first).

    Tracking pixels, spacers and 1×1 images are left out unless `tracking` is true.
    """
    images = image_objects(catalog)
    if not tracking:
        images = untracked(images)
    exact = [Cluster("exact", [image]) for image in images if places(image) >= 2]
    exact.sort(key=lambda c: (-places(c.images[0]), c.images[0]["sha256"]))
    near = near_clusters(images, threshold)
    near.sort(key=lambda c: (-len(c.images), c.images[0]["sha256"]))
    return exact + near
