"""The :class:`Store`: open (and migrate) the database, record sweeps, answer history.

Every failure is a :class:`~stacktender.errors.StoreError` with one line that names
the store by its masked URL. Everything written is masked again before it is stored,
so a password in a target URL or a summary never reaches the database.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, delete, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, aliased

from stacktender.errors import StoreError
from stacktender.results import CheckResult, Status, worst
from stacktender.secrets import mask_url, redact
from stacktender.store.engine import (
    BEGIN_IMMEDIATE,
    DEFAULT_CONNECT_TIMEOUT,
    create_store_engine,
    default_url,
    describe_error,
    normalize_url,
)
from stacktender.store.models import CheckRun, Sweep

__all__ = ["RunRecord", "StatusChange", "Store"]

DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class StatusChange:
    """A run whose status differs from the previous run of the same instance."""

    time: datetime
    name: str
    check: str
    from_status: Status | None  # None: the instance's first recorded run
    to_status: Status
    summary: str
    sweep_id: int


@dataclass(frozen=True)
class RunRecord:
    """One recorded run of one check instance."""

    id: int
    sweep_id: int
    time: datetime
    name: str
    check: str
    status: Status
    summary: str
    target: str
    duration: float
    details: list[str] = field(default_factory=list)
    perfdata: list[dict[str, Any]] = field(default_factory=list)


class Store:
    """stacktender's own database of recorded sweeps."""

    def __init__(self, engine: Engine, masked_url: str, secrets: Sequence[str] = ()) -> None:
        self.engine = engine
        self.masked_url = masked_url
        self._secrets = tuple(secrets)
        # SQLite writes take the write lock at BEGIN, so a busy database makes them wait
        # (busy timeout) rather than fail when a read lock cannot be upgraded.
        self.writer = engine.execution_options(**{BEGIN_IMMEDIATE: True})

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        upgrade: bool = True,
    ) -> Store:
        """Connect to url (default: SQLite under the data directory) and migrate it to
        the newest schema; safe when several processes open one database at once."""
        url = url or default_url()
        masked = mask_url(url)
        parsed = normalize_url(url)
        secrets = [parsed.password] if parsed.password else []
        store = cls(
            create_store_engine(parsed, connect_timeout=connect_timeout, masked=masked),
            masked,
            [str(s) for s in secrets],
        )
        try:
            store.ping()
            if upgrade:
                store.upgrade()
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Store {self.masked_url}>"

    def ping(self) -> None:
        """Connect once, so that an unreachable database fails with a clear message."""
        with self.errors("cannot connect"), self.engine.connect():
            pass

    # -- schema -----------------------------------------------------------------------
    def upgrade(self) -> str:
        """Apply pending migrations (a no-op at head); return the schema revision."""
        from stacktender.store import migrate

        with self.errors("cannot migrate"):
            return migrate.upgrade(self.engine)

    def revision(self) -> str | None:
        """The schema revision of the database (None before the first migration)."""
        from stacktender.store import migrate

        with self.errors("cannot read the schema revision"):
            return migrate.current_revision(self.engine)

    # -- writing ------------------------------------------------------------------------
    def record_sweep(
        self,
        results: Sequence[CheckResult],
        *,
        started_at: datetime | None = None,
        host: str | None = None,
    ) -> int:
        """Store one sweep's results; return the new sweep's id.

        Without started_at, the sweep is taken to have started its longest check ago."""
        finished = _now()
        if started_at is None:
            started_at = finished - timedelta(seconds=max((r.duration for r in results), default=0))
        sweep = Sweep(
            started_at=started_at,
            finished_at=finished,
            host=(host or socket.gethostname())[:255],
            check_count=len(results),
            worst_status=int(worst(r.status for r in results)),
            results=[self._row(result, finished) for result in results],
        )
        with (
            self.errors("cannot record the sweep"),
            Session(self.writer) as session,
            session.begin(),
        ):
            session.add(sweep)
            session.flush()
            sweep_id = sweep.id
        return sweep_id

    def prune(self, older_than: datetime | timedelta) -> int:
        """Delete sweeps started before older_than (a time, or an age); return the
        number of check results deleted."""
        cutoff = _now() - older_than if isinstance(older_than, timedelta) else older_than
        with self.errors("cannot prune"), self.writer.begin() as connection:
            old = select(Sweep.id).where(Sweep.started_at < cutoff)
            deleted = connection.execute(delete(CheckRun).where(CheckRun.sweep_id.in_(old)))
            connection.execute(delete(Sweep).where(Sweep.started_at < cutoff))
            return int(deleted.rowcount or 0)

    def _row(self, result: CheckResult, created: datetime) -> CheckRun:
        def clean(text: str) -> str:
            return redact(text, self._secrets)

        return CheckRun(
            name=result.name[:255],
            check=(result.check or result.name)[:255],
            status=int(result.status),
            summary=clean(result.summary),
            details=[clean(line) for line in result.details],
            target=clean(mask_url(result.target)),
            duration=float(result.duration),
            perfdata=[p.to_dict() for p in result.perfdata],
            created_at=created,
        )

    # -- reading ------------------------------------------------------------------------
    def history(
        self, name: str | None = None, since: datetime | None = None, limit: int = DEFAULT_LIMIT
    ) -> list[StatusChange]:
        """Status changes, oldest first: the newest limit of them, since a time, of one
        instance or all. An instance's first run is a change from nothing."""
        run = CheckRun
        previous: Any = func.lag(run.status).over(
            partition_by=run.name, order_by=(run.created_at, run.id)
        )
        inner = select(
            run.id,
            run.sweep_id,
            run.created_at,
            run.name,
            run.check,
            run.status,
            run.summary,
        )
        if name is not None:
            inner = inner.where(run.name == name)
        if since is not None:
            # Window over the runs since then only; an instance's first of them compares
            # with its last run before (one index seek), not with nothing.
            before = aliased(CheckRun)
            last_before = (
                select(before.status)
                .where(before.name == run.name, before.created_at < since)
                .order_by(before.created_at.desc(), before.id.desc())
                .limit(1)
                .scalar_subquery()
            )
            previous = func.coalesce(previous, last_before)
            inner = inner.where(run.created_at >= since)
        runs = inner.add_columns(previous.label("previous")).subquery()
        query = (
            select(runs)
            .where(or_(runs.c.previous.is_(None), runs.c.previous != runs.c.status))
            .order_by(runs.c.created_at.desc(), runs.c.id.desc())
            .limit(limit)
        )
        with self.errors("cannot read history"), self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            StatusChange(
                time=row.created_at,
                name=row.name,
                check=row.check,
                from_status=None if row.previous is None else Status(row.previous),
                to_status=Status(row.status),
                summary=row.summary,
                sweep_id=row.sweep_id,
            )
            for row in reversed(rows)
        ]

    def runs(
        self, name: str | None = None, since: datetime | None = None, limit: int = DEFAULT_LIMIT
    ) -> list[RunRecord]:
        """Recorded runs, oldest first: the newest limit of them."""
        query = select(CheckRun)
        conditions = []
        if name is not None:
            conditions.append(CheckRun.name == name)
        if since is not None:
            conditions.append(CheckRun.created_at >= since)
        if conditions:
            query = query.where(and_(*conditions))
        query = query.order_by(CheckRun.created_at.desc(), CheckRun.id.desc()).limit(limit)
        with self.errors("cannot read runs"), Session(self.engine) as session:
            rows = session.scalars(query).all()
            return [
                RunRecord(
                    id=row.id,
                    sweep_id=row.sweep_id,
                    time=row.created_at,
                    name=row.name,
                    check=row.check,
                    status=Status(row.status),
                    summary=row.summary,
                    target=row.target,
                    duration=row.duration,
                    details=list(row.details or []),
                    perfdata=list(row.perfdata or []),
                )
                for row in reversed(rows)
            ]

    # -- errors (capabilities with tables of their own use these too) --------------------
    def describe(self, exc: BaseException) -> str:
        """One line for a database error, with this store's secrets masked."""
        return describe_error(exc, self._secrets)

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Turn driver, SQLAlchemy and Alembic errors into one-line StoreErrors."""
        try:
            yield
        except StoreError as exc:
            reason = redact(str(exc), self._secrets)
            raise StoreError(f"store {self.masked_url}: {reason}") from None
        except (SQLAlchemyError, OSError) as exc:
            reason = describe_error(exc, self._secrets)
            raise StoreError(f"store {self.masked_url}: {action}: {reason}") from None


def _now() -> datetime:
    return datetime.now(UTC)
