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
from stacktender.purge.model import (
    GONE,
    PRESENT,
    RELEASED,
    Found,
    ResourceType,
    is_not_found,
    is_transient,
)
from stacktender.purge.plan import Plan

__all__ = ["OUTCOME_COLUMNS", "Outcome", "Policy", "Report", "execute"]

OUTCOME_COLUMNS = ("wave", "service", "type", "id", "name", "outcome", "seconds", "error")


@dataclass(frozen=True)
class Policy:
    """How hard to try: concurrency, how long to retry and to wait, how fast to poll."""

    workers: int = 24
    per_service: int = 4  # requests in flight to one service at a time
    retry_for: float = 120.0  # seconds of retrying transient errors, per resource
    backoff: float = 0.5  # first pause between retries; doubles up to max_backoff
    max_backoff: float = 8.0
    poll: float = 0.5  # interval while waiting for an asynchronous deletion
    max_poll: float = 3.0  # a census's interval grows up to this while nothing changes


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


CENSUS_LOOKS = 10  # resources a census may look at per poll interval before it slows


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
    for is released (not when a whole wave is), so the slow chain (servers, then their
    volumes) overlaps with everything that does not depend on it.

    At most ``workers`` tasks are in the pool; the rest wait in a priority queue, so
    that a hundred port deletions never stand between a server's deletion and the poll
    that sees it finish: polls first, then the types with the longest chain of types
    waiting for them (asynchronous ones first among equals), bulk last.

    Asynchronous deletions are polled at intervals, never by a thread that sleeps. A
    type with a census is polled with one request for all its awaited resources (sixty
    volumes polled one by one cost cinder more CPU than deleting them); the interval
    grows while nothing changes. A resource the census calls released (a server nova
    marked DELETED, its ports and volumes already freed) lets what waits for its type
    start; its outcome is written only once it is gone."""

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
        self.unreleased = dict(self.open)  # what types waiting for this one wait for
        self.released: set[int] = set()
        self.started: set[str] = set()
        self.futures: dict[Future[Any], tuple[str, Any]] = {}
        # (when, tie-breaker, step, outcome or type name): per-resource checks, censuses
        self.checks: list[tuple[float, int, str, Any]] = []
        self.queue: list[tuple[tuple[int, int, int], int, str, Any]] = []
        self.deadlines: dict[int, float] = {}
        self.awaited: dict[str, dict[int, Outcome]] = {}  # per type with a census
        self.intervals: dict[str, float] = {}
        self.heights = _heights(types)
        self.seq = 0

    def run(self) -> None:
        self._start_ready()
        while self.futures or self.checks or self.queue:
            now = time.monotonic()
            while self.checks and self.checks[0][0] <= now:
                _, _, step, payload = heapq.heappop(self.checks)
                self._submit(step, payload)
            self._pump()
            timeout = max(0.0, self.checks[0][0] - now) if self.checks else None
            done, _ = wait(list(self.futures), timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                step, payload = self.futures.pop(future)
                result = future.result()  # a task's unexpected error ends the run
                if step == "census":
                    self._counted(*result)
                elif step in ("delete", "check") and result:
                    if step == "delete":
                        self._awaiting(payload)
                    else:
                        self._later("check", payload, self.policy.poll)
                else:
                    self._done(payload)

    def _later(self, step: str, payload: Any, delay: float) -> None:
        self.seq += 1
        heapq.heappush(self.checks, (time.monotonic() + delay, self.seq, step, payload))

    def _awaiting(self, outcome: Outcome) -> None:
        """A deletion was accepted and goes on asynchronously: poll for its end."""
        rtype = self.types[outcome.item.type]
        self.deadlines[id(outcome)] = time.monotonic() + rtype.wait_timeout
        if rtype.census is None:
            self._later("check", outcome, self.policy.poll)
            return
        awaited = self.awaited.setdefault(rtype.name, {})
        if not awaited:  # no census scheduled for this type: the first in schedules one
            self.intervals[rtype.name] = self.policy.poll
            self._later("census", rtype.name, self.policy.poll)
        awaited[id(outcome)] = outcome

    def _start_ready(self) -> None:
        for rtype, items in self.by_type.items():
            if rtype in self.started:
                continue
            waits = [a for a in self.types[rtype].after if self.unreleased.get(a)]
            if waits:
                continue
            self.started.add(rtype)
            self.requested(items)
            for outcome in items:
                self._submit("delete", outcome)

    def _release(self, outcome: Outcome) -> None:
        if id(outcome) in self.released:
            return
        self.released.add(id(outcome))
        self.unreleased[outcome.item.type] -= 1
        if self.unreleased[outcome.item.type] == 0:
            self._start_ready()

    def _done(self, outcome: Outcome) -> None:
        self.open[outcome.item.type] -= 1
        self._release(outcome)

    def _submit(self, step: str, payload: Any) -> None:
        name = payload if step == "census" else payload.item.type
        rtype = self.types[name]
        # smaller sorts first: polls, then long chains, then asynchronous types
        priority = (
            0 if step in ("check", "census") else 1,
            -self.heights.get(rtype.name, 0),
            0 if _asynchronous(rtype) else 1,
        )
        self.seq += 1
        heapq.heappush(self.queue, (priority, self.seq, step, payload))

    def _pump(self) -> None:
        """Move queued tasks into the pool while it has room and their service has too:
        at most ``per_service`` requests in flight per service. More only queue inside
        the service's API processes and cost it CPU (measured on neutron: 146 ms of CPU
        per port deletion at 2 in flight, 190 ms at 12, and fewer deletions a second),
        and a hundred ports would starve the images and the polls."""
        busy: dict[str, int] = {}
        for step, payload in self.futures.values():
            service = self._service(step, payload)
            busy[service] = busy.get(service, 0) + 1
        held = []
        while self.queue and len(self.futures) < max(1, self.policy.workers):
            if self.stop.is_set():
                raise _Stopped()
            entry = heapq.heappop(self.queue)
            _, _, step, payload = entry
            service = self._service(step, payload)
            if busy.get(service, 0) >= max(1, self.policy.per_service):
                held.append(entry)
                continue
            busy[service] = busy.get(service, 0) + 1
            self._start(step, payload)
        for entry in held:
            heapq.heappush(self.queue, entry)

    def _service(self, step: str, payload: Any) -> str:
        return self.types[payload if step == "census" else payload.item.type].service

    def _start(self, step: str, payload: Any) -> None:
        future: Future[Any]
        if step == "census":
            batch = list(self.awaited.get(payload, {}).values())
            future = self.pool.submit(self._census, payload, batch)
        else:
            task = self._delete if step == "delete" else self._check
            future = self.pool.submit(task, payload)
        self.futures[future] = (step, payload)

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
        if not _asynchronous(rtype):
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

    def _census(
        self, name: str, batch: list[Outcome]
    ) -> tuple[str, list[Outcome], dict[str, str | BaseException] | BaseException]:
        """One look at every awaited resource of a type (run in the pool)."""
        census = self.types[name].census
        assert census is not None
        try:
            return name, batch, dict(census(self.conn, [o.item for o in batch]))
        except Exception as exc:
            return name, batch, exc

    def _counted(
        self,
        name: str,
        batch: list[Outcome],
        states: dict[str, str | BaseException] | BaseException,
    ) -> None:
        """Act on a census: end what is gone or failed, release what is released, fail
        what ran out of time; schedule the next census while anything is awaited."""
        rtype = self.types[name]
        awaited = self.awaited[name]
        if isinstance(states, BaseException):
            error = states
            if is_transient(error, rtype.retry_bad_request):
                states = {}  # the API had a bad moment: all stay awaited, look again
            elif rtype.gone is not None:
                # the listing itself fails: fall back to a look at each resource
                for outcome in awaited.values():
                    self._later("check", outcome, self.policy.poll)
                awaited.clear()
                return
            else:
                states = {o.item.id: error for o in batch}
        moved = False
        now = time.monotonic()
        for outcome in batch:
            state = states.get(outcome.item.id, PRESENT)
            late = now > self.deadlines[id(outcome)]
            if state == GONE or isinstance(state, BaseException) or late:
                del awaited[id(outcome)]
                moved = True
                if state == GONE:
                    self._end(outcome, "deleted")
                elif isinstance(state, BaseException):
                    self._end(outcome, "failed", state)
                else:
                    timeout = TimeoutError(f"still there after {rtype.wait_timeout:.0f}s")
                    self._end(outcome, "failed", timeout)
                self._done(outcome)
            elif state == RELEASED and id(outcome) not in self.released:
                moved = True
                self._release(outcome)
        if not awaited:
            return
        # a census costs the API about what one look per resource costs: poll the more
        # seldom the more there are, so that the load stays that of about ten looks
        # every poll interval, however many resources are awaited
        base = self.policy.poll * max(1.0, len(awaited) / CENSUS_LOOKS)
        interval = base if moved else self.intervals[name] * 1.5
        self.intervals[name] = min(max(interval, base), max(base, self.policy.max_poll))
        self._later("census", name, self.intervals[name])

    def _end(self, outcome: Outcome, result: str, exc: BaseException | None = None) -> bool:
        outcome.outcome = result
        outcome.seconds += time.monotonic()
        if exc is not None and result == "failed":
            outcome.error = " ".join(str(exc).split())[:500] or type(exc).__name__
        self.finished(outcome)
        return False


def _asynchronous(rtype: ResourceType) -> bool:
    return rtype.gone is not None or rtype.census is not None


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
