"""When an image was used: the date of each use, for a photo's history and its first use.

Only what the catalogue itself records dates a use, so that an export imported elsewhere
dates it alike: not a file's modification time (a copy or a checkout has today's)."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

UNDATED = (1, datetime.max.replace(tzinfo=timezone.utc))


def moment(value: str | None) -> tuple[int, datetime]:
    """Sort key of a date as pages write it (ISO 8601, or as in e-mail headers), in UTC; a
    date without a zone is taken as UTC; what no parser reads sorts last (UNDATED)."""
    if value:
        for parse in (datetime.fromisoformat, parsedate_to_datetime):
            try:
                found = parse(value.strip().replace("Z", "+00:00"))
            except (TypeError, ValueError, IndexError):
                continue
            if found.tzinfo is None:
                found = found.replace(tzinfo=timezone.utc)
            return 0, found.astimezone(timezone.utc)
    return UNDATED


def used_when(use: dict[str, Any]) -> tuple[str | None, str | None]:
    """(when, dated_by) of a use (an occurrence object): the article's own date ("article"),
    else when its bytes were fetched or archived ("captured"), else (None, None). (When the
    photo was taken only bounds a use from below: it never dates one.)"""
    if use.get("article_date") and moment(use["article_date"]) < UNDATED:
        return use["article_date"], "article"
    if (use.get("origin") or {}).get("time"):
        return use["origin"]["time"], "captured"
    return None, None


def first_use(images: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The earliest use of `images` (image objects) in an article: `{"when", "dated_by",
    "article", "position"}` (undated uses last, then by place), or None when none is used."""
    found = None
    for image in images:
        for use in image["occurrences"]:
            when, dated_by = used_when(use)
            position = use["position"]
            key = (moment(when), use["article"], position is None, position or 0)
            if found is None or key < found[0]:
                first = {"when": when, "dated_by": dated_by, "article": use["article"]}
                found = key, {**first, "position": position}
    return found[1] if found else None
