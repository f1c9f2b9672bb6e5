"""Answers from the catalogue: lookup by hash or image file, and text search."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from .catalog import Catalog, image_objects, occurrence_object
from .errors import QueryError
from .fingerprint import fingerprint
from .resolve import read_bytes
from .similarity import DEFAULT_THRESHOLD, hamming, hash_array
from .text import normalize

_HEX16 = re.compile(r"^[0-9a-fA-F]{16}$")
_SHA256 = re.compile(r"^(?:sha256:)?(?P<hex>[0-9a-fA-F]{0,64})$")


def _match(image: dict[str, Any], distance: int) -> dict[str, Any]:
    return {"distance": distance, "image": image}


def lookup(catalog: Catalog, key: str, distance: int = DEFAULT_THRESHOLD) -> list[dict[str, Any]]:
    """Images matching `key`, closest first, as `{"distance", "image"}`.

    16 hex digits are a pHash, matched within `distance` bits; 64 hex digits, or `sha256:`
    followed by a unique prefix, are a SHA-256 (distance 0).
    """
    key = key.strip()
    images = image_objects(catalog)
    if _HEX16.match(key):
        return _near(images, key, distance)
    sha = _SHA256.match(key)
    if sha and (len(sha.group("hex")) == 64 or key.lower().startswith("sha256:")):
        prefix = sha.group("hex").lower()
        found = [image for image in images if image["sha256"].startswith(prefix)]
        if len(found) > 1 and len(prefix) < 64:
            raise QueryError(
                f"sha256:{prefix} matches {len(found)} images; give more digits to choose one"
            )
        return [_match(image, 0) for image in found]
    raise QueryError(
        f"{key!r} is not a hash: give 16 hex digits (a pHash), 64 hex digits or "
        "sha256:PREFIX (a SHA-256), or use --image FILE"
    )


def lookup_image(
    catalog: Catalog, path: Path, distance: int = DEFAULT_THRESHOLD
) -> list[dict[str, Any]]:
    """Images matching the image file at `path` by pHash within `distance` bits."""
    return _near(
        image_objects(catalog), str(fingerprint(read_bytes(path), str(path)).phash), distance
    )


def _near(images: list[dict[str, Any]], phash: str, distance: int) -> list[dict[str, Any]]:
    if not images:
        return []
    distances = hamming(hash_array([image["phash"] for image in images]), np.uint64(int(phash, 16)))
    order = np.argsort(distances, kind="stable")
    return [_match(images[i], int(distances[i])) for i in order if distances[i] <= distance]


_EMBEDDED = ("caption", "headline", "creator", "credit", "alt_text", "extended_description")


def _embedded_text(image: dict[str, Any]) -> str:
    """The words the photo carries itself (IPTC/XMP caption, credit…; see metadata.py)."""
    embedded = image.get("embedded") or {}
    return " ".join(
        [*(embedded.get(key) or "" for key in _EMBEDDED), *embedded.get("keywords", [])]
    )


def search(catalog: Catalog, text: str) -> list[dict[str, Any]]:
    """Occurrences whose alt, caption, credit, title, article path or article title, or the
    image's own embedded caption, credit, creator, alt text or keywords, contain every word
    of `text`.

    Matching is case-insensitive and folds Arabic/Persian letter variants and zero-width
    characters (see `media_catalog.text.normalize`).
    """
    words = normalize(text).split()
    embedded = {image["sha256"]: _embedded_text(image) for image in catalog.images()}
    results = []
    for doc in catalog.occurrences():
        fields = ("alt", "caption", "credit", "title", "article", "article_title")
        own = " ".join(doc.get(field) or "" for field in fields)
        haystack = normalize(f"{own} {embedded.get(doc['sha256'], '')}")
        if all(word in haystack for word in words):
            results.append({**occurrence_object(doc), "sha256": doc["sha256"]})
    return sorted(results, key=lambda r: (r["article"], r["position"] is None, r["position"] or 0))
