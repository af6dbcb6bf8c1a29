"""Publication times: ISO 8601 and the other formats feeds use, normalised to UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from dateutil import parser as _dateutil

_MAX_DATE_CHARS = 64


def parse_published(value: object) -> datetime | None:
    """Parse a feed's publication time to an aware UTC datetime.

    Accepts ISO 8601, RFC 2822 (``Sun, 19 Jun 2023 10:00:00 GMT``), other common formats and epoch
    seconds or milliseconds. A time without a zone is taken as UTC.

    Returns:
        The time in UTC, or None when it cannot be parsed.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_DATE_CHARS:
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = _dateutil.parse(text)
        except (ValueError, OverflowError, TypeError):
            return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def isoformat(moment: datetime) -> str:
    """Format an aware datetime as ISO 8601 in UTC with a ``Z`` suffix."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
