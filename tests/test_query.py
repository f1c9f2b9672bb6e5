import shutil

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from media_catalog.errors import QueryError
from media_catalog.pipeline import scan
from media_catalog.query import lookup, lookup_image, search
from media_catalog.querylang import FIELDS, parse
from media_catalog.store import open_store
from media_catalog.text import normalize

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
    scan([root], open_store(db))
    return open_store(db)


def test_lookup_by_phash_sha256_and_prefix(catalog):
    a = next(i.to_dict() for i in catalog.images() if i.files[0].endswith("a.jpg"))
    (match,) = lookup(catalog, a["phash"], distance=0)
    assert match["distance"] == 0 and match["image"]["sha256"] == a["sha256"]
    assert lookup(catalog, a["sha256"].upper())[0]["image"]["sha256"] == a["sha256"]
    assert lookup(catalog, "sha256:" + a["sha256"][:10])[0]["image"]["sha256"] == a["sha256"]
    for digits in (6, 12, 63):  # a bare prefix, as the dupes and search tables print it
        assert lookup(catalog, a["sha256"][:digits]) == lookup(catalog, a["sha256"])
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
    ("turn", "view"),
    [
        (Image.Transpose.FLIP_LEFT_RIGHT, "mirror"),
        (Image.Transpose.ROTATE_90, "rot270"),  # the file turned back three quarters matches
        (Image.Transpose.ROTATE_180, "rot180"),
        (Image.Transpose.ROTATE_270, "rot90"),
    ],
)
def test_lookup_by_image_file_finds_a_mirrored_or_turned_copy_with_transforms(
    catalog, tmp_path, turn, view
):
    probe = write_image(tmp_path / "probe.jpg", photo(1).transpose(turn))
    assert [m["image"]["files"] for m in lookup_image(catalog, probe, distance=4)] == []
    (match,) = lookup_image(catalog, probe, distance=4, transforms=True)
    assert match["image"]["files"][0].endswith("a.jpg")
    assert match["view"] == view and match["distance"] <= 4
    same = write_image(tmp_path / "same.jpg", photo(1))
    assert lookup_image(catalog, same, distance=4, transforms=True)[0]["view"] == "original"
    loaded = tmp_path / "loaded.json"  # the same catalogue without its read index
    shutil.copy(catalog.path, loaded)
    assert lookup_image(open_store(loaded), probe, distance=4, transforms=True) == [match]


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


# -- the query language ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field", "value", "negated"),
    [
        ("word", None, "word", False),
        ("-Word", None, "word", True),
        ('"two  Words"', None, "two words", False),
        ('-caption:"Market Hall"', "caption", "market hall", True),
        ("ALT:كتاب", "alt", "کتاب", False),
        ("format:jpeg", "format", "JPEG", False),
        ("width:>1000", "width", (1001, None), False),
        ("height:<500", "height", (None, 499), False),
        ("uses:>=2", "uses", (2, None), False),
        ("width:800..1200", "width", (800, 1200), False),
        ("width:640", "width", (640, 640), False),
        ("taken:2015..2016", "taken", ("2015", "2016"), False),
        ("taken:2015-06", "taken", ("2015-06", "2015-06"), False),
        ("taken:..2016", "taken", (None, "2016"), False),
        ("taken:2016-02-29", "taken", ("2016-02-29", "2016-02-29"), False),
        ("taken:2015..2015-06", "taken", ("2015", "2015-06"), False),
        ("taken:2015-06-30..2015-06", "taken", ("2015-06-30", "2015-06"), False),
        ("width:2..2", "width", (2, 2), False),
        ("dup:yes", "dup", True, False),
        ("-unresolved:no", "unresolved", False, True),
        ("error:yes", "error", True, False),
        ("camera:Canon", "camera", "canon", False),
    ],
)
def test_parse_terms(query, field, value, negated):
    (term,) = parse(query)
    assert (term.field, term.value, term.negated) == (field, value, negated)


def test_parse_several_terms_keeps_order():
    terms = parse('fire -alt:logo "coffee stall" width:>10')
    assert [(t.field, t.value, t.negated, t.phrase) for t in terms] == [
        (None, "fire", False, False),
        ("alt", "logo", True, False),
        (None, "coffee stall", False, True),
        ("width", (11, None), False, False),
    ]


@pytest.mark.parametrize(
    ("query", "message", "term"),
    [
        ("fire colour:red", "unknown field 'colour'", "colour:red"),
        ("width:big", "width: takes a number", "width:big"),
        ("taken:last-year", "taken: takes a date", "taken:last-year"),
        ("dup:maybe", "dup: takes yes or no", "dup:maybe"),
        ('a "open phrase', 'no closing "', '"open phrase'),
        ("alt:", "alt: needs a value", "alt:"),
        ("a - b", "empty term", "-"),
        ('ab"c"', 'unexpected "', '"'),
        (
            'alt:"\\"quoted\\""',
            "phrase ends at its second \" (character 7), so the 'q'",
            'alt:"\\"',
        ),
        ('x -"a""b"', "so the '\"' at character 7 is unexpected", '-"a"'),
        ("taken:2015-13", "month 13 does not exist", "taken:2015-13"),
        ("taken:2015-00", "month 0 does not exist", "taken:2015-00"),
        ("taken:2015-02-30", "2015-02 has no day 30", "taken:2015-02-30"),
        ("taken:2015-02-29..", "2015-02 has no day 29", "taken:2015-02-29.."),
        ("a taken:..2015-04-31", "2015-04 has no day 31", "taken:..2015-04-31"),
        (
            "taken:2016..2015",
            "the range 2016..2015 is empty: the first bound is above",
            "taken:2016..2015",
        ),
        (
            "taken:2015-07..2015-06-30",
            "range 2015-07..2015-06-30 is empty",
            "taken:2015-07..2015-06-30",
        ),
        ("width:5..2", "width: the range 5..2 is empty", "width:5..2"),
        ("height:10..3", "height: the range 10..3 is empty", "height:10..3"),
    ],
)
def test_parse_errors_point_at_the_term(query, message, term):
    with pytest.raises(QueryError) as info:
        parse(query)
    text = str(info.value)
    assert message in text and repr(term) in text
    start = query.index(term)
    assert text.splitlines()[-1] == "  " + " " * start + "^" * len(term)


@given(st.text(max_size=40))
def test_parser_either_parses_or_raises_a_query_error(query):
    try:
        terms = parse(query)
    except QueryError as exc:
        assert "^" in str(exc)
    else:
        assert all(term.field is None or term.field in FIELDS for term in terms)


@given(st.lists(st.text(alphabet="abcکیيك۱1\u200c ", min_size=1, max_size=8), max_size=4))
def test_plain_words_are_free_text_terms(words):
    query = " ".join(w for w in words if normalize(w))
    assert [t.value for t in parse(query)] == normalize(query).split()


_PRECISION = st.sampled_from([4, 7, 10])  # YYYY, YYYY-MM, YYYY-MM-DD


@given(st.dates(), st.dates(), _PRECISION, _PRECISION)
def test_a_date_range_parses_unless_it_is_empty(first, second, low_digits, high_digits):
    low, high = first.isoformat()[:low_digits], second.isoformat()[:high_digits]
    query = f"taken:{low}..{high}"
    earliest = low + "-01-01"[len(low) - 4 :]  # the first day the low bound covers
    latest = high + "-12-31"[len(high) - 4 :]  # (as text: 2015-06 ends on "2015-06-31")
    if earliest > latest:
        with pytest.raises(QueryError, match="is empty: the first bound is above the second"):
            parse(query)
    else:
        assert parse(query)[0].value == (low, high)
