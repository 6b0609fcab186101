"""The testcloud's databases on a MariaDB/MySQL or PostgreSQL server.

Every database is named ``<cloud name>_<database>`` (``testcloud_nova``, ...), so a
testcloud never touches anything else on a shared server.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa

from stacktender.testcloud.errors import PrerequisiteMissing, TestCloudError

__all__ = ["check_server", "create_databases", "drop_databases"]

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_]+$")


def _admin_url(server_url: str) -> str:
    """URL stacktender itself connects with (its own drivers: PyMySQL, psycopg 3)."""
    parts = urlsplit(server_url)
    scheme = parts.scheme
    if scheme.startswith("postgres"):
        return urlunsplit(("postgresql+psycopg", parts.netloc, "/postgres", "", ""))
    if scheme.startswith("mysql") or scheme.startswith("mariadb"):
        return urlunsplit(("mysql+pymysql", parts.netloc, "/", "", ""))
    raise TestCloudError(
        f"unsupported database URL {_masked(server_url)!r}: "
        "use mysql+pymysql://USER@HOST:PORT or postgresql://USER@HOST:PORT"
    )


def _engine(server_url: str) -> sa.engine.Engine:
    return sa.create_engine(
        _admin_url(server_url),
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 5},
        poolclass=sa.pool.NullPool,
    )


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def check_server(server_url: str) -> None:
    """Connect once; PrerequisiteMissing with a one-line reason if the server is absent."""
    try:
        with _engine(server_url).connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        raise PrerequisiteMissing(
            f"database server {_masked(server_url)} is not reachable: {reason} "
            "(start it, e.g. scripts/ensure-services.sh, or pass --db)"
        ) from None


def create_databases(server_url: str, names: Iterable[str]) -> None:
    """Create each database unless it exists."""
    engine = _engine(server_url)
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        for name in names:
            _check_name(name)
            if postgres:
                found = conn.execute(
                    sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
                ).first()
                if not found:
                    conn.execute(sa.text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8'"))
            else:
                conn.execute(sa.text(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8"))


def drop_databases(server_url: str, names: Iterable[str]) -> None:
    """Drop each database if it exists (PostgreSQL: its sessions are ended first)."""
    engine = _engine(server_url)
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        for name in names:
            _check_name(name)
            if postgres:
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :n AND pid <> pg_backend_pid()"
                    ),
                    {"n": name},
                )
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            else:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))


def _check_name(name: str) -> None:
    if not _SAFE_NAME.match(name):
        raise TestCloudError(f"refusing database name {name!r}: only letters, digits and _")
