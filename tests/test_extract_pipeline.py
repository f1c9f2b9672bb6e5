"""Extraction through a real scan: candidates resolved on real files, the new occurrence keys
in the JSON contract, tracking pixels kept out of the duplicate report."""

import gzip
import json

import orjson

from .conftest import encode, photo, write_image


def _export(cli, *args):
    result = cli("scan", *args, "-q", "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(cli("export").stdout)


def test_best_candidate_base_href_lazy_and_sniffed_bytes(cli, tmp_path):
    site = tmp_path / "site"
    write_image(site / "media" / "big", photo(1, (640, 480)))  # no extension: bytes decide
    write_image(site / "media" / "small.jpg", photo(1, (160, 120)))
    write_image(site / "media" / "lazy.png", photo(2), "PNG")
    (site / "media" / "broken.jpg").write_bytes(b"not an image")
    write_image(site / "lead.jpg", photo(3))
    (site / "page.html").write_text(
        """<html><head><base href="media/"><title>T</title>
        <meta property="og:image" content="../lead.jpg"></head><body>
        <img src="small.jpg" srcset="missing-1600.jpg 1600w, broken.jpg 1000w, big 640w,
          small.jpg 160w" alt="A">
        <img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="lazy.png" alt="B">
        <img src="missing.jpg" srcset="https://cdn.example/x.jpg 2x" alt="C">
        </body></html>"""
    )
    export = _export(cli, site)
    occurrences = {o["alt"]: o for image in export["images"] for o in image["occurrences"]} | {
        o["alt"]: o for o in export["unresolved"]
    }
    assert occurrences["A"]["file"] == str(site / "media" / "big")
    assert [c["url"] for c in occurrences["A"]["srcset"]][:2] == ["missing-1600.jpg", "broken.jpg"]
    assert occurrences["B"]["file"] == str(site / "media" / "lazy.png")
    assert occurrences["B"]["placeholder"].startswith("data:image/gif")
    assert occurrences["C"]["reason"] == "remote"  # the best candidate's failure
    meta = next(
        o for image in export["images"] for o in image["occurrences"] if o["kind"] == "meta"
    )
    assert (meta["position"], meta["file"], meta["article_title"]) == (
        None,
        str(site / "lead.jpg"),
        "T",
    )
    # broken.jpg is an error as a loose file, not as a candidate: a better one resolved
    assert [(e["code"], e["article"]) for e in export["errors"]] == [("bad-image", None)]


def test_every_new_key_is_in_the_json_contract(cli, tmp_path):
    write_image(tmp_path / "a.jpg", photo(4))
    (tmp_path / "p.html").write_text('<h2>H</h2><p>before</p><img src="a.jpg"><p>after</p>')
    export = _export(cli, tmp_path)
    (occurrence,) = export["images"][0]["occurrences"]
    for key in (
        "kind", "credit", "srcset", "placeholder", "base", "link", "declared_width",
        "declared_height", "decorative", "tracking", "context_before", "context_after",
        "heading", "article_title", "article_url", "article_date",
    ):  # fmt: skip
        assert key in occurrence
    assert (occurrence["kind"], occurrence["heading"]) == ("img", "H")
    assert (occurrence["context_before"], occurrence["context_after"]) == ("H before", "after")


def test_tracking_pixels_are_kept_out_of_duplicate_reports(cli, tmp_path):
    pixel = encode(photo(5, (1, 1)), "GIF")
    (tmp_path / "px.gif").write_bytes(pixel)
    write_image(tmp_path / "tiny.png", photo(6, (16, 16)), "PNG")
    pages = [
        '<img src="px.gif"><img src="https://x.example/pixel.gif" width=1 height=1>'
        '<img src="tiny.png" width="1" height="1">',
        '<img src="px.gif"><img src="tiny.png" width="1" height="1">',
    ]
    for number, page in enumerate(pages):
        (tmp_path / f"p{number}.html").write_text(page)
    assert cli("scan", tmp_path, "-q").exit_code == 0
    assert json.loads(cli("dupes", "--format", "json").stdout)["clusters"] == []
    shown = json.loads(cli("dupes", "--tracking", "--format", "json").stdout)["clusters"]
    assert len(shown) == 2  # the 1x1 GIF and the image declared 1x1, each used twice


def test_jsonl_gz_and_field_options_through_scan(cli, tmp_path):
    write_image(tmp_path / "a.jpg", photo(7))
    records = [
        {"body": '<p>Intro</p><img src="a.jpg" alt="one">', "link": "https://e/1", "name": "N"},
        {"body": "no image", "link": "https://e/2"},
    ]
    with gzip.open(tmp_path / "dump.jsonl.gz", "wb") as handle:
        handle.write(b"\n".join(orjson.dumps(r) for r in records) + b"\n{broken\n")
    result = cli(
        "scan", tmp_path, "-q", "--format", "json",
        "--text-field", "body", "--url-field", "link", "--title-field", "name",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["articles"] == 3
    export = json.loads(cli("export").stdout)
    (occurrence,) = export["images"][0]["occurrences"]
    assert occurrence["article"] == f"{tmp_path / 'dump.jsonl.gz'}#L1"
    assert (occurrence["article_url"], occurrence["article_title"]) == ("https://e/1", "N")
    assert [e["code"] for e in export["errors"]] == ["bad-json"]
