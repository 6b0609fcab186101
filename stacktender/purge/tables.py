"""The purge tables, registered on the store's declarative ``Base``.

Alembic revision ``0003`` must build exactly these (the store's drift test checks it).
``purge_runs`` holds one row per executed purge (dry runs write nothing);
``purge_actions`` one row per resource it acted on, written as each deletion ends, so
a run killed midway still shows what it did.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from stacktender.store.models import NAME_LENGTH, Base, BigId, UTCDateTime

__all__ = ["PurgeAction", "PurgeRun"]

ID_LENGTH = 64  # keystone/neutron/nova ids are 32-36 characters


class PurgeRun(Base):
    """One executed purge: its target, options, time span and how it ended."""

    __tablename__ = "purge_runs"
    __table_args__ = (
        Index("ix_purge_runs_project_id_started_at", "project_id", "started_at"),
        {"mysql_charset": "utf8mb4"},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # project | orphans
    project_id: Mapped[str] = mapped_column(String(ID_LENGTH))  # "*" for orphans
    project_name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    host: Mapped[str] = mapped_column(String(NAME_LENGTH))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # running | finished | failed | interrupted
    status: Mapped[str] = mapped_column(String(32))
    resumes_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    planned: Mapped[int] = mapped_column(Integer)
    deleted: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)


class PurgeAction(Base):
    """One resource a purge acted on, and the outcome."""

    __tablename__ = "purge_actions"
    __table_args__ = (
        Index("ix_purge_actions_resource_id", "resource_id"),
        {"mysql_charset": "utf8mb4"},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("purge_runs.id", ondelete="CASCADE"), index=True
    )
    service: Mapped[str] = mapped_column(String(ID_LENGTH))
    resource_type: Mapped[str] = mapped_column(String(ID_LENGTH))
    resource_id: Mapped[str] = mapped_column(String(NAME_LENGTH))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    project_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    # requested (written before the request is sent) | deleted | gone (404) | failed
    outcome: Mapped[str] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
