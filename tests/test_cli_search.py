"""`media-catalog search` with the query language, through the real CLI on real files."""

import fcntl
import io
import os
import sys
from pathlib import Path

import orjson
import pytest
from PIL import Image

from media_catalog.render import widen_pipe

from .conftest import encode, photo, write_image


def _canon_2015() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "EOS 5D"
    exif.get_ifd(0x8769).update({0x9003: "2015:06:01 12:30:00"})
    return exif.tobytes()


@pytest.fixture
def site(cli, tmp_path_factory):
    root = tmp_path_factory.mktemp("site")  # free words also match the article path
    write_image(root / "a.jpg", photo(1, (1200, 800)), exif=_canon_2015())
    write_image(root / "b.png", photo(2, (400, 300)), "PNG")
    write_image(root / "c.jpg", photo(1, (600, 400)), quality=70)  # near duplicate of a.jpg
    (root / "corrupt.jpg").write_bytes(encode(photo(3))[:300])
    (root / "one.html").write_text(
        '<figure><img src="a.jpg" alt="Fire in the market"><figcaption>Market hall, 2015'
        "</figcaption></figure>"
        '<img src="b.png" alt="كتاب مي\u200cخواهم">'
        '<img src="https://example.org/x.jpg" alt="remote fire">'
        '<img src="corrupt.jpg" alt="broken">',
        encoding="utf-8",
    )
    (root / "two.md").write_text(
        '![logo of the paper](a.jpg)\n\n![the market after the fire](c.jpg "Ruins")\n',
        encoding="utf-8",
    )
    assert cli("scan", root, "-q").exit_code == 0
    return root


def places(cli, query):
    result = cli("search", "-f", "json", "--", query)  # `--`: a query may start with -
    assert result.exit_code == 0, result.output
    return sorted(
        (r["article"].rsplit("/", 1)[1], r["position"])
        for r in orjson.loads(result.stdout)["results"]
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("fire", [("one.html", 0), ("one.html", 2), ("two.md", 1)]),
        ("fire market", [("one.html", 0), ("two.md", 1)]),
        ("fire -market", [("one.html", 2)]),
        ('"market hall"', [("one.html", 0)]),
        ('"hall market"', []),
        ("alt:fire", [("one.html", 0), ("one.html", 2), ("two.md", 1)]),
        ("caption:hall", [("one.html", 0)]),
        ('caption:"market hall"', [("one.html", 0)]),
        ("title:ruins", [("two.md", 1)]),
        ("article:two.md", [("two.md", 0), ("two.md", 1)]),
        ("src:example.org", [("one.html", 2)]),
        ("format:png", [("one.html", 1)]),
        ("-format:jpeg", [("one.html", 1), ("one.html", 2), ("one.html", 3)]),
        ("camera:canon", [("one.html", 0), ("two.md", 0)]),
        ("camera:eos", [("one.html", 0), ("two.md", 0)]),
        ("taken:2015..2016", [("one.html", 0), ("two.md", 0)]),
        ("taken:2015-06", [("one.html", 0), ("two.md", 0)]),
        ("taken:2016..", []),
        ("width:>1000", [("one.html", 0), ("two.md", 0)]),
        ("width:400..600", [("one.html", 1), ("two.md", 1)]),
        ("height:<500", [("one.html", 1), ("two.md", 1)]),
        ("uses:>1", [("one.html", 0), ("two.md", 0)]),
        ("uses:1 format:jpeg", [("two.md", 1)]),
        ("dup:yes", [("one.html", 0), ("two.md", 0), ("two.md", 1)]),
        ("dup:no -unresolved:yes", [("one.html", 1)]),
        ("unresolved:yes", [("one.html", 2), ("one.html", 3)]),
        ("error:yes", [("one.html", 3)]),
        ("unresolved:yes -error:yes", [("one.html", 2)]),
        # one normalisation everywhere: Arabic kaf/yeh find Persian ones, ZWNJ ignored
        ("alt:کتاب", [("one.html", 1)]),
        ("ميخواهم", [("one.html", 1)]),
        ('"FIRE IN"', [("one.html", 0)]),
    ],
)
def test_query_language(cli, site, query, expected):
    assert places(cli, query) == expected


def test_plain_words_still_work_and_table_renders(cli, site):
    table = cli("search", "market")
    assert table.exit_code == 0 and "2 results." in table.stdout


@pytest.mark.parametrize(
    ("query", "message", "pointer"),
    [
        ("fire colour:red", "unknown field 'colour'", "     ^^^^^^^^^^"),
        ("width:>big", "width: takes a number", "^^^^^^^^^^"),
        ('market "hall', 'no closing "', "       ^^^^^"),
        ('alt:"\\"quoted\\""', 'ends at its second " (character 7)', "^^^^^^^"),
        ("taken:2015-13", "month 13 does not exist", "^^^^^^^^^^^^^"),
        ("taken:2016..2015", "the range 2016..2015 is empty", "^^^^^^^^^^^^^^^^"),
    ],
)
def test_parse_errors_point_at_the_term_without_a_traceback(cli, site, query, message, pointer):
    result = cli("search", query)
    assert result.exit_code == 1
    assert message in result.stderr and "Traceback" not in result.output
    assert result.stderr.rstrip("\n").splitlines()[-1] == "  " + pointer


@pytest.fixture
def many(cli, tmp_path_factory):
    """150 references in 3 articles, every one matching `market`."""
    root = tmp_path_factory.mktemp("many")
    write_image(root / "a.jpg", photo(1))
    for n in range(3):
        tags = "".join(f'<img src="a.jpg" alt="market {n}-{i}">' for i in range(50))
        (root / f"p{n}.html").write_text(tags, encoding="utf-8")
    for db in ("many.json", "many.sqlite"):
        assert cli("scan", root, "--db", db, "-q").exit_code == 0
    return root


@pytest.mark.parametrize("db", ["many.json", "many.sqlite"])
def test_a_table_shows_the_first_100_results_and_how_many_match(cli, many, db):
    result = cli("search", "market", "--db", db)
    assert result.exit_code == 0, result.output
    assert "The first 100 of 150 results; --limit 0 shows all." in result.stdout
    assert "market 1-49" in result.stdout and "market 2-0" not in result.stdout  # by place
    everything = cli("search", "market", "--db", db, "--limit", "0")
    assert "150 results." in everything.stdout and "market 2-49" in everything.stdout


@pytest.mark.parametrize("db", ["many.json", "many.sqlite"])
def test_json_holds_every_result_unless_limited_and_the_total(cli, many, db):
    data = orjson.loads(cli("search", "market", "--db", db, "-f", "json").stdout)
    assert data["total"] == 150 and len(data["results"]) == 150
    alts = [r["alt"] for r in data["results"]]
    assert alts == [f"market {n}-{i}" for n in range(3) for i in range(50)]
    limited = cli("search", "market", "--db", db, "-f", "json", "--limit", "3")
    data = orjson.loads(limited.stdout)
    assert data["total"] == 150 and [r["alt"] for r in data["results"]] == alts[:3]
    assert cli("search", "market", "--db", db, "--limit", "-1").exit_code == 2


@pytest.mark.skipif(sys.platform != "linux", reason="pipe sizes are Linux's")
def test_json_output_widens_a_pipe_and_leaves_anything_else(tmp_path):
    limit = int(Path("/proc/sys/fs/pipe-max-size").read_text())
    read, write = os.pipe()
    with os.fdopen(read, "rb"), os.fdopen(write, "wb") as pipe:
        widen_pipe(pipe)
        size = fcntl.fcntl(write, fcntl.F_GETPIPE_SZ)
        if size != limit:  # refused: the user's quota of pipe memory is used up
            with pytest.raises(OSError):
                fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, limit)
            pytest.skip("this user may not widen a pipe now")
    with open(tmp_path / "out.json", "wb") as file:
        widen_pipe(file)
    widen_pipe(io.BytesIO())


def test_credited_filters_by_how_the_credit_was_found(cli, tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "a.html").write_text(
        '<figure><img src="a.jpg"><figcaption>Storm <span class="credit">Ann Lee</span>'
        "</figcaption></figure>"
        '<figure><img src="b.jpg"><figcaption>Flood (Jane Roe/AP)</figcaption></figure>'
        '<figure><img src="c.jpg"><figcaption>Fire. Photo: Bo Li</figcaption></figure>'
        '<img src="d.jpg">'
    )
    assert cli("scan", pages, "-q").exit_code == 0

    def found(query: str) -> list[str]:
        results = orjson.loads(cli("search", "-f", "json", "--", query).stdout)["results"]
        return [r["src"] for r in results]

    assert found("credited:markup") == ["a.jpg"]
    assert found("credited:pattern") == ["b.jpg"]
    assert found("credited:label") == ["c.jpg"]
    assert found("credited:none") == ["d.jpg"]
    assert found("-credited:none -credited:pattern") == ["a.jpg", "c.jpg"]
    assert cli("search", "credited:maybe").exit_code == 1
