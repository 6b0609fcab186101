"""RabbitMQ checks: evaluate() on data shaped like the real API, then every check
against the real broker of this machine (management API on 15672, AMQP on 5672).

Integration tests work in their own vhost (``stacktender-test-<random>``), created
and deleted by a fixture, so other people's queues on the shared broker never count.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import kombu
import pytest
from support import free_port, silent_server, wait_until

from stacktender.checks.base import Check, CheckContext, Target
from stacktender.checks.rabbitmq import CHECKS
from stacktender.checks.rabbitmq.amqpclient import amqp_url
from stacktender.checks.rabbitmq.connections import ConnectionSnapshot
from stacktender.checks.rabbitmq.models import ConnectionInfo, NodeInfo, QueueInfo
from stacktender.checks.rabbitmq.node import (
    HealthAnswer,
    HealthReport,
    _failure,
    health_probes,
)
from stacktender.checks.rabbitmq.openstack import classify
from stacktender.checks.rabbitmq.queues import Growth, GrowthSample, QueueSnapshot
from stacktender.checks.rabbitmq.roundtrip import RoundTrip
from stacktender.results import Status, Thresholds

MGMT = "http://127.0.0.1:15672"
MGMT_URL = "http://guest:guest@127.0.0.1:15672"
AMQP = "amqp://guest:guest@127.0.0.1:5672/"
BY_NAME = {c.name: c for c in CHECKS}
NAGIOS_LINE = re.compile(
    r"^(?P<name>RABBITMQ-[A-Z-]+) (?P<status>OK|WARNING|CRITICAL|UNKNOWN) - "
    r"(?P<summary>[^|\n]+?)(?: \| (?P<perf>\S.*))?$"
)


def ctx_for(
    name: str,
    *,
    warning: dict[str, str] | None = None,
    critical: dict[str, str] | None = None,
    options: dict[str, Any] | None = None,
    url: str = MGMT_URL,
    extra: dict[str, Any] | None = None,
) -> CheckContext:
    check: Check = BY_NAME[name]
    return CheckContext(
        check=check,
        target=Target(url, extra or {}),
        thresholds=Thresholds(check.thresholds, warning, critical),
        options=options or {},
        timeout=10,
    )


def perf(result: Any, label: str) -> float:
    return next(p.value for p in result.perfdata if p.label == label)


# -- unit tests: evaluate() on hand-built data ------------------------------------------

# One element of a real /api/nodes answer of RabbitMQ 3.10.8 (captured on this machine,
# trimmed to the fields the check reads). A dict literal, not a fake server: alarms and
# partitions cannot be produced safely on the shared broker, so they are set by hand.
REAL_NODE = {
    "partitions": [],
    "os_pid": "2939",
    "fd_total": 1024,
    "sockets_total": 832,
    "mem_limit": 10110605721,
    "mem_alarm": False,
    "disk_free_limit": 50000000,
    "disk_free_alarm": False,
    "proc_total": 1048576,
    "uptime": 436994,
    "name": "rabbit@localhost",
    "type": "disc",
    "running": True,
    "mem_used": 136986624,
    "fd_used": 37,
    "sockets_used": 0,
    "proc_used": 354,
    "disk_free": 84622045184,
}
# What /api/nodes says about a cluster member that is down: no statistics at all.
STOPPED_NODE = {"name": "rabbit@ctl3", "type": "disc", "running": False, "cluster_links": []}


def node(**changes: Any) -> NodeInfo:
    return NodeInfo.from_api({**REAL_NODE, **changes})


def test_node_healthy_single_node_is_ok() -> None:
    ctx = ctx_for("rabbitmq-node")
    from stacktender.checks.rabbitmq.node import ClusterState

    outcome = BY_NAME["rabbitmq-node"].evaluate(ClusterState([node()]), ctx)
    assert outcome.status == Status.OK
    assert outcome.summary.startswith("1/1 node(s) running, no alarms, no partitions")
    labels = {p.label for p in outcome.perfdata}
    assert {"rabbit@localhost_memory", "rabbit@localhost_fd", "partitions"} <= labels


@pytest.mark.parametrize(
    ("changes", "expect"),
    [
        ({"mem_alarm": True}, "memory alarm on rabbit@localhost"),
        ({"disk_free_alarm": True}, "disk alarm on rabbit@localhost"),
        ({"partitions": ["rabbit@ctl2"]}, "network partition: rabbit@localhost cannot see"),
        ({"fd_used": 950}, "file descriptors at 92.77% on rabbit@localhost"),
        ({"mem_used": 9_500_000_000}, "memory at 93.96% on rabbit@localhost"),
    ],
)
def test_node_alarms_partitions_and_limits_are_critical(
    changes: dict[str, Any], expect: str
) -> None:
    from stacktender.checks.rabbitmq.node import ClusterState

    outcome = BY_NAME["rabbitmq-node"].evaluate(
        ClusterState([node(**changes)]), ctx_for("rabbitmq-node")
    )
    assert outcome.status == Status.CRITICAL
    assert expect in outcome.summary


def test_node_down_and_sockets_warning() -> None:
    from stacktender.checks.rabbitmq.node import ClusterState

    nodes = [node(sockets_used=700), NodeInfo.from_api(STOPPED_NODE)]
    outcome = BY_NAME["rabbitmq-node"].evaluate(ClusterState(nodes), ctx_for("rabbitmq-node"))
    assert outcome.status == Status.CRITICAL
    assert "1 node(s) not running: rabbit@ctl3" in outcome.summary
    assert "1/2 node(s) running" in outcome.summary
    # sockets alone would be a warning: 700/832 = 84%
    alone = BY_NAME["rabbitmq-node"].evaluate(
        ClusterState([node(sockets_used=700)]), ctx_for("rabbitmq-node")
    )
    assert alone.status == Status.WARNING
    expected = BY_NAME["rabbitmq-node"].evaluate(
        ClusterState([node()]), ctx_for("rabbitmq-node", options={"expected_nodes": 3})
    )
    assert expected.status == Status.CRITICAL
    assert "expected 3" in expected.summary


def test_health_failure_reasons_from_real_answer_shapes() -> None:
    # Bodies as RabbitMQ 3.10 answers with HTTP 503 (port-listener captured on this machine).
    alarms = {
        "status": "failed",
        "reason": "There are alarms in effect in the cluster",
        "alarms": [{"node": "rabbit@ctl1", "resource": "memory"}],
    }
    port = {
        "status": "failed",
        "reason": "No active listener",
        "missing": 9999,
        "ports": [25672, 5672, 15672],
    }
    assert _failure(alarms) == "There are alarms in effect in the cluster: memory on rabbit@ctl1"
    assert _failure(port) == "No active listener (missing 9999)"
    ctx = ctx_for("rabbitmq-health", options={"ports": "5672, 9999", "skip": ["virtual-hosts"]})
    probes = {p.name: p for p in health_probes(ctx)}
    assert "virtual-hosts" not in probes
    assert probes["port-listener/9999"].path == "port-listener/9999"
    assert probes["certificate-expiration"].path == "certificate-expiration/1/months"
    report = HealthReport(
        [
            HealthAnswer(probes["alarms"], "failed", _failure(alarms)),
            HealthAnswer(probes["certificate-expiration"], "failed", "expiring"),
            HealthAnswer(probes["local-alarms"], "ok"),
            HealthAnswer(probes["node-is-mirror-sync-critical"], "unsupported"),
        ]
    )
    outcome = BY_NAME["rabbitmq-health"].evaluate(report, ctx)
    assert outcome.status == Status.CRITICAL
    assert outcome.summary.startswith("2 of 3 health checks fail: alarms (There are alarms")
    assert any("not supported" in d for d in outcome.details)
    only_cert = HealthReport([HealthAnswer(probes["certificate-expiration"], "failed", "soon")])
    assert BY_NAME["rabbitmq-health"].evaluate(only_cert, ctx).status == Status.WARNING


def test_health_rejects_bad_certificate_window() -> None:
    from stacktender.errors import ConfigError

    with pytest.raises(ConfigError, match="certificate_within"):
        health_probes(ctx_for("rabbitmq-health", options={"certificate_within": "soon"}))
    probes = health_probes(ctx_for("rabbitmq-health", options={"certificate_within": "30 days"}))
    assert any(p.path == "certificate-expiration/30/days" for p in probes)


def test_health_listeners_default_to_the_amqp_url() -> None:
    plain = {p.name for p in health_probes(ctx_for("rabbitmq-health"))}
    assert {"port-listener/5672", "protocol-listener/amqp"} <= plain
    tls = ctx_for("rabbitmq-health", extra={"amqp_url": "amqps://u:p@rabbit1:5671/"})
    assert {"port-listener/5671", "protocol-listener/amqps"} <= {p.name for p in health_probes(tls)}


def test_queues_evaluate_per_queue_thresholds() -> None:
    queues = [
        QueueInfo("/", "big", messages_ready=20000, consumers=1),
        QueueInfo("/", "slow", messages_ready=10, messages_unacked=1500, consumers=2),
        QueueInfo("/", "orphan", messages_ready=5),
        QueueInfo("/", "empty"),
    ]
    outcome = BY_NAME["rabbitmq-queues"].evaluate(QueueSnapshot(queues), ctx_for("rabbitmq-queues"))
    assert outcome.status == Status.CRITICAL
    assert outcome.details[0].startswith("CRITICAL: big (vhost /): 20000 ready")
    assert outcome.details[1].startswith("WARNING: slow (vhost /)")
    assert "no consumer: orphan (vhost /): 5 message(s)" in outcome.details
    assert "1 with messages but no consumer (5 messages)" in outcome.summary


def test_growth_ignores_draining_queues() -> None:
    sample = GrowthSample(
        interval=2,
        growth=[
            Growth(QueueInfo("/", "draining"), 1000, 100, 2.0),
            Growth(QueueInfo("/", "steady"), 5, 5, 2.0),
        ],
    )
    outcome = BY_NAME["rabbitmq-queue-growth"].evaluate(sample, ctx_for("rabbitmq-queue-growth"))
    assert outcome.status == Status.OK, "a queue shrinking at 450 msg/s is no alarm"
    assert "no queue grew" in outcome.summary
    sample.growth.append(Growth(QueueInfo("/", "filling"), 0, 300, 2.0))
    outcome = BY_NAME["rabbitmq-queue-growth"].evaluate(sample, ctx_for("rabbitmq-queue-growth"))
    assert outcome.status == Status.CRITICAL
    assert "fastest growth +150.0 msg/s in filling (vhost /)" in outcome.summary


def test_openstack_classification() -> None:
    ctx = ctx_for("rabbitmq-openstack")
    hexid = uuid.uuid4().hex
    found = classify(
        [
            QueueInfo("/", "notifications.info", messages_ready=3),
            QueueInfo("/", "versioned_notifications.error"),
            QueueInfo("/", "ceilometer.sample"),
            QueueInfo("/", f"reply_{hexid}"),
            QueueInfo("/", f"reply_{uuid.uuid4()}"),
            QueueInfo("/", f"compute_fanout_{hexid}"),
            QueueInfo("/", "compute.host1"),
            QueueInfo("/", "reply_not_an_uuid"),
        ],
        ctx,
    )
    assert [q.name for q in found.notifications] == [
        "notifications.info",
        "versioned_notifications.error",
        "ceilometer.sample",
    ]
    assert len(found.replies) == 2
    assert [q.name for q in found.fanouts] == [f"compute_fanout_{hexid}"]


def test_connections_evaluate() -> None:
    conns = [
        ConnectionInfo(
            f"10.0.0.5:{i} -> x", "rabbit@a", "/", "nova", "10.0.0.5", 1, "running", "nova-api:1:x"
        )
        for i in range(6)
    ] + [ConnectionInfo("10.0.0.6:1 -> x", "rabbit@a", "/", "neutron", "10.0.0.6", 300, "blocked")]
    snap = ConnectionSnapshot(conns, [node(name="rabbit@a", fd_total=10)])
    outcome = BY_NAME["rabbitmq-connections"].evaluate(
        snap, ctx_for("rabbitmq-connections", warning={"host_connections": "5"})
    )
    # host over 5, 300 channels on one connection, one blocked: warnings; 70% of fds is fine
    assert outcome.status == Status.WARNING
    assert perf(outcome, "connections_fd") == 70.0
    assert perf(outcome, "blocked_connections") == 1
    assert perf(outcome, "host_connections") == 6
    assert perf(outcome, "connection_channels") == 300
    assert "WARNING: 10.0.0.5: 6 connection(s) (nova-api x6)" in outcome.details


def test_roundtrip_evaluate() -> None:
    trip = RoundTrip("amqp://guest:***@h:5672/", "RabbitMQ 3.10.8", 5.0, [1.0, 3.0, 200.0])
    outcome = BY_NAME["rabbitmq-roundtrip"].evaluate(trip, ctx_for("rabbitmq-roundtrip"))
    assert outcome.status == Status.OK  # thresholds apply to the average: 68 ms
    assert perf(outcome, "latency") == 68.0
    assert perf(outcome, "latency_max") == 200.0
    trip.latencies_ms = [900.0, 1500.0]
    outcome = BY_NAME["rabbitmq-roundtrip"].evaluate(trip, ctx_for("rabbitmq-roundtrip"))
    assert outcome.status == Status.CRITICAL
    assert outcome.summary.startswith(
        "2 message(s) round-tripped through RabbitMQ 3.10.8 in 1200.0 ms"
    )


def test_amqp_url_defaults_follow_the_management_url() -> None:
    assert amqp_url(ctx_for("rabbitmq-queue-growth")) == AMQP
    assert (
        amqp_url(ctx_for("rabbitmq-queue-growth", url="http://mon:p%40ss@rabbit1:15672"))
        == "amqp://mon:p%40ss@rabbit1:5672/"
    )
    explicit = {"amqp_url": "amqp://u:p@rabbit2:5672/nova"}
    assert amqp_url(ctx_for("rabbitmq-queue-growth", extra=explicit)) == explicit["amqp_url"]
    roundtrip = ctx_for("rabbitmq-roundtrip", url="amqp://u:p@rabbit3:5673/", extra=explicit)
    assert amqp_url(roundtrip, target_first=True) == "amqp://u:p@rabbit3:5673/"


def test_masked_urls_never_show_the_password() -> None:
    target = Target("http://monitor:S3cretPw@rabbit1:15672", {"amqp_url": "amqp://m:S3cretPw@r/"})
    assert "S3cretPw" not in target.masked()
    assert "monitor" in target.masked()


# -- integration: the real broker ------------------------------------------------------


@pytest.fixture(scope="module")
def mgmt() -> Iterator[httpx.Client]:
    with httpx.Client(base_url=MGMT, auth=("guest", "guest"), timeout=10) as client:
        yield client


@pytest.fixture
def vhost(mgmt: httpx.Client) -> Iterator[str]:
    """A fresh vhost per test with full permissions for guest, deleted at the end."""
    name = f"stacktender-test-{uuid.uuid4().hex[:8]}"
    path = quote(name, safe="")
    mgmt.put(f"/api/vhosts/{path}").raise_for_status()
    mgmt.put(
        f"/api/permissions/{path}/guest",
        json={"configure": ".*", "write": ".*", "read": ".*"},
    ).raise_for_status()
    try:
        yield name
    finally:
        mgmt.delete(f"/api/vhosts/{path}")


def open_amqp(vhost: str) -> kombu.Connection:
    # (kombu lets a URL's vhost win over a virtual_host argument, so it goes in the URL)
    conn = kombu.Connection(f"{AMQP}{quote(vhost, safe='')}", connect_timeout=5)
    conn.ensure_connection(max_retries=0)
    return conn


@pytest.fixture
def amqp_channel(vhost: str) -> Iterator[Any]:
    conn = open_amqp(vhost)
    try:
        yield conn.channel()
    finally:
        conn.release()


def publish(channel: Any, queue: str, count: int) -> None:
    import amqp

    for i in range(count):
        channel.basic_publish(amqp.Message(f"m{i}"), exchange="", routing_key=queue)


def wait_for_queue(
    mgmt: httpx.Client, vhost: str, queue: str, ok: Callable[[dict[str, Any]], bool]
) -> None:
    """Poll the management API until it shows queue in the wanted state (its statistics
    are refreshed every 5 s, so a fresh publish is not visible at once)."""
    path = f"/api/queues/{quote(vhost, safe='')}/{quote(queue, safe='')}"

    def shows() -> bool:
        response = mgmt.get(path)
        return response.status_code == 200 and ok(response.json())

    wait_until(shows, 20, f"queue {queue} in the management API", interval=0.25)


def messages(n: int) -> Callable[[dict[str, Any]], bool]:
    return lambda q: q.get("messages_ready") == n


@pytest.fixture
def run(make_app: Callable[..., Any]) -> Callable[..., Any]:
    app = make_app("")

    def go(name: str, **overrides: Any) -> Any:
        return app.run(app.instance(name, **overrides))

    return go


@pytest.mark.integration
def test_node_against_real_broker(run: Callable[..., Any]) -> None:
    result = run("rabbitmq-node")
    assert result.status == Status.OK, result.summary
    assert re.match(
        r"1/1 node\(s\) running, no alarms, no partitions; highest use: memory", result.summary
    )
    node_name = httpx.get(f"{MGMT}/api/nodes", auth=("guest", "guest")).json()[0]["name"]
    assert 0 < perf(result, f"{node_name}_fd") < 80
    # The real file descriptor use is above 0.001%: a threshold that low must warn.
    low = run("rabbitmq-node", warning={"fd": "0.001"})
    assert low.status == Status.WARNING
    assert "file descriptors at" in low.summary and node_name in low.summary


@pytest.mark.integration
def test_health_against_real_broker(run: Callable[..., Any]) -> None:
    result = run("rabbitmq-health")
    assert result.status == Status.OK, result.summary
    assert result.summary == "all 8 health checks pass"
    # A port and a protocol nobody listens on make the broker's own checks fail for real.
    port = free_port()
    failing = run("rabbitmq-health", options={"ports": [5672, port], "protocols": "amqp,mqtt"})
    assert failing.status == Status.CRITICAL
    assert failing.summary.startswith("2 of 10 health checks fail:")
    assert f"port-listener/{port} (No active listener (missing {port}))" in failing.summary
    assert "protocol-listener/mqtt" in failing.summary


@pytest.mark.integration
def test_queues_backlog_without_consumer(
    run: Callable[..., Any], vhost: str, mgmt: httpx.Client, amqp_channel: Any
) -> None:
    amqp_channel.queue_declare("backlog", auto_delete=False)
    amqp_channel.queue_declare("idle", auto_delete=False)
    publish(amqp_channel, "backlog", 30)
    wait_for_queue(mgmt, vhost, "backlog", messages(30))

    result = run("rabbitmq-queues", options={"vhost": vhost})
    assert result.status == Status.WARNING  # any queue with messages and no consumer
    assert result.summary.startswith(f"2 queue(s) in vhost {vhost}, 30 ready, 0 unacked; 1 with")
    assert f"no consumer: backlog (vhost {vhost}): 30 message(s)" in result.details
    assert perf(result, "unconsumed_messages") == 30

    critical = run("rabbitmq-queues", options={"vhost": vhost}, critical={"queue_ready": "20"})
    assert critical.status == Status.CRITICAL
    assert critical.details[0] == (
        f"CRITICAL: backlog (vhost {vhost}): 30 ready, 0 unacked, 0 consumer(s)"
    )
    excluded = run("rabbitmq-queues", options={"vhost": vhost, "exclude": "^back"})
    assert excluded.status == Status.OK
    assert perf(excluded, "queues") == 1
    included = run("rabbitmq-queues", options={"vhost": vhost, "include": "log$"})
    assert perf(included, "queues") == 1 and included.status == Status.WARNING


@pytest.mark.integration
def test_queues_unacked_messages(
    run: Callable[..., Any], vhost: str, mgmt: httpx.Client, amqp_channel: Any
) -> None:
    amqp_channel.queue_declare("inflight", auto_delete=False)
    publish(amqp_channel, "inflight", 8)
    taken = [amqp_channel.basic_get("inflight", no_ack=False) for _ in range(5)]
    assert all(taken)
    wait_for_queue(mgmt, vhost, "inflight", lambda q: q.get("messages_unacknowledged") == 5)
    result = run(
        "rabbitmq-queues",
        options={"vhost": vhost, "include": "^inflight$"},
        warning={"queue_unacked": "4"},
    )
    assert result.status == Status.WARNING
    assert (
        result.details[0] == f"WARNING: inflight (vhost {vhost}): 3 ready, 5 unacked, 0 consumer(s)"
    )


@pytest.mark.integration
def test_missing_vhost_is_unknown(run: Callable[..., Any]) -> None:
    result = run("rabbitmq-queues", options={"vhost": f"no-such-{uuid.uuid4().hex[:6]}"})
    assert result.status == Status.UNKNOWN
    assert result.summary.startswith("RabbitMQ has no vhost 'no-such-")


@pytest.mark.integration
def test_growth_sees_a_queue_filled_during_the_window(
    run: Callable[..., Any], vhost: str, amqp_channel: Any
) -> None:
    amqp_channel.queue_declare("growing", auto_delete=False)
    amqp_channel.queue_declare("still", auto_delete=False)
    publish(amqp_channel, "still", 3)
    stop = threading.Event()
    sent: list[int] = []

    def publisher() -> None:
        import amqp

        conn = open_amqp(vhost)
        channel = conn.channel()
        try:
            while not stop.is_set():
                channel.basic_publish(amqp.Message("x"), exchange="", routing_key="growing")
                sent.append(1)
                time.sleep(0.01)
        finally:
            conn.release()

    thread = threading.Thread(target=publisher, daemon=True)
    thread.start()
    wait_until(lambda: len(sent) > 5, 5, "publisher")
    try:
        started = time.monotonic()
        result = run(
            "rabbitmq-queue-growth",
            options={"vhost": vhost, "interval": 1},
            warning={"growth": "~:10"},
            critical={"growth": "~:1000"},
        )
        took = time.monotonic() - started
    finally:
        stop.set()
        thread.join(5)
    assert result.status == Status.WARNING, result.summary
    assert 1.0 <= took < 3
    assert f"2 queue(s) in vhost {vhost} sampled 1.0s apart: fastest growth" in result.summary
    assert f"in growing (vhost {vhost})" in result.summary
    assert 10 < perf(result, "growth") < 150
    assert result.details[0].startswith(f"WARNING: growing (vhost {vhost}): ")

    quiet = run("rabbitmq-queue-growth", options={"vhost": vhost, "interval": 0.5})
    assert quiet.status == Status.OK
    assert "no queue grew" in quiet.summary


@pytest.mark.integration
def test_growth_interval_must_fit_the_timeout(
    run: Callable[..., Any], vhost: str, amqp_channel: Any
) -> None:
    amqp_channel.queue_declare("growing", auto_delete=False)
    result = run("rabbitmq-queue-growth", options={"vhost": vhost, "interval": 5}, timeout=2)
    assert result.status == Status.UNKNOWN
    assert "does not fit in the 2s timeout" in result.summary


@pytest.mark.integration
def test_growth_skips_a_vhost_the_user_may_not_open(
    run: Callable[..., Any], vhost: str, mgmt: httpx.Client, amqp_channel: Any
) -> None:
    token = uuid.uuid4().hex[:8]
    amqp_channel.queue_declare(f"open-{token}", auto_delete=False)
    closed = f"{vhost}-closed"
    path = quote(closed, safe="")
    mgmt.put(f"/api/vhosts/{path}").raise_for_status()
    try:
        mgmt.put(
            f"/api/permissions/{path}/guest", json={"configure": ".*", "write": ".*", "read": ".*"}
        ).raise_for_status()
        conn = open_amqp(closed)
        conn.channel().queue_declare(f"closed-{token}", auto_delete=False)
        conn.release()
        mgmt.delete(f"/api/permissions/{path}/guest").raise_for_status()
        result = run("rabbitmq-queue-growth", options={"include": token, "interval": 0.2})
        assert result.status == Status.OK, result.summary
        assert perf(result, "queues") == 1
        assert any(
            # (the user reads '***' here: guest's password is its name, and passwords are masked)
            d.startswith(f"vhost {closed} skipped:") and "NOT_ALLOWED - access to vhost" in d
            for d in result.details
        ), result.details
    finally:
        mgmt.delete(f"/api/vhosts/{path}")


def test_bad_options_are_unknown(run: Callable[..., Any]) -> None:
    # Options are checked before any connection is made: no server needed.
    bad = run("rabbitmq-roundtrip", options={"messages": "many"})
    assert (bad.status, bad.summary) == (
        Status.UNKNOWN,
        "option messages must be a number, not 'many'",
    )
    regex = run("rabbitmq-queues", options={"include": "("})
    assert regex.status == Status.UNKNOWN
    assert regex.summary.startswith("option include: invalid regular expression '('")


@pytest.mark.integration
def test_connections_per_host_and_channels(
    run: Callable[..., Any], vhost: str, mgmt: httpx.Client
) -> None:
    conns = [open_amqp(vhost) for _ in range(3)]
    channels = [[c.channel() for _ in range(4)] for c in conns]
    try:

        def listed() -> bool:
            found = [
                c
                for c in mgmt.get("/api/connections").json()
                if c.get("vhost") == vhost and c.get("channels") == 4
            ]
            return len(found) == 3

        wait_until(listed, 30, "connections in the management API", interval=0.5)
        result = run("rabbitmq-connections", options={"vhost": vhost})
        assert result.status == Status.OK, result.summary
        assert result.summary.startswith(
            f"3 connection(s) in vhost {vhost} from 1 host(s), 12 channel(s); most from "
            "127.0.0.1 (3), most channels on one connection 4"
        )
        warn = run(
            "rabbitmq-connections",
            options={"vhost": vhost},
            warning={"host_connections": "2"},
        )
        assert warn.status == Status.WARNING
        assert warn.details[0] == "WARNING: 127.0.0.1: 3 connection(s) (py-amqp x3)"
        crit = run(
            "rabbitmq-connections",
            options={"vhost": vhost},
            critical={"connection_channels": "3"},
        )
        assert crit.status == Status.CRITICAL
        assert sum(d.startswith("CRITICAL: 127.0.0.1:") for d in crit.details) == 3
        assert perf(crit, "channels") == 12
    finally:
        del channels
        for c in conns:
            c.release()


@pytest.mark.integration
def test_openstack_signs(
    run: Callable[..., Any], vhost: str, mgmt: httpx.Client, amqp_channel: Any
) -> None:
    ch = amqp_channel
    for name in ("notifications.info", "versioned_notifications.error", "nova.error"):
        ch.queue_declare(name, auto_delete=False)
    publish(ch, "notifications.info", 7)
    publish(ch, "versioned_notifications.error", 2)
    leaked = [f"reply_{uuid.uuid4().hex}" for _ in range(3)] + [
        f"compute_fanout_{uuid.uuid4().hex}" for _ in range(2)
    ]
    for name in leaked:
        ch.queue_declare(name, auto_delete=False)  # rabbit_transient_queues_ttl = 0
    expiring = f"reply_{uuid.uuid4().hex}"
    ch.queue_declare(expiring, auto_delete=False, arguments={"x-expires": 600000})
    live = f"reply_{uuid.uuid4().hex}"
    ch.queue_declare(live, auto_delete=False)
    ch.basic_consume(queue=live, no_ack=True, callback=lambda m: None)
    wait_for_queue(mgmt, vhost, "notifications.info", messages(7))
    wait_for_queue(mgmt, vhost, "versioned_notifications.error", messages(2))
    wait_for_queue(mgmt, vhost, live, lambda q: q.get("consumers") == 1)

    result = run("rabbitmq-openstack", options={"vhost": vhost})
    assert result.status == Status.WARNING, result.summary
    assert result.summary == (
        "2 notification queue(s) piling up with no consumer (9 messages: notifications.info, "
        "versioned_notifications.error); 5 reply queue(s), 4 orphaned; 2 fanout queue(s), "
        f"2 orphaned; 5 orphan(s) never expire ({len(leaked) + 5} queues in vhost {vhost})"
    )
    assert perf(result, "leaked_queues") == 5
    assert perf(result, "orphan_reply_queues") == 4
    assert any("rabbit_transient_queues_ttl" in d for d in result.details)
    assert (
        f"orphaned reply queue: {expiring} (vhost {vhost}): 0 message(s), expires" in result.details
    )

    crit = run(
        "rabbitmq-openstack",
        options={"vhost": vhost},
        critical={"leaked_queues": "4", "orphan_fanout_queues": "1"},
    )
    assert crit.status == Status.CRITICAL


@pytest.mark.integration
def test_roundtrip_against_real_broker(run: Callable[..., Any], vhost: str) -> None:
    result = run("rabbitmq-roundtrip", options={"messages": 5})
    assert result.status == Status.OK, result.summary
    assert re.match(
        r"5 message\(s\) round-tripped through RabbitMQ 3\.\d+\.\d+ in ", result.summary
    )
    assert 0 < perf(result, "latency") < 100
    in_vhost = run(
        "rabbitmq-roundtrip", url=f"amqp://guest:guest@127.0.0.1:5672/{quote(vhost, safe='')}"
    )
    assert in_vhost.status == Status.OK
    slow = run("rabbitmq-roundtrip", critical={"latency": "0.0001"})
    assert slow.status == Status.CRITICAL


@pytest.mark.integration
def test_roundtrip_vhost_denied_is_critical(run: Callable[..., Any]) -> None:
    result = run("rabbitmq-roundtrip", url="amqp://guest:guest@127.0.0.1:5672/no-such-vhost")
    assert result.status == Status.CRITICAL
    assert "NOT_ALLOWED - vhost no-such-vhost not found" in result.summary


# -- failures: wrong password, refused port, silent server, secrets ----------------------


def _target(url: str, amqp: str = AMQP) -> dict[str, str]:
    return {"url": url, "amqp_url": amqp}


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_wrong_password_is_critical_without_the_password(
    run: Callable[..., Any], name: str
) -> None:
    secret = "Wr0ngPassw0rd"
    result = run(
        name,
        target=_target(
            f"http://guest:{secret}@127.0.0.1:15672", f"amqp://guest:{secret}@127.0.0.1:5672/"
        ),
    )
    assert result.status == Status.CRITICAL, result.summary
    text = "\n".join([result.summary, *result.details, result.target])
    assert secret not in text
    assert "\n" not in result.summary
    if name == "rabbitmq-roundtrip":
        assert "refused the login of user 'guest' (ACCESS_REFUSED" in result.summary
    else:
        assert "refused the login of user 'guest' (HTTP 401" in result.summary


@pytest.mark.integration
def test_wrong_amqp_password_for_growth(
    run: Callable[..., Any], vhost: str, amqp_channel: Any
) -> None:
    amqp_channel.queue_declare("growing", auto_delete=False)
    result = run(
        "rabbitmq-queue-growth",
        target=_target(MGMT_URL, "amqp://guest:N0tThis0ne@127.0.0.1:5672/"),
        options={"vhost": vhost, "interval": 0.2},
    )
    assert result.status == Status.CRITICAL
    assert "N0tThis0ne" not in result.summary
    assert "ACCESS_REFUSED" in result.summary


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_refused_port_is_critical(run: Callable[..., Any], name: str) -> None:
    port = free_port()
    result = run(
        name,
        target=_target(
            f"http://guest:guest@127.0.0.1:{port}", f"amqp://guest:guest@127.0.0.1:{port}/"
        ),
    )
    assert result.status == Status.CRITICAL
    assert "connection refused" in result.summary
    assert result.duration < 2


@pytest.mark.integration
def test_silent_servers_are_critical_within_the_timeout(
    cli_run: Callable[..., Any], vhost: str, amqp_channel: Any
) -> None:
    amqp_channel.queue_declare("growing", auto_delete=False)
    with silent_server() as port:
        silent_http = f"http://guest:guest@127.0.0.1:{port}"
        silent_amqp = f"amqp://guest:guest@127.0.0.1:{port}/"
        cases = [
            ("rabbitmq-queues", f"targets: {{rabbitmq: {{url: '{silent_http}'}}}}", []),
            ("rabbitmq-node", f"targets: {{rabbitmq: {{url: '{silent_http}'}}}}", []),
            (
                "rabbitmq-roundtrip",
                f"targets: {{rabbitmq: {{url: '{MGMT_URL}', amqp_url: '{silent_amqp}'}}}}",
                [],
            ),
            (
                "rabbitmq-queue-growth",
                f"targets: {{rabbitmq: {{url: '{MGMT_URL}', amqp_url: '{silent_amqp}'}}}}",
                ["-o", f"vhost={vhost}"],
            ),
        ]
        for name, config, extra in cases:
            started = time.monotonic()
            proc = cli_run("check", name, "-t", "2", *extra, config=config)
            elapsed = time.monotonic() - started
            assert proc.returncode == 2, (name, proc.stdout, proc.stderr)
            assert elapsed < 5, (name, elapsed)
            line = proc.stdout.splitlines()[0]
            assert line.startswith(f"{name.upper()} CRITICAL - "), line
            assert "within 2s" in line, line
        # and --url with an amqp:// URL for the round trip
        started = time.monotonic()
        proc = cli_run("check", "rabbitmq-roundtrip", "-t", "2", "--url", silent_amqp)
        assert proc.returncode == 2 and time.monotonic() - started < 5
        assert "did not complete the AMQP handshake within 2s" in proc.stdout


# -- the real command line ---------------------------------------------------------------


@pytest.mark.integration
def test_every_check_through_the_cli(
    cli_run: Callable[..., Any], vhost: str, mgmt: httpx.Client, amqp_channel: Any
) -> None:
    amqp_channel.queue_declare("cli-backlog", auto_delete=False)
    publish(amqp_channel, "cli-backlog", 12)
    wait_for_queue(mgmt, vhost, "cli-backlog", messages(12))
    config = f"targets:\n  rabbitmq:\n    url: {MGMT_URL}\n    amqp_url: {AMQP}\n"
    expectations = {
        "rabbitmq-node": ([], 0),
        "rabbitmq-health": ([], 0),
        "rabbitmq-queues": (["-o", f"vhost={vhost}", "-c", "queue_ready=10"], 2),
        "rabbitmq-queue-growth": (["-o", f"vhost={vhost}", "-o", "interval=0.5"], 0),
        "rabbitmq-connections": (["-o", f"vhost={vhost}", "-w", "blocked_connections=0"], 0),
        "rabbitmq-openstack": (["-o", f"vhost={vhost}", "-o", "include=^nothing$"], 0),
        "rabbitmq-roundtrip": (["-w", "50", "-c", "500"], 0),
    }
    assert set(expectations) == set(BY_NAME)
    for name, (args, code) in expectations.items():
        proc = cli_run("check", name, *args, config=config)
        assert proc.returncode == code, (name, proc.stdout, proc.stderr)
        match = NAGIOS_LINE.match(proc.stdout.splitlines()[0])
        assert match, proc.stdout
        assert match["name"] == name.upper()
        assert match["status"] == Status(code).name
        assert match["perf"], "every check reports perfdata"
        assert "guest:guest" not in proc.stdout
    # the bare -w/-c of the round trip went to its first threshold, latency in ms
    proc = cli_run("check", "rabbitmq-roundtrip", "-w", "50", "-c", "500", "-f", "json")
    assert '"warning": "50"' in proc.stdout and '"unit": "ms"' in proc.stdout


@pytest.mark.integration
def test_cli_password_in_url_is_masked(cli_run: Callable[..., Any]) -> None:
    proc = cli_run("check", "rabbitmq-queues", "--url", "http://guest:Sekr3tPw@127.0.0.1:15672")
    assert proc.returncode == 2
    assert "Sekr3tPw" not in proc.stdout + proc.stderr
    assert proc.stdout.startswith("RABBITMQ-QUEUES CRITICAL - RabbitMQ management API at ")
