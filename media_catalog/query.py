"""Answers from the catalogue: lookup by hash or image file, show, stats and text search.

Every answer goes through the store interface (media_catalog.store), so both stores give the
same answers; search terms mean what media_catalog.terms says, on either.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from .dating import chronological, used_when
from .errors import QueryError
from .models import DEFAULT_THRESHOLD, counts_key
from .querylang import parse
from .records import ImageRecord
from .store import JSON_IMAGES_ADVISED, Store
from .text import normalize

_HEX16 = re.compile(r"^[0-9a-fA-F]{16}$")
_SHA256 = re.compile(r"^(?:sha256:)?(?P<hex>[0-9a-fA-F]{0,64})$")


def _match(image: ImageRecord, distance: int) -> dict[str, Any]:
    return {"distance": distance, "image": image.to_dict()}


def lookup(catalog: Store, key: str, distance: int = DEFAULT_THRESHOLD) -> list[dict[str, Any]]:
    """Images matching `key`, closest first, as `{"distance", "image"}`.

    16 hex digits are a pHash, matched within `distance` bits; 6 to 64 other hex digits, or
    `sha256:` followed by any, are a SHA-256 or a unique prefix of one (distance 0).
    """
    key = key.strip()
    if _HEX16.match(key):
        return _near(catalog, int(key, 16), distance)
    sha = _SHA256.match(key)
    if sha and (len(sha.group("hex")) >= 6 or key.lower().startswith("sha256:")):
        return [_match(image, 0) for image in _by_sha256(catalog, sha.group("hex").lower())]
    raise QueryError(
        f"{key!r} is not a hash: give 16 hex digits (a pHash), 6 to 64 hex digits or "
        "sha256:PREFIX (a SHA-256 or a prefix of one), or use --image FILE"
    )


def _by_sha256(catalog: Store, prefix: str) -> list[ImageRecord]:
    """Image objects whose SHA-256 starts with `prefix`; QueryError if a short prefix names
    several."""
    found = catalog.sha256s_with_prefix(prefix)
    if len(found) > 1 and len(prefix) < 64:
        raise QueryError(
            f"sha256:{prefix} matches {len(found)} images; give more digits to choose one"
        )
    return list(catalog.image_objects(found))


def show(catalog: Store, key: str, distance: int = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """One image, by SHA-256 or a unique prefix of it (`sha256:` optional), with its near
    duplicates within `distance` pHash bits and the history of both (see `history`):
    `{"image", "near_duplicates": [match, …], "history": [use, …]}`."""
    sha = _SHA256.match(key.strip())
    if not sha or not sha.group("hex"):
        raise QueryError(f"{key!r} is not a SHA-256 or a prefix of one (hex digits)")
    found = _by_sha256(catalog, sha.group("hex").lower())
    if not found:
        raise QueryError(f"no image in {catalog.path} has a SHA-256 starting with {key.strip()}")
    (image,) = found
    near = _near_views(catalog, [int(image.phash, 16)], distance)
    others = [(bits, other) for _, bits, other in near if other.sha256 != image.sha256]
    return {
        "image": image.to_dict(),
        "near_duplicates": [_match(other, bits) for bits, other in others],
        "history": history([image, *(other for _, other in others)]),
    }


def history(images: list[ImageRecord]) -> list[dict[str, Any]]:
    """Every use of `images` (a photo and its near copies: image objects) in an article,
    oldest first, each `{"when", "dated_by", "article", "position", "sha256", "alt",
    "caption", "credit", "first", "changed"}`.

    `when` and `dated_by` are as `dating.used_when` says (undated uses last); `first` marks
    the earliest use, when it is dated; `changed` lists "caption" and "credit" where the use
    says otherwise than the last use that said any."""
    uses = []
    for image in images:
        for use in image.occurrences or ():
            when, dated_by = used_when(use)
            uses.append(
                {
                    "when": when,
                    "dated_by": dated_by,
                    "article": use.article,
                    "position": use.position,
                    "sha256": image.sha256,
                    "alt": use.alt,
                    "caption": use.caption,
                    "credit": use.credit,
                }
            )
    uses.sort(key=chronological)
    said: dict[str, str] = {}
    for number, use in enumerate(uses):
        use["first"] = number == 0 and use["when"] is not None
        use["changed"] = []
        for key in ("caption", "credit"):
            folded = normalize(use[key] or "")
            if folded and said.get(key, folded) != folded:
                use["changed"].append(key)
            said[key] = folded or said.get(key, "")
    return uses


def cluster_counts(catalog: Store, threshold: int = DEFAULT_THRESHOLD) -> dict[str, int] | None:
    """{"exact", "near", "images_in_near"} duplicate clusters at `threshold`: as kept with the
    catalogue since it last changed (by this version), else counted when it holds at most
    JSON_IMAGES_ADVISED images (and kept), else None (`dupes` counts them)."""
    counts = catalog.kept(counts_key(threshold))
    if counts is None and catalog.image_count() <= JSON_IMAGES_ADVISED:
        from .similarity import duplicate_report  # numpy: loaded only where clusters are made

        counts = duplicate_report(catalog, threshold).counts()  # (and keeps them)
    return counts


def stats(catalog: Store, threshold: int = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """Counts over the whole catalogue: images by format and by size (longer side),
    articles, occurrences, errors by code, duplicate clusters (see `cluster_counts`: null
    when not known), unresolved by reason."""
    counts = catalog.counts()
    clusters = cluster_counts(catalog, threshold) or dict.fromkeys(
        ("exact", "near", "images_in_near")
    )
    return {**counts, "clusters": {"threshold": threshold, **clusters}}


def lookup_image(
    catalog: Store,
    path: Path,
    distance: int = DEFAULT_THRESHOLD,
    *,
    transforms: bool = False,
    robust: Path | None = None,
) -> list[dict[str, Any]]:
    """Images matching the image file at `path` by pHash within `distance` bits, closest
    first. With `transforms`, also those matching the file mirrored left to right or turned
    counter-clockwise by a quarter, half or three-quarter turn (a flipped copy of a photo is
    a common disguise), whose dHash must then also lie within VIEW_DHASH bits, as `dupes
    --transforms` asks; each match then says which `view` of the file it matched:
    "original", "mirror", "rot90", "rot180" or "rot270" (the closest one). With `robust` (a
    folder to cache features in), also the images the file is a crop of, or that are crops
    of it, turned by any angle or mirrored, each verified (`view` "robust" or
    "robust+mirror", with its `verification`); these come after the hash matches."""
    from .fingerprint import fingerprint  # the image stack, loaded only when a photo is read
    from .resolve import read_bytes

    data = read_bytes(path)
    found = fingerprint(data, str(path))
    if not transforms:
        matches = _near(catalog, found.phash.value, distance)
        if robust is None:
            return matches
        best = {m["image"]["sha256"]: {**m, "view": "original"} for m in matches}
    else:
        best = _turned_matches(catalog, found, distance)
    if robust is not None:
        for match in _robust_matches(catalog, data, str(path), found.phash.value, robust):
            best.setdefault(match["image"]["sha256"], match)
    return list(best.values())


def _turned_matches(catalog: Store, found: Any, distance: int) -> dict[str, dict[str, Any]]:
    """`lookup_image`'s matches of the file and its mirror and turns (a Fingerprint's
    variants), by SHA-256, each through its closest view."""
    from .similarity import TRANSFORMS, VIEW_DHASH

    names = ("original", *TRANSFORMS)
    views = [{"phash": str(found.phash)}, *(found.variants[name] for name in TRANSFORMS)]
    best: dict[str, dict[str, Any]] = {}
    for view, bits, image in _near_views(catalog, [int(v["phash"], 16) for v in views], distance):
        if image.sha256 in best:
            continue  # matched closer through another view
        if view:
            dhash_bits = (int(views[view]["dhash"], 16) ^ int(image.dhash, 16)).bit_count()
            if dhash_bits > VIEW_DHASH:
                continue
        best[image.sha256] = {**_match(image, bits), "view": names[view]}
    return best


def _robust_matches(
    catalog: Store, data: bytes, name: str, phash: int, cache: Path
) -> list[dict[str, Any]]:
    """The catalogued images `robust` verifies as a crop, turn or mirror of the image in
    `data` (pHash `phash`), or it of them, each with its whole-picture copies (verified
    through it: see similarity.searched_copies); most agreeing cells first."""
    from . import robust
    from .similarity import ViewTable, low_information, searched_copies

    query = robust.picture(data, name)
    features = robust.features(query)
    table, shas = ViewTable(False), []
    for image in catalog.fingerprints():
        if not low_information(image):
            table.add(image)
            shas.append(image.sha256)
    found, _ = robust.catalogue_features(catalog, shas, cache)

    def records(numbers: list[int]) -> dict[int, ImageRecord]:
        by_sha = {i.sha256: i for i in catalog.image_objects([shas[n] for n in numbers])}
        return {n: by_sha[shas[n]] for n in numbers}

    # whole-picture copies are searched through one of them, as `dupes --robust` does
    copies, skip = searched_copies(table.pairs(DEFAULT_THRESHOLD), found, records)
    asked = len(found)
    wanted = {(t, asked, m) for _, t, m in robust.candidates(found, [features], skip=skip)}
    read = {y for t, _, _ in wanted for y in copies.get(t, [t])}
    images = {i.sha256: i for i in catalog.image_objects({shas[y] for y in read})}

    def picture_of(number: int) -> Any:
        return query if number == asked else robust.stored_picture(images[shas[number]])

    partners = {t: found[t] for t, _, _ in wanted}
    confirmed = robust.verified({**partners, asked: features}, wanted, picture_of)
    matches = [
        {
            **_match(images[shas[y]], (int(images[shas[y]].phash, 16) ^ phash).bit_count()),
            "view": "robust+mirror" if v.mirrored else "robust",
            "verification": v.to_dict() if y == t else {**v.to_dict(), "through": [shas[t]]},
        }
        for (t, _), v in confirmed.items()
        for y in copies.get(t, [t])
    ]
    return sorted(matches, key=lambda m: (-m["verification"]["agreeing"], m["image"]["sha256"]))


def _near(catalog: Store, phash: int, distance: int) -> list[dict[str, Any]]:
    """Images within `distance` pHash bits of `phash`, closest first (then catalogue order)."""
    return [_match(image, bits) for _, bits, image in _near_views(catalog, [phash], distance)]


def _near_views(
    catalog: Store, phashes: list[int], distance: int
) -> list[tuple[int, int, ImageRecord]]:
    """(view, bits, image object) for each image within `distance` pHash bits of
    `phashes[view]`, once for each view that reaches it, closest first; the image objects
    are read once for all."""
    hits = catalog.near_phash(phashes, distance)
    objects = {image.sha256: image for image in catalog.image_objects({s for *_, s in hits})}
    return [(view, bits, objects[sha256]) for bits, view, sha256 in hits]


def search(catalog: Store, query: str) -> list[dict[str, Any]]:
    """Occurrences matching every term of `query`, by article then position.

    Plain words must each appear in the alt, caption, credit, title, article path or article
    title, or in the image's own embedded caption, headline, creator, credit, alt text,
    extended description or keywords (IPTC/XMP); see `media_catalog.querylang` for the
    `field:value` terms, negation and phrases. Matching folds case, Arabic/Persian letter
    variants, digits and zero-width characters (`media_catalog.text.normalize`). Raises
    QueryError pointing at a term it cannot read.
    """
    return search_page(catalog, query)[1]


def search_page(
    catalog: Store, query: str, limit: int | None = None
) -> tuple[int, list[dict[str, Any]]]:
    """`search`, but only the first `limit` results (all when None), with how many match."""
    total, found = search_json(catalog, query, limit)
    return total, [orjson.loads(result) for result in found]


def search_json(
    catalog: Store, query: str, limit: int | None = None
) -> tuple[int, Iterator[bytes]]:
    """`search_page` with each result as its compact JSON bytes, read as they are written."""
    return catalog.search(parse(query), limit, lambda: _near_duplicates(catalog))


def _near_duplicates(catalog: Store) -> set[str]:
    from .similarity import duplicate_report  # numpy: loaded only where clusters are made

    plans = duplicate_report(catalog).plans
    return {sha256 for plan in plans if plan.kind == "near" for sha256 in plan.sha256s}
