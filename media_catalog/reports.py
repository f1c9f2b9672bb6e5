"""Duplicate reports as CSV and as a self-contained HTML page (library side: no terminal).

Both take the JSON shape of a duplicate report (`DuplicateReport.to_dict()`). Everything shown
comes from untrusted articles, so the HTML escapes every text, loads nothing (thumbnails are
embedded as data URIs; the page of `present.page` forbids scripts and outside requests), and
marks every caption `dir="auto"` so right-to-left text (Persian, Arabic, Hebrew) reads right
to left. The CSV is written by `present.csv_lines` (formula cells guarded, line breaks
quoted, control characters removed).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

from PIL import Image

from .present import counted, csv_lines, escape, first_seen, page
from .records import ImageRecord
from .resolve import stored_bytes

THUMBNAIL = 160  # px, longest side
CSV_COLUMNS = [
    "cluster",
    "kind",
    "keeper",
    "sha256",
    "width",
    "height",
    "format",
    "phash_bits",
    "dhash_bits",
    "via",
    "article",
    "position",
    "alt",
    "caption",
    "credit",
    "embedded_caption",
    "file",
    "first_seen",
]


def embedded(image: dict[str, Any], key: str) -> str | None:
    """The photo's own (IPTC/XMP) caption or credit, where the fingerprint recorded it."""
    return (image.get("embedded") or {}).get(key)


def _rows(report: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """One row per place an image of a cluster is used (an occurrence, or a loose file)."""
    for number, cluster in enumerate(report["clusters"], start=1):
        for index, (image, distance) in enumerate(
            zip(cluster["images"], cluster["distances"], strict=True)
        ):
            base = {
                "cluster": number,
                "kind": cluster["kind"],
                "keeper": index == 0,
                "sha256": image["sha256"],
                "width": image["width"],
                "height": image["height"],
                "format": image["format"],
                "phash_bits": distance["phash"],
                "dhash_bits": distance["dhash"],
                "via": distance["via"] or "",
                "embedded_caption": embedded(image, "caption"),
                "first_seen": (cluster.get("first_seen") or {}).get("when"),
            }
            used = {o["file"] for o in image["occurrences"]}
            for o in image["occurrences"]:
                yield {
                    **base,
                    **{k: o[k] for k in ("article", "position", "alt", "caption", "file")},
                    "credit": o.get("credit"),
                }
            for path in image["files"]:
                if path not in used:
                    yield {**base, "file": path}


def to_csv(report: dict[str, Any]) -> Iterator[str]:
    """The report as CSV lines: a header, then one row per place of every image of every
    cluster (read as the clusters come: `report["clusters"]` may be an iterator)."""
    return csv_lines(CSV_COLUMNS, _rows(report))


REFERENCE_COLUMNS = ["reference", "sha256", "phash_bits", "dhash_bits", "via", "used_at", "error"]


def reference_csv(found: list[dict[str, Any]]) -> str:
    """`--reference` results as CSV: one row per (reference file, matching image)."""
    rows: list[dict[str, Any]] = []
    for result in found:
        for match in result["matches"]:
            image = match["image"]
            used = [f"{o['article']} #{o['position']}" for o in image["occurrences"]]
            rows.append(
                {
                    "reference": result["file"],
                    "sha256": image["sha256"],
                    "phash_bits": match["distance"],
                    "dhash_bits": match["dhash_distance"],
                    "via": match["via"],
                    "used_at": "; ".join(used + image["files"]),
                }
            )
        if not result["matches"]:
            rows.append({"reference": result["file"], "error": result.get("error")})
    return "".join(csv_lines(REFERENCE_COLUMNS, rows))


def thumbnail_jpeg(image: ImageRecord, size: int = THUMBNAIL) -> bytes | None:
    """A JPEG of the image at most `size` px on its longer side, from the first of its
    catalogued files (or the files its occurrences came from) that still holds its bytes
    (checked by SHA-256: a file changed since never passes for it); None when none does."""
    data = stored_bytes(image.sha256, image.paths())
    if data is None:
        return None
    try:
        with Image.open(io.BytesIO(data)) as picture:
            picture.thumbnail((size, size))
            small = picture.convert("RGB")
        buffer = io.BytesIO()
        small.save(buffer, "JPEG", quality=80)
    except Exception:  # a broken file only loses its thumbnail
        return None
    return buffer.getvalue()


def thumbnail(image: dict[str, Any]) -> str | None:
    """`thumbnail_jpeg` of an image object (a report's) as a data URI."""
    jpeg = thumbnail_jpeg(ImageRecord.of_object(image))
    return None if jpeg is None else "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:2em}
table{border-collapse:collapse;width:100%} td,th{border-top:1px solid #ddd;padding:.4em;
vertical-align:top;text-align:start} th{font-weight:600;background:#f4f4f4}
img{max-width:160px;max-height:160px} .keeper{background:#f3f9ee}
.muted{color:#777} .place{margin:0 0 .5em} .text{unicode-bidi:plaintext}
"""


def _text(value: Any, css: str = "text") -> str:
    """An escaped text element, direction from its own content (right-to-left captions)."""
    if value is None or value == "":
        return '<span class="muted">—</span>'
    return f'<span class="{css}" dir="auto">{escape(str(value))}</span>'


def _place(occurrence: dict[str, Any]) -> str:
    fields = [
        f"<div><bdi>{escape(occurrence['article'])}</bdi> #{int(occurrence['position'])}</div>",
        f"<div>alt: {_text(occurrence['alt'])}</div>",
        f"<div>caption: {_text(occurrence['caption'])}</div>",
    ]
    if occurrence.get("credit"):
        fields.append(f"<div>credit: {_text(occurrence['credit'])}</div>")
    return f'<div class="place">{"".join(fields)}</div>'


def _image_row(image: dict[str, Any], distance: dict[str, Any], keeper: bool) -> str:
    uri = thumbnail(image)
    picture = (
        f'<img src="{escape(uri)}" alt="">' if uri else '<span class="muted">no preview</span>'
    )
    via = f" via {escape(distance['via'])}" if distance["via"] else ""
    about = (
        f"{'<strong>keeper</strong><br>' if keeper else ''}"
        f"<code>{escape(image['sha256'][:12])}</code><br>"
        f"{int(image['width'])}×{int(image['height'])} {escape(str(image['format']))}<br>"
        f"pHash {int(distance['phash'])} · dHash {int(distance['dhash'])} bits{via}"
    )
    used = {o["file"] for o in image["occurrences"]}
    where = [_place(o) for o in image["occurrences"]]
    where += [
        f'<div class="place">file <bdi>{escape(p)}</bdi></div>'
        for p in image["files"]
        if p not in used
    ]
    own = _text(embedded(image, "caption"))
    return (
        f'<tr class="{"keeper" if keeper else "copy"}"><td>{picture}</td><td>{about}</td>'
        f"<td>{''.join(where)}</td><td>{own}</td></tr>"
    )


def to_html(report: dict[str, Any], title: str = "Duplicate report") -> str:
    """The report as one self-contained HTML page with embedded thumbnails."""
    sections = []
    for number, cluster in enumerate(report["clusters"], start=1):
        images = cluster["images"]
        kind = "exact reuse" if cluster["kind"] == "exact" else "near duplicates"
        reach = cluster["reach"]
        rows = "".join(
            _image_row(image, distance, i == 0)
            for i, (image, distance) in enumerate(zip(images, cluster["distances"], strict=True))
        )
        sections.append(
            f'<section class="cluster" data-kind="{escape(cluster["kind"])}">'
            f"<h2>Cluster {number} · {kind} · {counted(len(images), 'image')} · "
            f"{counted(int(reach['articles']), 'article')}, "
            f"{counted(int(reach['places']), 'place')}"
            f"{escape(first_seen(cluster.get('first_seen')))}</h2>"
            "<table><thead><tr><th>image</th><th>copy</th><th>used at</th>"
            f"<th>embedded caption</th></tr></thead><tbody>{rows}</tbody></table></section>"
        )
    excluded = ", ".join(
        f"{len(v)} {escape(k.replace('_', ' '))}" for k, v in report.get("excluded", {}).items()
    )
    body = (
        f"<h1>{escape(title)}</h1>"
        f"<p>{len(report['clusters'])} clusters; near duplicates within "
        f"{int(report['threshold'])} bits of pHash, confirmed by dHash. "
        f"Left out: {excluded or 'nothing'}.</p>"
        f"{''.join(sections) or '<p>No duplicates.</p>'}"
    )
    return page(title, body, _STYLE)
