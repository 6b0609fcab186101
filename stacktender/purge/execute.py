"""Carrying out a plan: in dependency order, concurrently (a bounded thread pool),
retrying transient errors with backoff, waiting for asynchronous deletions.

A 404 on delete means already gone: that, and discovering afresh on every run, is what
makes a run after a crash or Ctrl-C finish the job. Each outcome is written to the
store's audit as it happens.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from stacktender.purge.audit import Ledger
from stacktender.purge.model import Found, ResourceType, is_not_found, is_transient
from stacktender.purge.plan import Plan

__all__ = ["OUTCOME_COLUMNS", "Outcome", "Policy", "Report", "execute"]

OUTCOME_COLUMNS = ("wave", "service", "type", "id", "name", "outcome", "seconds", "error")


@dataclass(frozen=True)
class Policy:
    """How hard to try: concurrency, how long to retry and to wait, how fast to poll."""

    workers: int = 24
    retry_for: float = 120.0  # seconds of retrying transient errors, per resource
    backoff: float = 0.5  # first pause between retries; doubles up to max_backoff
    max_backoff: float = 8.0
    poll: float = 0.5  # interval while waiting for an asynchronous deletion


@dataclass
class Outcome:
    """What happened to one resource: deleted, gone (already absent), failed, cancelled."""

    item: Found
    wave: int
    outcome: str = "cancelled"
    error: str = ""
    seconds: float = 0.0

    def row(self) -> dict[str, Any]:
        i = self.item
        return {
            "wave": self.wave, "service": i.service, "type": i.type, "id": i.id,
            "name": i.name, "outcome": self.outcome, "seconds": round(self.seconds, 2),
            "error": self.error,
        }  # fmt: skip


@dataclass
class Report:
    """The result of executing a plan."""

    status: str  # finished | failed | interrupted
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    run_id: int | None = None
    resumes: int | None = None
    unlisted: dict[str, str] = field(default_factory=dict)  # types the plan could not list

    def count(self, *outcomes: str) -> int:
        return sum(1 for o in self.outcomes if o.outcome in outcomes)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.outcome == "failed"]

    def rows(self) -> list[dict[str, Any]]:
        return [o.row() for o in self.outcomes]

    def summary(self) -> str:
        text = (
            f"{self.status}: {self.count('deleted')} deleted, {self.count('gone')} already gone, "
            f"{self.count('failed')} failed, {self.count('cancelled')} not attempted "
            f"in {self.seconds:.1f}s"
        )
        if self.unlisted:
            text += f"; {len(self.unlisted)} type(s) not listed: {', '.join(sorted(self.unlisted))}"
        if self.run_id is not None:
            text += f" (run {self.run_id}"
            text += f", resuming run {self.resumes})" if self.resumes else ")"
        return text


class _Stopped(Exception):
    pass


def execute(
    conn: Any,
    plan: Plan,
    *,
    ledger: Ledger | None = None,
    kind: str = "project",
    options: dict[str, Any] | None = None,
    policy: Policy = Policy(),
    progress: Callable[[Outcome, int, int], None] | None = None,
) -> Report:
    """Delete what the plan holds in dependency order; record every outcome in the ledger."""
    began = time.monotonic()
    waves = plan.waves()
    outcomes = [Outcome(item, n) for n, wave in enumerate(waves, 1) for item in wave]
    report = Report("finished", outcomes)
    if ledger is not None:
        target = plan.projects[0] if len(plan.projects) == 1 else None
        info = ledger.start(
            kind,
            target.id if target else "*",
            target.name if target else f"{len(plan.projects)} projects",
            options or {},
            len(outcomes),
        )
        report.run_id, report.resumes = info.id, info.resumes
    stop = threading.Event()
    done = 0
    lock = threading.Lock()
    writer = ledger.writer(report.run_id) if ledger is not None and report.run_id else None

    def requested(batch: list[Outcome]) -> None:
        # written ahead, synchronously: a run killed after the requests went out but
        # before their outcomes were written leaves this record
        if ledger is not None and report.run_id is not None:
            ledger.record_many(report.run_id, [(o.item, "requested", None) for o in batch])

    def finished(outcome: Outcome) -> None:
        nonlocal done
        if writer is not None:
            writer.put(outcome.item, outcome.outcome, outcome.error or None)
        with lock:
            done += 1
            count = done
        if progress is not None:
            progress(outcome, count, len(outcomes))

    pool = ThreadPoolExecutor(max_workers=max(1, policy.workers), thread_name_prefix="purge")
    try:
        _Scheduler(conn, plan.types, outcomes, pool, policy, stop, finished, requested).run()
        # a plan with types it could not list did not finish the job, whatever it deleted
        report.status = "failed" if report.failed or plan.unlisted else "finished"
        report.unlisted = dict(plan.unlisted)
    except BaseException:
        stop.set()
        report.status = "interrupted"
        raise
    finally:
        pool.shutdown(wait=report.status != "interrupted", cancel_futures=True)
        report.seconds = time.monotonic() - began
        if writer is not None:
            writer.close()
        if ledger is not None and report.run_id is not None:
            deleted = report.count("deleted", "gone")
            ledger.finish(report.run_id, report.status, deleted, report.count("failed"))
    return report


class _Scheduler:
    """Runs the plan's types as a graph: a type starts as soon as every type it waits
    for is done (not when a whole wave is), so the slow chain (servers, then their
    volumes) overlaps with everything that does not depend on it.

    At most ``workers`` tasks are in the pool; the rest wait in a priority queue, so
    that a hundred port deletions never stand between a server's deletion and the poll
    that sees it finish: polls first, then the types with the longest chain of types
    waiting for them (asynchronous ones first among equals), bulk last. Asynchronous
    deletions are polled at intervals, never by a thread that sleeps."""

    def __init__(
        self,
        conn: Any,
        types: dict[str, ResourceType],
        outcomes: list[Outcome],
        pool: ThreadPoolExecutor,
        policy: Policy,
        stop: threading.Event,
        finished: Callable[[Outcome], None],
        requested: Callable[[list[Outcome]], None],
    ) -> None:
        self.conn, self.types, self.pool, self.policy = conn, types, pool, policy
        self.stop, self.finished, self.requested = stop, finished, requested
        self.by_type: dict[str, list[Outcome]] = {}
        for outcome in outcomes:
            self.by_type.setdefault(outcome.item.type, []).append(outcome)
        self.open = {t: len(items) for t, items in self.by_type.items()}
        self.started: set[str] = set()
        self.futures: dict[Future[Any], tuple[str, Outcome]] = {}
        self.checks: list[tuple[float, int, Outcome]] = []  # (when, tie-breaker, outcome)
        self.queue: list[tuple[tuple[int, int, int], int, str, Outcome]] = []
        self.deadlines: dict[int, float] = {}
        self.heights = _heights(types)
        self.seq = 0

    def run(self) -> None:
        self._start_ready()
        while self.futures or self.checks or self.queue:
            now = time.monotonic()
            while self.checks and self.checks[0][0] <= now:
                _, _, outcome = heapq.heappop(self.checks)
                self._submit("check", outcome)
            self._pump()
            timeout = max(0.0, self.checks[0][0] - now) if self.checks else None
            done, _ = wait(list(self.futures), timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                step, outcome = self.futures.pop(future)
                result = future.result()  # a task's unexpected error ends the run
                if step == "delete" and result:
                    deadline = time.monotonic() + self.types[outcome.item.type].wait_timeout
                    self.deadlines[id(outcome)] = deadline
                    heapq.heappush(
                        self.checks, (time.monotonic() + self.policy.poll, id(outcome), outcome)
                    )
                elif step == "check" and result:
                    heapq.heappush(
                        self.checks, (time.monotonic() + self.policy.poll, id(outcome), outcome)
                    )
                else:
                    self._done(outcome)

    def _start_ready(self) -> None:
        for rtype, items in self.by_type.items():
            if rtype in self.started:
                continue
            waits = [a for a in self.types[rtype].after if self.open.get(a)]
            if waits:
                continue
            self.started.add(rtype)
            self.requested(items)
            for outcome in items:
                self._submit("delete", outcome)

    def _done(self, outcome: Outcome) -> None:
        self.open[outcome.item.type] -= 1
        if self.open[outcome.item.type] == 0:
            self._start_ready()

    def _submit(self, step: str, outcome: Outcome) -> None:
        rtype = self.types[outcome.item.type]
        # smaller sorts first: polls, then long chains, then asynchronous types
        priority = (
            0 if step == "check" else 1,
            -self.heights.get(rtype.name, 0),
            0 if rtype.gone is not None else 1,
        )
        self.seq += 1
        heapq.heappush(self.queue, (priority, self.seq, step, outcome))

    def _pump(self) -> None:
        """Move queued tasks into the pool while it has room; one type takes at most
        half of it, so a hundred ports never starve the images or the polls."""
        workers = max(1, self.policy.workers)
        cap = max(1, workers // 2)
        busy: dict[str, int] = {}
        for _, outcome in self.futures.values():
            busy[outcome.item.type] = busy.get(outcome.item.type, 0) + 1
        held = []
        while self.queue and len(self.futures) < workers:
            if self.stop.is_set():
                raise _Stopped()
            entry = heapq.heappop(self.queue)
            _, _, step, outcome = entry
            rtype = outcome.item.type
            if step == "delete" and busy.get(rtype, 0) >= cap:
                held.append(entry)
                continue
            busy[rtype] = busy.get(rtype, 0) + 1
            self._start(step, outcome)
        # room left and nothing else waiting: the capped type takes it after all
        held.sort()
        while held and len(self.futures) < workers:
            _, _, step, outcome = held.pop(0)
            self._start(step, outcome)
        for entry in held:
            heapq.heappush(self.queue, entry)

    def _start(self, step: str, outcome: Outcome) -> None:
        task = self._delete if step == "delete" else self._check
        self.futures[self.pool.submit(task, outcome)] = (step, outcome)

    def _delete(self, outcome: Outcome) -> bool:
        """Delete (retrying transient errors); True when the deletion is asynchronous."""
        rtype = self.types[outcome.item.type]
        outcome.seconds = -time.monotonic()
        try:
            _retrying(lambda: rtype.delete(self.conn, outcome.item), rtype, self.policy, self.stop)
        except _Stopped:
            raise
        except Exception as exc:
            return self._end(outcome, "gone" if is_not_found(exc) else "failed", exc)
        if rtype.gone is None:
            return self._end(outcome, "deleted")
        return True

    def _check(self, outcome: Outcome) -> bool:
        """One look at an asynchronous deletion; True while it is still going on."""
        rtype = self.types[outcome.item.type]
        assert rtype.gone is not None
        in_time = time.monotonic() <= self.deadlines[id(outcome)]
        try:
            if not rtype.gone(self.conn, outcome.item):
                if in_time:
                    return True
                raise TimeoutError(f"still there after {rtype.wait_timeout:.0f}s")
        except Exception as exc:
            if is_transient(exc, rtype.retry_bad_request) and in_time:
                return True  # the API had a bad moment: look again at the next poll
            if not is_not_found(exc):
                return self._end(outcome, "failed", exc)
        return self._end(outcome, "deleted")

    def _end(self, outcome: Outcome, result: str, exc: BaseException | None = None) -> bool:
        outcome.outcome = result
        outcome.seconds += time.monotonic()
        if exc is not None and result == "failed":
            outcome.error = " ".join(str(exc).split())[:500] or type(exc).__name__
        self.finished(outcome)
        return False


def _heights(types: dict[str, ResourceType]) -> dict[str, int]:
    """For each type, the longest chain of types that wait for it (0: nothing waits)."""
    waiting: dict[str, list[str]] = {name: [] for name in types}
    for rtype in types.values():
        for before in rtype.after:
            if before in waiting:
                waiting[before].append(rtype.name)
    heights: dict[str, int] = {}

    def height(name: str, seen: frozenset[str]) -> int:
        if name not in heights:
            later = [height(n, seen | {name}) for n in waiting[name] if n not in seen]
            heights[name] = 1 + max(later) if later else 0
        return heights[name]

    for name in types:
        height(name, frozenset())
    return heights


def _retrying(
    call: Callable[[], None], rtype: ResourceType, policy: Policy, stop: threading.Event
) -> None:
    deadline = time.monotonic() + policy.retry_for
    pause = policy.backoff
    while True:
        if stop.is_set():
            raise _Stopped()
        try:
            call()
            return
        except Exception as exc:
            if is_not_found(exc) or not is_transient(exc, rtype.retry_bad_request):
                raise
            if time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, policy.max_backoff)
