"""Terminal rendering for the CLI (rich). Everything shown is escaped: no markup from the
data is interpreted, and control and bidi-override characters are made visible."""

from __future__ import annotations

import fcntl
import itertools
import os
import re
import stat
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson

from .present import counted, csv_lines, first_seen, flat

if TYPE_CHECKING:  # rich is imported where a table is drawn: JSON output starts without it
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def safe(value: Any) -> Text:
    """A table cell that shows `value` literally: never markup, never terminal control."""
    from rich.text import Text

    if value is None:
        return Text("—", style="dim")
    text = _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", str(value))
    return Text(" ".join(text.split("\n")))


def to_json(data: Any) -> str:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()


def search_json(stream: BinaryIO, results: Iterable[bytes], total: int) -> None:
    """Write `search --format json`, `{"results": [...], "total": N}`, to `stream` as the
    results come: indented as `to_json` does, but with each result, given as compact JSON,
    on one line."""
    widen_pipe(stream)
    stream.write(b'{\n  "results": [')
    separator = b"\n    "
    for batch in _batches(results):
        stream.write(separator + b",\n    ".join(batch))
        separator = b",\n    "
    stream.write(b"\n  " * (separator != b"\n    ") + b'],\n  "total": %d\n}\n' % total)


def json_stream(stream: BinaryIO, members: dict[str, Any]) -> None:
    """Write the object `members` to `stream` exactly as `to_json` (and a line break) would,
    but each member given as an iterator written item by item as it comes (a list)."""
    widen_pipe(stream)
    stream.write(b"{")
    for number, (key, value) in enumerate(members.items()):
        stream.write(b"," * bool(number) + b"\n  " + orjson.dumps(key) + b": ")
        if not isinstance(value, Iterator):
            stream.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).replace(b"\n", b"\n  "))
            continue
        opening = b"["
        for item in value:
            text = orjson.dumps(item, option=orjson.OPT_INDENT_2).replace(b"\n", b"\n    ")
            stream.write(opening + b"\n    " + text)
            opening = b","
        stream.write(b"[]" if opening == b"[" else b"\n  ]")
    stream.write(b"\n}\n")


def _batches(items: Iterable[bytes], size: int = 1000) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def widen_pipe(stream: BinaryIO) -> None:
    """When `stream` is a pipe (Linux) with a buffer smaller than an unprivileged process may
    set (1 MiB by default, against 64 KiB), raise it to that: a large output then passes in a
    sixteenth of the hand-overs between this process and its reader (90 MB to `cat`: 0.2 s
    instead of 0.45 s). The size belongs to the pipe, so its reader keeps it. Anything else,
    or a refusal (the user's quota of pipe memory), leaves the stream as it is."""
    try:
        fd = stream.fileno()
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            with open("/proc/sys/fs/pipe-max-size", "rb") as limit:
                size = int(limit.read())
            if fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ) < size:
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
    except (AttributeError, OSError, ValueError):
        pass  # not a file, not Linux, or the size was refused


def _table(title: str | None, columns: Iterable[str]) -> Table:
    from rich.cells import cell_len
    from rich.table import Table

    # at least as wide as its title, which is then never folded (a terminal still caps both)
    width = cell_len(title) if title else None
    table = Table(title=title, title_justify="left", show_lines=False, min_width=width)
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


def summary(console: Console, counts: dict[str, Any], title: str = "Scan summary") -> None:
    table = _table(title, ["", "count"])
    for key, value in counts.items():
        if isinstance(value, dict):  # counts by kind (the web URLs fetched, by outcome)
            for kind, count in value.items():
                table.add_row(f"{key.replace('_', ' ')}: {safe(kind)}", str(count))
        elif value is not None or key != "fetched":
            table.add_row(key.replace("_", " "), "—" if value is None else str(value))
    console.print(table)


def clusters(console: Console, threshold: int, found: list[dict[str, Any]]) -> None:
    if not found:
        console.print(f"No duplicates (near-duplicate threshold: {threshold} bits).")
        return
    for number, cluster in enumerate(found, start=1):
        images = cluster["images"]
        keeper = images[0]
        reach = cluster["reach"]
        spread = f"{counted(reach['articles'], 'article')}, {counted(reach['places'], 'place')}"
        title = (
            f"Cluster {number} · exact reuse · sha256 {keeper['sha256'][:12]} · {spread}"
            if cluster["kind"] == "exact"
            else f"Cluster {number} · near duplicates · {counted(len(images), 'image')} · {spread}"
        )
        first = cluster.get("first_seen")
        title += first_seen(first, short_path(first["article"]) if first else None)
        credits = any(o.get("credit") for image in images for o in image["occurrences"])
        columns = ["image", "bits", "used at", "alt", "caption"] + (["credit"] if credits else [])
        table = _table(title, columns)
        for image, distance in zip(images, cluster["distances"], strict=True):
            label = f"{image['sha256'][:12]} {image['width']}×{image['height']} {image['format']}"
            if image is keeper:
                label = f"keeper {label}"
            bits = f"{distance['phash']}/{distance['dhash']}"
            if distance["via"]:
                bits += f" {distance['via']}"
            rows = [
                (_place(o), o["alt"], o["caption"], o.get("credit")) for o in image["occurrences"]
            ]
            rows += [(f"file {short_path(p)}", None, None, None) for p in image["files"]]
            own = (image.get("embedded") or {}).get("caption")
            if own:
                rows.append(("embedded in the file", None, own, None))
            for i, (where, alt, caption, credit) in enumerate(rows):
                cells = [label if i == 0 else "", bits if i == 0 else "", where, alt, caption]
                table.add_row(*(safe(c) for c in cells + ([credit] if credits else [])))
        console.print(table)
    console.print(
        f"{len(found)} clusters; near duplicates within {threshold} bits of pHash "
        "(bits: pHash/dHash distance to the keeper)."
    )


def reference(console: Console, threshold: int, found: list[dict[str, Any]]) -> None:
    table = _table(None, ["reference", "bits", "sha256", "used at / file", "alt"])
    for result in found:
        if result.get("error"):
            table.add_row(safe(short_path(result["file"])), safe(""), safe(result["error"]))
        for n, match in enumerate(result["matches"]):
            image = match["image"]
            places = [(_place(o), o["alt"]) for o in image["occurrences"]]
            places += [(short_path(path), None) for path in image["files"]]
            bits = f"{match['distance']}/{match['dhash_distance']}"
            if match["via"]:
                bits += f" {match['via']}"
            for i, (where, alt) in enumerate(places or [("", None)]):
                first = i == 0
                table.add_row(
                    safe(short_path(result["file"]) if first and n == 0 else ""),
                    safe(bits if first else ""),
                    safe(image["sha256"][:12] if first else ""),
                    safe(where),
                    safe(alt),
                )
    console.print(table)
    matched = sum(1 for result in found if result["matches"])
    console.print(
        f"{matched} of {len(found)} reference photos match the catalogue "
        f"(within {threshold} bits of pHash; bits: pHash/dHash)."
    )


def matches(console: Console, found: list[dict[str, Any]], title: str | None = None) -> None:
    if not found:
        console.print("No matching image.")
        return
    table = _table(title, ["bits", "sha256", "size", "used at / file", "alt"])
    for match in found:
        image = match["image"]
        places = [(_place(o), o["alt"]) for o in image["occurrences"]]
        places += [(short_path(path), None) for path in image["files"]]
        view = match.get("view", "original")
        bits = f"{match['distance']}" + ("" if view == "original" else f" ({view})")
        for i, (where, alt) in enumerate(places or [("", None)]):
            table.add_row(
                safe(bits if i == 0 else ""),
                safe(image["sha256"][:16] if i == 0 else ""),
                safe(f"{image['width']}×{image['height']} {image['format']}" if i == 0 else ""),
                safe(where),
                safe(alt),
            )
    console.print(table)


def results(console: Console, found: list[dict[str, Any]], total: int) -> None:
    """Search results: `found`, the first of `total`."""
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
            safe(result["sha256"][:12] if result["sha256"] else f"unresolved: {result['reason']}"),
        )
    console.print(table)
    if len(found) < total:
        console.print(f"The first {len(found):,} of {total:,} results; --limit 0 shows all.")
    else:
        console.print(f"{counted(total, 'result')}.")


def image_detail(console: Console, shown: dict[str, Any]) -> None:
    """`show`: the image's fields, its files, every occurrence, its near duplicates."""
    image = shown["image"]
    table = _table(f"Image sha256:{image['sha256']}", ["field", "value"])
    for key, value in image.items():
        if key in ("occurrences", "files", "variants"):  # variants: hashes of views, for JSON
            continue
        items = [(f"exif {name}", item) for name, item in value.items()] if key == "exif" else []
        for name, item in items or [(key, value)]:
            table.add_row(safe(name), safe(flat(item)))
    for path in image["files"]:
        table.add_row(safe("file"), safe(short_path(path)))
    console.print(table)
    if image["occurrences"]:
        used = _table(
            f"Used in {counted(len(image['occurrences']), 'place')}",
            ["article", "#", "alt", "caption", "credit", "context"],
        )
        for o in image["occurrences"]:
            context = " … ".join(o.get(k) or "" for k in ("context_before", "context_after"))
            used.add_row(
                safe(short_path(o["article"])),
                safe(o["position"]),
                safe(o["alt"]),
                safe(o["caption"]),
                safe(o.get("credit")),
                safe(context.strip(" …") or None),
            )
        console.print(used)
    else:
        console.print("Used in no article.")
    if shown["near_duplicates"]:
        near = shown["near_duplicates"]
        matches(console, near, f"Near copies: {len(near)}")
    else:
        console.print("No near duplicates.")


def history(console: Console, uses: list[dict[str, Any]], sha256: str) -> None:
    """`show --history`: every use of the photo `sha256` and its near copies, oldest first."""
    if not uses:
        console.print("No article uses this photo or a near copy of it.")
        return
    table = _table(
        f"History: {counted(len(uses), 'use')}, oldest first",
        ["when", "article", "#", "image", "caption (else alt)", "credit", "note"],
    )
    for use in uses:
        notes = ["first use"] if use["first"] else []
        notes += [f"{key} changed" for key in use["changed"]]
        when = f"{use['when']} ({use['dated_by']})" if use["when"] else None
        table.add_row(
            safe(when),
            safe(short_path(use["article"])),
            safe(use["position"]),
            safe(use["sha256"][:12] + ("" if use["sha256"] == sha256 else " (near copy)")),
            safe(use["caption"] or use["alt"]),
            safe(use["credit"]),
            safe(", ".join(notes) or None),
        )
    console.print(table)


def stats(console: Console, counts: dict[str, Any]) -> None:
    table = _table("Catalogue", ["", "count"])
    for key in ("images", "files", "articles", "occurrences"):
        table.add_row(key, str(counts[key]))
    clusters = counts["clusters"]
    if clusters["near"] is None:
        table.add_row("duplicate clusters", "not counted yet: run `media-catalog dupes`")
    else:
        table.add_row("exact-reuse clusters", str(clusters["exact"]))
        table.add_row(
            f"near-duplicate clusters ({clusters['threshold']} bits)",
            f"{clusters['near']} ({counted(clusters['images_in_near'], 'image')})",
        )
    console.print(table)
    for key, title in (
        ("formats", "Images by format"),
        ("sizes", "Images by longer side"),
        ("errors", "Errors by code"),
        ("unresolved", "Unresolved by reason"),
    ):
        group = _table(title, ["", "count"])
        for name, count in counts[key].items():
            group.add_row(safe(name), str(count))
        if not counts[key]:
            group.add_row("none", "0")
        console.print(group)


def csv_rows(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """CSV text, header first, written as the rows come; the columns are the first row's
    keys (later rows have those or fewer: a missing key is an empty cell)."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        yield from csv_lines([], [])
        return
    yield from csv_lines(list(first), itertools.chain([first], rows))


def json_lines(rows: Iterable[Any]) -> Iterator[str]:
    for row in rows:
        yield orjson.dumps(row).decode() + "\n"


def audit(console: Console, report: dict[str, Any]) -> None:
    from rich.text import Text

    summary = report["summary"]
    by_article: dict[str, list[dict[str, Any]]] = {}
    for finding in report["findings"]:
        by_article.setdefault(finding["article"], []).append(finding)
    for article in summary["per_article"]:
        found = by_article.get(article["article"], [])
        counts = ", ".join(counted(n, s) for s, n in article["by_severity"].items() if n)
        title = f"{short_path(article['article'])} · {counted(article['images'], 'image')} · "
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
    by_severity = ", ".join(counted(n, s) for s, n in summary["by_severity"].items())
    console.print(
        f"{counted(summary['findings'], 'finding')} ({by_severity}) in "
        f"{counted(summary['articles'], 'article')}, {counted(summary['images'], 'image')}."
    )


_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}
