import base64
import os
import shutil
import subprocess
import sys

import orjson

from media_catalog import __version__

from .conftest import SEED_ALT, encode, photo, write_image
from .test_fingerprint import _bomb_png


def test_quick_start_on_samples(cli, samples):
    result = cli("scan", samples, "--assets", samples / "assets", "--format", "json")
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.stdout)
    assert summary == {
        "articles": 4,  # three articles and samples/README.md
        "loose_images": 7,
        "occurrences": 15,
        "unique_images": 13,
        "unresolved": 2,
        "errors": 0,
        "exact_clusters": 0,  # both photos reused byte for byte have near copies too
        "near_clusters": 5,
        "skipped": 0,
        "pruned": 0,
        "fetched": None,  # (no --fetch)
    }


def test_table_summary_and_default_db(cli, samples, tmp_path):
    result = cli("scan", samples, "--assets", samples / "assets")
    assert result.exit_code == 0
    assert "unique images" in result.stdout and "13" in result.stdout
    assert (tmp_path / cli.db).is_file()


def test_env_var_names_the_db(cli, samples, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDIA_CATALOG_DB", str(tmp_path / "env.json"))
    assert cli("scan", samples / "gallery").exit_code == 0
    assert (tmp_path / "env.json").is_file()


def test_seed_without_assets_catalogues_unresolved_keys(cli, samples):
    result = cli("scan", samples / "articles" / "hasakah-bombings.txt", "-f", "json")
    assert orjson.loads(result.stdout)["unresolved"] == 7
    export = orjson.loads(cli("export").stdout)
    assert [u["reason"] for u in export["unresolved"]] == ["no-asset"] * 7
    assert {u["alt"] for u in export["unresolved"]} == {SEED_ALT}
    assert export["unresolved"][0]["src"].startswith("s3://crabby-images/08170/")


def test_rescan_with_the_assets_named_resolves_what_the_first_scan_could_not(cli, samples):
    seed = samples / "articles" / "hasakah-bombings.txt"
    assert orjson.loads(cli("scan", seed, "-f", "json").stdout)["unresolved"] == 7
    plain = orjson.loads(cli("scan", seed, "-f", "json").stdout)
    assert (plain["skipped"], plain["articles"]) == (1, 0)  # no asset folder: nothing to find
    again = orjson.loads(cli("scan", seed, "--assets", samples / "assets", "-f", "json").stdout)
    assert (again["skipped"], again["articles"], again["unresolved"]) == (0, 1, 0)
    export = orjson.loads(cli("export").stdout)
    assert export["unresolved"] == [] and len(export["images"]) == 6
    same = orjson.loads(cli("scan", seed, "--assets", samples / "assets", "-f", "json").stdout)
    assert (same["skipped"], same["articles"]) == (1, 0)  # nothing left to resolve


def test_an_asset_added_later_is_found_by_a_plain_rescan(cli, samples, tmp_path):
    seed = samples / "articles" / "hasakah-bombings.txt"
    assets = tmp_path / "assets"
    assets.mkdir()
    assert (
        orjson.loads(cli("scan", seed, "--assets", assets, "-f", "json").stdout)["unresolved"] == 7
    )
    shutil.copytree(samples / "assets" / "crabby-images", assets / "crabby-images")
    again = orjson.loads(cli("scan", seed, "--assets", assets, "-f", "json").stdout)
    assert (again["skipped"], again["unresolved"]) == (0, 0)


def test_a_misspelt_path_or_asset_folder_is_a_usage_error_and_nothing_is_written(cli, tmp_path):
    result = cli("scan", "nope/")
    assert result.exit_code == 2 and "no such file or folder: nope" in result.output
    assert "--prune" in result.output and "Traceback" not in result.output
    (tmp_path / "a.md").write_text("![x](a.jpg)")
    result = cli("scan", "a.md", "--assets", "nothere")
    assert result.exit_code == 2 and "nothere" in result.output
    assert not (tmp_path / cli.db).exists()


def test_a_catalogue_in_a_folder_that_does_not_exist_is_a_clear_error(cli, tmp_path):
    (tmp_path / "a.md").write_text("no images")
    result = cli("scan", "a.md", "--db", "missing-dir/x.json")
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "the folder missing-dir does not exist" in result.output


def test_an_article_scanned_alone_says_how_to_resolve_the_images_beside_it(cli, tmp_path):
    write_image(tmp_path / "img" / "a.jpg", photo(7))
    (tmp_path / "essay.md").write_text("![beside](img/a.jpg)")
    alone = cli("scan", "essay.md")
    assert alone.exit_code == 0 and "1 reference led to no image" in alone.stderr
    assert "--assets" in alone.stderr
    [found] = orjson.loads(cli("search", "unresolved:yes", "-f", "json").stdout)["results"]
    assert found["reason"] == "outside-roots"  # the scanned paths are the only roots
    both = orjson.loads(cli("scan", "essay.md", "--assets", "img", "-f", "json").stdout)
    assert both["unresolved"] == 0


def test_pruning_a_folder_that_is_gone_forgets_it_without_an_error(cli, tmp_path):
    old = tmp_path / "corpus" / "old"
    write_image(old / "a.jpg", photo(5))
    (old / "post.md").write_text("![x](a.jpg)")
    cli("scan", tmp_path / "corpus")
    shutil.rmtree(old)
    pruned = cli("scan", old, "--prune", "--strict", "-f", "json")
    assert pruned.exit_code == 0, pruned.output
    assert orjson.loads(pruned.stdout)["pruned"] == 2
    assert orjson.loads(cli("export").stdout) == {"images": [], "unresolved": [], "errors": []}


def test_a_file_under_two_scanned_paths_is_read_once(cli, tmp_path):
    write_image(tmp_path / "corpus" / "a.jpg", photo(5))
    (tmp_path / "corpus" / "essay.md").write_text("![x](a.jpg)")
    both = orjson.loads(cli("scan", "corpus", "corpus/essay.md", "-f", "json").stdout)
    assert (both["articles"], both["occurrences"], both["loose_images"]) == (1, 1, 1)
    assert len(orjson.loads(cli("search", "", "-f", "json").stdout)["results"]) == 1


def test_a_touched_article_keeps_its_references(cli, samples):
    first = orjson.loads(cli("scan", samples, "--assets", samples / "assets", "-f", "json").stdout)
    before = orjson.loads(cli("export").stdout)
    (samples / "articles" / "photo-essay.md").touch()
    os.utime(samples / "articles" / "market-fire.html", ns=(1, 1))
    again = orjson.loads(cli("scan", samples, "--assets", samples / "assets", "-f", "json").stdout)
    assert (again["skipped"], again["articles"]) == (first["articles"] + first["loose_images"], 0)
    assert orjson.loads(cli("export").stdout) == before
    last = orjson.loads(cli("scan", samples, "--assets", samples / "assets", "-f", "json").stdout)
    assert last["articles"] == 0 and orjson.loads(cli("export").stdout) == before


def test_a_missing_image_added_later_is_found_by_a_plain_rescan(cli, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "post.html").write_text('<img src="photos/a.jpg" alt="later">')
    (site / "other.html").write_text('<img src="photos/b.jpg" alt="never">')
    first = orjson.loads(cli("scan", site, "-f", "json").stdout)
    assert (first["articles"], first["unresolved"]) == (2, 2)
    same = orjson.loads(cli("scan", site, "-f", "json").stdout)
    assert (same["skipped"], same["articles"]) == (2, 0)  # no new image: nothing to find
    write_image(site / "photos" / "a.jpg", photo(5))
    again = orjson.loads(cli("scan", site, "-f", "json").stdout)
    assert (again["skipped"], again["articles"], again["loose_images"]) == (1, 1, 1)
    assert again["unresolved"] == 0  # other.html (b.jpg still missing) was not read
    [image] = orjson.loads(cli("export").stdout)["images"]
    assert [o["alt"] for o in image["occurrences"]] == ["later"]
    last = orjson.loads(cli("scan", site, "-f", "json").stdout)
    assert (last["skipped"], last["articles"]) == (3, 0)
    write_image(site / "photos" / "b.jpg", photo(6))
    cli("scan", site / "photos")  # the photo catalogued on its own first
    found = orjson.loads(cli("scan", site, "-f", "json").stdout)
    assert (found["articles"], found["unresolved"]) == (1, 0)
    assert orjson.loads(cli("export").stdout)["unresolved"] == []


def test_pruning_an_image_file_makes_the_articles_using_it_missing_it(cli, tmp_path):
    site = tmp_path / "site"
    write_image(site / "a.jpg", photo(5))
    write_image(site / "b.jpg", photo(6))
    (site / "post.html").write_text('<img src="a.jpg" alt="gone"><img src="b.jpg" alt="kept">')
    (site / "other.html").write_text('<img src="b.jpg" alt="untouched">')
    cli("scan", site)
    (site / "a.jpg").unlink()
    pruned = orjson.loads(cli("scan", site, "--prune", "-f", "json").stdout)
    assert (pruned["pruned"], pruned["articles"], pruned["skipped"]) == (1, 0, 3)
    export = orjson.loads(cli("export").stdout)
    assert [(u["alt"], u["reason"]) for u in export["unresolved"]] == [("gone", "missing")]
    [image] = export["images"]
    assert [o["alt"] for o in image["occurrences"]] == ["untouched", "kept"]


def test_other_extraction_options_reread_unchanged_articles(cli, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    write_image(site / "a.jpg", photo(3))
    words = " ".join(f"word{i}" for i in range(100))
    (site / "post.html").write_text(f'<p>{words}</p><img src="a.jpg" alt="x">')
    cli("scan", site, "--context", "20")
    again = orjson.loads(cli("scan", site, "--context", "200", "-f", "json").stdout)
    assert (again["skipped"], again["articles"]) == (1, 1)  # the image is unchanged
    [occurrence] = orjson.loads(cli("export").stdout)["images"][0]["occurrences"]
    assert len(occurrence["context_before"]) > 100


def test_every_kind_of_bad_input_is_recorded_and_the_scan_goes_on(cli, tmp_path):
    root = tmp_path / "bad"
    write_image(root / "good.jpg", photo(1))
    (root / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    (root / "truncated.jpg").write_bytes(encode(photo(2))[:500])
    (root / "empty.png").write_bytes(b"")
    (root / "text.gif").write_bytes(b"GIF? no, plain text")
    (root / "bomb.png").write_bytes(_bomb_png(40_000, 40_000))
    (root / "gone.html").symlink_to(root / "nowhere.html")  # unreadable article
    (root / "bad.md").write_bytes(b"![x](good.jpg) \xff\xfe not utf-8")
    (root / "tags.txt").write_text('<image>data:image/s3,"k" alt="never closed"')
    (root / "dump.jsonl").write_text('{"html": "<img src=good.jpg>"}\n{broken\n')
    png = base64.b64encode(encode(photo(3), "PNG")).decode()
    (root / "page.html").write_text(
        f'<img src="data:image/png;base64,{png}" alt="inline">'
        '<img src="data:image/png;base64,%%%" alt="broken">'
        '<img src="corrupt.jpg" alt="points at a corrupt file">'
        '<img src="../outside.jpg"><img src="https://example.com/a.jpg">'
    )
    result = cli("scan", root, "-f", "json")
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.stdout)
    export = orjson.loads(cli("export").stdout)
    codes = sorted(e["code"] for e in export["errors"])
    assert codes == sorted(
        [
            "bad-image",  # corrupt.jpg
            "bad-image",  # truncated.jpg
            "empty",  # empty.png
            "bad-image",  # text.gif
            "too-large",  # bomb.png
            "unreadable",  # gone.html
            "bad-encoding",  # bad.md
            "bad-tag",  # tags.txt
            "bad-json",  # dump.jsonl line 2
            "bad-data-uri",  # page.html #1
            "bad-image",  # page.html #2 -> corrupt.jpg
        ]
    )
    assert summary["errors"] == len(codes)
    by_code = {e["code"]: e for e in export["errors"]}
    assert by_code["bad-data-uri"]["article"] == str(root / "page.html")
    assert by_code["bad-data-uri"]["position"] == 1
    assert by_code["bad-json"]["article"] == f"{root / 'dump.jsonl'}#L2"
    assert "line 1" in by_code["bad-tag"]["message"]
    reasons = {
        (u["article"].rsplit("/", 1)[1], u["position"]): u["reason"] for u in export["unresolved"]
    }
    assert reasons[("page.html", 3)] == "outside-roots"
    assert reasons[("page.html", 4)] == "remote"
    assert reasons[("page.html", 1)] == "bad-data-uri"
    # The good image, the inline data URI and the markdown/jsonl references were catalogued.
    images = {i["sha256"]: i for i in export["images"]}
    assert len(images) == 2
    inline = next(i for i in images.values() if not i["files"])
    assert inline["occurrences"][0]["alt"] == "inline"
    assert cli("scan", root, "--strict").exit_code == 1


def test_catalogue_problems_exit_1_with_a_message_and_no_traceback(cli, tmp_path, samples):
    db = tmp_path / "broken.json"
    db.write_text("{ half a catalogue")
    result = cli("scan", samples / "gallery", "--db", db)
    assert result.exit_code == 1
    assert "Error:" in result.stderr and str(db) in result.stderr
    assert "Traceback" not in result.output
    assert db.read_text() == "{ half a catalogue"


def test_usage_errors_exit_2(cli):
    assert cli("scan").exit_code == 2
    assert cli("dupes", "--threshold", "99").exit_code == 2


def test_version_and_module_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "media_catalog", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.strip() == f"media-catalog {__version__}"


def test_progress_bar_on_a_terminal_only(cli, samples, monkeypatch):
    args = ("scan", samples / "gallery", "--workers", "2")
    assert "files/s" not in cli(*args).stderr  # not a terminal: silent
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: treat stderr as a terminal
    shown = cli(*args)
    assert shown.exit_code == 0 and "files/s" in shown.stderr and "3/3" in shown.stderr
    quiet = cli(*args, "--quiet")
    assert quiet.exit_code == 0 and "files/s" not in quiet.stderr
    assert cli("scan", samples / "gallery", "--workers", "0").exit_code == 2
