"""The one text normalisation used wherever text is compared or searched.

Unicode NFKC, case folding, Arabic/Persian letter variants folded (ي→ی, ى→ی, ك→ک, ة→ه,
أ/إ/آ/ٱ→ا, ؤ→و, ئ→ی), Arabic-Indic and Persian digits to ASCII, zero-width characters and
tatweel removed, diacritics (combining marks, Arabic harakat) dropped, NUL characters (which
C-string metadata leaves at the end of a value) taken as spaces, whitespace collapsed.
"""

from __future__ import annotations

import functools
import re
import unicodedata

_FOLD = {
    "ي": "ی",
    "ى": "ی",
    "ئ": "ی",
    "ك": "ک",
    "ة": "ه",
    "أ": "ا",
    "إ": "ا",
    "آ": "ا",
    "ٱ": "ا",
    "ؤ": "و",
    **{chr(0x0660 + d): str(d) for d in range(10)},
    **{chr(0x06F0 + d): str(d) for d in range(10)},
    "\u0640": "",  # tatweel
    "\u200b": "",  # zero-width space
    "\u200c": "",  # zero-width non-joiner
    "\u200d": "",  # zero-width joiner
    "\u2060": "",  # word joiner
    "\ufeff": "",  # zero-width no-break space
}
# Dropping combining marks and folding letters with regular expressions keeps the work in C,
# several times faster than testing each character in Python; it matters because a search in
# the JSON store, and an import into SQLite, normalise every text field of a catalogue.
# Combining marks (canonical combining class > 0) all lie below U+20000 (tests/test_text.py
# checks this for the running Python); those of the Basic Multilingual Plane get a class of
# their own, which `re` tests in one step, while a class that also holds higher code points
# is tested range by range.
_FOLDED = re.compile(f"[{''.join(_FOLD)}]")
_ABOVE_BMP = re.compile("[\U00010000-\U0010ffff]")


@functools.cache
def _marks() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The combining marks below U+10000, and those from U+10000 to U+1FFFF."""

    def one_class(low: int, high: int) -> re.Pattern[str]:
        marks = "".join(chr(c) for c in range(low, high) if unicodedata.combining(chr(c)))
        return re.compile(f"[{marks}]")

    return one_class(0, 0x10000), one_class(0x10000, 0x20000)


def _fold(match: re.Match[str]) -> str:
    return _FOLD[match.group()]


def normalize(text: str) -> str:
    """Fold `text` for comparison: equal after normalize() means "the same words"."""
    if "\x00" in text:  # SQL's LIKE, which some searches in SQLite use, stops at a NUL
        text = text.replace("\x00", " ")
    if text.isascii():  # every step below leaves ASCII as it is, but for the case
        return " ".join(text.lower().split())
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    basic, higher = _marks()
    text = basic.sub("", text)
    if _ABOVE_BMP.search(text):
        text = higher.sub("", text)
    text = unicodedata.normalize("NFC", text)
    return " ".join(_FOLDED.sub(_fold, text).split())
