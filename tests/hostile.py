"""A hostile corpus: one input per class of bad input (issue 17), in every carrier where it
applies, beside a good image that must still be catalogued. Small, fast, deterministic."""

from __future__ import annotations

import os
from pathlib import Path

import orjson

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
