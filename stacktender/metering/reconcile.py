"""Reconciliation: compare what the store thinks is running with what the APIs list.

A missed deletion leaves a record open forever; an outage of the consumer (or of the
notification bus) leaves resources that were never opened. :func:`reconcile` fixes
both with events of its own (``source = reconcile``), through the same path as
notifications, so usage stays a function of the stored events:

* open in the store, absent from the API: a closing event, now;
* in the API, never seen by the store: an opening event at the API's created
  (launched) time, in the state the API shows (backfill);
* in both, but the billed state differs (a missed resize or extend): a state event, now;
* deleted in the store but listed by the API: reported only (deletion is final).

Reconcile event ids are derived from the resource (and the time, for state events),
so running it twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stacktender.errors import ServiceUnreachable
from stacktender.metering.events import UsageEvent, parse_time
from stacktender.metering.handlers import GIB
from stacktender.metering.records import Meter
from stacktender.metering.usage import ResourceState
from stacktender.store.db import Store

__all__ = ["ApiResource", "Discrepancy", "Inventory", "fetch_inventory", "reconcile"]

RECONCILED = (Meter.INSTANCE, Meter.VOLUME, Meter.FLOATING_IP)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ApiResource:
    """A resource as the API lists it, in the terms of a usage event."""

    meter: Meter
    resource_id: str
    project_id: str
    created: datetime
    user_id: str | None = None
    flavor: str | None = None
    state: str | None = None
    volume_type: str | None = None
    size_bytes: int | None = None
    name: str | None = None

    def billed(self) -> tuple[object, ...]:
        if self.meter is Meter.INSTANCE:
            return (self.flavor, self.state)
        if self.meter is Meter.VOLUME:
            return (self.size_bytes, self.volume_type)
        return ()


@dataclass
class Inventory:
    """Everything the APIs list now (all projects), and volume type id -> name."""

    resources: list[ApiResource] = field(default_factory=list)
    volume_types: dict[str, str] = field(default_factory=dict)
    meters: tuple[Meter, ...] = RECONCILED  # the meters this inventory covers fully


@dataclass(frozen=True)
class Discrepancy:
    """One difference between the store and the APIs, and what was (or would be) done."""

    kind: str  # closed | backfilled | changed | deleted-but-listed
    meter: Meter
    resource_id: str
    project_id: str | None
    name: str | None
    detail: str
    at: datetime  # the time of the event written for it


def fetch_inventory(conn: Any) -> Inventory:
    """List servers, volumes and floating IPs of every project with an admin connection."""
    import openstack

    try:
        types = {t.id: t.name for t in conn.block_storage.types()}
        type_ids = {name: type_id for type_id, name in types.items()}
        resources = [_server(s) for s in conn.compute.servers(all_projects=True, details=True)]
        resources += [_volume(v, type_ids) for v in conn.block_storage.volumes(all_projects=True)]
        resources += [_ip(ip) for ip in conn.network.ips()]
    except openstack.exceptions.SDKException as exc:
        raise ServiceUnreachable(
            f"cannot list resources: {' '.join(str(exc).split())[:300]}"
        ) from None
    return Inventory([r for r in resources if r is not None], types)


def _time(*values: Any) -> datetime:
    for value in values:
        parsed = parse_time(value)
        if parsed is not None:
            return parsed
    return datetime.now(UTC)


def _server(server: Any) -> ApiResource | None:
    flavor = server.flavor
    name = getattr(flavor, "original_name", None) or getattr(flavor, "name", None)
    state = server.vm_state
    if state in (None, "building", "deleted", "soft-delete"):
        return None  # not (or no longer) billed: notifications will say when it is
    return ApiResource(
        Meter.INSTANCE,
        server.id,
        server.project_id,
        _time(server.launched_at, server.created_at),
        user_id=server.user_id,
        flavor=name,
        state=state,
        name=server.name,
    )


def _volume(volume: Any, type_ids: dict[str, str]) -> ApiResource | None:
    if volume.status in ("creating", "deleting", "error"):
        return None
    return ApiResource(
        Meter.VOLUME,
        volume.id,
        volume.project_id,
        _time(volume.created_at),
        user_id=volume.user_id,
        volume_type=type_ids.get(volume.volume_type, volume.volume_type),
        size_bytes=int(volume.size) * GIB,
        name=volume.name,
    )


def _ip(ip: Any) -> ApiResource:
    return ApiResource(
        Meter.FLOATING_IP,
        ip.id,
        ip.project_id,
        _time(ip.created_at),
        name=ip.floating_ip_address,
    )


def reconcile(
    store: Store, inventory: Inventory, *, dry_run: bool = False, now: datetime | None = None
) -> list[Discrepancy]:
    """Compare the store with the inventory; write the fixing events unless dry_run;
    return every discrepancy, sorted."""
    from stacktender.metering.storage import load_events, write_batch, write_volume_types
    from stacktender.metering.usage import latest_states

    now = now or datetime.now(UTC)
    # Every stored event, later ones too: the store's latest word on each resource.
    known = latest_states(load_events(store, EPOCH, FAR_FUTURE))
    listed = {(r.meter, r.resource_id): r for r in inventory.resources}
    found: list[tuple[Discrepancy, UsageEvent | None]] = []
    for key, state in known.items():
        meter, resource_id = key
        if meter not in inventory.meters:
            continue
        api = listed.get(key)
        if api is None and not state.deleted:
            event = _event(meter, resource_id, f"close:{resource_id}", now, deleted=True)
            found.append(
                (_say("closed", state, "open in the store, gone from the API", now), event)
            )
        elif api is not None and state.deleted:
            found.append(
                (
                    _say(
                        "deleted-but-listed", state, "deleted in the store, listed by the API", now
                    ),
                    None,
                )
            )
        elif api is not None and api.billed() != state.billed:
            detail = f"store {_show(state.billed)}, API {_show(api.billed())}"
            event = _from_api(api, f"state:{resource_id}:{now.isoformat()}", now)
            found.append((_say("changed", state, detail, now), event))
    for key, api in listed.items():
        if key not in known:
            event = _from_api(api, f"open:{api.resource_id}", api.created)
            detail = f"listed since {api.created.isoformat()}, never seen: backfilled"
            found.append(
                (
                    Discrepancy(
                        "backfilled",
                        api.meter,
                        api.resource_id,
                        api.project_id,
                        api.name,
                        detail,
                        api.created,
                    ),
                    event,
                )
            )
    if not dry_run:
        write_batch(store, [event for _, event in found if event is not None])
        if inventory.volume_types:
            write_volume_types(store, inventory.volume_types.items())
    return sorted((d for d, _ in found), key=lambda d: (d.kind, d.meter, d.resource_id))


def _say(kind: str, state: ResourceState, detail: str, at: datetime) -> Discrepancy:
    return Discrepancy(
        kind, state.meter, state.resource_id, state.project_id, state.name, detail, at
    )


def _show(billed: Sequence[object]) -> str:
    return "/".join("-" if v is None else str(v) for v in billed) or "-"


def _event(meter: Meter, resource_id: str, key: str, at: datetime, **fields: Any) -> UsageEvent:
    return UsageEvent(
        message_id=f"reconcile:{key}"[:255],
        meter=meter,
        resource_id=resource_id,
        occurred_at=at,
        event_type="reconcile",
        source="reconcile",
        **fields,
    )


def _from_api(api: ApiResource, key: str, at: datetime) -> UsageEvent:
    return _event(
        api.meter,
        api.resource_id,
        key,
        at,
        project_id=api.project_id,
        user_id=api.user_id,
        flavor=api.flavor,
        state=api.state,
        volume_type=api.volume_type,
        size_bytes=api.size_bytes,
        name=api.name,
    )
