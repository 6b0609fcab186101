"""``rabbitmq-connections``: connections per client host, channels per connection,
connections against each node's file descriptor limit, blocked publishers."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from stacktender.checks.base import Check, CheckContext, Outcome
from stacktender.checks.rabbitmq.management import DEFAULT_URL, Management
from stacktender.checks.rabbitmq.models import (
    ConnectionInfo,
    NodeInfo,
    fetch_connections,
    fetch_nodes,
    number_option,
)
from stacktender.results import PerfData, Status, ThresholdSpec, worst

__all__ = ["CONNECTIONS"]


@dataclass
class ConnectionSnapshot:
    """Client connections (of one vhost, or all) and the nodes they live on, with every
    node's connection count over all vhosts (each takes a file descriptor)."""

    connections: list[ConnectionInfo]
    nodes: list[NodeInfo]
    vhost: str | None = None
    per_node: dict[str, int] | None = None


def collect_connections(ctx: CheckContext) -> ConnectionSnapshot:
    vhost = ctx.option("vhost")
    vhost = None if vhost in (None, "", "all") else str(vhost)
    with Management(ctx) as api:
        connections = fetch_connections(api)
        nodes = fetch_nodes(api)
    per_node = dict(Counter(c.node for c in connections))
    if vhost is not None:
        connections = [c for c in connections if c.vhost == vhost]
    return ConnectionSnapshot(connections, nodes, vhost, per_node)


def evaluate_connections(snap: ConnectionSnapshot, ctx: CheckContext) -> Outcome:
    th = ctx.thresholds
    conns = snap.connections
    top = int(number_option(ctx, "top"))
    per_host = Counter(c.peer_host for c in conns)
    busiest_host, host_max = per_host.most_common(1)[0] if per_host else ("", 0)
    channel_max = max((c.channels for c in conns), default=0)
    blocked = [c for c in conns if c.state in {"blocked", "blocking"}]

    # Connections of each node against that node's file descriptor limit (all vhosts:
    # every connection takes a descriptor, whoever it belongs to).
    per_node = snap.per_node if snap.per_node is not None else Counter(c.node for c in conns)
    fd_pct: dict[str, float] = {}
    for node in snap.nodes:
        if node.running and node.fd_total:
            fd_pct[node.name] = round(100.0 * per_node.get(node.name, 0) / node.fd_total, 2)
    fd_node, fd_worst = max(fd_pct.items(), key=lambda kv: kv[1], default=("", 0.0))

    host_status = {host: th.status("host_connections", n) for host, n in per_host.items()}
    chan_flagged = [(th.status("connection_channels", c.channels), c) for c in conns]
    chan_flagged = [(s, c) for s, c in chan_flagged if s != Status.OK]
    chan_flagged.sort(key=lambda sc: (-sc[0].severity, -sc[1].channels))
    statuses = [
        worst(host_status.values()),
        worst(s for s, _ in chan_flagged),
        th.status("connections_fd", fd_worst),
        th.status("blocked_connections", len(blocked)),
    ]
    channels = sum(c.channels for c in conns)
    scope = f" in vhost {snap.vhost}" if snap.vhost is not None else ""
    summary = (
        f"{len(conns)} connection(s){scope} from {len(per_host)} host(s), {channels} channel(s)"
    )
    if conns:
        summary += (
            f"; most from {busiest_host} ({host_max}), most channels on one connection "
            f"{channel_max}"
        )
    if fd_pct:
        summary += f"; connections use {fd_worst:g}% of the fd limit on {fd_node}"
    if blocked:
        summary += f"; {len(blocked)} blocked by a resource alarm"

    details = []
    for host, n in per_host.most_common(top):
        status = host_status[host]
        mark = f"{status.name}: " if status != Status.OK else ""
        clients = Counter(c.client.split(":")[0] for c in conns if c.peer_host == host and c.client)
        named = ", ".join(f"{name} x{k}" for name, k in clients.most_common(3))
        details.append(f"{mark}{host}: {n} connection(s)" + (f" ({named})" if named else ""))
    if len(per_host) > top:
        details.append(f"... and {len(per_host) - top} more host(s)")
    for status, c in chan_flagged[:top]:
        details.append(
            f"{status.name}: {c.name} ({c.client or 'unknown client'}, user {c.user}, "
            f"vhost {c.vhost}): {c.channels} channels"
        )
    for c in blocked[:top]:
        details.append(f"{c.state}: {c.name} ({c.client or 'unknown client'})")
    for node in snap.nodes:
        if node.name in fd_pct:
            details.append(
                f"{node.name}: {per_node.get(node.name, 0)} connection(s) in all vhosts, "
                f"fd {node.fd_used}/{node.fd_total}"
            )
    perfdata = [
        PerfData("connections", len(conns), minimum=0),
        PerfData("channels", channels, minimum=0),
        th.perf("host_connections", host_max, minimum=0),
        th.perf("connection_channels", channel_max, minimum=0),
        th.perf("connections_fd", fd_worst, minimum=0, maximum=100),
        th.perf("blocked_connections", len(blocked), minimum=0),
    ]
    return Outcome(worst(statuses), summary, details, perfdata)


CONNECTIONS = Check(
    name="rabbitmq-connections",
    service="rabbitmq",
    description=(
        "connections per client host, channels per connection, connections against "
        "the file descriptor limit, connections blocked by an alarm"
    ),
    collect=collect_connections,
    evaluate=evaluate_connections,
    default_url=DEFAULT_URL,
    thresholds=(
        ThresholdSpec(
            "host_connections", "connections from the busiest client host", "500", "1000"
        ),
        ThresholdSpec("connection_channels", "channels on the busiest connection", "100", "1000"),
        ThresholdSpec(
            "connections_fd",
            "connections on a node, % of its file descriptor limit",
            "80",
            "90",
            "%",
        ),
        ThresholdSpec(
            "blocked_connections", "connections blocked or blocking (resource alarm)", "0", None
        ),
    ),
    options={"vhost": None, "top": 5},
    option_help={
        "vhost": "only connections to this vhost (default: every vhost)",
        "top": "how many hosts and connections the details list",
    },
)
