"""show, stats and export formats through the real CLI on the shipped samples."""

import csv
import io

import orjson
import pytest

from media_catalog import DEFAULT_THRESHOLD

from .conftest import SEED_ALT

COFFEE = "52daa394"  # sha256 prefix of the coffee-stall photo, used in all three articles


@pytest.fixture
def scanned(cli, samples):
    assert cli("scan", samples, "--assets", samples / "assets", "-q").exit_code == 0
    return samples


def test_show_json_has_the_image_every_place_and_near_duplicates(cli, scanned):
    result = cli("show", COFFEE, "-f", "json")
    assert result.exit_code == 0, result.output
    shown = orjson.loads(result.stdout)
    image = shown["image"]
    assert image["sha256"].startswith(COFFEE) and image["width"] == 600
    articles = [o["article"].rsplit("/", 1)[1] for o in image["occurrences"]]
    assert articles == ["hasakah-bombings.txt", "market-fire.html", "photo-essay.md"]
    assert {o["caption"] for o in image["occurrences"]} >= {
        "A coffee stall in the market hall, photographed last year before the fire."
    }
    near = shown["near_duplicates"]
    assert near and all(0 <= m["distance"] <= DEFAULT_THRESHOLD for m in near)
    assert COFFEE not in {m["image"]["sha256"][:8] for m in near}
    same = orjson.loads(cli("show", f"sha256:{image['sha256']}", "-f", "json").stdout)
    assert same["image"]["sha256"] == image["sha256"]


def test_show_table(cli, scanned):
    table = cli("show", COFFEE)
    assert table.exit_code == 0
    assert "Used in 3 places" in table.stdout and "A coffee" in table.stdout


@pytest.mark.parametrize(
    ("key", "message"),
    [("ffffffff", "no image in"), ("xyz", "not a SHA-256"), ("", "not a SHA-256")],
)
def test_show_errors_are_clear(cli, scanned, key, message):
    result = cli("show", key)
    assert result.exit_code == 1 and message in result.stderr
    assert "Traceback" not in result.output


def test_show_ambiguous_prefix(cli, scanned):
    export = orjson.loads(cli("export").stdout)
    firsts = [i["sha256"][0] for i in export["images"]]
    shared = next(c for c in firsts if firsts.count(c) > 1)
    result = cli("show", shared)
    assert result.exit_code == 1 and "give more digits" in result.stderr


def test_stats_json_and_table(cli, scanned):
    counts = orjson.loads(cli("stats", "-f", "json").stdout)
    assert counts["images"] == 13 and counts["occurrences"] == 15 and counts["articles"] == 3
    assert counts["formats"] == {"JPEG": 11, "PNG": 2}
    assert sum(counts["sizes"].values()) == 13
    assert counts["unresolved"] == {"remote": 1, "missing": 1}
    assert counts["errors"] == {}
    assert counts["clusters"] == {
        "threshold": DEFAULT_THRESHOLD,
        "exact": 0,
        "near": 5,
        "images_in_near": 10,
    }
    table = cli("stats")
    assert table.exit_code == 0 and "Images by format" in table.stdout


def test_stats_counts_errors_by_code(cli, tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "bad.jpg").write_bytes(b"not an image")
    (tmp_path / "site" / "empty.png").write_bytes(b"")
    cli("scan", tmp_path / "site", "-q")
    counts = orjson.loads(cli("stats", "-f", "json").stdout)
    assert counts["errors"] == {"bad-image": 1, "empty": 1}


def test_export_csv_one_row_per_occurrence_with_image_fields(cli, scanned):
    rows = list(csv.DictReader(io.StringIO(cli("export", "-f", "csv").stdout)))
    occurrences = [r for r in rows if r["article"]]
    assert len(occurrences) == 15  # 13 resolved + 2 unresolved
    seed = [r for r in occurrences if r["article"].endswith("hasakah-bombings.txt")]
    assert [r["position"] for r in seed] == [str(i) for i in range(7)]
    assert {r["alt"] for r in seed} == {SEED_ALT}  # Persian survives the round trip
    assert all(r["width"] and len(r["sha256"]) == 64 for r in seed)
    assert {r["reason"] for r in occurrences if not r["sha256"]} == {"remote", "missing"}
    loose = [r for r in rows if not r["article"]]
    assert loose and all(r["file"] and r["sha256"] for r in loose)


def test_export_jsonl_is_one_image_object_per_line(cli, scanned):
    lines = cli("export", "-f", "jsonl").stdout.splitlines()
    images = [orjson.loads(line) for line in lines]
    assert images == orjson.loads(cli("export").stdout)["images"]


def test_export_dataset_rows(cli, scanned):
    rows = [orjson.loads(line) for line in cli("export", "-f", "dataset").stdout.splitlines()]
    assert all(
        list(row)
        == [
            "url",
            "path",
            "alt",
            "caption",
            "title",
            "attribution",
            "width",
            "height",
            "sha256",
            "phash",
            "article",
        ]
        for row in rows
    )
    remote = [r for r in rows if r["url"]]
    assert len(remote) == 1 and remote[0]["sha256"] is None and remote[0]["width"] is None
    local = [r for r in rows if r["path"]]
    assert len(local) == 12  # resolved occurrences with a file (the data URI has none)
    coffee = [r for r in local if r["sha256"].startswith(COFFEE)]
    assert len({(r["alt"], r["caption"]) for r in coffee}) == 3  # alt and caption kept apart
    assert all(r["width"] == 600 and len(r["phash"]) == 16 for r in coffee)
