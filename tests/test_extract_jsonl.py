import gzip

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from media_catalog.errors import ExtractError
from media_catalog.extract import ExtractOptions, extract_file, jsonl


def test_each_line_is_an_article_and_a_broken_line_is_its_own_error(tmp_path):
    lines = [
        orjson.dumps({"url": "u1", "html": '<img src="a.jpg" alt="one">'}),
        b"{not json",
        b"",
        orjson.dumps({"text": 'Intro <image>data:image/s3,"k1" alt="dos"</image>'}),
        orjson.dumps({"content": 'Plain <img src="c.png" alt="three">'}),
        orjson.dumps({"title": "no text field"}),
        orjson.dumps(["not", "an", "object"]),
    ]
    path = tmp_path / "dump.jsonl"
    path.write_bytes(b"\n".join(lines))
    articles = list(extract_file(path, "jsonl"))
    by_id = {a.id.rsplit("#", 1)[1]: a for a in articles}
    assert sorted(by_id) == ["L1", "L2", "L4", "L5", "L6", "L7"]
    assert [(r.src, r.alt) for r in by_id["L1"].refs] == [("a.jpg", "one")]
    assert [(r.src, r.alt) for r in by_id["L4"].refs] == [("k1", "dos")]
    assert [(r.src, r.alt) for r in by_id["L5"].refs] == [("c.png", "three")]
    assert [e.code for e in by_id["L2"].errors] == ["bad-json"]
    assert [e.code for e in by_id["L6"].errors] == ["no-text-field"]
    assert [e.code for e in by_id["L7"].errors] == ["bad-json"]
    assert by_id["L2"].errors[0].article == f"{path}#L2"


@given(st.binary(max_size=300))
def test_any_bytes_never_raise(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("j") / "x.jsonl"
    path.write_bytes(data)
    for article in extract_file(path, "jsonl"):
        assert article.id.startswith(str(path) + "#L")


def test_named_fields_and_detected_url_title_date(tmp_path):
    lines = [
        orjson.dumps({"body": '<img src="a.jpg">', "u": "https://e/a", "t": "Named"}),
        orjson.dumps({"html": '<title>Page</title><img src="b.jpg">', "url": "https://e/b"}),
        orjson.dumps({"text": "x", "title": "T", "date": "2024-01-02"}),
    ]
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"\n".join(lines))
    options = ExtractOptions(text_field="body", url_field="u", title_field="t")
    first, second, _ = extract_file(path, "jsonl", options)
    assert [(r.src, r.article_url, r.article_title) for r in first.refs] == [
        ("a.jpg", "https://e/a", "Named")
    ]
    assert [e.code for e in second.errors] == ["no-text-field"]
    assert "--text-field" in second.errors[0].message
    second = list(extract_file(path, "jsonl"))[1]
    assert [(r.article_url, r.article_title) for r in second.refs] == [("https://e/b", "Page")]


def test_interleaved_documents_are_read_in_order():
    record = {
        "texts": ["Opening paragraph.", None, "Between the images.", None, None, "Closing."],
        "images": [None, "https://img/1.jpg", None, "https://img/2.jpg", "", None],
        "metadata": orjson.dumps(
            [None, {"alt_text": "first alt"}, None, {"alt_text": "second"}, None, None]
        ).decode(),
        "general_metadata": orjson.dumps({"url": "https://page"}).decode(),
    }
    refs, errors = jsonl.extract_line(orjson.dumps(record), "d.jsonl#L1")
    assert errors == []
    assert [(r.position, r.src, r.alt, r.context_before, r.context_after) for r in refs] == [
        (0, "https://img/1.jpg", "first alt", "Opening paragraph.", "Between the images. Closing."),
        (1, "https://img/2.jpg", "second", "Opening paragraph. Between the images.", "Closing."),
    ]
    assert {r.article_url for r in refs} == {"https://page"}


def test_gzip_dump_and_a_truncated_one(tmp_path):
    good = tmp_path / "d.jsonl.gz"
    good.write_bytes(gzip.compress(b'{"html": "<img src=a.jpg>"}\n{bad\n'))
    articles = list(extract_file(good, "jsonl"))
    assert [a.id.rsplit("#", 1)[1] for a in articles] == ["L1", "L2"]
    assert [r.src for r in articles[0].refs] == ["a.jpg"]
    truncated = tmp_path / "t.jsonl.gz"
    truncated.write_bytes(gzip.compress(b'{"html": "<img src=a.jpg>"}\n' * 200)[:-30])
    with pytest.raises(ExtractError) as caught:
        list(extract_file(truncated, "jsonl"))
    assert caught.value.code == "unreadable"


@given(
    st.lists(st.one_of(st.none(), st.text(" ab\u0627\n", max_size=40)), max_size=25),
    st.lists(st.sampled_from([None, "", "a.jpg", " b.png "]), max_size=27),
    st.sampled_from([0, 1, 7, 200]),
)
def test_interleaved_context_is_the_words_around_each_image(texts, images, context):
    from media_catalog.extract.context import text_after, text_before

    refs = jsonl._interleaved({"texts": texts, "images": images}, "a", context)
    words = [" ".join(t.split()) if isinstance(t, str) else "" for t in texts]
    expected = []
    for index, src in enumerate(images):
        if isinstance(src, str) and src.strip():
            before = " ".join(w for w in words[:index] if w)  # the whole document's words
            after = " ".join(w for w in words[index + 1 :] if w)
            expected.append(
                (
                    text_before(before, len(before), context) if context else None,
                    text_after(after, 0, context) if context else None,
                )
            )
    assert [(r.context_before, r.context_after) for r in refs] == expected


def test_the_seed_s_key_wrapper_resolves_through_assets_from_html_and_jsonl(tmp_path):
    # the same content-addressed key as in the text corpus, packaged the same way
    from media_catalog import open_store, scan

    from .conftest import SAMPLES

    key = "s3://crabby-images/b445e/b445e67c3fc00177088c5c68a96c41e415f19a09"
    wrapped = f'data:image/s3,"{key}"'
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "page.html").write_text(f"<p>Text</p><img src='{wrapped}' alt='page'>")
    record = {"texts": ["Text", None], "images": [None, wrapped], "metadata": "[]"}
    (corpus / "dump.jsonl").write_bytes(orjson.dumps(record) + b"\n")
    catalog = open_store(tmp_path / "c.json")
    scan([corpus], catalog, assets=[SAMPLES / "assets"], workers=1)
    found = sorted((o.article.split("/")[-1], o.src, o.reason) for o in catalog.occurrences())
    assert found == [("dump.jsonl#L1", key, None), ("page.html", key, None)]


def test_a_record_cut_short_is_told_at_its_own_line_whatever_its_line_break(tmp_path):
    # a crawl dump's last records are often cut off; the error names the record's own text
    dump = tmp_path / "d.jsonl"
    dump.write_bytes(b'{"html": "<img src=a.jpg>"\n{"html": "<img src=b.jpg>\r\n\r\n   \n')
    articles = list(extract_file(dump, "jsonl"))
    assert [a.id.rsplit("#", 1)[1] for a in articles] == ["L1", "L2"]
    messages = [e.message for a in articles for e in a.errors]
    assert messages == [
        "line is not valid JSON: unexpected end of data: line 1 column 27 (char 26)",
        "line is not valid JSON: unexpected end of data: line 1 column 26 (char 25)",
    ]
