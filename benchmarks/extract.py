"""How much does extraction cost beyond parsing? HTML extraction vs the bare parser.

Run from the repository root (no network, nothing to install beyond the project):

    python benchmarks/extract.py [--pages 200] [--repeat 5] [--script-kb 8]

It generates realistic news pages in memory (deterministic): a head with og/twitter meta and
JSON-LD, a navigation bar and footer full of links, inline scripts and styles, ~40 paragraphs,
and 10 body images in the markup sites use (`<picture>` with `srcset`, lazy `data-src` with a
placeholder and a `<noscript>` copy, WordPress captions, plain figures, tracking pixels),
plus 2 metadata images (og/twitter and JSON-LD): 12 references a page.
It times, on the same pages, the bare parse (`LexborHTMLParser(text)`, the baseline), the
full extraction of the decoded text (`media_catalog.extract.html.extract`) and the extraction
from the page's bytes as a scan does it (`encoding.html_source`, then `extract`: a UTF-8
page's bytes go to the parser as they are), taking turns page by page, the least
of `--repeat` CPU times of the process for each page (with glibc's malloc told to keep freed
memory, see `_steady_malloc`), and prints a Markdown table with articles/second, MB/second and the
ratio extraction / bare parse.
`--script-kb` sets the size of the page's inline script (state JSON, analytics): about 8 KB
gives dense ~30 KB pages, about 100 KB the ~130 KB pages news sites typically serve.

`--pages-from DIR` times real pages instead: every `*.html`/`*.htm`/`*.html.gz` file in DIR,
decoded as a scan decodes it (before timing); it also prints each page's own ratio (median,
quartiles, range): the ratio of the sums is mostly that of the largest pages. The pages
docs/benchmarks.md quotes (not kept here: they are the sites' pages) are the 30 saved news
pages (CNN, Wired, Time, Yahoo, Fox, AP; Arabic, Burmese, Chinese, Japanese, Latvian, Thai
sites…) in newspaper4k's test suite, which pip fetches from PyPI, and the 181 article pages
of Zyte's article extraction benchmark:

    pip download --no-deps --no-binary :all: newspaper4k==0.9.6 && tar xzf newspaper4k-0.9.6.tar.gz
    python benchmarks/extract.py --pages-from newspaper4k-0.9.6/tests/data/html --repeat 10
    git clone https://github.com/scrapinghub/article-extraction-benchmark
    python benchmarks/extract.py --pages-from article-extraction-benchmark/html --repeat 5

`--code DIR` times the media_catalog of another checkout on the same pages, for "no slower
than before": `git worktree add /tmp/before REV`, then `--code /tmp/before`.
"""

from __future__ import annotations

import argparse
import ctypes
import gzip
import platform
import random
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# `--code DIR` times another checkout's media_catalog (a git worktree of an older commit)
CODE = sys.argv[sys.argv.index("--code") + 1] if "--code" in sys.argv[:-1] else str(REPO)
sys.path.insert(0, CODE)

from selectolax.lexbor import LexborHTMLParser  # noqa: E402

from media_catalog.extract import encoding, html  # noqa: E402

# What a scan gives the extractor for a page's bytes (code before html_source decoded them)
SOURCE = getattr(encoding, "html_source", encoding.decode_html)

WORDS = (
    "the",
    "council",
    "said",
    "on",
    "tuesday",
    "that",
    "crews",
    "had",
    "worked",
    "through",
    "night",
    "to",
    "restore",
    "power",
    "after",
    "storm",
    "brought",
    "down",
    "trees",
    "and",
    "lines",
    "across",
    "region",
    "residents",
    "were",
    "told",
    "avoid",
    "river",
    "paths",
    "until",
    "water",
    "level",
    "falls",
    "officials",
    "expect",
    "roads",
    "reopen",
)


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def _image(rng: random.Random, page: int, number: int) -> str:
    name = f"https://cdn.example/{page}/{number}"
    caption = _sentence(rng, 12)
    style = number % 5
    if style == 0:
        return (
            f'<figure><picture><source type="image/webp" srcset="{name}-800.webp 800w, '
            f'{name}-1600.webp 1600w"><img src="{name}-800.jpg" alt="{_sentence(rng, 6)}" '
            f'width="800" height="533" loading="lazy"></picture><figcaption>{caption} '
            f'<span class="credit">Photo: Agency</span></figcaption></figure>'
        )
    if style == 1:
        return (
            f'<figure><img class="lazy" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" '
            f'data-src="{name}.jpg" data-srcset="{name}-400.jpg 400w, {name}-1200.jpg 1200w" '
            f'alt="{_sentence(rng, 5)}"><noscript><img src="{name}.jpg"></noscript>'
            f"<figcaption>{caption}</figcaption></figure>"
        )
    if style == 2:
        return (
            f'<div class="wp-caption aligncenter"><a href="{name}-full.jpg"><img src="{name}.jpg" '
            f'alt="{_sentence(rng, 4)}" width="640" height="427"></a>'
            f'<p class="wp-caption-text">{caption}</p></div>'
        )
    if style == 3:
        return f'<p><img src="{name}.png" alt="{_sentence(rng, 3)}"> {_sentence(rng, 20)}</p>'
    return '<img src="https://stats.example/pixel.gif?id=1" width="1" height="1" alt="">'


def page(number: int, script_kb: int = 8) -> str:
    rng = random.Random(number)
    nav = "".join(f'<li><a href="/section/{i}">{rng.choice(WORDS)}</a></li>' for i in range(60))
    body = []
    for paragraph in range(40):
        body.append(f"<p>{' '.join(_sentence(rng, 18) for _ in range(3))}</p>")
        if paragraph % 4 == 1:
            body.append(_image(rng, number, paragraph // 4))
        if paragraph % 10 == 5:
            body.append(f"<h2>{_sentence(rng, 5)}</h2>")
    entries = script_kb * 1024 // 12
    script = "var state = {" + ",".join(f'"key{i}": {i}' for i in range(entries)) + "};"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_sentence(rng, 8)}</title>"
        f'<meta property="og:image" content="https://cdn.example/{number}/lead.jpg">'
        f'<meta name="twitter:image" content="https://cdn.example/{number}/lead.jpg">'
        '<script type="application/ld+json">{"@type": "NewsArticle", "datePublished": '
        f'"2024-01-01", "image": "https://cdn.example/{number}/ld.jpg"}}</script>'
        f"<style>{'.c{color:red}' * 200}</style><script>{script}</script></head><body>"
        f"<header><nav><ul>{nav}</ul></nav></header><main><article><h1>Headline {number}</h1>"
        f"{''.join(body)}</article></main><footer><ul>{nav}</ul></footer></body></html>"
    )


def _steady_malloc() -> None:
    """Keep freed memory in the process (glibc): otherwise, depending on the process's
    allocation history, glibc hands each parsed document's memory back to the system and
    faults it in again for the next one, and the bare parse runs at half speed in some runs
    and not others. Same setting for both steps measured; no-op without glibc."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    trim_threshold, top_pad, mmap_threshold = -1, -2, -3  # glibc's M_* parameters
    mallopt(trim_threshold, 256 << 20)
    mallopt(top_pad, 64 << 20)
    mallopt(mmap_threshold, 16 << 20)


def _best(functions: list, pages: int, repeat: int) -> list[list[float]]:
    """Each function's time on each page (given the page's number), in CPU time of this
    process: the least of its
    `repeat` times on the page. Every page is timed with each function in turn (the
    order alternating), so load changing weighs on all alike, and the least time of a page
    leaves out what other processes on a shared machine took from it (their use of caches
    still counts). The best of whole rounds, as this took before, moved by a tenth of the
    parse from run to run on a shared machine."""
    best = [[float("inf")] * pages for _ in functions]
    for round_ in range(repeat):
        for index in range(pages):
            order = list(zip(functions, best, strict=True))
            for function, found in order if (round_ + index) % 2 else order[::-1]:
                start = time.process_time()
                function(index)
                found[index] = min(found[index], time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--script-kb", type=int, default=8)
    parser.add_argument("--pages-from", type=Path, help="time the HTML files in this folder")
    parser.add_argument("--code", help="time the media_catalog of this checkout instead")
    args = parser.parse_args()
    _steady_malloc()
    if args.pages_from:
        files = sorted(
            path
            for path in args.pages_from.iterdir()
            if path.name.lower().endswith((".html", ".htm", ".html.gz"))
        )
        if not files:
            raise SystemExit(f"no .html, .htm or .html.gz file in {args.pages_from}")
        raws = [
            gzip.decompress(data) if path.suffix.lower() == ".gz" else data
            for path in files
            for data in [path.read_bytes()]
        ]
        pages = [encoding.decode_html(data) for data in raws]
        args.pages = len(pages)
    else:
        pages = [page(number, args.script_kb) for number in range(args.pages)]
        raws = [text.encode() for text in pages]
    megabytes = sum(map(len, raws)) / 1e6
    images = sum(len(html.extract(text, "p")[0]) for text in pages)
    parses, extracts, from_bytes = _best(
        [
            lambda k: LexborHTMLParser(pages[k]),
            lambda k: html.extract(pages[k], "p"),
            lambda k: html.extract(SOURCE(raws[k]), "p"),
        ],
        len(pages),
        args.repeat,
    )
    parse = sum(parses)
    print(
        f"{args.pages} pages, {megabytes:.1f} MB ({megabytes * 1000 / args.pages:.0f} KB each), "
        f"{images} references; each page's least time of {args.repeat}; code {CODE}"
    )
    print()
    print("| step | CPU ms | articles/s | MB/s | ratio to bare parse |")
    print("|---|---:|---:|---:|---:|")
    for name, seconds in (
        ("bare parse of the text (LexborHTMLParser)", parse),
        ("extraction of the text", sum(extracts)),
        (f"extraction from the bytes ({SOURCE.__name__}, then extract: a scan)", sum(from_bytes)),
    ):
        print(
            f"| {name} | {seconds * 1000:,.1f} | {args.pages / seconds:,.0f} "
            f"| {megabytes / seconds:,.1f} | {seconds / parse:.2f}× |"
        )
    # (the ratio above is of the sums: large pages weigh most; a page's own ratio grows with
    # the images it holds for its size)
    ratios = sorted(e / p for p, e in zip(parses, extracts, strict=True))
    quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    print()
    print(
        f"Per page, extraction / bare parse: median {quartiles[1]:.2f}×, quartiles "
        f"{quartiles[0]:.2f}–{quartiles[2]:.2f}×, range {ratios[0]:.2f}–{ratios[-1]:.2f}×"
    )
    print()
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in ("selectolax",))
    print(f"{platform.machine()}, Python {platform.python_version()}, {versions}")


if __name__ == "__main__":
    main()
