"""The parsed log line every logs command works on, and the counters of a parse."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# oslo.log levels (TRACE and AUDIT appear in older releases) in increasing severity.
LEVELS: dict[str, int] = {
    "TRACE": 5,
    "DEBUG": 10,
    "INFO": 20,
    "AUDIT": 25,
    "NOTICE": 25,
    "WARNING": 30,
    "WARN": 30,
    "ERROR": 40,
    "CRITICAL": 50,
    "FATAL": 50,
}


def level_number(level: str) -> int:
    """Severity of a level name; unknown names rank as INFO."""
    return LEVELS.get(level.upper(), 20)


@dataclass(slots=True)
class LogRecord:
    """One log entry: its first line and the continuation lines that belong to it.

    ``ts`` is seconds since the epoch in UTC after time-zone and clock-skew
    correction. A line no format understood is kept as a record with
    ``parsed=False`` and the time of the record before it, so it stays in place.
    """

    ts: float
    host: str
    service: str
    level: str = ""
    logger: str = ""
    pid: int | None = None
    request_id: str | None = None
    global_request_id: str | None = None
    user: str | None = None
    project: str | None = None
    instance: str | None = None
    message: str = ""
    lines: list[str] = field(default_factory=list)
    traceback: list[str] = field(default_factory=list)
    source: str = ""
    lineno: int = 0
    parsed: bool = True
    fmt: str = ""

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.ts, UTC)

    @property
    def levelno(self) -> int:
        return level_number(self.level)

    @property
    def text(self) -> str:
        """The entry as written, every line of it."""
        return "\n".join(self.lines)

    def request_ids(self) -> tuple[str, ...]:
        return tuple(i for i in (self.request_id, self.global_request_id) if i)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (time as ISO 8601 UTC)."""
        return {
            "time": self.time.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "host": self.host,
            "service": self.service,
            "level": self.level,
            "logger": self.logger,
            "pid": self.pid,
            "request_id": self.request_id,
            "global_request_id": self.global_request_id,
            "user": self.user,
            "project": self.project,
            "instance": self.instance,
            "message": self.message,
            "traceback": list(self.traceback),
            "source": self.source,
            "lineno": self.lineno,
            "parsed": self.parsed,
        }


@dataclass(slots=True)
class ParseStats:
    """What a parse saw; nothing is dropped without being counted here."""

    lines: int = 0
    records: int = 0
    continuation: int = 0
    unparsed: int = 0
    decode_errors: int = 0
    oversized: int = 0
    errors: list[str] = field(default_factory=list)

    @classmethod
    def total(cls, parts: Iterable[ParseStats]) -> ParseStats:
        """The sum of several sources' counters."""
        summed = cls()
        for part in parts:
            summed.add(part)
        return summed

    def add(self, other: ParseStats) -> None:
        self.lines += other.lines
        self.records += other.records
        self.continuation += other.continuation
        self.unparsed += other.unparsed
        self.decode_errors += other.decode_errors
        self.oversized += other.oversized
        self.errors.extend(other.errors)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "records": self.records,
            "continuation": self.continuation,
            "unparsed": self.unparsed,
            "decode_errors": self.decode_errors,
            "oversized": self.oversized,
            "errors": list(self.errors),
        }
