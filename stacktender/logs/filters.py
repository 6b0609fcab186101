"""The filters every logs command takes, and the time expressions they accept."""

from __future__ import annotations

import fnmatch
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from stacktender.errors import ConfigError
from stacktender.logs.record import LogRecord, level_number
from stacktender.store.timespec import parse_age


def parse_time(text: str, *, now: float | None = None, tz: tzinfo | None = None) -> float:
    """``10m``, ``2h``, ``1d`` (before now) or an ISO date/time -> epoch seconds.

    An absolute time without an offset is read in ``tz`` (default: this machine's),
    as the log files it is compared with are written in local time.
    """
    try:
        return (time.time() if now is None else now) - parse_age(text).total_seconds()
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"bad time {text!r}: use 10m, 2h, 1d or an ISO time such as 2026-11-25T16:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz) if tz else moment.astimezone()
    return moment.timestamp()


@dataclass
class LogFilter:
    """Which records a logs command keeps. Empty fields match everything.

    Services and hosts are shell-style patterns (``nova-*``); ids match exactly.
    """

    min_level: str | None = None
    services: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    since: float | None = None
    until: float | None = None
    request_id: str | None = None
    global_request_id: str | None = None
    instance: str | None = None
    project: str | None = None
    user: str | None = None
    regex: str | None = None
    _pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False)
    _min: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.regex:
            try:
                self._pattern = re.compile(self.regex)
            except re.error as exc:
                raise ConfigError(f"bad --grep pattern {self.regex!r}: {exc}") from None
        if self.min_level:
            from stacktender.logs.record import LEVELS

            if self.min_level.upper() not in LEVELS:
                known = ", ".join(sorted(LEVELS, key=LEVELS.__getitem__))
                raise ConfigError(f"unknown level {self.min_level!r}: use one of {known}")
            self._min = level_number(self.min_level)

    @property
    def empty(self) -> bool:
        if self.since is not None or self.until is not None:  # 0.0 is a time, not "unset"
            return False
        return not any(
            (self._min, self.services, self.hosts, self.request_id, self.global_request_id,
             self.instance, self.project, self.user, self._pattern)
        )  # fmt: skip

    def wants_source(self, host: str, service: str) -> bool:
        """Whether a source can hold matching records at all (skip it unread if not)."""
        if self.services and service and not _any_match(service, self.services):
            return False
        return not (self.hosts and not _any_match(host, self.hosts))

    def __call__(self, record: LogRecord) -> bool:
        if self._min and record.levelno < self._min:
            return False
        if self.since is not None and record.ts < self.since:
            return False
        if self.until is not None and record.ts > self.until:
            return False
        if self.request_id and record.request_id != self.request_id:
            return False
        if self.global_request_id and record.global_request_id != self.global_request_id:
            return False
        if self.instance and record.instance != self.instance:
            return False
        if self.project and record.project != self.project:
            return False
        if self.user and record.user != self.user:
            return False
        if self.services and not _any_match(record.service, self.services):
            return False
        if self.hosts and not _any_match(record.host, self.hosts):
            return False
        return not (self._pattern is not None and not self._pattern.search(record.text))


def _any_match(value: str, patterns: tuple[str, ...]) -> bool:
    return any(value == p or fnmatch.fnmatchcase(value, p) for p in patterns)
