import orjson
import pytest
from selectolax.lexbor import LexborHTMLParser

from .conftest import photo, write_image


@pytest.fixture
def site(cli, tmp_path):
    root = tmp_path / "site"
    write_image(root / "a.jpg", photo(1))
    write_image(root / "b.jpg", photo(2))
    write_image(root / "c.jpg", photo(3))
    (root / "bad.html").write_text(
        '<img src=a.jpg><img src=b.jpg alt="عکس از خیابان <script>alert(1)</script>">'
    )
    (root / "fine.md").write_text("![Tehran street market at noon](c.jpg)\n")
    assert cli("scan", root, "-q").exit_code == 0
    return root


def test_json_shape(cli, site):
    result = cli("audit", "--format", "json")
    assert result.exit_code == 0
    report = orjson.loads(result.stdout)
    assert set(report) == {"findings", "summary"}
    first = report["findings"][0]
    assert set(first) == {"rule", "severity", "article", "position", "src", "text", "message"}
    assert (first["rule"], first["severity"], first["position"]) == ("alt-missing", "error", 0)
    assert report["summary"]["per_article"][0]["article"] == str(site / "bad.html")


@pytest.mark.parametrize(
    ("fail_on", "code"), [(None, 0), ("error", 1), ("warning", 1), ("info", 1)]
)
def test_fail_on_gates_on_severity(cli, site, fail_on, code):
    args = ["audit"] + (["--fail-on", fail_on] if fail_on else [])
    assert cli(*args).exit_code == code


def test_fail_on_passes_for_a_clean_article(cli, site):
    result = cli("audit", "--article", site / "fine.md", "--fail-on", "info", "-f", "json")
    assert result.exit_code == 0
    assert orjson.loads(result.stdout)["findings"] == []


def test_an_article_the_catalogue_does_not_know_is_an_error_not_a_pass(cli, site):
    assert cli("scan", "site", "-q").exit_code == 0  # a relative path is catalogued absolute
    assert cli("audit", "--article", "site/fine.md", "--fail-on", "error").exit_code == 0
    for args in (["--fail-on", "error"], ["-f", "json"], []):
        result = cli("audit", "--article", "nope.html", *args)
        assert result.exit_code == 2 and result.stdout == ""
        assert "nope.html is not an article in" in result.stderr
        assert "scan it first" in result.stderr and "Traceback" not in result.output
    image = cli("audit", "--article", "site/a.jpg", "--fail-on", "error")
    assert image.exit_code == 2 and "site/a.jpg is an image file in" in image.stderr


def test_an_article_of_a_catalogue_written_by_an_older_version_is_still_an_article(
    cli, site, tmp_path
):
    # sources recorded no scan settings before media-catalog kept them (and schema 1 none)
    if cli.db.endswith(".sqlite"):
        pytest.skip("older versions wrote JSON catalogues only")
    db = tmp_path / "media-catalog.json"
    tables = orjson.loads(db.read_bytes())
    for source in tables["sources"].values():
        source.pop("settings", None)
    db.write_bytes(orjson.dumps(tables))
    result = cli("audit", "--article", site / "fine.md", "--fail-on", "error")
    assert result.exit_code == 0, result.output


def test_table_lists_rules(cli, site):
    out = cli("audit").stdout
    assert "alt-missing" in out and "alt-redundant-prefix" in out and "findings" in out


def test_html_escapes_everything_and_keeps_rtl(cli, site):
    page = cli("audit", "--format", "html").stdout
    assert "<script>alert(1)</script>" not in page
    tree = LexborHTMLParser(page)
    assert tree.css("script") == []
    texts = [td.text() for td in tree.css("td[dir=auto]")]
    assert "عکس از خیابان <script>alert(1)</script>" in texts


def test_max_alt_length_option(cli, site):
    report = orjson.loads(cli("audit", "--max-alt-length", "10", "-f", "json").stdout)
    assert "alt-too-long" in report["summary"]["by_rule"]


def test_messages_show_persian_as_written(cli, tmp_path):
    root = tmp_path / "reuse"
    write_image(root / "a.jpg", photo(4))
    (root / "2015.html").write_text('<img src=a.jpg alt="گربه‌ای روی دیوار">')
    (root / "2024.html").write_text('<img src=a.jpg alt="سگی در خیابان">')
    assert cli("scan", root, "-q").exit_code == 0
    report = orjson.loads(cli("audit", "-f", "json").stdout)
    messages = [f["message"] for f in report["findings"]]
    assert 'the same photo has another alt in another article: "گربه\u200cای روی دیوار"' in messages
    shown = cli("audit").stdout
    assert "\\u200c" not in shown and "گربه\u200cای روی دیوار" in shown
