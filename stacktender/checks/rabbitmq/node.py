"""``rabbitmq-node`` (cluster nodes, alarms, partitions, resource use) and
``rabbitmq-health`` (the broker's own ``/api/health/checks/*`` endpoints)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from stacktender.checks.base import Check, CheckContext, Outcome
from stacktender.checks.rabbitmq.amqpclient import amqp_url
from stacktender.checks.rabbitmq.management import DEFAULT_URL, Management, decode
from stacktender.checks.rabbitmq.models import NodeInfo, fetch_nodes, number_option
from stacktender.errors import CheckError, ConfigError
from stacktender.results import PerfData, Status, ThresholdSpec, worst

__all__ = ["HEALTH", "NODE"]


# -- rabbitmq-node ----------------------------------------------------------------------


@dataclass
class ClusterState:
    """Every node of the cluster as ``/api/nodes`` reports it."""

    nodes: list[NodeInfo]


def collect_nodes(ctx: CheckContext) -> ClusterState:
    with Management(ctx) as api:
        return ClusterState(fetch_nodes(api))


# (threshold name, what it measures, used attribute, limit attribute)
USAGE = (
    ("memory", "memory", "mem_used", "mem_limit"),
    ("fd", "file descriptors", "fd_used", "fd_total"),
    ("sockets", "sockets", "sockets_used", "sockets_total"),
    ("processes", "Erlang processes", "proc_used", "proc_total"),
)


def _percent(used: int, limit: int) -> float:
    return round(100.0 * used / limit, 2) if limit else 0.0


def evaluate_nodes(state: ClusterState, ctx: CheckContext) -> Outcome:
    th = ctx.thresholds
    if not state.nodes:
        raise CheckError("RabbitMQ reported no cluster nodes")
    running = [n for n in state.nodes if n.running]
    down = [n for n in state.nodes if not n.running]
    alarms = [(n.name, a) for n in running for a in n.alarms]
    partitioned = [n for n in running if n.partitions]
    statuses = [
        th.status("nodes_down", len(down)),
        th.status("alarms", len(alarms)),
        th.status("partitions", len(partitioned)),
    ]
    problems: list[str] = []
    details: list[str] = []
    if down:
        problems.append(f"{len(down)} node(s) not running: {', '.join(n.name for n in down)}")
    expected = int(number_option(ctx, "expected_nodes"))
    if expected and len(state.nodes) != expected:
        statuses.append(Status.CRITICAL)
        problems.append(f"cluster has {len(state.nodes)} node(s), expected {expected}")
    for node_name, alarm in alarms:
        problems.append(f"{alarm} alarm on {node_name}")
    for node in partitioned:
        problems.append(f"network partition: {node.name} cannot see {', '.join(node.partitions)}")
    perfdata = [
        PerfData("nodes_running", len(running), minimum=0, maximum=len(state.nodes)),
        th.perf("nodes_down", len(down), minimum=0),
        th.perf("alarms", len(alarms), minimum=0),
        th.perf("partitions", len(partitioned), minimum=0),
    ]
    highest: dict[str, tuple[float, str]] = {}
    for node in running:
        for name, what, used_attr, limit_attr in USAGE:
            used, limit = getattr(node, used_attr), getattr(node, limit_attr)
            pct = _percent(used, limit)
            status = th.status(name, pct)
            statuses.append(status)
            if status != Status.OK:
                problems.append(f"{what} at {pct:g}% on {node.name}")
                details.append(f"{node.name}: {what} {used}/{limit} ({pct:g}%)")
            if pct >= highest.get(name, (-1.0, ""))[0]:
                highest[name] = (pct, node.name)
            perfdata.append(th.perf(name, pct, label=f"{node.name}_{name}", minimum=0, maximum=100))
        details.append(
            f"{node.name}: memory {node.mem_used}/{node.mem_limit} B, disk free "
            f"{node.disk_free} B (limit {node.disk_free_limit} B), fd {node.fd_used}/"
            f"{node.fd_total}, sockets {node.sockets_used}/{node.sockets_total}, processes "
            f"{node.proc_used}/{node.proc_total}"
            + (f", partitioned from {', '.join(node.partitions)}" if node.partitions else "")
        )
    use = ", ".join(f"{name} {pct:g}%" for name, (pct, _) in highest.items())
    healthy = (
        f"{len(running)}/{len(state.nodes)} node(s) running, "
        f"{'no alarms' if not alarms else f'{len(alarms)} alarm(s)'}, "
        f"{'no partitions' if not partitioned else 'PARTITIONED'}"
        + (f"; highest use: {use}" if use else "")
    )
    summary = "; ".join([*problems, healthy])
    return Outcome(worst(statuses), summary, details, perfdata)


NODE = Check(
    name="rabbitmq-node",
    service="rabbitmq",
    description=(
        "every cluster node running, no memory/disk alarm, no network partition; "
        "memory, file descriptors, sockets and Erlang processes against their limits"
    ),
    collect=collect_nodes,
    evaluate=evaluate_nodes,
    default_url=DEFAULT_URL,
    thresholds=(
        ThresholdSpec("memory", "memory used, % of the memory high watermark", "80", "90", "%"),
        ThresholdSpec("fd", "file descriptors used, % of the limit", "80", "90", "%"),
        ThresholdSpec("sockets", "sockets used, % of the limit", "80", "90", "%"),
        ThresholdSpec("processes", "Erlang processes, % of the limit", "80", "90", "%"),
        ThresholdSpec("nodes_down", "cluster nodes not running", None, "0"),
        ThresholdSpec("alarms", "memory and disk alarms in effect (publishers blocked)", None, "0"),
        ThresholdSpec("partitions", "nodes that report a network partition", None, "0"),
    ),
    options={"expected_nodes": None},
    option_help={"expected_nodes": "CRITICAL unless the cluster has exactly this many nodes"},
)


# -- rabbitmq-health ----------------------------------------------------------------------


@dataclass(frozen=True)
class HealthProbe:
    """One health-check endpoint and how bad its failure is."""

    name: str
    path: str
    severity: Status
    meaning: str


@dataclass
class HealthAnswer:
    """What one endpoint said: ``ok``, ``failed`` (with the broker's reason) or
    ``unsupported`` (HTTP 404: this RabbitMQ version lacks it)."""

    probe: HealthProbe
    state: str
    reason: str = ""


@dataclass
class HealthReport:
    answers: list[HealthAnswer] = field(default_factory=list)


_WITHIN = re.compile(r"^\s*(\d+)\s*/?\s*(day|week|month|year)s?\s*$", re.IGNORECASE)


def health_probes(ctx: CheckContext) -> list[HealthProbe]:
    """The endpoints to ask, from the options (all of RabbitMQ 3.10's by default)."""
    within = str(ctx.option("certificate_within") or "1 month")
    match = _WITHIN.match(within)
    if match is None:
        raise ConfigError(
            f"option certificate_within: {within!r} is not like '30 days', '4 weeks' or '1 month'"
        )
    cert = f"{match.group(1)}/{match.group(2).lower()}s"
    probes = [
        HealthProbe("alarms", "alarms", Status.CRITICAL, "resource alarms in the cluster"),
        HealthProbe("local-alarms", "local-alarms", Status.CRITICAL, "alarms on this node"),
        HealthProbe(
            "certificate-expiration",
            f"certificate-expiration/{cert}",
            Status.WARNING,
            f"a listener's TLS certificate expires within {within}",
        ),
    ]
    amqp = urlsplit(amqp_url(ctx))
    tls = amqp.scheme == "amqps"
    ports = ctx.option("ports")
    if ports in (None, ""):
        ports = [amqp.port or (5671 if tls else 5672)]
    protocols = ctx.option("protocols")
    if protocols in (None, ""):
        protocols = ["amqps" if tls else "amqp"]
    for value in _as_list(ports):
        try:
            port = int(str(value))
        except ValueError:
            raise ConfigError(f"option ports: {value!r} is not a port number") from None
        probes.append(
            HealthProbe(
                f"port-listener/{port}",
                f"port-listener/{port}",
                Status.CRITICAL,
                f"nothing listens on port {port}",
            )
        )
    for protocol in _as_list(protocols):
        probes.append(
            HealthProbe(
                f"protocol-listener/{protocol}",
                f"protocol-listener/{protocol}",
                Status.CRITICAL,
                f"no {protocol} listener",
            )
        )
    probes += [
        HealthProbe("virtual-hosts", "virtual-hosts", Status.CRITICAL, "a vhost is down"),
        HealthProbe(
            "node-is-quorum-critical",
            "node-is-quorum-critical",
            Status.WARNING,
            "stopping this node would lose quorum of a quorum queue",
        ),
        HealthProbe(
            "node-is-mirror-sync-critical",
            "node-is-mirror-sync-critical",
            Status.WARNING,
            "stopping this node would lose the only synchronised mirror of a queue",
        ),
    ]
    skip = {str(s) for s in _as_list(ctx.option("skip"))}
    return [p for p in probes if p.name not in skip and p.name.split("/")[0] not in skip]


def _as_list(value: object) -> list[object]:
    if value in (None, ""):
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [v.strip() for v in str(value).split(",") if v.strip()]


def collect_health(ctx: CheckContext) -> HealthReport:
    probes = health_probes(ctx)
    report = HealthReport()
    with Management(ctx) as api:
        for probe in probes:
            response = api.request(f"health/checks/{probe.path}")
            if response.status_code == 404:
                report.answers.append(HealthAnswer(probe, "unsupported"))
                continue
            body = decode(response, f"health/checks/{probe.path}")
            if response.status_code == 200:
                report.answers.append(HealthAnswer(probe, "ok"))
            elif response.status_code == 400:
                raise CheckError(f"RabbitMQ rejected health check {probe.path!r}: {body}")
            else:
                report.answers.append(HealthAnswer(probe, "failed", _failure(body)))
    return report


def _failure(body: object) -> str:
    """The broker's reason for a failed health check, with alarms or missing listeners."""
    if not isinstance(body, dict):
        return str(body)[:200]
    reason = str(body.get("reason") or body.get("error") or "failed")
    if body.get("alarms"):
        alarms = [
            f"{a.get('resource', '?')} on {a.get('node', '?')}"
            for a in body["alarms"]
            if isinstance(a, dict)
        ]
        reason += f": {', '.join(alarms)}"
    if "missing" in body:
        reason += f" (missing {body['missing']})"
    if body.get("queues"):
        reason += f": {', '.join(str(q.get('name', q)) for q in body['queues'][:5])}"
    return " ".join(reason.split())


def evaluate_health(report: HealthReport, ctx: CheckContext) -> Outcome:
    answered = [a for a in report.answers if a.state != "unsupported"]
    failed = [a for a in answered if a.state == "failed"]
    unsupported = [a for a in report.answers if a.state == "unsupported"]
    if not answered:
        raise CheckError("RabbitMQ supports none of the health checks asked for (HTTP 404)")
    status = worst(a.probe.severity for a in failed)
    if failed:
        summary = f"{len(failed)} of {len(answered)} health checks fail: " + "; ".join(
            f"{a.probe.name} ({a.reason})" for a in failed
        )
    else:
        summary = f"all {len(answered)} health checks pass"
    details = [
        f"{a.probe.name}: {a.state}" + (f" - {a.reason}" if a.reason else "")
        for a in report.answers
        if a.state != "unsupported"
    ]
    details += [f"{a.probe.name}: not supported by this RabbitMQ version" for a in unsupported]
    details += [f"{a.probe.name} failing means: {a.probe.meaning}" for a in failed]
    perfdata = [
        PerfData("failed", len(failed), minimum=0, maximum=len(answered)),
        PerfData("checks", len(answered), minimum=0),
    ]
    return Outcome(status, summary, details, perfdata)


HEALTH = Check(
    name="rabbitmq-health",
    service="rabbitmq",
    description=(
        "the broker's own health checks (alarms, listeners, vhosts, certificate expiry, "
        "quorum and mirror sync criticality), summarised in one result"
    ),
    collect=collect_health,
    evaluate=evaluate_health,
    default_url=DEFAULT_URL,
    options={
        "ports": None,
        "protocols": None,
        "certificate_within": "1 month",
        "skip": [],
    },
    option_help={
        "ports": "ports that must have a listener (default: the AMQP URL's port)",
        "protocols": "protocols that must have a listener: amqp, amqps, http, mqtt, stomp "
        "(default: the AMQP URL's, amqp or amqps)",
        "certificate_within": "WARNING when a TLS certificate expires within this ('30 days')",
        "skip": "health checks not to ask, by name (e.g. node-is-mirror-sync-critical)",
    },
)
