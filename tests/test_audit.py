"""Every audit rule on real articles scanned into a real catalogue, positive and negative."""

import pytest

from media_catalog.audit import RULES, audit
from media_catalog.errors import QueryError
from media_catalog.pipeline import scan
from media_catalog.store import open_store

from .conftest import SEED, encode, photo, write_image
from .test_metadata import xmp_packet


def findings_for(tmp_path, name: str, body: str, **options) -> dict[int, set[str]]:
    """Scan one HTML article whose images a.jpg…f.jpg are distinct photos; rules by position."""
    root = tmp_path / "site"
    for seed, letter in enumerate("abcdef"):
        write_image(root / f"{letter}.jpg", photo(seed + 1))
    (root / name).write_text(body, encoding="utf-8")
    db = tmp_path / "c.json"
    scan([root], open_store(db))
    report = audit(open_store(db), **options)
    by_position: dict[int, set[str]] = {}
    for finding in report.findings:
        by_position.setdefault(finding.position, set()).add(finding.rule)
    return by_position


def rules(tmp_path, alt_html: str, **options) -> set[str]:
    return findings_for(tmp_path, "p.html", f"<img src=a.jpg {alt_html}>", **options).get(0, set())


@pytest.mark.parametrize(
    "alt",
    [
        'alt=""',
        'alt="Firefighters on the market roof at dawn"',
        'role="presentation"',
        'aria-hidden="true"',
        'width="1" height="1"',  # a tracking pixel is not judged
    ],
)
def test_good_and_decorative_images_have_no_findings(tmp_path, alt):
    assert rules(tmp_path, alt) == set()


def test_missing_alt(tmp_path):
    assert rules(tmp_path, "") == {"alt-missing"}


@pytest.mark.parametrize(
    "alt", ["Image", "photo", " PICTURE ", "spacer", "عکس", "تصویر", "صورة", "الصورة", "تصوير"]
)
def test_placeholder_words_in_english_persian_and_arabic(tmp_path, alt):
    assert rules(tmp_path, f'alt="{alt}"') == {"alt-placeholder"}


@pytest.mark.parametrize(
    "alt", ["IMG_1234.JPG", "market-fire_final.jpeg", "https://cdn.example.com/a.png", "DSC01234"]
)
def test_file_names_and_urls(tmp_path, alt):
    assert rules(tmp_path, f'alt="{alt}"') == {"alt-file-name"}


@pytest.mark.parametrize("alt", ["123", "--- !!!", "۱۲۳۴", "(2015)"])
def test_alt_without_words(tmp_path, alt):
    assert rules(tmp_path, f'alt="{alt}"') == {"alt-no-words"}


@pytest.mark.parametrize(
    ("alt", "flagged"),
    [
        ("Image of a cat asleep on a window sill", True),
        ("Photo of the burnt market roof", True),
        ("عکس از گربه کنار پنجره", True),
        ("Imagery from the satellite shows the roof", False),
        ("Photographers gather at the cordon", False),
    ],
)
def test_redundant_prefix(tmp_path, alt, flagged):
    assert (rules(tmp_path, f'alt="{alt}"') == {"alt-redundant-prefix"}) is flagged


def test_alt_length_limit(tmp_path):
    assert rules(tmp_path, f'alt="{"x" * 150}"') == set()
    assert rules(tmp_path, f'alt="{"x" * 151}"') == {"alt-too-long"}
    assert rules(tmp_path, 'alt="A short alt text"', max_alt_length=10) == {"alt-too-long"}


def test_alt_equal_to_its_caption_after_normalisation(tmp_path):
    body = (
        '<figure><img src=a.jpg alt="كتابخانه ملي"><figcaption>کتابخانه  ملی</figcaption></figure>'
        '<figure><img src=b.jpg alt="Reading room"><figcaption>The old reading room</figcaption>'
        "</figure>"
    )
    found = findings_for(tmp_path, "p.html", body)
    assert found == {0: {"alt-is-caption"}}


def test_decorative_image_with_a_caption(tmp_path):
    body = '<figure><img src=a.jpg alt=""><figcaption>Smoke over the roofs</figcaption></figure>'
    assert findings_for(tmp_path, "p.html", body) == {0: {"decorative-but-described"}}


def test_same_alt_on_different_images_but_not_on_the_same_image_twice(tmp_path):
    body = (
        '<img src=a.jpg alt="Market fire"><img src=b.jpg alt="market  FIRE">'
        '<img src=c.jpg alt="Gallery"><img src=c.jpg alt="Gallery">'
    )
    found = findings_for(tmp_path, "p.html", body)
    assert found == {0: {"alt-shared"}, 1: {"alt-shared"}}


def test_seed_article_one_alt_repeated_twice_on_six_photos(tmp_path, samples):
    db = tmp_path / "c.json"
    scan([samples / "articles" / SEED.name], open_store(db), assets=[samples / "assets"])
    report = audit(open_store(db))
    rules_by_position = {}
    for finding in report.findings:
        rules_by_position.setdefault(finding.position, set()).add(finding.rule)
    assert rules_by_position == {p: {"alt-shared", "alt-repeated-text"} for p in range(7)}
    shared = next(f for f in report.findings if f.rule == "alt-shared")
    assert "6 different images" in shared.message  # positions 0 and 6 are the same bytes
    assert shared.text.startswith("دو انفجار")


def test_recycled_photo_with_conflicting_captions_across_articles(tmp_path):
    root = tmp_path / "site"
    write_image(root / "a.jpg", photo(1), quality=90)
    write_image(root / "small.jpg", photo(1).resize((160, 120)), quality=70)
    write_image(root / "b.jpg", photo(2))
    figure = '<figure><img src="{}" alt="{}"><figcaption>{}</figcaption></figure>'
    (root / "2015.html").write_text(
        figure.format("a.jpg", "Crowd in the square", "Protest in Cairo, 2011")
        + figure.format("b.jpg", "A river", "The Nile at dusk")
    )
    (root / "2024.html").write_text(
        figure.format("small.jpg", "Crowd in the square", "Rally in Tehran yesterday")
        + figure.format("b.jpg", "A river", "The Nile at dusk")
    )
    db = tmp_path / "c.json"
    scan([root], open_store(db))
    report = audit(open_store(db))
    conflicts = [(f.article.rsplit("/", 1)[1], f.position, f.text) for f in report.findings]
    assert sorted(conflicts) == [
        ("2015.html", 0, "Protest in Cairo, 2011"),
        ("2024.html", 0, "Rally in Tehran yesterday"),
    ]
    assert {f.rule for f in report.findings} == {"reuse-conflict"}
    message = next(f.message for f in report.findings if f.article.endswith("2024.html"))
    assert "Protest in Cairo, 2011" in message


def test_report_orders_articles_worst_first_and_summarises(tmp_path):
    root = tmp_path / "site"
    write_image(root / "a.jpg", photo(1))
    write_image(root / "b.jpg", photo(2))
    (root / "clean.html").write_text('<img src=a.jpg alt="A good description here">')
    (root / "bad.html").write_text("<img src=b.jpg><img src=b.jpg alt=image>")
    db = tmp_path / "c.json"
    scan([root], open_store(db))
    report = audit(open_store(db))
    assert [a["article"].rsplit("/", 1)[1] for a in report.articles] == ["bad.html", "clean.html"]
    summary = report.to_dict()["summary"]
    assert summary["by_severity"] == {"error": 2, "warning": 0, "info": 0}
    assert summary["by_rule"] == {"alt-missing": 1, "alt-placeholder": 1}
    assert summary["images"] == 3 and report.worst() == "error"
    only = audit(open_store(db), article=str(root / "clean.html"))
    assert only.findings == [] and only.worst() is None
    (root / "empty.md").write_text("No images here.\n")
    scan([root], open_store(db))
    assert audit(open_store(db), article=str(root / "empty.md")).articles == []  # known, no images
    with pytest.raises(
        QueryError, match=r"bad\.htm is not an article in .*c\.json; check the path"
    ):
        audit(open_store(db), article=str(root / "bad.htm"))


def test_every_rule_has_a_known_severity():
    assert {rule.severity for rule in RULES.values()} <= {"error", "warning", "info"}


def test_decorative_lead_image(tmp_path):
    head = '<head><meta property="og:image" content="a.jpg"><title>Fire</title></head>'
    body = f'<html>{head}<body><img src=a.jpg alt=""><img src=b.jpg alt=""></body></html>'
    assert findings_for(tmp_path, "p.html", body) == {0: {"decorative-but-described"}}


def test_alt_equal_to_the_article_title(tmp_path):
    head = "<head><title>Fire destroys the Eastgate market</title></head>"
    body = (
        f"<html>{head}<body><p>Reported by our desk.</p>"
        '<img src=a.jpg alt="Fire destroys the eastgate MARKET">'
        '<img src=b.jpg alt="Traders outside the cordon"></body></html>'
    )
    assert findings_for(tmp_path, "p.html", body) == {0: {"alt-is-title"}}


def test_alt_repeating_the_text_beside_the_image(tmp_path):
    body = (
        "<p>Traders gathered outside the police cordon on Tuesday.</p>"
        '<img src=a.jpg alt="Traders gathered outside the police cordon">'
        "<p>The fire started before dawn.</p>"
        '<img src=b.jpg alt="A burnt market stall">'
    )
    assert findings_for(tmp_path, "p.html", body) == {0: {"alt-is-context"}}


def test_photo_own_description_missing_or_contradicted(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    packet = xmp_packet(caption="Smoke over the market")
    for name, seed in (("a.jpg", 1), ("b.jpg", 2), ("c.jpg", 3)):
        (root / name).write_bytes(encode(photo(seed), "JPEG", xmp=packet))
    write_image(root / "d.jpg", photo(4))  # no embedded description
    (root / "p.html").write_text(
        "<img src=a.jpg>"  # nothing said: missing (and alt-missing)
        '<img src=b.jpg alt="Football fans celebrate a late goal">'  # nothing in common
        '<img src=c.jpg alt="Thick smoke over the old market">'  # agrees
        '<img src=d.jpg alt="A quiet street at night">'  # the photo says nothing
    )
    db = tmp_path / "c.json"
    scan([root], open_store(db))
    by_position = {}
    for finding in audit(open_store(db)).findings:
        by_position.setdefault(finding.position, {})[finding.rule] = finding
    assert set(by_position) == {0, 1}
    assert set(by_position[0]) == {"alt-missing", "embedded-description-missing"}
    assert set(by_position[1]) == {"embedded-description-conflict"}
    missing = by_position[0]["embedded-description-missing"]
    assert "Grey smoke rises above shop roofs" in missing.text
