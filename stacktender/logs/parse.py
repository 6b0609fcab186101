"""Parse what oslo.log writes into LogRecords, streaming, one source at a time.

Understood: the context and default text formats (``[req-... user project ...]``,
``[None req-... ...]``, ``[-]``, global request ids, ``[instance: UUID]``), the
traceback lines oslo.log writes with ``logging_exception_prefix`` (grouped into the
record they belong to), oslo.log's JSON formatter, and syslog or journald prefixes
before any of these. Lines without a prefix after a record are its continuation
(multi-line messages, raw tracebacks); other lines are kept as unparsed records.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import datetime, tzinfo
from typing import Any

from stacktender.logs.record import LogRecord, ParseStats

# "2026-11-25 16:00:00.123 1234 INFO nova.compute.manager [ctx] [instance: U] message",
# the context being "[-]", "[req-R user project ...]", "[None req-R ...]" or
# "[req-G req-R ...]" (G: global request id). One regex, because per-line Python work
# is what limits the throughput of every logs command.
_OSLO = re.compile(
    r"(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)(?:[.,](\d{1,9}))?(Z|[+-]\d\d:?\d\d)? +"
    r"(\d+) +([A-Z]+) +(\S+) ?"
    r"(?:(\[-\]|\[(?:(None|req-[^\s\]]+) )?(req-[^\s\]]+)"
    r"(?: ([^\s\]]+))?(?: ([^\s\]]+))?[^\]]*\]) ?)?"
    r"(?:\[instance: ([^\]\s]+)\] ?)?(.*)",
    re.DOTALL,
)
_OSLO_PREFIX = re.compile(
    r"(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)(?:[.,](\d{1,9}))?(Z|[+-]\d\d:?\d\d)? +"
    r"(\d+) +([A-Z]+) +(\S+) ?(.*)",
    re.DOTALL,
)
# The same without a time stamp, after a syslog prefix that carries the time.
_OSLO_NO_TIME = re.compile(
    r"(?:(\d+) )?(TRACE|DEBUG|INFO|AUDIT|WARNING|ERROR|CRITICAL) (\S+) ?(.*)"
)
_SYSLOG = re.compile(
    r"([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?"
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)"
    r" (\S+) ([^\s\[:]+)(?:\[(\d+)\])?: ?(.*)",
    re.DOTALL,
)
_INSTANCE = "[instance: "
_SCALE = [10**n for n in range(10)]
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


class _Clock:
    """Turns text times into epoch seconds; caches per second because lines of one
    second share their prefix and datetime arithmetic dominates parsing otherwise."""

    __slots__ = ("_cache", "skew", "tz")

    def __init__(self, tz: tzinfo | None, skew: float) -> None:
        self.tz = tz
        self.skew = skew
        self._cache: dict[str, float] = {}

    def seconds(self, text: str, offset: str | None = None) -> float:
        key = text if offset is None else text + offset
        base = self._cache.get(key)
        if base is None:
            moment = datetime.fromisoformat(text.replace(" ", "T") + (offset or ""))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=self.tz) if self.tz else moment.astimezone()
            base = moment.timestamp() + self.skew
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = base
        return base


def _fraction(digits: str | None) -> float:
    return int(digits) / 10 ** len(digits) if digits else 0.0


def _context(rest: str, record: LogRecord) -> str:
    """Fill request ids, user, project and instance from the bracketed prefix of
    ``rest`` and return the message after it."""
    if rest.startswith("[") and not rest.startswith(_INSTANCE):
        end = rest.find("]")
        if end > 0:
            inner = rest[1:end].split()
            rest = rest[end + 2 :] if rest[end + 1 : end + 2] == " " else rest[end + 1 :]
            if inner and inner != ["-"]:
                if len(inner) > 1 and (inner[0] == "None" or inner[1].startswith("req-")):
                    if inner[0] != "None":
                        record.global_request_id = inner[0]
                    inner = inner[1:]
                if inner[0].startswith("req-"):
                    record.request_id = inner[0]
                    if len(inner) > 1 and inner[1] not in ("-", "None"):
                        record.user = inner[1]
                    if len(inner) > 2 and inner[2] not in ("-", "None"):
                        record.project = inner[2]
    if rest.startswith(_INSTANCE):
        end = rest.find("]")
        if end > 0:
            record.instance = rest[len(_INSTANCE) : end]
            rest = rest[end + 2 :]
    return rest


class LineParser:
    """Parses the lines of one source (a file, a stream) in order.

    Feed lines with :meth:`feed`; finished records come out of it and of
    :meth:`close`. A record is finished when the next record starts, because
    continuation and traceback lines follow their head line.
    """

    def __init__(
        self,
        *,
        host: str,
        service: str,
        source: str = "",
        tz: tzinfo | None = None,
        skew: float = 0.0,
        year: int | None = None,
        stats: ParseStats | None = None,
    ) -> None:
        self.host = host
        self.service = service
        self.source = source
        self.year = year or datetime.now().year
        self.stats = stats if stats is not None else ParseStats()
        self._clock = _Clock(tz, skew)
        self._current: LogRecord | None = None
        # (time text, pid, logger) of the current record: traceback lines repeat them
        self._key: tuple[str, str | None, int, str] | None = None
        self._last_ts = 0.0

    def feed(self, line: str, lineno: int = 0) -> LogRecord | None:
        """Take one line (without its newline); return a record it completed, if any."""
        stats = self.stats
        stats.lines += 1
        match = _OSLO.match(line)
        if match is not None:
            (stamp, frac, offset, pid_text, level, logger, context, global_id, request_id,
             user, project, instance, message) = match.groups()  # fmt: skip
            pid = int(pid_text)
            key = (stamp, frac, pid, logger)
            current = self._current
            if current is not None and context is None and level == "ERROR" and self._key == key:
                current.lines.append(line)
                current.traceback.append(message)
                stats.continuation += 1
                return None
            ts = self._clock.seconds(stamp, offset)
            if frac:
                ts += int(frac) / _SCALE[len(frac)]
            record = LogRecord(
                ts, self.host, self.service, level, logger, pid, request_id,
                None if global_id == "None" else global_id,
                None if user == "-" or user == "None" else user,
                None if project == "-" or project == "None" else project,
                instance, message, [line], [], self.source, lineno, True, "oslo",
            )  # fmt: skip
            return self._start(record, key)
        first = line[:1]
        if first == "{":
            record_or_none = self._json(line, lineno)
            if record_or_none is not None:
                return self._start(record_or_none, None)
        elif first.isalpha() or first.isdigit():
            record_or_none = self._syslog(line, lineno)
            if record_or_none is not None:
                return self._start(record_or_none, None)
        current = self._current
        if current is not None and current.parsed and "\x00" not in line and "\ufffd" not in line:
            current.lines.append(line)
            if line.startswith(("Traceback", "  ")) or current.traceback:
                current.traceback.append(line)
            else:
                current.message += "\n" + line
            stats.continuation += 1
            return None
        stats.unparsed += 1
        record = LogRecord(
            self._last_ts, self.host, self.service, message=line, lines=[line],
            source=self.source, lineno=lineno, parsed=False,
        )  # fmt: skip
        return self._start(record, None)

    def close(self) -> LogRecord | None:
        """Return the last record, if one is pending."""
        record, self._current = self._current, None
        return record

    def _start(
        self, record: LogRecord, key: tuple[str, str | None, int, str] | None
    ) -> LogRecord | None:
        finished = self._current
        self._current = record
        self._key = key
        self._last_ts = record.ts
        if record.parsed:
            self.stats.records += 1
        return finished

    def _json(self, line: str, lineno: int) -> LogRecord | None:
        try:
            data = json.loads(line)
        except ValueError:
            return None
        if not isinstance(data, dict) or "created" not in data or "levelname" not in data:
            return None
        try:
            ts = float(data["created"]) + self._clock.skew
        except (TypeError, ValueError):
            return None
        context = data.get("context") or {}
        extra = data.get("extra") or {}
        record = LogRecord(
            ts,
            self.host if self.host != "localhost" else str(data.get("hostname") or self.host),
            self.service,
            str(data.get("levelname") or ""),
            str(data.get("name") or ""),
            _int(data.get("process")),
            request_id=_str(context.get("request_id")),
            global_request_id=_str(context.get("global_request_id")),
            user=_str(context.get("user_name") or context.get("user")),
            project=_str(context.get("project_name") or context.get("project")),
            instance=_instance(extra, context),
            message=str(data.get("message") or ""),
            lines=[line],
            traceback=[str(t) for t in data.get("traceback") or []],
            source=self.source,
            lineno=lineno,
            fmt="json",
        )
        return record

    def _syslog(self, line: str, lineno: int) -> LogRecord | None:
        match = _SYSLOG.match(line)
        if match is None:
            return None
        stamp, host, program, pid_text, rest = match.groups()
        inner = _OSLO_PREFIX.match(rest)
        record = LogRecord(
            0.0, host, program, source=self.source, lineno=lineno, fmt="syslog", lines=[line],
            pid=int(pid_text) if pid_text else None,
        )  # fmt: skip
        if inner is not None:
            istamp, frac, offset, pid, level, logger, text = inner.groups()
            record.ts = self._clock.seconds(istamp, offset) + _fraction(frac)
            record.pid, record.level, record.logger = int(pid), level, logger
            record.message = _context(text, record)
            return record
        record.ts = self._syslog_time(stamp)
        bare = _OSLO_NO_TIME.match(rest)
        if bare is not None:
            pid, level, logger, text = bare.groups()
            record.pid = int(pid) if pid else record.pid
            record.level, record.logger = level, logger
            record.message = _context(text, record)
        else:
            record.message = rest
        return record

    def _syslog_time(self, stamp: str) -> float:
        if stamp[0].isdigit():
            date, _, clock = stamp.partition("T")
            offset = re.search(r"(Z|[+-]\d\d:?\d\d)$", clock)
            zone = offset.group(1) if offset else None
            clock = clock[: offset.start()] if offset else clock
            whole, _, frac = clock.partition(".")
            return self._clock.seconds(f"{date} {whole}", zone) + _fraction(frac)
        month, day, clock = stamp.split()
        whole, _, frac = clock.partition(".")
        text = f"{self.year:04d}-{_MONTHS[month]:02d}-{int(day):02d} {whole}"
        return self._clock.seconds(text) + _fraction(frac)


def _str(value: Any) -> str | None:
    return str(value) if value not in (None, "", "-") else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _instance(extra: dict[str, Any], context: dict[str, Any]) -> str | None:
    for holder in (extra, context):
        value = holder.get("instance") or holder.get("instance_uuid")
        if isinstance(value, dict):
            value = value.get("uuid")
        if value:
            return str(value)
    return None


def parse_lines(
    lines: Iterable[str],
    *,
    host: str,
    service: str,
    source: str = "",
    tz: tzinfo | None = None,
    skew: float = 0.0,
    year: int | None = None,
    stats: ParseStats | None = None,
) -> Iterator[LogRecord]:
    """Parse the lines of one source, in order, into records."""
    parser = LineParser(
        host=host, service=service, source=source, tz=tz, skew=skew, year=year, stats=stats
    )
    for lineno, line in enumerate(lines, 1):
        done = parser.feed(line, lineno)
        if done is not None:
            yield done
    last = parser.close()
    if last is not None:
        yield last
