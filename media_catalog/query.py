"""Answers from the catalogue: lookup by hash or image file, and text search.

`lookup`, `show` and `search` read the catalogue's read index when it is current
(media_catalog.index) and the loaded catalogue otherwise; both paths give the same answers.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .catalog import Catalog, place, stored_occurrence, with_occurrences
from .errors import QueryError
from .index import camera_text, embedded_text, error_places, field_text, uses
from .models import DEFAULT_THRESHOLD
from .querylang import FREE_TEXT_FIELDS, TEXT_FIELDS, Term, parse

_HEX16 = re.compile(r"^[0-9a-fA-F]{16}$")
_SHA256 = re.compile(r"^(?:sha256:)?(?P<hex>[0-9a-fA-F]{0,64})$")


def _match(image: dict[str, Any], distance: int) -> dict[str, Any]:
    return {"distance": distance, "image": image}


def lookup(catalog: Catalog, key: str, distance: int = DEFAULT_THRESHOLD) -> list[dict[str, Any]]:
    """Images matching `key`, closest first, as `{"distance", "image"}`.

    16 hex digits are a pHash, matched within `distance` bits; 6 to 64 other hex digits, or
    `sha256:` followed by any, are a SHA-256 or a unique prefix of one (distance 0).
    """
    key = key.strip()
    if _HEX16.match(key):
        return _near(catalog, key, distance)
    sha = _SHA256.match(key)
    if sha and (len(sha.group("hex")) >= 6 or key.lower().startswith("sha256:")):
        return [_match(image, 0) for image in _by_sha256(catalog, sha.group("hex").lower())]
    raise QueryError(
        f"{key!r} is not a hash: give 16 hex digits (a pHash), 6 to 64 hex digits or "
        "sha256:PREFIX (a SHA-256 or a prefix of one), or use --image FILE"
    )


def _by_sha256(catalog: Catalog, prefix: str) -> list[dict[str, Any]]:
    """Image objects whose SHA-256 starts with `prefix`; QueryError if a short prefix names
    several."""
    index = catalog.index()
    if index is not None:
        found = index.images_with_prefix(prefix)
    else:
        found = [image for image in catalog.images() if image["sha256"].startswith(prefix)]
    if len(found) > 1 and len(prefix) < 64:
        raise QueryError(
            f"sha256:{prefix} matches {len(found)} images; give more digits to choose one"
        )
    return _objects(catalog, found)


def _objects(catalog: Catalog, images: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Image documents as image objects, with their occurrences."""
    index = catalog.index()
    wanted = {image["sha256"] for image in images}
    if index is not None:
        return with_occurrences(images, index.occurrences_of(wanted))
    return with_occurrences(
        images, (doc for doc in catalog.occurrences() if doc["sha256"] in wanted)
    )


def show(catalog: Catalog, key: str, distance: int = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """One image, by SHA-256 or a unique prefix of it (`sha256:` optional), with its near
    duplicates within `distance` pHash bits: `{"image", "near_duplicates": [match, …]}`."""
    sha = _SHA256.match(key.strip())
    if not sha or not sha.group("hex"):
        raise QueryError(f"{key!r} is not a SHA-256 or a prefix of one (hex digits)")
    found = _by_sha256(catalog, sha.group("hex").lower())
    if not found:
        raise QueryError(f"no image in {catalog.path} has a SHA-256 starting with {key.strip()}")
    (image,) = found
    near = _near(catalog, image["phash"], distance)
    return {
        "image": image,
        "near_duplicates": [m for m in near if m["image"]["sha256"] != image["sha256"]],
    }


SIZE_BUCKETS = ((256, "< 256 px"), (1024, "256–1023 px"), (2048, "1024–2047 px"))
LARGEST = ">= 2048 px"


def size_bucket(image: dict[str, Any]) -> str:
    """The bucket of an image's longer side."""
    side = max(image["width"], image["height"])
    return next((name for limit, name in SIZE_BUCKETS if side < limit), LARGEST)


def stats(catalog: Catalog, threshold: int = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """Counts over the whole catalogue: images by format and by size (longer side),
    articles, occurrences, errors by code, duplicate clusters, unresolved by reason."""
    images = catalog.images()
    occurrences = catalog.occurrences()
    from .similarity import duplicate_clusters  # numpy: loaded only where clusters are made

    clusters = duplicate_clusters(catalog, threshold)
    near = [c for c in clusters if c.kind == "near"]
    sizes = Counter(size_bucket(image) for image in images)
    buckets = [name for _, name in SIZE_BUCKETS]  # smallest first
    return {
        "images": len(images),
        "files": sum(len(image["files"]) for image in images),
        "articles": len({doc["article"] for doc in occurrences}),
        "occurrences": len(occurrences),
        "formats": _counts(image["format"] for image in images),
        "sizes": {name: sizes[name] for name in (*buckets, LARGEST) if sizes[name]},
        "errors": _counts(error["code"] for error in catalog.errors()),
        "unresolved": _counts(doc["reason"] for doc in occurrences if not doc["sha256"]),
        "clusters": {
            "threshold": threshold,
            "exact": len(clusters) - len(near),
            "near": len(near),
            "images_in_near": sum(len(c.images) for c in near),
        },
    }


def _counts(values: Iterable[str]) -> dict[str, int]:
    """Counts, most frequent first."""
    return dict(Counter(values).most_common())


def lookup_image(
    catalog: Catalog, path: Path, distance: int = DEFAULT_THRESHOLD, *, transforms: bool = False
) -> list[dict[str, Any]]:
    """Images matching the image file at `path` by pHash within `distance` bits, closest
    first. With `transforms`, also those matching the file mirrored left to right or turned
    counter-clockwise by a quarter, half or three-quarter turn (a flipped copy of a photo is
    a common disguise), whose dHash must then also lie within VIEW_DHASH bits, as `dupes
    --transforms` asks; each match then says which `view` of the file it matched:
    "original", "mirror", "rot90", "rot180" or "rot270" (the closest one)."""
    from .fingerprint import fingerprint  # the image stack, loaded only when a photo is read
    from .resolve import read_bytes
    from .similarity import TRANSFORMS, VIEW_DHASH

    found = fingerprint(read_bytes(path), str(path))
    if not transforms:
        return _near(catalog, str(found.phash), distance)
    names = ("original", *TRANSFORMS)
    views = [{"phash": str(found.phash)}, *(found.variants[name] for name in TRANSFORMS)]
    best: dict[str, dict[str, Any]] = {}
    for view, match in _near_views(catalog, [hashes["phash"] for hashes in views], distance):
        image = match["image"]
        if image["sha256"] in best:
            continue  # matched closer through another view
        if view:
            dhash_bits = (int(views[view]["dhash"], 16) ^ int(image["dhash"], 16)).bit_count()
            if dhash_bits > VIEW_DHASH:
                continue
        best[image["sha256"]] = {**match, "view": names[view]}
    return list(best.values())


def _near(catalog: Catalog, phash: str, distance: int) -> list[dict[str, Any]]:
    """Images within `distance` pHash bits of `phash`, closest first (then catalogue order)."""
    return [match for _, match in _near_views(catalog, [phash], distance)]


def _near_views(
    catalog: Catalog, phashes: list[str], distance: int
) -> list[tuple[int, dict[str, Any]]]:
    """(view, match) for each image within `distance` pHash bits of `phashes[view]`, once for
    each view that reaches it, closest first (then by view, then catalogue order). The codes
    are read, and the image objects made, once for all the views."""
    index = catalog.index()
    images = catalog.images() if index is None else []
    codes = index.phash_codes() if index is not None else [int(i["phash"], 16) for i in images]
    hits = []
    for view, phash in enumerate(phashes):
        target = int(phash, 16)
        # Plain Python: 100,000 codes take about 10 ms, less than importing numpy would.
        distances = ((code ^ target).bit_count() for code in codes)
        hits += [(bits, view, row) for row, bits in enumerate(distances) if bits <= distance]
    hits.sort()
    rows = list(dict.fromkeys(row for _, _, row in hits))
    found = [images[row] for row in rows] if index is None else index.images_at(rows)
    objects = dict(zip(rows, _objects(catalog, found), strict=True))
    return [(view, _match(objects[row], bits)) for bits, view, row in hits]


def search(catalog: Catalog, query: str) -> list[dict[str, Any]]:
    """Occurrences matching every term of `query`, by article then position.

    Plain words must each appear in the alt, caption, credit, title, article path or article
    title, or in the image's own embedded caption, headline, creator, credit, alt text,
    extended description or keywords (IPTC/XMP); see
    `media_catalog.querylang` for the `field:value` terms, negation and phrases. Matching
    folds case, Arabic/Persian letter variants, digits and zero-width characters
    (`media_catalog.text.normalize`). Raises QueryError pointing at a term it cannot read.
    """
    return search_page(catalog, query)[1]


def search_page(
    catalog: Catalog, query: str, limit: int | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """`search`, but only the first `limit` results (all when None), with how many match."""
    total, found = search_json(catalog, query, limit)
    return total, [orjson.loads(result) for result in found]


def search_json(catalog: Catalog, query: str, limit: int | None = None) -> tuple[int, list[bytes]]:
    """`search_page` with each result as its JSON bytes (compact; those the read index finds
    come from the catalogue file as they are)."""
    terms = parse(query)
    index = catalog.index()
    answer = index.search(terms, limit) if index is not None else None
    if answer is None:  # no index, or a term only the loaded catalogue answers (dup:)
        found = sorted(_evaluate(catalog, terms), key=place)
        answer = len(found), [orjson.dumps(stored_occurrence(doc)) for doc in found[:limit]]
    return answer


def _evaluate(catalog: Catalog, terms: list[Term]) -> list[dict[str, Any]]:
    """The occurrence documents matching every term, from the loaded catalogue."""
    fields = {term.field for term in terms}
    images = {doc["sha256"]: doc for doc in catalog.images()}
    occurrences = catalog.occurrences()
    context = _Context(
        images=images,
        uses=uses(images.values(), occurrences) if "uses" in fields else Counter(),
        near=_near_duplicates(catalog) if "dup" in fields else set(),
        errors=error_places(catalog.errors()) if "error" in fields else set(),
    )
    return [
        doc
        for doc in occurrences
        if all(_matches(term, doc, context) != term.negated for term in terms)
    ]


@dataclass
class _Context:
    """What the terms look at besides the occurrence: its image and catalogue-wide facts."""

    images: dict[str, dict[str, Any]]
    uses: Counter[str]
    near: set[str]
    errors: set[tuple[str, int | None]]


def _near_duplicates(catalog: Catalog) -> set[str]:
    from .similarity import duplicate_clusters  # numpy: loaded only where clusters are made

    return {
        image["sha256"]
        for cluster in duplicate_clusters(catalog)
        if cluster.kind == "near"
        for image in cluster.images
    }


def _text(doc: dict[str, Any], fields: tuple[str, ...]) -> str:
    return "\n".join(field_text(doc, field) for field in fields)


def _matches(term: Term, doc: dict[str, Any], context: _Context) -> bool:
    field = term.field
    if field is None:
        return term.value in _text(doc, FREE_TEXT_FIELDS) or term.value in embedded_text(
            context.images.get(doc["sha256"] or "")
        )
    if field in TEXT_FIELDS:
        return term.value in _text(doc, (field,))
    if field == "unresolved":
        return (doc["sha256"] is None) == term.value
    if field == "error":
        return ((doc["article"], doc["position"]) in context.errors) == term.value
    image = context.images.get(doc["sha256"] or "")
    if field == "dup":
        return (image is not None and image["sha256"] in context.near) == term.value
    if image is None:
        return False
    if field == "format":
        return image["format"].upper() == term.value
    if field == "camera":
        return term.value in camera_text(image)
    if field == "taken":
        return _in_range(image["exif"].get("taken"), term.value)
    number = context.uses.get(image["sha256"], 0) if field == "uses" else image[field]
    low, high = term.value  # type: ignore[misc]
    return (low is None or number >= low) and (high is None or number <= high)


def _in_range(taken: str | None, bounds: Any) -> bool:
    """Whether ISO date `taken` lies in (low, high), each an ISO prefix or None, inclusive."""
    if not taken:
        return False
    low, high = bounds
    return (low is None or taken[: len(low)] >= low) and (
        high is None or taken[: len(high)] <= high
    )
