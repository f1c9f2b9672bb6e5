"""When an image was used: the date of each use, for a photo's history and its first use.

Only what the catalogue itself records dates a use, so that an export imported elsewhere
dates it alike: not a file's modification time (a copy or a checkout has today's)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from .records import ImageRecord, OccurrenceRecord, place

UNDATED = (1, datetime.max.replace(tzinfo=timezone.utc))
# ISO 8601 as pages write it, extended or basic: 2024-03-12, 2024-03-12T10:00:00.5+01:00,
# 20240312T1000Z … (one parser for every Python version: 3.10's fromisoformat reads less)
_ISO = re.compile(
    r"(\d{4})-?(\d\d)-?(\d\d)"
    r"(?:[T ](\d\d):?(\d\d)(?::?(\d\d)(?:[.,](\d+))?)?)?"
    r"\s*(Z|[+-]\d\d(?::?\d\d)?)?",
    re.ASCII,
)


def _iso(value: str) -> datetime:
    found = _ISO.fullmatch(value)
    if found is None:
        raise ValueError(value)
    year, month, day, hour, minute, second, fraction, zone = found.groups()
    moment = datetime(
        int(year),
        int(month),
        int(day),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        int((fraction or "0")[:6].ljust(6, "0")),
    )
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        return moment.replace(tzinfo=timezone(sign * offset))
    return moment.replace(tzinfo=timezone.utc)  # Z, or no zone: taken as UTC


def moment(value: Any) -> tuple[int, datetime]:
    """Sort key of a date as pages write it (ISO 8601, or as in e-mail headers), in UTC; a
    date without a zone is taken as UTC; what is no date, or out of range, sorts last
    (UNDATED)."""
    if isinstance(value, str) and value.strip():
        for parse in (_iso, parsedate_to_datetime):
            try:
                found = parse(value.strip())
                if found.tzinfo is None:
                    found = found.replace(tzinfo=timezone.utc)
                return 0, found.astimezone(timezone.utc)
            except (TypeError, ValueError, IndexError, OverflowError):
                continue
    return UNDATED


def used_when(use: OccurrenceRecord) -> tuple[str | None, str | None]:
    """(when, dated_by) of a use: the article's own date ("article"), else when its bytes
    were fetched or archived ("captured"), else (None, None). (When the photo was taken only
    bounds a use from below: it never dates one.)"""
    dated = use.article_date
    if dated and moment(dated) < UNDATED:
        return dated, "article"
    captured = (use.origin or {}).get("time")
    return (captured, "captured") if captured else (None, None)


def chronological(use: dict[str, Any]) -> tuple[Any, ...]:
    """Sort key of a dated use (`{"when", "article", "position", …}`): oldest first, undated
    last, then by place."""
    return (moment(use["when"]), *place(use))


def first_use(images: list[ImageRecord]) -> dict[str, Any] | None:
    """The earliest use of `images` (image objects) in an article: `{"when", "dated_by",
    "article", "position"}` (undated uses last, then by place), or None when none is used."""
    uses = [
        dict(zip(("when", "dated_by"), used_when(use), strict=True))
        | {"article": use.article, "position": use.position}
        for image in images
        for use in image.occurrences or ()
    ]
    return min(uses, key=chronological, default=None)
