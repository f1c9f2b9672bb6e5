"""The search query language: one regex and a pure parser (in the spirit of beets).

A query is a list of terms, all of which must match an occurrence. Examples = the grammar:

    حسکه coffee            free words: each in the alt, caption, credit, title, article path
                           or article title
    "coffee stall"         a quoted phrase: the words together, in this order (a phrase
                           cannot hold a ", and a backslash does not escape one)
    alt:fire               the word in one text field: alt caption credit title article
                           article_title src
    caption:"market hall"  a phrase in one field
    format:jpeg            the image format, as Pillow names it (any case)
    camera:canon           in the EXIF make or model
    taken:2015..2016       EXIF date taken in a range (years, months or days: 2015-06..2015-07);
                           also taken:2015, taken:2015.., taken:..2016; a date that does
                           not exist (2015-02-30) or an empty range (2016..2015) is an error
    width:>1000            numbers: N, >N, >=N, <N, <=N, N..M with N <= M (also height:, uses:)
    uses:>1                the photo is used in more than one place
    dup:yes                the photo is in a near-duplicate cluster (yes or no)
    unresolved:yes         the reference did not lead to an image (yes or no)
    error:yes              an error was recorded for the reference (yes or no)
    credited:pattern       how its credit was found: markup, label, pattern, or none
    -alt:logo  -"stock"    a leading `-` negates any term

Text is compared after `media_catalog.text.normalize` (NFKC, case folding, Arabic/Persian
letter variants, digits, zero-width characters, tatweel, diacritics), on both sides.
A term that cannot be understood raises QueryError pointing at it.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from typing import NoReturn

from .errors import QueryError
from .text import normalize

TEXT_FIELDS = ("alt", "caption", "credit", "title", "article", "article_title", "src")
FREE_TEXT_FIELDS = ("alt", "caption", "credit", "title", "article", "article_title")
NUMBER_FIELDS = ("width", "height", "uses")
FLAG_FIELDS = ("dup", "unresolved", "error")
FIELDS = (*TEXT_FIELDS, "format", "camera", "taken", *NUMBER_FIELDS, *FLAG_FIELDS, "credited")
# The values of `credited:` (an occurrence's `credit_source`; "none": no credit).
CREDIT_SOURCES = ("markup", "label", "pattern", "none")

_TERM = re.compile(
    r"""(?P<neg>-)?
        (?:(?P<field>[A-Za-z_]+):)?
        (?:"(?P<phrase>[^"]*)(?P<close>"?)|(?P<bare>[^\s"]*))""",
    re.VERBOSE,
)
_NUMBER = re.compile(r"^(?:(?P<op>[<>]=?)?(?P<n>\d+)|(?P<lo>\d*)\.\.(?P<hi>\d*))$")
_DATE = r"\d{4}(?:-\d{2}(?:-\d{2})?)?"
_TAKEN = re.compile(rf"^(?:(?P<exact>{_DATE})|(?P<lo>{_DATE})?\.\.(?P<hi>{_DATE})?)$")
_FLAGS = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}


@dataclass(frozen=True)
class Term:
    """One parsed term. `value` depends on the field's type:

    text fields, camera, free words (field None): the normalised text to find;
    format: the upper-cased format; numbers: (low, high) inclusive, either may be None;
    taken: (low, high) ISO date prefixes, either may be None; flags: True or False;
    credited: "markup", "label", "pattern", or None (no credit).
    """

    field: str | None
    value: object
    negated: bool = False
    phrase: bool = False


MAX_TERMS = 200  # (SQLite's expression depth is 1,000)


def parse(query: str) -> list[Term]:
    """Parse `query` into terms; raise QueryError naming the offending term and its place."""
    terms = []
    position = 0
    while True:
        while position < len(query) and query[position].isspace():
            position += 1
        if position >= len(query):
            return terms
        match = _TERM.match(query, position)  # never None: the pattern matches ""
        assert match is not None
        end = match.end()
        if end < len(query) and not query[end].isspace():
            if match["phrase"] is None:  # a word stops only at a space or a quote: ab"c
                _fail(query, end, end + 1, 'unexpected "; put a phrase in a term of its own')
            _fail(  # "a"b or "say \"hi\"": the phrase ended at its second quote
                query,
                position,
                end,
                f'this phrase ends at its second " (character {end}), so the {query[end]!r} at '
                f'character {end + 1} is unexpected; a phrase cannot contain " (a backslash does '
                "not escape it): leave the inner quotes out, or put a space before the next term",
            )
        term = _term(query, match)
        if term is not None:
            terms.append(term)
            if len(terms) > MAX_TERMS:
                _fail(query, position, end, f"a query holds at most {MAX_TERMS} terms")
        position = end


def _term(query: str, match: re.Match[str]) -> Term | None:
    """The term `match` spans; None for a word that normalises to nothing (a lone ZWNJ)."""
    start, end = match.span()
    field = match["field"]
    negated = bool(match["neg"])
    if match["phrase"] is not None and not match["close"]:
        _fail(query, start, end, 'this phrase has no closing "')
    phrase = match["phrase"] is not None
    raw = match["phrase"] if phrase else match["bare"]
    if field is None:
        if not raw:
            _fail(query, start, end, "empty term")
        text = normalize(raw)
        return Term(None, text, negated, phrase) if text else None
    field = field.lower()
    if field not in FIELDS:
        _fail(
            query,
            start,
            end,
            f"unknown field {field!r}; known fields: {', '.join(FIELDS)} "
            '(to search for the text itself, put it in quotes: "…")',
        )
    if not raw.strip():
        _fail(query, start, end, f"{field}: needs a value")
    if field in TEXT_FIELDS or field == "camera":
        return Term(field, normalize(raw), negated, phrase)
    if field == "format":
        return Term(field, raw.strip().upper(), negated)
    if field in NUMBER_FIELDS:
        return Term(field, _number_range(query, start, end, field, raw.strip()), negated)
    if field == "taken":
        return Term(field, _date_range(query, start, end, raw.strip()), negated)
    if field == "credited":
        source = raw.strip().lower()
        if source not in CREDIT_SOURCES:
            _fail(query, start, end, f"credited: takes {', '.join(CREDIT_SOURCES)}")
        return Term(field, None if source == "none" else source, negated)
    flag = _FLAGS.get(raw.strip().lower())
    if flag is None:
        _fail(query, start, end, f"{field}: takes yes or no")
    return Term(field, flag, negated)


def _number_range(
    query: str, start: int, end: int, field: str, raw: str
) -> tuple[int | None, int | None]:
    match = _NUMBER.match(raw)
    if not match or raw == "..":
        _fail(query, start, end, f"{field}: takes a number: N, >N, >=N, <N, <=N or N..M")
    if any(len(digits) > 15 for digits in match.groups() if digits and digits.isdigit()):
        _fail(query, start, end, f"{field}: the number is too large (15 digits at most)")
    if match["n"] is None:
        low, high = match["lo"], match["hi"]
        if low and high and int(low) > int(high):
            _fail(query, start, end, _empty_range(field, raw))
        return (int(low) if low else None, int(high) if high else None)
    n = int(match["n"])
    return {
        None: (n, n),
        ">": (n + 1, None),
        ">=": (n, None),
        "<": (None, n - 1),
        "<=": (None, n),
    }[match["op"]]


def _date_range(query: str, start: int, end: int, raw: str) -> tuple[str | None, str | None]:
    match = _TAKEN.match(raw)
    if not match or raw == "..":
        _fail(query, start, end, "taken: takes a date or range: 2015, 2015-06, 2015..2016")
    for date in (match["exact"], match["lo"], match["hi"]):
        problem = _impossible(date) if date else None
        if problem:
            _fail(query, start, end, f"taken: {problem}")
    if match["exact"]:
        return (match["exact"], match["exact"])
    low, high = match["lo"], match["hi"]
    if low and high and low[: len(high)] > high[: len(low)]:  # 2015..2015-06 holds June 2015
        _fail(query, start, end, _empty_range("taken", raw))
    return (low, high)


def _impossible(date: str) -> str | None:
    """What makes the date prefix YYYY[-MM[-DD]] impossible in the calendar, or None."""
    year, month, day = [*map(int, date.split("-")), 1, 1][:3]
    if not 1 <= month <= 12:
        return f"month {month} does not exist ({date})"
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        return f"{date[:7]} has no day {day} ({date})"
    return None


def _empty_range(field: str, raw: str) -> str:
    return f"{field}: the range {raw} is empty: the first bound is above the second"


def _fail(query: str, start: int, end: int, message: str) -> NoReturn:
    term = query[start:end]
    pointer = " " * start + "^" * max(1, end - start)
    raise QueryError(f"{message} (term {term!r} at character {start + 1}):\n  {query}\n  {pointer}")
