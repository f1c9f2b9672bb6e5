"""Image references in Markdown, read with markdown-it-py (CommonMark).

Inline and reference-style images come from the parser; raw HTML blocks and inline HTML
inside the Markdown are handed to the HTML extractor, so `<img>` tags count too.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token

from ..models import ImageRef, ItemError
from . import html

_MD = MarkdownIt("commonmark")


def _alt(token: Token) -> str:
    return _MD.renderer.renderInlineAsText(token.children or [], _MD.options, {})


def _walk(tokens: list[Token]):
    for token in tokens:
        if token.type == "inline":
            yield from _walk(token.children or [])
        else:
            yield token


def extract(text: str, article: str) -> tuple[list[ImageRef], list[ItemError]]:
    """Every image in document order: `![alt](src "title")`, `![alt][ref]` and raw `<img>`."""
    refs: list[ImageRef] = []
    for token in _walk(_MD.parse(text)):
        if token.type == "image":
            title = token.attrGet("title")
            refs.append(
                ImageRef(
                    article=article,
                    position=len(refs),
                    src=_MD.normalizeLinkText(str(token.attrGet("src") or "")),
                    alt=_alt(token),
                    title=str(title) if title is not None else None,
                )
            )
        elif token.type in ("html_block", "html_inline") and "<img" in token.content.lower():
            found, _ = html.extract(token.content, article)
            refs.extend(
                ImageRef(article, len(refs) + i, r.src, r.alt, r.caption, r.title)
                for i, r in enumerate(found)
            )
    return refs, []
