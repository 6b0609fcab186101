"""Follow one request through every service and host: ``logs trace ID``.

An ID is a request id, a global request id or an instance UUID. The trace is the
closure of ids that appear together with it: a nova-api request id leads to the
global request id the client sent, which every service it called logged beside its
own request id. An instance UUID brings in every request that logged it. The
timeline groups consecutive records of one service and request into hops and names
the first hop that failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stacktender.errors import ConfigError
from stacktender.logs.record import LogRecord, level_number

if TYPE_CHECKING:
    from stacktender.logs.filters import LogFilter
    from stacktender.logs.index import LogIndex

Records = Callable[[], Iterable[LogRecord]]
_ERROR = level_number("ERROR")


@dataclass
class Hop:
    """Consecutive records of one service on one host under one request id."""

    host: str
    service: str
    request_id: str | None
    start: float
    end: float
    records: list[LogRecord] = field(default_factory=list)

    @property
    def level(self) -> str:
        return max(self.records, key=lambda r: r.levelno).level

    @property
    def failed(self) -> bool:
        return any(r.levelno >= _ERROR or r.traceback for r in self.records)

    @property
    def summary(self) -> str:
        """The first error of the hop, else its first INFO line (API request lines,
        "Claim successful"), else its first line: warnings such as deprecations are
        in most hops and tell nothing about this one."""
        chosen = (
            next((r for r in self.records if r.levelno >= _ERROR), None)
            or next((r for r in self.records if r.level == "INFO"), None)
            or self.records[0]
        )
        return chosen.message.split("\n", 1)[0]


@dataclass
class Trace:
    """The timeline of one request across services."""

    id: str
    ids: set[str]
    records: list[LogRecord]
    hops: list[Hop]

    @property
    def start(self) -> float:
        return self.records[0].ts

    @property
    def duration(self) -> float:
        return self.records[-1].ts - self.records[0].ts

    @property
    def failure(self) -> Hop | None:
        """The first hop with an ERROR, CRITICAL or a traceback."""
        return next((hop for hop in self.hops if hop.failed), None)

    def rows(self) -> list[dict[str, Any]]:
        """One row per hop: offset from the start, time since the previous hop, where."""
        rows = []
        previous = self.start
        for hop in self.hops:
            rows.append(
                {
                    "offset": round(hop.start - self.start, 3),
                    "gap": round(hop.start - previous, 3),
                    "took": round(hop.end - hop.start, 3),
                    "host": hop.host,
                    "service": hop.service,
                    "request_id": hop.request_id,
                    "level": hop.level,
                    "lines": len(hop.records),
                    "message": hop.summary,
                }
            )
            previous = hop.end
        return rows

    def as_dict(self) -> dict[str, Any]:
        failure = self.failure
        return {
            "id": self.id,
            "ids": sorted(self.ids),
            "start": self.records[0].as_dict()["time"],
            "duration": round(self.duration, 3),
            "services": sorted({r.service for r in self.records}),
            "hosts": sorted({r.host for r in self.records}),
            "failed": None
            if failure is None
            else {"service": failure.service, "host": failure.host, "message": failure.summary},
            "hops": self.rows(),
        }


def related_ids(records: Iterable[LogRecord], wanted: str) -> set[str]:
    """The closure of request ids linked to ``wanted`` (one pass, then in memory)."""
    links: set[tuple[str | None, str | None, str | None]] = set()
    for record in records:
        # a record with one id links nothing; keep only those that tie two ids together
        if record.global_request_id:
            if record.request_id or record.instance:
                links.add((record.request_id, record.global_request_id, record.instance))
        elif record.request_id and record.instance:
            links.add((record.request_id, None, record.instance))
    ids = {wanted}
    changed = True
    while changed:
        changed = False
        for request_id, global_id, instance in links:
            if request_id in ids or global_id in ids or (instance is not None and instance in ids):
                for found in (request_id, global_id):
                    if found and found not in ids:
                        ids.add(found)
                        changed = True
    return ids


def _matches(record: LogRecord, ids: set[str]) -> bool:
    return record.request_id in ids or record.global_request_id in ids or record.instance in ids


def hops_of(records: list[LogRecord]) -> list[Hop]:
    """Group time-ordered records into hops."""
    hops: list[Hop] = []
    open_hops: dict[tuple[str, str, str | None], Hop] = {}
    for record in records:
        key = (record.host, record.service, record.request_id)
        hop = open_hops.get(key)
        if hop is None or hops[-1] is not hop:
            hop = Hop(record.host, record.service, record.request_id, record.ts, record.ts)
            hops.append(hop)
            open_hops[key] = hop
        hop.records.append(record)
        hop.end = record.ts
    return hops


def trace_index(index: LogIndex, wanted: str, log_filter: LogFilter | None = None) -> Trace:
    """Trace ``wanted`` in a log index (SQL lookups instead of reading every record)."""
    wanted = _checked(wanted)
    ids = index.related_ids(wanted)
    found = index.trace_records(wanted, log_filter, ids=ids)
    if not found:
        raise ConfigError(f"{wanted} appears in none of the indexed logs")
    return Trace(wanted, ids, found, hops_of(found))


def _checked(wanted: str) -> str:
    wanted = wanted.strip()
    if not wanted:
        raise ConfigError("trace needs a request id, a global request id or an instance UUID")
    return wanted


def trace(records: Records, wanted: str) -> Trace:
    """Trace ``wanted`` through ``records()`` (called twice: it must give a fresh,
    time-ordered iterable each time, as MergedLogs or an index query does)."""
    wanted = _checked(wanted)
    ids = related_ids(records(), wanted)
    found = [r for r in records() if _matches(r, ids)]
    if not found:
        raise ConfigError(f"{wanted} appears in none of the logs read")
    return Trace(wanted, ids, found, hops_of(found))
