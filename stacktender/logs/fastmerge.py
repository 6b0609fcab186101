"""The text output of an unfiltered merge, without building LogRecords.

``stacktender logs merge`` with no filter and text output only needs, per record,
its time and its lines. This module reads oslo.log's default text layout for just
that: a head line's time (from caches of values the full parser validated), where a
record ends (a new head; traceback lines written with ``logging_exception_prefix``
stay with their head, as the full parser keeps them) and the level for colour. Each
record becomes one ``(time, labelled text)`` tuple, and these go through the same
reordering window and k-way merge as records do (``merge._reordered`` and
``merge._merged`` with a tuple key), in lists with the same boundaries, so the
output is the full path's, byte for byte, ties included.

Any line this reader does not vouch for (JSON, syslog, a head in another layout, a
time in a DST change, a line no format understands) hands the rest of the source to
the full parser (``parse.LineParser``), which re-reads the record in progress first;
its records are rendered the same way. A test compares both paths' output and
counters on generated, edge-case and real testcloud logs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from itertools import chain
from operator import itemgetter
from typing import TextIO

from stacktender.logs.merge import REORDER_WINDOW, _merged, _quiet_gc, _reordered
from stacktender.logs.output import record_text, text_style
from stacktender.logs.parse import (
    _CACHE_LIMIT,
    _HEAD,
    _IN_HOUR,
    _INSTANCE,
    _MILLISECONDS,
    _SHARED,
    _SYSLOG,
    LineParser,
    _Clock,
    _context,
    parse_batches,
)
from stacktender.logs.record import LogRecord, ParseStats
from stacktender.logs.sources import LogSource

Item = tuple[float, str]  # (time, the record's lines, labelled, joined by newlines)
_TIME = itemgetter(0)
_TEXT = itemgetter(1)
_WRITE_ITEMS = 4096  # records per write: fewer, larger writes


def _continues(parts: list[str], head: str) -> bool:
    """Whether a split ERROR line is a traceback line written with
    logging_exception_prefix under ``head``: same time, pid and logger, no context."""
    key = head.split(" ", 5)
    return (
        parts[1] == key[1]
        and parts[2] == key[2]
        and parts[4] == key[4]
        and parts[0] == key[0]
        and not _has_context(parts[5])
    )


def _has_context(message: str) -> bool:
    """Whether a message starts with a request context (``[-]``, ``[req-...]``):
    a line with one starts a record even when it repeats its head's origin."""
    if message[:1] != "[" or message[:11] == _INSTANCE:
        return False
    end = message.find("]")
    return end > 0 and _context(message[: end + 1]) is not None


class _Switch(Exception):
    """A line the light reader does not vouch for: the full parser takes over."""


def _items(source: LogSource, tz: tzinfo | None, skew: float, colour: bool) -> Iterator[list[Item]]:
    """The records of one source as lists of items, with the boundaries
    ``parse_batches`` gives its lists of records."""
    year = datetime.fromtimestamp(source.mtime).year if source.mtime is not None else None
    stats = source.stats
    clock = _Clock(tz, skew)
    label = f"{source.host} {source.service or '-'} "
    # " PID LEVEL LOGGER " of heads read -> level and how to print its lines
    origins: dict[str, tuple[str, str, str, str]] = {}
    # Locals for the loop: attribute and global look-ups per line would cost as much
    # as the rest of it.
    hours_cache: dict[str, float] = {}
    hours, in_hour, milliseconds = hours_cache.get, _IN_HOUR.get, _MILLISECONDS.get
    fracs, pids, levels, loggers = _SHARED.fracs, _SHARED.pids, _SHARED.levels, _SHARED.loggers
    head_match, syslog_match = _HEAD.match, _SYSLOG.match

    batches = source.batches()
    ts: float | None = None  # the record in progress: time, text, head's split
    text = ""
    prefix = tail = sep = ""
    head = ""  # the record's first line
    carried: list[str] = []  # its lines read in earlier batches
    head_lineno = 0
    lineno = 1
    for lines in batches:
        done: list[Item] = []
        finish = done.append
        # Every line read is a head or a continuation, so these counts also say where
        # in the batch the reader is, and the record's head is (no enumerate per line).
        heads = continued = 0
        mark = 0  # continuation lines before the last head in this batch
        try:
            for line in lines:
                base = hours(line[:13])
                if base is not None:
                    # " PID LEVEL LOGGER " up to the context's "[": when the reader has
                    # seen it whole before, no split is needed to vouch for the line
                    style = origins.get(line[23 : line.find(" [", 23) + 1])
                    second = in_hour(line[13:19])
                    frac = milliseconds(line[19:23])
                    if (
                        style is not None
                        and second is not None
                        and frac is not None
                        and style[0] != "ERROR"
                    ):
                        if ts is not None:
                            finish((ts, text))
                        ts = base + second + frac
                        level, prefix, tail, sep = style
                        text = prefix + line + tail
                        head = line
                        mark = continued
                        heads += 1
                        continue
                    parts = line.split(" ", 5)
                    if len(parts) == 6 and second is not None:
                        frac = milliseconds(parts[1][8:])
                        if frac is None:
                            frac = fracs.get(parts[1][8:])
                        level = parts[3]
                        if (
                            frac is not None
                            and parts[2] in pids
                            and level in levels
                            and parts[4] in loggers
                        ):
                            if level == "ERROR" and ts is not None and _continues(parts, head):
                                text += sep + line + tail
                                continued += 1
                                continue
                            if ts is not None:
                                finish((ts, text))
                            ts = base + second + frac
                            origin = f" {parts[2]} {level} {parts[4]} "
                            style = origins.get(origin)
                            if style is None:
                                if len(origins) >= _CACHE_LIMIT:
                                    origins.clear()
                                style = origins[origin] = _style(label, level, colour)
                            level, prefix, tail, sep = style
                            text = prefix + line + tail
                            head = line
                            mark = continued
                            heads += 1
                            continue
                first = line[:1]
                if "0" <= first <= "9":
                    match = head_match(line)
                    if match is not None:
                        # a head whose values are not cached yet: validate them as
                        # LineParser._oslo_head does, and cache them
                        date, clock_text, frac_text, offset, pid_text, level, logger = (
                            match.groups()
                        )
                        parts = line.split(" ", 5)
                        stamp = f"{clock_text}.{frac_text}" if frac_text else clock_text
                        if (
                            line[10] != " "
                            or offset is not None
                            or len(parts) != 6
                            or parts[1] != stamp
                            or parts[2] != pid_text
                            or parts[3] != level
                            or parts[4] != logger
                        ):
                            raise _Switch
                        hour = clock.hour(date, clock_text[:2], None)
                        second = _IN_HOUR.get(clock_text[2:])
                        if hour is None or second is None:
                            raise _Switch
                        fraction = float("." + frac_text) if frac_text else 0.0
                        _remember(hours_cache, line[:13], hour, parts[1][8:], fraction)
                        pids[pid_text] = int(pid_text)
                        levels[level] = level
                        loggers[logger] = logger
                        if level == "ERROR" and ts is not None and _continues(parts, head):
                            text += sep + line + tail
                            continued += 1
                            continue
                        if ts is not None:
                            finish((ts, text))
                        ts = hour + second + fraction
                        level, prefix, tail, sep = _style(label, level, colour)
                        text = prefix + line + tail
                        head = line
                        mark = continued
                        heads += 1
                        continue
                    if syslog_match(line) is not None:
                        raise _Switch
                elif (first == "{" and line.rstrip()[-1:] == "}") or (
                    "A" <= first <= "Z" and syslog_match(line) is not None
                ):
                    raise _Switch  # JSON or syslog, or a line that only looks like them
                if ts is None or "\x00" in line or "\ufffd" in line:
                    raise _Switch  # an unparsed record: the full parser dates it
                text += sep + line + tail
                continued += 1
        except _Switch:
            at = heads + continued  # the line that switched
            head_at = heads - 1 + mark if heads else -1
            stats.lines += at
            stats.records += heads
            stats.continuation += continued
            if ts is None:  # nothing read yet: the whole source is the full parser's
                records = parse_batches(
                    chain([lines], batches), host=source.host, service=source.service,
                    source=source.name, tz=tz, skew=skew, year=year, stats=stats,
                )  # fmt: skip
                for batch in records:
                    yield _render(batch, colour)
                return
            if head_at >= 0:
                carried = []
                head_lineno = lineno + head_at
            else:
                head_at = 0
            parser = LineParser(
                host=source.host, service=source.service, source=source.name, tz=tz,
                skew=skew, year=year, stats=ParseStats(),
            )  # fmt: skip
            # the record in progress, re-read: the parser's state becomes what it
            # would have been had it read the whole source (a record starts afresh)
            again = parser.feed_many([*carried, *lines[head_at:at]], head_lineno)
            assert not again, "a record in progress holds one head"
            parser.stats = stats
            found = done + _render(parser.feed_many(lines[at:], lineno + at), colour)
            if found:
                yield found
            yield from _rest(parser, batches, lineno + len(lines), colour)
            return
        stats.lines += len(lines)
        stats.records += heads
        stats.continuation += continued
        if heads:
            head_at = heads - 1 + mark
            carried = lines[head_at:]
            head_lineno = lineno + head_at
        else:
            carried += lines
        lineno += len(lines)
        if done:
            yield done
    if ts is not None:
        yield [(ts, text)]


def _rest(
    parser: LineParser, batches: Iterator[list[str]], lineno: int, colour: bool
) -> Iterator[list[Item]]:
    """The full parser's records of the rest of a source, as items."""
    for lines in batches:
        done = parser.feed_many(lines, lineno)
        lineno += len(lines)
        if done:
            yield _render(done, colour)
    last = parser.close()
    if last is not None:
        yield _render([last], colour)


def _render(records: list[LogRecord], colour: bool) -> list[Item]:
    return [(r.ts, record_text(r, colour)[:-1]) for r in records]


def _style(label: str, level: str, colour: bool) -> tuple[str, str, str, str]:
    """The level, what goes before and after each line of a record at that level, and
    between two of its lines; the record's text ends without the last newline, which the writer
    adds when it joins records."""
    prefix, suffix = text_style(label, level, colour)
    return level, prefix, suffix[:-1], "\n" + prefix


def _remember(
    hours: dict[str, float], hour_text: str, hour: float, frac_text: str, frac: float
) -> None:
    for cache in (hours, _SHARED.pids, _SHARED.levels, _SHARED.loggers):
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
    hours[hour_text] = hour
    if frac_text not in _MILLISECONDS:
        if len(_SHARED.fracs) >= _CACHE_LIMIT:
            _SHARED.fracs.clear()
        _SHARED.fracs[frac_text] = frac


@dataclass
class MergedText:
    """The labelled lines of some sources merged by time, as ``write_text`` of an
    unfiltered MergedLogs prints them; counters in ``stats`` as MergedLogs has them."""

    sources: list[LogSource]
    colour: bool = False
    tz: tzinfo | None = None
    skews: Mapping[str, float] = field(default_factory=dict)
    # None: the compiled merge (cmerge) when it was built, else this module's; True or
    # False to choose (tests compare the two)
    compiled: bool | None = None
    # which sources the compiled merge may read itself (it must be able to read them
    # again from the start if this module's reader has to take over)
    rereadable: Callable[[LogSource], bool] | None = None
    # how many sources the compiled reader read to their end (the rest: this module's)
    compiled_sources: int = field(default=0, init=False)

    def chunks(self) -> Iterator[str]:
        """The output, a few thousand records at a time."""
        streams = [
            _reordered(
                _items(source, self.tz, self.skews.get(source.host, 0.0), self.colour),
                REORDER_WINDOW,
                _TIME,
            )
            for source in self.sources
        ]
        pending: list[str] = []
        for batch in _quiet_gc(_merged(streams, _TIME)):
            pending += map(_TEXT, batch)
            if len(pending) >= _WRITE_ITEMS:
                pending.append("")  # the last record's newline
                yield "\n".join(pending)
                pending.clear()
        if pending:
            pending.append("")
            yield "\n".join(pending)

    def write(self, out: TextIO) -> None:
        """Write the output to ``out``."""
        if self.compiled is not False:
            from stacktender.logs import cmerge

            if cmerge.AVAILABLE or self.compiled:
                cmerge.write(self, out)
                return
        write: Callable[[str], object] = out.write
        for chunk in self.chunks():
            write(chunk)
        out.flush()

    @property
    def stats(self) -> ParseStats:
        return ParseStats.total(source.stats for source in self.sources)
