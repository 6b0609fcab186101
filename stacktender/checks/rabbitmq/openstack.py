"""``rabbitmq-openstack``: what oslo.messaging leaves behind when something is wrong.

* notification queues (``notifications.info``, ``versioned_notifications.error``, any
  ``*.info``/``*.error``...) filling up because no service consumes them;
* ``reply_<uuid>`` queues (RPC replies) and ``<topic>_fanout_<uuid>`` queues without
  consumer: the process that owned them is gone. oslo.messaging declares them with an
  ``x-expires`` of ``rabbit_transient_queues_ttl`` (1800 s); with that set to 0 (and no
  ``expires`` policy) they are never deleted and pile up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stacktender.checks.base import Check, CheckContext, Outcome
from stacktender.checks.rabbitmq.management import DEFAULT_URL, Management
from stacktender.checks.rabbitmq.models import (
    QueueFilter,
    QueueInfo,
    fetch_queues,
    number_option,
)
from stacktender.results import PerfData, ThresholdSpec, worst

__all__ = ["OPENSTACK"]

PATTERNS = {
    "notification_pattern": (
        r"^(versioned_)?notifications\.|\.(info|error|warn|warning|critical|audit|debug|sample)$"
    ),
    "reply_pattern": r"^reply_[0-9a-f-]{32,36}$",
    "fanout_pattern": r"_fanout_",
}


@dataclass
class OpenStackQueues:
    """The selected queues sorted into the kinds oslo.messaging creates."""

    notifications: list[QueueInfo] = field(default_factory=list)
    replies: list[QueueInfo] = field(default_factory=list)
    fanouts: list[QueueInfo] = field(default_factory=list)
    total: int = 0
    vhost: str | None = None


def classify(queues: list[QueueInfo], ctx: CheckContext) -> OpenStackQueues:
    """Sort queues into notification, reply and fanout queues (others are ignored)."""
    notification, reply, fanout = (ctx.pattern(n, PATTERNS[n]) for n in PATTERNS)
    found = OpenStackQueues(total=len(queues))
    for q in queues:
        if reply.search(q.name):
            found.replies.append(q)
        elif fanout.search(q.name):
            found.fanouts.append(q)
        elif notification.search(q.name):
            found.notifications.append(q)
    return found


def collect_openstack(ctx: CheckContext) -> OpenStackQueues:
    selection = QueueFilter.from_ctx(ctx)
    with Management(ctx) as api:
        found = classify(fetch_queues(api, selection), ctx)
    found.vhost = selection.vhost
    return found


def evaluate_openstack(found: OpenStackQueues, ctx: CheckContext) -> Outcome:
    th = ctx.thresholds
    top = int(number_option(ctx, "top"))
    piling = sorted((q for q in found.notifications if q.unconsumed), key=lambda q: -q.messages)
    piled = sum(q.messages for q in piling)
    orphan_replies = [q for q in found.replies if q.consumers == 0]
    orphan_fanouts = [q for q in found.fanouts if q.consumers == 0]
    leaked = [q for q in orphan_replies + orphan_fanouts if not q.expires]
    status = worst(
        [
            th.status("notification_queues", len(piling)),
            th.status("notification_messages", piled),
            th.status("orphan_reply_queues", len(orphan_replies)),
            th.status("orphan_fanout_queues", len(orphan_fanouts)),
            th.status("leaked_queues", len(leaked)),
            th.status("reply_queues", len(found.replies)),
            th.status("fanout_queues", len(found.fanouts)),
        ]
    )
    scope = f" in vhost {found.vhost}" if found.vhost is not None else ""
    if piling:
        names = ", ".join(q.name for q in piling[:3]) + (", ..." if len(piling) > 3 else "")
        notes = (
            f"{len(piling)} notification queue(s) piling up with no consumer "
            f"({piled} messages: {names})"
        )
    else:
        notes = f"{len(found.notifications)} notification queue(s), none piling up"
    summary = (
        f"{notes}; {len(found.replies)} reply queue(s), {len(orphan_replies)} orphaned; "
        f"{len(found.fanouts)} fanout queue(s), {len(orphan_fanouts)} orphaned; "
        f"{len(leaked)} orphan(s) never expire ({found.total} queues{scope})"
    )
    details = [f"no consumer: {q.label}: {q.messages} message(s)" for q in piling[:top]]
    if len(piling) > top:
        details.append(f"... and {len(piling) - top} more notification queue(s)")
    for kind, orphans in (("reply", orphan_replies), ("fanout", orphan_fanouts)):
        shown = sorted(orphans, key=lambda q: (q.expires, -q.messages))[:top]
        details += [
            f"orphaned {kind} queue: {q.label}: {q.messages} message(s), "
            + ("expires" if q.expires else "never expires")
            for q in shown
        ]
        if len(orphans) > top:
            details.append(f"... and {len(orphans) - top} more orphaned {kind} queue(s)")
    if leaked:
        details.append(
            f"{len(leaked)} orphaned queue(s) have no x-expires argument and no 'expires' "
            "policy, so RabbitMQ never deletes them: set [oslo_messaging_rabbit] "
            "rabbit_transient_queues_ttl above 0 (default 1800) or add an expires policy"
        )
    perfdata = [
        th.perf("notification_queues", len(piling), minimum=0),
        th.perf("notification_messages", piled, minimum=0),
        th.perf("reply_queues", len(found.replies), minimum=0),
        th.perf("orphan_reply_queues", len(orphan_replies), minimum=0),
        th.perf("fanout_queues", len(found.fanouts), minimum=0),
        th.perf("orphan_fanout_queues", len(orphan_fanouts), minimum=0),
        th.perf("leaked_queues", len(leaked), minimum=0),
        PerfData("queues", found.total, minimum=0),
    ]
    return Outcome(status, summary, details, perfdata)


OPENSTACK = Check(
    name="rabbitmq-openstack",
    service="rabbitmq",
    description=(
        "OpenStack signs: notification queues piling up with no consumer, orphaned "
        "reply_* and *_fanout_* queues, and orphans that never expire"
    ),
    collect=collect_openstack,
    evaluate=evaluate_openstack,
    default_url=DEFAULT_URL,
    thresholds=(
        ThresholdSpec(
            "notification_queues", "notification queues holding messages with no consumer", "0"
        ),
        ThresholdSpec(
            "notification_messages", "messages in those notification queues", "10000", "100000"
        ),
        ThresholdSpec("orphan_reply_queues", "reply_* queues without consumer", "100", "1000"),
        ThresholdSpec("orphan_fanout_queues", "*_fanout_* queues without consumer", "100", "1000"),
        ThresholdSpec(
            "leaked_queues", "orphaned reply/fanout queues that never expire", "10", "100"
        ),
        ThresholdSpec("reply_queues", "reply_* queues in all", None, None),
        ThresholdSpec("fanout_queues", "*_fanout_* queues in all", None, None),
    ),
    options={
        "vhost": None,
        "include": None,
        "exclude": None,
        "top": 5,
        **{name: None for name in PATTERNS},
    },
    option_help={
        "vhost": "only queues of this vhost (default: every vhost)",
        "include": "only queues whose name matches this regular expression",
        "exclude": "skip queues whose name matches this regular expression",
        "top": "how many queues of each kind the details list",
        "notification_pattern": "notification queue names (regex; default: "
        + PATTERNS["notification_pattern"]
        + ")",
        "reply_pattern": f"RPC reply queue names (default {PATTERNS['reply_pattern']})",
        "fanout_pattern": f"fanout queue names (default {PATTERNS['fanout_pattern']})",
    },
)
