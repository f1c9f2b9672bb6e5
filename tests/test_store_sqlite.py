"""The SQLite store under real processes: killed scans lose at most the batch in flight, a
second writer waits, readers see the last committed state."""

import random
import sqlite3
import subprocess
import sys
import time

import orjson
import pytest

from media_catalog.errors import CatalogError
from media_catalog.pipeline import scan
from media_catalog.store import open_store

from .conftest import photo, write_image


def _scan_command(folder, db, *extra):
    return [sys.executable, "-m", "media_catalog", "scan", str(folder), "--db", str(db), "-q"] + [
        str(e) for e in extra
    ]


def _images(db) -> int:
    return sqlite3.connect(db).execute("SELECT count(*) FROM images").fetchone()[0]


@pytest.fixture
def many(tmp_path):
    folder = tmp_path / "many"
    for i in range(120):
        write_image(folder / f"{i}.png", photo(100 + i, (64, 48)), "PNG")
        (folder / f"{i}.md").write_text(f"![photo {i}]({i}.png)\n", encoding="utf-8")
    return folder


def test_sigkill_at_random_moments_loses_at_most_the_batch_in_flight(tmp_path, many):
    db = tmp_path / "c.sqlite"
    rng = random.Random(7)
    counts = []
    for _ in range(4):
        process = subprocess.Popen(
            _scan_command(many, db, "--save-every", 0, "--workers", 1),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.8, 2.5))
        process.kill()
        process.wait()
        assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone() == ("ok",)
        counts.append(_images(db))
        assert counts == sorted(counts)  # never less than before: committed work stays
    store = open_store(db)
    # every committed article has its image: a batch is all there or not at all
    assert len(list(store.occurrences())) == _images(db)
    summary = scan([many], open_store(db))
    assert summary.skipped >= 2 * counts[-1] - 2  # what was committed is not read again
    assert _images(db) == 120 and len(list(open_store(db).occurrences())) == 120


def test_a_second_writer_waits_then_both_scans_are_there(tmp_path):
    db = tmp_path / "c.sqlite"
    for name, seed in (("one", 1), ("two", 2)):
        write_image(tmp_path / name / "a.jpg", photo(seed))
        (tmp_path / name / "post.md").write_text(f"![{name}](a.jpg)\n", encoding="utf-8")
    open_store(db)  # created
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, time\n"
            f"db = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
            "db.execute('BEGIN IMMEDIATE')\n"
            "print('writing', flush=True); time.sleep(3); db.execute('COMMIT')",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "writing"
        started = time.monotonic()
        first = subprocess.run(
            _scan_command(tmp_path / "one", db), capture_output=True, text=True, check=False
        )
        assert first.returncode == 0, first.stderr
        assert time.monotonic() - started > 1  # it waited for the holder
        assert f"Waiting for another process writing {db}" in first.stderr
    finally:
        holder.kill()
        holder.wait()
    two = [
        subprocess.Popen(_scan_command(tmp_path / name, db), stderr=subprocess.PIPE)
        for name in ("one", "two")
    ]
    assert [p.wait() for p in two] == [0, 0]
    alts = {o.alt for o in open_store(db).occurrences()}
    assert alts == {"one", "two"}


def test_a_reader_during_a_write_sees_the_last_committed_state(tmp_path, cli):
    db = tmp_path / "c.sqlite"
    write_image(tmp_path / "site" / "a.jpg", photo(1))
    assert cli("scan", tmp_path / "site", "--db", db, "-q").exit_code == 0
    before = cli("stats", "--db", db, "-f", "json").stdout
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("DELETE FROM images")
    writer.execute("DELETE FROM files")
    started = time.monotonic()
    during = cli("stats", "--db", db, "-f", "json")
    assert during.exit_code == 0 and during.stdout == before
    assert time.monotonic() - started < 5  # no waiting for the writer
    writer.execute("ROLLBACK")
    assert orjson.loads(before)["images"] == 1


def test_files_that_are_not_catalogues_are_refused_and_left_untouched(tmp_path):
    foreign = tmp_path / "other.sqlite"
    connection = sqlite3.connect(foreign)
    connection.execute("CREATE TABLE notes (text)")
    connection.commit()
    connection.close()
    before = foreign.read_bytes()
    with pytest.raises(CatalogError, match="not a media-catalog catalogue"):
        open_store(foreign)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(CatalogError, match="not a readable SQLite catalogue"):
        open_store(garbage)
    assert foreign.read_bytes() == before
    newer = tmp_path / "newer.sqlite"
    open_store(newer)
    connection = sqlite3.connect(newer)
    connection.execute("UPDATE meta SET value = 99 WHERE key = 'schema_version'")
    connection.commit()
    connection.close()
    with pytest.raises(CatalogError, match="newer media-catalog"):
        open_store(newer)


def test_dupes_keeps_its_counts_for_stats_until_the_catalogue_changes(tmp_path, cli, monkeypatch):
    monkeypatch.setattr("media_catalog.query.JSON_IMAGES_ADVISED", 0)  # as if an archive
    db = tmp_path / "c.sqlite"
    write_image(tmp_path / "site" / "a.jpg", photo(1, (400, 300)))
    write_image(tmp_path / "site" / "b.jpg", photo(1, (200, 150)), quality=60)
    first = orjson.loads(cli("scan", tmp_path / "site", "--db", db, "-f", "json").stdout)
    assert first["near_clusters"] is None  # not counted at every scan of an archive
    stats = cli("stats", "--db", db)
    assert "not counted yet: run `media-catalog dupes`" in stats.stdout
    assert cli("dupes", "--db", db, "-f", "json").exit_code == 0
    counted = orjson.loads(cli("stats", "--db", db, "-f", "json").stdout)["clusters"]
    assert counted == {"threshold": 12, "exact": 0, "near": 1, "images_in_near": 2}
    write_image(tmp_path / "site" / "c.jpg", photo(3))
    assert cli("scan", tmp_path / "site", "--db", db, "-q").exit_code == 0
    again = orjson.loads(cli("stats", "--db", db, "-f", "json").stdout)["clusters"]
    assert again["near"] is None  # the catalogue changed since


def test_images_a_killed_scan_left_unused_are_swept_by_the_next_write(tmp_path):
    from media_catalog.store import Change

    write_image(tmp_path / "site" / "a.jpg", photo(1))
    (tmp_path / "site" / "post.md").write_text("![one](a.jpg)\n", encoding="utf-8")
    db = tmp_path / "c.sqlite"
    scan([tmp_path / "site"], open_store(db), workers=1)
    article = str(tmp_path / "site" / "post.md")
    image = str((tmp_path / "site" / "a.jpg").resolve())
    # a batch that forgets the article and the file, without sweeping: the process then dies
    open_store(db).write(Change(replaced={article, image}, removed={image}, sweep=False))
    assert len(list(open_store(db).images())) == 1  # kept for a later batch of that scan
    open_store(db).write(Change())  # the next write that sweeps, in another process
    assert list(open_store(db).images()) == []
