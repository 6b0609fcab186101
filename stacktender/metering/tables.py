"""The metering tables, registered on the store's declarative ``Base``.

Alembic revision ``0002`` must build exactly these (the store's drift test checks it).

Events are stored, usage is derived: ``metering_events`` holds one normalized row per
notification (unique ``message_id``, so a redelivery inserts nothing), each carrying the
state it puts its resource in. Usage records are computed from a resource's events in
time order, so arrival order and duplicates cannot change them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stacktender.store.models import NAME_LENGTH, Base, BigId, UTCDateTime

__all__ = ["DeadLetter", "MeteringEvent", "VolumeTypeName"]

ID_LENGTH = 64  # OpenStack ids are 32-36 characters; message ids are UUIDs


class MeteringEvent(Base):
    """One notification (or reconcile finding), reduced to the state it sets."""

    __tablename__ = "metering_events"
    __table_args__ = (
        Index("ix_metering_events_resource_id_occurred_at", "resource_id", "occurred_at"),
        Index("ix_metering_events_project_id", "project_id"),
        {"mysql_charset": "utf8mb4"},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    meter: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    project_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    user_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    event_type: Mapped[str] = mapped_column(String(NAME_LENGTH))
    source: Mapped[str] = mapped_column(String(32))  # notification | reconcile
    # The state the event leaves the resource in; None: the event does not say.
    flavor: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    state: Mapped[str | None] = mapped_column(String(64))
    volume_type: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    # Bytes, exact on every backend (a float GB would not be, SQLite has no DECIMAL).
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    deleted: Mapped[bool] = mapped_column(Boolean)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DeadLetter(Base):
    """A message that could not be metered, kept with the reason instead of blocking."""

    __tablename__ = "metering_dead_letters"
    __table_args__ = (
        Index("ix_metering_dead_letters_received_at", "received_at"),
        {"mysql_charset": "utf8mb4"},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # sha256 of the raw body: a redelivered bad message is stored once.
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text)
    exchange: Mapped[str] = mapped_column(String(NAME_LENGTH))
    routing_key: Mapped[str] = mapped_column(String(NAME_LENGTH))
    message_id: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    event_type: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    body: Mapped[str] = mapped_column(Text)


class VolumeTypeName(Base):
    """Cinder volume type id -> name (notifications carry only the id); filled by
    reconcile, so usage can show and price volume types by name."""

    __tablename__ = "metering_volume_types"
    __table_args__ = {"mysql_charset": "utf8mb4"}

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
