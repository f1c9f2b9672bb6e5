"""Row shapes for export: one row per occurrence, with its image's fields (the JSON
contract's lists themselves are `Store.contract_lists`).

`occurrence_rows` is the flat table behind `export --format csv`; `dataset_rows` is the pair
table image-text dataset builders use (LAION/DataComp-style url + text, with alt, caption and
attribution kept apart as WIT does).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .present import flat
from .records import ImageRecord
from .store import Store

IMAGE_COLUMNS = ("sha256", "phash", "dhash", "width", "height", "format")
EXIF_COLUMNS = ("make", "model", "taken")


def occurrence_rows(catalog: Store) -> Iterator[dict[str, Any]]:
    """Every occurrence (resolved or not, with `reason`) with its image's fields and EXIF
    make/model/taken as `exif_*`, by article then position; then each file holding an image
    that no occurrence points at, with `article` null, by path. Rows are flat: every value is
    text, a number or null; they come as the catalogue is read."""
    empty = dict.fromkeys((*IMAGE_COLUMNS, *(f"exif_{key}" for key in EXIF_COLUMNS)))
    for occurrence, image in catalog.placed():
        fields = _image_fields(image) if image is not None else empty
        yield {**_flat(occurrence.unresolved_dict()), **fields}
    for path, image in catalog.loose_files():
        loose = {"article": None, "position": None, "src": None, "file": path}
        yield {**loose, "reason": None, **_image_fields(image)}


def _image_fields(image: ImageRecord) -> dict[str, Any]:
    fields = {key: getattr(image, key) for key in IMAGE_COLUMNS}
    fields.update({f"exif_{key}": image.exif.get(key) for key in EXIF_COLUMNS})
    return fields


def dataset_rows(catalog: Store) -> Iterator[dict[str, Any]]:
    """One row per occurrence that has a URL or a file: `url` (http/https src, else null),
    `path` (the file read, else null), `alt`, `caption` and `title` kept apart, `attribution`
    (the credit line, when the extractor found one), `width`, `height`, `sha256`, `phash`
    (null when the image was not read), `article`."""
    for row in occurrence_rows(catalog):
        if row["article"] is None:
            continue
        src = row["src"] or ""
        url = src if src.lower().startswith(("http://", "https://")) else None
        if url is None and row["file"] is None:
            continue
        yield {
            "url": url,
            "path": row["file"],
            "alt": row["alt"],
            "caption": row["caption"],
            "title": row["title"],
            "attribution": row.get("credit"),
            "width": row["width"],
            "height": row["height"],
            "sha256": row["sha256"],
            "phash": row["phash"],
            "article": row["article"],
        }


def _flat(occurrence: dict[str, Any]) -> dict[str, Any]:
    """An occurrence object without nested values (they become their JSON text)."""
    return {key: flat(value) for key, value in occurrence.items()}
