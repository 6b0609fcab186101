"""The purge's record in the store: one row per executed run, one per deletion.

Every deletion is written ahead ('requested', one transaction per resource type, before
its requests go out) and its outcome after (in batches, from a writer thread: a commit
costs milliseconds on SQLite, and deletions must not queue behind them), so a run
killed midway still shows what it did, and the next run of the same target says which
run it resumes.
"""

from __future__ import annotations

import os
import queue
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from stacktender.errors import StoreError
from stacktender.purge.model import Found, PurgeError
from stacktender.purge.tables import PurgeAction, PurgeRun

if TYPE_CHECKING:
    from stacktender.store.db import Store

__all__ = ["AuditWriter", "Ledger", "RunInfo"]

RUN_COLUMNS = (
    "id", "kind", "project_id", "project_name", "status", "started_at", "finished_at",
    "planned", "deleted", "failed", "resumes_id", "host", "pid",
)  # fmt: skip
ACTION_COLUMNS = (
    "run_id", "at", "service", "resource_type", "resource_id", "name", "project_id",
    "outcome", "error",
)  # fmt: skip


@dataclass(frozen=True)
class RunInfo:
    """The id of a started run, and the id of the unfinished run it resumes (if any)."""

    id: int
    resumes: int | None


def _now() -> datetime:
    return datetime.now(UTC)


class Ledger:
    """Writes and reads purge runs and actions through a Store's engine."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        # the Store's writer engine: on SQLite it takes the write lock at BEGIN
        self._writer = store.writer

    def start(
        self, kind: str, project_id: str, project_name: str, options: dict[str, Any], planned: int
    ) -> RunInfo:
        """Record a new run; mark this target's dead unfinished runs interrupted."""
        host, pid = socket.gethostname()[:255], os.getpid()
        with (
            self._errors("cannot record the purge run"),
            self._lock,
            Session(self._writer) as session,
            session.begin(),
        ):
            mine = (PurgeRun.project_id == project_id, PurgeRun.kind == kind)
            last_finished = session.scalar(
                select(func.max(PurgeRun.id)).where(*mine, PurgeRun.status == "finished")
            )
            unfinished = session.scalars(
                select(PurgeRun)
                .where(*mine, PurgeRun.id > (last_finished or 0))
                .where(PurgeRun.status.in_(("running", "interrupted", "failed")))
                .order_by(PurgeRun.id.desc())
            ).all()
            resumes = None
            for run in unfinished:
                if run.status == "running" and _alive(run.host, run.pid, host):
                    if run.host == host:
                        raise PurgeError(
                            f"run {run.id} (pid {run.pid}) is purging {project_name or project_id}"
                            " right now: wait for it, or stop it and run again"
                        )
                    continue  # on another host: whether it still runs cannot be known here
                if run.status == "running":
                    run.status = "interrupted"  # its process died (SIGKILL, a crash)
                resumes = resumes or run.id
            row = PurgeRun(
                kind=kind,
                project_id=project_id,
                project_name=project_name[:255],
                options=options,
                host=host,
                pid=pid,
                started_at=_now(),
                status="running",
                resumes_id=resumes,
                planned=planned,
                deleted=0,
                failed=0,
            )
            session.add(row)
            session.flush()
            return RunInfo(row.id, resumes)

    def record(self, run_id: int, item: Found, outcome: str, error: str | None = None) -> None:
        """One deletion's outcome: requested, deleted, gone (404 already) or failed."""
        self.record_many(run_id, [(item, outcome, error)])

    def record_many(self, run_id: int, outcomes: Sequence[tuple[Found, str, str | None]]) -> None:
        """Several outcomes in one transaction (a commit costs milliseconds on SQLite)."""
        if not outcomes:
            return
        now = _now()
        rows = [
            PurgeAction(
                run_id=run_id,
                service=item.service[:64],
                resource_type=item.type[:64],
                resource_id=item.id[:255],
                name=item.name[:255],
                project_id=item.project_id[:64],
                outcome=outcome,
                error=error,
                at=now,
            )
            for item, outcome, error in outcomes
        ]
        with (
            self._errors("cannot record the purge's actions"),
            self._lock,
            Session(self._writer) as session,
            session.begin(),
        ):
            session.add_all(rows)

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Database errors as one-line StoreErrors naming the store (masked)."""
        try:
            yield
        except SQLAlchemyError as exc:
            reason = self.store.describe(exc)
            raise StoreError(f"store {self.store.masked_url}: {action}: {reason}") from None

    def writer(self, run_id: int, interval: float = 0.2) -> AuditWriter:
        """A background writer of this run's outcomes, in batches (see AuditWriter)."""
        return AuditWriter(self, run_id, interval)

    def finish(self, run_id: int, status: str, deleted: int, failed: int) -> None:
        """Close a run (finished, failed or interrupted) with its counts."""
        with (
            self._errors("cannot close the purge run"),
            self._lock,
            self._writer.begin() as connection,
        ):
            connection.execute(
                update(PurgeRun)
                .where(PurgeRun.id == run_id)
                .values(status=status, finished_at=_now(), deleted=deleted, failed=failed)
            )

    def runs(self, project_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The newest runs (of one target), newest first."""
        query = select(PurgeRun).order_by(PurgeRun.id.desc()).limit(limit)
        if project_id:
            query = query.where(PurgeRun.project_id == project_id)
        with self._errors("cannot read purge runs"), Session(self.store.engine) as session:
            return [{c: getattr(r, c) for c in RUN_COLUMNS} for r in session.scalars(query)]

    def actions(
        self, run_id: int | None = None, project_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Every recorded action of one run, or of every run of one target, in order."""
        query = select(PurgeAction).order_by(PurgeAction.id)
        if run_id is not None:
            query = query.where(PurgeAction.run_id == run_id)
        if project_id is not None:
            runs = select(PurgeRun.id).where(PurgeRun.project_id == project_id)
            query = query.where(PurgeAction.run_id.in_(runs))
        with self._errors("cannot read purge actions"), Session(self.store.engine) as session:
            return [{c: getattr(a, c) for c in ACTION_COLUMNS} for a in session.scalars(query)]


def _alive(host: str, pid: int, this_host: str) -> bool:
    """Whether the process that started a run still runs (unknowable on another host)."""
    if host != this_host:
        return True
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class AuditWriter:
    """Writes outcomes from a queue in one transaction per batch, from its own thread,
    so deletions never wait for a commit. close() writes what is left; a SIGKILL loses
    at most the last interval's outcomes (their 'requested' rows were written ahead)."""

    def __init__(self, ledger: Ledger, run_id: int, interval: float = 0.2) -> None:
        self.ledger, self.run_id, self.interval = ledger, run_id, interval
        self._queue: queue.SimpleQueue[tuple[Found, str, str | None] | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="purge-audit", daemon=True)
        self._thread.start()

    def put(self, item: Found, outcome: str, error: str | None = None) -> None:
        if self._error is not None:
            raise self._error  # the audit is part of the job: stop when it cannot be written
        self._queue.put((item, outcome, error))

    def close(self) -> None:
        """Write everything queued, stop the thread; re-raise a write error."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = []
            entry = self._queue.get()
            deadline = time.monotonic() + self.interval
            while True:
                if entry is None:
                    stopping = True
                    break
                batch.append(entry)
                try:
                    entry = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
            try:
                self.ledger.record_many(self.run_id, batch)
            except BaseException as exc:
                self._error = exc
                return
