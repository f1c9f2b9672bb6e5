import orjson
from hypothesis import given
from hypothesis import strategies as st

from media_catalog.extract import extract_file


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
