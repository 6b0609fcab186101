"""Alembic environment of stacktender's store.

At run time :mod:`stacktender.store.migrate` hands over an open connection (holding
the migration lock) in ``config.attributes["connection"]``. Developers can also run
the ``alembic`` command with ``migrations/alembic.ini`` and ``-x url=DATABASE_URL``.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from stacktender.store.migrate import compare_type
from stacktender.store.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("no database: pass -x url=sqlite:///PATH (or postgresql://, mysql://)")
    from stacktender.store.engine import normalize_url

    return normalize_url(url).render_as_string(hide_password=False)


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=compare_type,
        **kwargs,
    )


def run_offline() -> None:
    """Print the SQL instead of running it (``alembic upgrade head --sql``)."""
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_online(connection: Connection) -> None:
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (given := config.attributes.get("connection")) is not None:
    run_online(given)
else:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        run_online(conn)
    engine.dispose()
