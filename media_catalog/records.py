"""The read side: typed records a store returns, and the one serializer to the JSON contract.

A record is a view over the document a store holds (`record.doc`): its fields are typed
attributes, read from the document as they are needed, and `to_dict()` gives the README's
JSON contract, byte for byte what the catalogue holds (keys a newer version added kept, keys
an older catalogue lacks null). A key every catalogue has raises KeyError when it is missing,
which the CLI reports as a damaged catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, Generic, TypeVar, overload

from .models import REF_FIELDS, ImageRef, SrcsetCandidate

T = TypeVar("T")

# The documented occurrence object: the ImageRef's fields, then the file its bytes came from
# and, for bytes from the web, their origin.
OCCURRENCE_KEYS = (*(f.name for f in fields(ImageRef)), "file", "origin")
# An occurrence document as stored and as a search result: the object, then these two.
STORED_OCCURRENCE_KEYS = (*OCCURRENCE_KEYS, "sha256", "reason")


class _Field(Generic[T]):
    """A record's attribute: the document's value under the attribute's name; when the key is
    not there, `default` (a key an older catalogue lacks), or KeyError when `required` (every
    catalogue has it: a document without it is damaged, and is reported so)."""

    def __init__(self, default: Any = None, *, required: bool = False) -> None:
        self.default, self.required = default, required

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, record: None, owner: type) -> _Field[T]: ...

    @overload
    def __get__(self, record: _Record, owner: type) -> T: ...

    def __get__(self, record: _Record | None, owner: type) -> T | _Field[T]:
        if record is None:
            return self
        if self.required:
            return record.doc[self.name]  # type: ignore[no-any-return]
        return record.doc.get(self.name, self.default)  # type: ignore[no-any-return]


class _Record:
    __slots__ = ("doc",)

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_dict() == other.to_dict()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self.doc)!r})"


class OccurrenceRecord(_Record):
    """One use of an image in an article (or a reference whose bytes could not be had: then
    `sha256` is None and `reason` says why)."""

    __slots__ = ()
    article: _Field[str] = _Field(required=True)
    position: _Field[int | None] = _Field(required=True)
    src: _Field[str | None] = _Field()
    alt: _Field[str | None] = _Field()
    caption: _Field[str | None] = _Field()
    title: _Field[str | None] = _Field()
    kind: _Field[str] = _Field("img")
    credit: _Field[str | None] = _Field()
    credit_source: _Field[str | None] = _Field()
    srcset: _Field[list[dict[str, Any]] | None] = _Field()
    placeholder: _Field[str | None] = _Field()
    base: _Field[str | None] = _Field()
    link: _Field[str | None] = _Field()
    declared_width: _Field[int | None] = _Field()
    declared_height: _Field[int | None] = _Field()
    decorative: _Field[bool | None] = _Field()
    tracking: _Field[bool | None] = _Field()
    context_before: _Field[str | None] = _Field()
    context_after: _Field[str | None] = _Field()
    heading: _Field[str | None] = _Field()
    article_title: _Field[str | None] = _Field()
    article_url: _Field[str | None] = _Field()
    article_date: _Field[str | None] = _Field()
    file: _Field[str | None] = _Field()
    origin: _Field[dict[str, Any] | None] = _Field()
    sha256: _Field[str | None] = _Field(required=True)
    reason: _Field[str | None] = _Field(required=True)

    def place(self) -> tuple[str, bool, int]:
        """Sort key: article, then body images by position, then metadata images."""
        return place(self.doc)

    def ref(self) -> ImageRef:
        """The reference as it was extracted (fields an older catalogue lacks: defaults)."""
        known = {key: value for key, value in self.doc.items() if key in REF_FIELDS}
        known["srcset"] = tuple(SrcsetCandidate(**c) for c in self.doc.get("srcset") or ())
        return ImageRef.of(known)

    def to_dict(self) -> dict[str, Any]:
        """The documented occurrence object (as in an image object's `occurrences`)."""
        return occurrence_object(self.doc)

    def unresolved_dict(self) -> dict[str, Any]:
        """The occurrence object with its `reason` (an export's `unresolved` entries)."""
        return {**occurrence_object(self.doc), "reason": self.reason}

    def stored_dict(self) -> dict[str, Any]:
        """The object, then `sha256` and `reason` (a search result, a catalogue's row)."""
        return stored_occurrence(self.doc)


class ImageRecord(_Record):
    """An image's fingerprint and the files holding its bytes; as an image object (from
    `Store.image_objects`), also its occurrences, by place."""

    __slots__ = ("occurrences",)
    sha256: _Field[str] = _Field(required=True)
    phash: _Field[str] = _Field(required=True)
    dhash: _Field[str] = _Field(required=True)
    width: _Field[int] = _Field(required=True)
    height: _Field[int] = _Field(required=True)
    format: _Field[str] = _Field(required=True)
    exif: _Field[dict[str, Any]] = _Field(required=True)
    decode: _Field[str] = _Field("full")
    low_information: _Field[bool | None] = _Field()  # None: not recorded (older catalogues)
    embedded: _Field[dict[str, Any] | None] = _Field()
    variants: _Field[dict[str, dict[str, str]] | None] = _Field()
    phash256: _Field[str | None] = _Field()
    turned: _Field[bool | None] = _Field()  # None: not recorded (older catalogues)
    files: _Field[list[str]] = _Field(required=True)  # (not read by Store.fingerprints)

    def __init__(
        self, doc: Mapping[str, Any], occurrences: tuple[OccurrenceRecord, ...] | None = None
    ) -> None:
        super().__init__(doc)
        self.occurrences = occurrences

    @classmethod
    def of_object(cls, image: Mapping[str, Any]) -> ImageRecord:
        """The record of an image object as the JSON contract has it (`to_dict()`'s shape)."""
        doc = {key: value for key, value in image.items() if key != "occurrences"}
        return cls(doc, tuple(OccurrenceRecord(o) for o in image.get("occurrences") or ()))

    def paths(self) -> list[str]:
        """The files that may hold its bytes: its own, then those its occurrences came from."""
        own = self.doc.get("files") or ()
        return [*own, *(o.file for o in self.occurrences or () if o.file)]

    def to_dict(self) -> dict[str, Any]:
        """The documented image object: the image doc, then its occurrences (when read as an
        image object)."""
        if self.occurrences is None:
            return dict(self.doc)
        return {**self.doc, "occurrences": [o.to_dict() for o in self.occurrences]}


class ErrorRecord(_Record):
    """A failure about one item that a scan recorded and went past."""

    __slots__ = ()
    path: _Field[str | None] = _Field()
    article: _Field[str | None] = _Field()
    position: _Field[int | None] = _Field()
    code: _Field[str] = _Field(required=True)
    message: _Field[str] = _Field(required=True)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.doc)


class SourceRecord(_Record):
    """What a scan recorded of a file it read, to know later whether it changed."""

    __slots__ = ()
    path: _Field[str] = _Field(required=True)
    size: _Field[int | None] = _Field()
    mtime_ns: _Field[int | None] = _Field()
    sha256: _Field[str | None] = _Field()
    settings: _Field[dict[str, Any] | None] = _Field()

    def to_dict(self) -> dict[str, Any]:
        return dict(self.doc)


def place(occurrence: Mapping[str, Any]) -> tuple[str, bool, int]:
    """Sort key of an occurrence doc: article, then body images by position, then metadata
    images (position null)."""
    position = occurrence["position"]
    return occurrence["article"], position is None, position or 0


def occurrence_object(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The documented occurrence shape of an occurrence document (keys a catalogue written
    before they existed lacks are null, "img" for `kind`)."""
    shaped = dict(zip(OCCURRENCE_KEYS, map(doc.get, OCCURRENCE_KEYS), strict=True))
    if "kind" not in doc:
        shaped["kind"] = "img"
    return shaped


def stored_occurrence(doc: Mapping[str, Any]) -> dict[str, Any]:
    """`doc` as stored: STORED_OCCURRENCE_KEYS first, in order, then any other key as it came
    (a newer version's)."""
    if tuple(doc) == STORED_OCCURRENCE_KEYS:
        return dict(doc)
    known = {**occurrence_object(doc), "sha256": doc.get("sha256"), "reason": doc.get("reason")}
    return {**known, **{key: value for key, value in doc.items() if key not in known}}
