"""`scan --fetch`: images fetched from a real HTTP server on 127.0.0.1, started by the test."""

import gzip
import hashlib
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

from media_catalog.fetch import Fetcher, is_public

from .conftest import encode, photo

IMAGES = {f"/img/{k}.jpg": encode(photo(80 + k)) for k in range(3)}


class Site:
    """The server's base URL and what it was asked (path -> requests; headers seen)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.asked: Counter[str] = Counter()
        self.headers: list[dict[str, str]] = []


@pytest.fixture
def site():
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def send(self, status, body=b"", content_type="image/jpeg", headers=()):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            path = self.path
            served.asked[path] += 1
            served.headers.append(dict(self.headers))
            if path in IMAGES:
                self.send(200, IMAGES[path])
            elif path == "/lying.jpg":  # an image sent as HTML: judged by its bytes
                self.send(200, IMAGES["/img/0.jpg"], "text/html")
            elif path.startswith("/redirect/"):
                hops = int(path.rsplit("/", 1)[1])
                target = "/img/1.jpg" if hops == 0 else f"/redirect/{hops - 1}"
                self.send(302, headers=[("Location", target)])
            elif path == "/to-metadata":
                self.send(302, headers=[("Location", "http://169.254.169.254/latest/")])
            elif path == "/busy.jpg":  # 429 once, then the image
                if served.asked[path] == 1:
                    self.send(429, b"slow down", "text/plain", [("Retry-After", "1")])
                else:
                    self.send(200, IMAGES["/img/2.jpg"])
            elif path == "/slow.jpg":
                time.sleep(2)
                self.send(200, IMAGES["/img/0.jpg"])
            elif path == "/endless.jpg":
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.end_headers()
                try:
                    while True:
                        self.wfile.write(b"\xff" * 65536)
                except OSError:
                    pass
            elif path == "/gzipped.jpg":  # a bomb would be sent so: inflated unread
                self.send(200, gzip.compress(IMAGES["/img/0.jpg"]), headers=[gz])
            elif path == "/drip.jpg":  # a byte now and then, never a whole image
                self.send_response(200)
                self.send_header("Content-Length", "1000")
                self.end_headers()
                try:
                    for _ in range(40):
                        self.wfile.write(b"\xff")
                        self.wfile.flush()
                        time.sleep(0.2)
                except OSError:
                    pass
            elif path == "/etag.jpg":
                if self.headers.get("If-None-Match") == '"v1"':
                    self.send(304, headers=[("ETag", '"v1"')])
                else:
                    self.send(200, IMAGES["/img/0.jpg"], headers=[("ETag", '"v1"')])
            else:
                self.send(404, b"not here", "text/plain")

    gz = ("Content-Encoding", "gzip")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served = Site(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served
    server.shutdown()
    server.server_close()


def fetcher(tmp_path, **options) -> Fetcher:
    return Fetcher(tmp_path / "cache", allowed=["127.0.0.1"], **options)


def test_each_outcome_of_a_fetch(site, tmp_path):
    fetch = fetcher(tmp_path, max_bytes=1 << 20, timeout=0.5, retries=1, max_wait=2)
    paths = ["/img/0.jpg", "/lying.jpg", "/redirect/3", "/redirect/9", "/404", "/busy.jpg"]
    paths += ["/slow.jpg", "/endless.jpg", "/to-metadata"]
    fetch.fetch_all(site.url + path for path in paths)
    found = {path: fetch.done[site.url + path] for path in paths}
    got = {path: f.file.read_bytes() for path, f in found.items() if f.file is not None}
    assert got == {
        "/img/0.jpg": IMAGES["/img/0.jpg"],
        "/lying.jpg": IMAGES["/img/0.jpg"],
        "/redirect/3": IMAGES["/img/1.jpg"],
        "/busy.jpg": IMAGES["/img/2.jpg"],  # after the Retry-After second
    }
    assert {path: f.reason for path, f in found.items() if f.file is None} == {
        "/redirect/9": "too-many-redirects",
        "/404": "http-404",
        "/slow.jpg": "timeout",
        "/endless.jpg": "too-large",
        "/to-metadata": "refused-private",  # checked again at the redirect
    }
    assert site.asked["/busy.jpg"] == 2 and site.asked["/slow.jpg"] == 2  # retried once
    assert all(h["Accept-Encoding"] == "identity" for h in site.headers)
    assert all(h["User-Agent"].startswith("media-catalog/") for h in site.headers)
    fetch.close()


def test_a_cached_image_is_never_downloaded_again_and_refresh_revalidates(site, tmp_path):
    url = site.url + "/etag.jpg"
    first = fetcher(tmp_path)
    assert first.fetch(url).file.read_bytes() == IMAGES["/img/0.jpg"]
    again = fetcher(tmp_path)  # another scan: the cache on disk
    assert again.fetch(url).file is not None and site.asked["/etag.jpg"] == 1
    refreshed = fetcher(tmp_path, refresh=True)
    assert refreshed.fetch(url).file.read_bytes() == IMAGES["/img/0.jpg"]
    assert site.asked["/etag.jpg"] == 2 and site.headers[-1]["If-None-Match"] == '"v1"'
    # fetched from a private address: a scan that allows none is not served the copy
    assert Fetcher(tmp_path / "cache").fetch(url).reason == "refused-private"


@pytest.mark.parametrize(
    "address",
    [
        *("127.0.0.1", "10.0.0.1", "192.168.1.1", "172.16.0.1", "169.254.169.254", "100.64.0.1"),
        *("0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "ff02::1"),
        # IPv6 carrying a private IPv4 address: NAT64, 6to4, IPv4-compatible, -translated
        *("64:ff9b::a00:1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::", "::7f00:1"),
        *("::ffff:0:7f00:1", "fec0::1"),
    ],
)
def test_addresses_that_are_not_public_are_refused(address):
    assert not is_public(address)


def test_public_addresses_are_allowed():
    assert is_public("93.184.215.14") and is_public("2606:2800:21f:cb07:6820:80da:af6b:8b2c")


def test_without_allow_private_no_request_reaches_a_private_address(site, tmp_path):
    fetch = Fetcher(tmp_path / "cache")
    # the server's address, in the spellings a page may use for it
    port = site.url.rsplit(":", 1)[1]
    urls = [site.url + "/img/0.jpg", f"http://2130706433:{port}/img/0.jpg"]
    urls += [f"http://0177.0.0.1:{port}/img/0.jpg", f"http://[::ffff:127.0.0.1]:{port}/img/0.jpg"]
    urls += [f"http://localhost:{port}/img/0.jpg"]
    fetch.fetch_all(urls)
    reasons = {url: fetch.done[url].reason for url in urls}
    # (httpx takes no octal address: that one fails before any connection)
    assert reasons.pop(f"http://0177.0.0.1:{port}/img/0.jpg") == "fetch-failed"
    assert set(reasons.values()) == {"refused-private"}
    assert site.asked == Counter()


def test_scan_fetch_catalogues_the_images_of_saved_pages(site, cli, tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "a.html").write_text(
        f'<img src="{site.url}/img/0.jpg" alt="zero"><img src="{site.url}/img/1.jpg">'
        f'<img src="{site.url}/404" alt="gone">'
    )
    (pages / "b.html").write_text(f'<img src="{site.url}/img/0.jpg" alt="again">')
    assert cli("scan", pages, "-q").exit_code == 0  # without --fetch: nothing is asked
    assert site.asked == Counter()
    result = cli("scan", pages, "--fetch", "-q")
    assert result.exit_code == 0, result.output
    assert site.asked == Counter()  # --fetch alone: 127.0.0.1 is not public, nothing is asked
    result = cli("scan", pages, "--fetch", "--allow-private", "-q", "-f", "json")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["fetched"] == {"fetched": 2, "http-404": 1}
    found = orjson.loads(cli("search", "-f", "json", "").stdout)["results"]
    digest = {path: hashlib.sha256(data).hexdigest() for path, data in IMAGES.items()}
    cache = f"{tmp_path / cli.db}.cache/"  # the bytes' file: in the cache beside the catalogue
    rows = [(r["alt"], r["src"], r["sha256"], r["reason"]) for r in found]
    assert sorted(rows, key=str) == sorted(
        [
            ("zero", f"{site.url}/img/0.jpg", digest["/img/0.jpg"], None),
            (None, f"{site.url}/img/1.jpg", digest["/img/1.jpg"], None),
            ("gone", f"{site.url}/404", None, "http-404"),
            ("again", f"{site.url}/img/0.jpg", digest["/img/0.jpg"], None),
        ],
        key=str,
    )
    assert all(r["file"].startswith(cache) for r in found if r["sha256"])
    origin = next(r["origin"] for r in found if r["alt"] == "zero")
    assert origin.keys() == {"url", "final_url", "status", "time", "archive"}
    assert (origin["url"], origin["final_url"], origin["status"], origin["archive"]) == (
        f"{site.url}/img/0.jpg",
        f"{site.url}/img/0.jpg",
        200,
        None,
    )
    assert origin["time"].endswith("Z")
    assert site.asked["/img/0.jpg"] == 1  # two pages, one download
    for page in pages.iterdir():  # read again: from the cache
        page.write_text(page.read_text() + " ")
    result = cli("scan", pages, "--fetch", "--allow-private", "-q")
    assert result.exit_code == 0 and "fetched: cached" in result.stdout
    assert site.asked["/img/0.jpg"] == 1 and site.asked["/img/1.jpg"] == 1


def test_relative_references_are_fetched_against_the_article_s_url(site, cli, tmp_path):
    # a saved page with its canonical URL, and one with none (--base-url); a local copy of an
    # image is still taken first
    pages = tmp_path / "pages"
    (pages / "img").mkdir(parents=True)
    (pages / "img" / "2.jpg").write_bytes(IMAGES["/img/2.jpg"])
    (pages / "a.html").write_text(
        f'<link rel="canonical" href="{site.url}/news/a.html">'
        '<img src="../img/0.jpg" alt="up"><img src="/img/1.jpg" alt="root">'
        '<img src="img/2.jpg" alt="local">'
    )
    (pages / "b.html").write_text('<img src="img/1.jpg" alt="no url">')
    args = ("--fetch", "--allow-private", "-q", "--base-url", f"{site.url}/")
    assert cli("scan", pages, *args).exit_code == 0
    found = orjson.loads(cli("search", "-f", "json", "").stdout)["results"]
    digest = {path: hashlib.sha256(data).hexdigest() for path, data in IMAGES.items()}
    assert {r["alt"]: r["sha256"] for r in found} == {
        "up": digest["/img/0.jpg"],
        "root": digest["/img/1.jpg"],
        "local": digest["/img/2.jpg"],
        "no url": digest["/img/1.jpg"],
    }
    assert "/img/2.jpg" not in site.asked


def test_a_compressed_a_dripping_or_a_malformed_answer_is_that_url_s_failure(site, tmp_path):
    fetch = fetcher(tmp_path, timeout=2, max_seconds=1, retries=0)
    urls = [site.url + "/gzipped.jpg", site.url + "/drip.jpg", site.url + "/img/1.jpg"]
    urls += ["http://xn--/a.jpg", "http://[::1/a.jpg", "http://\udc80.example/a.jpg"]
    started = time.monotonic()
    fetch.fetch_all(urls)
    assert time.monotonic() - started < 10  # the drip is cut at max_seconds
    assert [fetch.done[url].reason for url in urls] == [
        "fetch-failed",  # compressed though asked not to be: never inflated
        "timeout",
        None,
        *["fetch-failed"] * 3,
    ]


def test_a_page_in_a_web_archive_never_fetches_even_with_fetch(site, cli, tmp_path):
    # the page's images are on the (reachable) server and in the archive: read from the
    # archive, and the server is never asked
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with (tmp_path / "crawl.warc.gz").open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for url, body, kind in [
            (f"{site.url}/page.html", f'<img src="{site.url}/img/0.jpg">'.encode(), "text/html"),
            (f"{site.url}/img/0.jpg", IMAGES["/img/0.jpg"], "image/jpeg"),
        ]:
            headers = StatusAndHeaders("200 OK", [("Content-Type", kind)], "HTTP/1.1")
            writer.write_record(
                writer.create_warc_record(
                    url, "response", payload=io.BytesIO(body), http_headers=headers
                )
            )
    result = cli("scan", tmp_path / "crawl.warc.gz", "--fetch", "--allow-private", "-q")
    assert result.exit_code == 0, result.output
    (found,) = orjson.loads(cli("search", "-f", "json", "").stdout)["results"]
    assert found["sha256"] == hashlib.sha256(IMAGES["/img/0.jpg"]).hexdigest()
    assert site.asked == Counter()


def test_the_fetcher_reports_each_url_asked_and_ended(site, tmp_path):
    seen = []
    lock = threading.Lock()

    def progress(done, total):
        with lock:
            seen.append((done, total))

    fetch = fetcher(tmp_path, progress=progress)
    urls = [f"{site.url}/img/{k}.jpg" for k in range(3)] + [f"{site.url}/404"]
    fetch.fetch_all(urls + urls[:1])  # a URL asked twice is counted once
    fetch.fetch(f"{site.url}/img/0.jpg")  # done before: not asked again
    fetch.close()
    assert seen[-1] == (4, 4) and all(done <= total for done, total in seen)
    assert seen == sorted(seen)  # told in order: neither count ever goes back
    # each report tells one URL asked or one ended: an ask after an end repeats `done`
    steps = [(b[0] - a[0], b[1] - a[1]) for a, b in zip([(0, 0), *seen], seen, strict=False)]
    assert sorted(steps) == [(0, 1)] * 4 + [(1, 0)] * 4


def test_scan_fetch_limits_size_and_downloads_at_once_and_shows_a_bar(
    site, cli, tmp_path, monkeypatch
):
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "a.html").write_text("".join(f'<img src="{site.url}/img/{k}.jpg">' for k in range(3)))
    size = min(len(data) for data in IMAGES.values()) - 1  # every image is over it
    args = ("scan", pages, "--fetch", "--allow-private", "--concurrency", "2", "--per-host", "1")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: treat stderr as a terminal
    result = cli(*args, "--max-bytes", str(size), "-f", "json")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["fetched"] == {"too-large": 3}
    assert "fetching" in result.stderr and "images/s" in result.stderr
    assert "3/3" in result.stderr and "files/s" in result.stderr  # beside the scan's own
    found = orjson.loads(cli("search", "-f", "json", "unresolved:yes").stdout)["results"]
    assert {r["reason"] for r in found} == {"too-large"}
    assert cli("scan", pages, "--fetch", "--concurrency", "0").exit_code == 2
    assert cli("scan", pages, "--fetch", "--allow-private", "-q").exit_code == 0
    assert sum(site.asked.values()) == 6  # the three again, whole this time: not cached
