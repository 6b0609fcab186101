"""Group tracebacks and ERROR lines: ``logs errors``.

A traceback is keyed by its exception type and the frame that raised it (file and
function, without the line number so that one bug stays one group across
releases); an ERROR line without a traceback by its message template. Each group
counts occurrences and keeps first and last seen, hosts, services and one example.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from stacktender.logs.record import LogRecord, level_number
from stacktender.logs.templates import mask

_ERROR = level_number("ERROR")
_FRAME = re.compile(r'^\s*File "([^"]+)", line \d+, in (\S+)')
_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Failure|Fault|Timeout|Interrupt"
                        r"|NotFound|Invalid\w*|Conflict|Forbidden|Unauthorized|\w*_Remote)|"
                        r"[a-z_][\w]*(?:\.[\w]+)+\.[A-Z]\w*)(?::\s?(.*))?$")  # fmt: skip
# Python's chained-exception separators: the last traceback is the one that surfaced
_CHAIN = ("During handling of the above exception", "The above exception was the direct cause")
_SITE = re.compile(r".*/(?:site|dist)-packages/")


@dataclass
class ErrorGroup:
    """Occurrences of one error."""

    exception: str
    frame: str
    count: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0
    hosts: set[str] = field(default_factory=set)
    services: set[str] = field(default_factory=set)
    example: LogRecord | None = None

    def as_row(self) -> dict[str, Any]:
        from datetime import UTC, datetime

        def iso(ts: float) -> str:
            return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"

        example = self.example
        return {
            "count": self.count,
            "exception": self.exception,
            "frame": self.frame,
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "hosts": ",".join(sorted(self.hosts)),
            "services": ",".join(sorted(self.services)),
            "example": "" if example is None else example.message.split("\n", 1)[0],
            "request_id": None if example is None else example.request_id,
        }


def classify(record: LogRecord) -> tuple[str, str]:
    """(exception type, raising frame) of a record; for a record without a
    traceback, ("-", its masked message)."""
    lines = record.traceback
    if _has_frames(lines):
        start = 0
        for index, line in enumerate(lines):
            if line.startswith(_CHAIN):
                start = index + 1
        exception, frame = "", ""
        for line in lines[start:]:
            found = _FRAME.match(line)
            if found is not None:
                frame = f"{_SITE.sub('', found.group(1))}:{found.group(2)}"
                continue
            stripped = line.strip()
            named = _EXCEPTION.match(stripped)
            if named is not None and not line.startswith(" "):
                exception = named.group(1)
        if exception or frame:
            return exception or "?", frame or "?"
    return "-", mask(record.message.split("\n", 1)[0])


def _has_frames(lines: list[str]) -> bool:
    # continuation lines indented like code (a warning's source line) are no traceback
    return any(_FRAME.match(line) for line in lines)


def group_errors(records: Iterable[LogRecord], min_level: str = "ERROR") -> list[ErrorGroup]:
    """Groups of records at ``min_level`` or above, or carrying a traceback, most
    frequent first."""
    floor = level_number(min_level)
    groups: dict[tuple[str, str], ErrorGroup] = {}
    for record in records:
        if record.levelno < floor and not _has_frames(record.traceback):
            continue
        key = classify(record)
        group = groups.get(key)
        if group is None:
            group = groups[key] = ErrorGroup(*key, first_seen=record.ts, example=record)
        group.count += 1
        group.first_seen = min(group.first_seen, record.ts)
        group.last_seen = max(group.last_seen, record.ts)
        group.hosts.add(record.host)
        group.services.add(record.service)
        if record.traceback and (group.example is None or not group.example.traceback):
            group.example = record
    return sorted(groups.values(), key=lambda g: (-g.count, g.first_seen))
