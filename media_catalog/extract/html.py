"""Image references in HTML, read with a real HTML5 parser (lexbor, through selectolax)."""

from __future__ import annotations

from selectolax.lexbor import LexborHTMLParser, LexborNode

from ..models import ImageRef, ItemError


def _attr(node: LexborNode, name: str) -> str | None:
    """An attribute's value: None when absent, "" when present without a value."""
    attributes = node.attributes
    if name not in attributes:
        return None
    return attributes[name] or ""


def _clean(text: str) -> str:
    return " ".join(text.split())


def _caption(img: LexborNode) -> str | None:
    node = img.parent
    while node is not None and node.tag != "figure":
        node = node.parent
    if node is None:
        return None
    figcaption = node.css_first("figcaption")
    if figcaption is None:
        return None
    return _clean(figcaption.text(deep=True)) or None


def extract(text: str, article: str) -> tuple[list[ImageRef], list[ItemError]]:
    """Every `<img>` in document order with its src, alt, title and `<figcaption>`."""
    tree = LexborHTMLParser(text)
    refs = [
        ImageRef(
            article=article,
            position=position,
            src=(_attr(img, "src") or "").strip(),
            alt=_attr(img, "alt"),
            caption=_caption(img),
            title=_attr(img, "title"),
        )
        for position, img in enumerate(tree.css("img"))
    ]
    return refs, []
