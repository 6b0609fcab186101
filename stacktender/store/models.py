"""The store's schema as SQLAlchemy 2 typed declarative models.

The Alembic migrations in ``migrations/versions`` must build exactly this schema; a
test compares them (autogenerate finds no difference), so change both together.
Types are portable across SQLite, PostgreSQL and MariaDB: times are naive UTC
``DATETIME`` with microseconds, indexed strings have explicit lengths.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["Base", "CheckRun", "Sweep", "UTCDateTime"]

# Constraint names are given explicitly so every backend (and every migration) agrees.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Tables say utf8mb4 themselves: a MariaDB database may still default to latin1.
# 255 characters of utf8mb4 is 1020 bytes: well inside InnoDB's 3072-byte index key.
NAME_LENGTH = 255

# An auto-increment 64-bit key; SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime, stored as a naive UTC DATETIME with microseconds.

    Naive values are taken as UTC. MariaDB's DATETIME would drop the fraction of a
    second, which orders runs of the same second arbitrarily, hence ``DATETIME(6)``.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name in {"mysql", "mariadb"}:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Sweep(Base):
    """One recorded sweep: when, where, how many checks and the worst status."""

    __tablename__ = "sweeps"
    __table_args__ = {"mysql_charset": "utf8mb4"}

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())
    host: Mapped[str] = mapped_column(String(NAME_LENGTH))
    check_count: Mapped[int] = mapped_column(Integer)
    worst_status: Mapped[int] = mapped_column(SmallInteger)

    results: Mapped[list[CheckRun]] = relationship(
        back_populates="sweep", cascade="all, delete-orphan", passive_deletes=True
    )


class CheckRun(Base):
    """One check instance's result within a sweep (secrets already masked)."""

    __tablename__ = "check_results"
    __table_args__ = (
        Index("ix_check_results_name_created_at", "name", "created_at"),
        Index("ix_check_results_created_at", "created_at"),
        {"mysql_charset": "utf8mb4"},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sweep_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("sweeps.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    check: Mapped[str] = mapped_column(String(NAME_LENGTH))
    status: Mapped[int] = mapped_column(SmallInteger)
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[list[str]] = mapped_column(JSON)
    target: Mapped[str] = mapped_column(Text)
    duration: Mapped[float] = mapped_column(Double)
    perfdata: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    sweep: Mapped[Sweep] = relationship(back_populates="results")


# Capability tables live beside their capability; importing them registers them on
# Base, so the migrations' drift check and Alembic's environment see every table.
from stacktender.metering import tables as _metering_tables  # noqa: E402, F401
from stacktender.purge import tables as _purge_tables  # noqa: E402, F401
