from hypothesis import given
from hypothesis import strategies as st

from media_catalog.extract import html
from media_catalog.extract.encoding import decode_html


def test_img_attributes_and_figcaption():
    page = """<!doctype html><html><body>
    <p>Intro <img src="a.jpg" alt="First" title="T1"></p>
    <figure><img src="b.jpg" alt=""><figcaption> The  <b>second</b>
      photo </figcaption></figure>
    <img src="c.jpg">
    <img src="d.jpg" alt>
    </body></html>"""
    refs, errors = html.extract(page, "p.html")
    assert errors == []
    assert [(r.position, r.src, r.alt, r.caption, r.title) for r in refs] == [
        (0, "a.jpg", "First", None, "T1"),
        (1, "b.jpg", "", "The second photo", None),
        (2, "c.jpg", None, None, None),
        (3, "d.jpg", "", None, None),
    ]


def test_rtl_alt_and_entities_survive():
    refs, _ = html.extract('<img src="x.png" alt="عکس &amp; كتاب &lt;ی&gt;">', "p")
    assert refs[0].alt == "عکس & كتاب <ی>"


def test_declared_charset_windows_1256_decodes_persian():
    text = '<html><head><meta charset="windows-1256"></head><body><img alt="گزارش" src=a></body>'
    page = decode_html(text.encode("cp1256"))
    assert html.extract(page, "p")[0][0].alt == "گزارش"


def test_utf8_bom_and_undeclared_legacy_bytes():
    assert decode_html(b"\xef\xbb\xbf<p>caf\xc3\xa9") == "<p>café"
    assert decode_html(b"<p>caf\xe9") == "<p>café"  # not UTF-8: windows-1252, nothing lost


@given(st.text())
def test_any_text_never_raises(text):
    refs, _ = html.extract(text, "p")
    assert [r.position for r in refs] == list(range(len(refs)))


@given(st.binary())
def test_any_bytes_decode(data):
    assert isinstance(decode_html(data), str)


_words = st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=12)


@given(st.lists(st.tuples(_words, _words), max_size=8))
def test_generated_pages_give_back_every_image_in_order(items):
    body = "".join(
        f'<p>text</p><figure><img src="{i}.jpg" alt="{alt}"><figcaption>{cap}</figcaption></figure>'
        for i, (alt, cap) in enumerate(items)
    )
    refs, _ = html.extract(f"<html><body>{body}</body></html>", "p")
    assert [(r.src, r.alt, r.caption) for r in refs] == [
        (f"{i}.jpg", alt, cap) for i, (alt, cap) in enumerate(items)
    ]
