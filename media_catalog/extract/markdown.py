"""Image references in Markdown, read with markdown-it-py (CommonMark).

The document is rendered to HTML and read by the HTML extractor, so inline and
reference-style images, images inside links (`link`), raw `<img>` HTML and the text around
every image are found the same way as in a web page. Link URLs are kept as written (not
percent-encoded). An emphasised line right under an image is its caption, and a YAML front
matter `title:` is the article's title.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

from ..models import ImageRef, ItemError
from . import html

NESTING = 100  # levels of quotes and lists read; markdown-it's default, 20, lost real images
_MD = MarkdownIt("commonmark", {"maxNesting": NESTING})
_MD.normalizeLink = lambda url: url  # type: ignore[method-assign]
# every link is kept as written: nothing is followed, and a file: URL, a data:image/jpg or an
# AVIF data URI is an image to record (markdown-it drops them to keep browsers safe)
_MD.validateLink = lambda url: True  # type: ignore[method-assign]
_NESTED = re.compile(r"^((?:[ \t]*>)*)([ \t]*)", re.M)
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
    if _deepest(text) >= NESTING - 4:
        message = (
            f"quotes and lists nested about {NESTING} levels deep or more: images below that "
            "depth are not read"
        )
        errors.append(ItemError(article, "too-deep", message, article=article))
    if title:
        refs = [ref.replaced(article_title=title) for ref in refs]
    return refs, errors


def _deepest(text: str) -> int:
    """About how many levels deep the most nested line lies: its quote markers, plus its
    indentation (each list level opens two)."""
    return max(
        (m.group(1).count(">") + len(m.group(2).expandtabs(4)) for m in _NESTED.finditer(text)),
        default=0,
    )
