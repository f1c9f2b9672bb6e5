"""The files the reports write — CSV tables and HTML pages — with one set of safety rules.

Every text in them comes from untrusted articles and may be printed to a terminal or opened in
a spreadsheet or a browser, so:

- C0 and C1 control characters other than TAB, LF and CR (ESC, BEL, DEL, CSI …) are removed
  from every CSV cell and every HTML text: no escape sequence reaches a terminal.
- A CSV cell a spreadsheet would run as a formula gets a leading `'`: one that starts with TAB
  or CR, or with `=`, `+`, `-` or `@` after any leading whitespace (spreadsheets skip it).
- A CSV cell holding a comma, a quote, LF or CR is quoted, so a line break in a caption never
  starts a new row (Python's csv module leaves a bare CR unquoted when lines end in LF).
  Lines end in LF, as before.
- An HTML page loads nothing and runs nothing: one Content-Security-Policy allows only inline
  styles and data: images.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import orjson

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_FORMULA = re.compile(r"[\t\r]|\s*[=+\-@]")
_QUOTE = re.compile('[,"\r\n]')


def counted(number: int, noun: str) -> str:
    """`1 image`, `2 images`."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def first_seen(first: dict[str, Any] | None, article: str | None = None) -> str:
    """A cluster's first use (similarity.Cluster.first_seen) as a phrase, " · first seen
    2024-03-12 in ARTICLE #2"; `article` is how to show its path; "" when no use is dated."""
    if first is None or first["when"] is None:
        return ""
    where = article or first["article"]
    position = "" if first["position"] is None else f" #{first['position']}"
    return f" · first seen {first['when']} in {where}{position}"


def quoted(text: str) -> str:
    """`text` in double quotes as it is written (Persian with its zero-width non-joiner, not
    Python's `\\u200c`), control characters removed."""
    return '"' + _CONTROL.sub("", text) + '"'


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float):  # booleans too: data, not a formula (-3 stays -3)
        return str(value)
    text = _CONTROL.sub("", str(value))
    if _FORMULA.match(text):
        text = "'" + text
    if _QUOTE.search(text):
        text = '"' + text.replace('"', '""') + '"'
    return text


def flat(value: Any) -> Any:
    """A nested value (a dict or a list) as its compact JSON text, any other as it is: what a
    table cell shows of it."""
    return orjson.dumps(value).decode() if isinstance(value, dict | list) else value


def csv_lines(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """CSV text, one line at a time: the header, then each row's values for `columns` (a
    missing key or None is an empty cell)."""
    yield ",".join(_cell(column) for column in columns) + "\n"
    for row in rows:
        yield ",".join(_cell(row.get(column)) for column in columns) + "\n"


def escape(value: Any) -> str:
    """`value` as HTML text or attribute value: escaped, control characters removed."""
    return html.escape(_CONTROL.sub("", str(value)))


def page(title: str, body_html: str, style: str) -> str:
    """A self-contained HTML page: `body_html` (already escaped) under `title`."""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{escape(title)}</title><style>{style}</style></head>"
        f"<body>{body_html}</body></html>\n"
    )
