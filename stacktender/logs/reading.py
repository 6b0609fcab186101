"""What every logs command reads: files or the index, with the same filters.

A LogQuery is built once from the command line (or by a Python user) and gives a
fresh, time-ordered iterator of filtered records each time ``records()`` is
called, because trace and diff read their input twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from stacktender.errors import ConfigError
from stacktender.logs.filters import LogFilter
from stacktender.logs.record import LogRecord, ParseStats
from stacktender.logs.sources import LogSource, discover

if TYPE_CHECKING:
    from stacktender.logs.trace import Trace


@dataclass
class LogQuery:
    """Sources (paths, or an index file) plus a filter and how to read times."""

    paths: Sequence[str] = ()
    index: Path | None = None
    log_filter: LogFilter = field(default_factory=LogFilter)
    hostname: str | None = None
    by_host: bool = False
    tz: tzinfo | None = None
    skews: Mapping[str, float] = field(default_factory=dict)
    ssh_options: Sequence[str] = ()
    stats: ParseStats = field(default_factory=ParseStats)

    def __post_init__(self) -> None:
        if not self.paths and self.index is None:
            raise ConfigError("no logs to read: give files, directories, '-' or HOST:/path")
        if self.paths and self.index is not None:
            raise ConfigError("read either files or the index, not both")

    def with_filter(self, log_filter: LogFilter) -> LogQuery:
        return replace(self, log_filter=log_filter, stats=ParseStats())

    def sources(self) -> list[LogSource]:
        return discover(
            self.paths, host=self.hostname, by_host=self.by_host, ssh_options=self.ssh_options
        )

    def records(self) -> Iterator[LogRecord]:
        """Merged, filtered records in time order; counters go to ``stats``."""
        if self.index is not None:
            from stacktender.logs.index import LogIndex

            with LogIndex(self.index, create=False) as index:
                yield from index.query(self.log_filter)
            return
        from stacktender.logs.merge import MergedLogs

        self.stats = ParseStats()
        merged = MergedLogs(self.sources(), self.log_filter, tz=self.tz, skews=self.skews)
        try:
            yield from merged
        finally:
            self.stats = merged.stats

    def trace(self, wanted: str) -> Trace:
        """Follow one request, in the index when reading one, else in the files."""
        from stacktender.logs.trace import trace, trace_index

        if self.index is not None:
            from stacktender.logs.index import LogIndex

            with LogIndex(self.index, create=False) as index:
                return trace_index(index, wanted, self.log_filter)
        return trace(self.records, wanted)

    def problems(self) -> str | None:
        """One line about what was not understood or not readable, if anything."""
        stats = self.stats
        parts = []
        if stats.unparsed:
            parts.append(f"{stats.unparsed} lines in no known format (kept as they are)")
        if stats.decode_errors:
            parts.append(f"{stats.decode_errors} lines with invalid UTF-8 (replaced)")
        if stats.oversized:
            parts.append(f"{stats.oversized} lines cut at 1 MiB")
        if stats.errors:
            parts.append(f"{len(stats.errors)} reading problems: " + "; ".join(stats.errors[:3]))
        return ", ".join(parts) or None
