"""`media-catalog serve`: the catalogue as a local, read-only web site (Starlette, Jinja2).

Pages: search (the query language), an image with every place it was used and its history,
duplicate clusters with thumbnails, the audit by article. Nothing is ever written to the
catalogue; thumbnails are made from the catalogued files on demand (checked to still hold the
image's bytes) and cached in `DB.cache/thumbnails/`. Every page is escaped by Jinja2, sent
with a strict Content-Security-Policy (its own style sheet and key script, images from itself,
nothing else), and answered only for the host names it was started on, so that a web page
elsewhere cannot read it through DNS rebinding. It opens the catalogue read-only: nothing,
not even the duplicate counts other commands keep, is written to it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..atomic import write_whole
from ..audit import audit
from ..errors import MediaCatalogError, QueryError
from ..models import DEFAULT_THRESHOLD
from ..query import search_page, show, stats
from ..reports import thumbnail_jpeg
from ..similarity import DuplicateReport, duplicate_report
from ..store import Store, open_store

PAGE = 50  # search results, or duplicate clusters, per page
THUMBNAIL = 240  # px, longer side
CSP = (
    "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
NO_PREVIEW = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="160" height="48">'
    '<rect width="100%" height="100%" fill="#eee"/>'
    '<text x="80" y="29" text-anchor="middle" font-family="sans-serif" font-size="13" '
    'fill="#666">no preview</text></svg>'
)


class _Catalogue:
    """The catalogue, opened read-only at the first request (in the server's thread) and
    again once another process saved it (a scan meanwhile), with the duplicate report of
    that state."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._store: Store | None = None
        self._report: DuplicateReport | None = None

    def store(self) -> Store:
        if self._store is None or self._store.changed():
            self._store = open_store(self.path, create=False, read_only=True)
            self._report = None
        return self._store

    def report(self) -> DuplicateReport:
        store = self.store()
        if self._report is None:
            self._report = duplicate_report(store, DEFAULT_THRESHOLD)
        return self._report


def make_app(db: Path, hosts: list[str] | None = None) -> Starlette:
    """The web site of the catalogue at `db`, answering requests addressed to `hosts`
    (127.0.0.1, localhost and [::1] by default; "*": any)."""
    allowed = set(hosts or ("127.0.0.1", "localhost", "[::1]"))
    catalogue = _Catalogue(db)
    cache = db.with_name(db.name + ".cache") / "thumbnails"
    templates = Environment(
        loader=PackageLoader("media_catalog.serve"), autoescape=select_autoescape(default=True)
    )

    def render(name: str, status: int = 200, **values: Any) -> HTMLResponse:
        values.setdefault("q", "")
        html = templates.get_template(name).render(db=db.name, **values)
        return HTMLResponse(html, status_code=status)

    def page(handler: Callable[[Request], Response]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:  # one thread: the store's
            try:
                return handler(request)
            except QueryError as exc:
                return render("error.html", 404, message=str(exc))
            except MediaCatalogError as exc:
                return render("error.html", 500, message=str(exc))

        return endpoint

    def search(request: Request) -> Response:
        query = request.query_params.get("q", "").strip()
        if not query:
            return render("home.html", counts=stats(catalogue.store()))
        number = _number(request)
        try:
            total, found = search_page(catalogue.store(), query, number * PAGE)
        except QueryError as exc:
            return render("search.html", 400, q=query, problem=str(exc), results=[], total=0)
        results = found[(number - 1) * PAGE :]
        more = total > number * PAGE
        return render("search.html", q=query, results=results, total=total, page=number, more=more)

    def image(request: Request) -> Response:
        shown = show(catalogue.store(), request.path_params["sha256"])
        sha256 = shown["image"]["sha256"]
        cluster = next(
            (n for n, plan in enumerate(catalogue.report().plans) if sha256 in plan.sha256s), None
        )
        return render("image.html", shown=shown, cluster=cluster)

    def dupes(request: Request) -> Response:
        report = catalogue.report()
        number = _number(request)
        start = (number - 1) * PAGE
        clusters = _clusters(report, start, start + PAGE)
        more = len(report.plans) > start + PAGE
        total = len(report.plans)
        return render("dupes.html", clusters=clusters, total=total, page=number, more=more)

    def cluster(request: Request) -> Response:
        report = catalogue.report()
        number = int(request.path_params["number"])
        if not 0 <= number < len(report.plans):
            raise QueryError(f"there is no duplicate cluster {number + 1}")
        ((_, found),) = _clusters(report, number, number + 1)
        return render("cluster.html", cluster=found, number=number)

    def audit_page(request: Request) -> Response:
        report = audit(catalogue.store())
        by_article: dict[str, list[Any]] = {}
        for finding in report.findings:
            by_article.setdefault(finding.article, []).append(finding)
        articles = [(a, by_article.get(a["article"], [])) for a in report.articles]
        return render("audit.html", articles=articles, summary=report.summary())

    def thumb(request: Request) -> Response:
        sha256 = request.path_params["sha256"]
        store = catalogue.store()
        if not _SHA256.match(sha256) or not store.sha256s_with_prefix(sha256):
            return Response(status_code=404)  # (nor a cached one of an image since pruned)
        entry = cache / sha256[:2] / f"{sha256}.jpg"
        if not entry.is_file():
            (found,) = store.image_objects([sha256])
            jpeg = thumbnail_jpeg(found, THUMBNAIL)
            if jpeg is None:  # bytes from a data URI, or no file of them left
                return Response(NO_PREVIEW, media_type="image/svg+xml")
            _cache(entry, jpeg)
        else:
            jpeg = entry.read_bytes()
        headers = {"Cache-Control": "private, max-age=86400"}
        return Response(jpeg, media_type="image/jpeg", headers=headers)

    async def secure(request: Request, call_next: Callable[[Request], Any]) -> Response:
        if "*" not in allowed and _host(request.headers.get("host", "")) not in allowed:
            # a page elsewhere reaching it through DNS rebinding names its own host
            response: Response = Response("Invalid host header", status_code=400)
        else:
            response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        # no other site's page may load a thumbnail to learn whether a photo is catalogued
        response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        return response

    static = StaticFiles(packages=[("media_catalog.serve", "static")])
    return Starlette(
        routes=[
            Route("/", page(search)),
            Route("/image/{sha256}", page(image)),
            Route("/dupes", page(dupes)),
            Route("/cluster/{number:int}", page(cluster)),
            Route("/audit", page(audit_page)),
            Route("/thumb/{sha256}.jpg", page(thumb)),
            Route("/favicon.ico", lambda request: Response(status_code=204)),
            Mount("/static", static),
        ],
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=secure)],
    )


def _number(request: Request) -> int:
    """The page number asked for (1 when absent or not a number)."""
    value = request.query_params.get("page", "1")
    return max(1, int(value)) if value.isascii() and value.isdigit() and len(value) < 7 else 1


def _host(header: str) -> str:
    """The host a Host header names, without its port (`[::1]:8765` → `[::1]`)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[: header.find("]") + 1]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _cache(entry: Path, jpeg: bytes) -> None:
    """Keep a thumbnail (renamed into place when whole); a folder it cannot be written to
    only means it is made again next time."""
    with contextlib.suppress(OSError):
        write_whole(entry, jpeg)


def _clusters(report: DuplicateReport, start: int, stop: int) -> list[tuple[int, Any]]:
    """(number, cluster as JSON) of the report's clusters start..stop."""
    part = DuplicateReport(report.catalog, report.threshold, report.plans[start:stop], {})
    return [(start + n, cluster.to_dict()) for n, cluster in enumerate(part.iter_clusters())]
