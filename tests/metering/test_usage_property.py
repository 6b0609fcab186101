"""Property: any permutation and duplication of an event stream yields the same usage."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from stacktender.metering.events import UsageEvent
from stacktender.metering.records import Meter
from stacktender.metering.usage import compute_records

START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 11, 2, tzinfo=UTC)
NOW = datetime(2026, 12, 1, tzinfo=UTC)


@st.composite
def event_streams(draw: st.DrawFn) -> list[UsageEvent]:
    """Events of a few instances and volumes: states, flavors, sizes, owners, deletions,
    some before the period and some after it; unique message ids."""
    events = []
    for index in range(draw(st.integers(1, 40))):
        meter = draw(st.sampled_from([Meter.INSTANCE, Meter.VOLUME, Meter.FLOATING_IP]))
        events.append(
            UsageEvent(
                message_id=f"m{index}",
                meter=meter,
                resource_id=draw(st.sampled_from(["r1", "r2", "r3"])),
                occurred_at=START + timedelta(minutes=draw(st.integers(-120, 1600))),
                event_type="e",
                project_id=draw(st.sampled_from(["p1", "p2", None])),
                user_id=draw(st.sampled_from(["u1", None])),
                flavor=draw(st.sampled_from(["m1.tiny", "m1.small", None])),
                state=draw(st.sampled_from(["active", "stopped", "deleted", None])),
                volume_type=draw(st.sampled_from(["ssd", None])),
                size_bytes=draw(st.sampled_from([None, 1 << 30, 2 << 30])),
                deleted=draw(st.booleans()) and draw(st.booleans()),
            )
        )
    return events


@settings(max_examples=300, deadline=None)
@given(events=event_streams(), data=st.data())
def test_any_order_and_any_duplicates_give_the_same_usage(
    events: list[UsageEvent], data: st.DataObject
) -> None:
    expected = compute_records(events, START, END, now=NOW)
    repeated = events + data.draw(st.lists(st.sampled_from(events), max_size=20))
    shuffled = data.draw(st.permutations(repeated))
    assert compute_records(shuffled, START, END, now=NOW) == expected


@settings(max_examples=200, deadline=None)
@given(events=event_streams())
def test_records_never_overlap_and_stay_inside_the_period(events: list[UsageEvent]) -> None:
    records = compute_records(events, START, END, now=NOW)
    by_resource: dict[tuple[Meter, str], list[tuple[datetime, datetime]]] = {}
    for record in records:
        assert START <= record.start < record.end <= END
        by_resource.setdefault((record.meter, record.resource_id), []).append(
            (record.start, record.end)
        )
    for spans in by_resource.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
