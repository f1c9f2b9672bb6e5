"""Bound how deep HTML nests before the parser sees it.

An HTML5 parser checks its stack of open elements on many tags (a `<div>` or `<li>` closes an
open paragraph, an unmatched end tag looks for its start), so a page nested N elements deep
costs N steps per such tag, and a hostile page of nested `<div>`s is quadratic to parse.
Browsers cap the depth (Blink at 512); so does `flatten`, in one pass: a start tag that would
open an element past MAX_DEPTH is turned into a bogus comment (`<div>` → `<?div>`), so its
content stays in the page, one level up, and the parse stays linear.

Tags are read as the HTML tokenizer reads them, so that nothing a page hides can hide
elements from the count: a tag runs to its `>` with its quoted attribute values whole (a `"`
starts one only after `=`), comments and the text of scripts, style sheets and the other
raw-text elements are passed over only where the tokenizer would pass them over, and where
it would read no more tags (an unclosed comment, quote or script), the count stops. The depth
is counted as the parser counts it, closely enough: void elements and elements another start
tag closes (`p`, `li`, table cells…) are not counted; an end tag closes up to its start; in
SVG and MathML, `<x/>` closes itself, and an HTML element such as `<div>` ends the SVG.
"""

from __future__ import annotations

import re

import numpy as np

MAX_DEPTH = 512
# A page with fewer tags than this is never looked at: however it nests, the parser's checks
# cost at most about (n/2)² steps, 0.2 s at 20,000 tags (1.7 ns a step, measured with nested
# <span>s under as many <li>s); most article pages have under 5,000.
UNCHECKED_TAGS = 20_000
# Where a tag or a comment may start, with the tag's name.
_START = re.compile(r"<(?:(!--)|(/?)([A-Za-z][^\t\n\f\r />]*))")
_SPACE = re.compile(r"[\t\n\f\r /]*")
_NAME = re.compile(r"[^\t\n\f\r />=]*")
_BLANK = re.compile(r"[\t\n\f\r ]*")
_UNQUOTED = re.compile(r"[^\t\n\f\r >]*")
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
# Elements whose content is text up to their end tag, and how to find it.
_RAW_TEXT = {
    name: re.compile(f"</{name}", re.I)
    for name in ("script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes")
}
_FOREIGN = frozenset(("svg", "math"))
# HTML start tags that end SVG or MathML content (the HTML standard's list).
_BREAKOUT = frozenset(
    (
        *("b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt"),
        *("em", "embed", "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i", "img", "li"),
        *("listing", "menu", "meta", "nobr", "ol", "p", "pre", "ruby", "s", "small", "span"),
        *("strong", "strike", "sub", "sup", "table", "tt", "u", "ul", "var"),
    )
)


def flatten(html: str | bytes) -> str | bytes:
    """`html` with every start tag past MAX_DEPTH open elements made a bogus comment (bytes:
    UTF-8, made text when a tag is cut)."""
    if isinstance(html, bytes):
        # (numpy counts in a quarter of the time of `bytes.count`, a loop byte by byte)
        if np.count_nonzero(np.frombuffer(html, np.uint8) == ord("<")) < UNCHECKED_TAGS:
            return html
        text = html.decode("utf-8", errors="replace")
        flat = flatten(text)
        return html if flat is text else flat
    if html.count("<") < UNCHECKED_TAGS:
        return html
    stack: list[str] = []
    foreign: list[int] = []  # the stack heights of the open <svg> and <math> elements
    cut: list[int] = []
    pos = 0
    while (found := _START.search(html, pos)) is not None:
        if found.group(1):  # a comment
            end = html.find("-->", found.end())
            if end < 0:
                break
            pos = end + 3
            continue
        end = _tag_end(html, found.end())
        if end is None:
            break
        pos = end
        name = found.group(3).lower()
        if found.group(2):  # an end tag: closes up to its start, when that is open
            if name in stack:
                while stack.pop() != name:
                    pass
                while foreign and foreign[-1] >= len(stack):
                    foreign.pop()
            continue
        if foreign and name in _BREAKOUT:  # HTML again: the SVG or MathML ends
            del stack[foreign[0] :]
            foreign.clear()
        closed = html[end - 2] == "/"
        if name in _NOT_COUNTED or (foreign and closed):
            pass
        elif len(stack) >= MAX_DEPTH:
            cut.append(found.start() + 1)
            continue  # (a raw-text element cut is no longer one: its text is read as tags)
        else:
            if name in _FOREIGN and not closed:
                foreign.append(len(stack))
            stack.append(name)
        if name in _RAW_TEXT:
            text_end = _RAW_TEXT[name].search(html, pos)
            if text_end is None:
                break
            pos = text_end.start()
    if not cut:
        return html
    return "?".join(html[a:b] for a, b in zip([0, *cut], [*cut, len(html)], strict=True))


def _tag_end(html: str, pos: int) -> int | None:
    """Where a tag whose name ends at `pos` ends (after its `>`), reading its attributes as
    the tokenizer does; None when it never ends (nor does any tag after it)."""
    size = len(html)
    while True:
        pos = _SPACE.match(html, pos).end()  # type: ignore[union-attr]
        if pos >= size:
            return None
        if html[pos] == ">":
            return pos + 1
        # an attribute: its name (which may start with "="), then maybe "=" and a value
        pos = _NAME.match(html, pos + 1).end()  # type: ignore[union-attr]
        after = _BLANK.match(html, pos).end()  # type: ignore[union-attr]
        if after >= size or html[after] != "=":
            continue
        pos = _BLANK.match(html, after + 1).end()  # type: ignore[union-attr]
        if pos >= size:
            return None
        quote = html[pos]
        if quote in "\"'":
            close = html.find(quote, pos + 1)
            if close < 0:
                return None
            pos = close + 1
        elif quote != ">":
            pos = _UNQUOTED.match(html, pos).end()  # type: ignore[union-attr]
