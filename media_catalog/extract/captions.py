"""Captions and credits of the images of an HTML page, found where sites put them: the
image's own container (a `<figure>`, a WordPress or Wikipedia caption box, a `<div>` holding
only it), the caption element right after it, or the element its `aria-describedby` names."""

from __future__ import annotations

import re
from collections.abc import Container, Iterator

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .tree import (
    COMMENT,
    HEADINGS,
    TAG,
    TEXT,
    WRAPPERS,
    Image,
    clean,
    laid_out_text,
    next_element,
)

CAPTION = (
    "figcaption, .wp-caption-text, .thumbcaption, [itemprop=caption], .caption, "
    ".image-caption, .img-caption, .photo-caption, .media-caption, .legende, .gallery-caption, "
    ".infobox-caption, .image__caption, .caption-text"
)
CREDIT = (
    ".credit, .image-credit, .photo-credit, .media-credit, .image__credit, .byline, .copyright, "
    ".attribution, "
    "[itemprop=copyrightHolder], [itemprop=creditText], [itemprop=author]"
)
_CREDIT_PREFIX = re.compile(
    r"^\s*[(\[]?\s*(?:(?:(?:photo|picture|image)\s+credits?|photo(?:graph)?|picture|image|credit"
    r"|foto|bild|file|عکس|تصویر|صورة|фото)\s*[:：]|©"
    r"|(?:photo(?:graph)?|picture|image)s?\s+(?:by|courtesy|via)(?:\s|[:：]))",
    re.I,
)
_CREDIT_LINE = re.compile(r"^\s*[(\[]?\s*(?:photo\s+|image\s+)?credits?\s*[:：]", re.I)
# A screen-reader label that names the text after it as a credit.
_CREDIT_LABEL = re.compile(
    r"(?:(?:photo(?:graph)?|image|picture)\s+)?(?:credits?|source|courtesy)|photo(?:graph)?|foto",
    re.I,
)
# Classes of text shown only to screen readers.
_LABELS = ("off-screen", "visually-hidden", "visuallyhidden", "sr-only", "screen-reader-text")
_CAPTION_CLASSES = frozenset(c.strip()[1:] for c in CAPTION.split(",") if "." in c)
_CREDIT_CLASSES = frozenset(c.strip()[1:] for c in CREDIT.split(",") if "." in c)
_CAPTION_SUFFIXES = ("-caption", "_caption")
_CREDIT_SUFFIXES = ("-credit", "_credit", "-copyright", "_copyright", "attribution", "__source")
# Words of a credit's class name naming the picture it credits (`photo-credit`).
_PICTURE_WORDS = ("photo", "image", "img", "picture", "media")
_CREDIT_PROPS = frozenset(("copyrightHolder", "creditText", "author", "creator"))
_CREDIT_TAGS = frozenset(
    TAG[name] for name in ("span", "small", "em", "i", "cite", "b", "strong", "p")
)
_FIGCAPTION = TAG["figcaption"]
_FIGURE = TAG["figure"]
_CITE = TAG["cite"]
# The control of a caption shown shortened, which a click expands (Forbes' "... [+]")
_TOGGLE = re.compile(r"\s*(?:\.\.\.|…)\s*\[\+\]\s*")
_SMALL = TAG["small"]
# Elements whose text is never shown as a caption or a credit (images, media, controls,
# scripts, an icon's vector paths) and comments: `_search` passes them by without reading
# their attributes (an image's and its sources' are long: reading them cost a fifth of the
# search).
_NO_TEXT = frozenset(
    (
        COMMENT,
        *(TAG[name] for name in ("img", "source", "picture", "svg", "path", "input", "br")),
        *(TAG[name] for name in ("hr", "wbr", "script", "style", "noscript", "template")),
        *(TAG[name] for name in ("iframe", "video", "audio", "embed", "object", "canvas")),
        *(TAG[name] for name in ("meta", "link")),
    )
)
_STOP = {TAG[name] for name in ("body", "html", "article", "main", "section")}
_ID = re.compile(r"[\w:.-]+")
_CAPTION_ID = re.compile(r"caption[-_]?\d*$", re.I)
_CONTROLS = frozenset(("a", "button", "input", "label", "select", "textarea"))


# A credit in a caption's own words, where no element holds it: a label and a name after a
# sentence or a separator ("… lab | photo by Jane Roe", "… Wharf. Photo: Jane Roe"), or the
# whole caption ("Photo by Jane Roe").
# A sentence's end, maybe inside closing quotes or brackets ("… movement.’ Photograph: AFP").
_SENTENCE_END = r"(?:(?<=[.!?…])|(?<=[.!?…][\"'’”»)\]]))\s+"
_LABELLED = re.compile(
    rf"(?:^|{_SENTENCE_END}|\s*[|–—•]\s*)(?P<credit>(?:(?:photo(?:graph)?|picture|image|foto)s?"
    r"\s+(?:by|via|courtesy(?:\s+of)?)\s*[:：]?|(?:(?:photo|picture|image)\s+credits?"
    r"|photo(?:graph)?|picture|image|credit|foto|source)s?\s*[:：])\s*(?P<name>\S[^|]*?))\s*$",
    re.I,
)
# A name, maybe with an agency, in parentheses (or brackets) at the end of a caption
# ("(Jane Roe/AP)", Al Jazeera's "[File: Reuters]").
_TRAILING = re.compile(
    r"\s*(?P<credit>\((?P<name>[^()]{2,80})\)|\[(?P<bracketed>[^\[\]]{2,80})\])\s*$"
)
# A name and an agency after a caption's last sentence, with no label ("… oppose it. Jaafar
# ASHTIYEH / AFP", "… November 18, 2019. REUTERS/Brendan McDermid").
_AFTER_SENTENCE = re.compile(rf"{_SENTENCE_END}(?P<credit>[^.!?…]{{2,80}}?)\s*$")
# How small papers credit a reader's or the paper's own photo after a caption ("Christopher
# Battin Submitted photo").
_PHOTO_KIND = re.compile(
    r"\s+(?P<credit>(?:submitted|contributed|courtesy|file|staff|handout|family)\s+"
    r"(?:photo(?:graph)?|image|picture)s?)\s*$",
    re.I,
)
# Words a caption's closing parenthesis holds that name no one ("(left)", "(file photo)").
_NOT_NAMES = frozenset(
    (
        *("left", "right", "center", "centre", "above", "below", "top", "bottom", "file"),
        *("photo", "pictured", "inset", "front", "back", "l", "r", "c", "detail", "archive"),
        *("illustrative", "video"),
    )
)
_AGENCIES = re.compile(
    r"\b(?:getty|ap|afp|reuters|epa|shutterstock|alamy|associated press|pool|handout|sipa|"
    r"bloomberg|xinhua|anadolu|nurphoto|efe|dpa|ansa|tass|imago|zuma|images?|photos?|"
    r"press|news|agency)\b",
    re.I,
)
_CONNECTORS = frozenset(
    ("/", "&", "of", "de", "la", "le", "del", "van", "von", "via", "for", "file", "photo")
)


# A name's lowercase particle joined to it: "al-Rubaye", "el-Shahed", "d'Angelo"
_PARTICLE = re.compile(r"[a-z]{1,3}['’-][A-Z]")


def _is_name(text: str, words: int, brands: bool = False) -> bool:
    """Whether `text` may be a person's or an agency's name: at most `words` words, each
    capitalised (or a connector, or in a script without case), and no sentence. With
    `brands` (after a label: "Photo: iFixit"), a word's capital may come later ("iFixit",
    "eBay"); not in a bare parenthesis, where "(kWh)" and "(iOS)" are no names."""
    parts = text.replace("/", " / ").split()
    if not parts or len(parts) > words or text.rstrip().endswith((".", "?", "!")):
        return False
    if not any(c.isalpha() for c in text):
        return False  # "(1926-2022)"
    for part in parts:
        first = next((c for c in part if c.isalpha()), None)
        if part.lower() in _CONNECTORS or (first is None and not part.isdigit()):
            continue
        if part[0].isdigit():  # "20th Century Fox"
            continue
        if first is None or (
            first.lower() != first.upper()
            and not first.isupper()
            and (part.islower() or not brands)
            and _PARTICLE.match(part) is None
        ):
            return False
    return parts[0].lower() not in _CONNECTORS


def _agency_credit(text: str, words: int) -> bool:
    """Whether `text` is a name with an agency: "Jane Roe/AP", "REUTERS/Brendan McDermid",
    "Elias Funez/The Union via AP", "Patrick Semansky, ASSOCIATED PRESS"."""
    if not _is_name(text, words) or _AGENCIES.search(text) is None:
        return False
    if "/" in text:
        return True
    last = text.rsplit(",", 1)
    return len(last) == 2 and _AGENCIES.fullmatch(last[1].strip().split()[-1]) is not None


def credit_in_text(caption: str) -> tuple[str | None, str, str] | None:
    """A credit in a caption's words: (the caption without it, or None when it was all of
    it; the credit as written; how it was found: "label" after "Photo:", "photo by" and the
    like, "pattern" for a name in closing parentheses, a name with an agency after the last
    sentence or as the whole caption ("Jane Roe/AP/Getty Images"), or "Submitted photo" and
    the like). None when there is none. Nothing is lost: the caption and the credit hold all
    the text."""
    found = _LABELLED.search(caption)
    if found and _is_name(found.group("name"), 8, brands=True):
        return caption[: found.start()].strip(" |–—•") or None, found.group("credit"), "label"
    found = _TRAILING.search(caption)
    if found and caption[: found.start()].strip():
        name, rest = found.group("name") or found.group("bracketed"), caption[: found.start()]
        rest = rest.strip()
        if _names_someone(name):  # "(Photo by Jane Roe/Getty Images)", "[File: Reuters]"
            return rest, found.group("credit"), "label"
        if found.group("name") and (
            _agency_credit(name.strip(), 10)
            or (_is_name(name, 6) and not _NOT_NAMES.intersection(name.lower().split()))
        ):
            return rest, found.group("credit"), "pattern"
    found = _AFTER_SENTENCE.search(caption)
    if found and _agency_credit(found.group("credit"), 8):
        return caption[: found.start()].strip(), found.group("credit"), "pattern"
    found = _PHOTO_KIND.search(caption)
    if found and caption[: found.start()].strip():
        return caption[: found.start()].strip(), found.group("credit"), "pattern"
    if _agency_credit(caption.strip(), 8):
        return None, caption, "pattern"
    return None


def image_counts(images: list[Image]) -> dict[int, int]:
    """How many images sit under each ancestor (by id, up to ten levels)."""
    found: dict[int, int] = {}
    for image in images:
        for ancestor in image.ids[:10]:
            found[ancestor] = found.get(ancestor, 0) + 1
    return found


def _box(image: Image, counts: dict[int, int]) -> int:
    """How many levels above the `<img>` its own box is: the `<picture>`/`<a>` wrapping only
    it (0: the `<img>` itself)."""
    level = 0
    while (
        level < len(image.tags)
        and image.tags[level] in WRAPPERS
        and counts.get(image.ids[level], 0) <= 1
    ):
        level += 1
    return level


def _container(image: Image, box: int, counts: dict[int, int]) -> tuple[LexborNode | None, int]:
    """The largest ancestor of an image's box (up to four levels, never past a figure or the
    article) holding this image and no other, and the level of the node whose next sibling
    may be a caption."""
    scope, top = (image.node_at(box) if box else None), box
    for _ in range(4):
        if top >= len(image.tags) or image.tags[top] in _STOP or counts.get(image.ids[top], 0) > 1:
            break
        scope, top = image.ancestors[top], top + 1
        if image.tags[top - 1] == TAG["figure"]:
            break
    return scope, top


def _caption_id(node: LexborNode, attributes: dict[str, str | None]) -> bool:
    """Whether an element is a caption by its `id` alone (CNN's `<cite id="galleryCaption001">`):
    an id ending in "caption" and perhaps a number (not `captionToggle`, `photoCaptionCredit`,
    `closedCaptionSettings`), on an element holding text that is no control or link. Only
    when no element is a caption by the rules above (see `_search`)."""
    name = attributes.get("id")
    return (
        name is not None
        and _CAPTION_ID.search(name) is not None
        and node.tag not in _CONTROLS
        and bool(node.text().strip())
    )


def _caption_name(node: LexborNode, attributes: dict[str, str | None], near: int | None) -> bool:
    """Whether an element is a caption by a name of the site's own: its id (`_caption_id`),
    or a class ending in "-caption" or "_caption" (Brightspot's `Figure-caption`, BEM's
    `media__caption`) on an element holding text that is no control or link, under the
    image's ancestor with id `near` (three levels up: an ad's `pfad__caption` further off
    says "Advertisement"). Only when no element is a caption by `CAPTION` (see `_search`):
    such names are also given to a toggle (the Guardian's `reveal-caption`), to a video's
    notice (BBC's `player-with-placeholder__caption`) and to a caption box (`wp-caption`)."""
    if _caption_id(node, attributes):
        return True
    value = attributes.get("class")
    return (
        value is not None
        and any(name.endswith(_CAPTION_SUFFIXES) for name in value.lower().split())
        and near is not None
        and _depth_below(node, near, 8)
        and node.tag not in _CONTROLS
        and bool(node.text().strip())
    )


def _is_caption(selectors: Selectors, node: LexborNode) -> bool:
    """Whether an element is a caption: `CAPTION` matches it, or its id says so."""
    if node.tag_id in _NO_TEXT:
        return False
    attributes = node.attributes
    if not selectors.marked(attributes) and node.tag_id != _FIGCAPTION:
        return False
    return selectors.kinds(node, attributes)[0] or _caption_id(node, attributes)


class Selectors:
    """Which elements `CAPTION` and `CREDIT` match, as the selector engine decides (classes
    exactly in standards mode, ignoring case in quirks mode). Tag, `itemprop` and plain class
    values are decided here; a class value matching only when lower-cased or holding unusual
    whitespace is left to the engine, queried over the page once, on demand (so the page is
    not searched with the selectors, whose dozen alternatives cost a walk of it each)."""

    def __init__(self, tree: LexborHTMLParser) -> None:
        self.tree = tree
        self.matched: dict[str, set[int]] = {}
        self.classes: dict[str, bool] = {}

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

    def marked(self, attributes: dict[str, str | None]) -> bool:
        """Whether an element's attributes may make it a caption or a credit (by `kinds` or
        `_caption_id`): an `itemprop`, a class holding (lower-cased) a word that every
        caption or credit class name holds, or an id holding "caption". A cheap test that
        passes over most elements, whose classes are not split into names (and a page's
        class values repeat: each is tested once)."""
        if not attributes:
            return False
        if "itemprop" in attributes:
            return True
        value = attributes.get("class")
        if value:
            known = self.classes.get(value)
            if known is None:
                low = value.lower()
                known = self.classes[value] = (
                    "caption" in low
                    or "legende" in low
                    or "credit" in low
                    or "byline" in low
                    or "copyright" in low
                    or "attribution" in low
                    or "__source" in low
                )
            if known:
                return True
        name = attributes.get("id")
        if not name:
            return False
        # (a non-ASCII id is left to the pattern, which matches the dotted and dotless i)
        return "caption" in name.lower() if name.isascii() else _CAPTION_ID.search(name) is not None

    def kinds(self, node: LexborNode, attributes: dict[str, str | None]) -> tuple[bool, bool]:
        """Whether `CAPTION` and whether `CREDIT` match the element (one that `marked`
        passes)."""
        prop = attributes.get("itemprop")
        caption = prop == "caption" or node.tag_id == TAG["figcaption"]
        credit = prop in _CREDIT_PROPS
        value = attributes.get("class")
        if value:
            names = value.lower().split()
            if not caption and not _CAPTION_CLASSES.isdisjoint(names):
                caption = self._has_class(node, value, _CAPTION_CLASSES, CAPTION)
            if not credit and not _CREDIT_CLASSES.isdisjoint(names):
                credit = self._has_class(node, value, _CREDIT_CLASSES, CREDIT)
            if not credit:
                # a site's own name for a credit: BBC's story-image-copyright, photo__credit
                credit = any(name.endswith(_CREDIT_SUFFIXES) for name in names)
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
    selectors: Selectors,
    root: LexborNode,
    up: Container[int],
    caption: bool,
    credit: bool,
    near: int | None = None,
) -> tuple[LexborNode | None, LexborNode | None, LexborNode | None]:
    """The first caption element and the first credit element (those asked for) under `root`,
    at most eight levels down and not an ancestor of the image (`up`), in document order:
    one walk of `root`'s elements instead of selector queries over the whole page. An
    element that is a caption by its name alone (`_caption_name`, `near` its limit) is the
    caption only when no other is found.
    Third, the first heading passed on the way (not the image's), or None."""
    found_caption = found_credit = by_name = heading = None
    root_id = root.mem_id
    walk = root.traverse()
    next(walk)
    for node in walk:
        tag = node.tag_id
        if tag in _NO_TEXT:
            continue
        if heading is None and tag in HEADINGS and node.mem_id not in up:
            heading = node
        attributes = node.attributes
        if (
            not selectors.marked(attributes)
            and tag != _FIGCAPTION
            and tag != _CITE
            and tag != _SMALL
        ):
            continue
        is_caption, is_credit = selectors.kinds(node, attributes)
        if tag == _CITE and not is_credit:
            is_credit = _figure_cite(node, root_id)
        elif tag == _SMALL and not is_credit:
            is_credit = _closing_small(node)
        wants_caption = is_caption and caption and found_caption is None
        wants_credit = is_credit and credit and found_credit is None
        if (
            (wants_caption or wants_credit)
            and node.mem_id not in up
            and _depth_below(node, root_id, 8)
        ):
            if wants_caption:  # (an element taken as the caption is not its credit too)
                found_caption = node
            else:
                found_credit = node
        elif (
            caption
            and found_caption is None
            and by_name is None
            and not is_credit
            and node.mem_id not in up
            and _caption_name(node, attributes, near)
            and _depth_below(node, root_id, 8)
        ):
            by_name = node
        if (found_caption is not None or not caption) and (found_credit is not None or not credit):
            break
    return found_caption or by_name, found_credit, heading


def _closing_small(node: LexborNode) -> bool:
    """Whether a `<small>` ends its `<figcaption>`, after the caption's text, and names
    someone (no digits: not "Updated 3 May 2021", "2 of 12"): the fine print closing a
    caption is its credit (Forbes' `<p>Caption (Photo: Getty Images)</p>
    <small>Getty</small>`, as its own page data splits them)."""
    parent = node.parent
    if parent is None or parent.tag_id != _FIGCAPTION:
        return False
    after = node.next
    while after is not None:
        if after.tag_id != TEXT or after.text().strip():
            return False
        after = after.next
    text = clean(node.text()) or ""
    return _is_name(text, 6) and not any(c.isdigit() for c in text) and clean(parent.text()) != text


def _figure_cite(node: LexborNode, root_id: int) -> bool:
    """Whether a `<cite>` names the photo's source: in a `<figure>`, outside its caption (Vox's
    `<cite>Sakib Ali/Hindustan Times/Getty Images</cite>` beside the `<figcaption>`); a
    `<cite>` in the caption's text names a work it quotes."""
    in_figure = False
    parent = node.parent
    while parent is not None:
        if parent.tag_id == _FIGCAPTION:
            return False
        in_figure = in_figure or parent.tag_id == _FIGURE
        if parent.mem_id == root_id:
            return in_figure
        parent = parent.parent
    return False


def _beside(
    selectors: Selectors, caption: LexborNode, scope: LexborNode, up: list[int]
) -> LexborNode | None:
    """A credit beside the caption, in the box holding the two below the image's container
    (Gannett's `image-meta` holding `image-caption` and `image-credit`): it is the photo's,
    nearer than a credit elsewhere in the container (the story's byline above the photo)."""
    box = caption.parent
    if (
        box is None
        or box.mem_id == scope.mem_id
        or box.mem_id in up
        or not _depth_below(box, scope.mem_id, 8)
    ):
        return None
    credit = _search(selectors, box, up, False, True)[1]
    return credit if credit is not None and credit.mem_id != caption.mem_id else None


def _around(caption: LexborNode, scope: LexborNode | None, up: list[int]) -> LexborNode:
    """The element whose text is the caption, when the caption element found holds only a
    credit ("(Image: GETTY)"): its parent, when that holds more text and lies below the
    image's container (the Express's `<span class="newsCaption">China has warned … <span
    class="caption">(Image: GETTY)</span></span>` beside the photo), else the element itself."""
    parent = caption.parent
    if (
        parent is None
        or parent.tag_id not in _CREDIT_TAGS  # (inline, or a paragraph: not a card's text)
        or parent.mem_id in up
        or scope is None
        or parent.mem_id == scope.mem_id
        or not _depth_below(parent, scope.mem_id, 8)
        or clean(parent.text()) == clean(caption.text())
        or any(node.tag_id in HEADINGS for node in parent.traverse())
    ):
        return caption
    return parent


def _photo_credit(credit: LexborNode, heading: LexborNode) -> bool:
    """Whether a credit element beside an image with no caption, in a container holding a
    heading (a teaser card: a thumbnail, a headline and a byline or a source; or an
    article's header: its headline and lead photo), is the photo's: when it says so
    ("Photo: …", "© …"), its class or itemprop names the picture (`photo-credit`,
    `image__credit`, `copyrightHolder`), or it holds the heading itself. Else it names the
    story's author or source (Yahoo's cards: "IB Times" under a photo of Putin)."""
    attributes = credit.attributes
    names = (attributes.get("class") or "").lower().split()
    return (
        _CREDIT_PREFIX.match(credit.text()) is not None
        or any(
            any(word in name for word in _PICTURE_WORDS)
            and any(word in name for word in ("credit", "copyright", "courtesy", "source"))
            for name in names
        )
        or attributes.get("itemprop") in ("copyrightHolder", "creditText")
        or _depth_below(heading, credit.mem_id, 64)
    )


def _teaser_credit(
    selectors: Selectors, scope: LexborNode, up: list[int], credit: LexborNode, heading: LexborNode
) -> LexborNode | None:
    """Of the first credit elements of the container `scope` (`credit` is the first), the
    first that is the photo's (`_photo_credit`), in a container holding a heading and no
    caption. Four at most: each is a search of the container (a blog post's comments can
    hold a thousand authors)."""
    passed = set(up)
    for _ in range(4):
        if credit is None or _photo_credit(credit, heading):
            return credit
        passed.add(credit.mem_id)
        credit = _search(selectors, scope, passed, False, True)[1]
    return None


def _prefixed_credit(caption: LexborNode) -> LexborNode | None:
    """The caption itself when its text starts with "Credit:" (the whole of it is a credit
    line), else its first inline element whose text starts with "Photo:" or the like."""
    if _CREDIT_LINE.match(caption.text()):
        return caption
    return next(
        (
            node
            for node in caption.traverse()
            if node.tag_id in _CREDIT_TAGS and _names_someone(node.text())
        ),
        None,
    )


def _names_someone(text: str) -> bool:
    """Whether a text starts "Photo:" or the like and names someone after it (Sky News's
    label "Image:" before the caption, hidden from sight, names no one)."""
    match = _CREDIT_PREFIX.match(text)
    return match is not None and any(c.isalnum() for c in text[match.end() :])


def _labels(node: LexborNode) -> Iterator[str]:
    """The text of each screen-reader label in `node` (a class such as `visually-hidden`)."""
    for found in node.traverse():
        value = found.attributes.get("class")
        if value and any(
            name.endswith(_LABELS) and not name.endswith("not-sr-only") for name in value.split()
        ):
            label = clean(laid_out_text(found))
            if label:
                yield label


def _without_labels(caption: LexborNode, text: str) -> str | None:
    """A caption's text without its screen-reader labels (BBC's hidden "Image caption")."""
    for label in _labels(caption):
        head, _, tail = text.partition(label)
        text = clean(head + tail) or ""
    return text or None


def caption_and_credit(
    selectors: Selectors, counts: dict[int, int], image: Image, emphasis: bool
) -> tuple[str | None, str | None, str | None]:
    """An image's caption and credit: the element its `aria-describedby` names, else the
    first caption in its own container (the largest ancestor holding no other image) or the
    caption element right after it; the credit from inside the caption (a credit element, or
    an inline element starting "Photo:" or the like, taken out of the caption's text), else
    from the container, a `data-credit`, or the caption's own words (`credit_in_text`);
    third, how the credit was found: "markup", "label" or "pattern" (None for none).
    `emphasis`: an emphasised line right under the image is a caption (the Markdown
    convention). `counts` is `image_counts(images)` of the page."""
    box = _box(image, counts)
    scope, top = _container(image, box, counts)
    up = image.ids[:64]
    caption_node = None
    described = (image.attributes.get("aria-describedby") or "").split()
    for name in described:
        if _ID.fullmatch(name):
            caption_node = selectors.tree.css_first(f'[id="{name}"]')
            if caption_node is not None:
                break
    scope_credit = heading = None
    if scope is not None:
        near = image.ids[min(2, len(image.ids) - 1)] if image.ids else None
        found, scope_credit, heading = _search(
            selectors, scope, up, caption_node is None, True, near
        )
        caption_node = caption_node or found
    if caption_node is None:
        following = next_element(image.node_at(top))
        if following is not None and _is_caption(selectors, following):
            caption_node = following
    credit_node = None
    labelled = False  # whether the credit was found by its "Photo:" label, not its markup
    if caption_node is not None:
        credit_node = _search(selectors, caption_node, up, False, True)[1]
        if credit_node is None:
            credit_node = _prefixed_credit(caption_node)
            labelled = credit_node is not None
        if credit_node is None and scope is not None:
            credit_node = _beside(selectors, caption_node, scope, up)
        elif credit_node is not None and credit_node.mem_id == caption_node.mem_id:
            caption_node = _around(caption_node, scope, up)
    if credit_node is None and scope_credit is not None:
        if caption_node is None and heading is not None:
            credit_node = _teaser_credit(selectors, scope, up, scope_credit, heading)
        else:
            credit_node = scope_credit
    credit = clean(laid_out_text(credit_node)) if credit_node is not None else None
    if credit:
        credit = _without_labels(credit_node, credit)  # "<span hidden>Credit</span> Jane Roe"
    caption = clean(laid_out_text(caption_node)) if caption_node is not None else None
    if caption and "[+]" in caption:  # an expanding caption's toggle, before the rest of it
        caption = clean(_TOGGLE.sub(" ", caption))
    source = ("label" if labelled else "markup") if credit else None
    if caption and not credit:
        found = _label_credit(caption_node, caption)
        if found is not None:
            caption, credit, source = found
    if caption:
        caption = _without_labels(caption_node, caption) if caption_node is not None else caption
    if not credit:
        credit = _data_credit(image)
        source = "markup" if credit else None
    if credit_node is None:
        in_caption = source == "markup"  # a data-credit the caption may repeat
    else:
        in_caption = caption_node is not None and (
            credit_node.mem_id == caption_node.mem_id
            or _depth_below(credit_node, caption_node.mem_id, 64)
        )
    if caption and credit and in_caption:
        head, _, tail = caption.rpartition(credit)
        caption = clean(head + tail)
    if caption and not credit:
        found_in_text = credit_in_text(caption)
        if found_in_text is not None:
            caption, credit, source = found_in_text
    if caption is None and emphasis:
        caption = _emphasis_caption(image.node_at(box))
    return caption, credit, source


def _label_credit(caption_node: LexborNode, caption: str) -> tuple[str | None, str, str] | None:
    """A credit behind a label hidden from sight that names it ("<span
    class=visually-hidden>Credit</span> Jane Roe", no colon): the caption before the label,
    the text after it as the credit, found by its "label"."""
    for label in _labels(caption_node):
        head, found, tail = caption.partition(label)
        if _CREDIT_LABEL.fullmatch(label) and found and clean(tail):
            return clean(head), clean(tail) or "", "label"
    return None


def _data_credit(image: Image) -> str | None:
    """The credit a `data-credit` attribute of the image or its `<figure>` holds (Time's)."""
    figure = image.inside("figure")
    # (`attrs` reads the one attribute: the figure's others can be long)
    found = figure.attrs.get("data-credit") if figure is not None else None
    return clean(image.attributes.get("data-credit")) or clean(found)


def _emphasis_caption(box: LexborNode) -> str | None:
    """The Markdown convention: an emphasised line right under the image, in the same
    paragraph or as the whole next paragraph."""
    following = next_element(box)
    if following is not None and following.tag == "em" and following.next is None:
        return clean(following.text())
    paragraph = box.parent
    if paragraph is None or paragraph.tag != "p" or (paragraph.text() or "").strip():
        return None
    following = next_element(paragraph)
    if following is not None and following.tag == "p":
        em = following.css_first("em")
        if em is not None and clean(em.text()) == clean(following.text()):
            return clean(em.text())
    return None
