"""Metering's reads and writes on the store: one transaction per batch, insert-or-ignore.

A batch of usage events and dead letters is written in one transaction; a row whose
``message_id`` (or dead letter ``digest``) is already stored is skipped by the database
itself (``ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL, ``ON DUPLICATE KEY UPDATE``
as a no-op on MariaDB/MySQL), so two workers or a redelivery never insert it twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, func, select
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from stacktender.errors import StoreError
from stacktender.metering.events import UsageEvent
from stacktender.metering.records import Meter
from stacktender.metering.tables import DeadLetter, MeteringEvent, VolumeTypeName
from stacktender.store.db import Store

__all__ = [
    "BatchRejected",
    "DeadLetterRecord",
    "DeadLetterRow",
    "count_events",
    "dead_letters",
    "load_events",
    "volume_type_names",
    "write_batch",
    "write_volume_types",
]

# MariaDB's TEXT holds 65,535 bytes: 16,000 characters of up to 4 bytes each fit.
BODY_LIMIT = 16_000


class BatchRejected(StoreError):
    """The database refused the batch's data (not a lost connection): retrying the same
    rows would fail again, so each row must be tried on its own."""


@dataclass(frozen=True)
class DeadLetterRow:
    """A message to keep as a dead letter (before it is written)."""

    digest: str
    reason: str
    exchange: str
    routing_key: str
    body: bytes
    message_id: str | None = None
    event_type: str | None = None


@dataclass(frozen=True)
class DeadLetterRecord:
    """A stored dead letter."""

    id: int
    received_at: datetime
    reason: str
    exchange: str
    routing_key: str
    message_id: str | None
    event_type: str | None
    body: str


def _columns(model: Any) -> list[Any]:
    return list(model.__table__.c)


def _insert_ignore(
    connection: Connection, table: Table, key: str, rows: list[dict[str, Any]]
) -> None:
    if not rows:
        return
    dialect = connection.dialect.name
    statement: Any
    if dialect == "postgresql":
        statement = postgresql.insert(table).on_conflict_do_nothing(index_elements=[key])
    elif dialect == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=[key])
    elif dialect in {"mysql", "mariadb"}:
        insert = mysql.insert(table)
        statement = insert.on_duplicate_key_update({key: insert.inserted[key]})
    else:  # pragma: no cover - the store supports the three above
        raise NotImplementedError(dialect)
    connection.execute(statement, rows)


def write_batch(
    store: Store, events: Sequence[UsageEvent], dead: Sequence[DeadLetterRow] = ()
) -> None:
    """Store events and dead letters in one transaction; already-stored ids are skipped."""
    now = datetime.now(UTC)
    event_rows = [_event_row(event, now) for event in events]
    dead_rows = [
        {
            "digest": d.digest,
            "received_at": now,
            "reason": _clean(d.reason, 4000),
            "exchange": _clean(d.exchange, 255),
            "routing_key": _clean(d.routing_key, 255),
            "message_id": _clean(d.message_id, 255),
            "event_type": _clean(d.event_type, 255),
            # Any bytes at all, kept readable: undecodable ones as \xNN escapes.
            "body": _clean(d.body[:BODY_LIMIT].decode("utf-8", "backslashreplace"), BODY_LIMIT),
        }
        for d in dead
    ]
    try:
        with store.errors("cannot store metering events"):
            try:
                with store.writer.begin() as connection:
                    _insert_ignore(connection, MeteringEvent.__table__, "message_id", event_rows)  # type: ignore[arg-type]
                    _insert_ignore(connection, DeadLetter.__table__, "digest", dead_rows)  # type: ignore[arg-type]
            except StatementError as exc:
                # Bad data is refused for good; a lost connection or a missing table
                # (OperationalError, ProgrammingError) is worth retrying as it is.
                if isinstance(exc, DBAPIError) and not isinstance(exc, DataError | IntegrityError):
                    raise
                raise _Refused(exc) from None
    except _Refused as refused:
        reason = store.describe(refused.cause)
        raise BatchRejected(f"store {store.masked_url}: refused: {reason}") from None


class _Refused(Exception):
    def __init__(self, cause: Exception) -> None:
        self.cause = cause


def _clean(text: str | None, limit: int) -> Any:
    """Text any backend stores: PostgreSQL refuses NUL characters."""
    if text is None:
        return None
    if not text.isascii():  # a lone surrogate (JSON "\ud800") cannot be encoded
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text.replace("\x00", "\\x00")[:limit]


def _event_row(event: UsageEvent, now: datetime) -> dict[str, Any]:
    return {
        "message_id": _clean(event.message_id, 255),
        "meter": str(event.meter),
        "resource_id": _clean(event.resource_id, 64),
        "project_id": _clean(event.project_id, 64),
        "user_id": _clean(event.user_id, 64),
        "occurred_at": event.occurred_at,
        "event_type": _clean(event.event_type, 255),
        "source": event.source,
        "flavor": _clean(event.flavor, 255),
        "state": _clean(event.state, 64),
        "volume_type": _clean(event.volume_type, 255),
        "size_bytes": event.size_bytes,
        "name": _clean(event.name, 255),
        "deleted": event.deleted,
        "received_at": now,
    }


def load_events(
    store: Store, start: datetime, end: datetime, project_id: str | None = None
) -> list[UsageEvent]:
    """Every event of every resource that may have existed in [start, end).

    Resources deleted before start are left out; so are events at or after end (they
    cannot change what happened before it)."""
    ev = MeteringEvent
    gone = select(ev.resource_id).where(ev.deleted.is_(True), ev.occurred_at < start)
    query = select(*_columns(MeteringEvent)).where(
        ev.occurred_at < end, ev.resource_id.not_in(gone)
    )
    if project_id is not None:
        # A resource is the project's if any event says so; usage keeps only the
        # records whose latest known owner is the project.
        owned = select(ev.resource_id).where(ev.project_id == project_id)
        query = query.where(ev.resource_id.in_(owned))
    with store.errors("cannot read metering events"), store.engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        UsageEvent(
            message_id=row.message_id,
            meter=Meter(row.meter),
            resource_id=row.resource_id,
            occurred_at=row.occurred_at,
            event_type=row.event_type,
            project_id=row.project_id,
            user_id=row.user_id,
            flavor=row.flavor,
            state=row.state,
            volume_type=row.volume_type,
            size_bytes=row.size_bytes,
            name=row.name,
            deleted=bool(row.deleted),
            source=row.source,
        )
        for row in rows
    ]


def count_events(store: Store) -> int:
    """How many events the store holds."""
    with store.errors("cannot count metering events"), store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(MeteringEvent)).scalar_one())


def dead_letters(store: Store, limit: int = 100) -> list[DeadLetterRecord]:
    """The newest dead letters, oldest first."""
    query = select(*_columns(DeadLetter)).order_by(DeadLetter.id.desc()).limit(limit)
    with store.errors("cannot read dead letters"), store.engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        DeadLetterRecord(
            id=row.id,
            received_at=row.received_at,
            reason=row.reason,
            exchange=row.exchange,
            routing_key=row.routing_key,
            message_id=row.message_id,
            event_type=row.event_type,
            body=row.body,
        )
        for row in reversed(rows)
    ]


def volume_type_names(store: Store) -> dict[str, str]:
    """Volume type id -> name, as the last reconcile saw them."""
    with store.errors("cannot read volume types"), store.engine.connect() as connection:
        return {
            row.id: row.name for row in connection.execute(select(*_columns(VolumeTypeName))).all()
        }


def write_volume_types(store: Store, names: Iterable[tuple[str, str]]) -> None:
    """Remember volume type names (id, name); a known id gets its current name."""
    table = VolumeTypeName.__table__
    with store.errors("cannot store volume types"), store.writer.begin() as connection:
        for type_id, name in names:
            connection.execute(table.delete().where(table.c.id == type_id))  # type: ignore[attr-defined]
            connection.execute(table.insert().values(id=type_id, name=name[:255]))  # type: ignore[attr-defined]
