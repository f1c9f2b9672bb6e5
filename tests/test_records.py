"""Typed records on the read side: attributes over the stored documents, and the one
serializer to the JSON contract, byte for byte what each store holds."""

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from media_catalog import ErrorRecord, ImageRecord, OccurrenceRecord, open_store, scan
from media_catalog.records import OCCURRENCE_KEYS, STORED_OCCURRENCE_KEYS

from .conftest import photo, write_image


@pytest.fixture(params=["c.json", "c.sqlite"])
def catalog(request, tmp_path):
    site = tmp_path / "site"
    write_image(site / "a.jpg", photo(1))
    (site / "post.html").write_text(
        '<figure><img src="a.jpg" alt="عکس"><figcaption>Caption</figcaption></figure>'
        '<img src="missing.jpg" alt="gone"><img src="data:image/png;base64,broken">',
        encoding="utf-8",
    )
    catalog = open_store(tmp_path / request.param)
    scan([site], catalog, workers=1)
    return open_store(tmp_path / request.param)


def test_records_read_their_fields_as_attributes(catalog):
    (image,) = catalog.image_objects()
    assert isinstance(image, ImageRecord)
    assert (image.width, image.height, image.format) == (320, 240, "JPEG")
    assert image.files[0].endswith("a.jpg") and len(image.sha256) == 64
    (use,) = image.occurrences
    assert isinstance(use, OccurrenceRecord)
    assert (use.alt, use.caption, use.position, use.kind, use.sha256) == (
        "عکس",
        "Caption",
        0,
        "img",
        image.sha256,
    )
    assert image.paths() == [*image.files, use.file]
    gone = next(o for o in catalog.unresolved() if o.alt == "gone")
    assert (gone.sha256, gone.reason, gone.ref().src) == (None, "missing", "missing.jpg")
    (error,) = catalog.errors()
    assert isinstance(error, ErrorRecord) and (error.code, error.position) == ("bad-data-uri", 2)
    source = next(s for path, s in catalog.sources().items() if path.endswith("post.html"))
    assert source.size > 0 and source.settings is not None


def test_the_serializer_gives_the_contract_s_shapes(catalog):
    (image,) = catalog.image_objects()
    shaped = image.to_dict()
    assert list(shaped)[-2:] == ["files", "occurrences"]
    assert tuple(shaped["occurrences"][0]) == OCCURRENCE_KEYS
    (use,) = image.occurrences
    assert tuple(use.stored_dict()) == STORED_OCCURRENCE_KEYS
    assert ImageRecord.of_object(shaped).to_dict() == shaped  # an export's object, read back
    unresolved = [o.unresolved_dict() for o in catalog.unresolved()]
    assert all(tuple(u) == (*OCCURRENCE_KEYS, "reason") for u in unresolved)


def test_a_newer_version_s_keys_are_kept_and_an_older_one_s_read_as_null():
    newer = {**dict.fromkeys(STORED_OCCURRENCE_KEYS), "article": "a", "position": 0}
    newer["added_later"] = {"x": 1}
    record = OccurrenceRecord(newer)
    assert record.stored_dict() == newer and list(record.stored_dict())[-1] == "added_later"
    older = OccurrenceRecord({"article": "a", "position": 1, "src": "s.jpg", "alt": "x"})
    assert (older.kind, older.credit, older.srcset, older.ref().srcset) == ("img", None, None, ())
    assert older.to_dict() == {**dict.fromkeys(OCCURRENCE_KEYS), **older.doc, "kind": "img"}
    image = ImageRecord({"sha256": "s", "phash": "0" * 16, "files": []})
    assert (image.low_information, image.decode, image.variants) == (None, "full", None)
    assert image.to_dict() == image.doc  # no key made up


_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(), st.lists(st.text())
)


@given(st.dictionaries(st.sampled_from([*STORED_OCCURRENCE_KEYS, "new"]), _VALUES))
def test_any_occurrence_doc_round_trips_through_its_record(doc):
    doc = {"article": "a", "position": None, **doc}
    stored = OccurrenceRecord(doc).stored_dict()
    assert OccurrenceRecord(stored).stored_dict() == stored
    assert {key: stored[key] for key in doc} == doc  # nothing lost, nothing changed
    assert orjson.loads(orjson.dumps(stored)) == stored
