"""Alembic, configured from code: the migrations ship inside this package.

:func:`upgrade` brings a database to the newest schema under a lock, so that any
number of processes may open a fresh database at the same moment: SQLite takes its
write lock (``BEGIN IMMEDIATE``) first, PostgreSQL a transaction-scoped advisory
lock, MariaDB/MySQL a named ``GET_LOCK`` (its DDL is not transactional).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from stacktender.errors import StoreError
from stacktender.store.engine import BEGIN_IMMEDIATE

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "HEAD_REVISION",
    "MIGRATIONS_DIR",
    "alembic_config",
    "compare_type",
    "current_revision",
    "head_revision",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The newest migration's revision (a test keeps it equal to Alembic's head). Knowing it
# lets an up-to-date database open without importing Alembic at all.
HEAD_REVISION = "0003"
VERSION_TABLE = "alembic_version"

# Any fixed 64-bit number; PostgreSQL advisory locks are keyed by it.
_PG_LOCK_KEY = 0x5374_6163_6B74_6E64 & 0x7FFF_FFFF_FFFF_FFFF
_MYSQL_LOCK_NAME = "stacktender.store.migrate"
_MYSQL_LOCK_WAIT = 60
# Alembic keeps its running context in module globals: one migration per process at once.
_PROCESS_LOCK = threading.Lock()


def alembic_config(
    connection: Connection | None = None, url: str | None = None, output: TextIO | None = None
) -> Config:
    """An Alembic Config for the shipped migrations, bound to a connection or a URL."""
    from alembic.config import Config

    config = Config(output_buffer=output) if output is not None else Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the shipped migrations define."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None when it has no stacktender schema)."""
    with engine.connect() as connection:
        return _current(connection)


def upgrade(engine: Engine) -> str:
    """Run every pending migration (a no-op when at head); return the revision."""
    if current_revision(engine) == HEAD_REVISION:
        return HEAD_REVISION
    from alembic import command
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    config = alembic_config()
    with _PROCESS_LOCK, _locked(engine) as connection:
        found = _current(connection)
        try:
            if found is not None:
                ScriptDirectory.from_config(config).get_revision(found)
        except CommandError:
            raise StoreError(
                f"the database schema is at revision {found!r}, which this version of "
                "stacktender does not know: upgrade stacktender"
            ) from None
        config.attributes["connection"] = connection
        try:
            command.upgrade(config, "head")
        except CommandError as exc:
            raise StoreError(f"migration failed: {exc}") from None
        return _current(connection) or ""


def _current(connection: Connection) -> str | None:
    # The table's own query, so that reading the revision does not import Alembic.
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if not rows:
        return None
    return ",".join(sorted(rows))  # several only while branches are unmerged


def compare_type(
    context: Any,
    inspected_column: Any,
    metadata_column: Any,
    inspected_type: Any,
    metadata_type: Any,
) -> bool | None:
    """Autogenerate's type comparison, except that MariaDB's JSON (a LONGTEXT with a
    json_valid() check) is no change from JSON."""
    if context.dialect.name in {"mysql", "mariadb"}:
        from sqlalchemy import JSON
        from sqlalchemy.dialects.mysql import LONGTEXT

        if isinstance(metadata_type, JSON) and isinstance(inspected_type, LONGTEXT):
            return False
    return None  # alembic's own comparison


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """A connection holding the migration lock of engine's backend."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        with (
            engine.connect().execution_options(**{BEGIN_IMMEDIATE: True}) as connection,
            connection.begin(),
        ):
            yield connection
    elif dialect == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            yield connection
    elif dialect in {"mysql", "mariadb"}:
        # GET_LOCK names are server-wide: one lock per database.
        name = f"{_MYSQL_LOCK_NAME}.{engine.url.database}"[:64]
        with engine.connect() as connection:
            got = connection.execute(
                text("SELECT GET_LOCK(:name, :wait)"), {"name": name, "wait": _MYSQL_LOCK_WAIT}
            ).scalar()
            connection.commit()
            if got != 1:
                raise StoreError(
                    f"another process has been migrating the store for {_MYSQL_LOCK_WAIT}s"
                )
            try:
                yield connection
                connection.commit()
            finally:
                # Closing the connection releases the lock too, should this fail.
                with suppress(SQLAlchemyError):
                    connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": name})
                    connection.commit()
    else:
        with engine.begin() as connection:
            yield connection
