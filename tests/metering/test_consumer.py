"""The consumer against the real RabbitMQ: every metered message stored exactly once,
bad ones kept as dead letters, duplicates ignored, competing workers, exchanges as
oslo.messaging declares them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from conftest import assert_exact, consumer, make_stream, publish, queue_counts

from stacktender.metering.consumer import BrokerError, amqp_url
from stacktender.metering.storage import count_events, dead_letters
from stacktender.store.db import Store

pytestmark = pytest.mark.integration


def test_every_metered_message_is_stored_once_and_bad_ones_become_dead_letters(
    store: Store, vhost_url: str
) -> None:
    stream = make_stream(12, bad_every=150)
    worker = consumer(store, vhost_url)
    worker.declare()
    publish(vhost_url, stream.messages)
    publish(vhost_url, stream.messages[::2])  # the same messages delivered twice
    stats = worker.run(idle_exit=1.5)
    assert stats.received == len(stream.messages) + len(stream.messages[::2])
    assert stats.dead_letters > 0 and stats.skipped > 0
    assert_exact(store, stream)
    assert queue_counts(vhost_url, "metering-test") == (0, 0)
    letters = dead_letters(store, limit=10_000)
    assert any(letter.reason.startswith("not JSON") for letter in letters)
    assert any("unknown oslo.version" in letter.reason for letter in letters)
    assert any(letter.routing_key == "notifications.info" for letter in letters)


def test_two_workers_on_one_queue_share_the_work_and_count_once(
    store: Store, vhost_url: str
) -> None:
    stream = make_stream(20, bad_every=400)
    first, second = consumer(store, vhost_url), consumer(store, vhost_url)
    first.declare()
    publish(vhost_url, stream.messages)
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda w=w: results.append(w.run(idle_exit=2.0)))
        for w in (first, second)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(results) == 2
    assert first.stats.received > 0 and second.stats.received > 0
    assert first.stats.received + second.stats.received == len(stream.messages)
    assert_exact(store, stream)


def test_exchanges_declared_by_the_services_or_absent_both_bind(
    store: Store, vhost_url: str
) -> None:
    # nova's exchange as oslo.messaging declares it (non-durable topic); glance's absent.
    publish(vhost_url, [("nova", "nothing.bound", "{}")])
    worker = consumer(store, vhost_url, exchanges=("nova", "glance"))
    worker.declare()
    stream = make_stream(1)
    publish(vhost_url, [m for m in stream.messages if m[0] in ("nova", "glance")])
    worker.run(idle_exit=1.0)
    wanted = {m for m, e in stream.events.items() if e.meter.value in ("instance", "image")}
    assert count_events(store) == len(wanted)


def test_an_unreachable_broker_is_one_clear_error(store: Store) -> None:
    from support import free_port

    worker = consumer(
        store, f"rabbit://guest:s3cret@127.0.0.1:{free_port()}/x", connect_timeout=2.0
    )
    with pytest.raises(BrokerError, match="cannot connect") as caught:
        worker.run(idle_exit=1.0)
    assert "s3cret" not in str(caught.value)


def test_oslo_transport_urls_become_kombu_urls() -> None:
    assert amqp_url("rabbit://u:p@h1:5672,u:p@h2:5672/vh") == (
        "amqp://u:p@h1:5672/vh;amqp://u:p@h2:5672/vh"
    )
    assert amqp_url("amqp://u:p@h/") == "amqp://u:p@h/"


def test_stop_commits_the_current_batch(store: Store, vhost_url: str) -> None:
    stream = make_stream(2)
    # a batch that would wait a minute: only the stop can make it commit
    worker = consumer(store, vhost_url, batch_size=100_000, batch_wait=60.0)
    worker.declare()
    publish(vhost_url, stream.messages)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    deadline = datetime.now(UTC).timestamp() + 30
    while worker.stats.received < len(stream.messages) and datetime.now(UTC).timestamp() < deadline:
        threading.Event().wait(0.1)
    assert count_events(store) == 0  # nothing committed yet
    stop.set()
    thread.join(30)
    assert not thread.is_alive()
    assert_exact(store, stream)
    assert queue_counts(vhost_url, "metering-test") == (0, 0)


def test_a_queue_declared_otherwise_is_one_clear_error(store: Store, vhost_url: str) -> None:
    from kombu import Connection, Queue

    with Connection(vhost_url, connect_timeout=5) as connection:
        Queue("metering-test", durable=False)(connection.channel()).declare()
    worker = consumer(store, vhost_url)
    with pytest.raises(BrokerError, match=r"cannot declare the queue.*PRECONDITION_FAILED"):
        worker.declare()
    with pytest.raises(BrokerError, match=r"cannot consume.*PRECONDITION_FAILED"):
        worker.run(idle_exit=1.0)


def test_rows_the_database_refuses_become_dead_letters_and_the_rest_is_stored(
    pg_database: str, vhost_url: str
) -> None:
    # A real refusal, not a mock: this test's database gets a CHECK constraint that the
    # volume's events (named mcap-vol) violate, as a stricter schema or bad data would.
    from sqlalchemy import text
    from store_fixtures import empty_database

    empty_database(pg_database)
    with Store.open(pg_database) as store:
        with store.engine.begin() as connection:
            connection.execute(
                text(
                    "ALTER TABLE metering_events ADD CONSTRAINT no_poison "
                    "CHECK (name IS DISTINCT FROM 'mcap-vol')"
                )
            )
        stream = make_stream(2)
        refused = {m for m, e in stream.events.items() if e.name == "mcap-vol"}
        assert len(refused) == 6  # create, resize, delete of two volumes
        worker = consumer(store, vhost_url)
        worker.declare()
        publish(vhost_url, stream.messages)
        worker.run(idle_exit=1.5)
        assert count_events(store) == len(stream.events) - len(refused)
        letters = dead_letters(store)
        assert {letter.message_id for letter in letters} <= refused | {None}
        assert len(letters) == len(refused)
        assert all("no_poison" in letter.reason for letter in letters)
        assert queue_counts(vhost_url, "metering-test") == (0, 0)
