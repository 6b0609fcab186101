"""Usage records from events: real captured lifecycles, ordering, duplicates, clipping."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from conftest import lifecycle_events

from stacktender.metering.events import UsageEvent
from stacktender.metering.records import Meter
from stacktender.metering.usage import UsageError, compute_records

DAY_START = datetime(2026, 11, 25, tzinfo=UTC)
DAY_END = datetime(2026, 11, 26, tzinfo=UTC)
LATER = datetime(2026, 12, 1, tzinfo=UTC)


def test_the_captured_lifecycle_gives_one_record_per_billed_state() -> None:
    records = compute_records(lifecycle_events(), DAY_START, DAY_END, now=LATER)
    instances = [r for r in records if r.meter is Meter.INSTANCE]
    # nova sent every fact twice (legacy and versioned): still one record per state
    assert [(r.flavor, r.state) for r in instances] == [
        ("m1.tiny", "active"),
        ("m1.tiny", "stopped"),
        ("m1.tiny", "active"),
        ("m1.small", "resized"),
        ("m1.small", "active"),
        ("m1.small", "shelved"),
        ("m1.small", "shelved_offloaded"),
        ("m1.small", "active"),
    ]
    assert all(a.end == b.start for a, b in pairwise(instances))
    assert not any(r.open for r in instances)
    assert instances[0].name == "mcap"
    total = sum(r.seconds for r in instances)
    assert Decimal(8) < total < Decimal(10)  # booted 19:22:35, deleted 19:22:44

    volumes = [r for r in records if r.meter is Meter.VOLUME]
    assert [r.size_gb for r in volumes] == [1, 2]
    assert volumes[0].volume_type == "6f7f6692-eb99-49ec-b3ed-3540e8b7b747"
    (snapshot,) = [r for r in records if r.meter is Meter.SNAPSHOT]
    assert snapshot.size_gb == 2
    (fip,) = [r for r in records if r.meter is Meter.FLOATING_IP]
    assert fip.name == "203.0.113.124" and not fip.open
    (image,) = [r for r in records if r.meter is Meter.IMAGE]
    assert image.size_gb == Decimal(4096) / Decimal(1024**3)
    assert {r.project_id for r in records} == {"c9c2a886a976450087478b710943bbe8"}


def test_order_and_duplicates_do_not_change_usage() -> None:
    events = lifecycle_events()
    expected = compute_records(events, DAY_START, DAY_END, now=LATER)
    shuffled = events + events[::3]
    random.Random(7).shuffle(shuffled)
    assert compute_records(shuffled, DAY_START, DAY_END, now=LATER) == expected


def _event(resource: str, minute: int, **fields: object) -> UsageEvent:
    base: dict[str, object] = {
        "message_id": f"{resource}-{minute}-{fields.get('state')}-{fields.get('deleted')}",
        "meter": Meter.INSTANCE,
        "resource_id": resource,
        "occurred_at": DAY_START + timedelta(minutes=minute),
        "event_type": "compute.instance.create.end",
        "project_id": "p1",
        "flavor": "m1.tiny",
        "state": "active",
    }
    base.update(fields)
    return UsageEvent(**base)  # type: ignore[arg-type]


def test_open_resources_run_to_the_end_or_now_and_are_clipped() -> None:
    events = [_event("vm", 30)]
    (record,) = compute_records(events, DAY_START, DAY_START + timedelta(hours=2), now=LATER)
    assert record.open and record.end == DAY_START + timedelta(hours=2)
    assert record.start == DAY_START + timedelta(minutes=30)
    (record,) = compute_records(events, DAY_START, DAY_END, now=DAY_START + timedelta(hours=1))
    assert record.end == DAY_START + timedelta(hours=1)
    (record,) = compute_records(
        events, DAY_START + timedelta(hours=1), DAY_END, now=DAY_START + timedelta(hours=3)
    )
    assert record.seconds == 7200


def test_deletion_is_final_and_a_lone_deletion_bills_nothing() -> None:
    events = [
        _event("vm", 0),
        _event("vm", 10, deleted=True, state="deleted"),
        _event("vm", 20, state="active"),  # a late exists after the delete
        _event("gone", 5, deleted=True, state="deleted"),
    ]
    (record,) = compute_records(events, DAY_START, DAY_END, now=LATER)
    assert (record.resource_id, record.seconds, record.open) == ("vm", 600, False)


def test_events_without_an_owner_are_not_billed_to_anyone() -> None:
    events = [_event("vm", 0, project_id=None)]
    assert compute_records(events, DAY_START, DAY_END, now=LATER) == []
    owned = [*events, _event("vm", 5, project_id="p2", state="stopped")]
    (record,) = compute_records(owned, DAY_START, DAY_END, now=LATER, project_id="p2")
    assert record.state == "stopped"


def test_a_project_filter_keeps_only_its_records() -> None:
    events = [_event("a", 0), _event("b", 0, project_id="p2")]
    records = compute_records(events, DAY_START, DAY_END, now=LATER, project_id="p2")
    assert [r.resource_id for r in records] == ["b"]


def test_an_empty_range_is_an_error() -> None:
    with pytest.raises(UsageError, match="empty time range"):
        compute_records([], DAY_END, DAY_START)


def test_naive_times_are_utc() -> None:
    (record,) = compute_records(
        [_event("vm", 0)], DAY_START.replace(tzinfo=None), DAY_END.replace(tzinfo=None), now=LATER
    )
    assert record.end == DAY_END


def test_a_name_change_does_not_split_a_record() -> None:
    events = [_event("vm", 0, name="a"), replace(_event("vm", 5, name="b"), message_id="x")]
    (record,) = compute_records(events, DAY_START, DAY_END, now=LATER)
    assert record.name == "b"
