import html

from hypothesis import given
from hypothesis import strategies as st

from media_catalog.extract import extract_file, tagged
from media_catalog.extract.tagged import extract

from .conftest import SEED, SEED_ALT

SEED_KEYS = [
    "08170/08170bc3a50f68d963a8a9860d863f95afb1edd0",
    "b445e/b445e67c3fc00177088c5c68a96c41e415f19a09",
    "76fd8/76fd88d4e4a24f333b5d50e236995e4e95cf115d",
    "029f1/029f16125b3594dd654b81a8b039c3da3df902c3",
    "089ec/089ecfd5dfd603c5d9c1621ec6db9d78bc2a890c",
    "a4d70/a4d701cc959543ae191ba003a789b0994049c98b",
    "a189d/a189d5a8135496c7e205ac723f266d4264543908",
]


def test_seed_article_gives_seven_keys_with_the_same_persian_alt():
    (article,) = extract_file(SEED, "text")
    assert article.errors == []
    assert [r.src for r in article.refs] == [f"s3://crabby-images/{k}" for k in SEED_KEYS]
    assert [r.position for r in article.refs] == list(range(7))
    assert {r.alt for r in article.refs} == {SEED_ALT}
    assert all(r.caption is None and r.title is None for r in article.refs)


def test_seed_bytes_use_a_namespaced_tag():
    raw = SEED.read_bytes()
    assert raw.count(b":image>") == 14  # 7 opening + 7 closing, all with a prefix


def test_prefix_case_whitespace_quotes_and_escapes():
    text = (
        "before <ns:IMAGE>\n  data:image/s3,'s3://b/k1'\n  alt='it\\'s \"here\"'\n</NS:image>"
        ' middle <image>data:image/s3,"k2"</image>'
        ' <x:image src="a.png" alt="from attrs"></x:image>'
        ' <image>https://example.com/a.jpg alt="plain url"</image>'
        ' <image>![x](photos/q.jpg) alt="markdown"</image>'
        ' <image alt="self" src="s.png"/>'
    )
    refs, errors = extract(text, "a")
    assert errors == []
    assert [(r.src, r.alt) for r in refs] == [
        ("s3://b/k1", 'it\'s "here"'),
        ("k2", None),
        ("a.png", "from attrs"),
        ("https://example.com/a.jpg", "plain url"),
        ("photos/q.jpg", "markdown"),
        ("s.png", "self"),
    ]


def test_wrapper_is_never_decoded_but_a_real_data_uri_is_kept_whole():
    refs, _ = extract('<image>data:image/png;base64,iVBORw0KGgo= alt="x"</image>', "a")
    assert refs[0].src == "data:image/png;base64,iVBORw0KGgo="


def test_malformed_tags_are_recorded_and_the_rest_is_read():
    text = '<image>data:image/s3,"k1"\nline two <image>data:image/s3,"k2"</image><image></image>'
    refs, errors = extract(text, "art")
    assert [r.src for r in refs] == ["k2"]
    assert [e.code for e in errors] == ["bad-tag", "bad-tag"]
    assert "line 1" in errors[0].message and "never closed" in errors[0].message
    assert "no reference" in errors[1].message


@given(st.text())
def test_any_text_never_raises(text):
    refs, _ = tagged.extract(text, "a")
    assert [r.position for r in refs] == list(range(len(refs)))


_alt = st.text(st.characters(blacklist_characters='"\\<>', blacklist_categories=("Cs",)))


@given(st.lists(st.tuples(st.from_regex(r"[0-9a-f]{40}", fullmatch=True), _alt), max_size=8))
def test_generated_articles_give_back_every_tag_in_order(items):
    text = "\n".join(
        f'paragraph {i}\n<n{i}:image>data:image/s3,"s3://crabby-images/{k[:5]}/{k}" alt="{a}"'
        f"</n{i}:image>"
        for i, (k, a) in enumerate(items)
    )
    refs, errors = tagged.extract(text, "a")
    assert errors == []
    assert [(r.src, r.alt) for r in refs] == [
        (f"s3://crabby-images/{k[:5]}/{k}", html.unescape(a)) for k, a in items
    ]


def test_text_around_a_tag_is_context_never_a_caption():
    text = (
        'First words.\n<x:image>data:image/s3,"k1" alt="a"</x:image>\nMiddle.\n<image src="k2"/>End'
    )
    refs, _ = extract(text, "a")
    assert [(r.context_before, r.context_after, r.caption) for r in refs] == [
        ("First words.", "Middle. End", None),
        ("First words. Middle.", "End", None),
    ]
    assert extract(text, "a", context=0)[0][0].context_before is None


def test_seed_context_is_the_persian_text_between_tags():
    (article,) = extract_file(SEED, "text")
    first, second = article.refs[:2]
    assert first.context_before is None
    assert first.context_after.startswith("هنوز از تلفات")
    assert second.context_before.endswith(
        "خبر داده است. دقایقی پس از این انفجار و در حالی که"
        " نیروهای امنیتی سوری در حال مسدود کردن مسیرهای"
        " ارتباطی به محل وقوع حادثه بودند، دومین حمله"
        " انتحاری داعش نیز رخ داد."
    )
    assert len(second.context_before) <= 200


def test_many_unclosed_tags_are_each_reported_at_their_line():
    text = "".join(
        f'<image>data:image/s3,"k{n}" alt="a"' + ("</image>" if n % 3 == 0 else "") + "\n"
        for n in range(3000)
    )
    refs, errors = tagged.extract(text, "a.txt")
    closed = [n for n in range(3000) if n % 3 == 0]
    assert [r.src for r in refs] == [f"k{n}" for n in closed]
    unclosed = [n for n in range(3000) if n % 3]
    assert [e.message for e in errors] == [
        f"line {n + 1}: image tag is never closed; skipped" for n in unclosed
    ]
