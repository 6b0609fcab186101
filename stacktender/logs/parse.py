"""Parse what oslo.log writes into LogRecords, streaming, one source at a time.

Understood: the context and default text formats (``[req-... user project ...]``,
``[None req-... ...]``, ``[-]``, global request ids, ``[instance: UUID]``), the
traceback lines oslo.log writes with ``logging_exception_prefix`` (grouped into the
record they belong to), oslo.log's JSON formatter, and syslog or journald prefixes
before any of these. Lines without a prefix after a record are its continuation
(the rest of a multi-line message, or a raw traceback from its ``Traceback`` line
on); other lines are kept as unparsed records. Every line is counted in ParseStats
exactly once: as the head of a record, a continuation, or unparsed.

Speed: a line in oslo.log's default layout is recognised by one ``str.split`` and
dictionary look-ups in caches that only the full regex path fills (the start of the
hour, the pid, level and logger, the user identity of a context, all validated
before), so the regex, the date arithmetic and the context split run once per
distinct value, not once per line. Anything the caches do not vouch for takes the
regex path, which reads it the same way (a property test checks that).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, tzinfo
from itertools import islice
from typing import Any

from stacktender.logs.record import LogRecord, ParseStats

# "2026-11-25 16:00:00.123 1234 INFO nova.compute.manager " and its variants: "T" for
# the space, "," for the dot, a UTC offset, several spaces. The message follows.
_HEAD = re.compile(
    r"(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(?:[.,](\d{1,9}))?(Z|[+-]\d\d:?\d\d)? +"
    r"(\d+) +([A-Z]+) +(\S+) ?",
    re.ASCII,
)
# A syslog ("Nov 25 16:00:00 host prog[pid]: ") or journald short-iso / rsyslog
# RFC 3339 ("2026-11-25T16:00:00+0000 host prog[pid]: ") prefix.
_SYSLOG = re.compile(
    r"(?:([A-Z][a-z]{2}) ([ \d]\d) |(\d{4}-\d\d-\d\d)T)(\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?"
    r"(Z|[+-]\d\d:?\d\d)? (\S+) ([^\s\[:]+)(?:\[(\d+)\])?: ?",
    re.ASCII,
)
# What oslo.log writes after a syslog prefix when its format has no time stamp
# (devstack's journald set-up): "[pid ]LEVEL logger message".
_NO_TIME = re.compile(
    r"(?:(\d+) )?(TRACE|DEBUG|INFO|AUDIT|WARNING|ERROR|CRITICAL) (\S+) ?", re.ASCII
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_TRACEBACK = "Traceback (most recent call last)"
_INSTANCE = "[instance: "
_NO_CONTEXT: tuple[str | None, str | None, str | None, str | None] = (None, None, None, None)
# what _oslo_head and _syslog return for a line that only looks like theirs
_NOT_HEAD = LogRecord(0.0, "", "", parsed=False)
_NOBODY = frozenset(("", "-", "None"))
_UNSEEN: tuple[str | None, str | None, str | None, str | None] = ("", "", "", "")
# ":MM:SS" -> seconds into the hour; a look-up that also validates
_IN_HOUR = {f":{m:02d}:{s:02d}": m * 60 + s for m in range(60) for s in range(60)}
# ".123" -> 0.123: oslo.log writes milliseconds; other fractions are cached as seen
_MILLISECONDS = {"": 0.0, **{f".{n:03d}": float(f".{n:03d}") for n in range(1000)}}
_CACHE_LIMIT = 4096  # entries per cache: memory stays constant whatever the input
_BATCH = 1024
_ORPHANS = 4096
# The earliest and latest times a record may carry (datetime's range, with a margin).
_TS_MIN, _TS_MAX = -62135596800.0 + 86400, 253402300799.0 - 86400

Context = tuple[str | None, str | None, str | None, str | None]


class _Clock:
    """Turns text times into epoch seconds (UTC, with the source's skew added).

    Caches the start of each hour, so that one datetime computation serves every
    line of that hour; an hour in which the zone's offset changes (a DST switch)
    is computed second by second instead.
    """

    __slots__ = ("_hours", "skew", "tz")

    def __init__(self, tz: tzinfo | None, skew: float) -> None:
        self.tz = tz
        self.skew = skew
        self._hours: dict[str, float | None] = {}

    def seconds(self, date: str, clock: str, offset: str | None = None) -> float | None:
        """``2026-11-25``, ``16:00:00`` and an optional UTC offset -> epoch seconds,
        or None when it is no valid time."""
        in_hour = _IN_HOUR.get(clock[2:])
        if in_hour is None:
            return None
        base = self.hour(date, clock[:2], offset)
        if base is not None:
            return base + in_hour
        # the offset changes within this hour, or the date is invalid
        moment = self._moment(date, clock, offset)
        return None if moment is None else moment.timestamp() + self.skew

    def hour(self, date: str, hour: str, offset: str | None) -> float | None:
        """The start of an hour in epoch seconds; None if that is no valid hour or
        the zone's offset changes within it."""
        key = f"{date} {hour}{offset or ''}"
        if key in self._hours:
            return self._hours[key]
        if len(self._hours) >= _CACHE_LIMIT:
            self._hours.clear()
        base = None
        start = self._moment(date, f"{hour}:00:00", offset)
        end = self._moment(date, f"{hour}:59:59", offset)
        if start is not None and end is not None and end.timestamp() - start.timestamp() == 3599:
            base = start.timestamp() + self.skew
        self._hours[key] = base
        return base

    def _moment(self, date: str, clock: str, offset: str | None) -> datetime | None:
        try:
            moment = datetime.fromisoformat(f"{date}T{clock}{offset or ''}")
        except ValueError:
            return None
        if moment.tzinfo is None and self.tz is not None:
            moment = moment.replace(tzinfo=self.tz)
        return moment  # still naive: timestamp() reads it in this machine's zone


def _context(bracket: str) -> Context | None:
    """The request context a ``[...]`` at the start of a message holds, if any.

    ``[-]``; ``[req-R user project domain ...]`` (older oslo.log);
    ``[None req-R ...]`` or ``[req-G req-R ...]`` (G: the global request id). The
    fields are joined by single spaces, as oslo.log's format strings join them.
    """
    inner = bracket[1:-1]
    if inner == "-":
        return _NO_CONTEXT
    tokens = inner.split(" ")
    global_id = None
    if tokens[0] in ("None", ""):
        tokens = tokens[1:]
    elif len(tokens) > 1 and tokens[0].startswith("req-") and tokens[1].startswith("req-"):
        global_id = tokens[0]
        tokens = tokens[1:]
    if not tokens or not tokens[0].startswith("req-"):
        return None
    user, project = _identity(tokens[1:])
    return (global_id, tokens[0], user, project)


def _identity(tokens: list[str]) -> tuple[str | None, str | None]:
    """(user, project) from the words of oslo.log's user_identity
    (``user project domain system_scope user_domain project_domain``)."""
    user = tokens[0] if tokens and tokens[0] not in _NOBODY else None
    project = tokens[1] if len(tokens) > 1 and tokens[1] not in _NOBODY else None
    return user, project


def _after(message: str, end: int) -> str:
    """The message after a bracket ending at ``end`` and the one space after it."""
    return message[end + 2 :] if message[end + 1 : end + 2] == " " else message[end + 1 :]


def _same_origin(a: Sequence[str] | None, b: Sequence[str]) -> bool:
    """Whether two lines share time stamp, pid and logger: a traceback line written
    with logging_exception_prefix repeats those of its record. Keys of the default
    layout are the line's split (date, time, pid, level, logger, rest); others are
    4-tuples."""
    if a is None or len(a) != len(b):
        return False
    if len(b) == 6:
        return a[1] == b[1] and a[2] == b[2] and a[4] == b[4] and a[0] == b[0]
    return a == b


def _instance(message: str) -> tuple[str | None, str]:
    """``[instance: UUID] rest`` -> (UUID, rest); anything else -> (None, message)."""
    end = message.find("]")
    uuid = message[11:end]
    if end <= 11 or " " in uuid or "\t" in uuid:
        return None, message
    return uuid, _after(message, end)


class _Validated:
    """Text values the regex path has validated, and what they mean. They depend on
    the text only, so all parsers share them (a merge of hundreds of sources keeps
    one copy); the start of an hour depends on the zone and skew and is per parser."""

    def __init__(self) -> None:
        self.fracs: dict[str, float] = {}
        self.pids: dict[str, int] = {}
        self.levels: dict[str, str] = {}
        self.loggers: dict[str, str] = {}  # one string object for every record's logger
        self.contexts: dict[str, Context | None] = {}
        self.identities: dict[str, tuple[str | None, str | None]] = {}


_SHARED = _Validated()


class LineParser:
    """Parses the lines of one source (a file, a stream) in order.

    Feed lines with :meth:`feed` (or lists of them with :meth:`feed_many`); finished
    records come out of these and of :meth:`close`. A record is finished when the
    next record starts, because continuation and traceback lines follow their head.
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
        # what traceback lines of the current record repeat: (date, time, pid, logger)
        # for the default layout, another 4-tuple for others, None if nothing repeats
        self._key: Sequence[str] | None = None
        self._more: list[str] = []  # message lines of the current record after its head
        self._last_ts = 0.0
        # Caches the regex path fills and the fast path trusts (see the module doc).
        self._fast_hours: dict[str, float] = {}
        self._fracs = _SHARED.fracs
        self._pids = _SHARED.pids
        self._levels = _SHARED.levels
        self._loggers = _SHARED.loggers
        self._contexts = _SHARED.contexts
        self._identities = _SHARED.identities

    def feed(self, line: str, lineno: int = 0) -> LogRecord | None:
        """Take one line (without its newline); return a record it completed, if any."""
        done = self.feed_many((line,), lineno)
        return done[0] if done else None

    def close(self) -> LogRecord | None:
        """Return the last record, if one is pending."""
        record, self._current = self._current, None
        if record is not None:
            self._last_ts = record.ts
        if record is not None and self._more:
            record.message = "\n".join([record.message, *self._more])
            self._more.clear()
        self._key = None
        return record

    def feed_many(self, lines: Sequence[str], lineno: int = 1) -> list[LogRecord]:
        """Take consecutive lines, the first being number ``lineno``; return the
        records they completed, in order."""
        # Everything the loop touches is a local: attribute look-ups per line would
        # cost as much as the parsing itself.
        done: list[LogRecord] = []
        finish = done.append
        stats = self.stats
        stats.lines += len(lines)
        hours, in_hour = self._fast_hours.get, _IN_HOUR.get
        # shared, read-only tables first: one copy stays in the CPU cache for all sources
        milliseconds = _MILLISECONDS.get
        fracs, pids, levels = self._fracs.get, self._pids.get, self._levels.get
        loggers, contexts = self._loggers.get, self._contexts
        identities_cache = self._identities
        identities = identities_cache.get
        host, service, source = self.host, self.service, self.source
        more = self._more
        current, key = self._current, self._key
        heads = continued = 0
        for number, line in enumerate(lines, lineno):
            base = hours(line[:13])
            if base is not None:
                parts = line.split(" ", 5)
                second = in_hour(line[13:19])
                if len(parts) == 6 and second is not None:
                    frac = milliseconds(parts[1][8:])
                    if frac is None:
                        frac = fracs(parts[1][8:])
                    pid = pids(parts[2])
                    level = levels(parts[3])
                    logger = loggers(parts[4])
                    if (
                        frac is not None
                        and pid is not None
                        and level is not None
                        and logger is not None
                    ):
                        message = parts[5]
                        in_context = False
                        gid = rid = user = project = None
                        if message[:1] == "[":
                            # "[None req-R user project ...]" and "[req-G req-R ...]" by
                            # their fixed offsets (request ids are "req-" and a UUID),
                            # the identity that follows from a cache; the rest below
                            at, request = 0, ""
                            if message[:10] == "[None req-" and message[46:47] == " ":
                                at, request = 47, message[6:46]
                            elif message[:5] == "[req-" and message[41:46] == " req-":
                                at, gid, request = 83, message[1:41], message[42:82]
                                if message[82:83] != " " or " " in gid or "]" in gid:
                                    at = 0
                            if at:
                                end = message.find("]", at)
                                if end > 0 and " " not in request and "]" not in request:
                                    rid = request
                                    ident = message[at:end]
                                    who = identities(ident)
                                    if who is None:
                                        who = _identity(ident.split(" "))
                                        if len(identities_cache) >= _CACHE_LIMIT:
                                            identities_cache.clear()
                                        identities_cache[ident] = who
                                    user, project = who
                                    in_context = True
                                    message = (
                                        message[end + 2 :]
                                        if message[end + 1 : end + 2] == " "
                                        else message[end + 1 :]
                                    )
                            if in_context:
                                pass
                            elif message[:4] == "[-] ":
                                in_context, message = True, message[4:]
                                gid = rid = None
                            elif message[:11] != _INSTANCE:
                                gid = rid = None
                                end = message.find("]")
                                if end > 0:
                                    bracket = message[: end + 1]
                                    context = contexts.get(bracket, _UNSEEN)
                                    if context is _UNSEEN:
                                        context = _context(bracket)
                                        if len(contexts) >= _CACHE_LIMIT:
                                            contexts.clear()
                                        contexts[bracket] = context
                                    if context is not None:
                                        gid, rid, user, project = context
                                        in_context = True
                                        message = _after(message, end)
                            else:
                                gid = rid = None
                        instance = None
                        if message[:11] == _INSTANCE:
                            instance, message = _instance(message)
                        if (
                            not in_context
                            and level == "ERROR"
                            and key is not None
                            and len(key) == 6
                            and parts[1] == key[1]
                            and parts[2] == key[2]
                            and logger == key[4]
                            and parts[0] == key[0]
                            and current is not None
                        ):
                            # a traceback line written with logging_exception_prefix
                            current.lines.append(line)
                            if message:
                                current.traceback.append(message)
                            continued += 1
                            continue
                        if current is not None:
                            if more:
                                current.message = "\n".join([current.message, *more])
                                more.clear()
                            finish(current)
                        current = LogRecord(
                            base + second + frac, host, service, level, logger, pid, rid, gid,
                            user, project, instance, message, [line], [], source, number, True,
                            "oslo",
                        )  # fmt: skip
                        key = parts
                        heads += 1
                        continue
            # anything else: the regex path, with the state in attributes
            self._current, self._key = current, key
            finished = self._slow(line, number)
            if finished is not None:
                finish(finished)
            current, key = self._current, self._key
        self._current, self._key = current, key
        stats.records += heads
        stats.continuation += continued
        return done

    # -- the regex path ---------------------------------------------------------------

    def _slow(self, line: str, lineno: int) -> LogRecord | None:
        first = line[:1]
        if "0" <= first <= "9":
            match = _HEAD.match(line)
            if match is not None:
                done = self._oslo_head(match, line, lineno)
                if done is not _NOT_HEAD:
                    return done
            match = _SYSLOG.match(line)
            if match is not None:
                done = self._syslog(match, line, lineno)
                if done is not _NOT_HEAD:
                    return done
        elif first == "{" and line.rstrip()[-1:] == "}":
            record = self._json(line, lineno, self.host)
            if record is not None:
                return self._start(record, None)
        elif "A" <= first <= "Z":
            match = _SYSLOG.match(line)
            if match is not None:
                done = self._syslog(match, line, lineno)
                if done is not _NOT_HEAD:
                    return done
        return self._continuation(line, lineno)

    def _oslo_head(self, match: re.Match[str], line: str, lineno: int) -> LogRecord | None:
        """A line that _HEAD matched; _NOT_HEAD if its time is no valid time."""
        date, clock, frac, offset, pid_text, level, logger = match.groups()
        base = self._clock.seconds(date, clock, offset)
        if base is None:
            return _NOT_HEAD
        fraction = float("." + frac) if frac else 0.0
        pid = int(pid_text)
        parts = line.split(" ", 5)
        stamp = f"{clock}.{frac}" if frac else clock
        default = (
            line[10] == " "
            and offset is None
            and len(parts) == 6
            and parts[1] == stamp
            and parts[2] == pid_text
            and parts[3] == level
            and parts[4] == logger
        )
        key: Sequence[str]
        if default:
            # vouch for these values: the next lines with them take the fast path
            hour = self._clock.hour(date, clock[:2], None)
            if hour is not None:
                self._remember(line[:13], hour, parts[1][8:], fraction, pid_text, level, logger)
            key = parts
        else:
            key = (match.group(0)[: match.end(5)], pid_text, logger, "")
        return self._oslo(
            key, base + fraction, pid, level, logger, line[match.end() :], line, lineno,
            self.host, self.service, "oslo",
        )  # fmt: skip

    def _remember(
        self, hour_text: str, hour: float, frac_text: str, frac: float, pid_text: str,
        level: str, logger: str,
    ) -> None:  # fmt: skip
        for cache in (self._fast_hours, self._pids, self._levels, self._contexts):
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
        if len(self._loggers) >= _CACHE_LIMIT:
            self._loggers.clear()
        self._fast_hours[hour_text] = hour
        if frac_text not in _MILLISECONDS:
            if len(self._fracs) >= _CACHE_LIMIT:
                self._fracs.clear()
            self._fracs[frac_text] = frac
        self._pids[pid_text] = int(pid_text)
        self._levels[level] = level
        self._loggers[logger] = logger

    def _oslo(
        self, key: Sequence[str], ts: float, pid: int | None, level: str, logger: str,
        message: str, line: str, lineno: int, host: str, service: str, fmt: str,
    ) -> LogRecord | None:  # fmt: skip
        """The same as the fast path of feed_many, for what the regex path found."""
        context = None
        if message[:1] == "[" and message[:11] != _INSTANCE:
            end = message.find("]")
            if end > 0:
                context = _context(message[: end + 1])
                if context is not None:
                    message = _after(message, end)
        instance = None
        if message[:11] == _INSTANCE:
            instance, message = _instance(message)
        current = self._current
        if (
            context is None
            and level == "ERROR"
            and current is not None
            and _same_origin(self._key, key)
        ):
            current.lines.append(line)
            if message:
                current.traceback.append(message)
            self.stats.continuation += 1
            return None
        if context is None:
            context = _NO_CONTEXT
        record = LogRecord(
            ts, host, service, level, logger, pid, context[1], context[0], context[2],
            context[3], instance, message, [line], [], self.source, lineno, True, fmt,
        )  # fmt: skip
        return self._start(record, key)

    def _start(self, record: LogRecord, key: Sequence[str] | None) -> LogRecord | None:
        finished = self._current
        if finished is not None and self._more:
            finished.message = "\n".join([finished.message, *self._more])
            self._more.clear()
        self._current = record
        self._key = key
        if record.parsed:
            self.stats.records += 1
        return finished

    def _continuation(self, line: str, lineno: int) -> LogRecord | None:
        current = self._current
        if current is not None and current.parsed and "\x00" not in line and "\ufffd" not in line:
            current.lines.append(line)
            if current.traceback or line.startswith(_TRACEBACK):
                current.traceback.append(line)
            else:
                self._more.append(line)
            self.stats.continuation += 1
            return None
        self.stats.unparsed += 1
        ts = current.ts if current is not None else self._last_ts
        record = LogRecord(
            ts, self.host, self.service, message=line, lines=[line], source=self.source,
            lineno=lineno, parsed=False,
        )  # fmt: skip
        return self._start(record, None)

    def _json(self, line: str, lineno: int, host: str) -> LogRecord | None:
        try:
            data = json.loads(line)
        except (ValueError, RecursionError):
            return None
        if not isinstance(data, dict) or "created" not in data or "levelname" not in data:
            return None
        try:
            ts = float(data["created"]) + self._clock.skew
        except (TypeError, ValueError, OverflowError):
            return None
        if not _TS_MIN < ts < _TS_MAX:  # also rejects NaN, which would break sorting
            return None
        context = data.get("context")
        context = context if isinstance(context, dict) else {}
        extra = data.get("extra")
        extra = extra if isinstance(extra, dict) else {}
        traceback = data.get("traceback") or []
        if isinstance(traceback, str):  # oslo.log >= 4.x joins the lines itself
            traceback = traceback.split("\n")
        elif not isinstance(traceback, list):
            traceback = [str(traceback)]
        return LogRecord(
            ts,
            host if host != "localhost" else str(data.get("hostname") or host),
            self.service,
            str(data.get("levelname") or ""),
            str(data.get("name") or ""),
            _int(data.get("process")),
            request_id=_str(context.get("request_id")),
            global_request_id=_str(context.get("global_request_id")),
            # ids, as the text format's user_identity writes them; names if no ids
            user=_str(context.get("user") or context.get("user_id") or context.get("user_name")),
            project=_str(
                context.get("project_id") or context.get("project") or context.get("project_name")
            ),
            instance=_json_instance(extra, context),
            message=str(data.get("message") or ""),
            lines=[line],
            traceback=[str(t) for t in traceback],
            source=self.source,
            lineno=lineno,
            fmt="json",
        )

    def _syslog(self, match: re.Match[str], line: str, lineno: int) -> LogRecord | None:
        """A syslog or journald line; _NOT_HEAD if its time is no valid time."""
        month, day, date, clock, frac, offset, host, program, pid_text = match.groups()
        if month is not None:
            number = _MONTHS.get(month)
            if number is None:
                return _NOT_HEAD
            date = f"{self.year:04d}-{number:02d}-{int(day):02d}"
        base = self._clock.seconds(date, clock, offset)
        if base is None:
            return _NOT_HEAD
        ts = base + (float("." + frac) if frac else 0.0)
        rest = line[match.end() :]
        inner = _HEAD.match(rest)
        if inner is not None:
            idate, iclock, ifrac, ioffset, ipid, level, logger = inner.groups()
            ibase = self._clock.seconds(idate, iclock, ioffset)
            if ibase is not None:
                key = (f"{host} {program}", inner.group(0)[: inner.end(5)], logger, "")
                return self._oslo(
                    key, ibase + (float("." + ifrac) if ifrac else 0.0), int(ipid), level,
                    logger, rest[inner.end() :], line, lineno, host, program, "syslog",
                )  # fmt: skip
        pid = int(pid_text) if pid_text else None
        if rest[:1] == "{":
            record = self._json(rest, lineno, host)
            if record is not None:
                record.ts, record.service, record.fmt, record.lines = ts, program, "syslog", [line]
                return self._start(record, None)
        bare = _NO_TIME.match(rest)
        if bare is not None:
            bpid, level, logger = bare.groups()
            key = (f"{host} {program} {pid_text}", match.group(0), logger, "")
            return self._oslo(
                key, ts, int(bpid) if bpid else pid, level, logger, rest[bare.end() :], line,
                lineno, host, program, "syslog",
            )  # fmt: skip
        record = LogRecord(
            ts, host, program, pid=pid, message=rest, lines=[line], source=self.source,
            lineno=lineno, fmt="syslog",
        )  # fmt: skip
        return self._start(record, None)


def _str(value: Any) -> str | None:
    return str(value) if value not in (None, "", "-") else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _json_instance(extra: dict[str, Any], context: dict[str, Any]) -> str | None:
    for holder in (extra, context):
        value = holder.get("instance") or holder.get("instance_uuid")
        if isinstance(value, dict):  # a serialized Instance object
            data = value.get("nova_object.data")
            value = (data if isinstance(data, dict) else value).get("uuid")
        if value:
            return str(value)
    return None


def parse_batches(
    batches: Iterable[Sequence[str]],
    *,
    host: str,
    service: str,
    source: str = "",
    tz: tzinfo | None = None,
    skew: float = 0.0,
    year: int | None = None,
    stats: ParseStats | None = None,
) -> Iterator[list[LogRecord]]:
    """Parse lists of consecutive lines of one source into lists of records.

    Unparsed lines at the very start of a source (the tail of a rotated-away
    traceback, say) take the time of the first record that follows them, when it
    comes within a few thousand lines, so that a merge shows them in place.
    """
    parser = LineParser(
        host=host, service=service, source=source, tz=tz, skew=skew, year=year, stats=stats
    )
    lineno = 1
    orphans: list[LogRecord] = []
    dating = True  # still at the start of the source, holding unparsed records back
    for lines in batches:
        done = parser.feed_many(lines, lineno)
        lineno += len(lines)
        if dating:
            done, dating = _date_orphans(orphans, done, parser._current)
        if done:
            yield done
    last = parser.close()
    tail = [last] if last is not None else []
    if dating:  # no parsed record at all: the unparsed ones keep the time they have
        tail, _ = _date_orphans(orphans, tail, None)
        tail = tail or orphans
    if tail:
        yield tail


def _date_orphans(
    orphans: list[LogRecord], done: list[LogRecord], pending: LogRecord | None
) -> tuple[list[LogRecord], bool]:
    """Records to release now and whether to keep holding unparsed ones back.

    Unparsed records at the start of a source wait in ``orphans`` until the first
    parsed record (finished in ``done``, or still ``pending`` in the parser) gives
    them its time; after 4096 of them they go out with the time they have.
    """
    first = next((r for r in done if r.parsed), None)
    if first is None and pending is not None and pending.parsed:
        first = pending
    if first is None:
        orphans.extend(done)
        if len(orphans) > _ORPHANS:
            released = orphans[:]
            orphans.clear()
            return released, False
        return [], True
    released = orphans + done
    for record in released:
        if record is first:
            break
        record.ts = first.ts
    orphans.clear()
    return released, False


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
    iterator = iter(lines)
    batches = iter(lambda: list(islice(iterator, _BATCH)), [])
    for batch in parse_batches(
        batches, host=host, service=service, source=source, tz=tz, skew=skew, year=year,
        stats=stats,
    ):  # fmt: skip
        yield from batch
