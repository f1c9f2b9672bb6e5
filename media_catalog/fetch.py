"""The web, when the user asks (`scan --fetch`): image URLs fetched with httpx into a cache.

Articles are untrusted, so every connection (redirects included) is made to an address checked
first: the host name is resolved once, and if any of its addresses is not a public one
(loopback, private, shared, link-local such as the cloud metadata service 169.254.169.254,
multicast, reserved, unspecified; IPv4-mapped IPv6 is read as its IPv4 address), the request
is refused, unless `allow_private`; otherwise the checked address is the one connected to,
so no second lookup can lead elsewhere. Responses are read as streams up to `max_bytes`,
redirects followed up to MAX_REDIRECTS, 429 and 5xx retried with back-off (honouring
`Retry-After`, up to `max_wait` seconds). Bytes are kept in an on-disk cache keyed by URL, so
a re-scan never downloads twice; `refresh` asks the server again, with the `ETag` and
`Last-Modified` it gave.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import secrets
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import certifi
import httpcore
import httpx
import orjson

from . import __version__
from .models import MAX_FETCH_BYTES, byte_limit

MAX_REDIRECTS = 5
USER_AGENT = f"media-catalog/{__version__} (catalogues the images articles embed)"
_RETRIED = frozenset((429, 500, 502, 503, 504))


class RefusedAddress(Exception):
    """A connection to an address that is not public, not allowed."""


# IPv6 ranges that carry an IPv4 address in their last 32 bits (NAT64, IPv4-compatible,
# IPv4-translated): judged as that address.
_EMBEDDING = tuple(
    ipaddress.IPv6Network(net)
    for net in ("64:ff9b::/96", "64:ff9b:1::/48", "::/96", "::ffff:0:0:0/96")
)


def is_public(address: str) -> bool:
    """Whether an IP address is one on the public Internet. An IPv6 address carrying an IPv4
    one (mapped, NAT64, 6to4, Teredo, IPv4-compatible or -translated) is judged by that one
    too; site-local IPv6 is not public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local:
            return False
        embedded = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
        if any(ip in network for network in _EMBEDDING):
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if any(v4 is not None and not is_public(str(v4)) for v4 in embedded):
            return False
    return ip.is_global and not ip.is_multicast


class _GuardedBackend(httpcore.SyncBackend):
    """Connects only to public addresses and those `allowed` (any, with `allow_private`),
    the very ones it checked."""

    def __init__(self, allow_private: bool, allowed: frozenset[str]) -> None:
        self.allow_private = allow_private
        self.allowed = allowed

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = [info[4][0] for info in found]
        if not self.allow_private:
            for address in addresses:
                if address not in self.allowed and not is_public(address):
                    raise RefusedAddress(f"{host} is at {address}, which is not public")
        failure: Exception | None = None
        for address in dict.fromkeys(addresses):  # (in the resolver's order, as browsers)
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None  # getaddrinfo returns at least one address
        raise failure


def _client(
    allow_private: bool, allowed: frozenset[str], timeout: float, connections: int
) -> httpx.Client:
    transport = httpx.HTTPTransport()
    # (httpx takes no network backend: its transport's pool is replaced by one that has it)
    transport._pool = httpcore.ConnectionPool(
        ssl_context=ssl.create_default_context(cafile=certifi.where()),
        max_connections=connections,
        network_backend=_GuardedBackend(allow_private, allowed),
    )
    return httpx.Client(
        transport=transport,
        timeout=timeout,
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        # the bytes as stored: a compressed body would be inflated before its size is seen
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
        trust_env=False,  # a proxy would connect for us, past the address check
    )


@dataclass(frozen=True)
class Fetched:
    """What fetching one URL gave: the cached file of its bytes, or why there is none
    (`reason`: `http-404`…, `timeout`, `too-large`, `refused-private`, `fetch-failed`)."""

    url: str
    file: Path | None = None
    reason: str | None = None
    message: str = ""
    cached: bool = False  # the file was in the cache (revalidated, with `refresh`)
    origin: dict[str, Any] | None = None  # url, final_url, status, time (fetched)

    @property
    def outcome(self) -> str:
        """ "fetched", "cached", or the reason it failed."""
        return self.reason or ("cached" if self.cached else "fetched")


class Fetcher:
    """Fetches URLs into `cache` (a folder, made when needed), `concurrency` at a time and
    `per_host` at a time to one host; from public addresses, those in `allowed`, or any with
    `allow_private`. A response must start within `timeout` seconds and end within
    `max_seconds`. `progress(done, total)` is called (from the fetching threads) whenever a
    URL is asked for or its fetch ends."""

    def __init__(
        self,
        cache: Path,
        *,
        allow_private: bool = False,
        allowed: Iterable[str] = (),
        refresh: bool = False,
        max_bytes: int = MAX_FETCH_BYTES,
        concurrency: int = 32,
        per_host: int = 4,
        timeout: float = 20.0,
        max_seconds: float = 120.0,
        retries: int = 3,
        max_wait: float = 30.0,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.cache = cache.absolute()
        self.refresh = refresh
        self.max_bytes = max_bytes
        self.concurrency = concurrency
        self.per_host = per_host
        self.retries = retries
        self.max_wait = max_wait
        self.max_seconds = max_seconds
        self._client = _client(allow_private, frozenset(allowed), timeout, concurrency)
        self.private_ok = allow_private or bool(allowed)
        # what a scan compares to know whether an article's references would resolve alike
        self.settings = ("fetch", allow_private, tuple(sorted(allowed)), max_bytes)
        self._hosts: dict[str, threading.Semaphore] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(concurrency)
        self._futures: dict[str, Future[Fetched]] = {}
        self.done: dict[str, Fetched] = {}
        self.progress = progress
        self._asked = self._ended = 0

    def close(self) -> None:
        """Stop: fetches not begun are cancelled."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def submit(self, urls: Iterable[str]) -> None:
        """Start fetching every URL not fetched or started yet; returns at once."""
        for url in urls:
            if url not in self.done and url not in self._futures:
                self._count(asked=1)  # (before it may end)
                self._futures[url] = self._pool.submit(self._counted, url)

    def in_flight(self, url: str) -> bool:
        """Whether `url` was submitted and is not yet taken by `fetch`."""
        return url in self._futures

    def fetch_all(self, urls: Iterable[str]) -> None:
        """Fetch every URL not fetched yet by this Fetcher, concurrently (into `done`)."""
        urls = list(urls)
        self.submit(urls)
        for url in urls:
            self.fetch(url)

    def outcomes(self) -> dict[str, int]:
        """How many URLs this Fetcher fetched, found cached, or failed on, by reason."""
        return dict(sorted(Counter(found.outcome for found in self.done.values()).items()))

    def fetch(self, url: str) -> Fetched:
        """What fetching `url` gave: waited for when submitted, fetched now when neither
        submitted nor done before."""
        if url not in self.done:
            future = self._futures.pop(url, None)
            if future is None:
                self._count(asked=1)
            self.done[url] = future.result() if future is not None else self._counted(url)
        return self.done[url]

    def _count(self, asked: int = 0, ended: int = 0) -> None:
        with self._lock:  # (told in order: the counts never go back)
            self._asked += asked
            self._ended += ended
            if self.progress is not None:
                self.progress(self._ended, self._asked)

    def _counted(self, url: str) -> Fetched:
        try:
            return self._fetch(url)
        finally:
            self._count(ended=1)

    def _entry(self, url: str) -> Path:
        digest = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()
        return self.cache / digest[:2] / digest

    def _host(self, url: str) -> threading.Semaphore:
        host = urlsplit(url).hostname or ""
        with self._lock:
            return self._hosts.setdefault(host, threading.Semaphore(self.per_host))

    def _fetch(self, url: str) -> Fetched:
        entry = self._entry(url)
        meta_path = entry.with_name(entry.name + ".json")
        meta = _read_meta(meta_path) if entry.exists() else None
        if meta is not None and meta.get("private_ok") and not self.private_ok:
            meta = None  # fetched when private addresses were allowed: not now, so again
        if meta is not None and not self.refresh:
            return Fetched(url, entry, cached=True, origin=_origin(meta))
        headers = {}
        if meta is not None:  # revalidate what the server said of it
            if meta.get("etag"):
                headers["If-None-Match"] = meta["etag"]
            if meta.get("last_modified"):
                headers["If-Modified-Since"] = meta["last_modified"]
        for attempt in range(self.retries + 1):
            wait = 0.0
            try:
                with self._host(url), self._client.stream("GET", url, headers=headers) as reply:
                    if reply.status_code == 304 and meta is not None:
                        return Fetched(url, entry, cached=True, origin=_origin(meta))
                    if reply.status_code in _RETRIED and attempt < self.retries:
                        wait = _retry_after(reply.headers.get("Retry-After"), attempt)
                    elif reply.status_code >= 400:
                        message = f"{url}: the server answered HTTP {reply.status_code}"
                        return Fetched(url, reason=f"http-{reply.status_code}", message=message)
                    else:
                        return self._keep(url, reply, entry, meta_path)
            except RefusedAddress as exc:
                message = f"{url} was not fetched: {exc} (allow it with --allow-private)"
                return Fetched(url, reason="refused-private", message=message)
            except httpx.TimeoutException:
                if attempt < self.retries:
                    continue
                return Fetched(url, reason="timeout", message=f"{url}: no answer in time")
            except httpx.TooManyRedirects:
                message = f"{url}: over {MAX_REDIRECTS} redirects"
                return Fetched(url, reason="too-many-redirects", message=message)
            except Exception as exc:  # any other failure is this URL's (a URL httpx refuses)
                return Fetched(url, reason="fetch-failed", message=f"{url}: {exc}")
            time.sleep(min(wait, self.max_wait))  # (the host's slot is free meanwhile)
        raise AssertionError("unreachable")  # the last attempt returns

    def _keep(self, url: str, reply: httpx.Response, entry: Path, meta_path: Path) -> Fetched:
        """Stream the body into the cache (renamed into place when whole), as it was sent
        (a compressed one is refused), within `max_bytes` and `max_seconds`."""
        encoding = reply.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            message = f"{url}: sent compressed ({encoding}) though asked not to; not read"
            return Fetched(url, reason="fetch-failed", message=message)
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_name(f".{entry.name}.{secrets.token_hex(4)}.tmp")
        size, deadline = 0, time.monotonic() + self.max_seconds
        try:
            with tmp.open("wb") as handle:
                for chunk in reply.iter_raw():
                    size += len(chunk)
                    if size > self.max_bytes:
                        limit = byte_limit(self.max_bytes)
                        message = f"{url} is over the {limit} limit (--max-bytes)"
                        return Fetched(url, reason="too-large", message=message)
                    if time.monotonic() > deadline:
                        message = f"{url}: not received in {self.max_seconds:g} s"
                        return Fetched(url, reason="timeout", message=message)
                    handle.write(chunk)
            meta = {
                "url": url,
                "final_url": str(reply.url),
                "status": reply.status_code,
                "etag": reply.headers.get("ETag"),
                "last_modified": reply.headers.get("Last-Modified"),
                "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "private_ok": self.private_ok,  # (then not served to a scan without)
            }
            meta_path.write_bytes(orjson.dumps(meta))
            os.replace(tmp, entry)
        finally:
            tmp.unlink(missing_ok=True)
        return Fetched(url, entry, origin=_origin(meta))


def _origin(meta: dict[str, Any]) -> dict[str, Any]:
    """What an occurrence records of a fetch (Occurrence.origin)."""
    return {
        "url": meta.get("url"),
        "final_url": meta.get("final_url"),
        "status": meta.get("status"),
        "time": meta.get("fetched"),
    }


def _read_meta(path: Path) -> dict[str, Any] | None:
    try:
        meta = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return meta if isinstance(meta, dict) else None


def _retry_after(value: str | None, attempt: int) -> float:
    """Seconds to wait before retrying: the server's `Retry-After` (seconds or a date), else
    0.5, 1, 2… seconds."""
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    return 0.5 * 2**attempt
