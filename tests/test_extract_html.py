import dataclasses

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from media_catalog.extract import captions, context, extract_file, html, nesting
from media_catalog.extract.encoding import decode_html, html_source
from media_catalog.models import ImageRef


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
    assert [r.position for r in _body(refs)] == list(range(len(_body(refs))))
    assert all(r.position is None for r in refs if r.kind == "meta")


@given(st.binary())
def test_any_bytes_decode(data):
    assert isinstance(decode_html(data), str)


_PAGE_BYTES = st.lists(
    st.sampled_from(
        (
            *(b"<img src=a.jpg alt='", b"'>", b"<figure>", b"<figcaption>", b"</figure>"),
            *(b'<meta charset="utf-8">', b"<meta charset=windows-1256>", b"\xef\xbb\xbf"),
            *(b"\xd8\xb9\xda\xa9\xd8\xb3", b"\xe2\x80\x8c", b"\xf0\x9f\x98\x80", b"caf\xe9"),
            *(b"\xed\xa0\x80", b"\xc3", b"\x00", b"\xff\xfe", b"<p>", b"x"),
        )
    ),
    max_size=30,
).map(b"".join)


@given(st.one_of(_PAGE_BYTES, st.binary()))
def test_a_page_given_as_its_bytes_reads_as_its_decoded_text(data):
    # a scan hands the parser a UTF-8 page's bytes (html_source), sparing the decode and the
    # parser's encode: the references are those of the text decode_html reads
    source = html_source(data)
    assert html.extract(source, "p") == html.extract(decode_html(data), "p")
    if isinstance(source, bytes):
        assert source.decode("utf-8", errors="replace") == decode_html(data)


def test_which_pages_are_given_as_bytes():
    persian = "<p>عکس</p>".encode()
    assert html_source(persian) is persian  # valid UTF-8 with non-ASCII text
    assert html_source(b"\xef\xbb\xbf" + persian) == persian  # after its BOM
    declared = b'<meta charset="utf-8"><p>caf\xe9'  # declared UTF-8, one bad byte: replaced
    assert html_source(declared) is declared
    assert decode_html(declared).endswith("caf\ufffd")
    assert html_source(b"<p>caf\xe9") == "<p>café"  # windows-1252: text
    assert html_source("<p>عکس</p>".encode("utf-16")) == "<p>عکس</p>"


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


def _body(refs):
    return [r for r in refs if r.kind == "img"]


def test_srcset_candidates_keep_commas_inside_urls():
    found = html.parse_srcset(
        "https://cdn.x/w_400,h_300/a.jpg 400w, data:image/png;base64,AAA= 2x,b.jpg"
    )
    assert [(c.url, c.width, c.density) for c in found] == [
        ("https://cdn.x/w_400,h_300/a.jpg", 400, None),
        ("data:image/png;base64,AAA=", None, 2.0),
        ("b.jpg", None, None),
    ]


def test_lazy_attributes_replace_a_placeholder_and_noscript_counts_once():
    page = """<body>
    <img class="lazy" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="real.jpg"
         data-srcset="real-400.jpg 400w, real-1200.jpg 1200w" alt="Lazy">
    <noscript><img src="real.jpg" alt="Lazy"></noscript>
    <img src="/img/blank.gif" alt="Only noscript knows">
    <noscript><img src="hidden.jpg"></noscript>
    <noscript><img src="fallback-only.jpg" alt="No twin"></noscript>
    <img data-lazy-src="x.jpg" data-original="y.jpg" loading="lazy">
    </body>"""
    refs = _body(html.extract(page, "p")[0])
    assert [(r.position, r.src, r.placeholder, r.alt) for r in refs] == [
        (0, "real.jpg", "data:image/gif;base64,R0lGODlhAQABAAAAACw=", "Lazy"),
        (1, "hidden.jpg", "/img/blank.gif", "Only noscript knows"),
        (2, "fallback-only.jpg", None, "No twin"),
        (3, "x.jpg", None, None),
    ]
    assert [c.url for c in refs[0].srcset] == ["real-400.jpg", "real-1200.jpg"]
    assert refs[0].candidates() == ["real-1200.jpg", "real-400.jpg", "real.jpg"]


def test_a_noscript_pixel_or_a_distant_noscript_image_is_no_lazy_image_s_copy():
    # Yahoo's front page: a comScore beacon in a noscript at the end of the body took the
    # place of a story's thumbnail; a Facebook pixel gave a lazy photo its 1×1 size.
    page = """<body><a href="/story"><img src="blank.gif" alt=""></a><p>More stories</p>
    <p><img src="blank.gif" data-src="photo.jpg"></p><p>Story</p>
    <noscript><img src="https://sb.scorecardresearch.com/p?c1=2&c2=7241469&cj=1"></noscript>
    <noscript><img height="1" width="1" src="https://www.facebook.com/tr?id=1&noscript=1"></noscript>
    <div><img src="blank.gif"></div><p>Text</p><noscript><img src="other.jpg"></noscript>
    <figure><a href="full.jpg"><img src="blank.gif"></a> <noscript><img src="real.jpg"></noscript>
    </figure></body>"""
    refs = _body(html.extract(page, "p")[0])
    assert [(r.src, r.placeholder, r.tracking, r.declared_width, r.link) for r in refs] == [
        ("blank.gif", None, False, None, "/story"),
        ("photo.jpg", "blank.gif", False, None, None),
        ("https://sb.scorecardresearch.com/p?c1=2&c2=7241469&cj=1", None, True, None, None),
        ("https://www.facebook.com/tr?id=1&noscript=1", None, True, 1, None),
        ("blank.gif", None, False, None, None),
        ("other.jpg", None, False, None, None),
        ("real.jpg", "blank.gif", False, None, "full.jpg"),
    ]


def test_picture_sources_are_candidates_and_base_href_is_joined():
    page = """<head><base href="../media/"></head><body><picture>
      <source media="(min-width: 800px)" srcset="wide.webp 1x, wide@2x.webp 2x">
      <source srcset="narrow.avif">
      <img src="fallback.jpg" alt="P" srcset="fallback@3x.jpg 3x"></picture></body>"""
    (ref,) = _body(html.extract(page, "p")[0])
    assert [c.url for c in ref.srcset] == [
        "wide.webp",
        "wide@2x.webp",
        "narrow.avif",
        "fallback@3x.jpg",
    ]
    assert ref.base == "../media/"
    assert ref.candidates() == [
        "../media/fallback@3x.jpg",
        "../media/wide@2x.webp",
        "../media/wide.webp",
        "../media/narrow.avif",
        "../media/fallback.jpg",
    ]


CAPTIONS = """<body><article>
<div id="attachment_1" class="wp-caption alignnone"><a href="big/wp.jpg"><img src="wp.jpg"
  alt="WP"></a><p class="wp-caption-text">WordPress caption</p></div>
<div class="thumb tright"><div class="thumbinner"><a href="/wiki/File:W.jpg"
  class="image"><img src="w.jpg" alt=""></a><div class="thumbcaption"><div
  class="magnify"></div>Wikipedia thumb caption</div></div></div>
<figure typeof="mw:File/Thumb"><a href="/wiki/File:M.jpg"><img src="m.jpg"></a>
  <figcaption>Parsoid caption</figcaption></figure>
<div itemscope itemtype="https://schema.org/ImageObject"><img src="i.jpg">
  <span itemprop="caption">Microdata caption</span></div>
<div class="photo"><img src="l.jpg"><p class="legende">Légende française
  <span class="credit">Photo : AFP</span></p></div>
<div class="gallery">
  <img src="g1.jpg"><p class="image-caption">First of two</p>
  <img src="g2.jpg"><p class="image-caption">Second of two</p>
  <img src="g3.jpg">
</div>
<img src="d.jpg" aria-describedby="desc-d"><p>Unrelated</p><p id="desc-d">Described</p>
<figure><img src="c.jpg" alt="C"><figcaption>Cap text <small>Photo: Jane Doe / Reuters</small>
  </figcaption></figure>
<figure><img src="e.jpg"><figcaption>Caption E</figcaption><p class="byline">Ann Lee</p>
</figure>
<p>A paragraph with <img src="inline.png" alt="inline"> an inline image.</p>
</article></body>"""


def test_captions_from_where_sites_put_them_each_with_its_own_image():
    refs = _body(html.extract(CAPTIONS, "p")[0])
    assert [(r.src, r.caption, r.credit) for r in refs] == [
        ("wp.jpg", "WordPress caption", None),
        ("w.jpg", "Wikipedia thumb caption", None),
        ("m.jpg", "Parsoid caption", None),
        ("i.jpg", "Microdata caption", None),
        ("l.jpg", "Légende française", "Photo : AFP"),
        ("g1.jpg", "First of two", None),
        ("g2.jpg", "Second of two", None),
        ("g3.jpg", None, None),
        ("d.jpg", "Described", None),
        ("c.jpg", "Cap text", "Photo: Jane Doe / Reuters"),
        ("e.jpg", "Caption E", "Ann Lee"),
        ("inline.png", None, None),
    ]
    assert [r.link for r in refs[:3]] == ["big/wp.jpg", "/wiki/File:W.jpg", "/wiki/File:M.jpg"]
    assert refs[1].decorative and not refs[0].decorative


def test_context_before_and_after_and_nearest_heading():
    words = " ".join(f"w{i}" for i in range(100))
    page = f"""<body><h1>Title</h1><p>{words}</p><h2>Second <em>part</em></h2>
    <p>Just before.</p><script>var no = 1;</script><img src="a.jpg"><p>Just after. {words}</p>
    </body>"""
    (ref,) = html.extract(page, "p")[0]
    assert ref.heading == "Second part"
    assert ref.context_before.endswith("w99 Second part Just before.")
    assert len(ref.context_before) <= 200 and ref.context_before.startswith("w")
    assert "var no" not in ref.context_before
    assert ref.context_after.startswith("Just after. w0 w1")
    assert len(ref.context_after) <= 200
    (short,) = html.extract(page, "p", context=20)[0]
    assert short.context_before == "part Just before."
    assert html.extract(page, "p", context=0)[0][0].context_after is None


@pytest.mark.parametrize("chars", [1, 7, 200, 700])
def test_a_long_stretch_of_text_between_images_gives_the_same_contexts(chars):
    # only the ends of a long stretch are collapsed: the contexts are those of the whole
    # text, whatever the whitespace (markup indentation, no-break and ideographic spaces,
    # long runs of it, which leave a window at an end too few words)
    gaps = [" ", "\n      ", "\t", "\u00a0", "\u3000 "]
    dense = "".join(f"w{i}{'é' * (i % 5)}{gaps[i % len(gaps)]}" for i in range(900))
    sparse = "".join(f"v{i}{' ' * 300}" for i in range(20))
    stretches = [dense, dense + sparse, sparse + dense]
    page = "<img src=0.jpg>" + "".join(
        f"<p>{s}</p><img src={n}.jpg>" for n, s in enumerate(stretches)
    )
    refs = html.extract(page, "p", context=chars)[0]
    for before, after, stretch in zip(refs, refs[1:], stretches, strict=False):
        text = " ".join(stretch.split())
        assert before.context_after == context.text_after(text, 0, chars)
        assert after.context_before == context.text_before(text, len(text), chars)


@pytest.mark.parametrize(
    "hidden",
    [
        "<script>var no = 1;</script>",
        "<style>p { color: red }</style>",
        "<template><p>not shown</p></template>",
        "<svg><template>not shown</template><style>svg {}</style></svg>",
        "<math><template><mi><h2>not shown</h2></mi></template></math>",
        "<h2>Shown <script>var no = 1;</script></h2>",
    ],
)
def test_text_that_is_not_shown_is_never_context(hidden):
    page = f"<body><p>Before.</p>{hidden}<img src=a.jpg>{hidden}<p>After.</p></body>"
    (ref,) = html.extract(page, "p")[0]
    shown = "Shown " if "Shown" in hidden else ""
    assert (ref.context_before, ref.context_after) == (f"Before. {shown}".strip(), f"{shown}After.")
    assert ref.heading == ("Shown" if shown else None)


PAGE_META = """<html><head><title>Site name | Headline</title>
<meta property="og:title" content="Headline">
<meta property="og:url" content="https://news.example/h">
<link rel="canonical" href="https://news.example/headline">
<meta property="og:image" content="https://cdn.example/lead.jpg">
<meta property="og:image:alt" content="Lead alt"><meta property="og:image:width" content="1200">
<meta name="twitter:image" content="https://cdn.example/lead.jpg">
<meta name="twitter:image" content="https://cdn.example/other.jpg">
<script type="application/ld+json">{"@context": "https://schema.org", "@graph": [
 {"@type": "NewsArticle", "datePublished": "2024-03-12T06:00:00Z",
  "image": [{"@type": "ImageObject", "url": "https://cdn.example/ld.jpg",
             "caption": "LD caption", "creditText": "LD credit"}, "https://cdn.example/ld2.jpg"],
  "publisher": {"@type": "Organization", "logo": {"@type": "ImageObject", "url": "logo.png"}}}
]}</script>
<script type="application/ld+json">{broken</script>
</head><body><h1>Other h1</h1><img src="body.jpg" alt="Body"></body></html>"""


def test_page_data_and_metadata_images_never_shift_body_positions():
    refs, errors = html.extract(PAGE_META, "p")
    assert errors == []
    assert [(r.kind, r.position, r.src) for r in refs] == [
        ("img", 0, "body.jpg"),
        ("meta", None, "https://cdn.example/lead.jpg"),
        ("meta", None, "https://cdn.example/ld.jpg"),
        ("meta", None, "https://cdn.example/ld2.jpg"),
    ]
    lead, ld = refs[1], refs[2]
    assert (lead.alt, lead.declared_width) == ("Lead alt", 1200)
    assert (ld.caption, ld.credit) == ("LD caption", "LD credit")
    assert {(r.article_title, r.article_url, r.article_date) for r in refs} == {
        ("Headline", "https://news.example/headline", "2024-03-12T06:00:00Z")
    }


def test_title_falls_back_to_title_element_then_h1():
    assert html.extract("<title> T </title><img src=a>", "p")[0][0].article_title == "T"
    assert html.extract("<h1>H <b>one</b></h1><img src=a>", "p")[0][0].article_title == "H one"
    assert html.extract("<img src=a>", "p")[0][0].article_title is None


def test_declared_size_tracking_pixels_and_decorative_images():
    page = """<img src="a.jpg" width="640px" height="480">
    <img src="https://www.facebook.com/tr?id=1&ev=PageView" width="1" height="1" alt="">
    <img src="https://stats.example/pixel.gif"><img src="/spacer.gif">
    <img src="b.jpg" role="presentation"><img src="c.jpg" aria-hidden="true" alt="x">"""
    refs = html.extract(page, "p")[0]
    assert [(r.declared_width, r.declared_height) for r in refs[:2]] == [(640, 480), (1, 1)]
    assert [r.tracking for r in refs] == [False, True, True, True, False, False]
    assert [r.decorative for r in refs] == [False, True, False, False, True, True]


@pytest.mark.parametrize(
    "src",
    [
        "https://mc.yandex.ru/watch/54352606",  # Yandex Metrica
        "//secure-uk.imrworldwide.com/cgi-bin/m?ci=bbc&amp;cg=0",  # Nielsen
        "//c.statcounter.com/7919616/0/3b91cd3f/1/",  # StatCounter
        "https://cdn.example/assets/1px.gif",  # a spacer
    ],
)
def test_analytics_beacons_and_spacers_are_tracking(src):
    (ref,) = html.extract(f'<img src="{src}" alt="">', "p")[0]
    assert ref.tracking
    # an inline image fetches nothing, whatever words its data holds
    svg = "data:image/svg+xml;utf8,<svg><path stroke-width='1px' d='M0 0'/></svg>"
    assert not html.is_tracker(svg) and not html.is_tracker(f"data:,{src}")


@pytest.mark.parametrize(
    ("src", "tracker"),
    [
        ("HTTPS://CDN.EXAMPLE/IMG/Clear.GIF", True),  # case is ignored
        ("https://cdn.example/img_1x1.png?v=2", True),
        ("https://cdn.example/img1px.gif", False),  # a word of a name, not a name
        ("https://cdn.example/pixel.jpg", False),
        ("https://example.com/b/ss/suite/1/H.26", True),  # Adobe Analytics
        ("https://ad.doubleclick.net/ddm/activity", True),
        ("https://example.com/pixel?id=3", True),
        ("https://example.com/pixels/gallery.jpg", False),
        ("https://statcounter.com/counter.php", True),
        ("https://example.com/statcounter.com/x.gif", False),  # a path, not the host
        ("https://example.com/collection/photo.jpg", False),
    ],
)
def test_tracker_urls(src, tracker):
    assert html.is_tracker(src) is tracker


def test_sizes_in_data_src_attributes_replace_a_placeholder_and_the_noscript_copy_merges():
    # CNN (2019): the sizes of the photo in data-src-* attributes behind an inline GIF, a
    # preloader, then a <noscript> copy with one of the sizes: one reference, not two
    gif = "data:image/gif;base64,R0lGODlhEAAJAJEAAAAAAP///////wAAACH5BAEAAAIALAAAAAAQAAkAAAIKlI"
    page = f"""<div class="media"><img alt="Flags" data-src-mini="//cdn.cnn.com/f-small.jpg"
    data-src-large="//cdn.cnn.com/f-super.jpg" data-src-2x="//cdn.cnn.com/f-2x.jpg"
    data-src-id="42" src="{gif}"><div class="img__preloader"></div>
    <noscript><img alt="Flags" src="//cdn.cnn.com/f-super.jpg"></noscript></div>
    <img src="plain.jpg" data-src-mini="//cdn.cnn.com/other.jpg">"""
    first, second = html.extract(page, "p")[0]
    assert (first.src, first.placeholder, first.alt) == ("//cdn.cnn.com/f-small.jpg", gif, "Flags")
    assert [(c.url, c.density) for c in first.srcset] == [
        ("//cdn.cnn.com/f-small.jpg", None),
        ("//cdn.cnn.com/f-super.jpg", None),
        ("//cdn.cnn.com/f-2x.jpg", 2.0),
    ]
    assert first.candidates()[0] == "//cdn.cnn.com/f-2x.jpg"
    # a real src is kept
    assert (second.src, second.placeholder, second.srcset) == ("plain.jpg", None, ())


def test_a_photo_shown_as_the_background_of_a_placeholder_img_is_its_src():
    # Yahoo's and CNN's front pages: the photo is the inline style's background image
    page = """<a href="/s"><img src="https://s.yimg.com/os/transparent-1093278.png"
      style="background-image:url('https://s.yimg.com/dh/Snakes1.jpg');" alt=""></a>
    <img src="/1px.gif" style="background: transparent url(http://cdn.example/x.jpg) no-repeat">
    <img src="/1px.gif"><img src="photo.jpg" style="background-image: url(bg.jpg)">"""
    refs = html.extract(page, "p")[0]
    assert [(r.src, r.placeholder, r.tracking) for r in refs] == [
        (
            "https://s.yimg.com/dh/Snakes1.jpg",
            "https://s.yimg.com/os/transparent-1093278.png",
            False,
        ),
        ("http://cdn.example/x.jpg", "/1px.gif", False),
        ("/1px.gif", None, True),  # a spacer
        ("photo.jpg", None, False),  # a real src is kept
    ]


def test_the_caption_element_is_never_its_own_credit():
    # CNN: the caption carries the class "attribution"; the credit is a figcaption after it
    page = """<div class="image"><img src="a.jpg"><div class="image__metadata">
    <div itemprop="caption" class="image__caption attribution"><span>Samuel Alito</span></div>
    <figcaption class="image__credit">Getty Images/Sipa USA</figcaption></div></div>
    <figure><img src="b.jpg"><figcaption class="caption credit">Both</figcaption></figure>"""
    refs = html.extract(page, "p")[0]
    assert [(r.caption, r.credit) for r in refs] == [
        ("Samuel Alito", "Getty Images/Sipa USA"),
        ("Both", None),
    ]


def test_a_teaser_card_s_byline_or_source_is_no_photo_credit():
    # Yahoo's front page: a thumbnail, a headline and the story's source ("IB Times" under a
    # photo of Putin); a credit that says it is the photo's is kept, and so is one beside a
    # captioned photo or in a card with no heading
    page = """<li><a href="/s1"><img src="putin.jpg"></a><div><h3><a href="/s1">Putin</a></h3>
    <p>Summary</p></div><div class="attribution"><span>IB Times</span> 24 mins ago</div></li>
    <li><img src="ship.jpg"><h3>Ship</h3><span class="credit">Photo: Ann Lee</span></li>
    <li><img src="heron.jpg"><h3>Heron</h3><p class="caption">A heron</p>
    <span class="byline">Bo Ek</span></li>
    <div><img src="cat.jpg"><span class="photo-credit">Ann Lee</span></div>
    <div><img src="dog.jpg"><div class="credit"><h4>Photographer</h4> Bo Ek</div></div>"""
    refs = html.extract(page, "p")[0]
    assert [(r.src, r.caption, r.credit) for r in refs] == [
        ("putin.jpg", None, None),
        ("ship.jpg", None, "Photo: Ann Lee"),
        ("heron.jpg", "A heron", "Bo Ek"),
        ("cat.jpg", None, "Ann Lee"),
        ("dog.jpg", None, "Photographer Bo Ek"),
    ]


def test_an_author_s_photo_is_no_lead_image_and_a_broken_canonical_gives_way():
    # Yoast puts the author in the graph as an object of its own, with a gravatar;
    # cleveland.com's canonical is "8003098"
    page = """<link rel="canonical" href="8003098">
    <meta property="og:url" content="http://news.example/a.html">
    <script type="application/ld+json">{"@graph": [
      {"@type": "NewsArticle", "author": {"@id": "#p1"}, "image": {"@id": "#lead"}},
      {"@type": "ImageObject", "@id": "#lead", "url": "https://news.example/lead.jpg"},
      {"@type": "Person", "@id": "#p1", "name": "Jane", "image": {"@type": "ImageObject",
       "url": "https://secure.gravatar.com/avatar/abc", "caption": "Jane"}},
      {"@type": ["Organization", "Brand"], "image": "https://news.example/logo.png"}]}
    </script><img src="a.jpg">"""
    refs = html.extract(page, "p")[0]
    assert [(r.src, r.kind) for r in refs] == [
        ("a.jpg", "img"),
        ("https://news.example/lead.jpg", "meta"),
    ]
    assert {r.article_url for r in refs} == {"http://news.example/a.html"}
    relative = (
        '<link rel="canonical" href="/a.html"><meta property="og:url" content="/b"><img src=a>'
    )
    assert html.extract(relative, "p")[0][0].article_url == "/a.html"
    for name in ("article_date_original", "cXenseParse:recs:publishtime"):
        dated = f'<meta name="{name}" content="2018-06-18T10:01:00Z"><img src=a>'
        assert html.extract(dated, "p")[0][0].article_date == "2018-06-18T10:01:00Z"


def test_a_credit_line_is_no_caption_and_screen_reader_labels_are_left_out():
    page = """<figure><img src="a.jpg"><figcaption class="media-caption">
    <span class="off-screen">Image caption</span>The three journalists</figcaption></figure>
    <figure><img src="b.jpg"><figcaption>Credit: Riot Games</figcaption></figure>
    <figure><img src="c.jpg"><figcaption>Photo: a flooded street in Hull</figcaption></figure>
    <figure><img src="d.jpg"><figcaption>Storm damage <span>Photo: Reuters</span></figcaption>
    </figure>"""
    refs = html.extract(page, "p")[0]
    assert [(r.caption, r.credit) for r in refs] == [
        ("The three journalists", None),  # BBC's hidden label is not the caption's
        (None, "Credit: Riot Games"),
        ("Photo: a flooded street in Hull", None),  # "Photo:" alone may start a caption
        ("Storm damage", "Photo: Reuters"),
    ]


def test_a_class_ending_in_credit_or_copyright_is_a_credit():
    page = """<figure><span><img src="a.jpg"><span class="off-screen">Image copyright</span>
    <span class="story-image-copyright">Khin Mg Win</span></span>
    <figcaption>The three journalists</figcaption></figure>
    <figure><img src="b.jpg"><figcaption>Landslide in Ask
    <span><span class="photo__copyright">Foto: REUTERS, NTB</span></span></figcaption></figure>"""
    refs = html.extract(page, "p")[0]
    assert [(r.caption, r.credit) for r in refs] == [
        ("The three journalists", "Khin Mg Win"),  # BBC
        ("Landslide in Ask", "Foto: REUTERS, NTB"),  # delfi.lv
    ]
    sott = '<figure><img src=c.jpg><figcaption><span class="tiny">© Alamy</span><br>Director'
    assert [(r.caption, r.credit) for r in html.extract(sott, "p")[0]] == [("Director", "© Alamy")]


def test_a_cite_beside_the_caption_is_the_credit_one_in_it_is_not():
    # Vox's markup (real-vox in the gold set): the source in a <cite> beside the figcaption
    vox = """<figure class="e-image"><span class="e-image__inner"><picture><img alt="Smog"
    src="a.jpg"></picture></span><span class="e-image__meta"><figcaption>Air pollution is
    surging in Delhi.</figcaption> <cite>Sakib Ali/Hindustan Times/Getty Images</cite></span>
    </figure><figure><img src="b.jpg"><figcaption>A still from <cite>Metropolis</cite>, 1927
    </figcaption></figure><p>As <cite>The Atlantic</cite> wrote</p><img src="c.jpg">"""
    refs = html.extract(vox, "p")[0]
    assert [(r.caption, r.credit, r.credit_source) for r in refs] == [
        ("Air pollution is surging in Delhi.", "Sakib Ali/Hindustan Times/Getty Images", "markup"),
        ("A still from Metropolis, 1927", None, None),  # a work the caption names
        (None, None, None),  # a cite outside any figure
    ]


def test_http_equiv_and_undeclared_legacy_encodings():
    persian = "هنوز از تلفات و خسارات دقيق اين انفجار آماري منتشر نشده است"  # Arabic yeh
    head = '<meta http-equiv="Content-Type" content="text/html; charset=windows-1256">'
    page = f"{head}<p>{persian}</p><img alt='گزارش تصويري' src=a>"
    assert html.extract(decode_html(page.encode("cp1256")), "p")[0][0].alt == "گزارش تصويري"
    undeclared = f"<p>{persian}</p><img alt='گزارش' src=a>".encode("cp1256")
    assert persian in decode_html(undeclared)
    russian = "<p>Пожар уничтожил большую часть старого рынка</p><img alt='Дым' src=a>"
    assert decode_html(russian.encode("cp1251")) == russian
    assert decode_html(b"\xff\xfe" + "<p dir='rtl'>عکس</p>".encode("utf-16-le")).endswith("عکس</p>")


_STYLES = st.sampled_from(["figure", "wp", "wiki", "sibling", "lazy"])


_TEMPLATES = {
    "figure": '<figure>{img}<figcaption>{caption}<span class="credit">{credit}</span>'
    "</figcaption></figure>",
    "wp": '<div class="wp-caption">{img}<p class="wp-caption-text">{caption}</p>'
    '<p class="credit">{credit}</p></div>',
    "wiki": '<div class="thumb"><div class="thumbinner">{img}<div class="thumbcaption">'
    '{caption}</div><div class="credit">{credit}</div></div></div>',
    "sibling": '{img}<p class="image-caption">{caption}<small class="credit">{credit}</small></p>',
    "lazy": '<figure><img src="data:image/gif;base64,R0lGOD" data-src="{i}.jpg" alt="{alt}">'
    '<noscript>{img}</noscript><figcaption>{caption}<em class="byline">{credit}</em>'
    "</figcaption></figure>",
}


def _styled(i, style, alt, caption, credit):
    img = f'<img src="{i}.jpg" alt="{alt}">'
    return _TEMPLATES[style].format(i=i, img=img, alt=alt, caption=caption, credit=credit)


@given(st.lists(st.tuples(_STYLES, _words, _words, _words), max_size=8))
def test_generated_pages_in_every_caption_style_pair_each_image_with_its_words(items):
    body = "<p>Text between images.</p>".join(_styled(i, *item) for i, item in enumerate(items))
    refs, _ = html.extract(f"<html><body><article>{body}</article></body></html>", "p")
    assert [(r.position, r.src, r.alt, r.caption, r.credit) for r in refs] == [
        (i, f"{i}.jpg", alt, caption, credit) for i, (_, alt, caption, credit) in enumerate(items)
    ]


@given(st.binary(max_size=400), st.sampled_from(["html", "markdown", "text"]))
def test_any_bytes_in_any_format_never_raise(tmp_path_factory, data, kind):
    path = tmp_path_factory.mktemp("a") / "article"
    path.write_bytes(data)
    (article,) = extract_file(path, kind)
    body = [r for r in article.refs if r.kind == "img"]
    assert [r.position for r in body] == list(range(len(body)))


def test_image_ref_of_is_the_dataclass_built_fast():
    fields = {"article": "a.html", "position": 0, "src": "x.jpg", "alt": "", "heading": "H"}
    assert ImageRef.of(fields) == ImageRef(**fields)
    assert hash(ImageRef.of(fields)) == hash(ImageRef(**fields))
    with pytest.raises(TypeError):
        ImageRef.of({**fields, "colour": "red"})
    with pytest.raises(TypeError):
        ImageRef.of({"article": "a.html", "src": "x.jpg"})


def test_caption_classes_match_as_the_selector_engine_does_in_quirks_and_standards_mode():
    # in the image's container, and as the element right after it
    for figure in (
        '<figure><img src="a.jpg"><p class="Caption">Storm damage</p></figure>',
        '<div><div><img src="a.jpg"></div><p class="Caption">Storm damage</p>'
        '<img src="b.jpg"></div>',
    ):
        quirks = html.extract(figure, "p")[0][0]
        standards = html.extract("<!doctype html>" + figure, "p")[0][0]
        assert quirks.caption == "Storm damage"
        assert standards.caption is None


def test_text_that_looks_like_a_mark_is_only_text():
    # The marks put before images and headings start with NUL, which the parser never
    # leaves in a page's text (a NUL byte or `&#0;` becomes U+FFFD or is dropped).
    page = '<p>x \ue0029\ue001 \x00h0\x01 &#0;0\x01 y</p><img src="a.jpg"><p>after</p>'
    (ref,) = html.extract(page, "p")[0]
    assert ref.heading is None
    assert ref.context_before == "x \ue0029\ue001 h0\x01 \ufffd0\x01 y"
    assert ref.context_after == "after"


_CHUNKS = st.sampled_from(
    ["<p>", "</p>", "<h2>Head</h2>", "<img src=i.jpg>", "<script>s</script>", "   \n  "]
) | st.text(st.sampled_from("ab عک "), min_size=1, max_size=30)


@given(st.lists(_CHUNKS, max_size=40), st.integers(min_value=1, max_value=50))
def test_context_windows_read_as_the_whole_text_would(chunks, chars):
    page = "<body>" + "".join(chunks) + "</body>"
    whole = html.extract(page, "p", context=10**6)[0]
    cut = html.extract(page, "p", context=chars)[0]
    assert [(r.context_before, r.context_after) for r in cut] == [
        (
            context.text_before(r.context_before or "", len(r.context_before or ""), chars),
            context.text_after(r.context_after or "", 0, chars),
        )
        for r in whole
    ]


@pytest.mark.parametrize("name", sorted(captions._CAPTION_CLASSES))
def test_every_caption_class_makes_a_caption(name):
    page = f'<div><img src="a.jpg"><p class="photo {name.upper()}">Storm damage</p></div>'
    (ref,) = html.extract(page, "p")[0]
    assert ref.caption == "Storm damage"


@pytest.mark.parametrize("name", sorted(captions._CREDIT_CLASSES))
def test_every_credit_class_makes_a_credit(name):
    page = f'<figure><img src="a.jpg"><figcaption>Storm <i class="x {name}">Jane Roe</i>'
    (ref,) = html.extract(page + "</figcaption></figure>", "p")[0]
    assert (ref.caption, ref.credit) == ("Storm", "Jane Roe")


def test_a_caption_named_by_its_id_in_the_image_s_container():
    # CNN's galleries (2013): each photo's container holds it and a <cite> whose id, not its
    # class, says it is the caption; the next container's caption is not this one's.
    gallery = "".join(
        f'<div class="cnnArticleGalleryPhotoContainer"><img src="{n}.jpg" alt="Photo {n}">'
        f'<cite id="galleryCaption00{n}">Storm, day {n}.</cite><script>gallery({n})</script>'
        "</div>"
        for n in (1, 2)
    )
    refs = html.extract(f"<body><h1>Weather</h1>{gallery}</body>", "p")[0]
    assert [ref.caption for ref in refs] == ["Storm, day 1.", "Storm, day 2."]


@pytest.mark.parametrize(
    ("markup", "caption", "credit"),
    [
        (  # a control whose id holds the word
            '<figure><button id="captionToggle">Hide caption</button><img src="a.jpg">'
            "<figcaption>Real caption</figcaption></figure>",
            "Real caption",
            None,
        ),
        (
            '<figure><input type="checkbox" id="show-caption"><img src="a.jpg">'
            "<figcaption>Real caption</figcaption></figure>",
            "Real caption",
            None,
        ),
        (  # a credit is no caption
            '<div><img src="a.jpg"><span id="photoCaptionCredit" class="credit">Jane Roe</span>'
            "</div>",
            None,
            "Jane Roe",
        ),
        (
            '<div><img src="a.jpg"><span id="captionCredit" class="credit">Jane Roe</span>'
            '<p class="caption">Storm</p></div>',
            "Storm",
            "Jane Roe",
        ),
        (  # a caption by its class comes before one by its id alone
            '<div><img src="a.jpg"><cite id="galleryCaption1">By id</cite>'
            '<p class="caption">By class</p></div>',
            "By class",
            None,
        ),
        (
            '<div class="g"><div id="captionContainer"><p>Storm over the bay.</p>'
            '<p>Share this</p></div><img src="a.jpg"></div>',
            None,
            None,
        ),
        ('<p><img src="a.jpg"><a id="caption" href="#c">Show caption</a></p>', None, None),
        ('<div><img src="a.jpg"></div><div id="closedCaptionSettings">CC</div>', None, None),
        ('<div><img src="a.jpg"><span id="no-caption"> </span></div>', None, None),
        ('<div><img src="a.jpg"></div><p id="photo-caption-2">Storm.</p>', "Storm.", None),
    ],
)
def test_a_caption_by_its_id_alone_is_the_last_resort(markup, caption, credit):
    (ref,) = html.extract(markup, "p")[0]
    assert (ref.caption, ref.credit) == (caption, credit)


@pytest.mark.parametrize(
    ("markup", "caption", "credit"),
    [
        (  # the Los Angeles Times (Brightspot): a class of the site's own ending in -caption
            '<figure class="Figure"><img src="a.jpg" alt="Disney"><div class="Figure-content">'
            '<div class="Figure-caption">Disney+ had a rough start.</div>'
            '<div class="Figure-credit">(Reed Saxon / Associated Press)</div></div></figure>',
            "Disney+ had a rough start.",
            "(Reed Saxon / Associated Press)",
        ),
        (  # Al Bawaba: abn-image-caption
            '<div class="abn-image"><img src="a.jpg"><div class="abn-image-caption">'
            "A man rides on a donkey.</div></div>",
            "A man rides on a donkey.",
            None,
        ),
        (  # the Guardian: a mobile toggle named reveal-caption comes before the figcaption
            '<figure><div><img src="a.jpg"></div><label class="reveal-caption" for="c">'
            "<span>i</span>Show caption</label><figcaption>Protesters in Hong Kong"
            "</figcaption></figure>",
            "Protesters in Hong Kong",
            None,
        ),
        (  # VentureBeat: WordPress's caption box holds the caption
            '<div class="article-media-header"><img src="a.jpg"><div class="wp-caption">'
            '<p class="wp-caption-text">A WeWork space.</p><div>Image Credit: WeWork</div>'
            "</div></div>",
            "A WeWork space.",
            None,
        ),
        (  # BBC: a video's notice is no caption of its still when the figure has one
            '<figure><div class="player-with-placeholder"><img src="a.jpg">'
            '<div class="player-with-placeholder__caption">Media playback is unsupported'
            "</div></div><figcaption>Who is Julian Assange?</figcaption></figure>",
            "Who is Julian Assange?",
            None,
        ),
        (  # PolitiFact: an ad's label five levels off is no caption of a sidebar logo
            '<div class="sidebar"><div class="widget"><div class="widget__content"><ul>'
            '<li>Browse</li><a href="/m"><img src="a.jpg"></a></ul></div></div>'
            '<div class="pfad widget"><div class="pfad__caption">Advertisement</div></div></div>',
            None,
            None,
        ),
        (  # nor is an empty element so named
            '<figure><img src="a.jpg"><div class="media__caption"> </div></figure>',
            None,
            None,
        ),
    ],
)
def test_a_class_ending_in_caption_is_a_caption_after_the_known_ones(markup, caption, credit):
    (ref,) = html.extract(markup, "p")[0]
    assert (ref.caption, ref.credit) == (caption, credit)


def test_a_caption_s_child_saying_photo_by_is_its_credit():
    # Rolling Stone: the lead photo's caption box holds the caption and, apart, its source.
    page = """<figure class="c-picture"><div class="c-picture__frame"><div class="c-crop">
    <img src="a.jpg" alt="The Doobie Brothers"></div></div><div class="c-picture__caption">
    <p class="c-picture__title">The Doobie Brothers will tour in 2020.</p>
    <p class="c-picture__source">Photo by Jason Kempin/Getty Images</p></div></figure>
    <figure><img src="b.jpg"><figcaption>Storm damage <i>Image courtesy of NOAA</i>
    </figcaption></figure>
    <figure><img src="c.jpg"><figcaption>Photo booths by the sea</figcaption></figure>"""
    refs = html.extract(page, "p")[0]
    assert [(r.caption, r.credit) for r in refs] == [
        ("The Doobie Brothers will tour in 2020.", "Photo by Jason Kempin/Getty Images"),
        ("Storm damage", "Image courtesy of NOAA"),
        ("Photo booths by the sea", None),
    ]


@pytest.mark.parametrize("block", ["[" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000 + ","])
def test_json_ld_nested_too_deep_is_passed_over(block):
    # orjson refuses either (1,024 levels at most); Python's reader, tried next for sites'
    # faults, would run out of stack
    page = f'<script type="application/ld+json">{block}</script><img src="a.jpg">'
    assert [ref.src for ref in html.extract(page, "p")[0]] == ["a.jpg"]


def test_json_ld_with_raw_line_breaks_or_trailing_commas_is_read():
    # moneycontrol.com: a line break inside a string; smithsonianmag.com: a comma before "}".
    # A block broken otherwise (a JavaScript comment) is still passed over.
    broken = (
        '{"@type": "NewsArticle", "headline": "Economy\n in stress",'
        ' "datePublished": "2019-11-20T13:38:07+05:30",'
        ' "image": {"@type": "ImageObject", "url": "https://e.com/lead.jpg", "width": 630}}'
    )
    trailing = (
        '{"@type": "NewsArticle", "image": ["https://e.com/crop.jpg",],'
        ' "datePublished": "2019-11-18T16:06:51-05:00",}'
    )
    commented = '{"@type": "NewsArticle", // empty\n "image": "https://e.com/x.jpg"}'
    for block, date, src, width in (
        (broken, "2019-11-20T13:38:07+05:30", "https://e.com/lead.jpg", 630),
        (trailing, "2019-11-18T16:06:51-05:00", "https://e.com/crop.jpg", None),
    ):
        page = f'<script type="application/ld+json">{block}</script><p>Text</p>'
        (ref,) = html.extract(page, "p")[0]
        assert (ref.kind, ref.src, ref.declared_width, ref.article_date) == (
            "meta",
            src,
            width,
            date,
        )
    page = f'<script type="application/ld+json">{commented}</script><p>Text</p>'
    assert html.extract(page, "p") == ([], [])


def test_a_meta_whose_itemprop_names_date_published_dates_the_article():
    # The New York Times (2019): no known date meta, no JSON-LD date; the published time
    # is a <meta> whose itemprop lists datePublished among other names.
    page = """<head><meta property="article:published" itemprop="datePublished dateCreated"
    content="2019-11-19T11:00:09.000Z"><meta property="article:modified"
    itemprop="dateModified" content="2019-11-19T12:00:00.000Z"></head>
    <body><img src="a.jpg"><time datetime="2019-11-20">Nov. 20</time></body>"""
    (ref,) = html.extract(page, "p")[0]
    assert ref.article_date == "2019-11-19T11:00:09.000Z"


def test_a_caption_text_block_beside_the_lead_photo_is_its_caption():
    # space.com and livescience.com (Future): the lead photo, then its caption and credit
    page = """<section class="content-wrapper"><div class="box"><img class="hero-image"
    src="a.jpg" alt="A plume of water vapor"><div class="caption-text">An artist's
    illustration of a plume.</div><div class="credit">(Image: © NASA/ESA)</div></div>
    <div id="article-body"><p>The Jupiter moon Europa's plumes seem to be real.</p></div>"""
    (ref,) = html.extract(page, "p")[0]
    assert ref.caption == "An artist's illustration of a plume."
    assert ref.credit == "(Image: © NASA/ESA)"


def test_a_zero_date_dates_nothing():
    # Gannett's USA Today network (detroitnews.com, floridatoday.com): the JSON-LD is left
    # at Go's zero time; the date shown is only text ("Published 11:11 PM EST Nov 19, 2019")
    gannett = """<script type="application/ld+json">{"@context": "http://schema.org",
    "@type": "NewsArticle", "dateModified": "0001-01-01T00:00:00Z",
    "datePublished": "0001-01-01T00:00:00Z", "image": {}}</script>
    <div class="publish-date">Published 11:11 PM EST Nov 19, 2019</div><img src="a.jpg">"""
    (ref,) = html.extract(gannett, "p")[0]
    assert ref.article_date is None
    # a zero date in a meta tag gives way to the next source
    page = """<meta property="article:published_time" content="0000-00-00 00:00:00">
    <script type="application/ld+json">{"@type": "NewsArticle",
    "datePublished": "2019-11-19T23:11:00-05:00"}</script><img src="a.jpg">"""
    (ref,) = html.extract(page, "p")[0]
    assert ref.article_date == "2019-11-19T23:11:00-05:00"
    page = '<time datetime="0001-01-01T00:00:00Z">Nov. 19</time><img src="a.jpg">'
    assert html.extract(page, "p")[0][0].article_date is None


def test_a_credit_beside_the_caption_comes_before_the_story_s_byline():
    # Gannett's USA Today network: the story's byline (class attribution) and the photo sit in
    # one wrapper holding no other image; the photo's credit is beside its caption
    page = """<article><div class="outer"><div class="article-wrapper">
    <h1 class="title">Eastern Michigan routs Northern Illinois</h1>
    <div class="byline-section"><div class="attribution"><span class="author"></span>
    <span class="publication">Detroit News wire services</span></div></div>
    <div class="asset asset-image"><div class="image-image"><img src="a.jpg"></div>
    <div class="image-meta"><div class="image-caption">Quarterback Mike Glass III</div>
    <div class="image-credit">Al Goldis, Associated Press</div></div></div>
    <p>Mike Glass threw for three touchdowns.</p></div></div></article>"""
    (ref,) = html.extract(page, "p")[0]
    assert ref.caption == "Quarterback Mike Glass III"
    assert ref.credit == "Al Goldis, Associated Press"  # not "Detroit News wire services"


def test_a_noscript_copy_right_before_its_lazy_image_counts_once():
    # morebikes.co.uk (ShortPixel) and polygraph.info: the <noscript> copy comes first, then
    # the lazy image; each photo was counted twice
    page = """<p><a href="/full.jpg"><noscript><img class="size-full" src="/photo.jpg"
    alt="Clymer manual" width="1500" height="1136" srcset="/photo.jpg 1500w, /photo-768.jpg 768w">
    </noscript><img class="lazyload size-full" src="/lqip/photo.jpg" data-src="/photo.jpg"
    alt="Clymer manual" width="1500" height="1136"></a></p>
    <div class="thumb"><noscript class="nojs-img"><img src="/author_w100.jpg" alt="Ministry">
    </noscript> <img alt="Ministry" data-src="/author_w66.jpg" src=""></div>
    <noscript><img src="/alone.jpg" alt="no twin"></noscript><p>Text</p><img src="/next.jpg">"""
    refs = html.extract(page, "p")[0]
    assert [(r.src, r.placeholder, r.alt, len(r.srcset), r.link) for r in refs] == [
        ("/photo.jpg", "/lqip/photo.jpg", "Clymer manual", 2, "/full.jpg"),
        ("/author_w66.jpg", None, "Ministry", 0, None),
        ("/alone.jpg", None, "no twin", 0, None),  # text comes between: no copy
        ("/next.jpg", None, None, 0, None),
    ]


def test_a_caption_element_holding_only_the_credit_is_the_credit_of_the_text_around_it():
    # the Express: the element classed caption holds only the credit, inside the real caption
    page = """<div class="photo changeSpace"><p class="withoutCaption"><picture><source
    type="image/webp" srcset="a.webp"><img class="lazy" src="preloaderbig.gif" data-src="a.jpg"
    alt="Hong Kong protester"></picture></p><span class="newsCaption">China has warned they
    will cease control of Hong Kong <span class="caption">(Image: GETTY )</span></span></div>
    <figure><img src="b.jpg"><figcaption>Credit: Riot Games</figcaption></figure>"""
    refs = html.extract(page, "p")[0]
    assert [(r.caption, r.credit) for r in refs] == [
        ("China has warned they will cease control of Hong Kong", "(Image: GETTY )"),
        (None, "Credit: Riot Games"),  # the figure holds the image: no caption around
    ]


def test_a_hidden_image_label_is_neither_credit_nor_caption():
    # Sky News: a label for screen readers, "Image:", before the caption's text
    page = """<figure class="sdc-article-image__figure"><div class="sdc-article-image__wrapper">
    <img class="sdc-article-image__item" src="a.jpg" alt="Jose Mourinho"></div>
    <figcaption class="sdc-article-image__caption" itemprop="caption description">
    <span class="sdc-article-image__visually-hidden">Image:</span>
    <span class="sdc-article-image__caption-text">Jose Mourinho has agreed a deal</span>
    </figcaption></figure>
    <figure><img src="b.jpg"><figcaption>Storm <span>Photo: </span></figcaption></figure>"""
    refs = html.extract(page, "p")[0]
    assert [(r.caption, r.credit) for r in refs] == [
        ("Jose Mourinho has agreed a deal", None),
        ("Storm Photo:", None),  # a credit's label naming no one is no credit
    ]


def test_numbers_and_strings_a_catalogue_cannot_store_are_passed_over():
    # a declared size of thousands of digits made int() raise; one past 64 bits, the save;
    # Python's JSON reader (tried when orjson refuses a block) takes lone surrogates (the
    # block is passed over) and huge integers (read as floats, as orjson reads them: the
    # block is kept, the size left out)
    huge = "9" * 5000
    page = f"""<img src="a.jpg" width="{huge}" height="99999999999999999999">
    <img srcset="b.jpg {huge}w, c.jpg 640w">
    <script type="application/ld+json">{{"image": "\\ud800.jpg",
    "datePublished": "2020"}}</script>
    <script type="application/ld+json">{{"image": {{"url": "d.jpg",
    "width": 99999999999999999999999}}, "x": 1{"1" * 5000}}}</script>"""
    refs = html.extract(page, "p")[0]
    assert [(r.src, r.declared_width, r.declared_height) for r in refs] == [
        ("a.jpg", None, None),
        ("c.jpg", None, None),  # the largest candidate whose width can be read
        ("d.jpg", None, None),
    ]
    assert [(c.url, c.width) for c in refs[1].srcset] == [("b.jpg", None), ("c.jpg", 640)]
    orjson.dumps([dataclasses.asdict(ref) for ref in refs])  # as a catalogue saves them


def test_a_lead_photo_s_own_credit_beside_the_headline_is_kept():
    # an article's header: headline and lead photo in one container; the credit's class
    # names the picture, or a byline comes first and the photo's credit after it
    page = """<article><header><h1>Flooding</h1><div class="lead"><img src="a.jpg">
    <span class="photo-credit">Jane Roe/Reuters</span></div></header></article>
    <article><header><h1>Storm</h1><p class="byline">By Ann Lee</p><div><img src="b.jpg">
    <span class="image-credit">AP</span></div></header></article>
    <article><header><h1>Fire</h1><div><img src="c.jpg"><span itemprop="copyrightHolder">
    Getty</span></div></header></article>"""
    assert [r.credit for r in html.extract(page, "p")[0]] == ["Jane Roe/Reuters", "AP", "Getty"]


def test_a_caption_id_holds_beside_a_caption_class_of_the_site_s_own():
    page = """<div><div><div><div><img src="a.jpg"></div></div></div>
    <cite id="galleryCaption001" class="el__gallery-caption">A storm</cite></div>"""
    assert html.extract(page, "p")[0][0].caption == "A storm"


def test_the_date_fallback_takes_the_first_value_that_dates():
    # an empty published-time meta, then a <time>; an element whose itemprop lists
    # datePublished, with a datetime
    page = """<meta property="article:published" itemprop="datePublished" content="">
    <time datetime="2019-11-19">19 Nov</time><img src="a.jpg">"""
    assert html.extract(page, "p")[0][0].article_date == "2019-11-19"
    page = '<span itemprop="datePublished dateCreated" datetime="2020-01-02">2</span><img src=a>'
    assert html.extract(page, "p")[0][0].article_date == "2020-01-02"


def test_photo_by_with_a_colon_is_a_credit_and_data_src_values_must_look_like_urls():
    page = """<figure><img src="a.jpg"><figcaption>Storm damage
    <span>Photo by: Ann Lee</span></figcaption></figure>
    <img src="data:image/gif;base64,R0lGOD" data-src-type="image/webp" data-src-id="42/7"
    data-src-set="/a.jpg 1x, /b.jpg 2x">"""
    first, second = html.extract(page, "p")[0]
    assert (first.caption, first.credit) == ("Storm damage", "Photo by: Ann Lee")
    assert (second.src, second.srcset) == ("data:image/gif;base64,R0lGOD", ())


def test_a_noscript_copy_before_an_image_merges_only_into_its_own_photo():
    # several images in one noscript, a gallery after it, a different photo with the same
    # alt inside a larger box, an empty src: each counts on its own
    pages = [
        """<div><noscript><img src=1.jpg alt=Gallery><img src=2.jpg alt=Gallery></noscript>
        <img data-src=1.jpg alt=Gallery><img data-src=2.jpg alt=Gallery></div>""",
        """<article><noscript><img src=hero.jpg alt="Storm" width=1200></noscript>
        <div class=gallery><ul><li><img data-src=g1.jpg alt="Storm"></li></ul></div></article>""",
        """<div><noscript><img alt=x></noscript><img src="" alt=y></div>""",
    ]
    counts = [len(html.extract(page, "p")[0]) for page in pages]
    assert counts == [4, 2, 2]
    # the copy right before its lazy photo, or before the link holding it, merges
    page = """<div><noscript><img src=a.jpg alt=A width=640></noscript><img data-src=a.jpg
    alt=A src=lqip.gif></div><p><noscript><img src=b-big.jpg alt=B></noscript><a href=/b><img
    data-src=b.jpg alt=B src=data:image/gif;base64,R0></a></p>"""
    refs = html.extract(page, "p")[0]
    assert [(r.src, r.declared_width) for r in refs] == [("a.jpg", 640), ("b.jpg", None)]


def test_review_cases_of_credits_captions_and_sizes():
    # a credit beside a caption outside the image's container is not its; a card whose
    # byline is classed "media byline" keeps no credit; a card's text holding a headline
    # and a bracketed credit is no caption; a visible not-sr-only span stays in the caption;
    # data-src-* values that are no URLs are left; a JSON-LD width of 1e21 is no size
    page = """<div class=wrap><img src=a.jpg aria-describedby=c1></div>
    <div id=other><span class=byline>Other Author</span><span id=c1>Cap</span></div>
    <div class=card><img src=b.jpg><h3>Story</h3><div class="media byline">By Jane</div></div>
    <div class=card><div class=thumb><img src=c.jpg></div><div class=text><h3>Markets</h3>
    <span class=caption>(Image: Getty)</span></div></div>
    <figure><img src=d.jpg><figcaption><span class="md:not-sr-only">Visible</span> rest
    </figcaption></figure>
    <img src="data:image/gif;base64,R0lGOD" data-src-ratio="0.75" data-src-large="/media/123">
    <script type="application/ld+json">{"image": {"url": "e.jpg", "width": 1e21}}</script>"""
    refs = html.extract(page, "p")[0]
    assert [(r.src, r.caption, r.credit, r.declared_width) for r in refs] == [
        ("a.jpg", "Cap", None, None),
        ("b.jpg", None, None, None),
        ("c.jpg", None, "(Image: Getty)", None),
        ("d.jpg", "Visible rest", None, None),
        ("/media/123", None, None, None),
        ("e.jpg", None, None, None),
    ]


def test_a_blog_post_s_comment_authors_are_not_its_photo_s_credit():
    # the post's heading and photo share a container with many credit-classed comment
    # authors: a few are tried, not all
    comments = "".join(
        f"<li><span itemprop=author>User {n}</span><p>comment</p></li>" for n in range(300)
    )
    page = f"<div><div><h1>Post</h1><img src=a.jpg><p>text</p></div><ol>{comments}</ol></div>"
    assert html.extract(page, "p")[0][0].credit is None


def test_nesting_past_the_depth_limit_is_flattened_and_its_images_kept():
    # 60,000 nested <div>s are quadratic for the parser (each block tag looks down the stack
    # of open elements): past nesting.MAX_DEPTH the start tags become bogus comments
    depth = 60_000
    page = (
        "<body><script>'<div><div>'</script><!-- <div> -->"
        + "<div><span>" * (depth // 2)
        + '<img src="deep.jpg" alt="Deep">'
        + "</span></div>" * (depth // 2)
        + '<figure><img src="after.jpg"><figcaption>After</figcaption></figure>'
    )
    flat = nesting.flatten(page)
    assert flat.replace("<?", "<") == page
    assert flat.count("<?") == depth - nesting.MAX_DEPTH
    assert nesting.flatten(page.encode()) == flat  # bytes are counted, then cut as text
    for source in (page, page.encode()):
        refs, errors = html.extract(source, "p")
        assert errors == []
        assert [(r.src, r.alt, r.caption) for r in refs] == [
            ("deep.jpg", "Deep", None),
            ("after.jpg", None, "After"),
        ]


def test_pages_nested_within_the_limit_are_left_as_they_are():
    # as many tags as the check starts at, but balanced, or void, or in scripts and comments
    n = nesting.UNCHECKED_TAGS
    page = "<div>" * 400 + "<p><img src=a.jpg><br>" * n + "</div>" * 400
    script = "<script>" + "<div>" * n + "</script><!--" + "<span>" * n + "-->"
    for text in (page, script, script.upper()):
        assert nesting.flatten(text) is text
        assert nesting.flatten(text.encode()) == text.encode()


_SOUP = st.sampled_from(
    (
        *("<div>", "</div>", "<span a='>'>", "</span>", "<b>", "<p>", "<img>", "<!--", "-->"),
        *("<script>", "</script>", "<DIV>", "</x>", "<", "x", "é", "<svg><g/>", "</svg>"),
    )
)


@given(st.lists(_SOUP, max_size=60))
def test_any_tag_soup_is_flattened_to_the_depth_limit_once(chunks):
    page = "".join(chunks)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(nesting, "MAX_DEPTH", 3)
        patch.setattr(nesting, "UNCHECKED_TAGS", 0)
        flat = nesting.flatten(page)
        assert flat.replace("<?", "<") == page  # only bogus comments made, nothing lost
        assert nesting.flatten(flat) == flat  # and then within the limit


GIF = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"


def test_a_placeholder_is_never_the_photo_when_another_attribute_holds_its_url():
    # Kinja: a 1x1 GIF in src, the real URLs only in data-srcset; and data-srcset alone
    kinja = f'<img src="{GIF}" data-srcset="https://i.kinja-img.com/a/320.jpg 320w, '
    kinja += 'https://i.kinja-img.com/a/800.jpg 800w" alt="Kinja">'
    alone = '<img data-srcset="/img/b-640.jpg 640w, /img/b-1280.jpg 1280w" alt="Alone">'
    refs, _ = html.extract(kinja + alone, "p")
    assert [(r.src, r.placeholder) for r in refs] == [
        ("https://i.kinja-img.com/a/800.jpg", GIF),
        ("/img/b-1280.jpg", None),
    ]
    assert GIF not in refs[0].candidates()  # so it never resolves in the photo's place


def test_lazy_urls_in_the_attributes_lazy_loading_libraries_use_are_read():
    names = ["data-actualsrc", "data-ks-lazyload", "data-echo", "data-original-src"]
    page = "".join(f'<img src="{GIF}" {name}="/photos/{k}.jpg">' for k, name in enumerate(names))
    # a site's own attribute, when nothing else holds a URL
    page += '<img data-source-standard="https://cdn.example/p/big.webp?w=1200" data-n="3">'
    refs, _ = html.extract(page, "p")
    assert [r.src for r in refs] == [
        *(f"/photos/{k}.jpg" for k in range(len(names))),
        "https://cdn.example/p/big.webp?w=1200",
    ]


def test_json_in_a_lazy_attribute_never_displaces_the_url_and_its_urls_are_candidates():
    sizes = '{"small": "/i/s.jpg", "large": {"url": "/i/l.jpg"}, "ratio": 0.75}'
    page = f'<img src="/i/photo.jpg" data-src=\'{sizes}\' data-lazy="true" alt="x">'
    (ref,) = html.extract(page, "p")[0]
    assert (ref.src, ref.placeholder) == ("/i/photo.jpg", None)
    assert [c.url for c in ref.srcset] == ["/i/s.jpg", "/i/l.jpg"]


def test_the_seed_s_key_wrapper_in_an_html_src_is_the_key():
    key = "s3://crabby-images/3fd1b/" + "ab" * 20
    for quote in ('"', ""):
        page = f"<img src='data:image/s3,{quote}{key}{quote}' alt=\"تصویر\">"
        (ref,) = html.extract(page, "p")[0]
        assert (ref.src, ref.alt) == (key, "تصویر")
    broken = 'data:image/s3,"s3://crabby-images/3fd1b/short"'
    assert html.extract(f"<img src='{broken}'>", "p")[0][0].src == broken  # left as written


def test_valid_utf8_is_trusted_over_a_charset_it_contradicts():
    page = '<meta charset="gb2312"><img alt="Elizabeth II, 新西兰女王 — عکس" src=a.jpg>'
    assert html.extract(decode_html(page.encode()), "p")[0][0].alt == (
        "Elizabeth II, 新西兰女王 — عکس"
    )
    legacy = '<meta charset="gb2312"><img alt="新西兰女王" src=a.jpg>'.encode("gb2312")
    assert (
        html.extract(decode_html(legacy), "p")[0][0].alt == "新西兰女王"
    )  # not UTF-8: as declared


def test_caption_text_is_joined_as_a_reader_sees_it():
    # an inline element adds no space ("Elizabeth II , Queen" before); a block, a break, or
    # an element right after another (Time's credit in a span of its own) stands apart
    page = """<figure><img src="a.jpg"><figcaption><b>Elizabeth II</b>, Queen of
    <a href="/nz">New Zealand</a>.<br>Wellington, <i>1953</i>.</figcaption></figure>
    <figure><img src="b.jpg"><figcaption><span>Lost Hills, California.</span><span class="ml-2"
    >David McNew</span></figcaption></figure>"""
    refs, _ = html.extract(page, "p")
    assert [r.caption for r in refs] == [
        "Elizabeth II, Queen of New Zealand. Wellington, 1953.",
        "Lost Hills, California. David McNew",
    ]


def test_a_low_quality_preview_is_the_placeholder_of_its_photo_not_a_second_image():
    # Medium's figures: a blurred 60-px preview, the image a script fills, a noscript copy
    figure = """<figure><div class="aspectRatioPlaceholder"><div class="progressiveMedia">
    <img src="https://cdn-images-1.medium.com/freeze/max/60/1*abc.jpeg?q=20"
      class="progressiveMedia-thumbnail"><canvas class="progressiveMedia-canvas"></canvas>
    <img class="progressiveMedia-image" data-src="https://cdn-images-1.medium.com/max/800/1*abc.jpeg">
    <noscript><img src="https://cdn-images-1.medium.com/max/800/1*abc.jpeg"></noscript>
    </div></div><figcaption class="imageCaption">Fish stalls at dawn.</figcaption></figure>"""
    twice = '<p><img src="/a/same.jpg" alt="one"><img src="/a/same.jpg" alt="two"></p>'
    refs, _ = html.extract(figure + twice, "p")
    assert [(r.position, r.src, r.placeholder, r.caption, r.alt) for r in refs] == [
        (
            0,
            "https://cdn-images-1.medium.com/max/800/1*abc.jpeg",
            "https://cdn-images-1.medium.com/freeze/max/60/1*abc.jpeg?q=20",
            "Fish stalls at dawn.",
            None,
        ),
        (1, "/a/same.jpg", None, None, "one"),  # the same URL twice is used twice
        (2, "/a/same.jpg", None, None, "two"),
    ]


def test_a_microdata_image_object_whose_img_a_script_inserts_is_an_image_in_its_place():
    itemtype = 'itemscope itemtype="http://schema.org/ImageObject"'
    page = f"""<p>Before.</p>
    <figure itemprop="associatedMedia" {itemtype} itemid="https://cdn.example/a/one.jpg">
    <figcaption itemprop="caption">Fishermen at dawn. <span class="credit">Jane Roe/AP</span>
    </figcaption></figure>
    <figure {itemtype}><meta itemprop="contentUrl" content="/b/two.jpg"><figcaption>Two.
    </figcaption></figure>
    <figure {itemtype} itemid="https://cdn.example/a/three.jpg"><img src="/c/three.jpg">
    <figcaption>Three.</figcaption></figure>
    <figure {itemtype}><figcaption>No URL: no image.</figcaption></figure>"""
    refs, _ = html.extract(page, "p")
    assert [(r.position, r.src, r.caption, r.credit) for r in refs] == [
        (0, "https://cdn.example/a/one.jpg", "Fishermen at dawn.", "Jane Roe/AP"),
        (1, "/b/two.jpg", "Two.", None),
        (2, "/c/three.jpg", "Three.", None),  # its own <img>, read as any other
    ]


def test_a_delayed_image_a_script_inserts_is_an_image_in_its_place():
    # BBC News's markup (real-bbc in the gold set): no <img> until the script runs
    page = """<p>Before.</p><figure class="media-landscape has-caption full-width">
    <span class="image-and-copyright-container"><div class="js-delayed-image-load"
    data-alt="Eva-Marie Persson" data-src="https://ichef.example/news/320/a.jpg"
    data-width="976" data-height="549"></div><span class="off-screen">Image copyright</span>
    <span class="story-image-copyright">EPA</span></span><figcaption class="media-caption">
    <span class="off-screen">Image caption</span><span class="media-caption__text">
    The decision came after interviews with seven witnesses</span></figcaption></figure>
    <figure class="no-caption"><div class="js-delayed-image-load" data-alt=""
    data-src="https://ichef.example/news/320/line.png" data-width="640" data-height="2"></div>
    </figure><figure><div data-src="https://ichef.example/c.jpg"></div></figure><p>After.</p>"""
    refs, _ = html.extract(page, "p")
    assert [
        (r.position, r.src, r.alt, r.caption, r.credit, r.declared_width, r.decorative)
        for r in refs
    ] == [
        (
            0,
            "https://ichef.example/news/320/a.jpg",
            "Eva-Marie Persson",
            "The decision came after interviews with seven witnesses",
            "EPA",
            976,
            False,
        ),
        (1, "https://ichef.example/news/320/line.png", "", None, None, 640, True),
        # no data-alt: nothing says a script makes an image of it
    ]
    assert refs[0].context_before == "Before." and refs[1].context_after == "After."


@pytest.mark.parametrize(
    ("figcaption", "caption", "credit", "source"),
    [
        # a label hidden from sight, no colon: in a credit element, and on its own
        (
            'Storm. <span class="credit"><span class="visually-hidden">Credit</span> Jane Roe'
            "</span>",
            "Storm.",
            "Jane Roe",
            "markup",
        ),
        ('Storm. <span class="sr-only">Credit</span> Jane Roe', "Storm.", "Jane Roe", "label"),
        # plain text, no element of its own
        (
            "Researchers at the lab | photo by Jane Roe",
            "Researchers at the lab",
            "photo by Jane Roe",
            "label",
        ),
        ("A flooded street. Photo: Jane Roe", "A flooded street.", "Photo: Jane Roe", "label"),
        ("Photo by Jane Roe", None, "Photo by Jane Roe", "label"),
        ("Photo: a flooded street in Hull", "Photo: a flooded street in Hull", None, None),
        # a trailing parenthesis: likely, said so
        ("Storm damage in Hull (Jane Roe/AP)", "Storm damage in Hull", "(Jane Roe/AP)", "pattern"),
        ("Storm damage (AP)", "Storm damage", "(AP)", "pattern"),
        ("Storm damage in Hull (left)", "Storm damage in Hull (left)", None, None),
        ("Queen Elizabeth II (1926-2022)", "Queen Elizabeth II (1926-2022)", None, None),
        # a whole caption that is a name and an agency
        ("Jane Roe/AFP/Getty Images", None, "Jane Roe/AFP/Getty Images", "pattern"),
        # forms found on the real pages of Zyte's article extraction benchmark
        (  # AP: a parenthesis holding "Photo" and "File" is still a credit
            "Hialeah, Fla. (AP Photo/Alan Diaz, File)",
            "Hialeah, Fla.",
            "(AP Photo/Alan Diaz, File)",
            "pattern",
        ),
        (
            "Grass Valley. (Elias Funez/The Union via AP)",
            "Grass Valley.",
            "(Elias Funez/The Union via AP)",
            "pattern",
        ),
        (
            "Rats. ( STEVE GSCHMEISSNER/SCIENCE PHOTO LIBRARY)",
            "Rats.",
            "( STEVE GSCHMEISSNER/SCIENCE PHOTO LIBRARY)",
            "pattern",
        ),
        (  # Reuters and AFP: name and agency after the last sentence, no label
            "New York, November 18, 2019. REUTERS/Brendan McDermid",
            "New York, November 18, 2019.",
            "REUTERS/Brendan McDermid",
            "pattern",
        ),
        (
            "To oppose it. Jaafar ASHTIYEH / AFP",
            "To oppose it.",
            "Jaafar ASHTIYEH / AFP",
            "pattern",
        ),
        ("In 2019. He said so. Not a credit", "In 2019. He said so. Not a credit", None, None),
        (  # the Guardian: a label after a closing quote
            "‘A far broader movement.’ Photograph: AFP via Getty",
            "‘A far broader movement.’",
            "Photograph: AFP via Getty",
            "label",
        ),
        ("The film. Credit: 20th Century Fox", "The film.", "Credit: 20th Century Fox", "label"),
        (
            "Bar. (Photo Credit : PTI File Photo )",
            "Bar.",
            "(Photo Credit : PTI File Photo )",
            "label",
        ),
        ("Troops remain [File: Reuters]", "Troops remain", "[File: Reuters]", "label"),
        ("Image via Getty Images", None, "Image via Getty Images", "label"),
        (
            "Patrick Semansky, ASSOCIATED PRESS",
            None,
            "Patrick Semansky, ASSOCIATED PRESS",
            "pattern",
        ),
        ("Paris, France", "Paris, France", None, None),
        ("Jonathan P. Blair Submitted photo", "Jonathan P. Blair", "Submitted photo", "pattern"),
        # markup the tool did not know
        ('Storm. <span class="caption__source">Jane Roe</span>', "Storm.", "Jane Roe", "markup"),
        ('Storm. <span class="image__attribution">Jane Roe</span>', "Storm.", "Jane Roe", "markup"),
        ('Storm. <span itemprop="creator">Jane Roe</span>', "Storm.", "Jane Roe", "markup"),
    ],
)
def test_credits_are_split_from_captions_and_say_how_they_were_found(
    figcaption, caption, credit, source
):
    page = f'<figure><img src="a.jpg"><figcaption>{figcaption}</figcaption></figure>'
    (ref,) = html.extract(page, "p")[0]
    assert (ref.caption, ref.credit, ref.credit_source) == (caption, credit, source)
    if "<" not in figcaption:  # nothing lost: caption and credit hold every word but a "|"
        words = f"{ref.caption or ''} {ref.credit or ''}".split()
        assert words == [word for word in figcaption.split() if word != "|"]


def test_a_data_credit_is_the_credit_and_leaves_the_caption():
    # Time: the figure's data-credit, repeated in a span beside the caption text
    page = """<figure data-credit="David McNew—Getty Images"><img src="a.jpg"><figcaption>
    <span>Lost Hills, California.</span><span class="ml-2">David McNew—Getty Images</span>
    </figcaption></figure><figure><img src="b.jpg" data-credit="Ann Lee"></figure>"""
    refs, _ = html.extract(page, "p")
    assert [(r.caption, r.credit, r.credit_source) for r in refs] == [
        ("Lost Hills, California.", "David McNew—Getty Images", "markup"),
        (None, "Ann Lee", "markup"),
    ]


def test_two_plain_images_of_one_file_name_in_two_folders_are_two_photos():
    page = '<div><img src="/2020/01/photo.jpg"><img src="../02/photo.jpg"></div>'
    assert [r.src for r in html.extract(page, "p")[0]] == ["/2020/01/photo.jpg", "../02/photo.jpg"]


@pytest.mark.parametrize(
    "prefix",
    # what a page may hide nesting behind, read as the tokenizer reads it: an attribute that
    # looks like a comment or a script, a quote that starts no value, a quote in an unquoted
    # value, and a script past the limit (cut, its text is markup)
    ['<img alt="<!--">', '<img alt="<script>">', '<a b">', '<a x=y=">', "<b>" * 600 + "<script>"],
    ids=["comment-in-value", "script-in-value", "quote-in-name", "quote-in-value", "cut-script"],
)
def test_nesting_cannot_be_hidden_from_the_depth_count(prefix):
    page = "<body>" + prefix + "<div>" * 30_000 + '<img src="a.jpg">'
    flat = nesting.flatten(page)
    assert flat.count("<?div") >= 30_000 - nesting.MAX_DEPTH
    assert html.extract(page, "p")[0][-1].src == "a.jpg"


def test_svg_elements_that_close_themselves_are_not_counted():
    page = "<body>" + "<span></span>" * nesting.UNCHECKED_TAGS + "<svg>"
    page += "<circle r='1'/>" * 600 + "<g><text>Label</text></g></svg><div>after</div>"
    assert nesting.flatten(page) is page


def test_a_gif_many_lazy_photos_share_is_their_placeholder():
    # MSN (2019): the same GIF in every photo's src, the photo's sizes as JSON in data-src, and
    # the caption in a span beside the image's span, both in the photo's span
    gif = "//static.example/sc/e151e5.gif"

    def story(entity: str, caption: str) -> str:
        sizes = (
            f'{{"default":{{"w":"80","h":"53","src":"//img.example/{entity}.img?h=533&amp;w=799"}},'
            f'"small":{{"w":"62","h":"42","src":"//img.example/{entity}.img?h=417&amp;w=624"}}}}'
        )
        return (
            '<span class="storyimage"><span class="image">'
            f'<img alt="a hand: Needle" data-src=\'{sizes}\' src="{gif}"></span>'
            '<span class="caption truncate"><span class="attribution">© John Brecher</span>'
            f" {caption}</span></span>"
        )

    cat = "<img src='/media/dancing-cat.gif' data-src='{\"poster\": \"/media/poster.jpg\"}'>"
    page = f"<section>{story('BBWZffP', 'Needle.')}{story('BBWZhm6', 'Detainees.')}{cat}</section>"
    needle, detainees, alone = html.extract(page, "p")[0]
    assert (needle.src, needle.placeholder) == ("//img.example/BBWZffP.img?h=533&w=799", gif)
    assert detainees.src == "//img.example/BBWZhm6.img?h=533&w=799"
    assert (needle.caption, needle.credit, needle.credit_source) == (
        "Needle.",
        "© John Brecher",
        "markup",
    )
    # a GIF of its own stays the photo, its JSON's URLs candidates
    assert (alone.src, alone.placeholder) == ("/media/dancing-cat.gif", None)
    assert [c.url for c in alone.srcset] == ["/media/poster.jpg"]


def test_the_fine_print_closing_a_figcaption_is_its_credit():
    # Forbes (2019): its page data gives the caption with "(Photo: Getty Images)" and the
    # credit "Getty", the <small> after it
    page = (
        '<figure><img src="a.jpg"><figcaption><fbs-accordion><p>How can a duvet affect your '
        "lungs? (Photo: Getty Images)</p></fbs-accordion><small>Getty</small> </figcaption>"
        '</figure><figure><img src="b.jpg"><figcaption>A <small>small</small> word'
        '</figcaption></figure><figure><img src="c.jpg"><figcaption><small>Only fine print'
        "</small></figcaption></figure>"
    )
    closing, inside, alone = html.extract(page, "p")[0]
    assert (closing.caption, closing.credit, closing.credit_source) == (
        "How can a duvet affect your lungs? (Photo: Getty Images)",
        "Getty",
        "markup",
    )
    assert (inside.caption, inside.credit) == ("A small word", None)
    assert (alone.caption, alone.credit) == ("Only fine print", None)


def test_an_image_named_by_an_id_gets_the_url_the_page_makes_from_ids():
    # Kinja (2019): photos with only a data-chomp-id behind a GIF, and data-alt for their alt;
    # the page's other photos show the URL made from the id
    gif = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw=="
    base = "https://i.kinja-img.com/gawker-media/image/upload/c_fill,w_470"
    page = (
        f'<img src="{gif}" data-chomp-id="l0iqhrrug8au9o5xger5" data-alt="Illustration">'
        f'<figure><img src="{gif}" data-chomp-id="nffiyu5y4cbnbnubdz5g" data-alt="">'
        '<figcaption class="no-caption">Photo: iFixit</figcaption></figure>'
        f'<img src="{gif}" data-srcset="{base}/uhss7vflik36tkbtmnp5.jpg 470w" '
        'data-chomp-id="uhss7vflik36tkbtmnp5" alt="Shown">'
        f'<img src="{gif}" data-chomp-id="short">'
    )
    lead, captioned, shown, unnamed = html.extract(page, "p")[0]
    assert (lead.src, lead.placeholder, lead.alt) == (
        f"{base}/l0iqhrrug8au9o5xger5.jpg",
        gif,
        "Illustration",
    )
    assert (captioned.src, captioned.alt, captioned.decorative) == (
        f"{base}/nffiyu5y4cbnbnubdz5g.jpg",
        "",
        True,
    )
    # a whole caption that is a labelled brand's name is a credit ("iFixit", "iStock")
    assert (captioned.caption, captioned.credit, captioned.credit_source) == (
        None,
        "Photo: iFixit",
        "label",
    )
    assert shown.src == f"{base}/uhss7vflik36tkbtmnp5.jpg"
    assert (unnamed.src, unnamed.alt) == (gif, None)  # no id a URL is made from


def test_a_photo_whose_name_starts_like_a_stand_in_is_no_placeholder():
    # CBS (2019): a photo of Lloyd Blankfein is not a "blank" image
    assert not html.is_placeholder("https://cbsistatic.com/r/blankfein-gettyimages-45602.jpg")
    assert not html.is_placeholder("/img/lazyboy-sofa.jpg")
    for stand_in in ("/i/blank.gif", "/i/blank-1x1.png", "/wp/lazyload.gif", "/grey_16x9.png"):
        assert html.is_placeholder(stand_in)


def test_what_the_new_rules_leave_alone():
    # review cases: units and platforms in parentheses are no credit, fine print with
    # digits is no credit, ids with no digit or a URL naming its id twice make no URL
    def first(page: str):
        return html.extract(page, "p")[0][0]

    particles = first("<figure><img src=a.jpg><figcaption>Smoke. (Ahmad al-Rubaye/AFP)")
    assert (particles.caption, particles.credit) == ("Smoke.", "(Ahmad al-Rubaye/AFP)")
    for words in ("Household consumption by month (kWh)", "The phone (iOS)", "Acid (pH)"):
        got = first(f"<figure><img src=a.jpg><figcaption>{words}</figcaption></figure>")
        assert (got.caption, got.credit) == (words, None)
    for small in ("Updated 3 May 2021", "2 of 12", "(click to enlarge)"):
        page = f"<figure><img src=a.jpg><figcaption>Text. <small>{small}</small></figcaption>"
        assert first(page + "</figure>").credit is None
    twice = (
        "<img src='https://img.example/abcd1234.jpg?name=abcd1234' data-photo-id='abcd1234'>"
        "<img src='data:image/gif;base64,R0lGOD' data-photo-id='efgh5678'>"
    )
    words = (
        "<img src='https://cdn.example/uploads/abcd1234.jpg' data-id='abcd1234'>"
        "<img src='data:image/svg+xml,%3Csvg/%3E' data-id='ad-slot-top' alt=''>"
    )
    for page in (twice, words):
        assert html.extract(page, "p")[0][1].src.startswith("data:")
    # the "... [+]" toggle goes before the credit is looked for in the caption's words
    toggled = first(
        "<figure><img src=a.jpg><figcaption><p>A caption (Jane Roe/AP) ... [+]</p>"
        "</figcaption></figure>"
    )
    assert (toggled.caption, toggled.credit) == ("A caption", "(Jane Roe/AP)")
    # a stand-in named in camel case is one
    camel = first("<img src='/img/placeholderImage.png' srcset='/p/a-800.jpg 800w'>")
    assert (camel.src, camel.placeholder) == ("/p/a-800.jpg", "/img/placeholderImage.png")


def test_a_page_that_says_it_is_utf8_and_is_not_is_a_recorded_error(tmp_path):
    # read as a browser reads it (bad bytes replaced), and recorded, with where; a page that
    # declares nothing is read by the detector instead, with no error
    declared = tmp_path / "declared.html"
    declared.write_bytes(b'<meta charset="utf-8"><img alt="caf\xe9" src=a.jpg>')
    bom = tmp_path / "bom.html"
    bom.write_bytes(b'\xef\xbb\xbf<img alt="caf\xe9" src=a.jpg>')
    undeclared = tmp_path / "undeclared.html"
    undeclared.write_bytes(b'<img alt="caf\xe9" src=a.jpg>')
    for page, at in ((declared, 35), (bom, 16)):
        (article,) = extract_file(page, "html")
        assert article.refs[0].alt == "caf\ufffd"
        (error,) = article.errors
        assert (error.code, error.article) == ("bad-encoding", str(page))
        assert f"byte {at} " in error.message
    (article,) = extract_file(undeclared, "html")
    assert (article.refs[0].alt, article.errors) == ("café", [])
