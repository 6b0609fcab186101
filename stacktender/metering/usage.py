"""Usage: the records each resource's stored events add up to, clipped to a period.

Events are sorted by (time, message id) per resource and folded into a state; a record
ends where the billed state changes (flavor or vm state of an instance; size or type of
a volume; size of a snapshot, backup or image) and where the resource is deleted. Since
only the sorted set of events matters, out-of-order and repeated delivery give the same
records, and nova's legacy and versioned copies of one fact (same state, a few
milliseconds apart) make one record, not two.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal

from stacktender.errors import StacktenderError
from stacktender.metering.events import UsageEvent
from stacktender.metering.records import Meter, UsageRecord
from stacktender.store.db import Store

__all__ = [
    "ResourceState",
    "UsageError",
    "compute_records",
    "latest_states",
    "usage_projects",
    "usage_records",
]

GIB = Decimal(1024**3)


class UsageError(StacktenderError):
    """A usage question that cannot be answered as asked (an empty time range...)."""


@dataclass
class _State:
    project_id: str | None = None
    user_id: str | None = None
    flavor: str | None = None
    state: str | None = None
    volume_type: str | None = None
    size_bytes: int | None = None
    name: str | None = None

    def merged(self, event: UsageEvent) -> _State:
        """This state with what the event says (None says nothing)."""
        new = replace(self)
        for key in (
            "project_id",
            "user_id",
            "flavor",
            "state",
            "volume_type",
            "size_bytes",
            "name",
        ):
            value = getattr(event, key)
            if value is not None:
                setattr(new, key, value)
        return new

    def billed(self, meter: Meter) -> tuple[object, ...]:
        """What the price depends on: a change of it starts a new record."""
        if meter is Meter.INSTANCE:
            return (self.flavor, self.state)
        if meter is Meter.VOLUME:
            return (self.size_bytes, self.volume_type)
        if meter is Meter.FLOATING_IP:
            return ()
        return (self.size_bytes,)


def _fold(
    meter: Meter, resource_id: str, events: list[UsageEvent], stop: datetime
) -> list[UsageRecord]:
    """One resource's records up to stop (a record still open at stop ends there)."""
    events.sort(key=lambda e: (e.occurred_at, e.message_id))
    records: list[UsageRecord] = []
    state: _State | None = None
    since = stop

    def close(at: datetime, still_open: bool) -> None:
        # Nobody to bill without a project: only a later event or a reconcile can say.
        if state is not None and at > since and state.project_id is not None:
            records.append(_record(meter, resource_id, state, since, at, still_open))

    for event in events:
        new = (state or _State()).merged(event)
        if event.deleted or (meter is Meter.INSTANCE and new.state == "deleted"):
            if state is not None:
                # The deletion may name the owner; it does not change what was billed.
                state = replace(state, project_id=new.project_id, user_id=new.user_id)
                close(min(event.occurred_at, stop), still_open=False)
            return records  # deletion is final: ids are never reused
        if state is None:
            state, since = new, event.occurred_at
        elif new.billed(meter) != state.billed(meter):
            close(min(event.occurred_at, stop), still_open=False)
            state, since = new, event.occurred_at
        else:
            state = new  # the same billed state: a name or an owner may still change
    close(stop, still_open=True)
    return records


@dataclass(frozen=True)
class ResourceState:
    """What a resource's events say now: its billed state, owner, and whether it ended."""

    meter: Meter
    resource_id: str
    deleted: bool
    billed: tuple[object, ...]
    project_id: str | None
    name: str | None


def latest_states(events: Iterable[UsageEvent]) -> dict[tuple[Meter, str], ResourceState]:
    """Each resource's state after all its events (deletion is final)."""
    by_resource: dict[tuple[Meter, str], list[UsageEvent]] = defaultdict(list)
    for event in events:
        by_resource[(event.meter, event.resource_id)].append(event)
    out: dict[tuple[Meter, str], ResourceState] = {}
    for (meter, resource_id), resource_events in by_resource.items():
        resource_events.sort(key=lambda e: (e.occurred_at, e.message_id))
        state = _State()
        deleted = False
        for event in resource_events:
            new = state.merged(event)
            if event.deleted or (meter is Meter.INSTANCE and new.state == "deleted"):
                state = replace(state, project_id=new.project_id, user_id=new.user_id)
                deleted = True
                break
            state = new
        out[(meter, resource_id)] = ResourceState(
            meter, resource_id, deleted, state.billed(meter), state.project_id, state.name
        )
    return out


def _record(
    meter: Meter, resource_id: str, state: _State, start: datetime, end: datetime, still_open: bool
) -> UsageRecord:
    size = Decimal(state.size_bytes) / GIB if state.size_bytes else Decimal(0)
    return UsageRecord(
        meter=meter,
        project_id=state.project_id or "",
        user_id=state.user_id,
        resource_id=resource_id,
        start=start,
        end=end,
        flavor=state.flavor if meter is Meter.INSTANCE else None,
        state=state.state if meter is Meter.INSTANCE else None,
        volume_type=state.volume_type if meter is Meter.VOLUME else None,
        size_gb=size,
        open=still_open,
        name=state.name,
    )


def compute_records(
    events: Iterable[UsageEvent],
    start: datetime,
    end: datetime,
    now: datetime | None = None,
    project_id: str | None = None,
) -> list[UsageRecord]:
    """The usage records events add up to, clipped to [start, end), sorted.

    A resource with no deletion runs to min(end, now)."""
    start, end = _aware(start), _aware(end)
    if end <= start:
        raise UsageError(f"empty time range: {start.isoformat()} is not before {end.isoformat()}")
    now = _aware(now or datetime.now(UTC))
    by_resource: dict[tuple[Meter, str], list[UsageEvent]] = defaultdict(list)
    seen: set[str] = set()
    for event in events:
        if event.message_id in seen:
            continue
        seen.add(event.message_id)
        by_resource[(event.meter, event.resource_id)].append(event)
    out: list[UsageRecord] = []
    stop = min(end, now)
    for (meter, resource_id), resource_events in by_resource.items():
        for record in _fold(meter, resource_id, resource_events, stop):
            if project_id is not None and record.project_id != project_id:
                continue
            clipped_start, clipped_end = max(record.start, start), min(record.end, end)
            if clipped_end > clipped_start:
                out.append(replace(record, start=clipped_start, end=clipped_end))
    out.sort(key=lambda r: (r.project_id, r.meter, r.resource_id, r.start))
    return out


def usage_records(
    store: Store, start: datetime, end: datetime, project_id: str | None = None
) -> list[UsageRecord]:
    """Usage records in the store, clipped to [start, end), sorted by project, meter,
    resource and time; resources not deleted run to min(end, now)."""
    from stacktender.metering.storage import load_events, volume_type_names

    start, end = _aware(start), _aware(end)
    if end <= start:
        raise UsageError(f"empty time range: {start.isoformat()} is not before {end.isoformat()}")
    events = load_events(store, start, end, project_id)
    records = compute_records(events, start, end, project_id=project_id)
    names = volume_type_names(store) if any(r.volume_type for r in records) else {}
    if names:
        records = [
            replace(r, volume_type=names.get(r.volume_type, r.volume_type)) if r.volume_type else r
            for r in records
        ]
    return records


def usage_projects(store: Store, start: datetime, end: datetime) -> list[str]:
    """Projects with any usage in [start, end), sorted."""
    return sorted({record.project_id for record in usage_records(store, start, end)})


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
