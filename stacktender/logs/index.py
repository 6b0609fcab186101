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

``trace_records`` answers ``logs trace`` from the index with the same closure of ids
as ``stacktender.logs.trace`` computes over files, in a few index lookups.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import tzinfo
from functools import lru_cache
from itertools import chain, islice
from pathlib import Path
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parser  # type: ignore[attr-defined]
from typing import Any

from stacktender.config import default_data_dir
from stacktender.errors import ConfigError, StoreError
from stacktender.logs.filters import LogFilter
from stacktender.logs.record import LEVELS, LogRecord, ParseStats, level_number
from stacktender.logs.sources import LogSource

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

SCHEMA_VERSION = 1
# PRAGMA application_id marks the file as ours ("STLX"): a foreign SQLite file is refused.
APPLICATION_ID = 0x53544C58
BATCH = 20_000
# Below this many rows matching the other conditions, Python's re over them beats FTS.
FTS_WORTH_IT = 20_000

_SCHEMA = """
CREATE TABLE strings (id INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE);
-- distinct hosts and services (string ids), to resolve shell patterns without a scan
CREATE TABLE names (kind TEXT NOT NULL, sid INTEGER NOT NULL, PRIMARY KEY (kind, sid))
    WITHOUT ROWID;
CREATE TABLE sources (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    host TEXT NOT NULL DEFAULT '',
    service TEXT NOT NULL DEFAULT '',
    tz TEXT NOT NULL DEFAULT '',
    skew REAL NOT NULL DEFAULT 0,
    device INTEGER,
    inode INTEGER,
    size INTEGER,
    mtime REAL,
    lines INTEGER NOT NULL DEFAULT 0,
    records INTEGER NOT NULL DEFAULT 0,
    unparsed INTEGER NOT NULL DEFAULT 0,
    decode_errors INTEGER NOT NULL DEFAULT 0,
    errors TEXT NOT NULL DEFAULT '',
    first_id INTEGER,
    last_id INTEGER,
    complete INTEGER NOT NULL DEFAULT 0,
    indexed_at REAL NOT NULL
);
CREATE TABLE records (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    source_id INTEGER NOT NULL,
    lineno INTEGER NOT NULL,
    host INTEGER NOT NULL,
    service INTEGER NOT NULL,
    levelno INTEGER NOT NULL,
    level INTEGER NOT NULL,
    logger INTEGER NOT NULL,
    pid INTEGER,
    request_id TEXT,
    global_request_id TEXT,
    user_name INTEGER,
    project INTEGER,
    instance TEXT,
    parsed INTEGER NOT NULL,
    fmt INTEGER NOT NULL
);
-- what is printed and grepped, apart from the narrow rows the indexes are built from
CREATE TABLE bodies (
    id INTEGER PRIMARY KEY,
    text TEXT NOT NULL,
    -- message = text[msg_off:msg_off + msg_len] unless message is set
    msg_off INTEGER NOT NULL,
    msg_len INTEGER NOT NULL,
    message TEXT,
    traceback TEXT,
    -- JSON list, only when text.split('\\n') would not give the lines back
    lines TEXT
);
"""
_FTS = (
    "CREATE VIRTUAL TABLE records_fts USING fts5("
    "text, content='bodies', content_rowid='id', detail=none)"
)
# Built after a first bulk load (faster than maintaining them row by row) and checked
# on every open, so an interrupted load still ends with every index in place.
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS records_ts ON records (ts)",
    "CREATE INDEX IF NOT EXISTS records_level_ts ON records (levelno, ts)",
    "CREATE INDEX IF NOT EXISTS records_service_ts ON records (service, ts)",
    "CREATE INDEX IF NOT EXISTS records_host_ts ON records (host, ts)",
    "CREATE INDEX IF NOT EXISTS records_request ON records (request_id)"
    " WHERE request_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS records_global ON records (global_request_id)"
    " WHERE global_request_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS records_instance ON records (instance) WHERE instance IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS records_project ON records (project) WHERE project IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS records_user ON records (user_name) WHERE user_name IS NOT NULL",
)
_COLUMNS = (
    "r.ts, r.host, r.service, r.level, r.logger, r.pid, r.request_id, r.global_request_id, "
    "r.user_name, r.project, r.instance, b.text, b.msg_off, b.msg_len, b.message, "
    "b.traceback, b.lines, r.source_id, r.lineno, r.parsed, r.fmt"
)
_FROM = "records r JOIN bodies b ON b.id = r.id"
_INSERT = f"INSERT INTO records VALUES ({', '.join('?' * 17)})"
_INSERT_BODY = "INSERT INTO bodies VALUES (?, ?, ?, ?, ?, ?, ?)"
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
class IndexReport:
    """What one ``index_sources`` run did."""

    indexed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    records: int = 0
    seconds: float = 0.0
    stats: ParseStats = field(default_factory=ParseStats)

    def as_dict(self) -> dict[str, Any]:
        return {
            "indexed": self.indexed,
            "skipped": self.skipped,
            "renamed": [list(pair) for pair in self.renamed],
            "failed": self.failed,
            "records": self.records,
            "seconds": round(self.seconds, 3),
            "parse": self.stats.as_dict(),
        }


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


class LogIndex:
    """A log index file: load records into it, query them back with a LogFilter.

    ``LogIndex()`` opens (and creates) ``default_index_path()``. With ``create=False``
    a missing file is a ConfigError (the CLI's query commands use that); ``rebuild``
    starts over when the file is an index of another schema version. A file that is
    not a stacktender index, or is damaged, raises StoreError and is left alone.
    """

    def __init__(
        self, path: str | Path | None = None, *, create: bool = True, rebuild: bool = False
    ) -> None:
        self.path = Path(path) if path is not None else default_index_path()
        self._strings: dict[str, int] = {}
        self._values: dict[int | None, str | None] = {None: None}
        self._strings_max = -1
        self._conn = self._connect(create, rebuild)
        self.fts = self._has_table("records_fts")

    # -- opening -------------------------------------------------------------------------

    def _connect(self, create: bool, rebuild: bool) -> sqlite3.Connection:
        if not self.path.exists():
            if not create:
                raise ConfigError(
                    f"no log index at {self.path}: build one with `stacktender logs index PATH...`"
                )
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create log index {self.path}: {exc}") from None
        elif self.path.is_dir():
            raise StoreError(f"log index {self.path} is a directory, not a file")
        with self._errors("open"):
            conn = sqlite3.connect(self.path, isolation_level=None)
            try:
                app_id = conn.execute("PRAGMA application_id").fetchone()[0]
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                tables = conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
            except sqlite3.DatabaseError:
                conn.close()
                raise
            if app_id == APPLICATION_ID and version != SCHEMA_VERSION and rebuild:
                conn.close()
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{self.path}{suffix}").unlink(missing_ok=True)
                conn = sqlite3.connect(self.path, isolation_level=None)
                app_id = version = tables = 0
        if app_id == 0 and tables == 0:
            if not create:
                conn.close()
                raise ConfigError(
                    f"{self.path} is an empty file, not a log index: "
                    "build one with `stacktender logs index PATH...`"
                )
            with self._errors("create"):
                self._create(conn)
        elif app_id != APPLICATION_ID:
            conn.close()
            raise StoreError(
                f"{self.path} is an SQLite database but not a stacktender log index; "
                "give another index path"
            )
        elif version != SCHEMA_VERSION:
            conn.close()
            raise StoreError(
                f"log index {self.path} has schema version {version}, this stacktender "
                f"uses version {SCHEMA_VERSION}: rebuild it (`stacktender logs index "
                "--rebuild PATH...`) or delete the file"
            )
        with self._errors("open"):
            conn.create_function("regexp", 2, _regexp, deterministic=True)
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA temp_store = MEMORY")
            conn.execute("PRAGMA cache_size = -65536")
            conn.execute("PRAGMA mmap_size = 1073741824")
            built = conn.execute(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name LIKE 'records_%'"
            ).fetchone()[0]
        if built < len(_INDEXES):
            try:  # a first load was interrupted before it built them
                for statement in _INDEXES:
                    conn.execute(statement)
            except sqlite3.OperationalError:
                pass  # read-only or busy: queries still work, only slower
        return conn

    def _create(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        if _fts5_available(conn):
            conn.execute(_FTS)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """sqlite3's exceptions -> StoreError naming the file and what was being done."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            text = str(exc)
            if "file is not a database" in text or "malformed" in text:
                reason = f"it is not a stacktender log index or it is damaged ({text})"
            elif "locked" in text or "busy" in text:
                reason = f"another process holds it ({text})"
            else:
                reason = text
            raise StoreError(f"log index {self.path}: cannot {action}: {reason}") from None
        except sqlite3.Error as exc:
            raise StoreError(f"log index {self.path}: cannot {action}: {exc}") from None

    def _has_table(self, name: str) -> bool:
        with self._errors("read"):
            row = self._conn.execute(
                "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", (name,)
            ).fetchone()
        return row is not None

    def close(self) -> None:
        """Close the file (queries still being iterated stop working)."""
        self._conn.close()

    def __enter__(self) -> LogIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- strings -------------------------------------------------------------------------

    def _refresh_strings(self) -> None:
        """Reload the string table when another writer (or process) added to it."""
        top = self._conn.execute("SELECT coalesce(max(id), 0) FROM strings").fetchone()[0]
        if top != self._strings_max:
            rows = self._conn.execute("SELECT id, value FROM strings").fetchall()
            self._strings = {value: sid for sid, value in rows}
            self._values = {sid: value for sid, value in rows}
            self._values[None] = None
            self._strings_max = top

    def _intern(self, value: str) -> int:
        sid = self._strings.get(value)
        if sid is None:
            conn = self._conn
            conn.execute("INSERT OR IGNORE INTO strings (value) VALUES (?)", (value,))
            sid = conn.execute("SELECT id FROM strings WHERE value = ?", (value,)).fetchone()[0]
            self._strings[value] = sid
            self._values[sid] = value
        return sid

    # -- loading -------------------------------------------------------------------------

    def add(self, records: Iterable[LogRecord]) -> int:
        """Append records (any sources, any order); returns how many were stored.

        Low level: it does not look for records already there. Use
        :meth:`index_sources` to index files so that a second run adds nothing.
        """
        source_ids: dict[str, int] = {}

        def source_id(name: str) -> int:
            sid = source_ids.get(name)
            if sid is None:
                row = self._conn.execute("SELECT id FROM sources WHERE name = ?", (name,))
                found = row.fetchone()
                if found is None:
                    sid = self._conn.execute(
                        "INSERT INTO sources (name, complete, indexed_at) VALUES (?, 1, ?)",
                        (name, time.time()),
                    ).lastrowid
                    assert sid is not None
                else:
                    sid = found[0]
                source_ids[name] = sid
            return sid

        with self._errors("add records"), self._loading():
            ranges = self._store(records, source_id)
            for sid, (first, last, count) in ranges.items():
                self._conn.execute(
                    "UPDATE sources SET first_id = min(coalesce(first_id, ?), ?),"
                    " last_id = max(coalesce(last_id, ?), ?), records = records + ?,"
                    " indexed_at = ? WHERE id = ?",
                    (first, first, last, last, count, time.time(), sid),
                )
        return sum(count for _, _, count in ranges.values())

    def index_sources(
        self,
        sources: Sequence[LogSource],
        *,
        tz: tzinfo | None = None,
        skews: Mapping[str, float] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> IndexReport:
        """Parse and index sources; a file indexed before and unchanged is skipped.

        A local file is known by its name, device, inode, size and mtime (and the
        host, service, time zone and skew it was read with). Changed: its records are
        replaced. Rotated (``x.log`` now ``x.log.1``, same inode and size): the
        indexed source is renamed, nothing is parsed again. stdin and remote sources
        have no such identity: they are read again and replace their previous records.
        A source that cannot be read keeps what was indexed from it before.
        """
        started = time.perf_counter()
        report = IndexReport()
        skews = skews or {}
        tz_text = str(tz) if tz is not None else ""
        with self._errors("index sources"):
            known = {row[1]: row for row in self._conn.execute(
                "SELECT id, name, host, service, tz, skew, device, inode, size, mtime, complete"
                " FROM sources"
            )}  # fmt: skip
            plan: list[tuple[LogSource, tuple[int, int, int, float] | None]] = []
            for source in sources:
                identity = _file_identity(source.name)
                options = (source.host, source.service, tz_text, skews.get(source.host, 0.0))
                row = known.get(source.name)
                if (
                    row is not None
                    and row[10]
                    and tuple(row[2:6]) == options
                    and tuple(row[6:10]) == identity
                ):
                    report.skipped.append(source.name)
                    continue
                plan.append((source, identity))
            plan = self._renames(plan, known, tz_text, skews, report)
            with self._loading():
                for source, identity in plan:
                    if progress is not None:
                        progress(source.name)
                    self._index_one(source, identity, tz, tz_text, skews, report)
        report.seconds = time.perf_counter() - started
        return report

    def _renames(
        self,
        plan: list[tuple[LogSource, tuple[int, int, int, float] | None]],
        known: dict[str, tuple[Any, ...]],
        tz_text: str,
        skews: Mapping[str, float],
        report: IndexReport,
    ) -> list[tuple[LogSource, tuple[int, int, int, float] | None]]:
        """Rename indexed sources whose file was rotated to a name in ``plan``."""
        by_identity = {tuple(row[2:10]): row for row in known.values() if row[10] and row[6]}
        if not by_identity:
            return plan
        remaining = []
        for source, identity in plan:
            options = (source.host, source.service, tz_text, skews.get(source.host, 0.0))
            key = (*options, *identity) if identity else None
            row = by_identity.get(key) if key else None
            # the same file under its old name, if that name now holds something else
            # (rotation) or is another spelling of this path (./x.log, /var/log/x.log)
            if row is None or (
                _file_identity(row[1]) == identity
                and os.path.realpath(row[1]) != os.path.realpath(source.name)
            ):
                remaining.append((source, identity))
                continue
            del by_identity[row[2:10]]
            self._conn.execute("BEGIN IMMEDIATE")
            target = known.get(source.name)
            if target is not None and target[0] != row[0]:
                self._delete_source(target[0])
            self._conn.execute("UPDATE sources SET name = ? WHERE id = ?", (source.name, row[0]))
            self._conn.execute("COMMIT")
            known.pop(row[1], None)
            known[source.name] = row
            report.renamed.append((row[1], source.name))
        return remaining

    def _index_one(
        self,
        source: LogSource,
        identity: tuple[int, int, int, float] | None,
        tz: tzinfo | None,
        tz_text: str,
        skews: Mapping[str, float],
        report: IndexReport,
    ) -> None:
        conn = self._conn
        skew = skews.get(source.host, 0.0)
        records = iter(source.records(tz=tz, skew=skew))
        first = next(records, None)
        if first is None and source.stats.errors:
            report.failed.extend(source.stats.errors)
            report.stats.add(source.stats)
            return  # unreadable: keep what an earlier run indexed from it
        conn.execute("BEGIN IMMEDIATE")
        old = conn.execute("SELECT id FROM sources WHERE name = ?", (source.name,)).fetchone()
        if old is not None:
            self._delete_source(old[0])
        device, inode, size, mtime = identity or (None, None, None, None)
        sid = conn.execute(
            "INSERT INTO sources (name, host, service, tz, skew, device, inode, size, mtime,"
            " complete, indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
            (source.name, source.host, source.service, tz_text, skew, device, inode, size,
             mtime, time.time()),
        ).lastrowid  # fmt: skip
        assert sid is not None
        conn.execute("COMMIT")
        stream = records if first is None else chain((first,), records)
        ranges = self._store(stream, lambda _name: sid)
        first_id, last_id, count = ranges.get(sid, (None, None, 0))
        stats = source.stats
        conn.execute(
            "UPDATE sources SET first_id = ?, last_id = ?, records = ?, lines = ?,"
            " unparsed = ?, decode_errors = ?, errors = ?, complete = 1 WHERE id = ?",
            (first_id, last_id, count, stats.lines, stats.unparsed, stats.decode_errors,
             "\n".join(stats.errors), sid),
        )  # fmt: skip
        report.indexed.append(source.name)
        report.records += count
        report.failed.extend(source.stats.errors)
        report.stats.add(source.stats)

    def _delete_source(self, sid: int) -> None:
        """Remove one source and its records (inside the caller's transaction)."""
        conn = self._conn
        first, last = conn.execute(
            "SELECT first_id, last_id FROM sources WHERE id = ?", (sid,)
        ).fetchone()
        if first is not None:
            if self.fts:
                conn.execute(
                    "INSERT INTO records_fts (records_fts, rowid, text) SELECT 'delete', id, text"
                    " FROM bodies WHERE id IN (SELECT id FROM records"
                    " WHERE id BETWEEN ? AND ? AND source_id = ?)",
                    (first, last, sid),
                )
            for table in ("bodies", "records"):  # bodies first: it finds its rows by records
                conn.execute(
                    f"DELETE FROM {table} WHERE id IN (SELECT id FROM records"
                    " WHERE id BETWEEN ? AND ? AND source_id = ?)",
                    (first, last, sid),
                )
        conn.execute("DELETE FROM sources WHERE id = ?", (sid,))

    def forget(self, names: Iterable[str]) -> int:
        """Drop sources (by name, as :meth:`sources` lists them) and their records."""
        dropped = 0
        with self._errors("forget sources"):
            for name in names:
                self._conn.execute("BEGIN IMMEDIATE")
                row = self._conn.execute("SELECT id FROM sources WHERE name = ?", (name,))
                found = row.fetchone()
                if found is not None:
                    self._delete_source(found[0])
                    dropped += 1
                self._conn.execute("COMMIT")
        return dropped

    @contextmanager
    def _loading(self) -> Iterator[None]:
        """Bulk-load settings; a first load builds the secondary indexes at the end."""
        conn = self._conn
        fresh = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM records)").fetchone()[0]
        if fresh:
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'records'"
                " AND sql IS NOT NULL"
            ).fetchall():
                conn.execute(f"DROP INDEX {name}")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")  # B-tree inserts and index sorts
        try:
            yield
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
                self._strings_max = -1  # the cache may name strings the rollback removed
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA cache_size = -65536")
            for statement in _INDEXES:
                conn.execute(statement)
            conn.execute("PRAGMA analysis_limit = 1000")
            conn.execute("ANALYZE")
            # fold the WAL back into the file: readers then find every page in one place
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _store(
        self, records: Iterable[LogRecord], source_id: Callable[[str], int]
    ) -> dict[int, tuple[int, int, int]]:
        """Insert in batches, one transaction each; returns {source id: (first, last, n)}."""
        conn = self._conn
        self._refresh_strings()
        intern = self._intern
        levelnos: dict[str, int] = {}
        hosts: set[int] = set()
        services: set[int] = set()
        ranges: dict[int, tuple[int, int, int]] = {}
        iterator = iter(records)
        while True:
            batch = list(islice(iterator, BATCH))
            if not batch:
                break
            conn.execute("BEGIN IMMEDIATE")
            next_id = conn.execute("SELECT coalesce(max(id), 0) FROM records").fetchone()[0] + 1
            rows = []
            bodies = []
            for rid, record in enumerate(batch, next_id):
                lines = record.lines
                if len(lines) == 1 and "\n" not in lines[0]:
                    text = lines[0]
                    lines_json = None
                else:
                    text = "\n".join(lines)
                    lines_json = None if lines and text.split("\n") == lines else json.dumps(lines)
                message = record.message
                newline = message.find("\n")
                offset = (len(lines[0]) if lines else 0) - (
                    newline if newline >= 0 else len(message)
                )
                if offset >= 0 and text.startswith(message, offset):
                    kept: str | None = None
                else:
                    offset, kept = 0, message
                level = record.level
                levelno = levelnos.get(level)
                if levelno is None:
                    levelno = levelnos[level] = level_number(level)
                host, service = intern(record.host), intern(record.service)
                hosts.add(host)
                services.add(service)
                sid = source_id(record.source)
                span = ranges.get(sid)
                ranges[sid] = (rid, rid, 1) if span is None else (span[0], rid, span[2] + 1)
                rows.append((
                    rid, record.ts, sid, record.lineno, host, service, levelno,
                    intern(level), intern(record.logger), record.pid, record.request_id,
                    record.global_request_id,
                    None if record.user is None else intern(record.user),
                    None if record.project is None else intern(record.project),
                    record.instance, int(record.parsed), intern(record.fmt),
                ))  # fmt: skip
                bodies.append((
                    rid, text, offset, len(message), kept,
                    json.dumps(record.traceback) if record.traceback else None, lines_json,
                ))  # fmt: skip
            conn.executemany(_INSERT, rows)
            conn.executemany(_INSERT_BODY, bodies)
            if self.fts:
                conn.executemany(
                    "INSERT INTO records_fts (rowid, text) VALUES (?, ?)",
                    [(body[0], body[1]) for body in bodies],
                )
            conn.executemany(
                "INSERT OR IGNORE INTO names VALUES (?, ?)",
                [("host", h) for h in hosts] + [("service", s) for s in services],
            )
            conn.execute("COMMIT")
        return ranges

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


# -- helpers ---------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _regexp(pattern: str, text: str) -> bool:
    """SQLite's ``text REGEXP pattern``: Python's re.search, as LogFilter applies it."""
    return _compiled(pattern).search(text) is not None


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


def _file_identity(name: str) -> tuple[int, int, int, float] | None:
    try:
        info = os.stat(name)
    except (OSError, ValueError):
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime)


def _fts5_available(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.fts5_probe USING fts5(x)")
    except sqlite3.OperationalError:
        return False  # --grep then reads every row the other conditions leave
    conn.execute("DROP TABLE temp.fts5_probe")
    return True


# -- regex -> FTS5 ---------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z0-9]+")
_C = sre_constants
_REPEATS = {_C.MAX_REPEAT, _C.MIN_REPEAT, _C.POSSESSIVE_REPEAT}
# Assertions after or before which a word must start or end. Not \b: Python's word
# characters and FTS5's differ (a private-use character is a letter to FTS5 only).
_EDGES = {_C.AT_BEGINNING, _C.AT_BEGINNING_STRING, _C.AT_END, _C.AT_END_STRING}
MIN_WORD = 3


def fts_query(pattern: str) -> str | None:
    """An FTS5 query that every text the regex matches also matches, or None.

    The index splits text into words of letters and digits, case folded. A run of
    literal characters the regex requires contains such words; a word with a known
    separator before it (an ASCII non-alphanumeric character, whitespace, the start
    of a line) begins a word of the text: a prefix query, or a whole-word query when
    a separator follows it too. Words shorter than three characters, and anything
    the regex does not require, are left to ``re`` on the rows FTS5 returns.
    """
    try:
        parsed = sre_parser.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return None
    return _required(list(parsed), False, False)


def longest_literal(pattern: re.Pattern[str]) -> str | None:
    """The longest run of characters every match of a case-sensitive regex contains
    (three or more), or None."""
    if pattern.flags & re.IGNORECASE:
        return None
    try:
        runs = list(_literal_runs(list(sre_parser.parse(pattern.pattern))))
    except (re.error, RecursionError, OverflowError):
        return None
    best = max(runs, key=len, default="")
    return best if len(best) >= MIN_WORD else None


def _literal_runs(items: list[tuple[Any, Any]]) -> Iterator[str]:
    run: list[str] = []
    for op, arg in items:
        if op is _C.LITERAL:
            run.append(chr(arg))
            continue
        if run:
            yield "".join(run)
            run = []
        if op is _C.SUBPATTERN and not arg[1] & _C.SRE_FLAG_IGNORECASE:
            yield from _literal_runs(list(arg[-1]))
        elif op is _C.ATOMIC_GROUP:
            yield from _literal_runs(list(arg))
        elif op in _REPEATS and arg[0] >= 1:
            yield from _literal_runs(list(arg[2]))
    if run:
        yield "".join(run)


def _separator(op: Any, arg: Any) -> bool:
    """Whether what ``op`` matches (or asserts) is a word boundary for FTS5."""
    if op is _C.LITERAL:
        return chr(arg).isascii() and not chr(arg).isalnum()
    if op is _C.AT:
        return arg in _EDGES
    if op is _C.IN:
        return all(
            (kind is _C.CATEGORY and value is _C.CATEGORY_SPACE)
            or (kind is _C.LITERAL and chr(value).isascii() and not chr(value).isalnum())
            for kind, value in arg
        )
    return False


def _required(items: list[tuple[Any, Any]], left: bool, right: bool) -> str | None:
    """The FTS terms ``items`` require; ``left``/``right``: whether a word boundary is
    known to come just before/after them."""
    terms: list[str] = []
    run: list[str] = []
    run_left = before = left
    for position, (op, arg) in enumerate(items):
        if op is _C.LITERAL:
            if not run:
                run_left = before
            run.append(chr(arg))
            before = _separator(op, arg)
            continue
        after = _separator(*items[position + 1]) if position + 1 < len(items) else right
        terms.extend(_words("".join(run), run_left, _separator(op, arg)))
        run.clear()
        sub: str | None = None
        if op is _C.SUBPATTERN:
            sub = _required(list(arg[-1]), before, after)
        elif op is _C.ATOMIC_GROUP:
            sub = _required(list(arg), before, after)
        elif op in _REPEATS and arg[0] >= 1:
            # only the first repetition is sure to follow ``before``, and only the
            # last to precede ``after``: with one required, both are the same one
            once = arg[0] == 1 and arg[1] == 1
            sub = _required(list(arg[2]), before, after if once else False)
        elif op is _C.BRANCH:
            options = [_required(list(option), before, after) for option in arg[1]]
            if options and all(options):
                sub = "(" + " OR ".join(f"({o})" for o in options) + ")"
        if sub:
            terms.append(sub)
        before = _separator(op, arg)
    terms.extend(_words("".join(run), run_left, right))
    return " AND ".join(terms) or None


def _words(run: str, left: bool, right: bool) -> list[str]:
    words = []
    for match in _WORD.finditer(run):
        start, end = match.span()
        # a non-ASCII neighbour may be a letter of the same word: no boundary known
        starts = run[start - 1].isascii() if start else left
        if not starts or end - start < MIN_WORD:
            continue
        ends = run[end].isascii() if end < len(run) else right
        words.append(f'"{match.group().lower()}"' + ("" if ends else "*"))
    return words
