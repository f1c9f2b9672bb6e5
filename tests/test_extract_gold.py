"""The gold set: articles shaped like real sites and corpora (tests/gold/), and real pages
(`real-*.html`, from Zyte's article extraction benchmark, github.com/scrapinghub/
article-extraction-benchmark), each with a hand-checked list of the occurrences it must
give (`NAME.expected.json`).

Each expected entry names the fields it checks (always src, alt, caption, credit, position
and kind; some also link, tracking or decorative); JSON Lines entries carry their `line`,
and an expected error is an entry with its `error` code (before the article's references).
"""

import json
from pathlib import Path

import pytest

from media_catalog.extract import extract_file
from media_catalog.walk import kind_of

GOLD = Path(__file__).parent / "gold"
ARTICLES = sorted(p for p in GOLD.iterdir() if not p.name.endswith(".expected.json"))


def _expected_path(article: Path) -> Path:
    name = article.name.split(".", 1)[0]
    return GOLD / f"{name}.expected.json"


def _found(article: Path) -> list[dict]:
    found = []
    for item in extract_file(article, kind_of(article)):
        line = int(item.id.rsplit("#L", 1)[1]) if "#L" in item.id else None
        for error in item.errors:
            found.append({"line": line, "error": error.code})
        for ref in item.refs:
            found.append({"line": line, **ref.to_dict()})
    return found


def test_gold_set_is_large_enough_and_complete():
    assert len(ARTICLES) >= 30
    assert all(_expected_path(article).is_file() for article in ARTICLES)
    kinds = {kind_of(article) for article in ARTICLES}
    assert kinds == {"html", "markdown", "text", "jsonl"}


@pytest.mark.parametrize("article", ARTICLES, ids=lambda p: p.name)
def test_gold_article(article):
    expected = json.loads(_expected_path(article).read_text(encoding="utf-8"))
    found = _found(article)
    assert len(found) == len(expected), found
    projected = [
        {key: entry.get(key) for key in want} for entry, want in zip(found, expected, strict=True)
    ]
    assert projected == expected
