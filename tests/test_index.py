"""The read index beside the catalogue: lookup, show and search answer from it exactly as from
the loaded catalogue, and a missing, stale or broken index is never used."""

import io
import os
import shutil

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from media_catalog.catalog import STORED_OCCURRENCE_KEYS, Catalog, _write_tables
from media_catalog.errors import CatalogError, QueryError
from media_catalog.index import index_path
from media_catalog.pipeline import scan
from media_catalog.query import lookup, lookup_image, search, search_json, show

from .conftest import encode, photo, write_image
from .test_metadata import with_iptc, xmp_packet


def _exif(make: str, model: str, taken: str) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = make
    exif[0x0110] = model
    exif.get_ifd(0x8769).update({0x9003: taken})
    return exif.tobytes()


@pytest.fixture(scope="module")
def catalogues(tmp_path_factory):
    """One real catalogue (the samples, plus a site with every query field's material) and
    the same file without an index beside it: their paths (indexed, loaded)."""
    work = tmp_path_factory.mktemp("index")
    shutil.copytree(os.path.join(os.path.dirname(__file__), "..", "samples"), work / "samples")
    site = work / "site"
    write_image(
        site / "a.jpg", photo(1, (1200, 800)), exif=_exif("Canon", "EOS 5D", "2015:06:01 12:30:00")
    )
    write_image(site / "b.png", photo(2, (400, 300)), "PNG")
    write_image(site / "c.jpg", photo(1, (600, 400)), quality=70)  # near duplicate of a.jpg
    write_image(
        site / "d.jpg", photo(4, (300, 200)), exif=_exif("NIKON", "D850", "2016:01:02 03:04:05")
    )
    write_image(site / "gallery" / "loose.jpg", photo(5))  # used nowhere: a loose file
    (site / "xmp.jpg").write_bytes(encode(photo(6), "JPEG", xmp=xmp_packet()))  # its own words
    # a caption stored as a C string (NUL-terminated), then a keyword
    (site / "iptc.jpg").write_bytes(
        with_iptc(encode(photo(8)), [(120, b"Storm damage\x00"), (25, b"hurricane")])
    )
    (site / "corrupt.jpg").write_bytes(encode(photo(3))[:300])
    (site / "one.html").write_text(
        "<title>بازار تهران</title>"
        '<figure><img src="a.jpg" alt="Fire in the market"><figcaption>Market hall, 2015'
        "</figcaption></figure>"
        '<img src="b.png" alt="كتاب مي\u200cخواهم">'
        '<img src="https://example.org/x.jpg" alt="remote fire, 50%_off at C:\\shop">'
        '<img src="corrupt.jpg" alt="broken">'
        '<figure><img src="d.jpg" alt="يوم ١٤٠٢"><figcaption>بازار '
        '<span class="credit">عکس: رويترز</span></figcaption></figure>',
        encoding="utf-8",
    )
    (site / "two.md").write_text(
        '![logo of the paper](a.jpg)\n\n![the market after the fire](c.jpg "Ruins")\n'
        "![کتاب](d.jpg)\n\n![](xmp.jpg)\n\n![](iptc.jpg)\n",
        encoding="utf-8",
    )
    (site / "dump.jsonl").write_text(
        orjson.dumps(
            {"title": "Hasakah دو انفجار", "html": '<img src="b.png" alt="جدول">'}
        ).decode()
        + "\n",
        encoding="utf-8",
    )
    db = work / "c.json"
    scan([work / "samples", site], Catalog(db), assets=[work / "samples" / "assets"])
    assert index_path(db).is_file()
    plain = work / "loaded.json"
    shutil.copy(db, plain)  # same catalogue, no index beside it
    return db, plain


def _both(catalogues):
    """Both catalogues, freshly opened: a query that loads one (dup:) drops its index."""
    indexed, loaded = (Catalog(path, create=False) for path in catalogues)
    assert indexed.index() is not None and loaded.index() is None
    return indexed, loaded


QUERIES = [
    "fire",
    "fire market",
    "fire -market",
    '"market hall"',
    '"hall market"',
    "alt:fire",
    "caption:hall",
    "credit:رویترز",
    "title:ruins",
    "article:two.md",
    "article_title:بازار",
    "article_title:hasakah",
    "src:example.org",
    "format:png",
    "-format:jpeg",
    "camera:canon",
    "camera:nikon -camera:canon",
    "camera:eos",
    "taken:2015..2016",
    "taken:2015-06",
    "taken:..2015",
    "taken:2016..",
    "width:>1000",
    "width:400..600",
    "height:<500",
    "height:<=300 width:>=300",
    "uses:>1",
    "uses:1 format:jpeg",
    "-uses:1",
    "dup:yes",
    "dup:no -unresolved:yes",
    "unresolved:yes",
    "error:yes",
    "-error:yes",
    "unresolved:yes -error:yes",
    "alt:کتاب",
    "كتاب",
    "ميخواهم",
    "يوم 1402",
    "۱۴۰۲",
    "حسکه",
    "انفجار",
    '"FIRE IN"',
    "alt:\u200c",
    "-alt:a -caption:e",
    "jane roe",  # the photo's own XMP creator, caption, alt text, keywords
    '"smoke over"',
    '"shop roofs" -alt:roofs',
    "-smoke",
    # LIKE's wildcards and escape character are text like any other
    "50%_off",
    "0%o",
    "f_r",
    "%",
    "_",
    '"c:\\shop"',
    "\\",
    # text after a NUL in a value (SQL's LIKE stops at one)
    "hurricane",
    "-hurricane",
    "damage",
    "a" * 50_001,  # longer than SQLite takes a LIKE pattern
    "ک" * 30_000,
]


@pytest.mark.parametrize("query", QUERIES, ids=lambda query: query[:30])
def test_search_from_the_index_equals_search_from_the_loaded_catalogue(catalogues, query):
    indexed, loaded = _both(catalogues)
    assert search(indexed, query) == search(loaded, query)
    assert (indexed.index() is not None) == ("dup:" not in query)  # only dup: loads it all


@pytest.mark.parametrize("query", ["fire", "unresolved:yes", "-smoke", "dup:yes", "nothing"])
def test_search_json_is_the_same_bytes_from_either_path_one_result_a_line(catalogues, cli, query):
    indexed, loaded = (cli("search", "--db", db, "-f", "json", "--", query) for db in catalogues)
    assert indexed.exit_code == 0 and indexed.stdout_bytes == loaded.stdout_bytes
    data = orjson.loads(indexed.stdout)
    assert data["total"] == len(data["results"]) == len(search(Catalog(catalogues[0]), query))
    lines = indexed.stdout.split("\n")[:-1]
    assert len(lines) == 4 + bool(data["results"]) + len(data["results"])
    for line, result in zip(lines[2:], data["results"], strict=False):
        assert orjson.loads(line.strip().rstrip(",")) == result
        assert tuple(result) == STORED_OCCURRENCE_KEYS  # the occurrence, sha256 and reason


def test_the_queries_find_something(catalogues):
    """The comparisons above are not all between empty answers."""
    indexed, _ = _both(catalogues)
    found = {query: len(search(indexed, query)) for query in QUERIES}
    empty = ['"hall market"', "0%o", "f_r", "a" * 50_001, "ک" * 30_000]
    assert [query for query, n in found.items() if not n] == empty


_WORDS = ["fire", "market", "كتاب", "کتاب", "حسکه", "png", "a.jpg", "ruins", "رويترز", "1402"]
_TERMS = st.one_of(
    st.sampled_from(_WORDS),
    st.builds(
        "{}:{}".format,
        st.sampled_from(
            ["alt", "caption", "credit", "title", "article", "article_title", "src", "camera"]
        ),
        st.sampled_from([*_WORDS, "canon", "d850"]),
    ),
    st.builds("format:{}".format, st.sampled_from(["jpeg", "PNG", "gif"])),
    st.builds(
        "{}:{}{}".format,
        st.sampled_from(["width", "height", "uses"]),
        st.sampled_from(["", ">", ">=", "<", "<="]),
        st.integers(0, 1300),
    ),
    st.builds(
        "taken:{}..{}".format,
        st.sampled_from(["", "2014", "2015-06", "2016-01-02"]),
        st.sampled_from(["", "2015", "2016"]),
    ).filter(lambda t: t not in ("taken:..", "taken:2016-01-02..2015")),  # errors
    st.builds(
        "{}:{}".format, st.sampled_from(["unresolved", "error"]), st.sampled_from(["yes", "no"])
    ),
)


@given(st.lists(st.tuples(st.booleans(), _TERMS), min_size=1, max_size=4))
def test_any_query_gives_the_same_answer_on_both_paths(catalogues, terms):
    indexed, loaded = _both(catalogues)
    query = " ".join(("-" if negated else "") + term for negated, term in terms)
    assert search(indexed, query) == search(loaded, query)


def test_lookup_and_show_from_the_index_equal_the_loaded_catalogue(catalogues, tmp_path):
    indexed, loaded = _both(catalogues)
    for image in loaded.images():
        sha = image["sha256"]
        for key in (sha, sha.upper(), "sha256:" + sha[:8], sha[:12], image["phash"]):
            for distance in (0, 12, 64):
                assert lookup(indexed, key, distance) == lookup(loaded, key, distance)
        for distance in (0, 12):
            assert show(indexed, sha[:10], distance) == show(loaded, sha[:10], distance)
    assert lookup(indexed, "f" * 16, 64) == lookup(loaded, "f" * 16, 64)
    assert len(lookup(indexed, "0" * 16, 64)) == len(loaded.images())
    probe = write_image(tmp_path / "probe.png", photo(1), "PNG")
    assert lookup_image(indexed, probe, 20) == lookup_image(loaded, probe, 20)
    for catalog in (indexed, loaded):
        with pytest.raises(QueryError, match=rf"matches {len(loaded.images())} images"):
            lookup(catalog, "sha256:")
        with pytest.raises(QueryError, match="no image in"):
            show(catalog, "sha256:" + "0" * 40)
    assert indexed.index() is not None


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(st.text(), st.dictionaries(st.text(), st.dictionaries(st.text(), _JSON))))
def test_the_catalogue_file_is_written_as_orjson_would_and_places_point_at_each_document(data):
    handle = io.BytesIO()
    places = _write_tables(handle, data)
    written = handle.getvalue()
    assert written == orjson.dumps(data)
    for name, docs in data.items():
        for key, doc in docs.items():
            offset, length = places[name][key]
            assert orjson.loads(written[offset : offset + length]) == doc


# -- when the index is not used ----------------------------------------------------------------


@pytest.fixture
def scanned(tmp_path):
    site = tmp_path / "site"
    write_image(site / "a.jpg", photo(1))
    (site / "post.html").write_text('<img src="a.jpg" alt="first words">', encoding="utf-8")
    db = tmp_path / "c.json"
    scan([site], Catalog(db))
    return site, db


def _alts(catalog):
    return [r["alt"] for r in search(catalog, "article:post")]


def test_a_catalogue_rewritten_in_place_while_open_is_read_whole(scanned):
    _, db = scanned
    catalog = Catalog(db, create=False)
    assert catalog.index() is not None
    edited = db.read_bytes().replace(b"first words", b"other words")
    with db.open("r+b") as file:  # same file, same size: only the time tells
        file.write(edited)
    os.utime(db, ns=(1, 1))
    assert search_json(catalog, "first") == (0, [])  # the index still holds "first words"
    total, found = search_json(catalog, "other")
    assert total == 1 and orjson.loads(found[0])["alt"] == "other words"


def test_a_hand_edited_catalogue_is_read_whole_not_from_its_stale_index(scanned):
    _, db = scanned
    tables = orjson.loads(db.read_bytes())
    for doc in tables["occurrences"].values():
        doc["alt"] = "edited by hand"
    db.write_bytes(orjson.dumps(tables))
    catalog = Catalog(db, create=False)
    assert catalog.index() is None
    assert _alts(catalog) == ["edited by hand"]


def test_an_index_left_from_an_earlier_save_is_not_used(scanned):
    """A writer killed between renaming the catalogue and renaming its index."""
    site, db = scanned
    old = index_path(db).read_bytes()
    (site / "post.html").write_text('<img src="a.jpg" alt="second words">', encoding="utf-8")
    scan([site], Catalog(db))
    index_path(db).write_bytes(old)
    catalog = Catalog(db, create=False)
    assert catalog.index() is None and _alts(catalog) == ["second words"]


@pytest.mark.parametrize(
    "content", [b"", b"not a database", b"SQLite format 3\x00" + b"\x00" * 200]
)
def test_a_broken_index_is_ignored(scanned, content):
    _, db = scanned
    index_path(db).write_bytes(content)
    catalog = Catalog(db, create=False)
    assert catalog.index() is None and _alts(catalog) == ["first words"]


def test_a_deleted_index_is_rebuilt_by_the_next_save(scanned):
    _, db = scanned
    index_path(db).unlink()
    assert Catalog(db, create=False).index() is None
    assert _alts(Catalog(db, create=False)) == ["first words"]
    catalog = Catalog(db)
    catalog.save()  # nothing changed, but the index was missing: both are written
    assert Catalog(db, create=False).index() is not None
    stamp = index_path(db).stat().st_mtime_ns
    Catalog(db).save()  # the index is current: left alone
    assert index_path(db).stat().st_mtime_ns == stamp


def test_unsaved_changes_are_answered_from_memory(scanned):
    site, db = scanned
    catalog = Catalog(db)
    assert catalog.index() is not None
    catalog.record(
        sources={str(site / "post.html"): {}}, fingerprints=[], files={}, occurrences=[], errors=[]
    )
    assert catalog.index() is None and _alts(catalog) == []
    assert _alts(Catalog(db, create=False)) == ["first words"]  # not saved


def test_the_index_is_written_atomically_and_leftovers_are_cleared(scanned):
    _, db = scanned
    leftover = db.with_name(f".{db.name}.index.abc123.tmp")
    leftover.write_bytes(b"half an index")
    with Catalog(db).writing():
        pass
    assert not leftover.exists()
    assert sorted(p.name for p in db.parent.iterdir()) == sorted(
        ["site", "c.json", "c.json.lock", "c.json.index.sqlite"]
    )


def test_an_index_that_cannot_be_written_is_reported_after_the_catalogue_is_saved(scanned):
    site, db = scanned
    index_path(db).unlink()
    index_path(db).mkdir()  # something in the way
    (site / "post.html").write_text('<img src="a.jpg" alt="third words">', encoding="utf-8")
    with pytest.raises(CatalogError, match="was saved, but its read index"):
        scan([site], Catalog(db))
    assert _alts(Catalog(db, create=False)) == ["third words"]
    assert not list(db.parent.glob(".*.tmp"))


# -- the index built on the previous one -------------------------------------------------------


def _search_json(cli, query, db):
    result = cli("search", query, "--db", db, "-f", "json")
    assert result.exit_code == 0, result.output
    return sorted(
        (r["article"].rsplit("/", 1)[-1], r["alt"]) for r in orjson.loads(result.stdout)["results"]
    )


def test_a_rescan_that_changes_one_article_refolds_it_and_keeps_the_others(cli, tmp_path):
    site = tmp_path / "site"
    write_image(site / "a.jpg", photo(1))
    write_image(site / "b.jpg", photo(2))
    for name in ("one", "two", "three"):
        (site / f"{name}.html").write_text(
            f'<img src="a.jpg" alt="old {name}"><img src="b.jpg" alt="تصاویر {name}">',
            encoding="utf-8",
        )
    db = tmp_path / "c.json"
    assert cli("scan", site, "--db", db, "-q").exit_code == 0
    (site / "two.html").write_text('<img src="b.jpg" alt="new two">', encoding="utf-8")
    assert cli("scan", site, "--db", db, "-q").exit_code == 0
    assert Catalog(db, create=False).index() is not None  # answered from the index below
    assert _search_json(cli, "two", db) == [("two.html", "new two")]
    assert _search_json(cli, "old", db) == [("one.html", "old one"), ("three.html", "old three")]
    assert _search_json(cli, "تصاوير", db) == [  # folded text kept from the previous index
        ("one.html", "تصاویر one"),
        ("three.html", "تصاویر three"),
    ]
    # the same answers as a catalogue whose index was built from nothing
    index_path(db).unlink()
    Catalog(db).save()
    assert _search_json(cli, "two", db) == [("two.html", "new two")]
    assert _search_json(cli, "تصاوير", db) == [
        ("one.html", "تصاویر one"),
        ("three.html", "تصاویر three"),
    ]


def test_a_stale_index_is_not_built_on(scanned, cli):
    """An index left from an earlier save (a writer killed between the two renames) is
    neither read nor reused by the next save."""
    site, db = scanned
    old = index_path(db).read_bytes()
    (site / "post.html").write_text('<img src="a.jpg" alt="second words">', encoding="utf-8")
    assert cli("scan", site, "--db", db, "-q").exit_code == 0
    index_path(db).write_bytes(old)
    assert _search_json(cli, "words", db) == [("post.html", "second words")]
    (site / "other.html").write_text('<img src="a.jpg" alt="third words">', encoding="utf-8")
    assert cli("scan", site, "--db", db, "-q").exit_code == 0  # builds the index afresh
    assert Catalog(db, create=False).index() is not None
    assert _search_json(cli, "words", db) == [
        ("other.html", "third words"),
        ("post.html", "second words"),
    ]
