"""A photo's history: `show --history`, `dupes --sort first-seen` and the `credit-conflict`
audit rule, through the real CLI on articles dated three ways."""

import csv
import io

import orjson
import pytest
from PIL import Image

from media_catalog.dating import UNDATED, moment

from .conftest import encode, photo, write_image

FIGURE = '<figure><img src="{}" alt="Crowd"><figcaption>{} Photo: {}</figcaption></figure>'


@pytest.fixture
def desk(cli, tmp_path):
    """One photo used in 2015 (AP) and in an undated article (AP), and as a smaller copy in
    2024 under another caption (Reuters); a second photo, taken in 2009, used in an undated
    article and in 2010 (AFP both times)."""
    root = tmp_path / "site"
    market = photo(1, (480, 360))
    write_image(root / "market.jpg", market, quality=92)
    write_image(root / "small.jpg", market.resize((240, 180)), quality=70)
    exif = Image.Exif()
    exif.get_ifd(0x8769).update({0x9003: "2009:08:07 06:05:04"})
    (root / "harbour.jpg").write_bytes(encode(photo(2, (400, 300)), exif=exif.tobytes()))

    def article(name, date, body):
        meta = f'<meta property="article:published_time" content="{date}">' if date else ""
        (root / name).write_text(f"<html><head>{meta}</head><body>{body}</body></html>")

    later = FIGURE.format("small.jpg", "Rally in Tehran yesterday.", "Reuters")
    harbour = FIGURE.format("harbour.jpg", "Harbour.", "AFP")
    article("2024.html", "2024-01-05", later)
    article("2015.html", "2015-06-01T10:00:00+02:00", FIGURE.format("market.jpg", "Protest.", "AP"))
    article("undated.html", None, FIGURE.format("market.jpg", "Protest.", "AP") + harbour)
    article("harbour.html", "2010-03-03", harbour)
    assert cli("scan", root, "-q").exit_code == 0
    return root


def _sha256(cli, query):
    return orjson.loads(cli("search", "-f", "json", query).stdout)["results"][0]["sha256"]


def test_show_history_orders_uses_and_marks_the_first_and_the_changes(cli, desk):
    shown = orjson.loads(cli("show", _sha256(cli, "2015"), "-f", "json").stdout)
    uses = [
        (u["article"].rsplit("/", 1)[1], u["when"], u["dated_by"], u["first"], u["changed"])
        for u in shown["history"]
    ]
    assert uses == [
        ("2015.html", "2015-06-01T10:00:00+02:00", "article", True, []),
        ("2024.html", "2024-01-05", "article", False, ["caption", "credit"]),  # the near copy
        ("undated.html", None, None, False, ["caption", "credit"]),  # back to 2015's words
    ]
    assert shown["history"][1]["sha256"] == shown["near_duplicates"][0]["image"]["sha256"]
    assert [u["credit"] for u in shown["history"]] == ["Photo: AP", "Photo: Reuters", "Photo: AP"]
    harbour = orjson.loads(cli("show", _sha256(cli, "harbour"), "-f", "json").stdout)["history"]
    # the undated use last: the date the photo was taken dates no use
    assert [(u["when"], u["dated_by"]) for u in harbour] == [
        ("2010-03-03", "article"),
        (None, None),
    ]
    table = cli("show", _sha256(cli, "2015"), "--history").stdout
    assert "History: 3 uses, oldest first" in table and "first use" in table
    assert "caption changed, credit changed" in table and "(near copy)" in table
    assert "History" not in cli("show", _sha256(cli, "2015")).stdout  # asked for only


def test_dupes_first_seen_sort_column_and_json(cli, desk):
    report = orjson.loads(cli("dupes", "-f", "json").stdout)
    assert [c["kind"] for c in report["clusters"]] == ["exact", "near"]  # by size
    first = [c["first_seen"] for c in report["clusters"]]
    assert [(f["when"], f["article"].rsplit("/", 1)[1]) for f in first] == [
        ("2010-03-03", "harbour.html"),
        ("2015-06-01T10:00:00+02:00", "2015.html"),
    ]
    by_date = orjson.loads(cli("dupes", "--sort", "first-seen", "-f", "json").stdout)
    assert [c["first_seen"]["when"] for c in by_date["clusters"]] == [
        "2010-03-03",
        first[1]["when"],
    ]
    table = cli("dupes", "--sort", "first-seen").stdout
    assert "first seen 2010-03-03 in site/harbour.html #0" in table
    rows = list(csv.DictReader(io.StringIO(cli("dupes", "-f", "csv").stdout)))
    assert {r["first_seen"] for r in rows} == {"2010-03-03", "2015-06-01T10:00:00+02:00"}
    page = cli("dupes", "-f", "html").stdout
    assert "· first seen 2010-03-03 in " in page


def test_the_same_photo_credited_to_two_agencies_is_a_credit_conflict(cli, desk):
    report = orjson.loads(cli("audit", "-f", "json").stdout)
    found = sorted(
        (f["article"].rsplit("/", 1)[1], f["text"])
        for f in report["findings"]
        if f["rule"] == "credit-conflict"
    )
    assert found == [  # harbour, AFP twice, is no conflict
        ("2015.html", "Photo: AP"),
        ("2024.html", "Photo: Reuters"),
        ("undated.html", "Photo: AP"),
    ]
    messages = {f["message"] for f in report["findings"] if f["rule"] == "credit-conflict"}
    assert any(m.startswith('the same photo is credited to "Photo: Reuters" in ') for m in messages)


@pytest.mark.parametrize(
    ("written", "utc"),
    [
        ("2024-03-12", "2024-03-12T00:00:00+00:00"),
        ("2024-03-12T10:00:00+0100", "2024-03-12T09:00:00+00:00"),  # 3.10 reads none of these
        ("2024-03-12T10:00:00.123456789Z", "2024-03-12T10:00:00.123456+00:00"),
        ("20240312T1000Z", "2024-03-12T10:00:00+00:00"),
        ("2024-03-12 10:00", "2024-03-12T10:00:00+00:00"),
        ("Tue, 12 Mar 2024 10:00:00 +0100", "2024-03-12T09:00:00+00:00"),
        ("9999-12-31T22:00:00-05:00", None),  # past the last date Python has, in UTC
        ("0001-01-01T00:30:00+01:00", None),
        ("2024-13-45", None),
        ("0000", None),
        ("", None),
    ],
)
def test_dates_as_pages_write_them(written, utc):
    found = moment(written)
    assert (None if found == UNDATED else found[1].isoformat()) == utc


def test_a_date_out_of_range_dates_nothing_and_breaks_nothing(cli, tmp_path):
    root = tmp_path / "far"
    write_image(root / "a.jpg", photo(5))
    for name, date in (("one.html", "9999-12-31T22:00:00-05:00"), ("two.html", "2020-01-01")):
        meta = f'<meta property="article:published_time" content="{date}">'
        (root / name).write_text(f'{meta}<img src="a.jpg" alt="{name}">')
    assert cli("scan", root, "-q").exit_code == 0
    first = orjson.loads(cli("dupes", "-f", "json").stdout)["clusters"][0]["first_seen"]
    assert (first["when"], first["article"].rsplit("/", 1)[1]) == ("2020-01-01", "two.html")
    sha256 = orjson.loads(cli("search", "-f", "json", "").stdout)["results"][0]["sha256"]
    history = orjson.loads(cli("show", sha256, "-f", "json").stdout)["history"]
    assert [u["when"] for u in history] == ["2020-01-01", None]
    assert cli("audit").exit_code == 0
