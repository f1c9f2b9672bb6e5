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
from collections import Counter
from collections.abc import Iterable

import orjson
from selectolax.lexbor import LexborHTMLParser, LexborNode

from ..models import ImageRef, ItemError, SrcsetCandidate, unwrapped_key
from . import CONTEXT_CHARS
from .captions import Selectors, caption_and_credit, image_counts
from .context import contexts
from .nesting import flatten
from .page import TAGS, Markup, json_ld, meta_images, meta_tags, page_info
from .tree import HEADINGS, TAG, WRAPPERS, Image, next_element, previous_element, size

# Where lazy-loading scripts keep an image's URL until it is shown, first one first:
# lazysizes, lozad and most others `data-src`, WordPress plugins `data-lazy-src`, jQuery
# Lazy Load `data-original`, Zhihu `data-actualsrc`, Taobao `data-ks-lazyload`, Echo.js
# `data-echo`, and the like.
LAZY_SRC = (
    "data-src",
    "data-lazy-src",
    "data-original",
    "data-lazy",
    "data-url",
    "data-hi-res-src",
    "data-original-src",
    "data-full-src",
    "data-actualsrc",
    "data-lazyload",
    "data-ks-lazyload",
    "data-echo",
    "data-defer-src",
)
LAZY_SRCSET = ("data-srcset", "data-lazy-srcset")
_LAZY = frozenset(LAZY_SRC)
_IMG = TAG["img"]
_H1 = TAG["h1"]
_FIGURE = TAG["figure"]
# The elements whose text is not shown, besides scripts: style sheets, and templates (an HTML
# template's content is not in the tree; a `<template>` in SVG or MathML is an element like
# any other, whose text is in it).
_HIDDEN = frozenset((TAG["style"], TAG["template"]))
_HTML = TAG["html"]
_SRCSET = frozenset((*LAZY_SRCSET, "srcset"))
# A placeholder `src`: an inline GIF or SVG, or any short data URI (decided by its start and
# length: a long inline image of another kind is a real one); else a file named for a
# stand-in.
_INLINE_PLACEHOLDER = re.compile(r"data:image/(?:gif|svg)|data:.{0,160}$", re.I | re.S)
_PLACEHOLDER_FILE = re.compile(
    r"(?:^|/)(?:blank|spacer|placeholder|transparent|lazy(?:load)?|loading|grey|gray|pixel|empty"
    r"|1x1|1px)(?:(?:[-_.\d]|(?-i:[A-Z]))[\w-]*)?\.(?:gif|png|svg|jpe?g|webp)(?:[?#]|$)",
    re.I,
)
_BACKGROUND = re.compile(r"background(?:-image)?\s*:[^;]*?url\(\s*(['\"]?)(.+?)\1\s*\)", re.I)
# Known tracking pixels and spacers: a file named for one (after "/", ".", "_" or "-"), and
# the beacons of ad and analytics services; searched in the lower-cased URL (`str.lower`,
# which unlike a pattern ignoring case does not take a dotless ı for an i), each only when
# it holds one of the pattern's words (`is_tracker`). sre tries a pattern at each position
# of a URL: one pattern of all these alternatives, ignoring case, cost 10-20 µs a URL (CNN's
# front page has 63 "1px.gif" spacers); each of these, case already folded, a few µs.
_TRACKER_FILE = re.compile(
    r"(?<![^/._-])(?:pixel|spacer|beacon|tracking|1x1|1px|clear)\.(?:gif|png)"
)
_TRACKER_SERVICE = re.compile(
    r"facebook\.com/tr[/?]|google-analytics\.com/(?:r/)?collect|/__utm\.gif|/b/ss/|"
    r"\.doubleclick\.net/|scorecardresearch\.com/p|quantserve\.com/pixel|bat\.bing\.com/action|"
    r"/pixel(?:[/?]|$)|mc\.yandex\.ru/watch/|imrworldwide\.com/cgi-bin/m|(?:^|//|\.)statcounter\.com/"
)
# A srcset candidate's URL (after separators) and descriptor (up to the next comma).
_URL = re.compile(r"[\s,]*(\S+)")
_DESCRIPTOR = re.compile(r"([^,]*),?")
_DENSITY = re.compile(r"(\d*\.?\d+)x")
# An id a page's script makes an image's URL from (`_urls_from_ids`): letters and digits
_ID = re.compile(r"(?=[^0-9]*[0-9])(?=[^A-Za-z]*[A-Za-z])[A-Za-z0-9_-]{8,64}")
_IMAGE_FILES = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif", ".svg")


def parse_srcset(value: str) -> list[SrcsetCandidate]:
    """The candidates of a `srcset` (URLs may hold commas, as data URIs and CDNs do): each a
    URL (commas ending it dropped, then no descriptor) and the descriptor up to the next
    comma."""
    found = []
    position = 0
    while match := _URL.match(value, position):
        url, position = match.group(1), match.end()
        if url[-1] == ",":
            found.append(_candidate(url.rstrip(",") or ",", None, None))
            continue
        match = _DESCRIPTOR.match(value, position)
        position = match.end()
        descriptor = match.group(1).strip()
        width = density = None
        if descriptor[-1:] == "w":
            width = size(descriptor[:-1]) if descriptor[:-1].isdecimal() else None
        elif descriptor and (number := _DENSITY.fullmatch(descriptor)):
            density = float(number.group(1))
        found.append(_candidate(url, width, density))
    return found


def _candidate(url: str, width: int | None, density: float | None) -> SrcsetCandidate:
    """`SrcsetCandidate(url, width, density)` without the frozen dataclass's
    `object.__setattr__` for each field (as `ImageRef.of`)."""
    candidate = object.__new__(SrcsetCandidate)
    candidate.__dict__.update(url=url, width=width, density=density)
    return candidate


def is_tracker(src: str) -> bool:
    """A known tracking-pixel or spacer URL (a data URI is none)."""
    if src[:5].lower() == "data:":
        # (the image is in the page: nothing is fetched; and searching a long inline SVG for
        # the words, "1px" and "clear" among them, cost milliseconds)
        return False
    low = src.lower()
    # (chains of `in`s: a tenth of the cost of a pattern of the words)
    if (
        (".gif" in low or ".png" in low)
        and (
            "pixel" in low
            or "spacer" in low
            or "beacon" in low
            or "tracking" in low
            or "1x1" in low
            or "1px" in low
            or "clear" in low
        )
        and _TRACKER_FILE.search(low) is not None
    ):
        return True
    return (
        "facebook" in low
        or "collect" in low
        or "__utm" in low
        or "/b/ss/" in low
        or "doubleclick" in low
        or "scorecard" in low
        or "quantserve" in low
        or "bat.bing" in low
        or "/pixel" in low
        or "yandex" in low
        or "imrworldwide" in low
        or "statcounter" in low
    ) and _TRACKER_SERVICE.search(low) is not None


def is_placeholder(src: str | None) -> bool:
    """A stand-in for a lazy image: nothing, a small data URI, an inline SVG, a blank GIF."""
    src = (src or "").strip()
    if not src:
        return True
    if src[:5].lower() == "data:":
        return _INLINE_PLACEHOLDER.match(src) is not None
    low = src.lower()
    # (for an ASCII URL, a chain of `in`s first: the words one of which every match holds)
    return (
        not src.isascii()
        or "blank" in low
        or "spacer" in low
        or "placeholder" in low
        or "transparent" in low
        or "lazy" in low
        or "loading" in low
        or "grey" in low
        or "gray" in low
        or "pixel" in low
        or "empty" in low
        or "1x1" in low
        or "1px" in low
    ) and _PLACEHOLDER_FILE.search(src) is not None


def _background(style: str) -> str | None:
    """The image of an inline `background`/`background-image` style (Yahoo's and CNN's front
    pages show their photos so, behind a transparent placeholder `src`)."""
    match = _BACKGROUND.search(style) if "url" in style.lower() else None
    return match.group(2).strip() or None if match else None


def _variants(attributes: dict[str, str | None]) -> list[SrcsetCandidate]:
    """The sizes of a lazy image written in `data-src-*` attributes (CNN's `data-src-mini`
    … `data-src-large` behind an inline GIF, others' `data-src-2x`), in the order written,
    each a candidate (with a density when its name is one). A value is taken when it may be
    a URL (`_url_like`: not `data-src-type="image/webp"`, `data-src-ratio="0.75"` or an id)."""
    found = []
    for name, value in attributes.items():
        url = (value or "").strip()
        if name.startswith("data-src-") and _url_like(url):
            density = _DENSITY.fullmatch(name[9:])
            found.append(_candidate(url, None, float(density.group(1)) if density else None))
    return found


def _url_like(value: str) -> bool:
    """Whether an attribute's value may be an image's URL: one word, rooted ("/…", "http…")
    or a path holding a dot, or a file name of an image."""
    return (
        bool(value)
        and len(value.split()) == 1
        and (
            value.startswith(("/", "http:", "https:"))
            or ("/" in value and "." in value)
            or value.lower().endswith(_IMAGE_FILES)
        )
    )


def _lazy_src(attributes: dict[str, str | None]) -> tuple[str | None, list[SrcsetCandidate]]:
    """The URL of the first lazy-loading attribute holding one, and candidates read from
    those holding JSON (a `data-src` of the image's sizes). A value that is no URL (JSON,
    `data-lazy="true"`) is never the image's URL."""
    found: list[SrcsetCandidate] = []
    for name in LAZY_SRC:
        value = (attributes.get(name) or "").strip()
        if not value:
            continue
        if value[0] in "{[":
            found += [_candidate(url, None, None) for url in _json_urls(value)]
        elif len(value.split()) == 1 and ("/" in value or "." in value):
            return value, found
    return None, found


def _json_urls(text: str) -> list[str]:
    """The image URLs among the strings of a JSON value (at most 64, 8 levels deep)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return []
    found: list[str] = []
    todo = [(value, 0)]
    while todo and len(found) < 64:
        item, depth = todo.pop()
        if isinstance(item, str):
            if _url_like(item.strip()):
                found.append(item.strip())
        elif depth < 8 and isinstance(item, (dict, list)):
            values = item.values() if isinstance(item, dict) else item
            todo += [(v, depth + 1) for v in reversed(list(values))]
    return found


def _image_attribute(attributes: dict[str, str | None]) -> str | None:
    """The first `data-*` attribute whose value is an image file's URL (a lazy image whose
    script keeps its URL under a name of its own: `data-source-standard`, `data-n-src`)."""
    for name, value in attributes.items():
        url = (value or "").strip()
        if name.startswith("data-") and _url_like(url):
            path = url.split("?", 1)[0].split("#", 1)[0].lower()
            if path.endswith(_IMAGE_FILES):
                return url
    return None


def _best(candidates: Iterable[SrcsetCandidate]) -> SrcsetCandidate:
    """The largest candidate (by width, else density), as `ImageRef.candidates` ranks them."""
    return max(candidates, key=lambda c: (c.width is not None, c.width or 0, c.density or 1.0))


def _first(attributes: dict[str, str | None], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = attributes.get(name)
        if value and value.strip():
            return value.strip()
    return None


def _ancestry(step: LexborNode | None) -> tuple[list[LexborNode], list[int], list[int]]:
    """`step` and its ancestors below `<html>`, nearest first, with their `tag_id`s and
    `mem_id`s (an Image's lists)."""
    ancestors, tags, ids = [], [], []
    while step is not None and (tag := step.tag_id) != _HTML:
        ancestors.append(step)
        tags.append(tag)
        ids.append(step.mem_id)
        step = step.parent
    return ancestors, tags, ids


def _tracking(width: int | None, height: int | None, url: str) -> bool:
    """A tracking pixel: declared 1×1 or less, or a known tracker's URL."""
    tiny = width is not None and height is not None and width <= 1 and height <= 1
    return tiny or is_tracker(url)


def _read_img(node: LexborNode) -> Image:
    ancestors, tags, ids = _ancestry(node.parent)
    attributes = node.attributes
    src = unwrapped_key((attributes.get("src") or "").strip())
    lazy, variants = (None, []) if _LAZY.isdisjoint(attributes) else _lazy_src(attributes)
    # (names hold no space: the join tells cheaply whether a data-src-* attribute may be
    # there, before the placeholder test, which costs more)
    if (
        lazy is None
        and ("style" in attributes or "data-src-" in " ".join(attributes))
        and is_placeholder(src)
    ):
        variants += _variants(attributes)
        if variants:
            lazy = variants[0].url
        elif "style" in attributes:
            lazy = _background(attributes["style"] or "")
    srcsets = []
    if tags and tags[0] == TAG["picture"]:
        for source in ancestors[0].traverse():
            if source.tag_id == TAG["source"]:
                srcsets.append(_first(source.attributes, (*LAZY_SRCSET, "srcset")))
    if not _SRCSET.isdisjoint(attributes):
        srcsets.append(_first(attributes, LAZY_SRCSET))
        srcsets.append(_first(attributes, ("srcset",)))
    candidates = {c.url: c for s in srcsets if s for c in parse_srcset(s)} if srcsets else {}
    for candidate in variants:
        candidates.setdefault(candidate.url, candidate)
    width, height = size(attributes.get("width")), size(attributes.get("height"))
    # (Kinja's script sets the alt text from `data-alt`)
    alt_name = "data-alt" if "alt" not in attributes and "data-alt" in attributes else "alt"
    alt = attributes.get(alt_name)
    aria = attributes.get("aria-hidden") or ""
    real = lazy or src
    placeholder = src if lazy and src and src != lazy else None
    if is_placeholder(real):  # a stand-in is never the photo when another URL is there
        found = _best(candidates.values()).url if candidates else _image_attribute(attributes)
        if found:
            real, placeholder = found, src or None
    fields = {
        "kind": "img",
        "src": real,
        "placeholder": placeholder,
        "srcset": tuple(candidates.values()),
        "alt": None if alt_name not in attributes else alt or "",
        "title": None if "title" not in attributes else attributes.get("title") or "",
        "declared_width": width,
        "declared_height": height,
        "decorative": (alt_name in attributes and not alt)
        or (attributes.get("role") or "").strip().lower() in ("presentation", "none")
        or aria.strip().lower() == "true",
        "tracking": _tracking(width, height, real),
    }
    return Image(node, attributes, ancestors, tags, ids, fields)


def _scripted_image(figure: LexborNode) -> Image | None:
    """The image a `<figure>` holding no `<img>` names for a script to insert: a microdata
    ImageObject's `itemid`, else its `contentUrl` or `url` property (the image stands in the
    figure's place, inside it, so the figure is its container); or an element in it with
    the image's `data-src` and `data-alt` (BBC's `js-delayed-image-load`: the image stands in
    that element's place, with that alt and the `data-width` and `data-height` declared)."""
    if figure.css_first("img") is not None:
        return None  # its <img> is read as any other
    attributes = figure.attributes
    node, alt, width, height = figure, None, None, None
    if "imageobject" in (attributes.get("itemtype") or "").lower():
        url = (attributes.get("itemid") or "").strip()
        if not _url_like(url):
            found = figure.css_first('[itemprop="contentUrl"], [itemprop="url"]')
            found_attributes = found.attributes if found is not None else {}
            url = _first(found_attributes, ("content", "href", "src")) or ""
    else:
        delayed = figure.css_first("[data-src][data-alt]")
        if delayed is None:
            return None
        node, attributes = delayed, delayed.attributes
        url = (attributes.get("data-src") or "").strip()
        alt = attributes.get("data-alt") or ""
        width, height = size(attributes.get("data-width")), size(attributes.get("data-height"))
    if not _url_like(url):
        return None
    ancestors, tags, ids = _ancestry(node)
    fields = {
        "kind": "img",
        "src": url,
        "placeholder": None,
        "srcset": (),
        "alt": alt,
        "title": None,
        "declared_width": width,
        "declared_height": height,
        "decorative": alt == "",
        "tracking": _tracking(width, height, url),
    }
    return Image(node, attributes, ancestors, tags, ids, fields)


def _lazy(image: Image) -> bool:
    """Whether the image was lazy-loaded (a lazy-loading attribute, or a placeholder `src`)."""
    attributes = image.attributes
    return _first(attributes, LAZY_SRC) is not None or is_placeholder(
        (attributes.get("src") or "").strip()
    )


def _images(nodes: list[LexborNode]) -> list[Image]:
    """Every image once, in document order; a `<noscript>` copy of a lazy image, after it or
    right before it, is merged into it (filling a missing real URL), any other `<noscript>`
    image counts on its own."""
    images: list[Image] = []
    merged: set[int] = set()
    copy: tuple[Image, LexborNode] | None = None  # the last image, when a noscript copy
    for node in nodes:
        if node.tag_id == _FIGURE:
            found = _scripted_image(node)
            if found is not None:
                images.append(found)
                copy = None
            continue
        image = _read_img(node)
        noscript = image.inside("noscript")
        if noscript is None or noscript.parent is None:
            if copy is not None and _copied(*copy, image):
                # the copy came first (ShortPixel's lazy loading): the image takes its place
                images[-1] = image
                merged.add(id(image))
                _merge(image, copy[0])
            else:
                images.append(image)
            copy = None
            continue
        twin = None if image.fields["tracking"] else _twin(images, merged, noscript, image)
        copy = None
        if twin is None:
            images.append(image)
            if not image.fields["tracking"]:
                copy = (image, noscript)
            continue
        merged.add(id(twin))
        _merge(twin, image)
    return images


def _shared_gifs(images: list[Image]) -> list[Image]:
    """`images`, where a GIF `src` that several lazy images of the page share, each with
    other URLs to show (MSN's `…/sc/9b/e151e5.gif` on every photo, the sizes in `data-src`
    as JSON), gives way to each image's largest candidate and becomes its `placeholder`:
    one file standing in for many photos is none of them."""
    lazy = [
        image
        for image in images
        if image.fields["srcset"]
        and not _LAZY.isdisjoint(image.attributes)
        and _file_name(image.fields["src"]).lower().endswith(".gif")
    ]
    shared = Counter(image.fields["src"] for image in lazy)
    for image in lazy:
        src = image.fields["src"]
        if shared[src] >= 2:
            image.fields.update(src=_best(image.fields["srcset"]).url, placeholder=src)
    return images


def _urls_from_ids(images: list[Image]) -> list[Image]:
    """`images`, each lazy one with no URL at all (an inline stand-in, or none) given the URL
    the page's script makes from an id it holds, where another image shows how: that image
    holds the same attribute, and its value is the file name of its URL (Kinja's
    `data-chomp-id`, the page's other photos at `…/image/upload/c_fill,…/<id>.jpg`). The
    placeholder `src` becomes `placeholder`."""
    missing = [
        image
        for image in images
        if image.fields["src"][:5] in ("", "data:")  # (a stand-in in the page, or none)
        and not image.fields["srcset"]
        and is_placeholder(image.fields["src"])
    ]
    if not missing:
        return images
    named: dict[str, tuple[str, str]] = {}  # attribute -> (URL, the id in it)
    for image in images:
        url = image.fields["src"]
        stem = _file_name(url).rsplit(".", 1)[0]
        if _ID.fullmatch(stem) and url.count(stem) == 1 and not is_placeholder(url):
            for name, value in image.attributes.items():
                if value == stem and name.startswith("data-"):
                    named.setdefault(name, (url, stem))
    for image in missing:
        for name, (url, stem) in named.items():
            value = (image.attributes.get(name) or "").strip()
            if _ID.fullmatch(value):
                head, _, tail = url.partition(stem)
                placeholder = image.fields["src"] or None
                image.fields.update(src=head + value + tail, placeholder=placeholder)
                break
    return images


def _without_previews(images: list[Image]) -> list[Image]:
    """`images` with each low-quality preview folded into the photo it previews: two images
    in a row under one parent (or one `<figure>`) naming the same file (Medium's blurred
    `…/max/60/1*abc.jpeg` before `…/max/800/1*abc.jpeg`) are one photo (`_previews`). The
    later one is the photo unless only the earlier one is lazy-loaded or the later one is
    named a preview; the other becomes its
    `placeholder` (what is shown until it loads) and lends it the fields it lacks."""
    kept: list[Image] = []
    for image in images:
        previous = kept[-1] if kept else None
        if previous is None or not _previews(previous, image):
            kept.append(image)
            continue
        if (_lazy(previous) and not _lazy(image)) or _preview_class(image):
            photo, preview = previous, image
        else:
            photo, preview = image, previous
        if not photo.fields["placeholder"]:
            photo.fields["placeholder"] = preview.fields["src"] or None
        for key in ("alt", "title", "declared_width", "declared_height"):
            if photo.fields[key] is None:
                photo.fields[key] = preview.fields[key]
        kept[-1] = photo
    return kept


def _previews(first: Image, second: Image) -> bool:
    """Whether two images read in a row are one photo: the same parent or `<figure>`, a URL
    of each naming the same file, none the same URL, and one of them lazy-loaded or named a
    preview (two plain images of one name, in two folders, are two photos)."""
    if not first.ids or not second.ids:
        return False
    figure = first.inside("figure")
    if first.ids[0] != second.ids[0] and (
        figure is None or figure.mem_id not in second.ids[: len(first.ids)]
    ):
        return False
    urls = set(_urls(first))
    if not urls.isdisjoint(_urls(second)):
        return False  # the same URL twice: two uses of one image, both counted
    names = {_file_name(url) for url in urls} - {""}
    if names.isdisjoint(_file_name(url) for url in _urls(second)):
        return False
    return _lazy(first) != _lazy(second) or _preview_class(first) or _preview_class(second)


def _preview_class(image: Image) -> bool:
    """Whether the image's class names it a preview (`progressiveMedia-thumbnail`, `lqip`)."""
    value = (image.attributes.get("class") or "").lower()
    return any(word in value for word in ("thumbnail", "preview", "lqip", "blur", "placeholder"))


def _urls(image: Image) -> list[str]:
    fields = image.fields
    return [fields["src"], *(c.url for c in fields["srcset"])]


def _file_name(url: str) -> str:
    """The image file a URL's path ends in (`1*abc.jpeg`), or "" (a data URI, a script
    such as `image.php?src=…` that serves many)."""
    if not url or url[:5].lower() == "data:":
        return ""
    name = url.split("#", 1)[0].split("?", 1)[0].rsplit("/", 1)[-1]
    return name if name.lower().endswith(_IMAGE_FILES) else ""


def _merge(twin: Image, image: Image) -> None:
    """Fill a lazy image's missing fields from its `<noscript>` copy `image`."""
    if is_placeholder(twin.fields["src"]):
        placeholder = twin.fields["src"] or None
        twin.fields.update(src=image.fields["src"], placeholder=placeholder)
    for key in ("alt", "title", "declared_width", "declared_height"):
        if twin.fields[key] is None:
            twin.fields[key] = image.fields[key]
    if not twin.fields["srcset"]:
        twin.fields["srcset"] = image.fields["srcset"]


def _copied(copy: Image, noscript: LexborNode, lazy: Image) -> bool:
    """Whether `copy`, inside `noscript`, is a copy of the image `lazy` read next: `lazy` is
    lazy-loaded, has the copy's URL or its alt text, the copy is the noscript's one image,
    and the noscript is right before `lazy` (or before the wrappers, a link or `<picture>`,
    holding it under the noscript's parent)."""
    scope = noscript.parent
    if scope is None or scope.mem_id not in lazy.ids[:64] or not _lazy(lazy):
        return False
    level = lazy.ids.index(scope.mem_id)
    if any(tag not in WRAPPERS for tag in lazy.tags[:level]):
        return False  # (the noscript stands before a box holding more than the image)
    alt, src = copy.fields["alt"], copy.fields["src"]
    if not (alt and alt == lazy.fields["alt"]) and not (
        src and (src == lazy.fields["src"] or any(c.url == src for c in lazy.fields["srcset"]))
    ):
        return False
    if sum(node.tag_id == _IMG for node in noscript.traverse()) != 1:
        return False  # (a noscript holding a gallery's images)
    before = previous_element(lazy.node_at(level))
    return before is not None and before.mem_id == noscript.mem_id


def _twin(images: list[Image], merged: set[int], noscript: LexborNode, copy: Image) -> Image | None:
    """The image a `<noscript>` copy stands in for: an earlier image under the noscript's
    parent with the same URL, else a lazy one right before the noscript (a noscript further
    on, such as a page's analytics pixel at the end of the body, is no image's copy)."""
    scope = noscript.parent
    scope_id, noscript_id, src = scope.mem_id, noscript.mem_id, copy.fields["src"]
    fallback = None
    for image in reversed(images[-8:]):
        if id(image) in merged or scope_id not in image.ids[:64]:
            continue
        urls = {image.fields["src"], *(c.url for c in image.fields["srcset"])}
        if src and src in urls:
            return image
        if fallback is None and _lazy(image):
            # the image, or its ancestor under the noscript's parent, right before it
            before = image.node_at(image.ids.index(scope_id))
            following = next_element(before)
            if following is not None and following.mem_id == noscript_id:
                fallback = image
    return fallback


def _link(image: Image) -> str | None:
    anchor = image.inside("a")
    # (`attrs` reads the one attribute: a link's others can be long)
    href = anchor.attrs.get("href") if anchor is not None else None
    return href.strip() if href and href.strip() else None


def _elements(
    tree: LexborHTMLParser,
) -> tuple[list[LexborNode], list[LexborNode], list[LexborNode], Markup]:
    """The page's `<img>`s, headings, elements whose text is not shown (style sheets and
    templates; the scripts are in the markup) and what page data is read from, each in
    document order: found in one walk of the page (lexbor's list of a tag walks the whole
    page: the lists of these 14 tags cost 1.6 times this walk)."""
    images: list[LexborNode] = []
    headings: list[LexborNode] = []
    hidden: list[LexborNode] = []
    found: dict[str, list[LexborNode]] = {name: [] for name in TAGS}
    lists = {
        _IMG: images,
        _FIGURE: images,  # (a figure whose <img> a script inserts: _scripted_image)
        **dict.fromkeys(HEADINGS, headings),
        **dict.fromkeys(_HIDDEN, hidden),
        **{TAG[name]: elements for name, elements in found.items()},
    }.get
    root = tree.root
    for node in root.traverse() if root is not None else ():
        elements = lists(node.tag_id)
        if elements is not None:
            elements.append(node)
    markup = Markup()
    for name, elements in found.items():
        for node in elements:
            markup.add(node, name)
    return images, headings, hidden, markup


def extract(
    text: str | bytes,
    article: str,
    *,
    context: int = CONTEXT_CHARS,
    emphasis_captions: bool = False,
) -> tuple[list[ImageRef], list[ItemError]]:
    """Every body image in document order, then the page's metadata images (kind "meta").

    `text` is the page, or its UTF-8 bytes (`encoding.html_source`);
    `context` is how many characters of text before and after each image are kept;
    `emphasis_captions` takes an emphasised line right under an image as its caption (the
    Markdown convention).
    """
    # (text is encoded here as the parser would encode it, so that the nesting check counts
    # bytes, a quarter of the cost of counting characters)
    source = text.encode("utf-8", errors="ignore") if isinstance(text, str) else text
    tree = LexborHTMLParser(flatten(source))
    nodes, headings, hidden, markup = _elements(tree)
    blocks = json_ld(markup)
    tags = meta_tags(markup)
    h1 = next((node for node in headings if node.tag_id == _H1), None)
    page = page_info(tree, markup, h1, tags, blocks)
    meta = meta_images(tree, markup, tags, blocks, article, page)
    images = _urls_from_ids(_shared_gifs(_without_previews(_images(nodes))))
    counts = image_counts(images)
    selectors = Selectors(tree)
    page_fields = {
        "article": article,
        "base": page.base,
        "article_title": page.title,
        "article_url": page.url,
        "article_date": page.date,
    }
    captions = [caption_and_credit(selectors, counts, image, emphasis_captions) for image in images]
    # (`contexts` changes the tree: it comes last)
    places = contexts(
        tree, [image.node for image in images], headings, markup.scripts + hidden, context
    )
    refs = []
    for position, (image, (caption, credit, source), (before, after, heading)) in enumerate(
        zip(images, captions, places, strict=True)
    ):
        fields = image.fields
        fields.update(page_fields)
        fields.update(
            position=position,
            caption=caption,
            credit=credit,
            credit_source=source,
            link=_link(image),
            context_before=before,
            context_after=after,
            heading=heading,
        )
        refs.append(ImageRef.of(fields))
    return refs + meta, []
