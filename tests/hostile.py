"""A hostile corpus: one input per class of bad input (issue 17), in every carrier where it
applies, beside a good image that must still be catalogued. Small, fast, deterministic."""

from __future__ import annotations

import io
import os
from pathlib import Path

import orjson
from PIL import Image

from .conftest import photo, write_image

# class -> the src an article carries (relative to the article's folder)
POISONED_SRC = {
    "nul": "photo%00.jpg",
    "long-name": "%D8%A7" * 130 + ".jpg",  # 260 bytes in one path component
}
CARRIERS = ("html", "md", "txt", "jsonl")


def article(carrier: str, src: str, alt: str) -> bytes:
    """An article of `carrier` holding one image `src` with `alt`."""
    if carrier == "html":
        return f'<html><body><p>text</p><img src="{src}" alt="{alt}"></body></html>'.encode()
    if carrier == "md":
        return f"Text\n\n![{alt}]({src})\n".encode()
    if carrier == "txt":
        return f'Text <image>data:image/s3,"{src}" alt="{alt}"</image>\n'.encode()
    return orjson.dumps({"text": f'Text <img src="{src}" alt="{alt}">'}) + b"\n"


def build(root: Path) -> dict[str, str]:
    """Write the corpus under `root`; returns {article file name: the class it carries}.
    `good.jpg` beside them is a readable photo every good reference points at."""
    root.mkdir(parents=True, exist_ok=True)
    write_image(root / "good.jpg", photo(3))
    made = {}
    for kind, src in POISONED_SRC.items():
        for carrier in CARRIERS:
            name = f"{kind}.{carrier}"
            poisoned, good = article(carrier, src, kind), article(carrier, "good.jpg", "ok")
            (root / name).write_bytes(poisoned + good)
            made[name] = kind
    # a declared charset that is a Python codec but no web encoding: UTF-7 would make a tag
    for label in ("utf-7", "idna", "undefined", "punycode"):
        name = f"charset-{label}.html"
        (root / name).write_bytes(
            f'<html><head><meta charset="{label}"></head><body>+ADw-img src=+ACI-good.jpg+ACI-+AD4-'
            '<img src="good.jpg" alt="ok"></body></html>'.encode()
        )
        made[name] = "charset"
    return made


def many_scans(side: int, scans: int) -> bytes:
    """A progressive JPEG of a flat `side`×`side` picture with `scans` more copies of its
    smallest AC scan (a few bytes each, yet each a pass over every block of the image)."""
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (120, 130, 140)).save(buffer, "JPEG", progressive=True)
    data = buffer.getvalue()
    starts = [at for at in range(len(data) - 1) if data[at : at + 2] == b"\xff\xda"]
    spans = zip(starts, [*starts[1:], len(data) - 2], strict=True)  # each to the next, or EOI
    # an AC scan names one component: its spectral start (after 2 bytes of it) is not 0
    start, end = min(
        ((a, b) for a, b in spans if data[a + 5 + 2 * data[a + 4]] > 0), key=lambda s: s[1] - s[0]
    )
    return data[:-2] + data[start:end] * scans + data[-2:]


def build_files(root: Path, outside: Path) -> dict[str, str]:
    """Files that are not what their names say, under `root`: FIFOs named like an image and
    an article (reading one blocks forever), and links to an image and an article in
    `outside`, a folder the scan was not given. Returns {name: the error code expected}."""
    write_image(outside / "secret.jpg", photo(9))
    (outside / "secret.html").write_text('<img src="secret.jpg" alt="secret">', encoding="utf-8")
    for name in ("pipe.jpg", "pipe.html"):
        os.mkfifo(root / name)
    for name in ("secret.jpg", "secret.html"):
        (root / f"link-{name}").symlink_to(outside / name)
    return {
        "pipe.jpg": "unreadable",
        "pipe.html": "unreadable",
        "link-secret.jpg": "outside-roots",
        "link-secret.html": "outside-roots",
    }
