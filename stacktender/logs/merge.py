"""Merge the records of many sources into one stream ordered by time.

Each source is parsed lazily, a batch of records at a time, put in order within a
small window (processes that share one log file write lines a few milliseconds out
of order), filtered, and then merged with the others. Memory holds about one
batch per source, whatever the size of the input.

Per-record Python work is what bounds the throughput, so every step works on
lists and leaves the per-record part to C: ``list.sort`` (which merges runs that
are already sorted in linear time) and ``bisect``.
"""

from __future__ import annotations

import gc
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from itertools import chain, islice
from operator import attrgetter
from typing import Any, TypeVar

from stacktender.logs.filters import LogFilter
from stacktender.logs.record import LogRecord, ParseStats
from stacktender.logs.sources import LogSource

REORDER_WINDOW = 64
_BY_TIME = attrgetter("ts")
_CHUNK = 1024
T = TypeVar("T")


def reordered(records: Iterable[LogRecord], window: int = REORDER_WINDOW) -> Iterator[LogRecord]:
    """Sort records that are out of order by at most ``window`` positions; stable."""
    return chain.from_iterable(_reordered(_chunks(records, _CHUNK), window))


def _reordered(
    batches: Iterable[list[T]], window: int, key: Callable[[T], Any] = _BY_TIME
) -> Iterator[list[T]]:
    """reordered() on lists: sort each list with the last ``window`` records of the
    one before it, and hold its own last ``window`` back for the next.

    A record released here has ``window`` held ones after it in time that all came
    before any record still unread; so a record displaced by at most ``window``
    positions can never belong before a released one. ``key`` gives an item's time
    (fastmerge orders (time, text) tuples the same way).
    """
    held: list[T] = []
    for batch in batches:
        if held:
            batch = held + batch
        batch.sort(key=key)  # stable: ties keep their input order
        if len(batch) > window:
            held = batch[len(batch) - window :] if window else []
            del batch[len(batch) - window :]
            yield batch
        else:
            held = batch
    if held:
        yield held


def merge(streams: Sequence[Iterable[LogRecord]], chunk: int = _CHUNK) -> Iterator[LogRecord]:
    """k-way merge of time-ordered streams; ties keep the order of ``streams``."""
    if len(streams) == 1:
        return iter(streams[0])
    return chain.from_iterable(_merged([_chunks(s, chunk) for s in streams]))


def _merged(
    streams: Sequence[Iterator[list[T]]], key: Callable[[T], Any] = _BY_TIME
) -> Iterator[list[T]]:
    """merge() on lists of records (or of other items with a time ``key``).

    Each round takes the next list of every stream that has run dry and emits, in one
    stable sort, everything no stream can still precede: records before the
    watermark W (the earliest "last time" among the pending lists), and records at W
    from the streams up to the first one whose pending list ends at W. That stream
    then runs dry, so every round makes progress, and ties come out in stream order.
    """
    if len(streams) == 1:
        yield from streams[0]
        return
    pending: list[list[T]] = [[] for _ in streams]
    # where each pending list's unemitted part starts: a list is read from an offset
    # rather than sliced, as slicing would copy what is left of it every round
    starts = [0] * len(streams)
    live = list(range(len(streams)))
    while live:
        for index in live:
            while starts[index] >= len(pending[index]):
                batch = next(streams[index], None)
                if batch is None:
                    pending[index] = []
                    break
                pending[index], starts[index] = batch, 0
        live = [i for i in live if pending[i]]
        if not live:
            return
        lasts = [key(pending[i][-1]) for i in live]
        watermark = min(lasts)
        first = live[lasts.index(watermark)]
        ready: list[T] = []
        for index in live:
            records, start = pending[index], starts[index]
            if index == first:
                ready += records[start:] if start else records
                starts[index] = len(records)
                continue
            cut = (bisect_right if index < first else bisect_left)(
                records, watermark, start, key=key
            )
            if cut > start:
                ready += records[start:cut]
                starts[index] = cut
        ready.sort(key=key)
        yield ready


def _unless_mixed(
    batches: Iterator[list[LogRecord]], source: LogSource
) -> Iterator[list[LogRecord]]:
    """The records of a source the filter rules out by its host and service, if its
    first records show that it holds other hosts' or services' records too (a syslog
    or journal file does: each record names its own); else nothing, unread."""
    first = next(batches, None)
    if first is None:
        return
    own = (source.host, source.service)
    if all((r.host, r.service) == own for r in first):
        close = getattr(batches, "close", None)
        if close is not None:
            close()  # the file now, not when the generator is collected
        return
    yield first
    yield from batches


def _chunks(records: Iterable[LogRecord], size: int) -> Iterator[list[LogRecord]]:
    iterator = iter(records)
    return iter(lambda: list(islice(iterator, size)), [])


@dataclass
class MergedLogs:
    """The merged, filtered records of some sources, and the counters of reading them."""

    sources: list[LogSource]
    log_filter: LogFilter = field(default_factory=LogFilter)
    tz: tzinfo | None = None
    skews: Mapping[str, float] = field(default_factory=dict)

    def __iter__(self) -> Iterator[LogRecord]:
        return chain.from_iterable(self.batches())

    def batches(self) -> Iterator[list[LogRecord]]:
        """The merged records in lists (cheaper to consume than one at a time)."""
        keep = None if self.log_filter.empty else self.log_filter
        streams = []
        for source in self.sources:
            batches = source.record_batches(tz=self.tz, skew=self.skews.get(source.host, 0.0))
            if not self.log_filter.wants_source(source.host, source.service):
                batches = _unless_mixed(batches, source)
            batches = _reordered(batches, REORDER_WINDOW)
            if keep is not None:
                batches = (list(filter(keep, batch)) for batch in batches)
            streams.append(batches)
        return _quiet_gc(_merged(streams))

    @property
    def stats(self) -> ParseStats:
        return ParseStats.total(source.stats for source in self.sources)


_GC_YOUNG = 10_000  # allocations between collections of the youngest generation
_merging = 0  # merges running in this process; the collector is tuned while any is


def _quiet_gc(batches: Iterator[list[T]]) -> Iterator[list[T]]:
    """Yield from ``batches`` with the cyclic garbage collector run less often.

    A merge allocates several container objects per line (record, its lists) and
    creates no reference cycles; with the default threshold the collector would
    walk the young generation every few hundred lines, about a fifth of the work.
    """
    global _merging
    if _merging == 0:
        _merging_saved[:] = gc.get_threshold()
        gc.set_threshold(max(_merging_saved[0], _GC_YOUNG), *_merging_saved[1:])
    _merging += 1
    try:
        yield from batches
    finally:
        _merging -= 1
        if _merging == 0:
            gc.set_threshold(*_merging_saved)


_merging_saved: list[int] = list(gc.get_threshold())
