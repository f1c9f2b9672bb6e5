"""`import` through the real CLI: an export or a catalogue merged into either store, and
`export` then `import` giving the same catalogue back, byte for byte."""

import orjson
import pytest

from media_catalog.store import open_store

from .conftest import photo, write_image


@pytest.fixture
def desk(cli, samples):
    """The samples scanned into the test's default catalogue (JSON or SQLite)."""
    result = cli("scan", samples, "--assets", samples / "assets", "-q")
    assert result.exit_code == 0, result.output
    return samples


@pytest.mark.parametrize("target", ["copy.json", "copy.sqlite"])
@pytest.mark.parametrize("form", ["json", "jsonl"])
def test_export_then_import_gives_the_same_catalogue(cli, desk, tmp_path, target, form):
    exported = cli("export", "-f", form).stdout_bytes
    (tmp_path / f"all.{form}").write_bytes(exported)
    result = cli("import", f"all.{form}", "--db", target, "-f", "json")
    assert result.exit_code == 0, result.output
    counts = orjson.loads(result.stdout)
    assert counts["images"] == 13 and counts["occurrences"] == 13
    assert counts["unresolved"] == (2 if form == "json" else 0)
    assert cli("export", "-f", form, "--db", target).stdout_bytes == exported
    commands = (["stats", "-f", "json"], ["dupes", "-f", "json"], ["search", "-f", "json", "حسکه"])
    for command in commands if form == "json" else ():
        assert cli(*command, "--db", target).stdout == cli(*command).stdout


def test_a_large_input_read_by_other_processes_imports_alike(cli, desk, tmp_path, monkeypatch):
    from media_catalog import merge

    monkeypatch.setattr(merge, "APART", 0)
    exported = cli("export").stdout_bytes
    (tmp_path / "all.json").write_bytes(exported)
    (tmp_path / "all.jsonl").write_bytes(cli("export", "-f", "jsonl").stdout_bytes)
    for source, target in (("all.json", "copy.sqlite"), (cli.db, "moved.sqlite")):
        result = cli("import", source, "--db", target, "-f", "json")
        assert result.exit_code == 0, result.output
        counts = orjson.loads(result.stdout)
        assert (counts["images"], counts["occurrences"], counts["unresolved"]) == (13, 13, 2)
        assert cli("export", "--db", target).stdout_bytes == exported
    assert cli("import", "all.jsonl", "--db", "lines.json").exit_code == 0
    jsonl = cli("export", "-f", "jsonl", "--db", "lines.json").stdout_bytes
    assert jsonl == (tmp_path / "all.jsonl").read_bytes()
    (tmp_path / "cut.json").write_bytes(exported[: exported.rindex(b'"errors"') + 12])
    result = cli("import", "cut.json", "--db", "cut.sqlite")
    assert result.exit_code == 1 and "not a whole `media-catalog export`" in result.stderr


def test_import_of_a_catalogue_moves_it_to_the_other_store(cli, desk, tmp_path):
    other = "moved.sqlite" if cli.db.endswith(".json") else "moved.json"
    assert cli("import", cli.db, "--db", other).exit_code == 0
    assert cli("export", "--db", other).stdout == cli("export").stdout
    # the scan states came along: a re-scan into the copy reads nothing again
    again = cli("scan", desk, "--assets", desk / "assets", "--db", other, "-f", "json", "-q")
    assert orjson.loads(again.stdout)["skipped"] == 11


def test_import_replaces_the_articles_it_brings_and_keeps_the_others(cli, tmp_path):
    write_image(tmp_path / "a" / "one.jpg", photo(1))
    write_image(tmp_path / "b" / "two.jpg", photo(2))
    (tmp_path / "a" / "post.md").write_text("![first alt](one.jpg)\n", encoding="utf-8")
    (tmp_path / "b" / "post.md").write_text("![other](two.jpg)\n", encoding="utf-8")
    assert cli("scan", tmp_path / "a", tmp_path / "b", "-q").exit_code == 0
    # another desk scanned the same article a later day
    (tmp_path / "a" / "post.md").write_text("![new alt](one.jpg)\n", encoding="utf-8")
    assert cli("scan", tmp_path / "a", "--db", "desk.json", "-q").exit_code == 0
    assert cli("import", "desk.json").exit_code == 0
    alts = sorted(r["alt"] for r in orjson.loads(cli("search", "-f", "json", "").stdout)["results"])
    assert alts == ["new alt", "other"]
    assert cli("import", "desk.json").exit_code == 0  # twice: nothing doubles
    assert orjson.loads(cli("stats", "-f", "json").stdout)["occurrences"] == 2
    # into an empty catalogue, the second of two inputs bringing one article replaces it
    assert cli("import", cli.db, "desk.json", "--db", "merged.sqlite").exit_code == 0
    merged = orjson.loads(cli("search", "-f", "json", "", "--db", "merged.sqlite").stdout)
    assert sorted(r["alt"] for r in merged["results"]) == ["new alt", "other"]


def test_a_bulk_load_killed_before_its_indexes_are_built_is_mended_by_the_next_writer(
    cli, desk, tmp_path
):
    import sqlite3

    from media_catalog.store.sqlite import _INDEX_NAMES

    assert cli("import", cli.db, "--db", "bulk.sqlite").exit_code == 0
    connection = sqlite3.connect(tmp_path / "bulk.sqlite")
    for name in _INDEX_NAMES:
        connection.execute(f"DROP INDEX {name}")  # as a killed bulk load leaves it
    connection.commit()
    before = cli("search", "-f", "json", "حسکه", "--db", "bulk.sqlite").stdout  # slower, right
    assert (
        cli("scan", desk, "--assets", desk / "assets", "--db", "bulk.sqlite", "-q").exit_code == 0
    )
    names = {n for (n,) in connection.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert set(_INDEX_NAMES) <= names
    assert cli("search", "-f", "json", "حسکه", "--db", "bulk.sqlite").stdout == before


def test_import_refuses_what_it_cannot_read_and_keeps_the_catalogue(cli, desk, tmp_path):
    before = cli("export").stdout
    (tmp_path / "broken.json").write_text('{"images": [{"sha256": "ab"', encoding="utf-8")
    result = cli("import", "broken.json")
    assert result.exit_code == 1 and "not a whole `media-catalog export`" in result.stderr
    assert "Traceback" not in result.output
    (tmp_path / "odd.jsonl").write_text('{"sha256": "ab"}\n', encoding="utf-8")
    result = cli("import", "odd.jsonl")
    assert result.exit_code == 1 and "image record: 'phash' is missing" in result.stderr
    itself = cli("import", cli.db)
    assert itself.exit_code == 1 and "is the catalogue itself" in itself.stderr
    assert cli("export").stdout == before


def test_a_library_import_merges_two_desks(tmp_path):
    from media_catalog import import_files, scan

    write_image(tmp_path / "a" / "one.jpg", photo(1))
    write_image(tmp_path / "b" / "one.jpg", photo(1))  # the same bytes at the other desk
    scan([tmp_path / "a"], open_store(tmp_path / "a.json"), workers=1)
    scan([tmp_path / "b"], open_store(tmp_path / "b.sqlite"), workers=1)
    merged = open_store(tmp_path / "all.sqlite")
    summary = import_files(merged, [tmp_path / "a.json", tmp_path / "b.sqlite"])
    assert (summary.inputs, summary.images) == (2, 2)
    (image,) = open_store(tmp_path / "all.sqlite").images()
    assert image.files == sorted(str(tmp_path / d / "one.jpg") for d in "ab")


def test_a_large_json_catalogue_is_told_how_to_move_to_sqlite(cli, samples, monkeypatch):
    monkeypatch.setattr("media_catalog.store.JSON_IMAGES_ADVISED", 5)
    result = cli("scan", samples, "--assets", samples / "assets", "-q")
    advice = "past 5 the SQLite store is faster and lighter: media-catalog import"
    if cli.db.endswith(".json"):
        assert advice in result.stderr
        assert f"--db {cli.db.replace('.json', '.sqlite')}" in result.stderr
    else:
        assert advice not in result.stderr
