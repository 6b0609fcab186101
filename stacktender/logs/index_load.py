"""Loading the log index: parsed records in, re-indexing that adds nothing twice.

This module owns the write side of ``LogIndex``: ``add`` (records as they come),
``index_sources`` (parse sources, skip a file indexed before and unchanged, rename a
rotated one, replace a changed one), ``forget``, and the bulk-load mechanics under
them (batched transactions, the text split between ``records`` and ``bodies``, the
FTS5 rows, secondary indexes built once after a first load). ``IndexReport`` is what
one ``index_sources`` run did. The schema is in ``index_schema``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import tzinfo
from itertools import chain, islice
from typing import Any

from stacktender.logs.index_schema import INDEXES, IndexFile
from stacktender.logs.record import LogRecord, ParseStats, level_number
from stacktender.logs.sources import LogSource

__all__ = ["BATCH", "IndexLoader", "IndexReport"]

BATCH = 20_000
_INSERT = f"INSERT INTO records VALUES ({', '.join('?' * 17)})"
_INSERT_BODY = "INSERT INTO bodies VALUES (?, ?, ?, ?, ?, ?, ?)"


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


class IndexLoader(IndexFile):
    """Loading on top of an open ``IndexFile``; ``LogIndex`` adds querying and listing."""

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
            for statement in INDEXES:
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


def _file_identity(name: str) -> tuple[int, int, int, float] | None:
    try:
        info = os.stat(name)
    except (OSError, ValueError):
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime)
