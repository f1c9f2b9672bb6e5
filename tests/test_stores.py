"""Both stores answer alike: the same catalogue in a TinyDB JSON file and in SQLite (made from
it by `import`) gives the same lookup, show and search answers and the same JSON bytes."""

import os
import shutil

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from media_catalog.errors import CatalogError, QueryError
from media_catalog.merge import import_files
from media_catalog.pipeline import scan
from media_catalog.query import lookup, lookup_image, search, show
from media_catalog.records import STORED_OCCURRENCE_KEYS
from media_catalog.store import open_store

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
    """One real catalogue (the samples, plus a site with every query field's material) as a
    JSON file and as SQLite: their paths (json, sqlite)."""
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
    scan([work / "samples", site], open_store(db), assets=[work / "samples" / "assets"])
    sqlite = work / "c.sqlite"
    import_files(open_store(sqlite), [db])
    return db, sqlite


def _both(catalogues):
    """Both catalogues, freshly opened."""
    return tuple(open_store(path, create=False) for path in catalogues)


QUERIES = [
    "fire",
    "fire market",
    "fire -market",
    '"market hall"',
    '"hall market"',
    "alt:fire",
    "caption:hall",
    "credit:رویترز",
    "credited:markup",
    "credited:none",
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
    "dup:no",
    "-dup:yes unresolved:yes",
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
    # fewer than three characters make no trigram: looked for without the index
    "alt:کت",
    "alt:ک",
    "caption:با",
    "-alt:یو",
    "credit:رو",
    "article_title:با",
    "fi",
    "ک",
    # characters the full-text query syntax gives a meaning to are text like any other
    'alt:"fire in"',
    "alt:*",
    "title:ruins*",
    "{alt}",
    "alt:^fire",
    "NEAR(fire",
    "src:https://",
]


@pytest.mark.parametrize("query", QUERIES, ids=lambda query: query[:30])
def test_search_in_sqlite_equals_search_in_the_json_file(catalogues, query):
    indexed, loaded = _both(catalogues)
    assert search(indexed, query) == search(loaded, query)


@pytest.mark.parametrize("query", ["fire", "unresolved:yes", "-smoke", "dup:yes", "nothing"])
def test_search_json_is_the_same_bytes_from_either_store_one_result_a_line(catalogues, cli, query):
    indexed, loaded = (cli("search", "--db", db, "-f", "json", "--", query) for db in catalogues)
    assert indexed.exit_code == 0 and indexed.stdout_bytes == loaded.stdout_bytes
    data = orjson.loads(indexed.stdout)
    assert data["total"] == len(data["results"]) == len(search(open_store(catalogues[0]), query))
    lines = indexed.stdout.split("\n")[:-1]
    assert len(lines) == 4 + bool(data["results"]) + len(data["results"])
    for line, result in zip(lines[2:], data["results"], strict=False):
        assert orjson.loads(line.strip().rstrip(",")) == result
        assert tuple(result) == STORED_OCCURRENCE_KEYS  # the occurrence, sha256 and reason


def test_the_queries_find_something(catalogues):
    """The comparisons above are not all between empty answers."""
    indexed, _ = _both(catalogues)
    found = {query: len(search(indexed, query)) for query in QUERIES}
    empty = ['"hall market"', "0%o", "f_r", "a" * 50_001, "ک" * 30_000, "alt:*", "title:ruins*"]
    empty += ["{alt}", "alt:^fire", "NEAR(fire"]
    assert [query for query, n in found.items() if not n] == empty


_WORDS = [
    *("fire", "market", "كتاب", "کتاب", "حسکه", "png", "a.jpg", "ruins", "رويترز", "1402"),
    *("کت", "ک", "با", "fi", "*", "{alt}", "^fire"),
]
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
    st.builds("credited:{}".format, st.sampled_from(["markup", "label", "pattern", "none"])),
)


@given(st.lists(st.tuples(st.booleans(), _TERMS), min_size=1, max_size=4))
def test_any_query_gives_the_same_answer_in_both_stores(catalogues, terms):
    indexed, loaded = _both(catalogues)
    query = " ".join(("-" if negated else "") + term for negated, term in terms)
    assert search(indexed, query) == search(loaded, query)


def test_lookup_and_show_are_the_same_in_both_stores(catalogues, tmp_path):
    indexed, loaded = _both(catalogues)
    for image in loaded.images():
        sha = image.sha256
        for key in (sha, sha.upper(), "sha256:" + sha[:8], sha[:12], image.phash):
            for distance in (0, 12, 64):
                assert lookup(indexed, key, distance) == lookup(loaded, key, distance)
        for distance in (0, 12):
            assert show(indexed, sha[:10], distance) == show(loaded, sha[:10], distance)
    assert lookup(indexed, "f" * 16, 64) == lookup(loaded, "f" * 16, 64)
    assert len(lookup(indexed, "0" * 16, 64)) == len(list(loaded.images()))
    probe = write_image(tmp_path / "probe.png", photo(1), "PNG")
    assert lookup_image(indexed, probe, 20) == lookup_image(loaded, probe, 20)
    for catalog in (indexed, loaded):
        with pytest.raises(QueryError, match=rf"matches {len(list(loaded.images()))} images"):
            lookup(catalog, "sha256:")
        with pytest.raises(QueryError, match="no image in"):
            show(catalog, "sha256:" + "0" * 40)


@pytest.mark.parametrize("name", ["c.json", "c.sqlite"])
def test_a_reader_knows_when_another_writer_saved_and_writes_nothing(tmp_path, name):
    write_image(tmp_path / "site" / "a.jpg", photo(1))
    db = tmp_path / name
    scan([tmp_path / "site"], open_store(db))
    reader = open_store(db, create=False, read_only=True)
    assert reader.image_count() == 1 and not reader.changed()
    with pytest.raises(CatalogError, match="opened read-only"), reader.writing():
        pass
    reader.keep("something", 1)
    assert reader.kept("something") is None  # kept nothing
    write_image(tmp_path / "site" / "b.jpg", photo(2))
    scan([tmp_path / "site"], open_store(db))  # another writer saves
    assert reader.changed()
    assert open_store(db, create=False, read_only=True).image_count() == 2
