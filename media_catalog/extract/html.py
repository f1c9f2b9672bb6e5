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
from dataclasses import dataclass, field
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from ..models import ImageRef, ItemError, SrcsetCandidate
from .context import contexts
from .page import TAGS, Markup, json_ld, meta_images, meta_tags, page_info

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
# What every `_PLACEHOLDER` match in an ASCII URL holds, lower-cased (a cheap search
# guarding the full pattern).
_PLACEHOLDER_WORD = re.compile(
    r"data:|blank|spacer|placeholder|transparent|lazy|loading|grey|gray|pixel|empty|1x1"
)
_TRACKER = re.compile(
    r"(?:^|[/._-])(?:pixel|spacer|beacon|tracking|1x1|clear)\.(?:gif|png)|facebook\.com/tr[/?]|"
    r"google-analytics\.com/(?:r/)?collect|/__utm\.gif|/b/ss/|\.doubleclick\.net/|"
    r"scorecardresearch\.com/p|quantserve\.com/pixel|bat\.bing\.com/action|/pixel(?:[/?]|$)",
    re.I,
)
_CAPTION_CLASSES = frozenset(c.strip()[1:] for c in CAPTION.split(",") if "." in c)
_CREDIT_CLASSES = frozenset(c.strip()[1:] for c in CREDIT.split(",") if "." in c)
_CREDIT_PROPS = frozenset(("copyrightHolder", "creditText", "author"))
_CREDIT_TAGS = frozenset(("span", "small", "em", "i", "cite", "b", "strong", "p"))
_TRACKER_WORD = re.compile(
    "|".join(
        re.escape(word)
        for word in (
            *("pixel", "spacer", "beacon", "tracking", "1x1", "clear.", "facebook.com/tr"),
            *("collect", "__utm", "/b/ss/", "doubleclick", "scorecardresearch", "quantserve"),
            "bat.bing",
        )
    )
)
# lexbor's ids of the tags looked for (an element's `tag_id` is much faster to read than
# its name).
_TAG = {
    node.tag: node.tag_id
    for node in LexborHTMLParser(
        "".join(
            f"<{name}></{name}>"
            for name in (
                *("img", "picture", "source", "a", "span", "noscript", "figure", "figcaption"),
                *TAGS,
                *("style", "template"),
                *("article", "main", "section", "h1", "h2", "h3", "h4", "h5", "h6"),
            )
        )
    ).root.traverse()
}
_WRAPPERS = {_TAG["picture"], _TAG["a"], _TAG["span"]}
_STOP = {_TAG[name] for name in ("body", "html", "article", "main", "section")}
_HEADINGS = {_TAG[f"h{level}"] for level in range(1, 7)}
_PAGE_TAGS = {_TAG[name]: name for name in TAGS}
_HIDDEN = {_TAG[name] for name in ("script", "style", "template")}
# A srcset candidate: a URL ending in commas (no descriptor), or a URL and its descriptor.
_CANDIDATE = re.compile(r"[\s,]*(?:(?P<bare>\S+?),+(?=\s|$)|(?P<url>\S+)(?P<descriptor>[^,]*),?)")
_WIDTH = re.compile(r"(\d+)w")
_DENSITY = re.compile(r"(\d*\.?\d+)x")
_NUMBER = re.compile(r"\s*(\d+)")


def _clean(text: str | None) -> str | None:
    """Whitespace collapsed; None for no text."""
    return " ".join(text.split()) or None if text else None


def _int(value: str | None) -> int | None:
    if value and value.isdecimal():
        return int(value)
    match = _NUMBER.match(value or "")
    return int(match.group(1)) if match else None


def parse_srcset(value: str) -> list[SrcsetCandidate]:
    """The candidates of a `srcset` (URLs may hold commas, as data URIs and CDNs do)."""
    found = []
    for match in _CANDIDATE.finditer(value):
        url = match.group("bare") or match.group("url")
        descriptor = (match.group("descriptor") or "").strip()
        width = _WIDTH.fullmatch(descriptor) if descriptor else None
        density = _DENSITY.fullmatch(descriptor) if descriptor and width is None else None
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
    return _TRACKER_WORD.search(src.lower()) is not None and _TRACKER.search(src) is not None


def is_placeholder(src: str | None) -> bool:
    """A stand-in for a lazy image: nothing, a small data URI, an inline SVG, a blank GIF."""
    if not src or not src.strip():
        return True
    if src.isascii() and _PLACEHOLDER_WORD.search(src.lower()) is None:
        return False
    return _PLACEHOLDER.search(src.strip()) is not None


@dataclass
class _Image:
    """An image being read: its node, its ancestors (nearest first, with their `tag_id`s and
    `mem_id`s: ids, because comparing nodes with `==` compares their markup), and the fields
    found so far."""

    node: LexborNode
    lazy: bool
    ancestors: list[LexborNode]
    tags: list[int]
    ids: list[int]
    fields: dict[str, Any] = field(default_factory=dict)

    def inside(self, tag: str) -> LexborNode | None:
        """The nearest ancestor with this tag below `<body>`."""
        wanted, body, html = _TAG[tag], _TAG["body"], _TAG["html"]
        for number, found in enumerate(self.tags):
            if found in (body, html):
                return None
            if found == wanted:
                return self.ancestors[number]
        return None


def _first(attributes: dict[str, str | None], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = attributes.get(name)
        if value and value.strip():
            return value.strip()
    return None


def _read_img(node: LexborNode) -> _Image:
    ancestors, tags, ids = [], [], []
    parent = node.parent
    while parent is not None:
        ancestors.append(parent)
        tags.append(parent.tag_id)
        ids.append(parent.mem_id)
        parent = parent.parent
    attributes = node.attributes
    src = (attributes.get("src") or "").strip()
    lazy = _first(attributes, LAZY_SRC)
    srcsets = []
    if tags and tags[0] == _TAG["picture"]:
        for source in ancestors[0].traverse():
            if source.tag_id == _TAG["source"]:
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
    return _Image(node, lazy_loaded, ancestors, tags, ids, fields)


@dataclass
class _Parts:
    """What one walk of the tree finds, in document order."""

    images: list[LexborNode] = field(default_factory=list)
    headings: list[LexborNode] = field(default_factory=list)
    hidden: list[LexborNode] = field(default_factory=list)  # script, style, template
    markup: Markup = field(default_factory=Markup)


def _walk(tree: LexborHTMLParser) -> _Parts:
    """The page's `<img>`s, headings, elements whose text is not shown, and the elements
    page data is read from: one walk of the tree instead of a selector query for each."""
    parts = _Parts()
    root = tree.root
    img = _TAG["img"]
    for node in root.traverse() if root is not None else ():
        tag = node.tag_id
        if tag == img:
            parts.images.append(node)
        elif tag in _HEADINGS:
            parts.headings.append(node)
        else:
            if tag in _PAGE_TAGS:
                parts.markup.add(node, _PAGE_TAGS[tag])
            if tag in _HIDDEN:
                parts.hidden.append(node)
    return parts


def _images(nodes: list[LexborNode]) -> list[_Image]:
    """Every image once, in document order; a `<noscript>` copy of a lazy image is merged
    into it (filling a missing real URL), any other `<noscript>` image counts on its own."""
    images: list[_Image] = []
    merged: set[int] = set()
    for node in nodes:
        image = _read_img(node)
        noscript = image.inside("noscript")
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
    scope_id = scope.mem_id
    for image in reversed(images[-8:]):
        if id(image) in merged or scope_id not in image.ids[:64]:
            continue
        urls = {image.fields["src"], *(c.url for c in image.fields["srcset"])}
        if src and src in urls:
            return image
        if image.lazy and fallback is None:
            fallback = image
    return fallback


def _counts(images: list[_Image]) -> dict[int, int]:
    """How many images sit under each ancestor (by id, up to ten levels)."""
    counts: dict[int, int] = {}
    for image in images:
        for ancestor in image.ids[:10]:
            counts[ancestor] = counts.get(ancestor, 0) + 1
    return counts


def _box(image: _Image, counts: dict[int, int]) -> int:
    """How many levels above the `<img>` its own box is: the `<picture>`/`<a>` wrapping only
    it (0: the `<img>` itself)."""
    level = 0
    while (
        level < len(image.tags)
        and image.tags[level] in _WRAPPERS
        and counts.get(image.ids[level], 0) <= 1
    ):
        level += 1
    return level


def _container(image: _Image, box: int, counts: dict[int, int]) -> tuple[LexborNode | None, int]:
    """The largest ancestor of an image's box (up to four levels, never past a figure or the
    article) holding this image and no other, and the level of the node whose next sibling
    may be a caption."""
    scope, top = None, box
    for _ in range(4):
        if top >= len(image.tags) or image.tags[top] in _STOP or counts.get(image.ids[top], 0) > 1:
            break
        scope, top = image.ancestors[top], top + 1
        if image.tags[top - 1] == _TAG["figure"]:
            break
    return scope, top


def _node_at(image: _Image, level: int) -> LexborNode:
    return image.ancestors[level - 1] if level else image.node


def _next_element(node: LexborNode) -> LexborNode | None:
    sibling = node.next
    while sibling is not None and (sibling.tag in ("-text", "br") and not sibling.text().strip()):
        sibling = sibling.next
    return sibling if sibling is not None and sibling.tag not in ("-text", "-comment") else None


def _is_caption(node: LexborNode) -> bool:
    attributes = node.attributes
    classes = set((attributes.get("class") or "").split())
    return (
        node.tag == "figcaption"
        or attributes.get("itemprop") == "caption"
        or not classes.isdisjoint(_CAPTION_CLASSES)
    )


class _Selectors:
    """Which elements `CAPTION` and `CREDIT` match, as the selector engine decides (classes
    exactly in standards mode, ignoring case in quirks mode). Tag, `itemprop` and plain class
    values are decided here; a class value matching only when lower-cased or holding unusual
    whitespace is left to the engine, queried over the page once, on demand (so the page is
    not searched with the selectors, whose dozen alternatives cost a walk of it each)."""

    def __init__(self, tree: LexborHTMLParser) -> None:
        self.tree = tree
        self.matched: dict[str, set[int]] = {}

    def _has_class(
        self, node: LexborNode, value: str, names: frozenset[str], selector: str
    ) -> bool:
        """Whether the class attribute `value`, which holds one of `names` when lower-cased,
        makes `selector` match."""
        if value.isascii() and value.isprintable() and not names.isdisjoint(value.split()):
            return True
        if selector not in self.matched:
            self.matched[selector] = {match.mem_id for match in self.tree.css(selector)}
        return node.mem_id in self.matched[selector]

    def kinds(self, node: LexborNode, attributes: dict[str, str | None]) -> tuple[bool, bool]:
        """Whether `CAPTION` and whether `CREDIT` match the element."""
        prop = attributes.get("itemprop")
        caption = prop == "caption" or node.tag_id == _TAG["figcaption"]
        credit = prop in _CREDIT_PROPS
        value = attributes.get("class")
        if value:
            tokens = value.lower().split()
            if not caption and not _CAPTION_CLASSES.isdisjoint(tokens):
                caption = self._has_class(node, value, _CAPTION_CLASSES, CAPTION)
            if not credit and not _CREDIT_CLASSES.isdisjoint(tokens):
                credit = self._has_class(node, value, _CREDIT_CLASSES, CREDIT)
        return caption, credit


def _depth_below(node: LexborNode, root_id: int, limit: int) -> bool:
    """Whether `node` is at most `limit` levels below the node with id `root_id`."""
    for _ in range(limit):
        node = node.parent
        if node is None:
            return False
        if node.mem_id == root_id:
            return True
    return False


def _search(
    selectors: _Selectors, root: LexborNode, up: set[int], caption: bool, credit: bool
) -> tuple[LexborNode | None, LexborNode | None]:
    """The first caption element and the first credit element (those asked for) under `root`,
    at most eight levels down and not an ancestor of the image (`up`), in document order:
    one walk of `root`'s elements instead of selector queries over the whole page."""
    found_caption = found_credit = None
    root_id = root.mem_id
    walk = root.traverse()
    next(walk)
    for node in walk:
        attributes = node.attributes
        if not attributes and node.tag_id != _TAG["figcaption"]:
            continue
        is_caption, is_credit = selectors.kinds(node, attributes)
        wants_caption = is_caption and caption and found_caption is None
        wants_credit = is_credit and credit and found_credit is None
        if (
            (wants_caption or wants_credit)
            and node.mem_id not in up
            and _depth_below(node, root_id, 8)
        ):
            if wants_caption:
                found_caption = node
            if wants_credit:
                found_credit = node
        if (found_caption is not None or not caption) and (found_credit is not None or not credit):
            break
    return found_caption, found_credit


def _prefixed_credit(caption: LexborNode) -> LexborNode | None:
    """The first inline element of a caption (or the caption itself) whose text starts with
    "Photo:" or the like."""
    return next(
        (
            node
            for node in caption.traverse()
            if node.tag in _CREDIT_TAGS and _CREDIT_PREFIX.match(node.text())
        ),
        None,
    )


def _caption_and_credit(
    selectors: _Selectors, counts: dict[int, int], image: _Image, emphasis: bool
) -> tuple[str | None, str | None]:
    box = _box(image, counts)
    scope, top = _container(image, box, counts)
    up = set(image.ids[:64])
    caption_node = None
    described = (image.node.attributes.get("aria-describedby") or "").split()
    for name in described:
        if re.fullmatch(r"[\w:.-]+", name):
            caption_node = selectors.tree.css_first(f'[id="{name}"]')
            if caption_node is not None:
                break
    scope_credit = None
    if scope is not None:
        found, scope_credit = _search(selectors, scope, up, caption_node is None, True)
        caption_node = caption_node or found
    if caption_node is None:
        following = _next_element(_node_at(image, top))
        if following is not None and _is_caption(following):
            caption_node = following
    credit_node = None
    if caption_node is not None:
        credit_node = _search(selectors, caption_node, up, False, True)[1] or _prefixed_credit(
            caption_node
        )
    if credit_node is None:
        credit_node = scope_credit
    credit = _clean(credit_node.text(separator=" ")) if credit_node is not None else None
    caption = _clean(caption_node.text(separator=" ")) if caption_node is not None else None
    if (
        caption
        and credit
        and credit_node is not None
        and _depth_below(credit_node, caption_node.mem_id, 64)
    ):
        head, _, tail = caption.rpartition(credit)
        caption = _clean(head + tail)
    if caption is None and emphasis:
        caption = _emphasis_caption(_node_at(image, box))
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


def _link(image: _Image) -> str | None:
    anchor = image.inside("a")
    href = anchor.attributes.get("href") if anchor is not None else None
    return href.strip() if href and href.strip() else None


def extract(
    text: str, article: str, *, context: int = CONTEXT_CHARS, emphasis_captions: bool = False
) -> tuple[list[ImageRef], list[ItemError]]:
    """Every body image in document order, then the page's metadata images (kind "meta").

    `context` is how many characters of text before and after each image are kept;
    `emphasis_captions` takes an emphasised line right under an image as its caption (the
    Markdown convention).
    """
    tree = LexborHTMLParser(text)
    parts = _walk(tree)
    blocks = json_ld(parts.markup)
    tags = meta_tags(parts.markup)
    h1 = next((node for node in parts.headings if node.tag_id == _TAG["h1"]), None)
    page = page_info(tree, parts.markup, h1, tags, blocks)
    meta = meta_images(tree, parts.markup, tags, blocks, article, page)
    images = _images(parts.images)
    counts = _counts(images)
    selectors = _Selectors(tree)
    found = []
    for image in images:
        caption, credit = _caption_and_credit(selectors, counts, image, emphasis_captions)
        found.append({**image.fields, "caption": caption, "credit": credit, "link": _link(image)})
    refs = [
        ImageRef.of(
            {
                "article": article,
                "position": position,
                "base": page.base,
                "article_title": page.title,
                "article_url": page.url,
                "article_date": page.date,
                "context_before": before,
                "context_after": after,
                "heading": heading,
                **fields,
            }
        )
        for position, (fields, (before, after, heading)) in enumerate(
            zip(
                found,
                contexts(
                    tree, [image.node for image in images], parts.headings, parts.hidden, context
                ),
                strict=True,
            )
        )
    ]
    return refs + meta, []
