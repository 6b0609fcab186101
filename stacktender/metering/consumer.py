"""The RabbitMQ consumer: notifications in, one transaction per batch, ack after commit.

Guarantees (see docs/metering.md): a message is acknowledged only after the batch that
holds it is committed, so a worker that dies loses nothing (the broker redelivers what
was not acked); a message stored twice is ignored by the unique ``message_id``, so a
redelivery never counts twice. Several workers may share the queue (competing
consumers) with the same guarantees. A message that cannot be read becomes a dead
letter in the same transaction and is acked: it never blocks the queue.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stacktender.errors import StacktenderError, StoreError
from stacktender.metering.events import MalformedMessage, Notification, UsageEvent, decode
from stacktender.metering.handlers import HandlerRegistry
from stacktender.metering.storage import BatchRejected, DeadLetterRow, write_batch
from stacktender.secrets import mask_url
from stacktender.store.db import Store

__all__ = [
    "DEFAULT_EXCHANGES",
    "DEFAULT_QUEUE",
    "BrokerError",
    "ConsumeStats",
    "ConsumerOptions",
    "MeteringConsumer",
    "amqp_url",
]

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "stacktender-metering"
# cinder publishes on oslo.messaging's default control exchange, "openstack".
DEFAULT_EXCHANGES = ("nova", "openstack", "neutron", "glance")
DEFAULT_TOPICS = ("notifications", "versioned_notifications")


class BrokerError(StacktenderError):
    """RabbitMQ cannot be reached or refuses what the consumer asks."""


@dataclass(frozen=True)
class ConsumerOptions:
    """Where to consume from and how big a batch is."""

    url: str  # rabbit:// (oslo.messaging transport URL) or amqp://
    queue: str = DEFAULT_QUEUE
    exchanges: Sequence[str] = DEFAULT_EXCHANGES
    topics: Sequence[str] = DEFAULT_TOPICS
    prefetch: int = 2000  # unacked messages the broker may hand this worker
    batch_size: int = 1000
    batch_wait: float = 1.0  # seconds a partial batch may wait before it is written
    connect_timeout: float = 10.0
    heartbeat: int = 30
    reconnect_max_delay: float = 30.0
    store_retry_delay: float = 2.0


@dataclass
class ConsumeStats:
    """What one run of the consumer did."""

    received: int = 0
    events: int = 0  # metered events written (a duplicate is written as nothing)
    skipped: int = 0  # notifications nothing meters (port.create.end, ...)
    dead_letters: int = 0
    batches: int = 0
    reconnects: int = 0
    store_errors: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        """Messages per second since the start."""
        return self.received / max(time.monotonic() - self.started, 1e-9)


def amqp_url(url: str) -> str:
    """A kombu URL from an oslo.messaging transport URL (``rabbit://u:p@h1,u:p@h2/vhost``)."""
    if url.startswith("rabbit://"):
        rest = url[len("rabbit://") :]
        hosts, _, vhost = rest.partition("/")
        # oslo lists failover hosts with commas; kombu with semicolons, each a full URL.
        return ";".join(f"amqp://{host}/{vhost}" for host in hosts.split(","))
    return url


@dataclass
class _Pending:
    tags: list[int] = field(default_factory=list)
    events: dict[str, UsageEvent] = field(default_factory=dict)
    # message id -> (raw body, exchange, routing key): to dead-letter a refused event
    raw: dict[str, tuple[bytes, str, str]] = field(default_factory=dict)
    dead: dict[str, DeadLetterRow] = field(default_factory=dict)
    first_at: float = 0.0

    def __len__(self) -> int:
        return len(self.tags)


class MeteringConsumer:
    """One worker: consume, meter, write a batch, ack it; reconnect when the broker goes."""

    def __init__(
        self,
        store: Store,
        registry: HandlerRegistry,
        options: ConsumerOptions,
        on_batch: Callable[[ConsumeStats], None] | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.options = options
        self.stats = ConsumeStats()
        # Set while bound and consuming (tests and supervisors wait on it).
        self.consuming = threading.Event()
        self._pending = _Pending()
        self._on_batch = on_batch
        self._url = amqp_url(options.url)
        self.masked_url = mask_url(options.url)

    def declare(self) -> None:
        """Declare the queue and its bindings, so that nothing published from now on is
        lost even before a worker runs."""
        import kombu

        connection = kombu.Connection(
            self._url,
            connect_timeout=self.options.connect_timeout,
            transport_options={"max_retries": 0},
        )
        try:
            connection.connect()
            self._declare(connection, connection.channel())
        except (*connection.connection_errors, *connection.channel_errors, OSError) as exc:
            raise BrokerError(f"{self.masked_url}: cannot declare the queue: {exc}") from None
        finally:
            _close(connection)

    # -- the loop ---------------------------------------------------------------------
    def run(
        self, stop: threading.Event | None = None, idle_exit: float | None = None
    ) -> ConsumeStats:
        """Consume until stop is set (or nothing came for idle_exit seconds).

        The first connection and declaration must succeed (BrokerError otherwise); after
        that, a lost broker is retried with backoff until stop. On stop, the current batch is
        committed and acked, or left unacked for the broker to redeliver."""
        import kombu

        stop = stop or threading.Event()
        delay = 1.0
        consumed_once = False
        while not stop.is_set():
            connection = kombu.Connection(
                self._url,
                connect_timeout=self.options.connect_timeout,
                heartbeat=self.options.heartbeat,
                transport_options={"max_retries": 0},
            )
            try:
                connection.connect()
                delay = 1.0
                if self._consume(connection, stop, idle_exit):
                    break  # idle: done
            except (*connection.connection_errors, *connection.channel_errors, OSError) as exc:
                self._pending = _Pending()  # unacked: the broker redelivers them
                if not (consumed_once or self.consuming.is_set()):
                    what = "cannot connect" if not connection.connected else "cannot consume"
                    raise BrokerError(f"{self.masked_url}: {what}: {exc}") from None
                self.stats.reconnects += 1
                log.warning("metering: broker %s lost (%s); reconnecting in %.0fs",
                            self.masked_url, exc, delay)  # fmt: skip
                stop.wait(delay)
                delay = min(delay * 2, self.options.reconnect_max_delay)
            finally:
                consumed_once = consumed_once or self.consuming.is_set()
                self.consuming.clear()
                _close(connection)
        return self.stats

    def _consume(self, connection: Any, stop: threading.Event, idle_exit: float | None) -> bool:
        """Consume on one connection; True when idle_exit elapsed with nothing to do."""
        channel = connection.channel()
        channel.basic_qos(0, self.options.prefetch, False)
        queue = self._declare(connection, channel)
        # py-amqp's own consume: kombu's Consumer would wrap every delivery in a second
        # message object (and look at its content type) for nothing we use.
        channel.basic_consume(queue=queue.name, no_ack=False, callback=self._receive)
        self.consuming.set()
        last_message = time.monotonic()
        received = self.stats.received
        while not stop.is_set():
            wait = 1.0
            if self._pending:
                wait = max(0.0, self._pending.first_at + self.options.batch_wait - time.monotonic())
            with contextlib.suppress(TimeoutError):
                connection.drain_events(timeout=min(wait, 1.0))
            connection.heartbeat_check()
            now = time.monotonic()
            if self.stats.received != received:
                received, last_message = self.stats.received, now
            due = self._pending and now >= self._pending.first_at + self.options.batch_wait
            if len(self._pending) >= self.options.batch_size or due:
                self._flush(channel, stop)
            if idle_exit is not None and not self._pending and now - last_message >= idle_exit:
                return True
        # Stopping: commit and ack what we hold, or leave it unacked for redelivery.
        if self._pending:
            self._flush(channel, stop, retry=False)
        return False

    def _declare(self, connection: Any, channel: Any) -> Any:
        """The durable queue, bound to each exchange's notification topics."""
        import kombu

        queue = kombu.Queue(self.options.queue, durable=True, auto_delete=False)(channel)
        queue.declare()
        for name in self.options.exchanges:
            self._ensure_exchange(connection, name)
            for topic in self.options.topics:
                queue.bind_to(exchange=name, routing_key=f"{topic}.*")
        return queue

    def _ensure_exchange(self, connection: Any, name: str) -> None:
        """The exchange as the service declares it: look first, create only if absent.

        oslo.messaging declares its topic exchanges non-durable; declaring one with
        other flags would fail with PRECONDITION_FAILED, so an existing one is used as
        it is, and a missing one (service not started yet) is made the way oslo would."""
        import kombu

        probe = connection.channel()
        try:
            kombu.Exchange(name, "topic", passive=True)(probe).declare()
            return
        except connection.channel_errors:
            pass  # 404 NOT_FOUND closed the probe channel
        finally:
            _close(probe)
        maker = connection.channel()
        try:
            kombu.Exchange(name, "topic", durable=False, auto_delete=False)(maker).declare()
        finally:
            _close(maker)

    # -- messages and batches ---------------------------------------------------------
    def _receive(self, message: Any) -> None:
        pending = self._pending
        if not pending:
            pending.first_at = time.monotonic()
        pending.tags.append(message.delivery_tag)
        self.stats.received += 1
        body = message.body
        info = message.delivery_info
        exchange = str(info.get("exchange") or "")
        routing_key = str(info.get("routing_key") or "")
        note = None
        try:
            note = decode(body)
            event = self.registry.to_event(note)
        except MalformedMessage as exc:
            raw = body.encode("utf-8", "surrogateescape") if isinstance(body, str) else body
            pending.dead.update(_dead(raw, str(exc), exchange, routing_key, note))
            return
        if event is None:
            self.stats.skipped += 1
        else:
            pending.events[event.message_id] = event
            raw = body.encode("utf-8", "surrogateescape") if isinstance(body, str) else body
            pending.raw[event.message_id] = (raw, exchange, routing_key)

    def _flush(self, channel: Any, stop: threading.Event, retry: bool = True) -> None:
        """Write the batch in one transaction, then ack every message in it at once."""
        pending = self._pending
        while True:
            try:
                try:
                    write_batch(
                        self.store, list(pending.events.values()), list(pending.dead.values())
                    )
                except BatchRejected as exc:
                    log.warning("metering: %s; writing the batch row by row", exc)
                    self._write_one_by_one(pending)
                break
            except StoreError as exc:
                self.stats.store_errors += 1
                if not retry or stop.is_set():
                    log.error("metering: %s; %d messages left unacked", exc, len(pending))
                    self._pending = _Pending()
                    return
                log.warning("metering: %s; retrying", exc)
                stop.wait(self.options.store_retry_delay)
        # One ack for the whole batch: tags on a channel only grow.
        channel.basic_ack(max(pending.tags), multiple=True)
        self.stats.events += len(pending.events)
        self.stats.dead_letters += len(pending.dead)
        self.stats.batches += 1
        self._pending = _Pending()
        if self._on_batch is not None:
            self._on_batch(self.stats)

    def _write_one_by_one(self, pending: _Pending) -> None:
        """Each event alone; one the database refuses becomes a dead letter instead."""
        dead = dict(pending.dead)
        for message_id, event in pending.events.items():
            try:
                write_batch(self.store, [event])
            except BatchRejected as exc:
                raw, exchange, routing_key = pending.raw[message_id]
                dead.update(_dead(raw, str(exc), exchange, routing_key, None))
        for row in dead.values():
            write_batch(self.store, [], [row])


def _dead(
    raw: bytes, reason: str, exchange: str, routing_key: str, note: Notification | None
) -> dict[str, DeadLetterRow]:
    digest = hashlib.sha256(raw).hexdigest()
    row = DeadLetterRow(
        digest=digest,
        reason=reason,
        exchange=exchange,
        routing_key=routing_key,
        body=raw,
        message_id=note.message_id if note else None,
        event_type=note.event_type if note else None,
    )
    return {digest: row}


def _close(thing: Any) -> None:
    try:
        thing.close()
    except Exception:  # closing after the broker went away may fail any way it likes
        log.debug("metering: close failed", exc_info=True)
