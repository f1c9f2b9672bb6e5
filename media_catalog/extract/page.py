"""Article-level data of an HTML page: title, URL, date, `<base href>`, and the lead images
named only in its metadata (og:image, twitter:image, `<link rel=image_src>`, JSON-LD).

Metadata images become references of kind "meta" with position None, after the body images.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from selectolax.lexbor import LexborHTMLParser

from ..models import ImageRef

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
)
_SKIP_KEYS = {"publisher", "logo", "author", "creator", "brand", "sourceOrganization"}


@dataclass(frozen=True)
class Page:
    """What a page says about itself."""

    title: str | None = None
    url: str | None = None
    date: str | None = None
    base: str | None = None


def _clean(text: str | None) -> str | None:
    """Whitespace collapsed; None for no text."""
    return " ".join(text.split()) or None if text else None


def _int(value: Any) -> int | None:
    text = str(value).strip() if value is not None else ""
    digits = text[: len(text) - len(text.lstrip("0123456789"))] if text else ""
    return int(digits) if digits else None


def meta_tags(tree: LexborHTMLParser) -> dict[str, str]:
    """`<meta property|name|itemprop=… content=…>` by lower-cased key; the first one wins."""
    found: dict[str, str] = {}
    for node in tree.css("meta[content]"):
        attributes = node.attributes
        key = attributes.get("property") or attributes.get("name") or attributes.get("itemprop")
        if key:
            found.setdefault(key.strip().lower(), (attributes.get("content") or "").strip())
    return found


def json_ld(tree: LexborHTMLParser) -> list[Any]:
    """The parsed JSON-LD blocks of the page; blocks that are not valid JSON are skipped."""
    blocks = []
    for node in tree.css('script[type="application/ld+json"]'):
        try:
            blocks.append(orjson.loads(node.text(deep=True)))
        except orjson.JSONDecodeError:
            continue
    return blocks


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


def page_info(tree: LexborHTMLParser, meta: dict[str, str], blocks: list[Any]) -> Page:
    """Title, URL, date and base of a page, from its `meta_tags`, JSON-LD `blocks` and markup."""
    title_node = tree.css_first("title")
    h1 = tree.css_first("h1")
    title = (
        _clean(meta.get("og:title"))
        or _clean(title_node.text() if title_node else None)
        or _clean(h1.text() if h1 else None)
    )
    canonical = tree.css_first('link[rel~="canonical"][href]')
    url = (canonical.attributes.get("href") if canonical else None) or meta.get("og:url")
    date = next((meta[key] for key in _DATE_META if meta.get(key)), None)
    if date is None:
        date = next(
            (
                str(obj["datePublished"])
                for obj in _objects(blocks)
                if isinstance(obj.get("datePublished"), str | int)
            ),
            None,
        )
    if date is None:
        node = tree.css_first("[itemprop=datePublished][datetime], time[datetime]")
        date = node.attributes.get("datetime") if node else None
    base = tree.css_first("base[href]")
    return Page(
        title=title,
        url=_clean(url),
        date=_clean(date),
        base=_clean(base.attributes.get("href")) if base else None,
    )


def _ld_images(blocks: list[Any]) -> Iterator[dict[str, Any]]:
    """Lead images named by JSON-LD: `image` values (URLs or ImageObjects) and ImageObjects."""
    for obj in _objects(blocks):
        if obj.get("@type") == "ImageObject":
            yield obj
        image = obj.get("image")
        for item in image if isinstance(image, list) else [image]:
            if isinstance(item, str):
                yield {"url": item}
            elif isinstance(item, dict) and item.get("@type") in (None, "ImageObject"):
                yield item


def _text(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("name")
    return _clean(value) if isinstance(value, str) else None


def meta_images(
    tree: LexborHTMLParser, meta: dict[str, str], blocks: list[Any], article: str, page: Page
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
        declared_width=_int(meta.get("og:image:width")),
        declared_height=_int(meta.get("og:image:height")),
    )
    add(
        meta.get("twitter:image") or meta.get("twitter:image:src"),
        alt=meta.get("twitter:image:alt"),
    )
    link = tree.css_first('link[rel~="image_src"][href]')
    if link is not None:
        add(link.attributes.get("href"))
    for obj in _ld_images(blocks):
        add(
            obj.get("url") or obj.get("contentUrl"),
            caption=_text(obj.get("caption")),
            credit=_text(obj.get("creditText") or obj.get("copyrightHolder")),
            declared_width=_int(obj.get("width")),
            declared_height=_int(obj.get("height")),
        )
    return [
        ImageRef(
            article=article,
            position=None,
            src=url,
            kind="meta",
            base=page.base,
            article_title=page.title,
            article_url=page.url,
            article_date=page.date,
            **fields,
        )
        for url, fields in found.items()
    ]
