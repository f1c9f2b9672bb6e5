"""`media-catalog serve`: the real app under uvicorn on 127.0.0.1, asked over HTTP and driven
in the system's headless Chromium (through Playwright) as a photo editor would use it."""

import io
import shutil
import sqlite3
import threading
import time

import httpx
import orjson
import pytest
import uvicorn
from PIL import Image

from media_catalog.serve import THUMBNAIL, make_app

from .conftest import photo, write_image

HOSTILE = "<script>alert('x')</script>"
PERSIAN = "گربه‌ای کنار پنجره در کوچه‌ی قدیمی"  # samples/articles/photo-essay.md


@pytest.fixture
def site(cli, samples, tmp_path):
    """samples/ and an article with a hostile alt, scanned; the app served on 127.0.0.1."""
    write_image(samples / "extra" / "market.jpg", photo(7, (300, 200)))
    (samples / "extra" / "hostile.html").write_text(
        f'<figure><img src="market.jpg" alt="{HOSTILE}"><figcaption>Market</figcaption></figure>'
    )
    scanned = cli("scan", samples, "--assets", samples / "assets", "-q")
    assert scanned.exit_code == 0, scanned.output
    server = uvicorn.Server(
        uvicorn.Config(make_app(tmp_path / cli.db), host="127.0.0.1", port=0, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join()


def _sha256(base: str, query: str) -> str:
    page = httpx.get(base + "/", params={"q": query}).text
    return page.split('href="/image/', 1)[1][:64]


def test_every_page_answers_escaped_under_a_strict_policy(site, tmp_path, cli):
    pages = ["/", "/?q=market", "/dupes", "/cluster/0", "/audit"]
    pages.append("/image/" + _sha256(site, "market"))
    for path in pages:
        reply = httpx.get(site + path)
        assert reply.status_code == 200, path
        assert reply.headers["content-security-policy"].startswith("default-src 'none'")
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert HOSTILE not in reply.text  # never markup
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in httpx.get(site + "/?q=market").text
    assert httpx.post(site + "/").status_code == 405  # read-only
    rebound = httpx.get(site + "/", headers={"Host": "attacker.example"})
    assert rebound.status_code == 400  # a page elsewhere cannot read it by DNS rebinding
    bad = httpx.get(site + "/?q=taken:2016..2015")
    assert bad.status_code == 400 and "is empty" in bad.text
    missing = httpx.get(site + "/image/" + "0" * 64)
    assert missing.status_code == 404 and "no image in" in missing.text
    port = site.rsplit(":", 1)[1]
    assert httpx.get(site + "/", headers={"Host": f"[::1]:{port}"}).status_code == 200
    assert httpx.get(site + "/", headers={"Host": f"localhost:{port}"}).status_code == 200
    assert httpx.get(site + "/dupes?page=%C2%B2").status_code == 200  # '²' is no page number
    thumb = httpx.get(site + "/thumb/" + _sha256(site, "article:hostile") + ".jpg")
    assert thumb.headers["cross-origin-resource-policy"] == "same-origin"


def test_serve_reads_what_a_scan_saves_meanwhile_and_writes_nothing(site, samples, cli, tmp_path):
    assert "images in" in httpx.get(site + "/").text
    assert httpx.get(site + "/dupes").status_code == 200
    db = tmp_path / cli.db
    sqlite = db.suffix == ".sqlite"
    if sqlite:  # (what a scan kept: serve must not add to it)
        with sqlite3.connect(db) as connection:
            connection.execute("DELETE FROM meta WHERE key LIKE 'kept:%'")
    before = db.read_bytes() if not sqlite else None
    for path in ("/", "/dupes", "/audit", "/?q=dup:yes", "/cluster/0"):
        assert httpx.get(site + path).status_code == 200, path
    if sqlite:
        with sqlite3.connect(db) as connection:
            kept = connection.execute("SELECT count(*) FROM meta WHERE key LIKE 'kept:%'")
            assert kept.fetchone()[0] == 0
    else:
        assert db.read_bytes() == before
    images = orjson.loads(cli("export").stdout)["images"]
    (gallery,) = [  # a photo only the gallery holds, its thumbnail cached
        i["sha256"] for i in images if i["files"] and all("/gallery/" in f for f in i["files"])
    ][:1]
    assert httpx.get(f"{site}/thumb/{gallery}.jpg").status_code == 200
    shutil.rmtree(samples / "gallery")  # a scan with --prune forgets its three images
    assert cli("scan", samples, "--assets", samples / "assets", "--prune", "-q").exit_code == 0
    counts = orjson.loads(cli("stats", "-f", "json").stdout)
    assert f"<h1>{counts['images']} images in" in httpx.get(site + "/").text
    assert httpx.get(f"{site}/thumb/{gallery}.jpg").status_code == 404  # cached, but pruned
    for path in ("/dupes", "/cluster/0", "/?q=dup:yes", "/audit"):
        assert httpx.get(site + path).status_code == 200, path


def test_any_host_when_listening_everywhere(cli, samples, tmp_path):
    assert cli("scan", samples / "photos", "-q").exit_code == 0
    app = make_app(tmp_path / cli.db, ["*"])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        reply = httpx.get(f"http://127.0.0.1:{port}/", headers={"Host": "desk.example"})
        assert reply.status_code == 200
    finally:
        server.should_exit = True
        thread.join()


def test_thumbnails_only_of_catalogued_images_still_on_disk(site, samples, tmp_path, cli):
    sha256 = _sha256(site, "article:hostile")
    reply = httpx.get(f"{site}/thumb/{sha256}.jpg")
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(reply.content)) as shown:
        assert shown.format == "JPEG" and max(shown.size) <= THUMBNAIL
    assert (tmp_path / f"{cli.db}.cache" / "thumbnails" / sha256[:2] / f"{sha256}.jpg").is_file()
    for path in ("0" * 64, "..%2f..%2f..%2fetc%2fpasswd", sha256[:12]):
        assert httpx.get(f"{site}/thumb/{path}.jpg").status_code == 404
    # a file changed since the scan no longer holds the image: no thumbnail from it
    other = _sha256(site, "essay")
    for path in samples.rglob("*"):
        if path.is_file() and path.suffix not in (".html", ".md", ".txt"):
            write_image(path, photo(9, (64, 64)))  # (asset keys have no extension)
    changed = httpx.get(f"{site}/thumb/{other}.jpg")
    assert changed.status_code == 200 and changed.headers["content-type"] == "image/svg+xml"
    assert b"no preview" in changed.content


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("chromium is not installed (CI installs Debian's chromium package)")
    return found


def test_three_clicks_from_a_search_to_a_photo_s_first_use(site):
    """Search, open an image, follow its cluster; keys move through the results; Persian
    text is laid out right to left; the pages break no rule of their policy."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        page = browser.new_page()
        problems = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(site + "/")
        page.keyboard.press("/")
        assert page.evaluate("document.activeElement.id") == "q"
        page.keyboard.type("گربه")
        page.keyboard.press("Enter")
        page.wait_for_url("**/?q=*")
        assert "place" in page.inner_text("h1")
        cell = page.locator("td bdi", has_text=PERSIAN).first
        assert cell.evaluate("e => getComputedStyle(e).direction") == "rtl"
        assert cell.evaluate("e => getComputedStyle(e).textAlign") in ("start", "right")
        left = cell.evaluate("e => e.getBoundingClientRect().right")
        right = cell.evaluate("e => e.parentElement.getBoundingClientRect().right")
        assert right - left < 20  # the Persian alt sits at the right of its cell
        page.keyboard.press("j")  # the first result's image
        href = page.evaluate("document.activeElement.getAttribute('href')")
        assert href.startswith("/image/")
        page.keyboard.press("Enter")  # click 1 (the search was typed)
        page.wait_for_url("**/image/*")
        assert "History" in page.inner_text("main") and "first use" not in page.inner_text("main")
        page.wait_for_function("(i => i.complete && i.naturalWidth > 0)(document.images[0])")
        page.click("#cluster")  # click 2
        page.wait_for_url("**/cluster/*")
        assert "Near duplicates · 2 images" in page.inner_text("main h2")
        page.click("main a.item >> nth=1")  # click 3: the other copy
        page.wait_for_url("**/image/*")
        assert "near copy" in page.inner_text("main")
        browser.close()
    assert problems == []  # nothing refused by the Content-Security-Policy, nothing missing


def test_serve_explains_a_missing_catalogue(cli):
    result = cli("serve", "--db", "nowhere.json")
    assert result.exit_code == 1 and "no catalogue at nowhere.json" in result.stderr
    assert "Traceback" not in result.output
    assert "Example: media-catalog serve" in cli("serve", "--help").stdout


def test_a_thumbnail_is_served_when_its_cache_cannot_be_written(site, tmp_path, cli):
    (tmp_path / f"{cli.db}.cache").write_text("a file where the cache folder would be")
    reply = httpx.get(f"{site}/thumb/{_sha256(site, 'article:hostile')}.jpg")
    assert reply.status_code == 200 and reply.headers["content-type"] == "image/jpeg"
    assert (tmp_path / f"{cli.db}.cache").is_file()  # nothing cached, nothing broken
