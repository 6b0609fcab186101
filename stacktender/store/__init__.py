"""stacktender's own database: recorded sweeps, check results and their history.

This package owns the schema (:mod:`~stacktender.store.models`), its Alembic
migrations (``migrations/``, shipped with the package and run on open) and the
:class:`~stacktender.store.db.Store` that records sweeps and answers ``history``.
It works on SQLite (the default, under the data directory), PostgreSQL and
MariaDB/MySQL. Nothing here is imported until the store is first used.
"""
