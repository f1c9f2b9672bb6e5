import pytest

from media_catalog.catalog import Catalog
from media_catalog.errors import QueryError
from media_catalog.pipeline import scan
from media_catalog.query import lookup, lookup_image, search

from .conftest import photo, write_image


@pytest.fixture
def catalog(tmp_path):
    root = tmp_path / "site"
    write_image(root / "a.jpg", photo(1))
    write_image(root / "b.jpg", photo(2))
    (root / "post.html").write_text(
        '<title>t</title><figure><img src="a.jpg" alt="كتاب مي\u200cخواهم" title="Book">'
        "<figcaption>Library Caption</figcaption></figure>"
        '<img src="b.jpg" alt="ARABIC يوم"><img src="https://x.org/y.jpg" alt="remote one">'
    )
    db = tmp_path / "c.json"
    scan([root], Catalog(db))
    return Catalog(db)


def test_lookup_by_phash_sha256_and_prefix(catalog):
    a = next(i for i in catalog.images() if i["files"][0].endswith("a.jpg"))
    (match,) = lookup(catalog, a["phash"], distance=0)
    assert match["distance"] == 0 and match["image"]["sha256"] == a["sha256"]
    assert lookup(catalog, a["sha256"].upper())[0]["image"]["sha256"] == a["sha256"]
    assert lookup(catalog, "sha256:" + a["sha256"][:10])[0]["image"]["sha256"] == a["sha256"]
    flipped = f"{int(a['phash'], 16) ^ 0b111:016x}"
    assert [m["distance"] for m in lookup(catalog, flipped, distance=3)] == [3]
    assert lookup(catalog, flipped, distance=2) == []


def test_lookup_results_are_closest_first(catalog):
    found = lookup(catalog, "0" * 16, distance=64)
    assert [m["distance"] for m in found] == sorted(m["distance"] for m in found)
    assert len(found) == 2


def test_bad_keys_and_ambiguous_prefixes(catalog):
    with pytest.raises(QueryError, match="not a hash"):
        lookup(catalog, "xyz")
    with pytest.raises(QueryError, match="give more digits"):
        lookup(catalog, "sha256:")


def test_lookup_by_image_file(catalog, tmp_path):
    probe = write_image(tmp_path / "probe.png", photo(1), "PNG")
    (match,) = lookup_image(catalog, probe, distance=4)
    assert match["image"]["files"][0].endswith("a.jpg")


@pytest.mark.parametrize(
    ("query", "positions"),
    [
        ("کتاب", [0]),  # Persian kaf finds Arabic kaf
        ("ميخواهم", [0]),  # zero-width non-joiner ignored, Arabic yeh finds Persian yeh
        ("library caption", [0]),
        ("BOOK", [0]),
        ("یوم arabic", [1]),
        ("post.html", [0, 1, 2]),
        ("remote", [2]),
        ("nothing-like-this", []),
    ],
)
def test_search_folds_case_and_letter_variants(catalog, query, positions):
    assert [r["position"] for r in search(catalog, query)] == positions


def test_search_result_shape(catalog):
    (result,) = search(catalog, "remote")
    assert result["sha256"] is None and result["src"] == "https://x.org/y.jpg"
    assert set(result) >= {"article", "position", "src", "alt", "caption", "title", "sha256"}
