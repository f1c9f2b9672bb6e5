"""Store redesign: a synthetic archive's export, a catalogue built from it, and each command's
wall time and peak memory against the issue's targets.

    python benchmarks/store.py                          # 1,000,000 images, SQLite catalogue
    python benchmarks/store.py --images 10000 --store json --compare RESULTS.json
    python benchmarks/store.py --baseline-json --images 10000 --repeat 3   # today's JSON store
    python benchmarks/store.py --generate-only --work /work/bench-data     # the export alone
    python benchmarks/store.py --check --images 3000    # the export against a real one's keys

1. **The export.** `<work>/export-<N>-seed<S>.json`, in the shape `media-catalog export
   --format json` prints (compact), written piece by piece with orjson (the whole never in
   memory), deterministic for a seed; `<export>.meta.json` beside it says what it holds (the
   probe image, the two search words and how many occurrences each matches), and an export
   with a matching meta file is reused. N images; about 3 occurrences an image (half of the
   images used once, the rest 1 + a geometric number of times, 1 in 2,000 used 20-200
   times, 2 % loose gallery files no article uses), over N/3 HTML articles
   (`/archive/YYYY/MM/article-ID.html`, dated 2005-2024 in ID order, 60 % Persian and 40 %
   English), 10 % of which name their first image in og:image too (`kind` "meta"). Text is
   drawn from a Persian and an English news vocabulary with Zipf frequencies: alt 5-11 words
   (4 % absent, 3 % empty), captions 10-18 words on 65 % of the images, titles, credits,
   headings, 200 characters of context each side. A third of the images have EXIF (make,
   model, taken; some lens, software, orientation, GPS), 8 % IPTC/XMP words. Fingerprints
   are shaped like real ones: pHashes are median-thresholded 1/f noise with the DC bit set (32
   of 64 bits set; the 256-bit pHash 128 of 256), central regions a few bits from the image,
   8 % with a trimmed view, 1 % low-information images. 1.2 % of the image groups are near-
   duplicate families (a leader and 1-5 copies: pHash distances as docs/threshold.md measured
   for reuse, dHash within 6, a fifth of them crops that match the leader's central region),
   5 % are shoots (2-4 photos of one scene, pHash 12-24 bits apart). 2 % of the references are
   unresolved (remote, missing, no-asset, and bad-image/empty/too-large with an error each).
   The word `Qeshm` is in the alt text of exactly 40,000 occurrences per million images and
   `تهران` in the caption of 5 % of them: `search qeshm -f json` and the table of
   `search تهران` (its first page) have a known number of results.
2. **The catalogue and the commands** (not with --baseline-json): `media-catalog import EXPORT
   --db <work>/archive.sqlite` (`.json` with --store json), then `scan` of one new HTML
   article with three new photos, `stats`, `lookup` by a 12-digit SHA-256 prefix and by a
   pHash, `show`, `search` (table), `search -f json`, `dupes -f json` and `export`, each
   a fresh `python -m media_catalog` process of the code in --code (default: this checkout)
   with its output in a file under --work. Wall time is the process's, from start to exit;
   peak memory is GNU time's %M (the largest resident set of the process, or of any of its
   worker processes: they are not added up). Read-only commands run --repeat times: the
   fastest run's time, the largest peak.
3. **--baseline-json**: today's code has no `import`; the same export is written as a schema-2
   TinyDB catalogue by hand (media_catalog/catalog.py's layout), which has no read index
   `<db>.index.sqlite` until a command saves. The read commands run on it without an index,
   then `scan` of a new article (the first save: it writes the index), then the read commands
   again with the index, then `scan` of a second new article (a save with an index there).

The issue's targets are for 1,000,000 images; at other sizes "met?" only says how that size
did. With --compare (the results of a --baseline-json run) the JSON store's times are set
against today's with the read index ("no slower than today": within 10 %). Exit status 1 only
when a command fails or the code cannot run the benchmark.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = 1  # bump when the generated data changes: an older export is then made again
JSON_WORD, JSON_PER_MILLION = "Qeshm", 40_000  # in alt text
MANY_WORD, MANY_SHARE = "تهران", 0.05  # in captions
UNRESOLVED_SHARE = 0.02
FIRST_DAY = datetime.date(2005, 1, 1).toordinal()  # articles and photos span 20 years from it
DATA_URI = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABB"
    "AEAHnOcQAAAAABJRU5ErkJggg=="
)
PLACEHOLDER = "data:image/gif;base64,R0lGODlhAQABAAAAACw="

# Seconds and MB (10^6 bytes) at 1,000,000 images, from the issue; None: no target.
TARGETS: dict[str, tuple[float | None, float | None]] = {
    "import": (300, 2000),
    "scan": (2, 300),
    "stats": (2, None),
    "lookup sha256": (0.3, None),
    "lookup phash": (0.3, None),
    "show": (0.5, None),
    "search table": (1, None),
    "search json": (2, None),
    "dupes json": (180, 4000),
    "export": (None, None),
}

# --- vocabulary -------------------------------------------------------------------------

FA = """و در به از که با این را برای تا است بود شد می شده یک آن هم خود پس روز امروز دیروز
خبر گزارش شهر مردم دولت مجلس انتخابات بازار قیمت نفت بنزین آتش سوزی خیابان میدان پلیس
دادگاه رئیس جمهور وزیر سفر دیدار نشست مدرسه دانشگاه دانشجو کارگر کارخانه تولید صادرات
واردات ارز دلار بورس سهام بانک مسکن اجاره زلزله سیل باران برف هوا آلودگی ترافیک مترو
اتوبوس فرودگاه پرواز قطار جاده کشاورزی آب سد رودخانه دریا ساحل جنگل کوه ورزش فوتبال تیم
بازیکن مسابقه جام قهرمانی هنر سینما فیلم کتاب نمایشگاه موسیقی جشنواره تئاتر عکس تصویر
روزنامه خبرنگار عکاس مصاحبه بیمارستان پزشک پرستار بیمار واکسن درمان سلامت کودک زن مرد
خانواده جوان سالمند مسجد بهار تابستان پاییز زمستان صبح شب هفته سال ماه حسکه سوریه عراق
ترکیه افغانستان انفجار انتحاری کشته مجروح نیرو امنیت مرز پناهجو کمک سازمان ملل حقوق بشر
اعتراض تجمع معلمان بازنشستگان اصفهان شیراز تبریز مشهد کرمان یزد رشت اهواز کیش""".split()  # noqa: SIM905 (a word list reads best as text)
EN = """the of and in to a on for with at from by as is was were after before over
news report city people government parliament election market price oil fuel fire
street square police court president minister visit meeting school university student
worker factory export import currency dollar stock bank housing rent earthquake flood
rain snow weather pollution traffic metro bus airport flight train road farming water
dam river sea beach forest mountain sport football team player match cup championship
art cinema film book exhibition music festival theatre photo picture newspaper reporter
photographer interview hospital doctor nurse patient vaccine health child woman man
family young elderly mosque spring summer autumn winter morning night week year month
Hasakah Syria Iraq Turkey Afghanistan explosion attack killed injured forces security
border refugee aid organisation rights protest rally teachers pensioners Isfahan Shiraz
Tabriz Mashhad Kerman Yazd Rasht Ahvaz Kish coffee stall harbour crowd archive""".split()  # noqa: SIM905
CREDITS = {
    True: ["عکس: علی رضایی", "عکس: مریم احمدی", "عکاس: حسین کریمی", "ایسنا", "ایرنا"],
    False: ["Photo: Sara Ahmadi", "Reuters", "AFP/Getty Images", "Photograph: John Smith"],
}
CAMERAS = [
    ("Canon", "Canon EOS 5D Mark IV"),
    ("NIKON CORPORATION", "NIKON D750"),
    ("SONY", "ILCE-7M3"),
    ("Apple", "iPhone 12 Pro"),
    ("samsung", "SM-G991B"),
    ("FUJIFILM", "X-T3"),
]
SIZES = [(4000, 2667), (3000, 2000), (2048, 1365), (1920, 1080), (1600, 1067), (1200, 800)]
SIZES += [(1024, 683), (800, 533), (640, 427), (600, 400), (300, 200)]
FORMATS = [("JPEG", "jpg", 0.80), ("WEBP", "webp", 0.10), ("PNG", "png", 0.08)]
FORMATS += [("GIF", "gif", 0.02)]
VIEWS = ("mirror", "rot90", "rot180", "rot270", "centre90", "centre80", "centre70", "trimmed")
# pHash distance of a reused copy to its original (docs/threshold.md: 972 reuse pairs), as
# benchmarks/similarity.py uses it
COPY_DISTANCES = {0: 698, 2: 172, 4: 44, 6: 21, 8: 11, 10: 6, 12: 8, 14: 2, 16: 6}
REASONS = {"remote": 55, "missing": 25, "no-asset": 15, "bad-image": 3, "empty": 1}
REASONS["too-large"] = 1
ERROR_MESSAGES = {
    "bad-image": "not a readable image (cannot identify image file)",
    "empty": "the file is empty (0 bytes)",
    "too-large": "over the 256 MiB file limit",
}
for _word in (*FA, *EN, *(c for names in CREDITS.values() for c in names)):
    assert JSON_WORD.lower() not in _word.lower() and MANY_WORD not in _word, _word


class Corpus:
    """Words of one language, drawn with Zipf frequencies: slices of it are alt text,
    captions and titles; its text, punctuated, gives 200-character contexts."""

    def __init__(self, vocabulary: list[str], rng: np.random.Generator, size: int = 300_000):
        weights = 1.0 / np.arange(8, len(vocabulary) + 8)  # stop words first, not dominant
        picks = rng.choice(len(vocabulary), size=size, p=weights / weights.sum())
        self.words = [vocabulary[i] for i in picks.tolist()]
        stops = (rng.random(size) < 1 / 12).tolist()
        stop = "." if vocabulary is EN else "،"
        punctuated = [w + stop if s else w for w, s in zip(self.words, stops, strict=True)]
        self.text = " ".join(punctuated)
        self.starts = np.cumsum([0] + [len(w) + 1 for w in punctuated[:-1]]).tolist()

    def phrase(self, where: float, length: int) -> str:
        start = int(where * (len(self.words) - length))
        return " ".join(self.words[start : start + length])

    def context(self, where: float, chars: int = 200) -> str:
        start = self.starts[int(where * (len(self.starts) - 100))]
        chunk = self.text[start : start + chars + 1]
        return chunk[: chunk.rfind(" ")] if len(chunk) > chars else chunk


# --- fingerprints -----------------------------------------------------------------------


def phash_bits(rng: np.random.Generator, n: int, side: int = 8) -> np.ndarray:
    """n pHash-like codes as bits: median-thresholded DCT of 1/f noise, DC bit set (half of
    the bits set, as imagehash's pHash of any textured image)."""
    u, v = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    coefficients = rng.normal(size=(n, side * side)) / (1.0 + np.hypot(u, v)).ravel()
    coefficients[:, 0] = 100.0
    return coefficients > np.median(coefficients, axis=1, keepdims=True)


def balanced_flip(rng: np.random.Generator, bits: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Move each row `distance` bits (even), half set bits cleared and half clear bits set,
    never the DC bit: a pHash keeps half of its bits set."""
    noise = rng.random(bits.shape)
    noise[:, 0] = 3.0
    take = np.arange(bits.shape[1])[None, :] < (distance // 2)[:, None]
    flips = np.zeros_like(bits)
    for chosen in (bits, ~bits):
        mask = np.zeros_like(bits)
        np.put_along_axis(mask, np.argsort(np.where(chosen, noise, 2.0), axis=1), take, axis=1)
        flips |= mask
    return bits ^ flips


def flip(rng: np.random.Generator, bits: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Move each row `distance` bits (a dHash has no balance to keep)."""
    take = np.arange(bits.shape[1])[None, :] < distance[:, None]
    mask = np.zeros_like(bits)
    np.put_along_axis(mask, np.argsort(rng.random(bits.shape), axis=1), take, axis=1)
    return bits ^ mask


def flat_code(u: list[float], value: int) -> str:
    """The hash of a flat picture (`value`), or for half of them, of a near-blank one: up to
    three more bits set."""
    if u[0] >= 0.5:
        for x in u[1:]:
            value |= 1 << int(x * 63)
    return f"{value:016x}"


def hexes(bits: np.ndarray) -> list[str]:
    width = bits.shape[1] // 4
    text = np.packbits(bits, axis=1).tobytes().hex()
    return [text[i : i + width] for i in range(0, len(text), width)]


# Group kinds: a fresh image (alone, the leader of a family or the first of a shoot), a
# family copy, a family copy that is a crop (matches the leader's centre90), a shoot sibling
FRESH, COPY, CROP, SHOOT = 0, 1, 2, 3


def fingerprints(rng: np.random.Generator, kind: np.ndarray, parent: np.ndarray) -> dict:
    """The hash bits of a block of images: fresh ones drawn, the others moved from their
    parent's (an earlier row of the block)."""
    n = len(kind)
    p = phash_bits(rng, n)
    d = rng.random((n, 64)) < 0.5
    p256 = phash_bits(rng, n, 16)
    views: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in VIEWS[:4]:
        views[name] = (phash_bits(rng, n), rng.random((n, 64)) < 0.5)
    for name, (low, high) in zip(VIEWS[4:7], ((2, 4), (4, 6), (6, 9)), strict=True):
        pd = rng.integers(low, high + 1, n) * 2
        views[name] = (balanced_flip(rng, p, pd), flip(rng, d, pd // 2 + 1))
    views["trimmed"] = (balanced_flip(rng, p, np.full(n, 2)), flip(rng, d, np.full(n, 1)))

    def moved(rows, base, pd, dd, fine, spread):
        """Rows `rows` from the parents' codes: pHash pd, dHash dd, 256-bit fine bits away;
        views `spread` bits."""
        src = parent[rows]
        p[rows] = balanced_flip(rng, base[0][src], pd)
        d[rows] = flip(rng, base[1][src], dd)
        p256[rows] = balanced_flip(rng, p256[src], fine)
        for vp, vd in views.values():
            vp[rows] = balanced_flip(rng, vp[src], spread * 2)
            vd[rows] = flip(rng, vd[src], spread)

    distances = np.array(list(COPY_DISTANCES))
    weights = np.array(list(COPY_DISTANCES.values()), dtype=float)
    for which, base in ((COPY, (p, d)), (CROP, views["centre90"])):
        rows = np.flatnonzero(kind == which)
        pd = rng.choice(distances, size=len(rows), p=weights / weights.sum())
        if which == CROP:
            pd = np.minimum(pd, 4)
        dd = rng.integers(0, 7, len(rows))
        moved(rows, base, pd, dd, rng.integers(0, 13, len(rows)) * 2, rng.integers(0, 3, len(rows)))
    rows = np.flatnonzero(kind == SHOOT)
    k = len(rows)
    pd = rng.integers(6, 13, k) * 2
    # views far enough apart (dHash 10-16) that a shoot is no near-duplicate cluster
    moved(rows, (p, d), pd, rng.integers(10, 21, k), rng.integers(30, 51, k) * 2, pd // 2 + 4)
    return {
        "phash": hexes(p),
        "dhash": hexes(d),
        "phash256": hexes(p256),
        **{f"{name} {j}": hexes(v[j]) for name, v in views.items() for j in (0, 1)},
    }


# --- the plan: which image is used where ------------------------------------------------


class Plan:
    """Everything decided for the whole archive, as arrays (a few bytes per occurrence):
    image groups, uses, articles, and each occurrence's image, article and position."""

    def __init__(self, n: int, seed: int):
        rng = np.random.default_rng([seed, 0])
        self.n, self.seed = n, seed
        # groups: a family leader with 1-5 copies, a shoot of 2-4, or one image
        kind = np.zeros(n, np.int8)
        parent = np.full(n, -1, np.int64)
        starts = rng.random(n).tolist()
        sizes = rng.integers(2, 7, n).tolist()
        shoots = rng.integers(2, 5, n).tolist()
        crops = rng.random(n) < 0.2
        i = 0
        while i < n:
            size = 1
            if starts[i] < 0.012:
                size = min(int(sizes[i]), n - i)
                kind[i + 1 : i + size] = np.where(crops[i + 1 : i + size], CROP, COPY)
            elif starts[i] < 0.062:
                size = min(int(shoots[i]), n - i)
                kind[i + 1 : i + size] = SHOOT
            parent[i + 1 : i + size] = i
            i += size
        self.kind, self.parent = kind, parent
        self.low_information = (kind == FRESH) & (rng.random(n) < 0.01)
        self.low_information[parent[parent >= 0]] = False
        self.loose = (rng.random(n) < 0.02) & (kind == FRESH)
        extra = np.where(rng.random(n) < 0.5, 0, rng.geometric(0.25, n))
        extra += np.where(rng.random(n) < 0.0005, rng.integers(19, 200, n), 0)
        self.uses = np.where(self.loose, 0, 1 + extra)
        resolved = int(self.uses.sum())
        unresolved = round(UNRESOLVED_SHARE * resolved / (1 - UNRESOLVED_SHARE))
        slots = resolved + unresolved
        self.articles = max(1, round(n / 3))
        counts = (
            np.bincount(
                rng.integers(0, self.articles, slots - self.articles), minlength=self.articles
            )
            + 1
        )
        self.article_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        slot_article = np.repeat(np.arange(self.articles), counts)
        slot_position = np.arange(slots) - np.repeat(self.article_start, counts)
        slot_image = np.concatenate([np.repeat(np.arange(n), self.uses), np.full(unresolved, -1)])
        slot_image = slot_image[rng.permutation(slots)]
        # og:image names an article's first image again, in 10 % of the articles
        meta = np.flatnonzero(rng.random(self.articles) < 0.1)
        meta = meta[slot_image[self.article_start[meta]] >= 0]
        self.image = np.concatenate([slot_image, slot_image[self.article_start[meta]]])
        self.article = np.concatenate([slot_article, meta]).astype(np.int32)
        self.position = np.concatenate([slot_position, np.full(len(meta), -1)]).astype(np.int32)
        total = len(self.image)
        # the search words, each in an exact number of occurrences
        self.json_word = np.zeros(total, bool)
        self.json_word[rng.choice(total, round(JSON_PER_MILLION * n / 1e6), replace=False)] = True
        self.many_word = np.zeros(total, bool)
        self.many_word[rng.choice(total, round(MANY_SHARE * total), replace=False)] = True
        # the occurrences of each image, together; unresolved ones in article order
        self.resolved = np.flatnonzero(self.image >= 0)
        self.resolved = self.resolved[np.argsort(self.image[self.resolved], kind="stable")]
        self.bounds = np.searchsorted(self.image[self.resolved], np.arange(n + 1))
        self.unresolved = np.flatnonzero(self.image < 0)
        names = list(REASONS)
        weights = np.array(list(REASONS.values()), dtype=float)
        self.reason = rng.choice(len(names), len(self.unresolved), p=weights / weights.sum())
        self.reason_names = names
        self.persian = rng.random(self.articles) < 0.6
        self.has_url = rng.random(self.articles) < 0.7
        self.title_at = rng.random(self.articles)
        # the probe: a family leader used 3+ times, near the middle
        leaders = np.flatnonzero((kind == FRESH) & (self.uses >= 3))
        leaders = leaders[np.isin(leaders, parent[kind == COPY])]
        if len(leaders) == 0:
            leaders = np.flatnonzero(self.uses >= 1)
        self.probe = int(leaders[np.argmin(np.abs(leaders - n // 2))])

    def blocks(self, size: int = 4096) -> Iterator[tuple[int, int]]:
        """Ranges of images that hold whole groups (a copy's parent in the same block)."""
        start = 0
        while start < self.n:
            end = min(start + size, self.n)
            while end < self.n and self.parent[end] >= 0:
                end += 1
            yield start, end
            start = end


# --- the export -------------------------------------------------------------------------


def sha256_of(seed: int, i: int) -> str:
    return hashlib.sha256(f"store-bench {seed} {i}".encode()).hexdigest()


class Writer:
    """Builds the JSON objects of the export from a Plan."""

    def __init__(self, plan: Plan):
        self.plan = plan
        rng = np.random.default_rng([plan.seed, 1])
        self.corpus = {True: Corpus(FA, rng), False: Corpus(EN, rng)}
        self.days = FIRST_DAY + np.arange(plan.articles) * 7300 // plan.articles

    def path(self, a: int) -> str:
        day = datetime.date.fromordinal(int(self.days[a]))
        return f"/archive/{day.year}/{day.month:02d}/article-{a + 1}.html"

    def article(self, a: int) -> tuple[str, str, str | None, str, bool]:
        """Path, title, URL, date and language of article `a`."""
        day = datetime.date.fromordinal(int(self.days[a]))
        persian = bool(self.plan.persian[a])
        path = self.path(a)
        title = self.corpus[persian].phrase(float(self.plan.title_at[a]), 6 + a % 7)
        url = None
        if self.plan.has_url[a]:
            host = "news.example.ir" if persian else "news.example.com"
            url = f"https://{host}/{day.year}/{day.month:02d}/article-{a + 1}"
        return path, title, url, f"{day.isoformat()}T08:{a % 60:02d}:00+03:30", persian

    def occurrence(
        self, o: int, u: list[float], image: dict[str, Any] | None, reason: str | None
    ) -> dict[str, Any]:
        plan = self.plan
        a, position = int(plan.article[o]), int(plan.position[o])
        path, title, url, date, persian = self.article(a)
        words = self.corpus[persian]
        meta = position < 0
        sha = image["sha256"] if image else hashlib.sha256(f"u{o}".encode()).hexdigest()
        ext = (
            {"PNG": "png", "WEBP": "webp", "GIF": "gif"}.get(image["format"], "jpg")
            if image
            else "jpg"
        )
        file = image["files"][0] if image and image["files"] else None
        if reason == "remote":
            src = f"https://cdn.example.com/photos/{sha[:2]}/{sha[2:18]}.jpg"
        elif reason == "no-asset":
            src = f"s3://crabby-images/{sha[:5]}/{sha[:40]}"
        elif image and file is None:
            src = DATA_URI
        elif u[13] < 0.3:
            src = f"../../media/{sha[:2]}/{sha[2:4]}/{sha[:16]}.{ext}"
        else:
            src = f"/media/{sha[:2]}/{sha[2:4]}/{sha[:16]}.{ext}"
        alt: str | None
        if u[0] < 0.04:
            alt = None
        elif u[0] < 0.07:
            alt = ""
        else:
            alt = words.phrase(u[1], 5 + int((u[0] - 0.07) / 0.93 * 7))
        caption = None
        if u[2] >= 0.35 and not meta:
            caption = words.phrase(u[3], 10 + int((u[2] - 0.35) / 0.65 * 9))
        if meta:
            alt = title if u[0] < 0.5 else None
        if plan.json_word[o]:
            parts = (alt or "").split()
            parts.insert(int(u[4] * (len(parts) + 1)), JSON_WORD)
            alt = " ".join(parts)
        if plan.many_word[o]:
            if meta:
                alt = f"{alt or ''} {MANY_WORD}".strip()
            else:
                parts = (caption or words.phrase(u[3], 6)).split()
                parts.insert(int(u[5] * (len(parts) + 1)), MANY_WORD)
                caption = " ".join(parts)
        width = image["width"] if image else 1200
        height = image["height"] if image else 800
        srcset = []
        if u[7] >= 0.7 and not meta and src.startswith("/media/"):
            stem = src.rsplit(".", 1)[0]
            srcset = [
                {"url": f"{stem}-{w}.{ext}", "width": w, "density": None} for w in (480, 800, 1200)
            ]
        declared = u[10] < 0.6 and not meta
        link = f"{src.rsplit('.', 1)[0]}-full.{ext}" if src.startswith(("/", "../")) else None
        return {
            "article": path,
            "position": None if meta else position,
            "src": src,
            "alt": alt,
            "caption": caption,
            "title": words.phrase(u[5], 3 + int(u[4] * 4)) if u[4] >= 0.8 and not meta else None,
            "kind": "meta" if meta else "img",
            "credit": CREDITS[persian][int(u[6] * 20) % len(CREDITS[persian])]
            if u[6] >= 0.75
            else None,
            "srcset": srcset,
            "placeholder": PLACEHOLDER if u[8] < 0.15 and not meta else None,
            "base": None,
            "link": link if u[9] < 0.2 and not meta else None,
            "declared_width": min(width, 800) if declared else None,
            "declared_height": min(width, 800) * height // width if declared else None,
            "decorative": alt == "",
            "tracking": False,
            "context_before": None if meta else words.context(u[11]),
            "context_after": None if meta else words.context(u[12]),
            "heading": None if meta else (title if position < 3 else words.phrase(u[13], 5)),
            "article_title": title,
            "article_url": url,
            "article_date": date,
            "file": file,
        }

    def images(self, start: int, end: int) -> Iterator[dict[str, Any]]:
        plan = self.plan
        rng = np.random.default_rng([plan.seed, 2, start])
        kind, parent = plan.kind[start:end], plan.parent[start:end] - start
        codes = fingerprints(rng, kind, np.where(parent >= 0, parent, 0))
        u = rng.random((end - start, 16)).tolist()
        first, last = int(plan.bounds[start]), int(plan.bounds[end])
        ou = rng.random((last - first, 16)).tolist()
        format_weights = np.cumsum([f[2] for f in FORMATS])
        made: list[dict[str, Any]] = []
        for row in range(end - start):
            i, r = start + row, u[row]
            sha = sha256_of(plan.seed, i)
            fmt, ext = next(
                (f[0], f[1]) for f, w in zip(FORMATS, format_weights, strict=True) if r[0] < w
            )
            width, height = SIZES[int(r[1] * len(SIZES))]
            if r[2] < 0.15:
                width, height = height, width
            if kind[row] in (COPY, CROP):  # a resized, maybe converted copy of its leader
                leader = made[parent[row]]
                scale = 0.3 + 0.7 * r[3]
                width = max(16, round(leader["width"] * scale))
                height = max(16, round(leader["height"] * scale))
            low = bool(plan.low_information[i])
            if low:
                fmt, ext, width, height = "PNG", "png", 48, 48
            exif: dict[str, Any] = {}
            if r[4] < 1 / 3 and fmt == "JPEG":
                make, model = CAMERAS[int(r[5] * len(CAMERAS))]
                exif = {"make": make, "model": model}
                if r[6] < 0.2:
                    exif["lens"] = "EF24-70mm f/2.8L II USM"
                if r[6] > 0.9:
                    exif["software"] = "Adobe Photoshop 22.0 (Windows)"
                day = datetime.date.fromordinal(FIRST_DAY + int(r[7] * 7300))
                exif["taken"] = (
                    f"{day.isoformat()}T{int(r[8] * 24):02d}:{int(r[9] * 60):02d}:00+03:30"
                )
                if r[10] < 0.5:
                    exif["orientation"] = 1
                if r[10] > 0.9:
                    exif["gps"] = {
                        "lat": round(25 + r[11] * 15, 5),
                        "lon": round(44 + r[12] * 19, 5),
                    }
            embedded: dict[str, Any] = {}
            if r[13] < 0.08:
                persian = r[14] < 0.6
                embedded = {
                    "caption": self.corpus[persian].phrase(r[15], 12),
                    "credit": CREDITS[persian][int(r[14] * 50) % len(CREDITS[persian])],
                    "keywords": self.corpus[persian].phrase(r[11], 3).split(),
                }
            files = [f"/archive/media/{sha[:2]}/{sha[2:4]}/{sha[:16]}.{ext}"]
            if plan.loose[i]:
                files = [f"/archive/gallery/{2005 + i % 20}/{sha[:16]}.{ext}"]
            elif r[15] > 0.97:
                files.append(f"/archive/gallery/{2005 + i % 20}/{sha[:16]}.{ext}")
            elif r[15] < 0.005:
                files = []
            variants = {
                name: {"phash": codes[f"{name} 0"][row], "dhash": codes[f"{name} 1"][row]}
                for name in VIEWS
                if name != "trimmed" or r[3] < 0.08
            }
            phash, dhash = codes["phash"][row], codes["dhash"][row]
            if low:  # flat (the DC bit alone) or near-blank (a few more bits)
                phash, dhash = flat_code(r[9:13], 1 << 63), flat_code(r[9:13], 0)
                variants = {name: {"phash": phash, "dhash": dhash} for name in VIEWS[:7]}
            image = {
                "sha256": sha,
                "phash": phash,
                "dhash": dhash,
                "width": width,
                "height": height,
                "format": fmt,
                "exif": exif,
                "decode": "draft" if fmt == "JPEG" and min(width, height) >= 1024 else "full",
                "low_information": low,
                "embedded": embedded,
                "variants": variants,
                "phash256": "8" + "0" * 63 if low else codes["phash256"][row],
                "files": files,
            }
            occurrences = [
                self.occurrence(int(o), ou[k - first], image, None)
                for k, o in enumerate(
                    plan.resolved[plan.bounds[i] : plan.bounds[i + 1]].tolist(), plan.bounds[i]
                )
            ]
            occurrences.sort(key=place)
            image["occurrences"] = occurrences
            made.append(image)
        yield from made

    def unresolved(self) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
        """Unresolved occurrences, with `reason`, in the export's order, each with its error
        (or None)."""
        plan = self.plan
        rng = np.random.default_rng([plan.seed, 3])
        u = rng.random((len(plan.unresolved), 16)).tolist()
        # (all body references: og:image names only resolved images)
        where = [(self.path(int(plan.article[o])), int(plan.position[o])) for o in plan.unresolved]
        for k in sorted(range(len(where)), key=where.__getitem__):
            o, reason = int(plan.unresolved[k]), plan.reason_names[plan.reason[k]]
            doc = {**self.occurrence(o, u[k], None, reason), "reason": reason}
            error = None
            if doc["reason"] in ERROR_MESSAGES:
                path = "/archive/media/" + doc["src"].split("/media/", 1)[1]
                error = {
                    "path": path,
                    "article": doc["article"],
                    "position": doc["position"],
                    "code": doc["reason"],
                    "message": f"{path}: {ERROR_MESSAGES[doc['reason']]}",
                }
            yield doc, error


def place(occurrence: dict[str, Any]) -> tuple[str, bool, int]:
    """The export's order of occurrences (media_catalog.index.place)."""
    position = occurrence["position"]
    return occurrence["article"], position is None, position or 0


def generate(path: Path, n: int, seed: int) -> dict[str, Any]:
    """Write the export for `n` images to `path` and its meta file beside it; what it holds."""
    started = time.perf_counter()
    plan = Plan(n, seed)
    writer = Writer(plan)
    tmp = path.with_name(path.name + ".tmp")
    probe: dict[str, Any] = {}
    counts = {"images": 0, "occurrences": 0, "unresolved": 0, "errors": 0}
    json_hits = many_hits = 0
    with open(tmp, "wb") as out:
        out.write(b'{"images":[')
        for start, end in plan.blocks():
            chunk = []
            for image in writer.images(start, end):
                chunk.append(orjson.dumps(image))
                counts["occurrences"] += len(image["occurrences"])
                for occurrence in image["occurrences"]:
                    json_hits += JSON_WORD in (occurrence["alt"] or "")
                    many_hits += MANY_WORD in (occurrence["caption"] or "") + (
                        occurrence["alt"] or ""
                    )
                if not probe and image["sha256"] == sha256_of(seed, plan.probe):
                    probe = {
                        "sha256": image["sha256"],
                        "phash": image["phash"],
                        "uses": len(image["occurrences"]),
                    }
            out.write(b"," * (start > 0) + b",".join(chunk))
            counts["images"] = end
        errors = []
        out.write(b'],"unresolved":[')
        for k, (doc, error) in enumerate(writer.unresolved()):
            out.write(b"," * (k > 0) + orjson.dumps(doc))
            json_hits += JSON_WORD in (doc["alt"] or "")
            many_hits += MANY_WORD in (doc["caption"] or "") + (doc["alt"] or "")
            counts["unresolved"] += 1
            if error:
                errors.append(error)
        out.write(b'],"errors":[' + b",".join(map(orjson.dumps, errors)) + b"]}")
        counts["errors"] = len(errors)
    tmp.replace(path)
    copies = plan.parent[(plan.kind == COPY) | (plan.kind == CROP)]
    meta = {
        "generator": GENERATOR,
        "seed": seed,
        **counts,
        "articles": plan.articles,
        "images_in_families": int(len(np.unique(copies)) + len(copies)),
        "probe": probe,
        "search": {
            "json": {"query": JSON_WORD.lower(), "matches": json_hits},
            "table": {"query": MANY_WORD, "matches": many_hits},
        },
        "bytes": path.stat().st_size,
        "seconds": round(time.perf_counter() - started, 1),
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6),
    }
    meta_path(path).write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))
    return meta


def meta_path(export: Path) -> Path:
    return export.with_name(export.name + ".meta.json")


def ensure_export(path: Path, n: int, seed: int) -> dict[str, Any]:
    """The export's meta, generating it first unless a matching one is there."""
    try:
        meta = orjson.loads(meta_path(path).read_bytes())
        if path.exists() and (meta["generator"], meta["seed"], meta["images"]) == (
            GENERATOR,
            seed,
            n,
        ):
            print(f"reusing {path} ({meta['bytes'] / 1e6:,.0f} MB)", file=sys.stderr)
            return meta
    except (OSError, orjson.JSONDecodeError, KeyError):
        pass
    print(f"generating {path} ({n:,} images)…", file=sys.stderr, flush=True)
    meta = generate(path, n, seed)
    print(
        f"generated in {meta['seconds']:.0f} s: {meta['bytes'] / 1e6:,.0f} MB, "
        f"{meta['occurrences']:,} occurrences + {meta['unresolved']:,} unresolved, "
        f"peak {meta['peak_mb']} MB",
        file=sys.stderr,
    )
    return meta


# --- running commands -------------------------------------------------------------------

GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
# Without GNU time: a small process that runs the command and reads its children's peak.
_PEAK_WRAPPER = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(done.returncode)
"""


class CommandFailed(Exception):
    pass


class Runner:
    """Runs `python -m media_catalog ARGS` of the code in `code` as fresh processes."""

    def __init__(self, code: Path, work: Path):
        self.code, self.work = code, work
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE",)}
        env.pop("MEDIA_CATALOG_DB", None)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
        self.env = env

    def python(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *args], capture_output=True, env=self.env, cwd=self.work, text=True
        )

    def code_info(self) -> dict[str, Any]:
        """Which media_catalog the commands import (it must be the one in `code`)."""
        done = self.python(
            "-c", "import media_catalog as m; print(m.__file__); print(m.__version__)"
        )
        if done.returncode:
            raise CommandFailed(f"cannot import media_catalog from {self.code}:\n{done.stderr}")
        file, version = done.stdout.split()
        if not Path(file).resolve().is_relative_to(self.code.resolve()):
            raise CommandFailed(f"the commands would import {file}, not the code in {self.code}")
        git = ["git", "-C", str(self.code)]
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "media_catalog"], capture_output=True, text=True
        )
        return {
            "module": file,
            "version": version,
            "commit": commit.stdout.strip() or None,
            "dirty": bool(dirty.stdout.strip()),
        }

    def has(self, command: str) -> bool:
        return self.python("-m", "media_catalog", command, "--help").returncode == 0

    def run(self, name: str, args: list[str], output: Path, repeat: int = 1) -> dict[str, Any]:
        """Wall seconds (the fastest of `repeat` runs) and peak RSS in MB (the largest) of
        `media-catalog ARGS`, its stdout written to `output`."""
        walls, peaks = [], []
        peak_file = self.work / ".peak"
        for _ in range(repeat):
            command = [sys.executable, "-m", "media_catalog", *args]
            if GNU_TIME:
                command = [GNU_TIME, "-f", "%M", "-o", str(peak_file), *command]
            else:
                command = [sys.executable, "-c", _PEAK_WRAPPER, str(peak_file), *command]
            with open(output, "wb") as out:
                started = time.perf_counter()
                done = subprocess.run(
                    command, stdout=out, stderr=subprocess.PIPE, env=self.env, cwd=self.work
                )
                walls.append(time.perf_counter() - started)
            if done.returncode:
                raise CommandFailed(
                    f"`media-catalog {' '.join(args)}` exited {done.returncode}:\n"
                    + done.stderr.decode(errors="replace")[-3000:]
                )
            peaks.append(int(peak_file.read_text().split()[-1]) * 1024 / 1e6)
        print(f"  {name}: {min(walls):.2f} s, {max(peaks):.0f} MB", file=sys.stderr, flush=True)
        return {
            "command": name,
            "args": args,
            "wall": round(min(walls), 3),
            "peak_mb": round(max(peaks), 1),
            "runs": repeat,
            "output_bytes": output.stat().st_size,
            "answers": _answers(name, output),
        }


def _answers(name: str, output: Path) -> int | None:
    """How many results a search found: `total` of its JSON, or the count its table's last
    line gives (read from the output's last bytes)."""
    if not name.startswith("search"):
        return None
    with open(output, "rb") as handle:
        handle.seek(max(0, output.stat().st_size - 200))
        tail = handle.read().decode(errors="replace")
    found = re.search(r'"total":\s*(\d+)|([\d,]+) results?\b', tail)
    return int((found.group(1) or found.group(2)).replace(",", "")) if found else None


def new_article(folder: Path, number: int) -> Path:
    """A folder with one HTML article showing three new photos (1200x800 JPEGs, each drawn
    from its own noise, so they match nothing catalogued nor each other)."""
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "photos").mkdir(parents=True)
    figures = []
    for k in range(3):
        rng = np.random.default_rng([99, number, k])
        pixels = rng.integers(0, 256, (8, 12, 3), dtype=np.uint8)
        picture = Image.fromarray(pixels).resize((1200, 800), Image.Resampling.BICUBIC)
        noise = rng.integers(-12, 13, (800, 1200, 3))
        picture = Image.fromarray(np.clip(np.asarray(picture) + noise, 0, 255).astype(np.uint8))
        picture.save(folder / "photos" / f"photo-{k + 1}.jpg", quality=90)
        figures.append(
            f'<figure><img src="photos/photo-{k + 1}.jpg" alt="New photo {k + 1} of the '
            f'harbour at dawn" width="800" height="533"><figcaption>بندر در سپیده دم، عکس '
            f"{k + 1}: fishing boats come back to the harbour.</figcaption></figure>"
        )
    (folder / "article.html").write_text(
        "<!doctype html><html><head><meta charset=utf-8><title>A new article</title>"
        '<meta property="article:published_time" content="2026-11-26T08:00:00Z"></head>'
        "<body><article><h1>The harbour at dawn</h1><p>Fishing boats came back at first "
        f"light.</p>{''.join(figures)}<p>The market opens at seven.</p></article></body></html>",
        encoding="utf-8",
    )
    return folder


def read_commands(db: Path, meta: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """The read-only commands: (name, arguments)."""
    probe, search = meta["probe"], meta["search"]
    return [
        ("stats", ["stats", "--db", str(db)]),
        ("lookup sha256", ["lookup", probe["sha256"][:12], "--db", str(db)]),
        ("lookup phash", ["lookup", probe["phash"], "--db", str(db)]),
        ("show", ["show", probe["sha256"][:12], "--db", str(db)]),
        ("search table", ["search", search["table"]["query"], "--db", str(db)]),
        ("search json", ["search", search["json"]["query"], "-f", "json", "--db", str(db)]),
        ("dupes json", ["dupes", "-f", "json", "--db", str(db)]),
        ("export", ["export", "--db", str(db)]),
    ]


def startup(runner: Runner) -> dict[str, Any]:
    """`media-catalog --version`: start-up alone (the first run compiles the modules)."""
    output = runner.work / "out" / "version.txt"
    output.parent.mkdir(exist_ok=True)
    runner.run("--version", ["--version"], output)
    return {**runner.run("start-up", ["--version"], output, 3), "phase": "start-up"}


def time_reads(runner: Runner, db: Path, meta: dict[str, Any], repeat: int, phase: str) -> list:
    """Run the read-only commands (outputs in WORK/out); a search's row has the number of
    results the export's meta file expects."""
    rows = []
    for name, args in read_commands(db, meta):
        rows.append(
            runner.run(name, args, runner.work / "out" / f"{name.replace(' ', '-')}.txt", repeat)
        )
        rows[-1]["phase"] = phase
        if name.startswith("search"):
            rows[-1]["expected"] = meta["search"][name.split()[1]]["matches"]
    return rows


def remove_catalogue(db: Path) -> None:
    for path in [db, *db.parent.glob(db.name + ".*"), *db.parent.glob(f".{db.name}.*")]:
        path.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm", "-journal"):
        Path(str(db) + suffix).unlink(missing_ok=True)


def bench(runner: Runner, export: Path, meta: dict[str, Any], store: str, repeat: int) -> list:
    """Build the catalogue with `import`, then time each command on it."""
    if not runner.has("import"):
        raise CommandFailed(
            f"the code in {runner.code} has no `import` command (today's code); measure "
            "today's JSON store with --baseline-json"
        )
    db = runner.work / ("archive.sqlite" if store == "sqlite" else "archive.json")
    remove_catalogue(db)
    article = new_article(runner.work / "new-article-1", 1)
    out = runner.work / "out"
    out.mkdir(exist_ok=True)
    rows = [startup(runner)]
    rows.append(runner.run("import", ["import", str(export), "--db", str(db)], out / "import.txt"))
    rows.append(runner.run("scan", ["scan", str(article), "--db", str(db), "-q"], out / "scan.txt"))
    for row in rows[1:]:
        row["phase"] = store
    return rows + time_reads(runner, db, meta, repeat, store)


def write_today_catalogue(export: Path, db: Path) -> None:
    """The export as today's schema-2 TinyDB catalogue (media_catalog/catalog.py's layout),
    as a scan of the same archive would have saved it, with no read index."""
    data = orjson.loads(export.read_bytes())
    images, occurrences = [], []
    for image in data["images"]:
        used = image.pop("occurrences")
        images.append(image)
        occurrences += [{**o, "sha256": image["sha256"], "reason": None} for o in used]
    for doc in data["unresolved"]:
        reason = doc.pop("reason")
        occurrences.append({**doc, "sha256": None, "reason": reason})
    occurrences.sort(key=place)
    sources = {}
    for doc in occurrences:  # the articles a scan read, and the loose files it walked
        path = doc["article"]
        if path not in sources:
            digest = hashlib.sha256(path.encode()).hexdigest()
            sources[path] = {
                "size": 20_000 + int(digest[:4], 16),
                "mtime_ns": 1_700_000_000 * 10**9,
            }
            sources[path] |= {"sha256": digest, "settings": "0123456789abcdef", "path": path}
    for image in images:
        for path in image["files"]:
            if path.startswith("/archive/gallery/"):
                sources[path] = {"size": 100_000, "mtime_ns": 1_700_000_000 * 10**9}
                sources[path] |= {"sha256": image["sha256"], "path": path}

    def table(docs):
        return {str(i): doc for i, doc in enumerate(docs, 1)}

    tables = {
        "images": table(images),
        "occurrences": table(occurrences),
        "errors": table(data["errors"]),
        "sources": table(sorted(sources.values(), key=lambda doc: doc["path"])),
        "meta": table([{"schema_version": 2}]),
    }
    remove_catalogue(db)
    db.write_bytes(orjson.dumps(tables))


def baseline(runner: Runner, export: Path, meta: dict[str, Any], repeat: int) -> list:
    """Today's JSON store: read commands without the read index, a scan (which writes it),
    the read commands with it, a second scan."""
    db = runner.work / "today.json"
    index = db.with_name(db.name + ".index.sqlite")
    write_today_catalogue(export, db)
    out = runner.work / "out"
    out.mkdir(exist_ok=True)
    rows = [startup(runner)]
    for phase, number in (("no index", 1), ("index", 2)):
        if (phase == "index") != index.exists():
            raise CommandFailed(f"expected {'an' if phase == 'index' else 'no'} index at {index}")
        rows += time_reads(runner, db, meta, repeat, phase)
        article = new_article(runner.work / f"new-article-{number}", number)
        rows.append(
            runner.run("scan", ["scan", str(article), "--db", str(db), "-q"], out / "scan.txt")
        )
        rows[-1]["phase"] = phase
    return rows


# --- checking the export against a real one ---------------------------------------------


def is_subsequence(keys: list[str], order: tuple[str, ...]) -> bool:
    it = iter(order)
    return all(key in it for key in keys)


def check(runner: Runner, export: Path, meta: dict[str, Any]) -> list[str]:
    """Problems of the export (loaded whole: for small sizes): its keys against those of a
    real `media-catalog export` of the samples, and its counts against its meta file."""
    problems: list[str] = []
    data = orjson.loads(export.read_bytes())
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "s.json")
        samples = ROOT / "samples"
        scan = ["-m", "media_catalog", "scan", str(samples), "--assets", str(samples / "assets")]
        done = runner.python(*scan, "--db", db, "-q")
        real = runner.python("-m", "media_catalog", "export", "--db", db)
        if done.returncode or real.returncode:
            raise CommandFailed(f"the samples' scan or export failed:\n{done.stderr}{real.stderr}")
        real_data = orjson.loads(real.stdout)
    errors = runner.python(
        "-c",
        "from media_catalog.models import ItemError; print(*ItemError('p', 'c', 'm').to_dict())",
    )
    real_image = [k for k in real_data["images"][0]]
    real_occurrence = list(
        next(i for i in real_data["images"] if i["occurrences"])["occurrences"][0]
    )
    expected = {
        "top": list(real_data),
        "image": real_image,
        "occurrence": real_occurrence,
        "unresolved": list(real_data["unresolved"][0]),
        "error": errors.stdout.split(),
    }
    if list(data) != expected["top"]:
        problems.append(f"top-level keys {list(data)} != {expected['top']}")
    exif_order = ("make", "model", "lens", "software", "taken", "orientation", "gps")
    embedded_order = ("caption", "headline", "creator", "credit", "copyright", "keywords")
    hexlen = re.compile(r"[0-9a-f]+")
    slots: dict[str, set] = {}
    hits = {"json": 0, "table": 0}

    def searched(doc: dict[str, Any], image: dict[str, Any] | None) -> str:
        fields = [
            doc[k] or "" for k in ("alt", "caption", "credit", "title", "article", "article_title")
        ]
        if image:
            emb = image["embedded"]
            fields += [emb.get("caption", ""), emb.get("credit", ""), *emb.get("keywords", [])]
        return "\n".join(fields).lower()

    def occurrence(doc: dict[str, Any], keys: list[str], image: dict[str, Any] | None) -> None:
        if list(doc) != keys:
            problems.append(f"occurrence keys {list(doc)} != {keys}")
        key = doc["position"] if doc["position"] is not None else ("meta", doc["src"])
        slots.setdefault(doc["article"], set())
        if key in slots[doc["article"]] and doc["position"] is not None:
            problems.append(f"{doc['article']} position {key} twice")
        slots[doc["article"]].add(key)
        text = searched(doc, image)
        hits["json"] += JSON_WORD.lower() in text
        hits["table"] += MANY_WORD in text

    for image in data["images"]:
        if list(image) != expected["image"]:
            problems.append(f"image keys {list(image)} != {expected['image']}")
        for name in ("sha256", "phash", "dhash", "phash256"):
            size = 64 if name in ("sha256", "phash256") else 16
            if len(image[name]) != size or not hexlen.fullmatch(image[name]):
                problems.append(f"{name} {image[name]!r}")
        if not image["low_information"] and int(image["phash"], 16).bit_count() != 32:
            problems.append(f"pHash {image['phash']} has not 32 bits set")
        if list(image["variants"]) not in (list(VIEWS), list(VIEWS[:7])):
            problems.append(f"variants {list(image['variants'])}")
        if not is_subsequence(list(image["exif"]), exif_order):
            problems.append(f"exif keys {list(image['exif'])}")
        if not is_subsequence(list(image["embedded"]), embedded_order):
            problems.append(f"embedded keys {list(image['embedded'])}")
        if image["occurrences"] != sorted(image["occurrences"], key=place):
            problems.append(f"occurrences of {image['sha256']} out of order")
        for doc in image["occurrences"]:
            occurrence(doc, expected["occurrence"], image)
    for doc in data["unresolved"]:
        occurrence(doc, expected["unresolved"], None)
    if data["unresolved"] != sorted(data["unresolved"], key=place):
        problems.append("unresolved out of order")
    problems += [f"error keys {list(e)}" for e in data["errors"] if list(e) != expected["error"]]
    for article, used in slots.items():
        body = sorted(k for k in used if isinstance(k, int))
        if body != list(range(len(body))):
            problems.append(f"{article}: positions {body[:5]}… not 0..{len(body) - 1}")
    found = {
        "images": len(data["images"]),
        "occurrences": sum(len(i["occurrences"]) for i in data["images"]),
        "unresolved": len(data["unresolved"]),
        "errors": len(data["errors"]),
        "articles": len(slots),
    }
    for key, value in found.items():
        if value != meta[key]:
            problems.append(f"{key}: {value:,} in the export, {meta[key]:,} in its meta file")
    for which in ("json", "table"):
        if hits[which] != meta["search"][which]["matches"]:
            problems.append(
                f"search {which}: {hits[which]} matches, meta says {meta['search'][which]}"
            )
    if problems[10:]:
        problems[10:] = [f"… and {len(problems) - 10} more"]
    return problems


# --- report -----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as handle:
        memory = int(handle.readline().split()[1]) / 2**20
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory, 1),
        "python": platform.python_version(),
        "load": [round(x, 2) for x in os.getloadavg()],
    }


def verdict(name: str, row: dict[str, Any]) -> tuple[str, str]:
    seconds, mb = TARGETS.get(name, (None, None))
    parts = [f"≤ {seconds:g} s" if seconds else "", f"≤ {mb:,g} MB" if mb else ""]
    target = ", ".join(p for p in parts if p) or "—"
    if target == "—":
        return target, "—"
    missed = [
        what
        for what, limit, value in (("time", seconds, row["wall"]), ("memory", mb, row["peak_mb"]))
        if limit and value > limit
    ]
    return target, "no (" + ", ".join(missed) + ")" if missed else "yes"


def report(result: dict[str, Any], compare: dict[str, Any] | None) -> str:
    m, code, meta = result["machine"], result["code"], result["export"]
    lines = [
        f"- date: {m['date']}; load average before {m['load']}, after {result['load_after']}",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}",
        f"- code: {code['module']} (media-catalog {code['version']}, commit "
        f"{code['commit'] or 'unknown'}"
        + (", with uncommitted changes)" if code["dirty"] else ")"),
        f"- export: {result['export_path']}, {meta['bytes'] / 1e6:,.0f} MB: {meta['images']:,} "
        f"images, {meta['occurrences']:,} occurrences + {meta['unresolved']:,} unresolved, "
        f"{meta['errors']:,} errors, {meta['articles']:,} articles; generated in "
        f"{meta['seconds']:,.0f} s (peak {meta['peak_mb']:,} MB)",
        f"- command: `{result['command']}`",
    ]
    rows = [row for row in result["rows"] if row["phase"] != "start-up"]
    lines += [
        f"- start-up: `media-catalog --version` {row['wall']:.2f} s, {row['peak_mb']:.0f} MB"
        for row in result["rows"]
        if row["phase"] == "start-up"
    ]
    lines.append("")
    if result["mode"] == "baseline-json":
        lines += [
            "| command | no index: wall s | peak MB | with index: wall s | peak MB | output |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for name in dict.fromkeys(row["command"] for row in rows):
            cold, warm = (
                next(r for r in rows if (r["command"], r["phase"]) == (name, p))
                for p in ("no index", "index")
            )
            lines.append(
                f"| {name} | {cold['wall']:.2f} | {cold['peak_mb']:.0f} | {warm['wall']:.2f} "
                f"| {warm['peak_mb']:.0f} | {output_note(warm)} |"
            )
    else:
        today = {r["command"]: r for r in (compare or {}).get("rows", []) if r["phase"] == "index"}
        head = "| command | wall s | peak MB | target (1,000,000 images) | met? | output |"
        rule = "|---|---:|---:|---|---|---|"
        if today:
            head += " today, with index: wall s | peak MB | no slower (≤ +10 %)? |"
            rule += "---:|---:|---|"
        lines += [head, rule]
        for row in rows:
            target, met = verdict(row["command"], row)
            line = (
                f"| {row['command']} | {row['wall']:.2f} | {row['peak_mb']:.0f} | {target} "
                f"| {met} | {output_note(row)} |"
            )
            if today:
                old = today.get(row["command"])
                line += (
                    f" {old['wall']:.2f} | {old['peak_mb']:.0f} "
                    f"| {'yes' if row['wall'] <= 1.1 * old['wall'] else 'no'} |"
                    if old
                    else " — | — | — |"
                )
            lines.append(line)
    lines += ["", "Commands (`$WORK` is " + result["work"] + "):", ""]
    for row in rows:
        if (
            result["mode"] == "baseline-json"
            and row["phase"] == "index"
            and row["command"] != "scan"
        ):
            continue
        args = " ".join(shlex_quote(a) for a in row["args"]).replace(result["work"], "$WORK")
        lines.append(f"- {row['command']}: `media-catalog {args}`")
    return "\n".join(lines)


def output_note(row: dict[str, Any]) -> str:
    size = row["output_bytes"]
    note = f"{size / 1e6:,.1f} MB" if size >= 1e5 else f"{size / 1e3:,.1f} kB"
    if row.get("answers") is not None:
        note += f", {row['answers']:,} results"
        if row.get("expected") is not None and row["expected"] != row["answers"]:
            note += f" ({row['expected']:,} expected)"
    return note


def shlex_quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w./:=,+-]+", arg) else "'" + arg.replace("'", "'\\''") + "'"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--store", choices=("sqlite", "json"), default="sqlite")
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "media-catalog-store-bench"
    )
    parser.add_argument(
        "--export", type=Path, help="the export to use or make [WORK/export-N-seedS.json]"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout to run [this one]")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each read-only command")
    parser.add_argument("--baseline-json", action="store_true", help="today's JSON store")
    parser.add_argument("--compare", type=Path, help="the results of a --baseline-json run")
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--check", action="store_true", help="check the export's keys and counts")
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    before = machine()
    if args.export and args.export.exists():  # as it is, whatever --images says
        export = args.export.resolve()
        try:
            meta = orjson.loads(meta_path(export).read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            sys.exit(f"Error: {export} has no readable {meta_path(export).name} ({exc})")
        args.images = meta["images"]
    else:
        export = (args.export or work / f"export-{args.images}-seed{args.seed}.json").resolve()
        meta = ensure_export(export, args.images, args.seed)
    if args.generate_only:
        print(orjson.dumps({"export": str(export), **meta}, option=orjson.OPT_INDENT_2).decode())
        return
    runner = Runner(args.code.resolve(), work)
    try:
        code = runner.code_info()
        if args.check:
            problems = check(runner, export, meta)
            print("\n".join(problems) or f"{export}: keys, order and counts as expected")
            sys.exit(1 if problems else 0)
        mode = "baseline-json" if args.baseline_json else args.store
        if args.baseline_json:
            rows = baseline(runner, export, meta, args.repeat)
        else:
            rows = bench(runner, export, meta, args.store, args.repeat)
    except CommandFailed as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(1)
    result = {
        "mode": mode,
        "images": args.images,
        "machine": before,
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "code": code,
        "export_path": str(export),
        "export": meta,
        "work": str(work),
        "command": "python benchmarks/store.py " + " ".join(shlex_quote(a) for a in sys.argv[1:]),
        "rows": rows,
    }
    saved = work / f"results-{mode}-{args.images}.json"
    saved.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    compare = orjson.loads(args.compare.read_bytes()) if args.compare else None
    print(f"## {mode}, {args.images:,} images\n")
    print(report(result, compare))
    print(f"\n(results: {saved})")


if __name__ == "__main__":
    main()
