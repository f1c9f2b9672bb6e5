"""Image references in Markdown, read with markdown-it-py (CommonMark).

The document is rendered to HTML and read by the HTML extractor, so inline and
reference-style images, images inside links (`link`), raw `<img>` HTML and the text around
every image are found the same way as in a web page. Link URLs are kept as written (not
percent-encoded). An emphasised line right under an image is its caption, and a YAML front
matter `title:` is the article's title.
"""

from __future__ import annotations

import re
from dataclasses import replace

from markdown_it import MarkdownIt

from ..models import ImageRef, ItemError
from . import html

_MD = MarkdownIt("commonmark")
_MD.normalizeLink = lambda url: url  # type: ignore[method-assign]
_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S)
_TITLE = re.compile(r"""^title[ \t]*:[ \t]*(["']?)(.+?)\1[ \t]*$""", re.M)


def extract(
    text: str, article: str, *, context: int = html.CONTEXT_CHARS
) -> tuple[list[ImageRef], list[ItemError]]:
    """Every image in document order: `![alt](src "title")`, `![alt][ref]`, raw `<img>`."""
    title = None
    front = _FRONT_MATTER.match(text)
    if front:
        found = _TITLE.search(front.group(1))
        title = found.group(2).strip() if found else None
        text = text[front.end() :]
    refs, errors = html.extract(_MD.render(text), article, context=context, emphasis_captions=True)
    if title:
        refs = [replace(ref, article_title=title) for ref in refs]
    return refs, errors
