"""From a store URL to a configured SQLAlchemy engine, and from driver errors to one line.

Operators write ``sqlite:///path``, ``postgresql://...`` or ``mysql://...``; this module
picks the installed driver (psycopg 3, PyMySQL), sets connection timeouts and, on
SQLite, WAL mode, a busy timeout and real ``BEGIN`` statements so that schema changes
are transactional and two processes can open one database at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from stacktender.config import default_data_dir
from stacktender.errors import StoreError
from stacktender.secrets import mask_url, redact

__all__ = [
    "BEGIN_IMMEDIATE",
    "DEFAULT_CONNECT_TIMEOUT",
    "create_store_engine",
    "default_url",
    "describe_error",
    "normalize_url",
]

DEFAULT_CONNECT_TIMEOUT = 10.0
# Seconds a MariaDB/MySQL read or write may take before PyMySQL gives up, so that a
# server that stops answering cannot hang a command (PyMySQL has no other deadline).
MYSQL_IO_TIMEOUT = 60
# Seconds SQLite waits for another writer's lock before "database is locked".
SQLITE_BUSY_TIMEOUT = 30.0
# Execution option: begin SQLite transactions with BEGIN IMMEDIATE (take the write lock).
BEGIN_IMMEDIATE = "stacktender_begin_immediate"

_DRIVERS = {
    "sqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
    "mysql+pymysql": "mysql+pymysql",
    "mariadb+pymysql": "mysql+pymysql",
}
_EXAMPLES = "sqlite:///PATH, postgresql://USER@HOST/DB or mysql://USER@HOST/DB"


def default_url() -> str:
    """SQLite under the data directory (``~/.local/share/stacktender/stacktender.db``)."""
    return f"sqlite:///{default_data_dir() / 'stacktender.db'}"


def normalize_url(url: str) -> URL:
    """Parse a store URL and map its scheme to the driver stacktender ships."""
    masked = mask_url(url)
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in _DRIVERS:
        shown = f"{scheme!r}" if scheme else "none"
        raise StoreError(f"store URL {masked}: unsupported scheme {shown} (use {_EXAMPLES})")
    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018 - validate the port now, not at connect time
    except (ArgumentError, ValueError):
        raise StoreError(f"store URL {masked}: cannot parse it (use {_EXAMPLES})") from None
    parsed = parsed.set(drivername=_DRIVERS[scheme])
    if parsed.drivername == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise StoreError(f"store URL {masked}: SQLite needs a file, as in sqlite:///PATH")
    elif not parsed.database:
        raise StoreError(f"store URL {masked}: no database name (as in {_EXAMPLES})")
    if parsed.drivername == "mysql+pymysql" and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed


def create_store_engine(
    url: URL, *, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT, masked: str = ""
) -> Engine:
    """An engine for url with timeouts set; creates a SQLite file's directory."""
    connect_args: dict[str, Any] = {}
    if url.drivername == "sqlite":
        path = Path(str(url.database)).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"store {masked}: cannot create {path.parent}: {exc.strerror or exc}"
            ) from None
        connect_args["timeout"] = SQLITE_BUSY_TIMEOUT
    elif url.drivername == "postgresql+psycopg":
        # libpq counts whole seconds and at least 2.
        connect_args["connect_timeout"] = max(2, round(connect_timeout))
    else:
        # PyMySQL's connect_timeout covers only the TCP connect; the read timeout also
        # bounds the handshake, and is raised for queries once connected.
        connect_args["connect_timeout"] = connect_timeout
        connect_args["read_timeout"] = connect_timeout
        connect_args["write_timeout"] = max(MYSQL_IO_TIMEOUT, connect_timeout)
    engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
    if url.drivername == "sqlite":
        _sqlite_setup(engine)
    elif url.drivername == "mysql+pymysql":
        _mysql_setup(engine, max(MYSQL_IO_TIMEOUT, connect_timeout))
    return engine


def _mysql_setup(engine: Engine, io_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # PyMySQL reads this attribute before every read (it has no public setter); if a
        # release renames it, queries keep the connect timeout, which is merely stricter.
        if hasattr(dbapi_connection, "_read_timeout"):
            dbapi_connection._read_timeout = io_timeout


def _wal(cursor: Any) -> None:
    """Switch to WAL, waiting out a concurrent switch: SQLite answers "database is
    locked" at once, without its busy handler, while another process opening the same
    new database holds the lock the switch needs (seen with four processes at once)."""
    import sqlite3
    import time

    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_setup(engine: Engine) -> None:
    """WAL, busy timeout, foreign keys, and BEGIN emitted by us: pysqlite's own
    implicit transactions do not cover DDL, which would make migrations race."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT * 1000)}")
            _wal(cursor)
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(BEGIN_IMMEDIATE)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def describe_error(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """The first line of a driver error, without SQL, driver noise or passwords."""
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        text = args[1]  # PyMySQL: (code, message)
    else:
        text = str(orig)
    # MariaDB's "(using password: YES)" reveals nothing but reads like a secret to redact().
    text = text.replace("using password: YES", "with a password")
    text = text.replace("using password: NO", "without a password")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[0] if lines else type(orig).__name__
    return redact(" ".join(line.split()), secrets)
