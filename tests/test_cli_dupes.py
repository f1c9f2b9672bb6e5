"""`media-catalog dupes` options through the real CLI, on a newsroom built on disk."""

from __future__ import annotations

import csv
import html
import io
import re
import shutil
import subprocess

import orjson
import pytest
from PIL import Image, ImageOps

from .conftest import photo, write_image

PERSIAN = "عکس بازار پیش از آتش‌سوزی"
HOSTILE = "<script>alert('x')</script> & <b>bold</b>"


@pytest.fixture
def newsroom(tmp_path, cli):
    """Articles that reuse photos the ways a desk sees it, scanned into ./media-catalog.json."""
    site = tmp_path / "site"
    market = photo(1, (480, 360))
    write_image(site / "img" / "market.jpg", market, quality=92)
    write_image(site / "img" / "market-small.jpg", market.resize((240, 180)), quality=70)
    write_image(site / "img" / "harbour.jpg", photo(2, (400, 300)))
    street = photo(3, (400, 300))
    write_image(site / "img" / "street.jpg", street)
    write_image(site / "img" / "street-flipped.jpg", ImageOps.mirror(street))
    write_image(site / "img" / "white.png", Image.new("RGB", (200, 200), "white"), "PNG")
    write_image(site / "img" / "grey.jpg", Image.new("RGB", (300, 200), (128, 128, 128)))
    write_image(site / "img" / "logo.png", photo(4, (120, 40)), "PNG")
    write_image(site / "img" / "pixel.gif", Image.new("L", (1, 1), 0), "GIF")

    def article(name: str, body: str) -> None:
        (site / name).write_text(f"<html><body>{body}</body></html>", encoding="utf-8")

    def figure(src: str, caption: str, alt: str = "") -> str:
        return (
            f'<figure><img src="img/{src}" alt="{alt}"><figcaption>{caption}</figcaption></figure>'
        )

    logo = '<img src="img/logo.png" alt="News">'
    pixel = '<img src="img/pixel.gif">'
    article(
        "a1.html", logo + figure("market.jpg", PERSIAN) + figure("street.jpg", "Street") + pixel
    )
    article("a2.html", logo + figure("market.jpg", "Market before the fire") + pixel)
    article("a3.html", logo + figure("market.jpg", HOSTILE, alt=HOSTILE))
    article("a4.html", logo + figure("market-small.jpg", "Small market"))
    article("a5.html", logo + figure("harbour.jpg", "Harbour") + figure("harbour.jpg", "Again"))
    article("a6.html", logo + figure("street-flipped.jpg", "Flipped street"))
    article("a7.html", logo + figure("white.png", "blank") + figure("grey.jpg", "grey"))
    for n in range(8, 13):
        article(f"a{n}.html", logo + "<p>no photo</p>")
    assert cli("scan", site, "-q").exit_code == 0
    return site


def dupes(cli, *args: str) -> dict:
    result = cli("dupes", "-f", "json", *args)
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


def names(cluster: dict) -> list[str]:
    return [
        (image["files"][0] if image["files"] else "").rsplit("/", 1)[-1]
        for image in cluster["images"]
    ]


def test_default_report_tiers_keeper_reach_and_exclusions(cli, newsroom):
    report = dupes(cli)
    clusters = {tuple(names(c)): c for c in report["clusters"]}
    # one cluster per photo: market.jpg, used in three articles, is a group of three places
    # inside the near cluster of its smaller copy, never a cluster of its own too
    assert set(clusters) == {
        ("harbour.jpg",),  # exact: twice in one article, no near copy
        ("market.jpg", "market-small.jpg"),  # near: keeper is the larger copy
        ("street.jpg", "street-flipped.jpg"),  # near: a mirror its pixels confirm
    }
    exact = clusters[("harbour.jpg",)]
    assert (exact["kind"], exact["tier"]) == ("exact", 1)
    assert exact["reach"] == {"articles": 1, "places": 2}
    near = clusters[("market.jpg", "market-small.jpg")]
    assert [len(image["occurrences"]) for image in near["images"]] == [3, 1]
    assert (near["kind"], near["tier"]) == ("near", 2)
    assert near["keeper"] == near["images"][0]["sha256"]
    assert near["distances"][0] == {
        "sha256": near["keeper"],
        "phash": 0,
        "dhash": 0,
        "via": None,
    }
    assert near["distances"][1]["phash"] <= 12 and near["distances"][1]["dhash"] <= 8
    assert near["reach"] == {"articles": 4, "places": 4}
    # the logo is in all 12 articles: site furniture; the 1x1 gif is a tracking pixel;
    # the blank white and grey images are low-information
    excluded = report["excluded"]
    assert len(excluded["furniture"]) == 1 and len(excluded["tracking"]) == 1
    assert len(excluded["low_information"]) == 2  # white and grey
    assert excluded["ignored"] == []


def test_include_furniture_and_low_information(cli, newsroom):
    report = dupes(cli, "--include-furniture", "--include-low-information", "--tracking")
    found = {tuple(names(c)) for c in report["clusters"]}
    assert ("logo.png",) in found  # (the pixel, used twice, is as blank as white and grey)
    assert any({"white.png", "grey.jpg", "pixel.gif"} <= set(cluster) for cluster in found)
    assert report["excluded"]["furniture"] == [] and report["excluded"]["low_information"] == []


def test_min_articles_and_sort_by_reach(cli, newsroom):
    report = dupes(cli, "--min-articles", "3")
    assert {tuple(names(c)) for c in report["clusters"]} == {("market.jpg", "market-small.jpg")}
    by_reach = dupes(cli, "--sort", "reach")
    articles = [c["reach"]["articles"] for c in by_reach["clusters"]]
    assert articles == sorted(articles, reverse=True) == [4, 2, 1]
    assert [c["kind"] for c in by_reach["clusters"]] == ["near", "near", "exact"]
    assert [c["kind"] for c in dupes(cli)["clusters"]] == ["exact", "near", "near"]


def test_a_mirrored_copy_is_reported_once_its_pixels_confirm_it(cli, newsroom):
    for report in (dupes(cli), dupes(cli, "--transforms")):
        (street,) = [c for c in report["clusters"] if "street.jpg" in names(c)]
        assert sorted(names(street)) == ["street-flipped.jpg", "street.jpg"]
        flipped = street["distances"][1]
        assert flipped["via"] == "mirror" and flipped["verification"]["mirrored"] is True
        assert flipped["verification"]["agreeing"] >= 0.95
        assert report["checked"]["turned"] == report["checked"]["confirmed"] == 1


def test_ignore_list_by_sha256_and_phash(cli, newsroom, tmp_path):
    report = dupes(cli)
    market = next(c for c in report["clusters"] if "market.jpg" in names(c))["images"][0]
    harbour = next(c for c in report["clusters"] if names(c) == ["harbour.jpg"])["images"][0]
    ignore = tmp_path / "ignore.txt"
    ignore.write_text(f"# known\nsha256:{market['sha256']}\n{harbour['phash']}  # harbour\n")
    after = dupes(cli, "--ignore", ignore)
    # the market's near cluster lost its keeper too
    assert [names(c) for c in after["clusters"]] == [["street.jpg", "street-flipped.jpg"]]
    assert sorted(after["excluded"]["ignored"]) == sorted([market["sha256"], harbour["sha256"]])
    ignore.write_text("not-a-hash\n")
    bad = cli("dupes", "--ignore", ignore)
    assert bad.exit_code == 1 and "line 1" in bad.stderr and "Traceback" not in bad.output


def test_reference_folder_matches_with_distances(cli, newsroom, tmp_path):
    known = tmp_path / "agency"
    write_image(known / "market-agency.jpg", photo(1, (960, 720)), quality=95)
    write_image(known / "unrelated.jpg", photo(9, (400, 300)))
    (known / "broken.jpg").write_bytes(b"not an image")
    report = dupes(cli, "--reference", known)
    by_file = {r["file"].rsplit("/", 1)[-1]: r for r in report["reference"]}
    assert set(by_file) == {"market-agency.jpg", "unrelated.jpg", "broken.jpg"}
    matched = {
        m["image"]["files"][0].rsplit("/", 1)[-1] for m in by_file["market-agency.jpg"]["matches"]
    }
    assert matched == {"market.jpg", "market-small.jpg"}
    assert all(m["distance"] <= 12 for m in by_file["market-agency.jpg"]["matches"])
    assert by_file["unrelated.jpg"]["matches"] == []
    assert "not a readable image" in by_file["broken.jpg"]["error"]
    table = cli("dupes", "--reference", known)
    assert table.exit_code == 0 and "1 of 3 reference photos match" in table.stdout
    rows = list(csv.DictReader(io.StringIO(cli("dupes", "--reference", known, "-f", "csv").stdout)))
    assert len(rows) == 4  # two matches, one row per unmatched or broken file
    assert cli("dupes", "--reference", known, "-f", "html").exit_code == 1


def test_csv_one_row_per_place_and_formula_cells_neutralised(cli, newsroom):
    text = cli("dupes", "-f", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    exact = [r for r in rows if r["cluster"] == "1"]
    assert len(exact) == 2 and {r["kind"] for r in exact} == {"exact"}  # harbour, twice
    near = [r for r in rows if r["cluster"] == "2"]
    assert len(near) == 4 and {r["kind"] for r in near} == {"near"}  # market: 3 + 1 places
    assert PERSIAN in {r["caption"] for r in rows}
    assert HOSTILE in {r["alt"] for r in rows}  # CSV keeps the text as it was
    assert {r["keeper"] for r in rows} == {"True", "False"}


def test_table_names_the_keeper_and_reach(cli, newsroom):
    result = cli("dupes", "--sort", "reach")
    assert result.exit_code == 0
    assert "keeper" in result.stdout and "4 articles, 4 places" in result.stdout


def test_tables_piped_keep_every_cell_whole_unless_columns_is_set(cli, samples, monkeypatch):
    assets = samples / "assets"
    assert cli("scan", samples, "--assets", assets, "-q").exit_code == 0
    alts = {r["alt"] for r in orjson.loads(cli("search", "-f", "json", "").stdout)["results"]}
    persian = max(alts - {None}, key=len)  # the seed's: 107 characters, on seven images
    assert len(persian) > 100
    monkeypatch.delenv("COLUMNS", raising=False)
    piped = cli("dupes").stdout  # (stdout is no terminal here)
    key = "crabby-images/08170/08170bc3a50f68d963a8a9860d863f95afb1edd0"  # 58 characters
    assert persian in piped and f"samples/assets/{key}" in piped
    monkeypatch.setenv("COLUMNS", "80")  # honoured: folded to that width
    folded = cli("dupes").stdout
    assert persian not in folded and len(folded.splitlines()) > len(piped.splitlines())


def test_html_is_self_contained_and_escaped(cli, newsroom):
    page = cli("dupes", "-f", "html").stdout
    assert page.startswith("<!DOCTYPE html>")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert page.count("data:image/jpeg;base64,") == 5  # every image has its thumbnail
    assert "http://" not in page and "https://" not in page
    assert f'dir="auto">{PERSIAN}</span>' in page
    assert "(s)" not in page and "· 4 articles, 4 places</h2>" in page  # (no use is dated)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.skip("chromium is not installed (CI installs Debian's chromium package)")
    return found


PROBE = """<!DOCTYPE html><html><body><iframe id="report" src="report.html"></iframe>
<pre id="out"></pre><script>
document.getElementById("report").onload = () => {
  const page = document.getElementById("report").contentDocument;
  const texts = [...page.querySelectorAll("[dir=auto]")].map(
    (e) => [e.textContent, getComputedStyle(e).direction]);
  document.getElementById("out").textContent = JSON.stringify({
    texts, body: page.body.innerText,
    sections: page.querySelectorAll("section.cluster").length,
    scripts: page.querySelectorAll("script").length,
    images: [...page.images].filter((i) => i.complete && i.naturalWidth > 0).length});
};
</script></body></html>"""


def test_html_renders_in_headless_chromium(cli, newsroom, tmp_path):
    """What Chromium shows: every cluster, thumbnails decoded, hostile text as text, the
    Persian caption laid out right to left. A probe page reads the report through an iframe
    (the report itself allows no scripts)."""
    browser = chromium()
    (tmp_path / "report.html").write_text(cli("dupes", "-f", "html").stdout, encoding="utf-8")
    (tmp_path / "probe.html").write_text(PROBE, encoding="utf-8")
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--allow-file-access-from-files",
            "--virtual-time-budget=5000",
            "--dump-dom",
            (tmp_path / "probe.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    probe = re.search(r'<pre id="out">(.*)</pre>', result.stdout, re.S)
    assert probe, result.stdout[-2000:]
    seen = orjson.loads(html.unescape(probe.group(1)))
    assert seen["sections"] == 3 and seen["scripts"] == 0 and seen["images"] == 5
    assert HOSTILE in seen["body"]  # shown as text, never run as markup
    directions = dict(seen["texts"])
    assert directions[PERSIAN] == "rtl"
    assert directions["Market before the fire"] == "ltr"


def test_crops_and_heavy_recompression_are_found_and_other_photos_kept_apart(cli, tmp_path):
    site = tmp_path / "desk"
    photo_ = photo(11, (600, 400))
    write_image(site / "agency.jpg", photo_, quality=95)
    write_image(site / "cropped.jpg", photo_.crop((30, 20, 570, 380)), quality=85)  # 90 %
    write_image(site / "q10.jpg", photo_, quality=10)
    write_image(site / "other.jpg", photo(12, (600, 400)), quality=95)
    write_image(site / "other-crop.jpg", photo(12, (600, 400)).crop((90, 60, 510, 340)))
    assert cli("scan", site, "-q").exit_code == 0
    clusters = [c for c in dupes(cli)["clusters"] if c["kind"] == "near"]
    assert sorted(sorted(names(c)) for c in clusters) == [
        ["agency.jpg", "cropped.jpg", "q10.jpg"],
        ["other-crop.jpg", "other.jpg"],
    ]
    (agency,) = [c for c in clusters if "agency.jpg" in names(c)]
    via = {name: d["via"] for name, d in zip(names(agency), agency["distances"], strict=True)}
    assert "centre90" in via["cropped.jpg"]  # the original's central 90 % matched
