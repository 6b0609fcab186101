"""The embedded log index: parsed records in one SQLite file, queried with a LogFilter.

``logs index`` parses sources once into SQLite; every logs command can then read
``LogIndex.query(filter)`` instead of re-parsing files. Why SQLite: it is in the
standard library, a point lookup by request id or instance is one B-tree search,
FTS5 narrows ``--grep`` to the rows holding the pattern's words, the index is one
file, and WAL lets a query run while ``logs index`` appends (docs/logs-index.md).

A record is a narrow row in ``records`` (time, level, ids: what the B-tree indexes
are built from) and a row in ``bodies`` (the lines as written, for ``--grep`` and
printing, plus what else it takes to give back exactly the LogRecord the parser
made). Strings with few distinct values (host, service, level, logger, user,
project, format) are stored once in ``strings`` and referred to by number. The file
is about 2.2 times the size of the logs, most of it the text itself.

This module is the public face (``LogIndex`` and what it returns) and owns reading:
filters turned into SQL, records rebuilt from rows, listing and statistics.
``trace_records`` answers ``logs trace`` from the index with the same closure of ids
as ``stacktender.logs.trace`` computes over files, in a few index lookups. The file
format and opening are in ``index_schema``, loading in ``index_load``, the regex ->
FTS5/instr() translation of ``--grep`` in ``index_query``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from itertools import islice
from pathlib import Path
from typing import Any

from stacktender.config import default_data_dir
from stacktender.errors import ConfigError
from stacktender.logs.filters import LogFilter
from stacktender.logs.index_load import IndexLoader, IndexReport
from stacktender.logs.index_query import fts_query, longest_literal
from stacktender.logs.index_schema import SCHEMA_VERSION
from stacktender.logs.record import LEVELS, LogRecord, level_number

__all__ = [
    "SCHEMA_VERSION",
    "IndexReport",
    "IndexStats",
    "IndexedSource",
    "LogIndex",
    "default_index_path",
    "fts_query",
    "longest_literal",
]

# Below this many rows matching the other conditions, Python's re over them beats FTS.
FTS_WORTH_IT = 20_000
_COLUMNS = (
    "r.ts, r.host, r.service, r.level, r.logger, r.pid, r.request_id, r.global_request_id, "
    "r.user_name, r.project, r.instance, b.text, b.msg_off, b.msg_len, b.message, "
    "b.traceback, b.lines, r.source_id, r.lineno, r.parsed, r.fmt"
)
_FROM = "records r JOIN bodies b ON b.id = r.id"
_LEVELNOS = sorted({*LEVELS.values(), level_number("")})
# LogFilter fields translated to SQL; any other (a field added later) is applied in Python.
_TRANSLATED = frozenset(
    ("min_level", "services", "hosts", "since", "until", "request_id", "global_request_id",
     "instance", "project", "user", "regex")
)  # fmt: skip


def default_index_path() -> Path:
    """``<data dir>/logs.db``, e.g. ``~/.local/share/stacktender/logs.db``."""
    return default_data_dir() / "logs.db"


@dataclass
class IndexedSource:
    """One source the index holds, and what reading it found."""

    name: str
    host: str
    service: str
    records: int
    lines: int
    unparsed: int
    decode_errors: int
    errors: list[str]
    size: int | None
    mtime: float | None
    indexed_at: float
    complete: bool

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class IndexStats:
    """Size and contents of an index."""

    path: str
    size_bytes: int
    schema_version: int
    fts: bool
    sources: int
    records: int
    lines: int
    unparsed: int
    first_ts: float | None
    last_ts: float | None
    hosts: list[str]
    services: list[str]
    levels: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class LogIndex(IndexLoader):
    """A log index file: load records into it, query them back with a LogFilter.

    ``LogIndex()`` opens (and creates) ``default_index_path()``. With ``create=False``
    a missing file is a ConfigError (the CLI's query commands use that); ``rebuild``
    starts over when the file is an index of another schema version. A file that is
    not a stacktender index, or is damaged, raises StoreError and is left alone.
    """

    def __init__(
        self, path: str | Path | None = None, *, create: bool = True, rebuild: bool = False
    ) -> None:
        super().__init__(
            Path(path) if path is not None else default_index_path(), create=create, rebuild=rebuild
        )

    # -- querying ------------------------------------------------------------------------

    def query(
        self, log_filter: LogFilter | None = None, *, limit: int | None = None, order: str = "time"
    ) -> Iterator[LogRecord]:
        """The records the filter keeps, as the parser made them.

        ``order``: ``time`` (by time, ties in the order they were indexed),
        ``reverse`` (newest first) or ``none`` (storage order, fastest for everything).
        """
        return self._select(log_filter or LogFilter(), None, (), limit, order)

    def count(self, log_filter: LogFilter | None = None) -> int:
        """How many records the filter keeps."""
        log_filter = log_filter or LogFilter()
        if _untranslated(log_filter):
            return sum(1 for _ in self.query(log_filter, order="none"))
        with self._errors("query"):
            plan = self._plan(log_filter)
            if plan is None:
                return 0
            tables, conds, params = plan
            sql = f"SELECT count(*) FROM {tables}{_and(conds)}"
            return int(self._conn.execute(sql, params).fetchone()[0])

    def trace_records(
        self, ident: str, log_filter: LogFilter | None = None, *, ids: set[str] | None = None
    ) -> list[LogRecord]:
        """Every record of the request chain behind a request id, global request id or
        instance UUID, in time order: records whose request id or global request id is
        one of :meth:`related_ids` (pass ``ids`` if you have them), or whose instance
        is ``ident``."""
        if ids is None:
            ids = self.related_ids(ident)
        extra = (
            "r.id IN (SELECT id FROM records WHERE request_id IN (SELECT value FROM json_each(?))"
            " UNION SELECT id FROM records WHERE global_request_id IN"
            " (SELECT value FROM json_each(?)) UNION SELECT id FROM records WHERE instance = ?)"
        )
        id_list = json.dumps(sorted(ids))
        return list(self._select(log_filter or LogFilter(), extra, (id_list, id_list, ident)))

    def related_ids(self, ident: str) -> set[str]:
        """The ids linked to ``ident``: itself, the request and global request ids of the
        records of instance ``ident``, and, repeatedly, every id logged beside one of
        those (a request id beside its global request id). The same closure as
        ``stacktender.logs.trace.related_ids`` over files."""
        with self._errors("trace"):
            return self._closure(ident)

    def _closure(self, ident: str) -> set[str]:
        conn = self._conn
        ids: set[str] = {ident}
        frontier = [ident]
        seeds = conn.execute(
            "SELECT DISTINCT request_id, global_request_id FROM records WHERE instance = ?",
            (ident,),
        ).fetchall()
        for pair in seeds:
            for value in pair:
                if value and value not in ids:
                    ids.add(value)
                    frontier.append(value)
        while frontier:
            batch = json.dumps(frontier)
            found = conn.execute(
                "SELECT request_id, global_request_id FROM records WHERE request_id IN"
                " (SELECT value FROM json_each(?)) AND global_request_id IS NOT NULL"
                " UNION SELECT request_id, global_request_id FROM records WHERE"
                " global_request_id IN (SELECT value FROM json_each(?))",
                (batch, batch),
            ).fetchall()
            frontier = []
            for pair in found:
                for value in pair:
                    if value and value not in ids:
                        ids.add(value)
                        frontier.append(value)
        return ids

    def _select(
        self,
        log_filter: LogFilter,
        extra: str | None,
        extra_params: Sequence[object],
        limit: int | None = None,
        order: str = "time",
    ) -> Iterator[LogRecord]:
        orders = {"time": " ORDER BY r.ts, r.id", "reverse": " ORDER BY r.ts DESC, r.id DESC",
                  "none": ""}  # fmt: skip
        if order not in orders:
            raise ConfigError(f"unknown order {order!r}: use one of {', '.join(orders)}")
        python_check = _untranslated(log_filter)
        with self._errors("query"):
            plan = self._plan(log_filter, extra, extra_params)
            if plan is None:
                return iter(())
            tables, conds, params = plan
            source_names = dict(self._conn.execute("SELECT id, name FROM sources").fetchall())
            sql = f"SELECT {_COLUMNS} FROM {tables}{_and(conds)}{orders[order]}"
            if limit is not None and not python_check:
                sql += f" LIMIT {int(limit)}"
            cursor = self._conn.execute(sql, params)
        records = self._rows(cursor, source_names)
        if python_check:
            records = filter(log_filter, records)
        return records if limit is None else islice(records, limit)

    def _plan(
        self, log_filter: LogFilter, extra: str | None = None, extra_params: Sequence[object] = ()
    ) -> tuple[str, list[str], list[object]] | None:
        """FROM clause, conditions and parameters for a filter; None if nothing matches."""
        self._refresh_strings()
        where = self._where(log_filter)
        if where is None:
            return None
        conds, params = where
        if extra is not None:
            conds.append(extra)
            params.extend(extra_params)
        tables = _FROM
        if not log_filter.regex:
            return tables, conds, params
        pattern = re.compile(log_filter.regex)
        words = fts_query(pattern.pattern) if self.fts else None
        if words is not None and not self._few(conds, params):
            tables = "records_fts f JOIN records r ON r.id = f.rowid JOIN bodies b ON b.id = r.id"
            conds.insert(0, "records_fts MATCH ?")
            params.insert(0, words)
        literal = longest_literal(pattern)
        if literal is not None:  # C-speed narrowing before Python's re sees a row
            conds.append("instr(b.text, ?) > 0")
            params.append(literal)
        # re inside SQLite's scan: rows that do not match never become Python tuples
        conds.append("b.text REGEXP ?")
        params.append(pattern.pattern)
        return tables, conds, params

    def _few(self, conds: list[str], params: list[object]) -> bool:
        """Whether the non-regex conditions already leave few rows (then skip FTS)."""
        if not conds:
            return False
        sql = f"SELECT count(*) FROM (SELECT 1 FROM records r{_and(conds)} LIMIT {FTS_WORTH_IT})"
        return bool(self._conn.execute(sql, params).fetchone()[0] < FTS_WORTH_IT)

    def _rows(
        self,
        cursor: sqlite3.Cursor,
        source_names: dict[int, str],
    ) -> Iterator[LogRecord]:
        value: Callable[[int | None], Any] = self._values.__getitem__
        loads = json.loads
        with self._errors("read records"):
            for (ts, host, service, level, logger, pid, request_id, global_id, user, project,
                 instance, text, offset, length, message, traceback, lines, source, lineno,
                 parsed, fmt) in cursor:  # fmt: skip
                yield LogRecord(
                    ts, value(host), value(service), value(level), value(logger), pid,
                    request_id, global_id, value(user), value(project), instance,
                    text[offset : offset + length] if message is None else message,
                    text.split("\n") if lines is None else loads(lines),
                    [] if traceback is None else loads(traceback),
                    source_names.get(source, ""), lineno, bool(parsed), value(fmt),
                )  # fmt: skip

    def _where(self, f: LogFilter) -> tuple[list[str], list[object]] | None:
        """SQL conditions for a filter; None when nothing can match."""
        conds: list[str] = []
        params: list[object] = []
        if f.min_level:
            least = level_number(f.min_level)
            if least > _LEVELNOS[0]:
                levels = ", ".join(str(n) for n in _LEVELNOS if n >= least)
                conds.append(f"r.levelno IN ({levels})")
        for kind, patterns in (("service", f.services), ("host", f.hosts)):
            if patterns:
                sids = [
                    sid
                    for (sid,) in self._conn.execute(
                        "SELECT sid FROM names WHERE kind = ?", (kind,)
                    )
                    if _any_match(self._values.get(sid) or "", patterns)
                ]
                if not sids:
                    return None
                conds.append(f"r.{kind} IN ({', '.join(map(str, sids))})")
        if f.since is not None:
            conds.append("r.ts >= ?")
            params.append(f.since)
        if f.until is not None:
            conds.append("r.ts <= ?")
            params.append(f.until)
        for column, wanted in (("request_id", f.request_id),
                               ("global_request_id", f.global_request_id),
                               ("instance", f.instance)):  # fmt: skip
            if wanted:
                conds.append(f"r.{column} = ?")
                params.append(wanted)
        for column, wanted in (("project", f.project), ("user_name", f.user)):
            if wanted:
                sid = self._strings.get(wanted)
                if sid is None:
                    return None
                conds.append(f"r.{column} = {sid}")
        return conds, params

    # -- listing -------------------------------------------------------------------------

    def sources(self) -> list[IndexedSource]:
        """The indexed sources, by name."""
        with self._errors("list sources"):
            rows = self._conn.execute(
                "SELECT name, host, service, records, lines, unparsed, decode_errors, errors,"
                " size, mtime, indexed_at, complete FROM sources ORDER BY name"
            ).fetchall()
        listed = []
        for row in rows:
            listed.append(IndexedSource(
                name=row[0], host=row[1], service=row[2], records=row[3], lines=row[4],
                unparsed=row[5], decode_errors=row[6], errors=row[7].splitlines(),
                size=row[8], mtime=row[9], indexed_at=row[10], complete=bool(row[11]),
            ))  # fmt: skip
        return listed

    def stats(self) -> IndexStats:
        """What the index holds and how big its file is."""
        with self._errors("read statistics"):
            conn = self._conn
            self._refresh_strings()
            sources, lines, unparsed = conn.execute(
                "SELECT count(*), coalesce(sum(lines), 0), coalesce(sum(unparsed), 0) FROM sources"
            ).fetchone()
            # lines no format explains before any time stamp sit at 0: not a real time
            first, last = conn.execute(
                "SELECT (SELECT min(ts) FROM records WHERE parsed), max(ts) FROM records"
            ).fetchone()
            levels = dict(conn.execute(
                "SELECT levelno, count(*) FROM records GROUP BY levelno"
            ).fetchall())  # fmt: skip
            names = conn.execute("SELECT kind, sid FROM names").fetchall()
        size = sum(
            os.path.getsize(f"{self.path}{suffix}")
            for suffix in ("", "-wal")
            if os.path.exists(f"{self.path}{suffix}")
        )
        level_names = {number: name for name, number in reversed(LEVELS.items())}
        level_names[level_number("")] = "INFO"
        return IndexStats(
            path=str(self.path),
            size_bytes=size,
            schema_version=SCHEMA_VERSION,
            fts=self.fts,
            sources=sources,
            records=sum(levels.values()),
            lines=lines,
            unparsed=unparsed,
            first_ts=first,
            last_ts=last,
            hosts=sorted(str(self._values.get(s)) for k, s in names if k == "host"),
            services=sorted(str(self._values.get(s)) for k, s in names if k == "service"),
            levels={level_names.get(n, str(n)): c for n, c in sorted(levels.items())},
        )


def _and(conds: Sequence[str]) -> str:
    return " WHERE " + " AND ".join(conds) if conds else ""


def _any_match(value: str, patterns: tuple[str, ...]) -> bool:
    # the same test as LogFilter's, so the index keeps exactly what files would
    return any(value == p or fnmatch.fnmatchcase(value, p) for p in patterns)


def _untranslated(log_filter: LogFilter) -> bool:
    """Whether the filter sets a field this module does not turn into SQL."""
    for spec in fields(log_filter):
        if spec.name.startswith("_") or spec.name in _TRANSLATED:
            continue
        if getattr(log_filter, spec.name) != LogFilter.__dataclass_fields__[spec.name].default:
            return True
    return False
