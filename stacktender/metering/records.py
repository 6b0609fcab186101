"""The usage record: what ingestion produces and rating consumes (pure data).

One record is one resource in one unchanging state over ``[start, end)``: an instance
of one flavor in one power state, a volume of one size and type, one floating IP.
A resize, a stop or an extend closes one record and opens the next, so rating is a
multiplication per record and never needs to know about events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from stacktender.errors import StacktenderError

__all__ = ["Meter", "Period", "PeriodError", "UsageRecord"]


class Meter(StrEnum):
    """What is metered; a price sheet prices each one."""

    INSTANCE = "instance"  # seconds, per flavor (and state)
    VOLUME = "volume"  # GB-seconds, per volume type
    SNAPSHOT = "snapshot"  # GB-seconds
    BACKUP = "backup"  # GB-seconds
    IMAGE = "image"  # GB-seconds of image storage
    FLOATING_IP = "floating_ip"  # seconds


@dataclass(frozen=True)
class UsageRecord:
    """One resource in one state over ``[start, end)``, already clipped to a period."""

    meter: Meter
    project_id: str
    user_id: str | None
    resource_id: str
    start: datetime
    end: datetime
    flavor: str | None = None  # INSTANCE: the flavor's name
    state: str | None = None  # INSTANCE: active, stopped, shelved, ... (sheets may price it)
    volume_type: str | None = None  # VOLUME
    size_gb: Decimal = Decimal(0)  # VOLUME, SNAPSHOT, BACKUP, IMAGE
    open: bool = False  # no deletion seen: the record runs to the end of what was asked
    name: str | None = None  # the resource's display name when an event carried one

    @property
    def seconds(self) -> Decimal:
        """Length of the record in seconds, exact to the microsecond."""
        delta = self.end - self.start
        return Decimal(delta.days * 86_400 + delta.seconds) + Decimal(delta.microseconds) / (
            Decimal(1_000_000)
        )


class PeriodError(StacktenderError):
    """A billing period that is not ``YYYY-MM`` (or a valid month)."""


_PERIOD = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True)
class Period:
    """A calendar month in UTC, ``[start, end)``."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        """``"2026-11"`` -> Period(2026, 11); anything else raises PeriodError."""
        match = _PERIOD.fullmatch(text.strip())
        if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1970:
            raise PeriodError(f"unknown period {text!r}: expected YYYY-MM, such as 2026-11")
        return cls(int(match[1]), int(match[2]))

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        year, month = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        return datetime(year, month, 1, tzinfo=UTC)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"
