"""Web archives: pages are articles, their images resolve in the same archive, no network."""

import hashlib
import io
from pathlib import Path

import orjson
import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from media_catalog import open_store, scan

from .conftest import encode, photo

SITE = "https://news.example/2024/"
PAGES = {
    "fire.html": """<html><head><title>Market fire</title></head><body><p>Stalls burned.</p>
    <figure><img src="img/fire.jpg" alt="The fire"><figcaption>Smoke at dawn.</figcaption>
    </figure><img src="https://cdn.example/photos/crowd.jpg" alt="Crowd">
    <img src="img/gone.jpg" alt="Never archived"></body></html>""",
    "later.html": """<html><body><p>A year on.</p><img src="/2024/img/fire-again.jpg"
    alt="The same fire"><img src="img/error.jpg" alt="An error page"></body></html>""",
}
IMAGES = {
    f"{SITE}img/fire.jpg": encode(photo(70)),
    "https://cdn.example/photos/crowd.jpg": encode(photo(71), "PNG"),
}


def write_archive(path: Path, *, gzip: bool = True) -> None:
    """The two pages, their images, a revisit of the fire photo under another URL, an error
    page for one image, and a record that is no response (a request)."""
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=gzip)

        def response(url: str, body: bytes, content_type: str, status: str = "200 OK") -> None:
            headers = StatusAndHeaders(status, [("Content-Type", content_type)], "HTTP/1.1")
            record = writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=headers
            )
            writer.write_record(record)

        writer.write_record(writer.create_warc_record(f"{SITE}fire.html", "request"))
        for name, page in PAGES.items():
            response(f"{SITE}{name}", page.encode(), "text/html; charset=utf-8")
        for url, data in IMAGES.items():
            response(url, data, "application/octet-stream")  # judged by its bytes
        headers = StatusAndHeaders("200 OK", [("Content-Type", "image/jpeg")], "HTTP/1.1")
        writer.write_record(
            writer.create_revisit_record(
                f"{SITE}img/fire-again.jpg",
                "sha1:AAAA",
                f"{SITE}img/fire.jpg",
                "2024-03-12T06:00:00Z",
                http_headers=headers,
            )
        )
        response(f"{SITE}img/error.jpg", b"<h1>Not found</h1>", "text/html", "404 Not Found")


def places(db: Path) -> list[tuple]:
    catalog = open_store(db)
    return sorted(
        (
            o.article.rsplit("#", 1)[-1],
            o.alt,
            o.caption,
            o.sha256,
            o.file.rsplit("#", 1)[-1] if o.file else None,
            o.reason,
            o.article_url,
        )
        for o in catalog.occurrences()
    )


@pytest.mark.parametrize("gzip", [True, False])
def test_pages_in_an_archive_resolve_their_images_in_it(tmp_path, gzip):
    archive = tmp_path / ("crawl.warc.gz" if gzip else "crawl.warc")
    write_archive(archive, gzip=gzip)
    summary = scan([archive], open_store(tmp_path / "c.json"), workers=1)
    assert (summary.articles, summary.occurrences, summary.unique_images) == (2, 5, 2)
    fire = hashlib.sha256(IMAGES[f"{SITE}img/fire.jpg"]).hexdigest()
    crowd = hashlib.sha256(IMAGES["https://cdn.example/photos/crowd.jpg"]).hexdigest()
    fire_page, later_page = f"{SITE}fire.html", f"{SITE}later.html"
    assert places(tmp_path / "c.json") == sorted(
        [
            (fire_page, "The fire", "Smoke at dawn.", fire, f"{SITE}img/fire.jpg", None, fire_page),
            (
                fire_page,
                "Crowd",
                None,
                crowd,
                "https://cdn.example/photos/crowd.jpg",
                None,
                fire_page,
            ),
            (fire_page, "Never archived", None, None, None, "not-archived", fire_page),
            # a revisit stands for the response it refers to
            (
                later_page,
                "The same fire",
                None,
                fire,
                f"{SITE}img/fire-again.jpg",
                None,
                later_page,
            ),
            (later_page, "An error page", None, None, None, "not-archived", later_page),
        ]
    )
    occurrence = next(iter(open_store(tmp_path / "c.json").occurrences()))
    assert occurrence.article.startswith(f"{archive}#https://")
    assert occurrence.file is None or occurrence.file.startswith(f"{archive}#https://")
    crowd_origin = next(
        o.origin for o in open_store(tmp_path / "c.json").occurrences() if o.alt == "Crowd"
    )
    assert (
        crowd_origin["url"] == crowd_origin["final_url"] == "https://cdn.example/photos/crowd.jpg"
    )
    assert crowd_origin["archive"] == str(archive) and crowd_origin["status"] == 200
    assert crowd_origin["time"].endswith("Z")  # the capture time (WARC-Date)


def test_an_archive_gives_the_catalogue_the_same_pages_saved_as_files_give(tmp_path):
    # the same pages and images as files on disk (relative paths): the same images and
    # texts, only their places named differently
    site = tmp_path / "site" / "2024"
    (site / "img").mkdir(parents=True)
    for name, page in PAGES.items():
        (site / name).write_text(page.replace("https://cdn.example/photos/", "img/"))
    (site / "img" / "fire.jpg").write_bytes(IMAGES[f"{SITE}img/fire.jpg"])
    (site / "img" / "crowd.jpg").write_bytes(IMAGES["https://cdn.example/photos/crowd.jpg"])
    scan([tmp_path / "site"], open_store(tmp_path / "files.json"), workers=1)
    write_archive(tmp_path / "crawl.warc.gz")
    scan([tmp_path / "crawl.warc.gz"], open_store(tmp_path / "warc.json"), workers=1)

    def images(db: Path) -> list:
        return sorted((i.sha256, i.phash, i.width) for i in open_store(db).image_objects())

    def texts(db: Path) -> list:
        return sorted((o.alt, o.caption, o.sha256) for o in open_store(db).occurrences())

    assert images(tmp_path / "warc.json") == images(tmp_path / "files.json")
    with_files = [t for t in texts(tmp_path / "files.json") if t[0] != "The same fire"]
    assert [t for t in texts(tmp_path / "warc.json") if t[0] != "The same fire"] == [
        (alt, caption, sha if alt != "An error page" else None) for alt, caption, sha in with_files
    ]


def test_a_damaged_archive_keeps_what_came_before_and_the_scan_goes_on(cli, tmp_path):
    write_archive(tmp_path / "crawl.warc.gz")
    data = (tmp_path / "crawl.warc.gz").read_bytes()
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "cut.warc.gz").write_bytes(data[: len(data) * 2 // 3])
    (tmp_path / "corpus" / "noise.warc").write_bytes(b"this is no archive\n" * 50)
    (tmp_path / "corpus" / "page.html").write_text('<img src="x.jpg" alt="beside">')
    result = cli("scan", tmp_path / "corpus", "-q", "-f", "json")
    assert result.exit_code == 0, result.output
    exported = orjson.loads(cli("export", "-f", "json").stdout)
    errors = {e["path"].rsplit("/", 1)[-1]: e["code"] for e in exported["errors"]}
    assert errors.get("noise.warc") == "unreadable"
    assert errors.get("cut.warc.gz") == "unreadable"  # cut short: said so, what came before read
    alts = {o["alt"] for o in orjson.loads(cli("search", "-f", "json", "").stdout)["results"]}
    assert {"beside", "The fire"} <= alts


def test_an_unchanged_archive_is_not_read_again_and_a_vanished_one_is_pruned(cli, tmp_path):
    (tmp_path / "corpus").mkdir()
    write_archive(tmp_path / "corpus" / "crawl.warc.gz")
    first = orjson.loads(cli("scan", tmp_path / "corpus", "-q", "-f", "json").stdout)
    again = orjson.loads(cli("scan", tmp_path / "corpus", "-q", "-f", "json").stdout)
    assert (first["articles"], again["articles"], again["skipped"]) == (2, 0, 1)
    (tmp_path / "corpus" / "crawl.warc.gz").unlink()
    assert cli("scan", tmp_path / "corpus", "--prune", "-q").exit_code == 0
    assert orjson.loads(cli("stats", "-f", "json").stdout)["occurrences"] == 0


def test_an_archive_gzipped_whole_is_an_error_that_says_how_to_mend_it(tmp_path):
    import gzip

    write_archive(tmp_path / "plain.warc", gzip=False)
    (tmp_path / "corpus").mkdir()
    whole = gzip.compress((tmp_path / "plain.warc").read_bytes())
    (tmp_path / "corpus" / "whole.warc.gz").write_bytes(whole)
    scan([tmp_path / "corpus"], open_store(tmp_path / "c.json"), workers=1)
    (error,) = open_store(tmp_path / "c.json").errors()
    assert error.code == "unreadable" and "warcio recompress" in error.message


def _crawl(path: Path, records: list[tuple[str, bytes, str, str]]) -> None:
    """A WARC of (url, body, content type, status) responses."""
    with path.open("wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for url, body, content_type, status in records:
            headers = StatusAndHeaders(status, [("Content-Type", content_type)], "HTTP/1.1")
            record = writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=headers
            )
            writer.write_record(record)


def test_images_no_page_of_an_archive_names_are_catalogued_as_its_loose_images(cli, tmp_path):
    used, loose = encode(photo(72)), encode(photo(73))
    page = f'<html><body><img src="{SITE}a.jpg" alt="Used"></body></html>'.encode()
    records = [
        (f"{SITE}page.html", page, "text/html", "200 OK"),
        (f"{SITE}a.jpg", used, "image/jpeg", "200 OK"),
        (f"{SITE}b.jpg", loose, "image/jpeg", "200 OK"),  # named by no page
        (f"{SITE}broken.jpg", b"\xff\xd8 not a whole JPEG", "image/jpeg", "200 OK"),
        (f"{SITE}logo.svg", b"<svg/>", "image/svg+xml", "200 OK"),  # vector: no loose image
        (f"{SITE}gone.png", b"not found", "image/png", "404 Not Found"),  # an error page
    ]
    archive = tmp_path / "crawl.warc.gz"
    _crawl(archive, records)
    result = cli("scan", archive, "-q", "-f", "json")
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.stdout)
    assert (summary["loose_images"], summary["unique_images"], summary["errors"]) == (2, 2, 1)
    images = {i["sha256"]: i for i in orjson.loads(cli("export").stdout)["images"]}
    sha = {name: hashlib.sha256(data).hexdigest() for name, data in (("a", used), ("b", loose))}
    assert images[sha["b"]]["files"] == [f"{archive}#{SITE}b.jpg"]
    assert images[sha["b"]]["occurrences"] == []
    assert images[sha["a"]]["files"] == []  # used by the page: an occurrence, not a loose file
    (error,) = orjson.loads(cli("export").stdout)["errors"]
    assert (error["path"], error["article"], error["code"]) == (
        str(archive),
        f"{archive}#{SITE}broken.jpg",
        "bad-image",
    )
    # the archive again, without b.jpg: its loose image is forgotten with it
    _crawl(archive, [r for r in records if not r[0].endswith(("b.jpg", "broken.jpg"))])
    assert cli("scan", archive, "-q").exit_code == 0
    export = orjson.loads(cli("export").stdout)
    assert {i["sha256"] for i in export["images"]} == {sha["a"]} and export["errors"] == []


def test_an_error_about_a_page_goes_when_its_archive_is_read_again(cli, tmp_path, monkeypatch):
    from media_catalog import extract

    monkeypatch.setattr(extract, "MAX_ARTICLE_BYTES", 4096)  # (a page over it: an error)
    big = f"<html><body>{'x' * 5000}</body></html>".encode()
    archive = tmp_path / "crawl.warc.gz"
    _crawl(archive, [(f"{SITE}big.html", big, "text/html", "200 OK")])
    assert cli("scan", archive, "-q").exit_code == 0
    (error,) = orjson.loads(cli("export").stdout)["errors"]
    assert (error["path"], error["article"], error["code"]) == (
        str(archive),
        f"{archive}#{SITE}big.html",
        "too-large",
    )
    _crawl(
        archive, [(f"{SITE}big.html", b"<html><body>small</body></html>", "text/html", "200 OK")]
    )
    assert cli("scan", archive, "-q").exit_code == 0
    assert orjson.loads(cli("export").stdout)["errors"] == []  # not left behind
