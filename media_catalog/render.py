"""Terminal rendering for the CLI (rich). Everything shown is escaped: no markup from the
data is interpreted, and control and bidi-override characters are made visible."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def safe(value: Any) -> Text:
    """A table cell that shows `value` literally: never markup, never terminal control."""
    if value is None:
        return Text("—", style="dim")
    text = _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", str(value))
    return Text(" ".join(text.split("\n")))


def to_json(data: Any) -> str:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()


def _table(title: str | None, columns: Iterable[str]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def short_path(path: str) -> str:
    """A path relative to the current folder when it lies below it (tables only; JSON keeps
    absolute paths)."""
    cwd = os.getcwd()
    return os.path.relpath(path, cwd) if path.startswith(cwd + os.sep) else path


def _place(occurrence: dict[str, Any]) -> str:
    position = occurrence["position"]
    return f"{short_path(occurrence['article'])} {'meta' if position is None else f'#{position}'}"


def summary(console: Console, counts: dict[str, int]) -> None:
    table = _table("Scan summary", ["", "count"])
    for key, value in counts.items():
        table.add_row(key.replace("_", " "), str(value))
    console.print(table)


def clusters(console: Console, threshold: int, found: list[dict[str, Any]]) -> None:
    if not found:
        console.print(f"No duplicates (near-duplicate threshold: {threshold} bits).")
        return
    for number, cluster in enumerate(found, start=1):
        images = cluster["images"]
        keeper = images[0]
        title = (
            f"Cluster {number} · exact reuse · sha256 {keeper['sha256'][:12]}"
            if cluster["kind"] == "exact"
            else f"Cluster {number} · near duplicates · {len(images)} images"
        )
        table = _table(title, ["image", "bits", "used at", "alt", "caption"])
        for image in images:
            label = f"{image['sha256'][:12]} {image['width']}×{image['height']} {image['format']}"
            bits = str(_bits(keeper["phash"], image["phash"]))
            rows = [(_place(o), o["alt"], o["caption"]) for o in image["occurrences"]]
            rows += [(f"file {short_path(path)}", None, None) for path in image["files"]]
            for i, (where, alt, caption) in enumerate(rows):
                table.add_row(
                    safe(label if i == 0 else ""),
                    safe(bits if i == 0 else ""),
                    safe(where),
                    safe(alt),
                    safe(caption),
                )
        console.print(table)
    console.print(f"{len(found)} clusters; near duplicates within {threshold} bits of pHash.")


def _bits(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def matches(console: Console, found: list[dict[str, Any]]) -> None:
    if not found:
        console.print("No matching image.")
        return
    table = _table(None, ["bits", "sha256", "size", "used at / file", "alt"])
    for match in found:
        image = match["image"]
        places = [(_place(o), o["alt"]) for o in image["occurrences"]]
        places += [(short_path(path), None) for path in image["files"]]
        for i, (where, alt) in enumerate(places or [("", None)]):
            table.add_row(
                safe(str(match["distance"]) if i == 0 else ""),
                safe(image["sha256"][:16] if i == 0 else ""),
                safe(f"{image['width']}×{image['height']} {image['format']}" if i == 0 else ""),
                safe(where),
                safe(alt),
            )
    console.print(table)


def results(console: Console, found: list[dict[str, Any]]) -> None:
    if not found:
        console.print("Nothing found.")
        return
    table = _table(None, ["article", "#", "alt", "caption", "sha256"])
    for result in found:
        table.add_row(
            safe(short_path(result["article"])),
            safe(result["position"]),
            safe(result["alt"]),
            safe(result["caption"]),
            safe(result["sha256"][:12] if result["sha256"] else "unresolved"),
        )
    console.print(table)
    console.print(f"{len(found)} results.")


def audit(console: Console, report: dict[str, Any]) -> None:
    summary = report["summary"]
    by_article: dict[str, list[dict[str, Any]]] = {}
    for finding in report["findings"]:
        by_article.setdefault(finding["article"], []).append(finding)
    for article in summary["per_article"]:
        found = by_article.get(article["article"], [])
        counts = ", ".join(f"{n} {s}" for s, n in article["by_severity"].items() if n)
        title = f"{short_path(article['article'])} · {article['images']} images · "
        title += counts or "no findings"
        if not found:
            console.print(safe(title))
            continue
        table = _table(None, ["#", "severity", "rule", "text", "finding"])
        table.columns[2].no_wrap = True
        for finding in found:
            table.add_row(
                safe(finding["position"]),
                Text(finding["severity"], style=_SEVERITY_STYLE[finding["severity"]]),
                safe(finding["rule"]),
                safe(finding["text"]),
                safe(finding["message"]),
            )
        console.print(safe(title), table)
    by_severity = ", ".join(f"{n} {s}" for s, n in summary["by_severity"].items())
    console.print(
        f"{summary['findings']} findings ({by_severity}) in {summary['articles']} articles, "
        f"{summary['images']} images."
    )


_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}
