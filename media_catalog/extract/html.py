"""Image references in HTML as sites write it, read with a real HTML5 parser (lexbor, through
selectolax).

For every `<img>` in document order: `src` (a lazy-loading attribute's URL preferred over a
placeholder), every `srcset`/`<picture><source>` candidate, alt, title, declared size, the
`<a href>` around it, a caption and a credit taken from the image's own container, the text
just before and after it and the nearest heading above it. `<noscript>` fallbacks of a lazy
image are merged into it (counted once). Metadata images (og:image…) follow as kind "meta".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from ..models import ImageRef, ItemError, SrcsetCandidate
from .page import json_ld, meta_images, meta_tags, page_info

CONTEXT_CHARS = 200
LAZY_SRC = (
    "data-src",
    "data-lazy-src",
    "data-original",
    "data-lazy",
    "data-url",
    "data-hi-res-src",
)
LAZY_SRCSET = ("data-srcset", "data-lazy-srcset")
CAPTION = (
    "figcaption, .wp-caption-text, .thumbcaption, [itemprop=caption], .caption, "
    ".image-caption, .img-caption, .photo-caption, .media-caption, .legende, .gallery-caption, "
    ".infobox-caption"
)
CREDIT = (
    ".credit, .image-credit, .photo-credit, .media-credit, .byline, .copyright, .attribution, "
    "[itemprop=copyrightHolder], [itemprop=creditText], [itemprop=author]"
)
_CREDIT_PREFIX = re.compile(
    r"^\s*[(\[]?\s*(?:photo(?:graph)?|picture|image|credit|foto|bild|عکس|تصویر|صورة|фото)\s*[:：]",
    re.I,
)
_PLACEHOLDER = re.compile(
    r"^data:image/(?:gif|svg)|^data:.{0,160}$|(?:^|/)(?:blank|spacer|placeholder|transparent|"
    r"lazy|loading|grey|gray|pixel|empty|1x1)[\w-]*\.(?:gif|png|svg|jpe?g|webp)(?:[?#]|$)",
    re.I | re.S,
)
_TRACKER = re.compile(
    r"(?:^|[/._-])(?:pixel|spacer|beacon|tracking|1x1|clear)\.(?:gif|png)|facebook\.com/tr[/?]|"
    r"google-analytics\.com/(?:r/)?collect|/__utm\.gif|/b/ss/|\.doubleclick\.net/|"
    r"scorecardresearch\.com/p|quantserve\.com/pixel|bat\.bing\.com/action|/pixel(?:[/?]|$)",
    re.I,
)
_CAPTION_CLASSES = {c.strip()[1:] for c in CAPTION.split(",") if c.strip().startswith(".")}
_TRACKER_WORDS = (
    *("pixel", "spacer", "beacon", "tracking", "1x1", "clear.", "facebook.com/tr", "collect"),
    *("__utm", "/b/ss/", "doubleclick", "scorecardresearch", "quantserve", "bat.bing"),
)
_STOP = {"body", "html", "article", "main", "section"}
_HEADINGS = "h1, h2, h3, h4, h5, h6"
# A srcset candidate: a URL ending in commas (no descriptor), or a URL and its descriptor.
_CANDIDATE = re.compile(r"[\s,]*(?:(?P<bare>\S+?),+(?=\s|$)|(?P<url>\S+)(?P<descriptor>[^,]*),?)")
_MARK = re.compile("\ue000(\\d+)\ue001|\ue002(\\d+)\ue001")


def _clean(text: str | None) -> str | None:
    """Whitespace collapsed; None for no text."""
    return " ".join(text.split()) or None if text else None


def _int(value: str | None) -> int | None:
    match = re.match(r"\s*(\d+)", value or "")
    return int(match.group(1)) if match else None


def parse_srcset(value: str) -> list[SrcsetCandidate]:
    """The candidates of a `srcset` (URLs may hold commas, as data URIs and CDNs do)."""
    found = []
    for match in _CANDIDATE.finditer(value):
        url = match.group("bare") or match.group("url")
        descriptor = (match.group("descriptor") or "").strip()
        width = re.fullmatch(r"(\d+)w", descriptor)
        density = re.fullmatch(r"(\d*\.?\d+)x", descriptor)
        found.append(
            SrcsetCandidate(
                url,
                int(width.group(1)) if width else None,
                float(density.group(1)) if density else None,
            )
        )
    return found


def is_tracker(src: str) -> bool:
    """A known tracking-pixel or spacer URL (a cheap substring test guards the regex)."""
    lowered = src.lower()
    return any(word in lowered for word in _TRACKER_WORDS) and _TRACKER.search(src) is not None


def is_placeholder(src: str | None) -> bool:
    """A stand-in for a lazy image: nothing, a small data URI, an inline SVG, a blank GIF."""
    return not src or not src.strip() or _PLACEHOLDER.search(src.strip()) is not None


@dataclass
class _Image:
    """An image being read: its node, and the fields found so far."""

    node: LexborNode
    lazy: bool
    fields: dict[str, Any] = field(default_factory=dict)


def _first(attributes: dict[str, str | None], names: tuple[str, ...]) -> str | None:
    return next((v.strip() for n in names if (v := attributes.get(n)) and v.strip()), None)


def _read_img(node: LexborNode) -> _Image:
    attributes = node.attributes
    src = (attributes.get("src") or "").strip()
    lazy = _first(attributes, LAZY_SRC)
    srcsets = []
    if node.parent is not None and node.parent.tag == "picture":
        for source in node.parent.css("source"):
            srcsets.append(_first(source.attributes, (*LAZY_SRCSET, "srcset")))
    srcsets.append(_first(attributes, LAZY_SRCSET))
    srcsets.append(_first(attributes, ("srcset",)))
    candidates = {c.url: c for s in srcsets if s for c in parse_srcset(s)}
    width, height = _int(attributes.get("width")), _int(attributes.get("height"))
    alt = attributes.get("alt")
    aria = attributes.get("aria-hidden") or ""
    real = lazy or src
    fields = {
        "src": real,
        "placeholder": src if lazy and src and src != lazy else None,
        "srcset": tuple(candidates.values()),
        "alt": None if "alt" not in attributes else alt or "",
        "title": None if "title" not in attributes else attributes.get("title") or "",
        "declared_width": width,
        "declared_height": height,
        "decorative": ("alt" in attributes and not alt)
        or (attributes.get("role") or "").strip().lower() in ("presentation", "none")
        or aria.strip().lower() == "true",
        "tracking": (width is not None and height is not None and width <= 1 and height <= 1)
        or is_tracker(real),
    }
    lazy_loaded = lazy is not None or is_placeholder(src)
    return _Image(node, lazy=lazy_loaded, fields=fields)


def _inside(node: LexborNode, tag: str) -> LexborNode | None:
    parent = node.parent
    while parent is not None and parent.tag not in ("body", "html"):
        if parent.tag == tag:
            return parent
        parent = parent.parent
    return None


def _ancestors(node: LexborNode, depth: int) -> list[int]:
    """The ids (`mem_id`) of a node's ancestors, nearest first. Ids, because comparing
    nodes with `==` compares their markup."""
    found = []
    parent = node.parent
    while parent is not None and len(found) < depth:
        found.append(parent.mem_id)
        parent = parent.parent
    return found


def _contains(ancestor: LexborNode, node: LexborNode) -> bool:
    return ancestor.mem_id in _ancestors(node, 64)


def _images(tree: LexborHTMLParser) -> list[_Image]:
    """Every image once, in document order; a `<noscript>` copy of a lazy image is merged
    into it (filling a missing real URL), any other `<noscript>` image counts on its own."""
    images: list[_Image] = []
    merged: set[int] = set()
    in_noscript = {node.mem_id for node in tree.css("noscript img")}
    for node in tree.css("img"):
        image = _read_img(node)
        noscript = _inside(node, "noscript") if node.mem_id in in_noscript else None
        if noscript is None or noscript.parent is None:
            images.append(image)
            continue
        twin = _twin(images, merged, noscript.parent, image.fields["src"])
        if twin is None:
            images.append(image)
            continue
        merged.add(id(twin))
        if is_placeholder(twin.fields["src"]):
            placeholder = twin.fields["src"] or None
            twin.fields.update(src=image.fields["src"], placeholder=placeholder)
        for key in ("alt", "title", "declared_width", "declared_height"):
            if twin.fields[key] is None:
                twin.fields[key] = image.fields[key]
        if not twin.fields["srcset"]:
            twin.fields["srcset"] = image.fields["srcset"]
    return images


def _twin(images: list[_Image], merged: set[int], scope: LexborNode, src: str) -> _Image | None:
    """The image a `<noscript>` copy stands in for: an earlier image under the same parent
    with the same URL, else the last lazy one there."""
    fallback = None
    for image in reversed(images[-8:]):
        if id(image) in merged or not _contains(scope, image.node):
            continue
        urls = {image.fields["src"], *(c.url for c in image.fields["srcset"])}
        if src and src in urls:
            return image
        if image.lazy and fallback is None:
            fallback = image
    return fallback


class _Index:
    """Lookups built once per page: how many images sit under each ancestor, and the caption
    and credit elements with their ancestors."""

    def __init__(self, tree: LexborHTMLParser, images: list[_Image]) -> None:
        self.counts: dict[int, int] = {}
        for image in images:
            for ancestor in _ancestors(image.node, 10):
                self.counts[ancestor] = self.counts.get(ancestor, 0) + 1
        self.captions = [(node, _ancestors(node, 8)) for node in tree.css(CAPTION)]
        self.credits = [(node, _ancestors(node, 8)) for node in tree.css(CREDIT)]

    def images_in(self, node: LexborNode) -> int:
        return self.counts.get(node.mem_id, 0)

    @staticmethod
    def first_in(
        found: list[tuple[LexborNode, list[int]]], scope: LexborNode, image: list[int]
    ) -> LexborNode | None:
        """The first of `found` inside `scope` that is not an ancestor of the image."""
        return next(
            (node for node, up in found if scope.mem_id in up and node.mem_id not in image), None
        )


def _outer(node: LexborNode, index: _Index) -> LexborNode:
    """The image's own box: the `<img>`, or the `<picture>`/`<a>` wrapping only it."""
    while node.parent is not None and node.parent.tag in ("picture", "a", "span"):
        if index.images_in(node.parent) > 1:
            break
        node = node.parent
    return node


def _next_element(node: LexborNode) -> LexborNode | None:
    sibling = node.next
    while sibling is not None and (sibling.tag in ("-text", "br") and not sibling.text().strip()):
        sibling = sibling.next
    return sibling if sibling is not None and sibling.tag not in ("-text", "-comment") else None


def _container(box: LexborNode, index: _Index) -> tuple[LexborNode | None, LexborNode]:
    """The largest ancestor of an image's box (up to four levels, never past a figure or the
    article) holding this image and no other, and the node whose next sibling may be a
    caption."""
    scope = None
    current = box
    for _ in range(4):
        parent = current.parent
        if parent is None or parent.tag in _STOP or index.images_in(parent) > 1:
            break
        scope = current = parent
        if parent.tag == "figure":
            break
    return scope, current


def _is_caption(node: LexborNode) -> bool:
    attributes = node.attributes
    classes = set((attributes.get("class") or "").split())
    return (
        node.tag == "figcaption"
        or attributes.get("itemprop") == "caption"
        or not classes.isdisjoint(_CAPTION_CLASSES)
    )


def _caption_and_credit(
    tree: LexborHTMLParser, index: _Index, image: _Image, emphasis: bool
) -> tuple[str | None, str | None]:
    box = _outer(image.node, index)
    scope, top = _container(box, index)
    up = _ancestors(image.node, 64)
    caption_node = None
    described = (image.node.attributes.get("aria-describedby") or "").split()
    for name in described:
        if re.fullmatch(r"[\w:.-]+", name):
            caption_node = tree.css_first(f'[id="{name}"]')
            if caption_node is not None:
                break
    if caption_node is None and scope is not None:
        caption_node = index.first_in(index.captions, scope, up)
    if caption_node is None:
        following = _next_element(top)
        if following is not None and _is_caption(following):
            caption_node = following
    credit_node = None
    if caption_node is not None:
        credit_node = index.first_in(index.credits, caption_node, up) or next(
            (
                child
                for child in caption_node.css("span, small, em, i, cite, b, strong, p")
                if _CREDIT_PREFIX.match(child.text())
            ),
            None,
        )
    if credit_node is None and scope is not None:
        credit_node = index.first_in(index.credits, scope, up)
    credit = _clean(credit_node.text(separator=" ")) if credit_node is not None else None
    caption = _clean(caption_node.text(separator=" ")) if caption_node is not None else None
    if caption and credit and credit_node is not None and _contains(caption_node, credit_node):
        head, _, tail = caption.rpartition(credit)
        caption = _clean(head + tail)
    if caption is None and emphasis:
        caption = _emphasis_caption(box)
    return caption, credit


def _emphasis_caption(box: LexborNode) -> str | None:
    """The Markdown convention: an emphasised line right under the image, in the same
    paragraph or as the whole next paragraph."""
    following = _next_element(box)
    if following is not None and following.tag == "em" and following.next is None:
        return _clean(following.text())
    paragraph = box.parent
    if paragraph is None or paragraph.tag != "p" or (paragraph.text() or "").strip():
        return None
    following = _next_element(paragraph)
    if following is not None and following.tag == "p":
        em = following.css_first("em")
        if em is not None and _clean(em.text()) == _clean(following.text()):
            return _clean(em.text())
    return None


def _link(node: LexborNode) -> str | None:
    anchor = _inside(node, "a")
    href = anchor.attributes.get("href") if anchor is not None else None
    return href.strip() if href and href.strip() else None


def text_before(text: str, offset: int, chars: int) -> str | None:
    """Up to `chars` characters of `text` before `offset`, without a word cut in two."""
    start = max(0, offset - chars)
    piece = text[start:offset]
    if start > 0 and not text[start - 1].isspace() and not text[start].isspace():
        piece = piece.split(" ", 1)[1] if " " in piece else ""
    return piece.strip() or None


def text_after(text: str, offset: int, chars: int) -> str | None:
    """Up to `chars` characters of `text` from `offset`, without a word cut in two."""
    end = offset + chars
    piece = text[offset:end]
    if end < len(text) and not text[end].isspace() and not text[end - 1].isspace():
        piece = piece.rsplit(" ", 1)[0] if " " in piece else ""
    return piece.strip() or None


def _window(raw: str, start: int, end: int) -> str:
    return " ".join(_MARK.sub(" ", raw[max(0, start) : end]).split())


def _around(raw: str, start: int, end: int, chars: int) -> tuple[str | None, str | None]:
    """The text before `start` and after `end` in the page's raw text, whitespace collapsed
    only in a window around the image (widened when markup whitespace is long)."""
    span = chars * 3
    while True:
        before = _window(raw, start - span, start)
        if len(before) >= chars or start - span <= 0:
            break
        span *= 4
    span = chars * 3
    while True:
        after = _window(raw, end, end + span)
        if len(after) >= chars or end + span >= len(raw):
            break
        span *= 4
    return text_before(before, len(before), chars), text_after(after, 0, chars)


def _contexts(
    tree: LexborHTMLParser, images: list[_Image], chars: int
) -> Iterator[tuple[str | None, str | None, str | None]]:
    """(text before, text after, nearest heading above) of every image. Marks each image and
    heading in the tree, then reads the page's text once."""
    nodes = tree.css(_HEADINGS)
    headings = [_clean(h.text(separator=" ")) for h in nodes]
    for number, heading in enumerate(nodes):
        heading.insert_before(f"\ue002{number}\ue001")
    for number, image in enumerate(images):
        image.node.insert_before(f"\ue000{number}\ue001")
    tree.strip_tags(["script", "style", "template"])
    root = tree.body or tree.root
    raw = root.text(separator=" ") if root is not None else ""
    places, heading = {}, None
    for mark in _MARK.finditer(raw):
        if mark.group(1) is not None:
            places[int(mark.group(1))] = (mark.start(), mark.end(), heading)
        else:
            heading = headings[int(mark.group(2))]
    for number in range(len(images)):
        start, end, heading = places.get(number, (len(raw), len(raw), None))
        before, after = _around(raw, start, end, chars) if chars else (None, None)
        yield before, after, heading


def extract(
    text: str, article: str, *, context: int = CONTEXT_CHARS, emphasis_captions: bool = False
) -> tuple[list[ImageRef], list[ItemError]]:
    """Every body image in document order, then the page's metadata images (kind "meta").

    `context` is how many characters of text before and after each image are kept;
    `emphasis_captions` takes an emphasised line right under an image as its caption (the
    Markdown convention).
    """
    tree = LexborHTMLParser(text)
    blocks = json_ld(tree)
    tags = meta_tags(tree)
    page = page_info(tree, tags, blocks)
    meta = meta_images(tree, tags, blocks, article, page)
    images = _images(tree)
    index = _Index(tree, images)
    found = []
    for image in images:
        caption, credit = _caption_and_credit(tree, index, image, emphasis_captions)
        link = _link(image.node)
        found.append({**image.fields, "caption": caption, "credit": credit, "link": link})
    refs = [
        ImageRef(
            article=article,
            position=position,
            base=page.base,
            article_title=page.title,
            article_url=page.url,
            article_date=page.date,
            context_before=before,
            context_after=after,
            heading=heading,
            **fields,
        )
        for position, (fields, (before, after, heading)) in enumerate(
            zip(found, _contexts(tree, images, context), strict=True)
        )
    ]
    return refs + meta, []
