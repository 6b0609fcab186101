"""Metering on the store (SQLite, PostgreSQL, MariaDB): insert-or-ignore, usage, dead letters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from conftest import lifecycle_events

from stacktender.metering.records import Meter
from stacktender.metering.storage import (
    DeadLetterRow,
    count_events,
    dead_letters,
    write_batch,
    write_volume_types,
)
from stacktender.metering.usage import compute_records, usage_projects, usage_records
from stacktender.store.db import Store

DAY_START = datetime(2026, 11, 25, tzinfo=UTC)
DAY_END = datetime(2026, 11, 26, tzinfo=UTC)
PROJECT = "c9c2a886a976450087478b710943bbe8"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store.open(store_url) as opened:
        yield opened


def test_a_batch_written_twice_is_stored_once_and_usage_matches(store: Store) -> None:
    events = lifecycle_events()
    write_batch(store, events[:40])
    write_batch(store, events)  # a redelivery of the first 40, then the rest
    write_batch(store, events[::2])
    assert count_events(store) == len(events)
    records = usage_records(store, DAY_START, DAY_END)
    assert records == compute_records(events, DAY_START, DAY_END)
    assert usage_projects(store, DAY_START, DAY_END) == [PROJECT]
    assert usage_records(store, DAY_START, DAY_END, project_id="nobody") == []
    mine = usage_records(store, DAY_START, DAY_END, project_id=PROJECT)
    assert mine == records
    # times come back aware and exact to the microsecond on every backend
    assert all(r.start.tzinfo is UTC for r in records)


def test_resources_deleted_before_the_period_are_not_read(store: Store) -> None:
    write_batch(store, lifecycle_events())
    assert usage_records(store, DAY_END, datetime(2026, 12, 1, tzinfo=UTC)) == []


def test_volume_types_are_shown_by_name_once_known(store: Store) -> None:
    write_batch(store, lifecycle_events())
    write_volume_types(store, [("6f7f6692-eb99-49ec-b3ed-3540e8b7b747", "__DEFAULT__")])
    write_volume_types(store, [("6f7f6692-eb99-49ec-b3ed-3540e8b7b747", "standard")])
    volumes = [r for r in usage_records(store, DAY_START, DAY_END) if r.meter is Meter.VOLUME]
    assert {r.volume_type for r in volumes} == {"standard"}


def test_dead_letters_are_kept_once_with_their_reason(store: Store) -> None:
    bad = DeadLetterRow(
        digest="a" * 64,
        reason="not JSON: Expecting value",
        exchange="nova",
        routing_key="notifications.info",
        body=b"\xff\xfe{truncated",
    )
    write_batch(store, [], [bad])
    write_batch(store, [], [bad])
    (letter,) = dead_letters(store)
    assert letter.reason.startswith("not JSON")
    assert letter.body.endswith("{truncated")
    assert letter.routing_key == "notifications.info"
