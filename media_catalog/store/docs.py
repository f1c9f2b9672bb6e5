"""Answers over documents held in memory, for the stores that read them so: the JSON file and
a sharded run's output (the SQLite store answers in SQL)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any

import orjson

from ..querylang import Term
from ..records import place, stored_occurrence
from ..terms import Subject, compile_term
from .base import BUCKETS, article_file, size_bucket, under


def search_docs(
    terms: list[Term],
    limit: int | None,
    near: Callable[[], set[str]],
    images: Mapping[str, dict[str, Any]],
    occurrences: list[dict[str, Any]],
    errors: Iterable[dict[str, Any]],
) -> tuple[int, Iterator[bytes]]:
    """Store.search over image docs (with "files") by SHA-256, occurrence and error docs."""
    clauses = [compile_term(term) for term in terms]
    fields = {term.field for term in terms}
    uses: Counter[str] = Counter()
    if "uses" in fields:
        pointed = set()
        for doc in occurrences:
            if doc["sha256"]:
                uses[doc["sha256"]] += 1
                pointed.add(doc["file"])
        for image in images.values():
            uses[image["sha256"]] += sum(1 for p in image["files"] if p not in pointed)
    close = near() if "dup" in fields else set()
    failed = {(e["article"], e["position"]) for e in errors} if "error" in fields else set()
    found = []
    for doc in occurrences:
        sha256 = doc["sha256"] or ""
        subject = Subject(
            doc,
            images.get(sha256),
            uses[sha256],
            sha256 in close,
            (doc["article"], doc["position"]) in failed,
        )
        if all(clause.match(subject) for clause in clauses):
            found.append(doc)
    found.sort(key=place)
    return len(found), (orjson.dumps(stored_occurrence(d)) for d in found[:limit])


def catalogued_docs(
    sources: Iterable[dict[str, Any]], occurrences: Iterable[dict[str, Any]], roots: Collection[str]
) -> set[str]:
    """Store.catalogued_under over source and occurrence docs."""
    known = {doc["path"] for doc in sources} | {article_file(o["article"]) for o in occurrences}
    return {path for path in known if under(path, roots)}


def errors_under_docs(errors: Iterable[dict[str, Any]], roots: Collection[str]) -> int:
    """Store.count_errors_under over error docs."""
    return sum(
        1
        for e in errors
        if under(e["path"] or "", roots) or under(article_file(e["article"] or ""), roots)
    )


def count_docs(
    images: list[dict[str, Any]],
    occurrences: list[dict[str, Any]],
    errors: Iterable[dict[str, Any]],
) -> dict[str, Any]:
    """Store.counts over image docs (with "files"), occurrence and error docs."""
    sizes = Counter(size_bucket(image["width"], image["height"]) for image in images)
    return {
        "images": len(images),
        "files": sum(len(image["files"]) for image in images),
        "articles": len({doc["article"] for doc in occurrences}),
        "occurrences": len(occurrences),
        "formats": dict(Counter(image["format"] for image in images).most_common()),
        "sizes": {name: sizes[name] for name in BUCKETS if sizes[name]},
        "errors": dict(Counter(e["code"] for e in errors).most_common()),
        "unresolved": dict(
            Counter(doc["reason"] for doc in occurrences if not doc["sha256"]).most_common()
        ),
    }


def usage_docs(
    images: Mapping[str, dict[str, Any]], occurrences: Iterable[dict[str, Any]], tracking: bool
) -> tuple[dict[str, tuple[int, int]], int]:
    """Store.usage over image docs (with "width", "height", "files") by SHA-256 and
    occurrence docs."""
    counted: dict[str, tuple[int, set[str], set[str]]] = {}
    for doc in occurrences:
        image = images.get(doc["sha256"] or "")
        if image is None or (not tracking and doc.get("tracking")):
            continue
        if not tracking and image["width"] * image["height"] <= 1:
            continue
        n, articles, pointed = counted.get(image["sha256"], (0, set(), set()))
        articles.add(doc["article"])
        pointed.add(doc["file"])
        counted[image["sha256"]] = (n + 1, articles, pointed)
    usage = {}
    for sha256, image in images.items():
        n, articles, pointed = counted.get(sha256, (0, set(), set()))
        places = n + sum(1 for path in image["files"] if path not in pointed)
        if places:
            usage[sha256] = (places, len(articles))
    total = len({a for _, articles, _ in counted.values() for a in articles})
    return usage, total
