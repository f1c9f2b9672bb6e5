"""The one text normalisation used wherever text is compared or searched.

Unicode NFKC, case folding, Arabic/Persian letter variants folded (ي→ی, ى→ی, ك→ک, ة→ه,
أ/إ/آ/ٱ→ا, ؤ→و, ئ→ی), Arabic-Indic and Persian digits to ASCII, zero-width characters and
tatweel removed, diacritics (combining marks, Arabic harakat) dropped, whitespace collapsed.
"""

from __future__ import annotations

import unicodedata

_LETTERS = str.maketrans(
    {
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
        "\u0640": None,  # tatweel
        "\u200b": None,  # zero-width space
        "\u200c": None,  # zero-width non-joiner
        "\u200d": None,  # zero-width joiner
        "\u2060": None,  # word joiner
        "\ufeff": None,  # zero-width no-break space
    }
)


def normalize(text: str) -> str:
    """Fold `text` for comparison: equal after normalize() means "the same words"."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = unicodedata.normalize("NFC", text).translate(_LETTERS)
    return " ".join(text.split())
