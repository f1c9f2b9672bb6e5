import base64
import os
import signal
import stat
import subprocess
import sys
import time

import orjson
import pytest

from media_catalog.errors import CatalogError
from media_catalog.models import ImageRef, Occurrence, counts_key
from media_catalog.pipeline import scan
from media_catalog.query import search
from media_catalog.records import STORED_OCCURRENCE_KEYS
from media_catalog.store import open_store
from media_catalog.store.jsonfile import SCHEMA_VERSION

from .conftest import encode, photo, write_image


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "site"
    write_image(root / "a.jpg", photo(1))
    (root / "post.html").write_text('<img src="a.jpg" alt="ا"><img src="gone.jpg">')
    return root


def test_scan_writes_a_real_tinydb_file_with_a_schema_version(tmp_path, folder):
    db = tmp_path / "c.json"
    scan([folder], open_store(db))
    tables = orjson.loads(db.read_bytes())
    assert set(tables) == {"images", "occurrences", "errors", "sources", "meta"}
    [meta] = tables["meta"].values()
    assert meta["schema_version"] == SCHEMA_VERSION
    from tinydb import TinyDB

    assert len(TinyDB(db).table("occurrences")) == 2


def test_rescan_does_not_duplicate_and_new_folders_add(tmp_path, folder):
    db = tmp_path / "c.json"
    scan([folder], open_store(db))
    scan([folder], open_store(db))
    catalog = open_store(db)
    assert len(list(catalog.occurrences())) == 2 and len(list(catalog.images())) == 1
    other = tmp_path / "other"
    write_image(other / "b.png", photo(2), "PNG")
    scan([other], open_store(db))
    assert len(list(open_store(db).images())) == 2
    assert len(list(open_store(db).occurrences())) == 2


def test_changed_article_replaces_its_old_occurrences(tmp_path, folder):
    db = tmp_path / "c.json"
    scan([folder], open_store(db))
    (folder / "post.html").write_text('<img src="a.jpg" alt="new alt">')
    scan([folder], open_store(db))
    assert [o.alt for o in open_store(db).occurrences()] == ["new alt"]


def test_unsaved_changes_are_not_written(tmp_path, folder):
    db = tmp_path / "c.json"
    scan([folder], open_store(db))
    before = db.read_bytes()
    catalog = open_store(db)
    catalog.record(sources={}, fingerprints=[], files={}, occurrences=[], errors=[])
    del catalog
    assert db.read_bytes() == before


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"images": {"1": {}}}',
        b"[1, 2]",
        b'{"images": []}',
        b"",
        b'{"meta": {"1": {"schema_version": "two"}}, "images": {}}',
        b'{"meta": {"1": {"schema_version": 2}}, "images": {"1": {"sha256": "ab", "phash": ',
    ],
)
def test_broken_or_foreign_files_are_refused_and_left_untouched(tmp_path, folder, content):
    db = tmp_path / "c.json"
    db.write_bytes(content)
    with pytest.raises(CatalogError) as info:
        scan([folder], open_store(db))
    assert str(db) in str(info.value)
    assert db.read_bytes() == content


def test_newer_schema_is_refused(tmp_path):
    db = tmp_path / "c.json"
    db.write_bytes(orjson.dumps({"meta": {"1": {"schema_version": SCHEMA_VERSION + 1}}}))
    with pytest.raises(CatalogError, match="newer media-catalog"):
        open_store(db)


def _scan_command(folder, db, *extra):
    return [sys.executable, "-m", "media_catalog", "scan", str(folder), "--db", str(db), "-q"] + [
        str(e) for e in extra
    ]


def test_sigkill_during_a_scan_leaves_a_loadable_catalogue_and_the_scan_resumes(tmp_path, folder):
    """A real subprocess, saving progress after every file, killed at several moments (just
    after a save landed, then later): the catalogue always loads, and the next scan resumes."""
    for i in range(150):
        write_image(folder / "many" / f"{i}.png", photo(100 + i, (64, 48)), "PNG")
    db = tmp_path / "c.json"
    scan([folder / "a.jpg"], open_store(db))
    counts = []
    for extra_wait in (0.0, 0.05, 0.2):
        stamp = db.stat().st_mtime_ns
        process = subprocess.Popen(
            _scan_command(folder, db, "--save-every", 0),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while db.stat().st_mtime_ns == stamp and time.monotonic() < deadline:
            time.sleep(0.002)  # until a save has landed: the scan is under way
        time.sleep(extra_wait)
        process.send_signal(signal.SIGKILL)
        process.wait()
        counts.append(len(list(open_store(db).images())))  # loads: never half-written
        assert 1 <= counts[-1] <= 151
        if 1 < counts[-1] < 151:
            break
    else:
        pytest.skip(f"no kill landed between two saves (images after each kill: {counts})")
    summary = scan([folder], open_store(db))
    assert summary.skipped >= counts[-1] - 1  # what was saved is not read again
    assert len(list(open_store(db).images())) == 151


def test_second_writer_is_refused_with_a_clear_message(tmp_path, folder, cli):
    db = tmp_path / "c.json"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from media_catalog import open_store\n"
            f"with open_store({str(db)!r}).writing():\n"
            "    print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = cli("scan", folder, "--db", db)
        assert result.exit_code == 1
        assert "being written by another media-catalog process" in result.stderr
        assert f"pid {holder.pid}" in result.stderr and "Traceback" not in result.output
        assert not db.exists()
    finally:
        holder.kill()
        holder.wait()
    assert cli("scan", folder, "--db", db).exit_code == 0  # the lock died with its holder


def test_rescan_skips_unchanged_files_and_rereads_changed_ones(tmp_path, folder):
    db = tmp_path / "c.json"
    first = scan([folder], open_store(db))
    assert (first.skipped, first.loose_images, first.articles) == (0, 1, 1)
    again = scan([folder], open_store(db))
    assert (again.skipped, again.loose_images, again.articles, again.occurrences) == (2, 0, 0, 0)
    assert again.unique_images == 0 and again.exact_clusters == first.exact_clusters
    # touched, same bytes: the article is skipped by its content hash, its new time remembered
    post = folder / "post.html"
    os.utime(post, ns=(post.stat().st_atime_ns, post.stat().st_mtime_ns + 10**9))
    assert scan([folder], open_store(db)).skipped == 2
    assert open_store(db).sources()[str(post)].mtime_ns == post.stat().st_mtime_ns
    # changed: re-read
    post.write_text('<img src="a.jpg" alt="changed">')
    changed = scan([folder], open_store(db))
    assert (changed.skipped, changed.articles) == (1, 1)
    assert [o.alt for o in open_store(db).occurrences()] == ["changed"]


def test_prune_forgets_vanished_files_only_under_the_scanned_paths(tmp_path, folder):
    db = tmp_path / "c.json"
    other = tmp_path / "other"
    write_image(other / "b.png", photo(2), "PNG")
    scan([folder], open_store(db))
    scan([other], open_store(db))
    (folder / "post.html").unlink()
    kept = scan([folder], open_store(db))
    assert kept.pruned == 0 and len(list(open_store(db).occurrences())) == 2
    (folder / "a.jpg").unlink()
    pruned = scan([folder], open_store(db), prune=True)
    assert pruned.pruned == 2
    catalog = open_store(db)
    assert list(catalog.occurrences()) == []
    assert [i.files for i in list(catalog.images())] == [[str(other / "b.png")]]
    assert set(catalog.sources()) == {str(other / "b.png")}


def test_schema_1_is_migrated_on_open_and_written_as_2_by_the_next_scan(tmp_path, folder):
    db = tmp_path / "c.json"
    scan([folder], open_store(db))
    tables = orjson.loads(db.read_bytes())
    del tables["sources"]
    tables["meta"] = {"1": {"schema_version": 1}}
    db.write_bytes(orjson.dumps(tables))
    old = db.read_bytes()
    catalog = open_store(db, create=False)
    assert len(list(catalog.images())) == 1
    assert {path: state.to_dict() for path, state in catalog.sources().items()} == {
        str(folder / "post.html"): {
            "path": str(folder / "post.html"),
            "size": None,
            "mtime_ns": None,
            "sha256": None,
        }
    }
    assert db.read_bytes() == old  # reading never writes
    summary = scan([folder], open_store(db))
    assert summary.skipped == 0 and summary.articles == 1  # re-read once to learn the sizes
    assert orjson.loads(db.read_bytes())["meta"]["1"]["schema_version"] == SCHEMA_VERSION
    assert scan([folder], open_store(db)).skipped == 2


def test_occurrences_written_by_an_older_version_are_saved_in_the_search_result_shape(
    tmp_path, folder
):
    db = tmp_path / "c.json"
    scan([folder], open_store(db))
    tables = orjson.loads(db.read_bytes())
    for key, doc in tables["occurrences"].items():
        del doc["kind"], doc["article_date"]  # keys added later, then in another order
        tables["occurrences"][key] = dict(reversed(doc.items()))
    db.write_bytes(orjson.dumps(tables))
    other = tmp_path / "other"
    write_image(other / "b.png", photo(2), "PNG")
    scan([other], open_store(db))  # saves the old documents too
    saved = orjson.loads(db.read_bytes())["occurrences"].values()
    assert [tuple(doc) for doc in saved] == [STORED_OCCURRENCE_KEYS] * 2
    assert [(doc["kind"], doc["article_date"], doc["reason"]) for doc in saved] == [
        ("img", None, None),
        ("img", None, "missing"),
    ]
    assert search(open_store(db, create=False), "") == [dict(doc) for doc in saved]


def test_keys_a_newer_version_added_to_occurrences_are_kept_by_a_save(tmp_path, folder):
    db = tmp_path / "c.json"
    scan([folder], open_store(db))
    tables = orjson.loads(db.read_bytes())
    for doc in tables["occurrences"].values():
        doc["lang"] = "fa"
    db.write_bytes(orjson.dumps(tables))
    write_image(tmp_path / "other" / "b.png", photo(2), "PNG")
    scan([tmp_path / "other"], open_store(db))
    saved = list(orjson.loads(db.read_bytes())["occurrences"].values())
    assert [(tuple(doc)[-1], doc["lang"]) for doc in saved] == [("lang", "fa")] * 2
    assert search(open_store(db, create=False), "lang") == []  # kept, not searched
    assert [r["lang"] for r in search(open_store(db, create=False), "")] == ["fa", "fa"]


def test_an_occurrence_is_stored_with_exactly_the_keys_search_prints():
    ref = ImageRef("a.html", 0, "a.jpg")
    assert tuple(Occurrence(ref, "ab" * 32, "/a.jpg").to_dict()) == STORED_OCCURRENCE_KEYS


def test_a_rescan_that_changes_nothing_reuses_the_cluster_counts(tmp_path):
    site = tmp_path / "site"
    write_image(site / "a.jpg", photo(1, (400, 300)))
    write_image(site / "b.jpg", photo(1, (200, 150)), quality=60)  # a near duplicate
    (site / "post.html").write_text('<img src="a.jpg">')
    db = tmp_path / "c.json"
    first = scan([site], open_store(db))
    assert (first.exact_clusters, first.near_clusters) == (0, 1)
    tables = orjson.loads(db.read_bytes())
    [meta] = tables["meta"].values()
    key = counts_key(12)
    assert meta["kept"] == {key: {"exact": 0, "near": 1, "images_in_near": 2}}
    meta["kept"][key]["near"] = 7  # what was kept is what a re-scan reports
    db.write_bytes(orjson.dumps(tables))
    again = scan([site], open_store(db))
    assert (again.skipped, again.near_clusters) == (3, 7)
    assert scan([site], open_store(db), threshold=6).near_clusters == 1  # another threshold
    assert scan([site], open_store(db)).near_clusters == 7  # both thresholds' are kept
    (site / "post.html").write_text('<img src="b.jpg">')
    assert scan([site], open_store(db)).near_clusters == 1  # the catalogue changed: counted


def test_saves_keep_the_catalogue_permissions(tmp_path, folder):
    db = tmp_path / "c.json"
    umask = os.umask(0o027)
    try:
        scan([folder], open_store(db))
    finally:
        os.umask(umask)
    lock = db.with_name("c.json.lock")
    modes = [stat.S_IMODE(path.stat().st_mode) for path in (db, lock)]
    assert modes == [0o640, 0o640]  # what `open` gives under that umask, not 0600
    db.chmod(0o664)  # shared with a group
    write_image(folder / "b.png", photo(2), "PNG")
    scan([folder], open_store(db))
    assert stat.S_IMODE(db.stat().st_mode) == 0o664


def test_missing_catalogue_for_reading(tmp_path):
    with pytest.raises(CatalogError, match="run `media-catalog scan"):
        open_store(tmp_path / "none.json", create=False)


def test_image_objects_have_the_contract_shape(tmp_path, folder):
    db = tmp_path / "c.json"
    scan([folder], open_store(db))
    (image,) = [i.to_dict() for i in open_store(db).image_objects()]
    assert list(image) == [
        "sha256",
        "phash",
        "dhash",
        "width",
        "height",
        "format",
        "exif",
        "decode",
        "low_information",
        "embedded",
        "variants",
        "phash256",
        "turned",
        "files",
        "occurrences",
    ]
    assert image["files"] == [str((folder / "a.jpg").resolve())]
    (occurrence,) = image["occurrences"]
    assert occurrence["article"] == str(folder / "post.html")
    assert (occurrence["position"], occurrence["alt"], occurrence["caption"]) == (0, "ا", None)


def test_a_catalogue_written_before_occurrences_said_tracking_still_reports(tmp_path, folder, cli):
    db = tmp_path / "c.json"
    scan([folder], open_store(db))
    tables = orjson.loads(db.read_bytes())
    for doc in tables["occurrences"].values():
        del doc["tracking"]
    db.write_bytes(orjson.dumps(tables))
    for command in (["stats"], ["dupes"], ["audit"], ["search", "error:no"]):
        result = cli(*command, "--db", db, "-f", "json")
        assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", ["c.json", "c.sqlite"])
def test_an_image_one_batch_leaves_unused_and_a_later_batch_uses_is_kept(tmp_path, name):
    """A scan saving after every file: a.html stops using a photo, then b.html (read later,
    in another batch) uses the same bytes. The photo is not fingerprinted again (it was
    catalogued), so the first batch must not have dropped it."""
    site = tmp_path / "site"
    site.mkdir()
    uri = "data:image/png;base64," + base64.b64encode(encode(photo(5), "PNG")).decode()
    (site / "a.html").write_text(f'<img src="{uri}" alt="first">', encoding="utf-8")
    db = tmp_path / name
    scan([site], open_store(db), workers=1)
    (site / "a.html").write_text("<p>the photo was taken down</p>", encoding="utf-8")
    (site / "b.html").write_text(f'<img src="{uri}" alt="again">', encoding="utf-8")
    scan([site], open_store(db), workers=1, save_every=0)
    catalog = open_store(db)
    (image,) = catalog.image_objects()
    assert [o.alt for o in image.occurrences] == ["again"]
    assert search(catalog, "unresolved:no") == search(catalog, "again")
    # and an image nothing uses any more is dropped by the scan's last write
    (site / "b.html").write_text("<p>gone too</p>", encoding="utf-8")
    scan([site], open_store(db), workers=1, save_every=0)
    assert list(open_store(db).images()) == []
