"""Plain values passed between the pipeline stages.

Every stage takes and returns these; none of them knows about storage or the terminal.
`to_dict()` gives the documented JSON shape (see the README's "JSON contract").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ImageRef:
    """One image reference found in an article, in document order.

    `alt` is None when the attribute is absent and "" when it is empty; `position` counts every
    reference of the article, resolvable or not, from 0.
    """

    article: str
    position: int
    src: str
    alt: str | None = None
    caption: str | None = None
    title: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Occurrence:
    """An ImageRef after resolving: the SHA-256 and file of its bytes, or why there are none."""

    ref: ImageRef
    sha256: str | None = None
    file: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.ref.to_dict(),
            "file": self.file,
            "sha256": self.sha256,
            "reason": self.reason,
        }


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
    caption, credit, keywords… (see media_catalog.metadata).
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
