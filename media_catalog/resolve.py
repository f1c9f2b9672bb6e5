"""Stage 3: turn an image reference into the bytes it names, inside the allowed roots only.

A reference resolves to a file under one of the allowed roots (the scanned paths and the
`--assets` folders), to the payload of a `data:` URI, to a record of the web archive its page
came from, or, only when the user asked (a Fetcher: `scan --fetch`), to the fetched bytes of a
web URL. It never follows a path, `..` or symlink that leads outside the roots. What does not
resolve raises ResolveError with one of these reasons (and a fetch's, media_catalog.fetch):

    remote         an http(s) or other network URL (not fetched)
    not-archived   a URL the page's web archive holds no image for
    missing        a local path that does not exist, or an empty src
    no-asset       a content-addressed key found in no `--assets` folder
    outside-roots  a path that leads outside the scanned paths and `--assets` folders
    bad-data-uri   a `data:` URI that cannot be decoded
    unreadable     a file that exists but cannot be read
    too-large      a file larger than the byte limit
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, unquote_to_bytes, urljoin, urlsplit
from urllib.request import url2pathname

from .archive import ArchivedPage
from .errors import ResolveError
from .models import ImageRef

if TYPE_CHECKING:
    from .fetch import Fetcher
    from .objects import Mirror, ObjectAssets

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
_KEY = re.compile(
    r"^s3://(?P<bucket>[^/]+)/(?P<prefix>[0-9a-fA-F]{5})/(?P<digest>[0-9a-fA-F]{40})$"
)
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):")


def web_url(src: str) -> str | None:
    """`src` as a URL to fetch when it is a web one (`//host/…` taken as https), else None."""
    if src.startswith("//"):
        return "https:" + src
    return src if src[:8].lower().startswith(("http://", "https://")) else None


@dataclass(frozen=True)
class Resolved:
    """Where an image's bytes are: a file (read later, once), or bytes at hand: the payload
    of a data URI, or a web archive's record (`place` names it: `archive.warc.gz#URL`).
    `origin` is where bytes from the web came from (see `Occurrence.origin`)."""

    file: Path | None = None
    data: bytes | None = None
    place: str | None = None
    origin: dict[str, Any] | None = None


def decode_data_uri(src: str) -> bytes:
    """The payload of a `data:` URI, base64 or percent-encoded."""
    header, comma, payload = src[5:].partition(",")
    if not comma:
        raise ResolveError(
            "data URI has no comma before its payload", reason="bad-data-uri", ref=src
        )
    if header.lower().endswith(";base64"):
        try:
            return base64.b64decode("".join(unquote(payload).split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ResolveError(
                f"data URI is not valid base64: {exc}", reason="bad-data-uri", ref=src
            ) from exc
    return unquote_to_bytes(payload)


class Resolver:
    """Resolves references against allowed `roots` (a missing file under a `mirror` folder
    is first copied from its object store); keys are looked up in `assets` (then
    under the object-store prefixes of `objects`); web URLs
    are fetched by `fetcher` when there is one (else they stay `remote`), relative ones too
    against the article's URL or `base_url` (`candidates`)."""

    def __init__(
        self,
        roots: Iterable[Path],
        assets: Iterable[Path] = (),
        max_bytes: int = DEFAULT_MAX_BYTES,
        fetcher: Fetcher | None = None,
        base_url: str | None = None,
        objects: ObjectAssets | None = None,
        mirror: Mirror | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.fetcher = fetcher
        self.base_url = base_url
        self.objects = objects
        self.mirror = mirror
        self.assets = [Path(os.path.realpath(a)) for a in assets]
        self.roots = [Path(os.path.realpath(r)) for r in roots] + self.assets
        self._asset_names: dict[Path, dict[str, Path]] = {}

    def resolve(self, src: str, base: Path | ArchivedPage) -> Resolved:
        """Resolve `src` as written in an article whose relative references start at `base`:
        a folder, or a page in a web archive (whose web URLs resolve in that archive)."""
        if not src:
            raise ResolveError("image has no source", reason="missing", ref=src)
        key = _KEY.match(src)
        if key:
            return self._asset(key, src)
        scheme = _SCHEME.match(src)
        name = scheme.group("scheme").lower() if scheme else ""
        if name == "data":
            return Resolved(data=decode_data_uri(src))
        if isinstance(base, ArchivedPage):
            url = urljoin(base.url, src)
            if url.startswith(("http://", "https://")):
                data, captured = base.archive.payload(url, self.max_bytes)
                origin = {"url": url, "final_url": url, "status": 200, "time": captured}
                origin["archive"] = str(base.archive.path)
                return Resolved(data=data, place=f"{base.archive.path}#{url}", origin=origin)
            base = base.folder
        url = web_url(src)
        if url is not None and self.fetcher is not None:
            found = self.fetcher.fetch(url)
            if found.file is None:
                raise ResolveError(found.message, reason=found.reason or "fetch-failed", ref=src)
            return Resolved(file=found.file, origin={**(found.origin or {}), "archive": None})
        if name == "file":
            path = Path(url2pathname(urlsplit(src).path))
        elif len(name) > 1 or src.startswith("//"):
            raise ResolveError(
                f"{src} is a remote URL; media-catalog downloads images only with --fetch",
                reason="remote",
                ref=src,
            )
        else:
            path = Path(src) if name else Path(unquote(urlsplit(src).path))
        return Resolved(file=self._local(base / path, src))

    @property
    def remote_settings(self) -> tuple[object, ...] | None:
        """What resolving beyond the local files depends on (fetching, its base URL, object
        prefixes), or None when nothing is resolved beyond them."""
        found: tuple[object, ...] = ()
        if self.fetcher is not None:
            found = (*self.fetcher.settings, self.base_url)
        if self.objects is not None:
            found = (*found, *self.objects.prefixes, self.objects.endpoint, self.objects.public)
        return found or None

    def candidates(self, ref: ImageRef) -> list[str]:
        """The references to try for `ref`, best first: its own (`ImageRef.candidates`), then,
        when fetching, its relative ones joined to the article's web URL (or `base_url`)."""
        found = ref.candidates()
        page = ref.article_url if ref.article_url and web_url(ref.article_url) else None
        page = page or self.base_url
        if self.fetcher is None or not page:
            return found
        joined = [urljoin(page, src) for src in found if src and not _SCHEME.match(src)]
        return found + [url for url in dict.fromkeys(joined) if url not in found]

    def prefetch(self, srcs: Iterable[str], base: Path | ArchivedPage) -> None:
        """Start fetching the web URLs among `srcs`, written in an article at `base` (when
        fetching, and not for a page in a web archive: its URLs resolve there); returns at
        once."""
        if self.fetcher is not None and not isinstance(base, ArchivedPage):
            self.fetcher.submit(url for src in srcs if (url := web_url(src)) is not None)

    def fetching(self, src: str, base: Path | ArchivedPage) -> bool:
        """Whether resolving `src`, written at `base`, would wait for a fetch under way."""
        if self.fetcher is None or isinstance(base, ArchivedPage):
            return False
        url = web_url(src)
        return url is not None and self.fetcher.in_flight(url)

    def _inside(self, path: Path) -> bool:
        return any(path == root or root in path.parents for root in self.roots)

    def _local(self, path: Path, src: str) -> Path:
        try:
            real = Path(os.path.realpath(path))
            inside = self._inside(real)
            exists = inside and real.is_file()
        except (OSError, ValueError) as exc:  # a NUL byte, a name too long for the file system
            raise ResolveError(
                f"{src[:200]} is no file name this system can open ({exc})",
                reason="bad-path",
                ref=src,
            ) from exc
        if not inside:
            raise ResolveError(
                f"{src} leads outside the scanned folders; "
                "add its folder with --assets to allow it",
                reason="outside-roots",
                ref=src,
            )
        if not exists and self.mirror is not None:  # an object a shard did not copy yet
            exists = self.mirror.fetch(real)
        if not exists:
            raise ResolveError(f"{path} does not exist", reason="missing", ref=src)
        return real

    def _asset(self, key: re.Match[str], src: str) -> Resolved:
        bucket, prefix, digest = key.group("bucket", "prefix", "digest")
        for folder in self.assets:
            for candidate in (folder / bucket / prefix / digest, folder / prefix / digest):
                if candidate.is_file():
                    return Resolved(file=self._local(candidate, src))
            named = self._names(folder).get(digest.lower())
            if named is not None:
                return Resolved(file=self._local(named, src))
        if self.objects is not None:
            found = self.objects.find([f"{bucket}/{prefix}/{digest}", f"{prefix}/{digest}"], src)
            if found is None:
                found = self.objects.find_public(f"s3://{bucket}/{prefix}/{digest}", src)
            if found is not None:
                return Resolved(file=found[0], origin=found[1])
        stores = self.objects.prefixes if self.objects is not None else []
        where = ", ".join([*map(str, self.assets), *stores]) or "no --assets folder was given"
        raise ResolveError(f"no asset file for key {src} ({where})", reason="no-asset", ref=src)

    def _names(self, folder: Path) -> dict[str, Path]:
        """Files directly in an asset folder by their name without extension, read once."""
        if folder not in self._asset_names:
            try:
                entries = sorted(p for p in folder.iterdir() if p.is_file())
            except OSError:
                entries = []
            names: dict[str, Path] = {}
            for entry in entries:
                names.setdefault(entry.name.split(".", 1)[0].lower(), entry)
            self._asset_names[folder] = names
        return self._asset_names[folder]


def file_size(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> int:
    """The size of an image file, refusing files over `max_bytes` or that cannot be stat'ed."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    if size > max_bytes:
        raise _too_large(path, size, max_bytes)
    return size


def read_bytes(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read an image file, refusing files over `max_bytes` before reading them (and reading
    no more than that if the file grows meanwhile)."""
    file_size(path, max_bytes)
    try:
        with path.open("rb") as file:
            data = file.read(max_bytes + 1)
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    if len(data) > max_bytes:
        raise _too_large(path, len(data), max_bytes)
    return data


def stored_bytes(sha256: str, paths: Iterable[str]) -> bytes | None:
    """The bytes of a catalogued image, from the first of `paths` (`ImageRecord.paths`) that
    still holds them, checked by SHA-256 (a file changed since never passes for it); None
    when none does."""
    for path in paths:
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                continue  # a FIFO or device put where the file was would block a read
            data = read_bytes(Path(path))
        except (OSError, ValueError, ResolveError):
            continue
        if hashlib.sha256(data).hexdigest() == sha256:
            return data
    return None


def _unreadable(path: Path, exc: OSError) -> ResolveError:
    return ResolveError(
        f"cannot read {path}: {exc.strerror or exc}", reason="unreadable", ref=str(path)
    )


def _too_large(path: Path, size: int, max_bytes: int) -> ResolveError:
    return ResolveError(
        f"{path} is {size:,} bytes, over the {max_bytes:,}-byte limit",
        reason="too-large",
        ref=str(path),
    )
