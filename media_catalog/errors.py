"""The one exception tree of media-catalog.

    MediaCatalogError            anything the user can act on; the CLI prints it and exits 1
    ├── ExtractError             an article could not be read or parsed      (.path)
    ├── ResolveError             a reference did not lead to bytes           (.ref, .reason)
    ├── FingerprintError         bytes that are not a usable image           (.path)
    ├── CatalogError             the catalogue file cannot be read or written (.path)
    └── QueryError               a hash, query or option the user typed is wrong

Per-item failures during a scan (ExtractError, ResolveError, FingerprintError) are caught by
the pipeline and recorded as data; only CatalogError stops a scan. Foreign exceptions
(OSError, Pillow's, JSON decoders') are translated where they enter, never caught elsewhere.
"""

from __future__ import annotations

from pathlib import Path


class MediaCatalogError(Exception):
    """Root of every error media-catalog raises on purpose."""


class ExtractError(MediaCatalogError):
    def __init__(self, message: str, *, path: str | Path | None = None, code: str = "bad-article"):
        super().__init__(message)
        self.path = str(path) if path is not None else None
        self.code = code


class ResolveError(MediaCatalogError):
    """A reference that does not resolve; `reason` is one of the documented reason codes."""

    def __init__(self, message: str, *, reason: str, ref: str):
        super().__init__(message)
        self.reason = reason
        self.ref = ref

    @property
    def code(self) -> str:
        """The reason, under the name every per-item error uses for its code."""
        return self.reason


class FingerprintError(MediaCatalogError):
    def __init__(self, message: str, *, path: str | None = None, code: str = "bad-image"):
        super().__init__(message)
        self.path = path
        self.code = code


class CatalogError(MediaCatalogError):
    def __init__(self, message: str, *, path: str | Path | None = None):
        super().__init__(message)
        self.path = str(path) if path is not None else None


class QueryError(MediaCatalogError):
    """Something the user typed (a hash, a query, an option value) cannot be used."""
