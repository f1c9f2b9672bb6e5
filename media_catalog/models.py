"""Plain values passed between the pipeline stages.

Every stage takes and returns these; none of them knows about storage or the terminal.
`to_dict()` gives the documented JSON shape (see the README's "JSON contract").
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any
from urllib.parse import urljoin


@dataclass(frozen=True)
class SrcsetCandidate:
    """One candidate of a `srcset`: its URL and its width (`800w`) or density (`2x`)."""

    url: str
    width: int | None = None
    density: float | None = None


@dataclass(frozen=True)
class ImageRef:
    """One image reference found in an article, in document order.

    `alt` is None when the attribute is absent and "" when it is empty; `position` counts every
    body reference of the article (`kind` "img"), resolvable or not, from 0. Images named only
    in the page's metadata (og:image, twitter:image, JSON-LD) have `kind` "meta" and position
    None, so they never shift the positions of body images. `src` is the reference as written
    (for a lazy-loaded image, the real URL; the placeholder it replaced is `placeholder`).
    `srcset` holds every candidate of `srcset`/`<picture><source>`; `base` is the page's
    `<base href>`. `credit_source` says how the credit was found: "markup" (an element or
    attribute says it is one), "label" ("Photo:", "photo by"…), "pattern" (likely: a name in
    closing parentheses). The README's JSON contract documents every field.
    """

    article: str
    position: int | None
    src: str
    alt: str | None = None
    caption: str | None = None
    title: str | None = None
    kind: str = "img"
    credit: str | None = None
    credit_source: str | None = None
    srcset: tuple[SrcsetCandidate, ...] = ()
    placeholder: str | None = None
    base: str | None = None
    link: str | None = None
    declared_width: int | None = None
    declared_height: int | None = None
    decorative: bool = False
    tracking: bool = False
    context_before: str | None = None
    context_after: str | None = None
    heading: str | None = None
    article_title: str | None = None
    article_url: str | None = None
    article_date: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, fields: dict[str, Any]) -> ImageRef:
        """`ImageRef(**fields)`, ten to twenty times faster: without the frozen dataclass's
        `object.__setattr__` for each of the 22 fields (extraction makes one per image, with
        every field given: then the defaults are not copied)."""
        ref = object.__new__(cls)
        if fields.keys() == REF_FIELDS:
            ref.__dict__.update(fields)
            return ref
        if not _REQUIRED <= fields.keys() <= REF_FIELDS:
            raise TypeError(f"ImageRef fields: {sorted(fields)}")
        ref.__dict__.update(_DEFAULTS)
        ref.__dict__.update(fields)
        return ref

    def replaced(self, **changes: Any) -> ImageRef:
        """`dataclasses.replace(self, **changes)`, in a quarter of its time (a dump's every
        reference takes the record's URL and title)."""
        return ImageRef.of({**self.__dict__, **changes})

    def candidates(self) -> list[str]:
        """The references to try, best first: `srcset` candidates from the largest width or
        density down, then `src`; each joined to the page's `<base href>` when there is one."""
        ranked = sorted(
            self.srcset,
            key=lambda c: (c.width is not None, c.width or 0, c.density or 1.0),
            reverse=True,
        )
        found = list(dict.fromkeys([*(c.url for c in ranked), self.src]))
        if self.base:
            found = [join_base(self.base, src) if src else src for src in found]
        return [src for src in found if src] or [""]


_DEFAULTS = {f.name: f.default for f in fields(ImageRef) if f.default is not MISSING}
REF_FIELDS = frozenset(f.name for f in fields(ImageRef))  # (records.py reads docs by them)
_REQUIRED = REF_FIELDS - _DEFAULTS.keys()
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


# The seed's packaging of a content-addressed key: `data:image/s3,"s3://bucket/<5 hex>/<40 hex>"`.
_WRAPPED_KEY = re.compile(
    r"""\s*data:[^,"'\s]*,\s*(["']?)(s3://[^/"'\s]+/[0-9a-fA-F]{5}/[0-9a-fA-F]{40})\1\s*"""
)


def unwrapped_key(src: str) -> str:
    """`src`, or the content-addressed key it packages in the seed's data-URI-like wrapper
    (found in text corpora, HTML `src` and JSON Lines fields alike: never a data URI)."""
    if not src.startswith("data:") or "s3://" not in src:
        return src
    match = _WRAPPED_KEY.fullmatch(src)
    return match.group(2) if match else src


def is_absolute(url: str) -> bool:
    """Whether `url` names its scheme or host (`https://…`, `//cdn…`), as a base URL must."""
    return _SCHEME.match(url) is not None or url.startswith("//")


def join_base(base: str, src: str) -> str:
    """`src` read against a `<base href>`: as a browser does for a URL base; for a relative
    path base, joined to its folder with `..` kept (the resolver checks where it leads)."""
    if is_absolute(base):
        return urljoin(base, src)
    if _SCHEME.match(src) or src.startswith("/"):
        return src
    return base[: base.rfind("/") + 1] + src


@dataclass(frozen=True)
class Occurrence:
    """An ImageRef after resolving: the SHA-256 and file of its bytes, or why there are none.
    `origin` says where bytes from the web came from: `{"url", "final_url", "status", "time",
    "archive"}` (fetched: the redirects' end and the time fetched; from a web archive: the
    archive and the capture time); None for a local file or a data URI."""

    ref: ImageRef
    sha256: str | None = None
    file: str | None = None
    reason: str | None = None
    origin: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            **self.ref.to_dict(),
            "file": self.file,
            "origin": self.origin,
            "sha256": self.sha256,
            "reason": self.reason,
        }
        out["src"] = stored_src(out["src"])
        if out["placeholder"]:
            out["placeholder"] = stored_src(out["placeholder"])
        for candidate in out["srcset"]:
            candidate["url"] = stored_src(candidate["url"])
        return out


SRC_KEPT = 4096  # characters of a reference kept as written (longer: a data URI, in practice)


def stored_src(src: str) -> str:
    """`src` as catalogued: over SRC_KEPT characters, its start, length and SHA-256 (a data
    URI's image is hashed whole all the same; a 100 MB URI is not copied into the catalogue)."""
    if len(src) <= SRC_KEPT:
        return src
    digest = hashlib.sha256(src.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{src[:100]}…[{len(src):,} characters, sha256 {digest}]"


# pHash bits within which two images are the same photo (confirmed by dHash within
# similarity.DHASH_CONFIRM, or as similarity.near_pairs says). Chosen from the curve in
# docs/threshold.md (benchmarks/accuracy.py): on 91 photos and 22 transformations of each, no
# pair of different photos matched at 12 and the first did at 14.
DEFAULT_THRESHOLD = 12
# Past this, unrelated photos start to match, and the pair search compares half of all pairs.
MAX_THRESHOLD = 24


def counts_key(threshold: int) -> str:
    """The name the default duplicate report's cluster counts are kept under with a
    catalogue (they are counted again by another version)."""
    from . import __version__

    return f"clusters:{threshold}:{__version__}:turns"  # (since turned copies are checked)


# Seconds an image may take to be read and fingerprinted in a worker (media_catalog.hashing;
# a PNG at Pillow's pixel limit takes a few).
IMAGE_SECONDS = 60.0

# The largest image read from the web or an object store (`scan --max-bytes`).
MAX_FETCH_BYTES = 50 * 1024 * 1024


def byte_limit(size: int) -> str:
    """A byte limit as people read it: "50 MiB", or "1,000 bytes" when not whole MiB."""
    return f"{size >> 20} MiB" if size and not size % (1 << 20) else f"{size:,} bytes"


# Alt text longer than this many characters is flagged by the audit (rule alt-too-long).
DEFAULT_MAX_ALT_LENGTH = 150


@dataclass(frozen=True)
class PerceptualHash:
    """A perceptual hash as a value: `str()` is hex, `a - b` is the Hamming distance.

    It carries the algorithm that made it, so hashes of different kinds are never compared.
    """

    algorithm: str
    value: int
    bits: int = 64

    def __str__(self) -> str:
        return f"{self.value:0{self.bits // 4}x}"

    def __sub__(self, other: PerceptualHash) -> int:
        if (other.algorithm, other.bits) != (self.algorithm, self.bits):
            raise TypeError(f"cannot compare a {self.algorithm} hash with a {other.algorithm} hash")
        return (self.value ^ other.value).bit_count()

    @classmethod
    def from_hex(cls, algorithm: str, text: str) -> PerceptualHash:
        return cls(algorithm, int(text, 16), len(text) * 4)


@dataclass(frozen=True)
class Fingerprint:
    """What the fingerprint stage learns from one image's bytes.

    `decode` names the decode path that made the perceptual hashes ("full" or "draft", see
    media_catalog.fingerprint); `low_information` marks images whose perceptual hashes carry
    no signal (icons, flat or near-blank pictures); `embedded` is the photo's own IPTC/XMP
    caption, credit, keywords… (see media_catalog.metadata). `phash256` is a 256-bit pHash
    (16×16 low frequencies) that confirms near matches dHash alone would miss (see
    media_catalog.similarity). `turned`: its EXIF orientation turns it a quarter, so upright
    it is `height` wide (its hashes are of it upright).
    """

    sha256: str
    phash: PerceptualHash
    dhash: PerceptualHash
    width: int
    height: int
    format: str
    exif: dict[str, Any] = field(default_factory=dict)
    decode: str = "full"
    low_information: bool = False
    embedded: dict[str, Any] = field(default_factory=dict)
    variants: dict[str, dict[str, str]] = field(default_factory=dict)
    phash256: PerceptualHash | None = None
    turned: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "phash": str(self.phash),
            "dhash": str(self.dhash),
            "width": self.width,
            "height": self.height,
            "format": self.format,
            "exif": dict(self.exif),
            "decode": self.decode,
            "low_information": self.low_information,
            "embedded": dict(self.embedded),
            "variants": dict(self.variants),
            "phash256": str(self.phash256) if self.phash256 else None,
            "turned": self.turned,
        }


@dataclass(frozen=True)
class ItemError:
    """A failure that concerned one item (a file, an article, a reference); the scan went on."""

    path: str | None
    code: str
    message: str
    article: str | None = None
    position: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "article": self.article,
            "position": self.position,
            "code": self.code,
            "message": self.message,
        }
