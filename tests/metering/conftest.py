"""Fixtures for the metering tests: real notifications the testcloud emitted."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from stacktender.metering.builtin import BUILTIN_HANDLERS
from stacktender.metering.consumer import ConsumerOptions, MeteringConsumer
from stacktender.metering.events import UsageEvent, decode
from stacktender.metering.handlers import HandlerRegistry
from stacktender.metering.storage import count_events, dead_letters
from stacktender.metering.usage import usage_records
from stacktender.store.db import Store

DATA = Path(__file__).parent / "data"


def lifecycle() -> list[dict[str, Any]]:
    """96 messages captured from the testcloud's nova, openstack (cinder), neutron and
    glance exchanges while one server was booted, stopped, started, resized, shelved,
    unshelved and deleted, a volume created, extended, snapshotted and deleted, a
    floating IP created and deleted and an image uploaded and deleted."""
    return json.loads((DATA / "lifecycle.json").read_text())


def lifecycle_events() -> list[UsageEvent]:
    """The usage events of the captured lifecycle."""
    registry = HandlerRegistry(BUILTIN_HANDLERS)
    events = []
    for message in lifecycle():
        event = registry.to_event(decode(message["body"]))
        if event is not None:
            events.append(event)
    return events


@pytest.fixture
def registry() -> HandlerRegistry:
    return HandlerRegistry(BUILTIN_HANDLERS)


# -- a broker of our own: a vhost on the shared RabbitMQ, or a private node ------------------

RABBIT_API = "http://guest:guest@127.0.0.1:15672"


@pytest.fixture
def vhost_url() -> Iterator[str]:
    """An AMQP URL on a fresh vhost of the local RabbitMQ, deleted afterwards."""
    from stacktender.testcloud.rabbit import create_vhost, delete_vhost

    name = f"stacktender-metering-{uuid.uuid4().hex[:8]}"
    create_vhost(RABBIT_API, name)
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{name}"
    finally:
        delete_vhost(RABBIT_API, name)


def publish(url: str, messages: Iterable[tuple[str, str, str | bytes]]) -> int:
    """Publish (exchange, routing_key, body) as oslo.messaging does: topic exchanges
    declared non-durable, persistent JSON messages. Returns how many were published."""
    from kombu import Connection, Exchange, Producer

    count = 0
    with Connection(url, connect_timeout=5) as connection:
        channel = connection.channel()
        producer = Producer(channel)
        declared: dict[str, Exchange] = {}
        for exchange, routing_key, body in messages:
            if exchange not in declared:
                declared[exchange] = Exchange(exchange, "topic", durable=False)(channel)
                declared[exchange].declare()
            producer.publish(
                body,
                exchange=declared[exchange],
                routing_key=routing_key,
                delivery_mode=2,
                content_type="application/json",
                content_encoding="utf-8",
                serializer=None,
            )
            count += 1
    return count


def queue_counts(url: str, queue: str) -> tuple[int, int]:
    """(ready, unacknowledged) messages of a queue, from the management API."""
    import httpx

    vhost = url.rsplit("/", 1)[1]
    response = httpx.get(
        f"http://127.0.0.1:15672/api/queues/{vhost}/{queue}", auth=("guest", "guest"), timeout=10
    )
    response.raise_for_status()
    data = response.json()
    return int(data.get("messages_ready", 0)), int(data.get("messages_unacknowledged", 0))


@dataclass
class Stream:
    """Messages to publish and what a perfect consumer must store of them."""

    messages: list[tuple[str, str, str | bytes]]
    events: dict[str, UsageEvent]  # message id -> event
    bad: set[bytes]  # bodies that must become dead letters

    def usage(self, start: datetime, end: datetime) -> list[Any]:
        from stacktender.metering.usage import compute_records

        return compute_records(self.events.values(), start, end)


BAD_BODIES = [
    b"",
    b"not json at all",
    b'{"oslo.version": "2.0", "oslo.message": "{\\"message_id\\": \\"trunc',
    b'{"oslo.version": "1.0", "oslo.message": "{}"}',
    b'{"oslo.version": "2.0", "oslo.message": 42}',
    b"\xff\xfe\x00garbage",
]


def make_stream(copies: int, *, bad_every: int = 0, origin: datetime | None = None) -> Stream:
    """copies of the captured lifecycle (fresh ids), with each BAD_BODIES entry and a
    truncated real message mixed in every bad_every messages."""
    from stacktender.metering.replay import CapturedMessage, Replayer

    registry = HandlerRegistry(BUILTIN_HANDLERS)
    captured = [CapturedMessage.from_dict(m) for m in lifecycle()]
    replayer = Replayer(captured, registry, origin=origin or datetime(2026, 11, 2, tzinfo=UTC))
    messages: list[tuple[str, str, str | bytes]] = []
    events: dict[str, UsageEvent] = {}
    bad: set[bytes] = set()
    for index, message in enumerate(replayer.stream(copies * len(captured))):
        messages.append((message.exchange, message.routing_key, message.body))
        event = registry.to_event(decode(message.body))
        if event is not None:
            events[event.message_id] = event
        if bad_every and index % bad_every == 0:
            truncated = message.body.encode()[: len(message.body) // 2]
            for body in [*BAD_BODIES, truncated]:
                messages.append((message.exchange, message.routing_key, body))
                bad.add(body)
    return Stream(messages, events, bad)


MONTH = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated store on SQLite (a file) and on PostgreSQL (emptied first)."""
    from store_fixtures import empty_database

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/metering.db"
    else:
        url = request.getfixturevalue("pg_database")
        empty_database(url)
    with Store.open(url) as opened:
        yield opened


def consumer(store: Store, url: str, **options: object) -> MeteringConsumer:
    opts = {"batch_size": 200, "batch_wait": 0.3, "queue": "metering-test"} | options
    return MeteringConsumer(
        store,
        HandlerRegistry(BUILTIN_HANDLERS),
        ConsumerOptions(url=url, **opts),  # type: ignore[arg-type]
    )


def assert_exact(store: Store, stream: Stream) -> None:
    """Zero lost, zero double counted: the store holds exactly the stream's events and
    bad messages, and usage equals the usage of the events as published."""
    assert count_events(store) == len(stream.events)
    assert len(dead_letters(store, limit=10_000)) == len(stream.bad)
    assert usage_records(store, *MONTH) == stream.usage(*MONTH)
