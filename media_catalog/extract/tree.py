"""What the HTML extractor's modules share about lexbor's tree: the ids of the tags they look
for, an image being read with its ancestors, whitespace cleaning and declared sizes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

# lexbor's ids of the tags looked for (an element's `tag_id` is much faster to read than
# its name).
TAG = {
    node.tag: node.tag_id
    for node in LexborHTMLParser(
        "".join(
            f"<{name}></{name}>"
            for name in (
                *("img", "picture", "source", "a", "span", "noscript", "figure", "figcaption"),
                *("article", "main", "section", "body", "html"),
                *("small", "em", "i", "cite", "b", "strong", "p", "br"),
                *("h1", "h2", "h3", "h4", "h5", "h6", "meta", "script", "link", "title", "base"),
                *("style", "template", "svg", "path", "input", "hr", "wbr", "iframe", "video"),
                *("audio", "embed", "object", "canvas"),
            )
        )
    ).root.traverse()
}


HEADINGS = frozenset(TAG[f"h{level}"] for level in range(1, 7))
# Elements that wrap an image without being its box of their own.
WRAPPERS = frozenset((TAG["picture"], TAG["a"], TAG["span"]))

# lexbor's ids of text and comment nodes.
_SAMPLE = LexborHTMLParser("<p>a<!--c--></p>").css_first("p")
TEXT, COMMENT = (node.tag_id for node in _SAMPLE.iter(include_text=True))


_BLANKS = frozenset((TEXT, TAG["br"]))
_NOT_ELEMENTS = frozenset((TEXT, COMMENT))


def next_element(node: LexborNode) -> LexborNode | None:
    """The element right after `node` (past blank text and `<br>`s), or None when text or a
    comment comes first or nothing does."""
    return _element_beside(node, "next")


def previous_element(node: LexborNode) -> LexborNode | None:
    """The element right before `node`, as `next_element` finds the one after it."""
    return _element_beside(node, "prev")


def _element_beside(node: LexborNode, side: str) -> LexborNode | None:
    sibling = getattr(node, side)
    while sibling is not None and (sibling.tag_id in _BLANKS and not sibling.text().strip()):
        sibling = getattr(sibling, side)
    return sibling if sibling is not None and sibling.tag_id not in _NOT_ELEMENTS else None


_NUMBER = re.compile(r"\s*(\d+)")


def size(value: Any) -> int | None:
    """The whole number a declared size starts with ("640px" gives 640); None for none, and
    for one of more than nine digits (no image is that large, and a catalogue could not
    store a number past 64 bits)."""
    if value is None:
        return None
    if isinstance(value, float):  # (JSON-LD's)
        return int(value) if value.is_integer() and 0 <= value < 1e9 else None
    if isinstance(value, str) and value.isdecimal():
        digits = value  # (the common case, without the pattern)
    else:
        match = _NUMBER.match(str(value))
        digits = match.group(1) if match else ""
    return int(digits) if digits and len(digits) <= 9 else None


# Elements a browser lays out as blocks or breaks: text on either side of one is apart.
_BREAKS = frozenset(
    node.tag_id
    for node in LexborHTMLParser(
        "".join(
            f"<{name}></{name}>"
            for name in (
                *("address", "article", "aside", "blockquote", "details", "dialog", "dd"),
                *("div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form"),
                *("h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "li", "main"),
                *("nav", "ol", "p", "pre", "section", "table", "tr", "td", "th", "ul", "br"),
                *("caption", "summary", "img", "picture", "video", "iframe"),
            )
        )
    ).root.traverse()
)
# Elements whose text is not laid out.
_UNSHOWN = frozenset((TAG["script"], TAG["style"], TAG["template"], COMMENT))


def laid_out_text(node: LexborNode) -> str:
    """The text in `node` as a reader sees it: an inline element's text joins the text
    beside it ("<b>Elizabeth II</b>, Queen"); a block's, a line break's, or an element's
    right after another element (a caption's credit in a span of its own) stands apart."""
    parts = []
    open_elements: list[LexborNode] = []
    child = node.child
    while child is not None or open_elements:
        if child is None:  # the last child of an element is done
            child = open_elements.pop()
            if child.tag_id in _BREAKS:
                parts.append(" ")
            child = child.next
            continue
        tag = child.tag_id
        if tag == TEXT:
            parts.append(child.text_content or "")
        elif tag not in _UNSHOWN:
            previous = child.prev
            if tag in _BREAKS or (previous is not None and previous.tag_id != TEXT):
                parts.append(" ")  # (elements side by side are set apart by their style)
            if child.child is not None:
                open_elements.append(child)
                child = child.child
                continue
            if tag in _BREAKS:
                parts.append(" ")
        child = child.next
    return "".join(parts)


def clean(text: str | None) -> str | None:
    """Whitespace collapsed; None for no text."""
    return " ".join(text.split()) or None if text else None


@dataclass
class Image:
    """An image being read: its node and attributes, its ancestors up to `<body>` (nearest
    first, with their `tag_id`s and `mem_id`s: ids, because comparing nodes with `==` compares
    their markup), and the fields found so far."""

    node: LexborNode
    attributes: dict[str, str | None]
    ancestors: list[LexborNode]
    tags: list[int]
    ids: list[int]
    fields: dict[str, Any] = field(default_factory=dict)

    def inside(self, tag: str) -> LexborNode | None:
        """The nearest ancestor with this tag below `<body>`."""
        wanted = TAG[tag]
        return self.ancestors[self.tags.index(wanted)] if wanted in self.tags else None

    def node_at(self, level: int) -> LexborNode:
        """The image's node (level 0) or its ancestor `level` levels up."""
        return self.ancestors[level - 1] if level else self.node
