"""The log index file: its tables and indexes, and opening one safely.

This module owns what makes an SQLite file a stacktender log index: the schema (the
narrow ``records`` rows the B-tree indexes are built from, ``bodies`` with the text,
``strings`` for values repeated on many rows, ``sources``, the optional FTS5 table),
its version and application id, and ``IndexFile``, the base of ``LogIndex`` that
creates, checks and opens the file, turns sqlite3's exceptions into StoreError and
caches the string table. Loading lives in ``index_load``, querying in ``index``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from stacktender.errors import ConfigError, StoreError
from stacktender.logs.index_query import regexp

__all__ = ["APPLICATION_ID", "INDEXES", "SCHEMA_VERSION", "IndexFile"]

SCHEMA_VERSION = 1
# PRAGMA application_id marks the file as ours ("STLX"): a foreign SQLite file is refused.
APPLICATION_ID = 0x53544C58

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
INDEXES = (
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


class IndexFile:
    """An open index file: created or checked on opening, closed by ``close`` or ``with``."""

    def __init__(self, path: Path, *, create: bool, rebuild: bool) -> None:
        self.path = path
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
            conn.create_function("regexp", 2, regexp, deterministic=True)
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA temp_store = MEMORY")
            conn.execute("PRAGMA cache_size = -65536")
            conn.execute("PRAGMA mmap_size = 1073741824")
            built = conn.execute(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name LIKE 'records_%'"
            ).fetchone()[0]
        if built < len(INDEXES):
            try:  # a first load was interrupted before it built them
                for statement in INDEXES:
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

    def __enter__(self) -> Self:
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


def _fts5_available(conn: sqlite3.Connection) -> bool:
    """Whether this SQLite was built with FTS5 (most are; some distributions' are not)."""
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.fts5_probe USING fts5(x)")
    except sqlite3.OperationalError:
        return False  # --grep then reads every row the other conditions leave
    conn.execute("DROP TABLE temp.fts5_probe")
    return True
