"""Article-level data of an HTML page: title, URL, date, `<base href>`, and the lead images
named only in its metadata (og:image, twitter:image, `<link rel=image_src>`, JSON-LD).

Metadata images become references of kind "meta" with position None, after the body images.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from selectolax.lexbor import LexborHTMLParser, LexborNode

from ..models import ImageRef, is_absolute
from .tree import clean, size

_DATE_META = (
    "article:published_time",
    "og:published_time",
    "datepublished",
    "date",
    "pubdate",
    "publishdate",
    "dc.date",
    "dc.date.issued",
    "dcterms.created",
    "parsely-pub-date",
    "sailthru.date",
    "article_date_original",
    "cxenseparse:recs:publishtime",
)
_SKIP_KEYS = {"publisher", "logo", "author", "creator", "brand", "sourceOrganization"}
TAGS = frozenset(("meta", "script", "link", "title", "base"))
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
# A date field left at its zero value: Go's zero time (Gannett's USA Today network pages say
# "0001-01-01T00:00:00Z" in JSON-LD) and MySQL's zero date. It dates nothing.
_ZERO_DATES = ("0001-01-01", "0000-00-00")


@dataclass
class Markup:
    """What page data is read from, in document order: the attributes of every `<meta
    content>` and `<link href>`, every `<script>` (JSON-LD is read from some), the first
    `<title>` and the first `<base href>`'s URL. The HTML extractor gathers them (`add`)
    from its walk of the page's elements of `TAGS`."""

    meta: list[dict[str, str | None]] = field(default_factory=list)
    scripts: list[LexborNode] = field(default_factory=list)
    links: list[dict[str, str | None]] = field(default_factory=list)
    title: LexborNode | None = None
    base: str | None = None

    def add(self, node: LexborNode, tag: str) -> None:
        """Keep what page data is read from `node`, whose tag (one of `TAGS`) is `tag`."""
        if tag == "script":
            self.scripts.append(node)
        elif tag == "title":
            if self.title is None:
                self.title = node
        else:
            attributes = node.attributes
            if tag == "meta":
                if "content" in attributes:
                    self.meta.append(attributes)
            elif tag == "link":
                if "href" in attributes:
                    self.links.append(attributes)
            elif self.base is None and "href" in attributes:
                self.base = attributes["href"] or ""

    def link(self, tree: LexborHTMLParser, rel: str) -> str | None:
        """The URL of the first `<link href>` whose `rel` holds the token `rel` (ignoring
        ASCII case)."""
        for attributes in self.links:
            value = (attributes.get("rel") or "").lower()
            if rel not in value:
                continue
            if not (value.isascii() and value.isprintable()):
                # Unusual whitespace: the selector engine splits the tokens.
                node = tree.css_first(f'link[rel~="{rel}"][href]')
                return node.attributes.get("href") if node is not None else None
            if rel in value.split():
                return attributes.get("href")
        return None


@dataclass(frozen=True)
class Page:
    """What a page says about itself."""

    title: str | None = None
    url: str | None = None
    date: str | None = None
    base: str | None = None


def meta_tags(markup: Markup) -> dict[str, str]:
    """`<meta property|name|itemprop=… content=…>` by lower-cased key; the first one wins."""
    found: dict[str, str] = {}
    for attributes in markup.meta:
        key = attributes.get("property") or attributes.get("name") or attributes.get("itemprop")
        if key:
            found.setdefault(key.strip().lower(), (attributes.get("content") or "").strip())
    return found


def json_ld(markup: Markup) -> list[Any]:
    """The parsed JSON-LD blocks of the page; blocks that are not valid JSON are skipped."""
    blocks = []
    for node in markup.scripts:
        # The selector engine compares `type` ignoring ASCII case, as lower() does here.
        if (node.attributes.get("type") or "").lower() != "application/ld+json":
            continue
        text = node.text(deep=True)
        try:
            blocks.append(orjson.loads(text))
        except orjson.JSONDecodeError:
            block = _lenient(text)
            if block is not None:
                blocks.append(block)
    return blocks


def _lenient(text: str) -> Any:
    """A JSON-LD block with the faults sites leave in it that a browser's JSON-LD readers
    pass over: raw line breaks and tabs in strings (moneycontrol.com, autoindustriya.com)
    and commas before a closing bracket (smithsonianmag.com; the commas are taken out
    wherever they stand, in a string too); None for other faults. Integers past 64 bits
    become floats, as orjson reads them; what else Python's reader takes and orjson would
    not write (lone surrogates, nesting past 254 levels: none of it a catalogue can store)
    passes the block over: it goes through orjson again."""
    for attempt in (text, _TRAILING_COMMA.sub(r"\1", text)):
        try:
            block = json.loads(attempt, strict=False, parse_int=_json_int)
            return orjson.loads(orjson.dumps(block))
        except (ValueError, TypeError, RecursionError):
            # (the readers' and writer's errors are ValueErrors or TypeErrors)
            continue
    return None


def _json_int(digits: str) -> int | float:
    """A JSON integer as orjson reads it: past 64 bits (18 digits here), a float."""
    return int(digits) if len(digits.lstrip("-")) <= 18 else float(digits)


def _objects(value: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Every JSON object in a JSON-LD value, skipping publisher logos and author photos."""
    if depth > 8:
        return
    if isinstance(value, list):
        for item in value:
            yield from _objects(item, depth + 1)
    elif isinstance(value, dict):
        yield value
        for key, item in value.items():
            if key not in _SKIP_KEYS and key != "image":
                yield from _objects(item, depth + 1)


def _dates(value: str | None) -> bool:
    """Whether a date field's value dates anything: it is not blank, nor a zero date."""
    text = (value or "").strip()
    return bool(text) and not text.startswith(_ZERO_DATES)


def page_info(
    tree: LexborHTMLParser,
    markup: Markup,
    h1: LexborNode | None,
    meta: dict[str, str],
    blocks: list[Any],
) -> Page:
    """Title, URL, date and base of a page, from its `meta_tags`, JSON-LD `blocks` and markup
    (`h1`: its first `<h1>`)."""
    title_node = markup.title
    title = (
        clean(meta.get("og:title"))
        or clean(title_node.text() if title_node else None)
        or clean(h1.text() if h1 else None)
    )
    canonical, og_url = markup.link(tree, "canonical"), meta.get("og:url")
    # (a canonical that is no absolute URL, such as cleveland.com's "8003098", gives way to
    # an absolute og:url)
    absolute = og_url and is_absolute(og_url) and not is_absolute((canonical or "").strip())
    url = og_url if absolute else canonical or og_url
    date = next((meta[key] for key in _DATE_META if _dates(meta.get(key))), None)
    if date is None:
        date = next(
            (
                str(obj["datePublished"])
                for obj in _objects(blocks)
                if isinstance(obj.get("datePublished"), str | int)
                and _dates(str(obj["datePublished"]))
            ),
            None,
        )
    if date is None:
        # (an `itemprop` is a list of names: the New York Times' `<meta property=
        # "article:published" itemprop="datePublished dateCreated" content=…>`)
        nodes = tree.css(
            "[itemprop~=datePublished][datetime], meta[itemprop~=datePublished][content], "
            "time[datetime]"
        )
        values = (node.attributes for node in nodes)
        date = next(
            (value for a in values if _dates(value := a.get("datetime") or a.get("content"))), None
        )
    base = markup.base
    return Page(
        title=title,
        url=clean(url),
        date=clean(date),
        base=clean(base),
    )


def _ld_images(blocks: list[Any]) -> Iterator[dict[str, Any]]:
    """Lead images named by JSON-LD: `image` values (URLs or ImageObjects) and ImageObjects;
    not the image of a person or an organisation (an author's photo, a logo), wherever in
    the graph it is (Yoast lists the author as an object of the graph's own)."""
    for obj in _objects(blocks):
        if obj.get("@type") == "ImageObject":
            yield obj
        kinds = obj.get("@type")
        if any(
            kind == "Person" or kind.endswith("Organization")
            for kind in (kinds if isinstance(kinds, list) else [kinds])
            if isinstance(kind, str)
        ):
            continue
        image = obj.get("image")
        for item in image if isinstance(image, list) else [image]:
            if isinstance(item, str):
                yield {"url": item}
            elif isinstance(item, dict) and item.get("@type") in (None, "ImageObject"):
                yield item


def _text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("name")
    return clean(value) if isinstance(value, str) else None


def meta_images(
    tree: LexborHTMLParser,
    markup: Markup,
    meta: dict[str, str],
    blocks: list[Any],
    article: str,
    page: Page,
) -> list[ImageRef]:
    """The page's metadata images, each URL once, in the order og, twitter, link, JSON-LD."""
    found: dict[str, dict[str, Any]] = {}

    def add(url: Any, **fields: Any) -> None:
        if not isinstance(url, str) or not url.strip():
            return
        known = found.setdefault(url.strip(), {})
        for key, value in fields.items():
            if known.get(key) is None:
                known[key] = value

    add(
        meta.get("og:image") or meta.get("og:image:url") or meta.get("og:image:secure_url"),
        alt=meta.get("og:image:alt"),
        declared_width=size(meta.get("og:image:width")),
        declared_height=size(meta.get("og:image:height")),
    )
    add(
        meta.get("twitter:image") or meta.get("twitter:image:src"),
        alt=meta.get("twitter:image:alt"),
    )
    add(markup.link(tree, "image_src"))
    for obj in _ld_images(blocks):
        credit = _text(obj.get("creditText") or obj.get("copyrightHolder"))
        add(
            obj.get("url") or obj.get("contentUrl"),
            caption=_text(obj.get("caption")),
            credit=credit,
            credit_source="markup" if credit else None,
            declared_width=size(obj.get("width")),
            declared_height=size(obj.get("height")),
        )
    return [
        ImageRef.of(
            {
                "article": article,
                "position": None,
                "src": url,
                "kind": "meta",
                "base": page.base,
                "article_title": page.title,
                "article_url": page.url,
                "article_date": page.date,
                **fields,
            }
        )
        for url, fields in found.items()
    ]
