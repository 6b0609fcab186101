"""Points in time as operators type them: ``30m``, ``24h``, ``7d``, ``2w`` ago, or ISO 8601."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

__all__ = ["parse_age", "parse_since"]

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)


def parse_age(text: str) -> timedelta:
    """``90s``, ``30m``, ``24h``, ``7d`` or ``2w`` as a timedelta; ValueError otherwise."""
    match = _AGE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not an age such as 30m, 24h, 7d or 2w")
    return timedelta(**{_UNITS[match.group(2).lower()]: float(match.group(1))})


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """An age (``24h`` means 24 hours before now) or an ISO 8601 date/time, as aware UTC.

    A time without a zone is UTC, the zone stacktender shows times in."""
    now = now or datetime.now(UTC)
    try:
        return now - parse_age(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is neither an age (30m, 24h, 7d, 2w) nor an ISO time (2026-01-31T12:00)"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
