"""Store fixtures for every test package: one store URL per backend (SQLite, PostgreSQL,
MariaDB), empty per test.

PostgreSQL and MariaDB are the shared servers on 127.0.0.1 (scripts/ensure-services.sh);
each test session creates its own uniquely named database on them and drops it after.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine
from sqlalchemy.pool import NullPool

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5"
MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "connect_timeout": 5}

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.integration),
]


def _unique_name() -> str:
    return f"stacktender_store_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this session; its URL (driver-less, as users write)."""
    import psycopg

    name = _unique_name()
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def mariadb_database() -> Iterator[str]:
    """A fresh MariaDB database for this session; its URL."""
    import pymysql

    name = _unique_name()
    admin = pymysql.connect(**MARIADB, autocommit=True)
    try:
        with admin.cursor() as cursor:
            # latin1, as older servers default to: the store's tables must not depend on it.
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET latin1")
        yield f"mysql://root@127.0.0.1:3306/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def empty_database(url: str) -> None:
    """Drop every table (the store's and Alembic's) so the next test starts from nothing."""
    from stacktender.store.engine import normalize_url

    engine = create_engine(normalize_url(url), poolclass=NullPool)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        metadata.drop_all(engine)
    finally:
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database on each backend in turn."""
    backend = request.param
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    url = request.getfixturevalue("pg_database" if backend == "postgresql" else "mariadb_database")
    empty_database(url)
    yield url
    empty_database(url)
