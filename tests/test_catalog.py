import signal
import subprocess
import sys
import time

import orjson
import pytest

from media_catalog.catalog import SCHEMA_VERSION, Catalog, image_objects
from media_catalog.errors import CatalogError
from media_catalog.pipeline import scan

from .conftest import photo, write_image


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "site"
    write_image(root / "a.jpg", photo(1))
    (root / "post.html").write_text('<img src="a.jpg" alt="ا"><img src="gone.jpg">')
    return root


def test_scan_writes_a_real_tinydb_file_with_a_schema_version(tmp_path, folder):
    db = tmp_path / "c.json"
    scan([folder], Catalog(db))
    tables = orjson.loads(db.read_bytes())
    assert set(tables) == {"images", "occurrences", "errors", "meta"}
    assert list(tables["meta"].values()) == [{"schema_version": SCHEMA_VERSION}]
    from tinydb import TinyDB

    assert len(TinyDB(db).table("occurrences")) == 2


def test_rescan_does_not_duplicate_and_new_folders_add(tmp_path, folder):
    db = tmp_path / "c.json"
    scan([folder], Catalog(db))
    scan([folder], Catalog(db))
    catalog = Catalog(db)
    assert len(catalog.occurrences()) == 2 and len(catalog.images()) == 1
    other = tmp_path / "other"
    write_image(other / "b.png", photo(2), "PNG")
    scan([other], Catalog(db))
    assert len(Catalog(db).images()) == 2
    assert len(Catalog(db).occurrences()) == 2


def test_changed_article_replaces_its_old_occurrences(tmp_path, folder):
    db = tmp_path / "c.json"
    scan([folder], Catalog(db))
    (folder / "post.html").write_text('<img src="a.jpg" alt="new alt">')
    scan([folder], Catalog(db))
    assert [o["alt"] for o in Catalog(db).occurrences()] == ["new alt"]


def test_unsaved_changes_are_not_written(tmp_path, folder):
    db = tmp_path / "c.json"
    scan([folder], Catalog(db))
    before = db.read_bytes()
    catalog = Catalog(db)
    catalog.record(sources=[], fingerprints=[], files={}, occurrences=[], errors=[])
    del catalog
    assert db.read_bytes() == before


@pytest.mark.parametrize(
    "content", [b"{not json", b'{"images": {"1": {}}}', b"[1, 2]", b'{"images": []}', b""]
)
def test_broken_or_foreign_files_are_refused_and_left_untouched(tmp_path, folder, content):
    db = tmp_path / "c.json"
    db.write_bytes(content)
    with pytest.raises(CatalogError) as info:
        scan([folder], Catalog(db))
    assert str(db) in str(info.value)
    assert db.read_bytes() == content


def test_newer_schema_is_refused(tmp_path):
    db = tmp_path / "c.json"
    db.write_bytes(orjson.dumps({"meta": {"1": {"schema_version": SCHEMA_VERSION + 1}}}))
    with pytest.raises(CatalogError, match="newer media-catalog"):
        Catalog(db)


def test_sigkill_during_a_scan_leaves_a_complete_catalogue(tmp_path, folder):
    """A real subprocess killed at many moments: the catalogue is always the old or the new."""
    for i in range(60):
        write_image(folder / "many" / f"{i}.png", photo(100 + i, (64, 48)), "PNG")
    db = tmp_path / "c.json"
    scan([folder / "a.jpg"], Catalog(db))
    before = db.read_bytes()
    command = [sys.executable, "-m", "media_catalog", "scan", str(folder), "--db", str(db), "-q"]
    for delay in (0.3, 0.6, 0.9, 1.2, 1.5, 2.0):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        catalog = Catalog(db)  # loads: never half-written
        assert len(catalog.images()) in (1, 61)
        if db.read_bytes() != before:
            break
    else:
        pytest.skip("every kill came before the write; the write itself was not interrupted")


def test_missing_catalogue_for_reading(tmp_path):
    with pytest.raises(CatalogError, match="run `media-catalog scan"):
        Catalog(tmp_path / "none.json", create=False)


def test_image_objects_have_the_contract_shape(tmp_path, folder):
    db = tmp_path / "c.json"
    scan([folder], Catalog(db))
    (image,) = image_objects(Catalog(db))
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
        "files",
        "occurrences",
    ]
    assert image["files"] == [str((folder / "a.jpg").resolve())]
    (occurrence,) = image["occurrences"]
    assert occurrence["article"] == str(folder / "post.html")
    assert (occurrence["position"], occurrence["alt"], occurrence["caption"]) == (0, "ا", None)
