"""The alt-text and caption audit: judge every occurrence, report findings per article.

Each rule has a stable id, a severity and a reason (RULES below; the README explains each with
what to write instead). Text is compared after the search normalisation
(`media_catalog.text.normalize`: case, Unicode form, Arabic/Persian letter variants,
zero-width characters, whitespace), so spelling variants never hide a finding.

Beyond axe-core's `image-alt`/`image-redundant-alt` and WAVE's "suspicious alt", the audit looks
across the images of one article (one alt on different photos), across articles (one photo
under conflicting captions, the recycled-photo signal) and into the photo's own embedded
description (IPTC/XMP), and knows Persian and Arabic placeholder words.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import QueryError
from .models import DEFAULT_MAX_ALT_LENGTH, DEFAULT_THRESHOLD
from .present import escape, page, quoted
from .records import ImageRecord, OccurrenceRecord
from .store import Store, article_file
from .text import normalize
from .walk import kind_of

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    summary: str


RULES = {
    rule.id: rule
    for rule in (
        Rule("alt-missing", "error", "image has no alt attribute and is not marked decorative"),
        Rule(
            "decorative-but-described",
            "warning",
            "image marked decorative has a caption or leads the article",
        ),
        Rule("alt-placeholder", "error", "alt is only a placeholder word such as 'image' or 'عکس'"),
        Rule("alt-file-name", "error", "alt is a file name or URL"),
        Rule("alt-no-words", "error", "alt has only punctuation or digits"),
        Rule(
            "alt-redundant-prefix", "warning", "alt starts with 'image of', 'photo of' or similar"
        ),
        Rule("alt-too-long", "warning", "alt is longer than the limit"),
        Rule("alt-repeated-text", "warning", "alt says the same text twice"),
        Rule("alt-is-title", "warning", "alt repeats the article's title"),
        Rule("alt-is-caption", "warning", "alt repeats the image's own caption"),
        Rule("alt-is-context", "info", "alt repeats the text around the image"),
        Rule("alt-shared", "warning", "the same alt describes different images in one article"),
        Rule(
            "reuse-conflict", "warning", "the same photo is described differently in other articles"
        ),
        Rule(
            "credit-conflict",
            "warning",
            "the same photo is credited to a different agency or photographer elsewhere",
        ),
        Rule(
            "embedded-description-missing",
            "info",
            "the photo carries a description the article does not give",
        ),
        Rule(
            "embedded-description-conflict",
            "info",
            "the article's words share nothing with the photo's embedded description",
        ),
    )
}

_PLACEHOLDERS = {
    normalize(word)
    for word in (
        "image", "images", "img", "photo", "photos", "photograph", "picture", "pic", "graphic",
        "spacer", "thumbnail", "untitled", "placeholder", "logo", "icon", "banner",
        "تصویر", "تصاویر", "عکس", "عکسها", "عکس‌ها", "تصویر خبر", "عکس خبر",
        "صورة", "صوره", "الصورة", "صور", "صورة رقم",
        "תמונה", "图片", "圖片", "画像", "写真", "사진", "이미지",
    )
}  # fmt: skip
_PREFIXES = tuple(
    normalize(prefix) + " "
    for prefix in (
        "image of", "picture of", "photo of", "photograph of", "graphic of", "an image of",
        "a picture of", "a photo of", "an photo of", "screenshot of",
        "عکس از", "تصویری از", "تصویر از", "صورة ل", "صورة من", "صورة تظهر",
    )
)  # fmt: skip
_FILE_NAME = re.compile(
    r"^(?:\S*[/\\])?[\w.-]+\.(?:jpe?g|png|gif|webp|bmp|tiff?|avif|heic|svg)$"
    r"|^(?:https?:|www\.|data:)\S*$"
    r"|^(?:img|dsc|dscn|dcim|pxl|photo|image)[_-]?\d+\S*$",
    re.I,
)


@dataclass(frozen=True)
class Finding:
    rule: str
    article: str
    position: int | None
    src: str
    text: str | None
    message: str

    @property
    def severity(self) -> str:
        return RULES[self.rule].severity

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "article": self.article,
            "position": self.position,
            "src": self.src,
            "text": self.text,
            "message": self.message,
        }


@dataclass(frozen=True)
class AuditReport:
    """Findings grouped by article, worst article first; `summary` counts them."""

    findings: list[Finding]
    articles: list[dict[str, Any]]

    def worst(self) -> str | None:
        """The most severe severity found, or None."""
        found = {finding.severity for finding in self.findings}
        return next((severity for severity in SEVERITIES if severity in found), None)

    def summary(self) -> dict[str, Any]:
        by_rule = Counter(finding.rule for finding in self.findings)
        by_severity = Counter(finding.severity for finding in self.findings)
        return {
            "articles": len(self.articles),
            "images": sum(article["images"] for article in self.articles),
            "findings": len(self.findings),
            "by_severity": {severity: by_severity[severity] for severity in SEVERITIES},
            "by_rule": dict(sorted(by_rule.items())),
            "per_article": self.articles,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": [finding.to_dict() for finding in self.findings],
            "summary": self.summary(),
        }


def _words(text: str | None) -> str:
    return normalize(text or "")


def _has_letters(text: str) -> bool:
    return any(unicodedata.category(c)[0] == "L" for c in text)


def _repeats_itself(alt: str) -> bool:
    """The same run of three or more words twice, as in the seed article's alt text."""
    words = alt.split()
    half = len(words) // 2
    return len(words) >= 6 and len(words) % 2 == 0 and words[:half] == words[half:]


def _alt_findings(
    occurrence: OccurrenceRecord, max_alt_length: int, lead: bool
) -> list[tuple[str, str]]:
    """(rule, message) pairs for one occurrence's own alt, caption and context."""
    alt = occurrence.alt
    caption = _words(occurrence.caption)
    decorative = occurrence.decorative or alt == ""
    if alt is None and not decorative:
        return [("alt-missing", 'no alt text: describe the photo, or mark it decorative (alt="")')]
    if decorative:
        if caption or lead:
            why = "it has a caption" if caption else "it is the article's lead image"
            return [("decorative-but-described", f"marked decorative, but {why}: give it alt text")]
        return []
    folded = _words(alt)
    found = []
    if folded in _PLACEHOLDERS:
        found.append(("alt-placeholder", f"alt {quoted(alt)} is a placeholder, not a description"))
    elif _FILE_NAME.match(alt.strip()):
        found.append(("alt-file-name", "alt is a file name or URL, not a description"))
    elif not _has_letters(folded):
        found.append(("alt-no-words", "alt has no words, only punctuation or digits"))
    if folded.startswith(_PREFIXES):
        message = "screen readers already say it is an image: drop the prefix"
        found.append(("alt-redundant-prefix", message))
    if len(alt) > max_alt_length:
        message = (
            f"alt is {len(alt)} characters (limit {max_alt_length}): move detail to the caption"
        )
        found.append(("alt-too-long", message))
    if _repeats_itself(folded):
        found.append(("alt-repeated-text", "alt says the same words twice"))
    if folded and folded == _words(occurrence.article_title):
        message = "alt repeats the article title instead of describing this photo"
        found.append(("alt-is-title", message))
    if folded and folded == caption:
        found.append(("alt-is-caption", "alt repeats the caption: screen readers read both"))
    context = f"{_words(occurrence.context_before)} {_words(occurrence.context_after)}"
    if len(folded.split()) >= 3 and folded in context:
        found.append(("alt-is-context", "alt repeats the text next to the image"))
    return found


# (occurrence, rule id, message, the text judged)
_Pair = tuple[OccurrenceRecord, str, str, "str | None"]


def _shared_alts(occurrences: list[OccurrenceRecord]) -> list[_Pair]:
    """Occurrences whose alt also describes a different image in the same article."""
    images_by_alt: dict[tuple[str, str], set[str]] = defaultdict(set)
    for occurrence in occurrences:
        if folded := _words(occurrence.alt):
            image = occurrence.sha256 or f"src:{occurrence.src}"
            images_by_alt[occurrence.article, folded].add(image)
    found = []
    for occurrence in occurrences:
        images = images_by_alt.get((occurrence.article, _words(occurrence.alt)), set())
        if len(images) > 1:
            message = f"the same alt describes {len(images)} different images in this article"
            found.append((occurrence, "alt-shared", message, occurrence.alt))
    return found


def _reuse_conflicts(catalog: Store, threshold: int) -> list[_Pair]:
    """Occurrences of one photo (same bytes or near duplicates) whose caption or alt differs
    from the photo's caption or alt in another article, or whose credit differs from its
    credit in any other place."""
    from .similarity import duplicate_clusters  # numpy: loaded only when an audit runs

    found = []
    for cluster in duplicate_clusters(catalog, threshold):
        uses = [o for image in cluster.images for o in image.occurrences or ()]
        for field in ("caption", "alt"):
            articles: dict[str, set[str]] = defaultdict(set)
            written: dict[str, str] = {}
            for use in uses:
                if folded := _words(getattr(use, field)):
                    articles[folded].add(article_file(use.article))
                    written.setdefault(folded, getattr(use, field))
            for use in uses:
                mine, here = _words(getattr(use, field)), article_file(use.article)
                others = sorted(t for t, where in articles.items() if t != mine and where - {here})
                if mine and others:
                    message = (
                        f"the same photo has another {field} in another article: "
                        f"{quoted(written[others[0]])}"
                    )
                    found.append((use, "reuse-conflict", message, getattr(use, field)))
        credits: dict[str, OccurrenceRecord] = {}  # folded credit -> its first use
        for use in uses:
            if folded := _words(use.credit):
                credits.setdefault(folded, use)
        for use in uses:
            mine = _words(use.credit)
            other = next((first for folded, first in credits.items() if folded != mine), None)
            if mine and other is not None:
                message = (
                    f"the same photo is credited to {quoted(other.credit)} in "
                    f"{other.article} #{other.position}"
                )
                found.append((use, "credit-conflict", message, use.credit))
    return found


def _embedded(image: ImageRecord | None) -> str:
    """The photo's own description (IPTC/XMP caption or alt text), when the catalogue has it."""
    embedded = (image.embedded if image is not None else None) or {}
    keys = ("alt_text", "caption")
    return " ".join(str(embedded.get(key) or "") for key in keys).strip()


def _embedded_findings(occurrence: OccurrenceRecord, embedded: str) -> list[_Pair]:
    """The article's words against the photo's own embedded description."""
    said = f"{_words(occurrence.alt)} {_words(occurrence.caption)}".split()
    if not embedded or occurrence.decorative:
        return []
    if not said:
        message = f"the photo itself says: {quoted(embedded)}; use it for the alt or caption"
        return [(occurrence, "embedded-description-missing", message, embedded)]
    if not set(said) & set(_words(embedded).split()):
        message = f"the photo itself says: {quoted(embedded)}; check which description is right"
        text = occurrence.caption or occurrence.alt
        return [(occurrence, "embedded-description-conflict", message, text)]
    return []


def audit(
    catalog: Store,
    *,
    max_alt_length: int = DEFAULT_MAX_ALT_LENGTH,
    article: str | None = None,
    threshold: int = DEFAULT_THRESHOLD,
) -> AuditReport:
    """Judge every occurrence in `catalog` (or those of one `article` file, which must be an
    article in the catalogue: QueryError if not, so that a mistyped path, or an image's, does
    not pass as clean)."""
    if article is not None:
        source = catalog.source(article)
        if source is None:
            raise QueryError(
                f"{article} is not an article in {catalog.path}; check the path, or scan it "
                f"first: media-catalog scan {article} --db {catalog.path}"
            )
        if kind_of(Path(article)) == "image":
            raise QueryError(
                f"{article} is an image file in {catalog.path}, not an article; --article takes "
                "an HTML, Markdown, text or JSON Lines file that was scanned"
            )
    everything = list(catalog.occurrences())
    occurrences = [o for o in everything if o.kind != "meta" and not o.tracking]
    leads = {(o.article, o.sha256 or o.src) for o in everything if o.kind == "meta"}
    images = {image.sha256: image for image in catalog.images()}
    pairs: list[_Pair] = []
    for occurrence in occurrences:
        lead = (occurrence.article, occurrence.sha256 or occurrence.src) in leads
        judged = occurrence.alt if occurrence.alt else occurrence.caption
        found = _alt_findings(occurrence, max_alt_length, lead)
        pairs += [(occurrence, rule, message, judged) for rule, message in found]
        pairs += _embedded_findings(occurrence, _embedded(images.get(occurrence.sha256 or "")))
    pairs += _shared_alts(occurrences) + _reuse_conflicts(catalog, threshold)

    if article is not None:
        pairs = [p for p in pairs if article_file(p[0].article) == article]
        occurrences = [o for o in occurrences if article_file(o.article) == article]
    findings: dict[tuple[str, str, int | None], Finding] = {}
    for o, rule, message, text in pairs:
        finding = Finding(rule, o.article, o.position, o.src, text, message)
        findings.setdefault((rule, o.article, o.position), finding)
    return _report(list(findings.values()), occurrences)


def _report(findings: list[Finding], occurrences: list[OccurrenceRecord]) -> AuditReport:
    images = Counter(o.article for o in occurrences)
    by_article: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_article[finding.article].append(finding)
    articles = []
    for name in images:
        found = by_article.get(name, [])
        severities = Counter(finding.severity for finding in found)
        articles.append(
            {
                "article": name,
                "images": images[name],
                "findings": dict(sorted(Counter(f.rule for f in found).items())),
                "by_severity": {severity: severities[severity] for severity in SEVERITIES},
            }
        )
    articles.sort(key=lambda a: (*(-a["by_severity"][s] for s in SEVERITIES), a["article"]))
    order = {a["article"]: i for i, a in enumerate(articles)}
    findings.sort(
        key=lambda f: (
            order[f.article],
            f.position if f.position is not None else -1,
            SEVERITIES.index(f.severity),
            f.rule,
        )
    )
    return AuditReport(findings, articles)


_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; width: 100%; margin-bottom: 2rem; }
th, td { border-bottom: 1px solid #ddd; padding: .35rem .5rem; text-align: start;
  vertical-align: top; }
.error { color: #b00020; font-weight: 600; } .warning { color: #8a5a00; }
.info { color: #555; } code { font-size: 90%; }
"""


def to_html(report: AuditReport) -> str:
    """A self-contained HTML page of the report; every text is escaped, and each text cell
    takes its direction from its content (right-to-left captions display right to left)."""

    def cell(value: object, cls: str = "") -> str:
        text = "" if value is None else escape(value)
        return f'<td dir="auto" class="{cls}">{text}</td>'

    by_article: dict[str, list[Finding]] = defaultdict(list)
    for finding in report.findings:
        by_article[finding.article].append(finding)
    sections = []
    for article in report.articles:
        rows = "".join(
            "<tr>"
            + cell(f.position)
            + cell(f.severity, f.severity)
            + f"<td><code>{escape(f.rule)}</code></td>"
            + cell(f.text)
            + cell(f.message)
            + cell(f.src)
            + "</tr>"
            for f in by_article.get(article["article"], [])
        )
        counts = ", ".join(f"{n} {s}" for s, n in article["by_severity"].items() if n) or "clean"
        sections.append(
            f'<h2 dir="auto">{escape(article["article"])}</h2>'
            f"<p>{article['images']} images; {escape(counts)}</p>"
            + (
                "<table><tr><th>#</th><th>severity</th><th>rule</th><th>text</th>"
                f"<th>finding</th><th>src</th></tr>{rows}</table>"
                if rows
                else ""
            )
        )
    summary = report.summary()
    total = (
        f"{summary['findings']} findings in {summary['articles']} articles "
        f"({summary['images']} images)"
    )
    body = f"<h1>Alt-text and caption audit</h1>\n<p>{escape(total)}</p>\n" + "\n".join(sections)
    return page("media-catalog audit", body, _STYLE)
