"""``rabbitmq-queues`` (backlogs, unconsumed queues) and ``rabbitmq-queue-growth``
(ready messages per second, measured over two samples in one run)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from stacktender.checks.base import Check, CheckContext, Outcome
from stacktender.checks.rabbitmq.amqpclient import AmqpLink, amqp_errors, amqp_url, connect
from stacktender.checks.rabbitmq.management import DEFAULT_URL, Management
from stacktender.checks.rabbitmq.models import (
    QueueFilter,
    QueueInfo,
    fetch_queues,
    number_option,
)
from stacktender.errors import CheckError
from stacktender.results import PerfData, Status, ThresholdSpec, worst

__all__ = ["GROWTH", "QUEUES", "SELECTION_HELP", "SELECTION_OPTIONS"]

SELECTION_OPTIONS: dict[str, object] = {"vhost": None, "include": None, "exclude": None, "top": 5}
SELECTION_HELP = {
    "vhost": "only queues of this vhost (default: every vhost)",
    "include": "only queues whose name matches this regular expression (re.search)",
    "exclude": "skip queues whose name matches this regular expression (re.search)",
    "top": "how many of the worst queues the details list",
}


@dataclass
class QueueSnapshot:
    """The selected queues as the management API lists them."""

    queues: list[QueueInfo]
    vhost: str | None = None


def collect_queues(ctx: CheckContext) -> QueueSnapshot:
    selection = QueueFilter.from_ctx(ctx)
    with Management(ctx) as api:
        return QueueSnapshot(fetch_queues(api, selection), selection.vhost)


def _top(ctx: CheckContext) -> int:
    return int(number_option(ctx, "top"))


def _more(lines: list[str], total: int, what: str) -> list[str]:
    return [*lines, f"... and {total - len(lines)} more {what}"] if total > len(lines) else lines


def _scope(snapshot_vhost: str | None) -> str:
    return f" in vhost {snapshot_vhost}" if snapshot_vhost is not None else ""


def evaluate_queues(snap: QueueSnapshot, ctx: CheckContext) -> Outcome:
    th = ctx.thresholds
    queues = snap.queues
    ready = sum(q.messages_ready for q in queues)
    unacked = sum(q.messages_unacked for q in queues)
    unconsumed = [q for q in queues if q.unconsumed]
    unconsumed_msgs = sum(q.messages for q in unconsumed)
    max_ready = max((q.messages_ready for q in queues), default=0)
    max_unacked = max((q.messages_unacked for q in queues), default=0)

    flagged: list[tuple[Status, QueueInfo]] = []
    for q in queues:
        status = worst(
            [
                th.status("queue_ready", q.messages_ready),
                th.status("queue_unacked", q.messages_unacked),
            ]
        )
        if status != Status.OK:
            flagged.append((status, q))
    flagged.sort(key=lambda sq: (-sq[0].severity, -sq[1].messages))
    statuses = [
        worst(s for s, _ in flagged),
        th.status("unconsumed_queues", len(unconsumed)),
        th.status("unconsumed_messages", unconsumed_msgs),
        th.status("total_messages", ready + unacked),
    ]
    top = _top(ctx)
    details = _more(
        [
            f"{s.name}: {q.label}: {q.messages_ready} ready, {q.messages_unacked} unacked, "
            f"{q.consumers} consumer(s)"
            for s, q in flagged[:top]
        ],
        len(flagged),
        "queue(s) over a threshold",
    )
    unconsumed.sort(key=lambda q: -q.messages)
    details += _more(
        [f"no consumer: {q.label}: {q.messages} message(s)" for q in unconsumed[:top]],
        len(unconsumed),
        "queue(s) without consumer",
    )
    summary = (
        f"{len(queues)} queue(s){_scope(snap.vhost)}, {ready} ready, {unacked} unacked; "
        f"{len(unconsumed)} with messages but no consumer ({unconsumed_msgs} messages)"
    )
    if flagged:
        q = flagged[0][1]
        summary += (
            f"; {len(flagged)} over a threshold, worst {q.label} with "
            f"{q.messages_ready} ready/{q.messages_unacked} unacked"
        )
    elif queues:
        biggest = max(queues, key=lambda q: q.messages)
        if biggest.messages:
            summary += f"; largest {biggest.label} with {biggest.messages}"
    perfdata = [
        PerfData("queues", len(queues), minimum=0),
        th.perf("queue_ready", max_ready, minimum=0),
        th.perf("queue_unacked", max_unacked, minimum=0),
        th.perf("unconsumed_queues", len(unconsumed), minimum=0),
        th.perf("unconsumed_messages", unconsumed_msgs, minimum=0),
        th.perf("total_messages", ready + unacked, minimum=0),
        PerfData("messages_ready", ready, minimum=0),
        PerfData("messages_unacked", unacked, minimum=0),
    ]
    return Outcome(worst(statuses), summary, details, perfdata)


QUEUES = Check(
    name="rabbitmq-queues",
    service="rabbitmq",
    description=(
        "per-queue ready and unacknowledged backlogs, and queues holding messages "
        "that no consumer takes"
    ),
    collect=collect_queues,
    evaluate=evaluate_queues,
    default_url=DEFAULT_URL,
    thresholds=(
        ThresholdSpec("queue_ready", "ready messages in the fullest queue", "1000", "10000"),
        ThresholdSpec("queue_unacked", "unacknowledged messages in one queue", "1000", "10000"),
        ThresholdSpec("unconsumed_queues", "queues with messages but no consumer", "0", None),
        ThresholdSpec(
            "unconsumed_messages", "messages in queues without consumer", "1000", "10000"
        ),
        ThresholdSpec("total_messages", "messages in all selected queues", None, None),
    ),
    options=SELECTION_OPTIONS,
    option_help=SELECTION_HELP,
)


# -- rabbitmq-queue-growth -------------------------------------------------------------


@dataclass
class Growth:
    """One queue's ready messages at two moments."""

    queue: QueueInfo
    first: int
    second: int
    seconds: float

    @property
    def rate(self) -> float:
        """Messages per second (negative when the queue drains)."""
        return (self.second - self.first) / self.seconds if self.seconds > 0 else 0.0


@dataclass
class GrowthSample:
    """Two samples of the selected queues, ``interval`` seconds apart."""

    interval: float
    growth: list[Growth] = field(default_factory=list)
    vanished: int = 0
    skipped_vhosts: dict[str, str] = field(default_factory=dict)
    exclusive: int = 0
    vhost: str | None = None


def _declare_passive(
    link: AmqpLink, box: dict[str, Any], queue: QueueInfo
) -> tuple[int, float] | None:
    """Ready messages of queue right now (passive queue.declare); None when it is gone."""
    import amqp.exceptions  # type: ignore[import-untyped]

    channel = box.get("channel") or link.channel()
    box["channel"] = channel
    try:
        ok = channel.queue_declare(queue=queue.name, passive=True)
    except (amqp.exceptions.NotFound, amqp.exceptions.ResourceLocked):
        # The error closed the channel; the next queue gets a fresh one.
        box["channel"] = None
        return None
    return int(ok.message_count), time.monotonic()


def collect_growth(ctx: CheckContext) -> GrowthSample:
    interval = number_option(ctx, "interval", minimum=0.01)
    selection = QueueFilter.from_ctx(ctx)
    with Management(ctx) as api:
        listed = fetch_queues(api, selection)
    sample = GrowthSample(interval=interval, vhost=selection.vhost)
    # An exclusive queue belongs to one connection; declaring it from another fails.
    queues = [q for q in listed if not q.exclusive]
    sample.exclusive = len(listed) - len(queues)
    by_vhost: dict[str, list[QueueInfo]] = {}
    for q in queues:
        by_vhost.setdefault(q.vhost, []).append(q)
    url = amqp_url(ctx)
    with contextlib.ExitStack() as stack:
        links: dict[str, tuple[AmqpLink, dict[str, Any]]] = {}
        for vhost in sorted(by_vhost):
            try:
                link = stack.enter_context(connect(ctx, url, vhost=vhost))
            except Exception as exc:
                if not _is_vhost_refusal(exc):
                    raise
                sample.skipped_vhosts[vhost] = str(exc)
                continue
            links[vhost] = (link, {})
        if by_vhost and not links:
            raise CheckError(
                "cannot sample any queue over AMQP: " + "; ".join(sample.skipped_vhosts.values())
            )

        def sample_all() -> dict[tuple[str, str], tuple[int, float]]:
            found = {}
            for vhost, (link, box) in links.items():
                with amqp_errors(ctx, link):
                    for q in by_vhost[vhost]:
                        got = _declare_passive(link, box, q)
                        if got is not None:
                            found[(q.vhost, q.name)] = got
            return found

        started = time.monotonic()
        first = sample_all()
        took = time.monotonic() - started
        wait = started + interval - time.monotonic()
        if ctx.remaining(floor=0) < max(wait, 0) + took * 1.5 + 0.1:
            raise CheckError(
                f"sampling {len(first)} queue(s) {interval:g}s apart does not fit in the "
                f"{ctx.timeout:g}s timeout (first sample took {took:.2f}s): raise -t or "
                "lower -o interval"
            )
        if wait > 0:
            time.sleep(wait)
        second = sample_all()
    for q in queues:
        key = (q.vhost, q.name)
        if key not in first or key not in second:
            sample.vanished += key in first
            continue
        (c1, t1), (c2, t2) = first[key], second[key]
        sample.growth.append(Growth(q, c1, c2, t2 - t1))
    return sample


def _is_vhost_refusal(exc: BaseException) -> bool:
    text = str(exc)
    return "NOT_ALLOWED" in text or "access to vhost" in text


def evaluate_growth(sample: GrowthSample, ctx: CheckContext) -> Outcome:
    th = ctx.thresholds
    growth = sample.growth
    total_rate = sum(g.rate for g in growth)
    flagged = [(th.status("growth", g.rate), g) for g in growth]
    flagged = [(s, g) for s, g in flagged if s != Status.OK]
    flagged.sort(key=lambda sg: (-sg[0].severity, -sg[1].rate))
    statuses = [worst(s for s, _ in flagged), th.status("total_growth", total_rate)]
    fastest = max(growth, key=lambda g: g.rate, default=None)
    seconds = max((g.seconds for g in growth), default=sample.interval)
    summary = f"{len(growth)} queue(s){_scope(sample.vhost)} sampled {seconds:.1f}s apart"
    if fastest is not None and fastest.rate > 0:
        summary += (
            f": fastest growth {fastest.rate:+.1f} msg/s in {fastest.queue.label}: "
            f"{fastest.first} -> {fastest.second} ready"
        )
    else:
        summary += ": no queue grew"
    summary += f"; total {total_rate:+.1f} msg/s"
    if flagged:
        summary += f"; {len(flagged)} queue(s) growing over the threshold"
    top = _top(ctx)
    details = _more(
        [
            f"{s.name}: {g.queue.label}: {g.first} -> {g.second} ready in {g.seconds:.2f}s "
            f"({g.rate:+.1f} msg/s), {g.queue.consumers} consumer(s)"
            for s, g in flagged[:top]
        ],
        len(flagged),
        "growing queue(s)",
    )
    if not flagged:
        growing = sorted((g for g in growth if g.rate > 0), key=lambda g: -g.rate)
        details += [
            f"{g.queue.label}: {g.first} -> {g.second} ready ({g.rate:+.1f} msg/s)"
            for g in growing[:top]
        ]
    for vhost, reason in sample.skipped_vhosts.items():
        details.append(f"vhost {vhost} skipped: {reason}")
    if sample.vanished:
        details.append(f"{sample.vanished} queue(s) deleted between the samples")
    if sample.exclusive:
        details.append(f"{sample.exclusive} exclusive queue(s) not sampled")
    perfdata = [
        th.perf("growth", round(fastest.rate, 3) if fastest else 0.0),
        th.perf("total_growth", round(total_rate, 3)),
        PerfData("queues", len(growth), minimum=0),
    ]
    return Outcome(worst(statuses), summary, details, perfdata)


GROWTH = Check(
    name="rabbitmq-queue-growth",
    service="rabbitmq",
    description=(
        "ready messages per second gained by each queue between two samples taken "
        "'interval' seconds apart in one run (real-time counts over AMQP)"
    ),
    collect=collect_growth,
    evaluate=evaluate_growth,
    default_url=DEFAULT_URL,
    thresholds=(
        ThresholdSpec("growth", "ready messages/second gained by one queue", "~:20", "~:100"),
        ThresholdSpec("total_growth", "ready messages/second gained by all queues", None, None),
    ),
    options={**SELECTION_OPTIONS, "interval": 2.0},
    option_help={**SELECTION_HELP, "interval": "seconds between the two samples (default 2)"},
)
