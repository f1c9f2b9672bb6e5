"""Bound how deep HTML nests before the parser sees it.

An HTML5 parser checks its stack of open elements on many tags (a `<div>` or `<li>` closes an
open paragraph, an unmatched end tag looks for its start), so a page nested N elements deep
costs N steps per such tag, and a hostile page of nested `<div>`s is quadratic to parse.
Browsers cap the depth (Blink at 512); so does `flatten`, in one pass: a start tag that would
open an element past MAX_DEPTH is turned into a bogus comment (`<div>` → `<?div>`), so its
content stays in the page, one level up, and the parse stays linear.

The depth is counted as the parser would count it, closely enough: void elements and elements
another start tag closes (`p`, `li`, table cells…) are not counted, nor `<x/>` (which closes
itself in SVG and MathML), an end tag closes up to
its start, and the text of scripts, style sheets, comments and other raw-text elements is
passed over.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

MAX_DEPTH = 512
# A page with fewer tags than this is never looked at: however it nests, the parser's checks
# cost at most about (n/2)² steps, 0.2 s at 20,000 tags (1.7 ns a step, measured with nested
# <span>s under as many <li>s); most article pages have under 5,000.
UNCHECKED_TAGS = 20_000
_TAG = re.compile(r"<(/?[A-Za-z][^\s/<>]*)")  # a start tag's name, or "/" and an end tag's
# Elements that never stay open around the next ones: void elements, and those whose end tag
# is implied by a sibling (or which do not nest).
_NOT_COUNTED = frozenset(
    (
        *("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"),
        *("source", "track", "wbr", "param", "keygen", "frame", "image"),
        *("p", "li", "dd", "dt", "option", "optgroup", "tr", "td", "th", "tbody", "thead"),
        *("tfoot", "caption", "colgroup", "rb", "rp", "rt", "rtc", "a", "button", "nobr"),
        *("h1", "h2", "h3", "h4", "h5", "h6", "form", "html", "head", "body", "frameset"),
    )
)
# Elements whose content is text up to their end tag ("/" and its name).
_RAW_TEXT = {
    name: f"/{name}"
    for name in ("script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes")
}


def flatten(html: str) -> str:
    """`html` with every start tag past MAX_DEPTH open elements made a bogus comment."""
    if html.count("<") < UNCHECKED_TAGS:
        return html
    spans = list(_read_spans(html))
    tokens = [_TAG.findall(html, start, end) for start, end in spans]
    cut = _too_deep(tokens)
    if not cut:
        return html
    indexes: dict[int, list[int]] = {}
    for span, index in cut:
        indexes.setdefault(span, []).append(index)
    at = []  # where a "?" goes, in order
    for span, found in indexes.items():
        starts = [match.start() for match in _TAG.finditer(html, *spans[span])]
        at += [starts[index] + 1 for index in found]
    return "?".join(html[a:b] for a, b in zip([0, *at], [*at, len(html)], strict=True))


def _read_spans(html: str) -> Iterator[tuple[int, int]]:
    """The spans of `html` between comments."""
    pos = 0
    while (start := html.find("<!--", pos)) >= 0:
        yield pos, start
        end = html.find("-->", start + 4)
        if end < 0:
            return
        pos = end + 3
    yield pos, len(html)


def _too_deep(spans: list[list[str]]) -> list[tuple[int, int]]:
    """(span, index) of each tag in `spans` (the tags of each span) that would open an
    element past MAX_DEPTH."""
    stack: list[str] = []
    open_count: dict[str, int] = {}
    cut = []
    raw_end = ""  # the end tag of the raw-text element being passed over, if any
    for span, tokens in enumerate(spans):
        for index, token in enumerate(tokens):
            name = token.lower()
            if raw_end:
                if name == raw_end:
                    raw_end = ""
            elif name[0] == "/":  # closes up to its start, when that is open
                name = name[1:]
                if open_count.get(name):
                    while (top := stack.pop()) != name:
                        open_count[top] -= 1
                    open_count[name] -= 1
            elif name in _NOT_COUNTED:
                continue
            elif name in _RAW_TEXT:
                raw_end = _RAW_TEXT[name]
            elif len(stack) >= MAX_DEPTH:
                cut.append((span, index))
            else:
                stack.append(name)
                open_count[name] = open_count.get(name, 0) + 1
    return cut
