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
uniform borders trimmed (letterboxing, padding), of its central 90/80/70 % (crops), and —
with `transforms` — of its mirror and quarter turns (see `fingerprint.variant_pictures`). All
near pairs are found at once with multi-index hashes (`hamming.HammingIndex`).

Left out by default: low-information images (blank, flat) from the near tier; tracking pixels
(see `untracked`) and *site furniture* (one image used in a large share of the articles: a
logo, an icon, an ad) from both tiers; and any SHA-256 or pHash on an ignore list.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .catalog import Catalog, image_objects
from .errors import FingerprintError, QueryError, ResolveError
from .hamming import HammingIndex, hex_codes
from .models import DEFAULT_THRESHOLD
from .resolve import read_bytes
from .walk import walk

DHASH_CONFIRM = 8  # dHash bits that confirm a pHash match (see DEFAULT_THRESHOLD in models)
# The other ways a pair matches (near_pairs), chosen from the curves in docs/threshold.md
# (benchmarks/accuracy.py): a looser dHash confirmed by the 256-bit pHash; a near-equal dHash
# with a pHash a third looser (16 bits at the default 12); a closer dHash for derived views
# (central regions, mirrors, turns).
DHASH_WIDE = 12
FINE_CONFIRM = 48
DHASH_EXACT = 2
VIEW_DHASH = 6
# An image in at least this share of the articles, and in at least FURNITURE_MIN_ARTICLES of
# them, is site furniture (logo, icon, ad), not a reused photo.
FURNITURE_SHARE = 0.3
FURNITURE_MIN_ARTICLES = 10
TRANSFORMS = ("mirror", "rot90", "rot180", "rot270")
CENTRES = ("centre90", "centre80", "centre70")
SORTS = ("size", "reach")


@dataclass(frozen=True)
class Cluster:
    """A group of images reported together: `kind` is "exact" (one image, several places)
    or "near" (several images of the same photo); images[0] is the keeper. `distances` has one
    entry per image: pHash and dHash bits to the keeper and the view that matched ("trimmed",
    "mirror", "rot90", … or None for the plain images)."""

    kind: str
    images: list[dict[str, Any]]
    distances: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        distances = self.distances or [_distance(0, 0, None)] * len(self.images)
        return {
            "kind": self.kind,
            "tier": 1 if self.kind == "exact" else 2,
            "keeper": self.images[0]["sha256"],
            "reach": reach(self.images),
            "distances": [
                {"sha256": image["sha256"], **d}
                for image, d in zip(self.images, distances, strict=True)
            ],
            "images": self.images,
        }


@dataclass(frozen=True)
class DuplicateReport:
    """Clusters and what was left out of them (SHA-256s per reason)."""

    threshold: int
    clusters: list[Cluster]
    excluded: dict[str, list[str]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "clusters": [c.to_dict() for c in self.clusters],
            "excluded": self.excluded,
        }


def _distance(phash: int, dhash: int, via: str | None) -> dict[str, Any]:
    return {"phash": phash, "dhash": dhash, "via": via}


def places(image: dict[str, Any]) -> int:
    """How many places use this image: its occurrences in articles, plus the files that hold
    it and that no occurrence points at (loose copies in a gallery folder)."""
    used = {occurrence["file"] for occurrence in image["occurrences"]}
    return len(image["occurrences"]) + sum(1 for path in image["files"] if path not in used)


def reach(images: Iterable[dict[str, Any]]) -> dict[str, int]:
    """How far a photo travelled: distinct articles and places (see `places`) over its copies."""
    images = list(images)
    articles = {o["article"] for image in images for o in image["occurrences"]}
    return {"articles": len(articles), "places": sum(places(image) for image in images)}


def keeper_key(image: dict[str, Any]) -> tuple[int, int, str, str]:
    """Sort key that puts the copy to keep first: largest, earliest taken, shortest path."""
    taken = image["exif"].get("taken")
    paths = image["files"] + [o["article"] for o in image["occurrences"]]
    shortest = min(paths, key=lambda p: (len(p), p)) if paths else ""
    return (-image["width"] * image["height"], 0 if taken else 1, taken or "", shortest)


def low_information(image: dict[str, Any]) -> bool:
    """Blank, flat or near-flat: the fingerprint's `low_information` flag where recorded, else
    a pHash far from 32 set bits (imagehash's pHash of any textured image has exactly 32)."""
    flag = image.get("low_information")
    if flag is not None:
        return bool(flag)
    return abs(int(image["phash"], 16).bit_count() - 32) > 8


def site_furniture(images: list[dict[str, Any]]) -> set[str]:
    """SHA-256s of images used in at least FURNITURE_SHARE of all articles (and in at least
    FURNITURE_MIN_ARTICLES): logos, icons, ads."""
    total = len({o["article"] for image in images for o in image["occurrences"]})
    needed = max(FURNITURE_MIN_ARTICLES, FURNITURE_SHARE * total)
    return {image["sha256"] for image in images if reach([image])["articles"] >= needed}


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


def _views(images: list[dict[str, Any]], transforms: bool) -> tuple[np.ndarray, list, list, list]:
    """One row per (image, view): image numbers, view names, pHash hexes, dHash hexes."""
    names = ("trimmed", *CENTRES, *TRANSFORMS) if transforms else ("trimmed", *CENTRES)
    owner, view, phashes, dhashes = [], [], [], []
    for number, image in enumerate(images):
        variants = image.get("variants") or {}
        for name, hashes in [(None, image), *((n, variants.get(n)) for n in names)]:
            if hashes:
                owner.append(number)
                view.append(name)
                phashes.append(hashes["phash"])
                dhashes.append(hashes["dhash"])
    return np.array(owner, dtype=np.int64), view, phashes, dhashes


def _fine_distances(images: list[dict[str, Any]], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """256-bit pHash distances between images a[k] and b[k]; 257 where one has none (a
    catalogue made before it was recorded)."""
    words = np.zeros((len(images) + 1, 4), dtype=np.uint64)
    known = np.zeros(len(images) + 1, dtype=bool)
    for number, image in enumerate(images):
        if image.get("phash256"):
            value = int(image["phash256"], 16)
            words[number] = [(value >> (64 * w)) & 0xFFFF_FFFF_FFFF_FFFF for w in range(4)]
            known[number] = True
    distances = np.bitwise_count(words[a] ^ words[b]).sum(axis=1).astype(np.int64)
    return np.where(known[a] & known[b], distances, 257)


def near_pairs(
    images: list[dict[str, Any]],
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

    Pairs come from two multi-index searches: pHash within `threshold`, dHash within
    DHASH_EXACT. A mirrored or turned view is only compared with plain and trimmed views.
    """
    if len(images) < 2:
        return {}
    owner, view, phashes, dhashes = _views(images, transforms)
    pcodes, dcodes = hex_codes(phashes), hex_codes(dhashes)
    turned = np.array([v in TRANSFORMS for v in view])
    plain = np.array([v is None for v in view])
    base = plain | np.array([v == "trimmed" for v in view])
    i, j, _ = HammingIndex(pcodes).pairs(threshold)
    rows = np.flatnonzero(base)  # the near-equal dHash arm compares plain and trimmed views only
    k, m, _ = HammingIndex(dcodes[rows]).pairs(DHASH_EXACT)
    found = np.stack([i, j], 1), np.stack([rows[k], rows[m]], 1)
    found = np.unique(np.concatenate(found), axis=0)
    i, j = found[:, 0], found[:, 1]
    pdist = np.bitwise_count(pcodes[i] ^ pcodes[j]).astype(np.int64)
    ddist = np.bitwise_count(dcodes[i] ^ dcodes[j]).astype(np.int64)
    # mirror-vs-mirror (or vs a centre) would give a pair a second, different dHash test and
    # let near misses through; derived views need a closer dHash, as near-symmetric pictures
    # and the flat middles of different photos come close otherwise.
    derived = ~base[i] | ~base[j]
    confirm = np.where(derived, min(dhash_threshold, VIEW_DHASH), dhash_threshold)
    both = plain[i] & plain[j]
    fine = np.full(len(i), 257, dtype=np.int64)
    fine[both] = _fine_distances(images, owner[i][both], owner[j][both])
    match = (
        ((pdist <= threshold) & (ddist <= confirm))
        | ((pdist <= threshold) & (ddist <= DHASH_WIDE) & (fine <= FINE_CONFIRM))
        | ((ddist <= DHASH_EXACT) & (pdist <= threshold + threshold // 3) & ~derived)
    )
    apart = (turned[i] & ~base[j]) | (turned[j] & ~base[i])
    keep = match & (owner[i] != owner[j]) & ~apart
    best: dict[tuple[int, int], dict[str, Any]] = {}
    for a, b, p, d in zip(i[keep], j[keep], pdist[keep], ddist[keep], strict=True):
        via = "+".join(v for v in (view[a], view[b]) if v) or None
        key = (int(min(owner[a], owner[b])), int(max(owner[a], owner[b])))
        found = _distance(int(p), int(d), via)
        if key not in best or _rank(found) < _rank(best[key]):
            best[key] = found
    return best


def _rank(distance: dict[str, Any]) -> tuple[bool, int, int, bool]:
    """Closest first, but a central region last: a recompressed copy is not reported as
    matching "via" a central region that happens to be closer than the whole picture."""
    via = distance["via"] or ""
    return "centre" in via, distance["phash"], distance["dhash"], bool(via)


def near_clusters(
    images: list[dict[str, Any]],
    threshold: int,
    *,
    dhash_threshold: int = DHASH_CONFIRM,
    transforms: bool = False,
) -> list[Cluster]:
    """Leader clusters of images whose pHash is within `threshold` bits (dHash-confirmed)."""
    ordered = sorted(images, key=keeper_key)
    pairs = near_pairs(ordered, threshold, dhash_threshold=dhash_threshold, transforms=transforms)
    neighbours: dict[int, list[int]] = defaultdict(list)
    for a, b in pairs:
        neighbours[a].append(b)
        neighbours[b].append(a)
    free = np.ones(len(ordered), dtype=bool)
    clusters = []
    for leader in range(len(ordered)):
        if not free[leader]:
            continue
        free[leader] = False
        members = sorted(n for n in neighbours[leader] if free[n])
        if members:
            free[members] = False
            clusters.append(
                Cluster(
                    "near",
                    [ordered[leader], *(ordered[m] for m in members)],
                    [
                        _distance(0, 0, None),
                        *(pairs[(min(leader, m), max(leader, m))] for m in members),
                    ],
                )
            )
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


def duplicate_report(
    catalog: Catalog,
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
) -> DuplicateReport:
    """Exact-reuse and near-duplicate clusters, and what was left out of them.

    `sort="size"`: exact clusters (most places first), then near clusters (most images
    first); `sort="reach"`: every cluster by the number of articles it spans, then places.
    `min_articles` keeps only clusters spanning at least that many articles. `ignore` holds
    SHA-256s and pHashes (hex) to leave out. Tracking pixels, spacers and 1×1 images are
    left out unless `tracking` is true.
    """
    if sort not in SORTS:
        raise QueryError(f"unknown sort {sort!r}; use one of: {', '.join(SORTS)}")
    images = image_objects(catalog)
    dropped: set[str] = set()
    if not tracking:
        kept = untracked(images)
        dropped = {i["sha256"] for i in images} - {i["sha256"] for i in kept}
        images = kept
    ignore = {value.lower() for value in ignore}
    excluded: dict[str, list[str]] = {
        "ignored": sorted(i["sha256"] for i in images if {i["sha256"], i["phash"]} & ignore),
        "furniture": [] if include_furniture else sorted(site_furniture(images)),
        "tracking": [] if tracking else sorted(dropped),
        "low_information": []
        if include_low_information
        else sorted(i["sha256"] for i in images if low_information(i)),
    }
    left_out = {sha for key in ("ignored", "furniture") for sha in excluded[key]}
    images = [image for image in images if image["sha256"] not in left_out]
    exact = [Cluster("exact", [image]) for image in images if places(image) >= 2]
    exact.sort(key=lambda c: (-places(c.images[0]), c.images[0]["sha256"]))
    flat = set(excluded["low_information"])
    near = near_clusters(
        [image for image in images if image["sha256"] not in flat],
        threshold,
        dhash_threshold=dhash_threshold,
        transforms=transforms,
    )
    near.sort(key=lambda c: (-len(c.images), c.images[0]["sha256"]))
    clusters = [c for c in exact + near if reach(c.images)["articles"] >= min_articles]
    if sort == "reach":
        clusters.sort(key=lambda c: (-reach(c.images)["articles"], -reach(c.images)["places"]))
    return DuplicateReport(threshold, clusters, excluded)


def duplicate_clusters(
    catalog: Catalog, threshold: int = DEFAULT_THRESHOLD, **options: Any
) -> list[Cluster]:
    """Exact-reuse clusters (most places first), then near-duplicate clusters (largest first);
    `options` are those of `duplicate_report`."""
    return duplicate_report(catalog, threshold, **options).clusters


def reference_matches(
    catalog: Catalog,
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
            print_ = fingerprint(read_bytes(path), str(path)).to_dict()
        except (FingerprintError, ResolveError) as exc:
            results.append({"file": str(path), "sha256": None, "matches": [], "error": str(exc)})
            continue
        results.append({"file": str(path), "sha256": print_["sha256"], "matches": []})
        known.append((results[-1], print_))
    catalogued = [i for i in image_objects(catalog) if not low_information(i)]
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
                    "image": catalogued[b - len(known)],
                }
            )
    for result in results:
        result["matches"].sort(
            key=lambda m: (m["distance"], m["dhash_distance"], m["image"]["sha256"])
        )
    return results
