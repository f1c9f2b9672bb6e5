import pytest
from hypothesis import given
from hypothesis import strategies as st

from media_catalog.extract import markdown

DOC = """# Photo essay

Morning ![First *cup*](photos/a.jpg "Coffee") and ![ref image][cat].

<img src="raw.png" alt="raw html">

A line with inline <img src="inline.png" alt="inline"> html.

![گربه‌ای كنار پنجره](photos/گربه.jpg)

[cat]: photos/cat.jpg "The cat"
"""


def test_inline_reference_raw_html_and_rtl():
    refs, errors = markdown.extract(DOC, "essay.md")
    assert errors == []
    assert [(r.position, r.src, r.alt, r.title) for r in refs] == [
        (0, "photos/a.jpg", "First cup", "Coffee"),
        (1, "photos/cat.jpg", "ref image", "The cat"),
        (2, "raw.png", "raw html", None),
        (3, "inline.png", "inline", None),
        (4, "photos/گربه.jpg", "گربه‌ای كنار پنجره", None),
    ]


@given(st.text())
def test_any_text_never_raises(text):
    refs, _ = markdown.extract(text, "m")
    body = [r for r in refs if r.kind == "img"]
    assert [r.position for r in body] == list(range(len(body)))


_words = st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=12)


@given(st.lists(_words, max_size=8))
def test_generated_documents_give_back_every_image_in_order(alts):
    text = "\n\n".join(f"Paragraph {i}.\n\n![{alt}](img/{i}.png)" for i, alt in enumerate(alts))
    refs, _ = markdown.extract(text, "m")
    assert [(r.src, r.alt) for r in refs] == [(f"img/{i}.png", alt) for i, alt in enumerate(alts)]


POST = """---
title: "Old town walk"
tags: [walk]
---
# Walk

Intro text.

![Cat on a wall](img/cat.jpg "Cat")
*The cat, on its wall.*

[![Thumb](img/thumb.jpg)](img/full.jpg)

![Ref][r]

*Caption in its own paragraph*

A paragraph ![inline](i.png) in *running* text.

[r]: <img/ref one.jpg>
"""


def test_captions_links_front_matter_and_context():
    refs, errors = markdown.extract(POST, "post.md")
    assert errors == []
    assert [(r.position, r.src, r.alt, r.caption, r.link) for r in refs] == [
        (0, "img/cat.jpg", "Cat on a wall", "The cat, on its wall.", None),
        (1, "img/thumb.jpg", "Thumb", None, "img/full.jpg"),
        (2, "img/ref one.jpg", "Ref", "Caption in its own paragraph", None),
        (3, "i.png", "inline", None, None),
    ]
    assert {r.article_title for r in refs} == {"Old town walk"}
    assert {r.heading for r in refs} == {"Walk"}
    assert refs[0].context_before == "Walk Intro text."
    assert refs[3].context_before.endswith("A paragraph")
    assert refs[3].context_after == "in running text."


def test_first_heading_is_the_title_without_front_matter():
    refs, _ = markdown.extract("# Heading one\n\n![a](a.png)\n", "m")
    assert refs[0].article_title == "Heading one"


@pytest.mark.parametrize(
    "src",
    [
        "file:///elsewhere/photo.jpg",
        "data:image/jpg;base64,/9j/4AAQ",  # the common misspelling of image/jpeg
        "data:image/avif;base64,AAAA",
        "data:image/bmp;base64,Qk0=",
        "data:image/svg+xml;base64,PHN2Zz4=",
    ],
)
def test_every_image_link_is_kept_as_written(src):
    refs, errors = markdown.extract(f"Text\n\n![shown]({src})\n", "a.md")
    assert [(r.src, r.alt) for r in refs] == [(src, "shown")] and errors == []


def test_deeply_nested_images_are_read_and_deeper_ones_reported():
    quoted = "> " * 60 + "![quoted](q.jpg)\n"
    listed = "".join("  " * i + "- item\n" for i in range(45)) + "  " * 45 + "- ![l](l.jpg)\n"
    for text in (quoted, listed):
        refs, errors = markdown.extract(text, "a.md")
        assert len(refs) == 1 and errors == []
    refs, errors = markdown.extract("> " * 200 + "![lost](x.jpg)\n", "a.md")
    assert refs == [] and [e.code for e in errors] == ["too-deep"]
