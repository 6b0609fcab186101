"""Metering ingest: notifications/s from RabbitMQ into the store, vs. a raw consume loop.

The notifications are the testcloud's own (96 messages captured from the nova,
openstack (cinder), neutron and glance exchanges while a server, a volume, a
snapshot, a floating IP and an image went through their lifecycles:
tests/metering/data/lifecycle.json), replayed with fresh message and resource ids,
20 projects and shifted times (:class:`stacktender.metering.replay.Replayer`) up to
the wanted count. About a third of them are metered; the rest (scheduler, ports,
``*.start``) are read and skipped, as in a real cloud.

Everything runs on a vhost of its own on the local RabbitMQ (deleted afterwards):

* baseline: a kombu consumer on a queue holding the messages, acking each message
  and doing nothing else (same prefetch); also, for reference only, the same loop
  acking once per 1000 messages (``multiple``), as the contender acks per batch;
* contender: ``MeteringConsumer`` (decode, meter, one transaction per batch, one ack
  per batch) into a fresh SQLite file and a fresh PostgreSQL database.

Each run publishes the messages into its own queue first, then times from the first
message to the last one acked (committed, for the contender). A round is the baseline
then each contender; the machine is shared, so several rounds are run and the medians
(rates, and ratios against the same round's baseline) are kept. Results go to
bench/results/metering-ingest.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import write_result
from stacktender.metering.builtin import BUILTIN_HANDLERS
from stacktender.metering.consumer import ConsumerOptions, ConsumeStats, MeteringConsumer
from stacktender.metering.handlers import HandlerRegistry
from stacktender.metering.replay import CapturedMessage, Replayer, load_captured
from stacktender.metering.storage import count_events
from stacktender.store.db import Store

CAPTURED = Path(__file__).resolve().parent.parent / "tests/metering/data/lifecycle.json"
RABBIT_API = "http://guest:guest@127.0.0.1:15672"
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5"
TARGET_RATE = 5000.0  # notifications per second
TARGET_RATIO = 0.5  # of the raw loop's rate
PREFETCH = 2000
EXCHANGES = ("nova", "openstack", "neutron", "glance")


@contextmanager
def bench_vhost() -> Iterator[str]:
    from stacktender.testcloud.rabbit import create_vhost, delete_vhost

    name = f"stacktender-bench-{uuid.uuid4().hex[:8]}"
    create_vhost(RABBIT_API, name)
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{name}"
    finally:
        delete_vhost(RABBIT_API, name)


@contextmanager
def pg_database() -> Iterator[str]:
    import psycopg

    name = f"stacktender_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def declare_queue(url: str, queue: str) -> None:
    """A durable queue bound to the notification topics of every exchange."""
    from kombu import Connection, Exchange, Queue

    with Connection(url, connect_timeout=10) as connection:
        channel = connection.channel()
        q = Queue(queue, durable=True)(channel)
        q.declare()
        for name in EXCHANGES:
            Exchange(name, "topic", durable=False)(channel).declare()
            for topic in ("notifications", "versioned_notifications"):
                q.bind_to(exchange=name, routing_key=f"{topic}.*")


def publish(url: str, messages: Sequence[CapturedMessage]) -> float:
    """Publish as oslo.messaging does (persistent JSON); return seconds taken."""
    from kombu import Connection, Exchange, Producer

    started = time.perf_counter()
    with Connection(url, connect_timeout=10) as connection:
        channel = connection.channel()
        producer = Producer(channel)
        exchanges = {name: Exchange(name, "topic", durable=False) for name in EXCHANGES}
        for message in messages:
            producer.publish(
                message.body,
                exchange=exchanges[message.exchange],
                routing_key=message.routing_key,
                delivery_mode=2,
                content_type="application/json",
                content_encoding="utf-8",
                serializer=None,
                declare=[],
            )
    return time.perf_counter() - started


def raw_loop(url: str, queue: str, count: int, ack_every: int = 1) -> float:
    """Seconds for a kombu consumer to receive and ack count messages, doing nothing else
    (acking each message, or every ack_every-th with ``multiple``, as the contender does)."""
    from kombu import Connection, Consumer, Queue

    received = 0
    first: list[float] = []

    def on_message(message: Any) -> None:
        nonlocal received
        if not first:
            first.append(time.perf_counter())
        received += 1
        if ack_every == 1:
            message.ack()
        elif received % ack_every == 0 or received == count:
            message.channel.basic_ack(message.delivery_tag, multiple=True)

    with Connection(url, connect_timeout=10) as connection:
        channel = connection.channel()
        channel.basic_qos(0, PREFETCH, False)
        consumer = Consumer(channel, queues=[Queue(queue, durable=True)], on_message=on_message)
        consumer.consume()
        while received < count:
            connection.drain_events(timeout=30)
        return time.perf_counter() - first[0]


def ingest(url: str, queue: str, store_url: str, count: int, batch_size: int) -> dict[str, Any]:
    """Seconds for MeteringConsumer to meter and commit count messages into store_url."""
    with Store.open(store_url) as store:
        done = threading.Event()
        first: list[float] = []
        finished: list[float] = []

        def on_batch(stats: ConsumeStats) -> None:
            if stats.events + stats.skipped + stats.dead_letters >= count and not finished:
                finished.append(time.perf_counter())
                done.set()

        worker = MeteringConsumer(
            store,
            HandlerRegistry(BUILTIN_HANDLERS),
            ConsumerOptions(url=url, queue=queue, prefetch=PREFETCH, batch_size=batch_size),
            on_batch=on_batch,
        )
        original = worker._receive

        def receive(message: Any) -> None:
            if not first:
                first.append(time.perf_counter())
            original(message)

        worker._receive = receive  # type: ignore[method-assign]
        thread = threading.Thread(target=worker.run, args=(done,))
        thread.start()
        thread.join()
        stats = worker.stats
        return {
            "seconds": round(finished[0] - first[0], 3),
            "received": stats.received,
            "metered_events": stats.events,
            "skipped": stats.skipped,
            "dead_letters": stats.dead_letters,
            "batches": stats.batches,
            "stored_events": count_events(store),
        }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, default=3, help="comparisons; medians are kept")
    args = parser.parse_args(argv)
    count = args.messages
    registry = HandlerRegistry(BUILTIN_HANDLERS)
    replayer = Replayer(
        load_captured(CAPTURED.read_text()), registry, origin=datetime(2026, 10, 1, tzinfo=UTC)
    )
    messages = list(replayer.stream(count))
    size = sum(len(m.body) for m in messages) / len(messages)
    print(f"{count} notifications, {size:.0f} bytes each on average")
    results: dict[str, Any] = {"messages": count, "mean_bytes": round(size)}

    def run(name: str, measure: Callable[[str, str], float | dict[str, Any]]) -> dict[str, Any]:
        with bench_vhost() as url:
            queue = f"bench-{name.replace(' ', '-')}"
            declare_queue(url, queue)
            published = publish(url, messages)
            load = os.getloadavg()[0]
            cpu = time.process_time()
            outcome = measure(url, queue)
            cpu = time.process_time() - cpu
        data = outcome if isinstance(outcome, dict) else {"seconds": round(outcome, 3)}
        data["rate"] = round(count / data["seconds"])
        # this process's CPU (all threads) per message: ours, without the broker's
        data["client_cpu_us_per_message"] = round(cpu / count * 1e6, 1)
        data["load_average_before"] = round(load, 2)
        data["publish_rate"] = round(count / published)
        print(
            f"{name:>22}: {data['seconds']:7.2f} s  {data['rate']:8d} notifications/s  "
            f"{data['client_cpu_us_per_message']:6.1f} us CPU/message (load {load:.1f})"
        )
        return data

    backends = args.backends.split(",")
    rounds: list[dict[str, Any]] = []
    for number in range(1, args.rounds + 1):
        print(f"round {number} of {args.rounds}")
        this: dict[str, Any] = {}
        this["raw_kombu_loop"] = run("raw kombu loop", lambda url, q: raw_loop(url, q, count))
        # Not the baseline: the raw loop acking once per batch, to show what batching buys.
        this["raw_kombu_loop_batched_acks"] = run(
            "raw, acks per 1000",
            lambda url, q: raw_loop(url, q, count, ack_every=args.batch_size),
        )
        with tempfile.TemporaryDirectory() as tmp:
            for backend in backends:
                if backend == "sqlite":
                    data = run(
                        "ingest sqlite",
                        lambda url, q, s=f"sqlite:///{tmp}/metering.db": ingest(
                            url, q, s, count, args.batch_size
                        ),
                    )
                else:
                    with pg_database() as store_url:
                        data = run(
                            "ingest postgresql",
                            lambda url, q, s=store_url: ingest(url, q, s, count, args.batch_size),
                        )
                data["ratio_vs_raw"] = round(data["rate"] / this["raw_kombu_loop"]["rate"], 3)
                print(f"{'':>22}  {data['ratio_vs_raw']:.2f}x the raw loop of this round")
                this[f"ingest_{backend}"] = data
        rounds.append(this)
    results["rounds"] = rounds
    for key in ("raw_kombu_loop", "raw_kombu_loop_batched_acks"):
        results[f"{key}_median_rate"] = round(statistics.median(r[key]["rate"] for r in rounds))
    for backend in backends:
        key = f"ingest_{backend}"
        rate = round(statistics.median(r[key]["rate"] for r in rounds))
        ratio = round(statistics.median(r[key]["ratio_vs_raw"] for r in rounds), 3)
        results[key] = {
            "median_rate": rate,
            "median_ratio_vs_raw": ratio,
            "rates": [r[key]["rate"] for r in rounds],
            "ratios": [r[key]["ratio_vs_raw"] for r in rounds],
            "meets_rate_target": rate >= TARGET_RATE,
            "meets_ratio_target": ratio >= TARGET_RATIO,
        }
        print(f"{key}: median {rate} notifications/s, median {ratio:.2f}x the raw loop")
    results["targets"] = {"rate": TARGET_RATE, "ratio_vs_raw": TARGET_RATIO}
    path = write_result("metering-ingest", results)
    print(f"written {path}")
    return results


if __name__ == "__main__":
    main()
