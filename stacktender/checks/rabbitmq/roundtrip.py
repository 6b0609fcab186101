"""``rabbitmq-roundtrip``: publish messages over AMQP and time until each comes back.

The queue is server-named, exclusive and auto-delete: it lives only as long as the
check's connection and nothing else can see it. A broker that refuses the login,
blocks publishers (memory or disk alarm) or does not deliver in time is CRITICAL.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

from stacktender.checks.base import Check, CheckContext, Outcome
from stacktender.checks.rabbitmq.amqpclient import DEFAULT_AMQP_URL, amqp_errors, amqp_url, connect
from stacktender.checks.rabbitmq.models import number_option
from stacktender.errors import ServiceUnreachable
from stacktender.results import PerfData, ThresholdSpec, worst

__all__ = ["ROUNDTRIP"]


@dataclass
class RoundTrip:
    """Times of one run, in milliseconds."""

    shown: str
    server: str
    connect_ms: float
    latencies_ms: list[float] = field(default_factory=list)


def collect_roundtrip(ctx: CheckContext) -> RoundTrip:
    import amqp  # type: ignore[import-untyped]

    count = int(number_option(ctx, "messages", minimum=1))
    with connect(ctx, amqp_url(ctx, target_first=True)) as link:
        result = RoundTrip(link.shown, link.server, link.connect_seconds * 1000)
        arrived: list[float] = []
        with amqp_errors(ctx, link):
            channel = link.channel()
            queue = channel.queue_declare(queue="", exclusive=True, auto_delete=True).queue
            channel.basic_consume(
                queue=queue, no_ack=True, callback=lambda _msg: arrived.append(time.monotonic())
            )
            for i in range(count):
                sent = time.monotonic()
                channel.basic_publish(
                    amqp.Message(f"stacktender round trip {i}".encode(), delivery_mode=1),
                    exchange="",
                    routing_key=queue,
                )
                while len(arrived) <= i:
                    if ctx.remaining(floor=0) <= 0:
                        raise TimeoutError
                    link.conn.drain_events(timeout=ctx.remaining())
                result.latencies_ms.append((arrived[i] - sent) * 1000)
            channel.close()
        if link.blocked_reason:
            raise ServiceUnreachable(
                f"RabbitMQ at {link.shown} blocks publishers: {link.blocked_reason}"
            )
    return result


def evaluate_roundtrip(trip: RoundTrip, ctx: CheckContext) -> Outcome:
    th = ctx.thresholds
    avg = round(statistics.fmean(trip.latencies_ms), 3)
    slowest = round(max(trip.latencies_ms), 3)
    connect_ms = round(trip.connect_ms, 3)
    status = worst([th.status("latency", avg), th.status("connect_time", connect_ms)])
    summary = (
        f"{len(trip.latencies_ms)} message(s) round-tripped through {trip.server} in "
        f"{avg:.1f} ms on average (slowest {slowest:.1f} ms), connected in {connect_ms:.1f} ms"
    )
    details = [f"broker: {trip.shown}"] + [
        f"message {i}: {ms:.2f} ms" for i, ms in enumerate(trip.latencies_ms)
    ]
    perfdata = [
        th.perf("latency", avg, minimum=0),
        PerfData("latency_max", slowest, unit="ms", minimum=0),
        th.perf("connect_time", connect_ms, minimum=0),
    ]
    return Outcome(status, summary, details, perfdata)


ROUNDTRIP = Check(
    name="rabbitmq-roundtrip",
    service="rabbitmq",
    description=(
        "AMQP publish/consume round trip through a temporary exclusive auto-delete queue; "
        "CRITICAL when the broker refuses, blocks or does not deliver in time"
    ),
    collect=collect_roundtrip,
    evaluate=evaluate_roundtrip,
    default_url=DEFAULT_AMQP_URL,
    thresholds=(
        ThresholdSpec("latency", "average publish-to-delivery time", "100", "1000", "ms"),
        ThresholdSpec("connect_time", "TCP + AMQP handshake time", None, None, "ms"),
    ),
    options={"messages": 3},
    option_help={"messages": "messages to send one after the other (default 3)"},
)
