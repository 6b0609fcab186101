"""``--since`` and ``--older-than`` values: ages and ISO times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stacktender.store.timespec import parse_age, parse_since

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "age"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("1.5h", timedelta(minutes=90)),
        (" 7D ", timedelta(days=7)),
    ],
)
def test_ages(text: str, age: timedelta) -> None:
    assert parse_age(text) == age
    assert parse_since(text, NOW) == NOW - age


@pytest.mark.parametrize(
    ("text", "when"),
    [
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
        ("2026-03-01T08:30", datetime(2026, 3, 1, 8, 30, tzinfo=UTC)),
        ("2026-03-01T08:30:00Z", datetime(2026, 3, 1, 8, 30, tzinfo=UTC)),
        ("2026-03-01T10:30:00+02:00", datetime(2026, 3, 1, 8, 30, tzinfo=UTC)),
    ],
)
def test_iso_times_are_utc(text: str, when: datetime) -> None:
    parsed = parse_since(text, NOW)
    assert parsed == when
    assert parsed.utcoffset() == UTC.utcoffset(None)


@pytest.mark.parametrize("text", ["", "7", "7y", "yesterday", "-1d", "2026-13-01"])
def test_nonsense_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="ISO time"):
        parse_since(text, NOW)
    with pytest.raises(ValueError, match="age"):
        parse_age(text)
