"""Row shapes for export: one row per occurrence, with its image's fields.

`occurrence_rows` is the flat table behind `export --format csv`; `dataset_rows` is the pair
table image-text dataset builders use (LAION/DataComp-style url + text, with alt, caption and
attribution kept apart as WIT does).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from .store import Store, occurrence_object, place

IMAGE_COLUMNS = ("sha256", "phash", "dhash", "width", "height", "format")
EXIF_COLUMNS = ("make", "model", "taken")


def occurrence_rows(catalog: Store) -> Iterator[dict[str, Any]]:
    """Every occurrence (resolved or not, with `reason`) with its image's fields and EXIF
    make/model/taken as `exif_*`; a file holding an image that no occurrence points at is a
    row too, with `article` null. Rows are flat: every value is text, a number or null."""
    images = catalog.image_objects()
    rows: list[dict[str, Any]] = []
    for image in images:
        fields = {key: image[key] for key in IMAGE_COLUMNS}
        fields.update({f"exif_{key}": image["exif"].get(key) for key in EXIF_COLUMNS})
        for occurrence in image["occurrences"]:
            rows.append({**_flat(occurrence), "reason": None, **fields})
        pointed = {occurrence["file"] for occurrence in image["occurrences"]}
        for path in image["files"]:
            if path not in pointed:
                loose = {"article": None, "position": None, "src": None, "file": path}
                rows.append({**loose, "reason": None, **fields})
    empty = dict.fromkeys((*IMAGE_COLUMNS, *(f"exif_{key}" for key in EXIF_COLUMNS)))
    rows += [
        {**_flat(occurrence), "reason": occurrence["reason"], **empty}
        for occurrence in catalog.unresolved()
    ]
    rows.sort(key=_row_order)
    yield from rows


def _row_order(row: dict[str, Any]) -> tuple[bool, str, bool, int]:
    """Articles first, by article then position; then loose files by path."""
    return (row["article"] is None, *place({**row, "article": row["article"] or row["file"]}))


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
    return {
        key: orjson.dumps(value).decode() if isinstance(value, dict | list) else value
        for key, value in occurrence_object(occurrence).items()
    }
