"""The Galera health endpoint (stacktender/galera_health.py, ``stacktender galera-health``):
the decision on hand-built states, then real nodes of the test cluster, then a real
haproxy routing to the Synced node through three ``galera-health`` processes.

It lives beside the check tests because it shares their session Galera cluster.
"""

from __future__ import annotations

import contextlib
import http.client
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from galera_cluster import GaleraCluster, GaleraNode
from support import free_port, port_open, require_binary, running, silent_server, wait_until

from stacktender.errors import ConfigError
from stacktender.galera_health import (
    HealthPolicy,
    NodeState,
    evaluate_node,
    judge,
    make_server,
    parse_listen,
)


def state(**changes: object) -> NodeState:
    values: dict[str, object] = {
        "name": "db1",
        "wsrep_on": True,
        "local_state": 4,
        "state_comment": "Synced",
        "cluster_status": "Primary",
        "ready": True,
        "read_only": False,
    }
    values.update(changes)
    return NodeState(**values)  # type: ignore[arg-type]


DONOR = {"local_state": 2, "state_comment": "Donor/Desynced"}


# -- the decision ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "policy", "code", "reason"),
    [
        ({}, HealthPolicy(), 200, "db1 is Synced"),
        (DONOR, HealthPolicy(), 503, "db1 is Donor/Desynced, not Synced"),
        (DONOR, HealthPolicy(allow_donor=True), 200, "db1 is Donor/Desynced"),
        (
            {"local_state": 1, "state_comment": "Joining"},
            HealthPolicy(allow_donor=True),
            503,
            "db1 is Joining, not Synced",
        ),
        (
            {"local_state": 3, "state_comment": "Joined"},
            HealthPolicy(),
            503,
            "db1 is Joined, not Synced",
        ),
        ({"read_only": True}, HealthPolicy(), 503, "db1 is read_only"),
        ({"read_only": True}, HealthPolicy(allow_read_only=True), 200, "db1 is Synced"),
        (
            {"cluster_status": "non-Primary"},
            HealthPolicy(),
            503,
            "db1 is in a non-Primary component, not Primary",
        ),
        ({"ready": False}, HealthPolicy(), 503, "db1 has wsrep_ready OFF"),
        ({"wsrep_on": False}, HealthPolicy(), 503, "db1: wsrep not enabled, not a Galera node"),
    ],
)
def test_judge(changes: dict[str, object], policy: HealthPolicy, code: int, reason: str) -> None:
    verdict = judge(state(**changes), policy)
    assert (verdict.code, verdict.reason) == (code, reason)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9200", ("127.0.0.1", 9200)),
        (":9201", ("0.0.0.0", 9201)),
        ("9202", ("0.0.0.0", 9202)),
        ("[::1]:9203", ("::1", 9203)),
        ("db1", ("db1", 9200)),
    ],
)
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


def test_parse_listen_rejects_garbage() -> None:
    with pytest.raises(ConfigError, match="invalid listen address"):
        parse_listen("db1:http")


def test_maintenance_file_wins_without_querying(tmp_path: Path) -> None:
    flag = tmp_path / "maintenance"
    flag.touch()
    # Port 1 would be refused: the answer must come from the file alone.
    verdict = evaluate_node("mysql://root@127.0.0.1:1/", HealthPolicy(maintenance_file=str(flag)))
    assert (verdict.code, verdict.reason) == (503, f"maintenance: {flag} exists")


def test_unreachable_node_is_503() -> None:
    port = free_port()
    verdict = evaluate_node(f"mysql://root:s3cret@127.0.0.1:{port}/", HealthPolicy())
    assert verdict.code == 503
    assert verdict.reason == f"cannot connect to MySQL at 127.0.0.1:{port}: Connection refused"


def test_hung_node_is_503_within_timeout() -> None:
    with silent_server() as port:
        started = time.monotonic()
        verdict = evaluate_node(f"mysql://root@127.0.0.1:{port}/", HealthPolicy(timeout=0.8))
        elapsed = time.monotonic() - started
    assert verdict.code == 503 and "no answer" in verdict.reason
    assert elapsed < 1.5


def test_bad_url_fails_at_startup() -> None:
    with pytest.raises(ConfigError, match="unsupported MySQL URL"):
        make_server(("127.0.0.1", 0), "postgresql://x/", HealthPolicy())


# -- against real nodes ----------------------------------------------------------------------
def http_get(port: int, method: str = "GET", timeout: float = 5) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, "/")
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


@contextlib.contextmanager
def endpoint(node: GaleraNode, policy: HealthPolicy) -> Iterator[int]:
    """The library's server for node in a thread; yields its port."""
    server = make_server(("127.0.0.1", 0), node.url, policy)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.integration
def test_endpoint_on_real_nodes(galera: GaleraCluster, tmp_path: Path) -> None:
    n1, n2, _ = galera.nodes
    flag = tmp_path / "maintenance"
    with endpoint(n1, HealthPolicy(maintenance_file=str(flag))) as port:
        assert http_get(port) == (200, "node1 is Synced\n")
        assert http_get(port, "OPTIONS") == (200, "node1 is Synced\n")  # haproxy's default
        assert http_get(port, "HEAD") == (200, "")
        flag.touch()
        assert http_get(port) == (503, f"maintenance: {flag} exists\n")
        flag.unlink()
        assert http_get(port)[0] == 200
    with (
        endpoint(n2, HealthPolicy()) as strict,
        endpoint(n2, HealthPolicy(allow_read_only=True)) as lenient,
    ):
        n2.query("SET GLOBAL read_only = 1")
        try:
            assert http_get(strict) == (503, "node2 is read_only\n")
            assert http_get(lenient) == (200, "node2 is Synced\n")
        finally:
            n2.query("SET GLOBAL read_only = 0")
        assert http_get(strict) == (200, "node2 is Synced\n")


@pytest.mark.integration
def test_endpoint_on_plain_mariadb_is_503() -> None:
    verdict = evaluate_node("mysql://root@127.0.0.1:3306/", HealthPolicy())
    assert verdict.code == 503
    assert "wsrep not enabled" in verdict.reason


# -- haproxy in front of three galera-health processes ---------------------------------------
HAPROXY_CFG = """\
global
    maxconn 256

defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout check 2s

listen galera
    bind 127.0.0.1:{port}
    mode tcp
    option httpchk
    http-check expect status 200
    default-server inter 500 fall 2 rise 2 on-marked-down shutdown-sessions
{servers}
"""


def routed_node(port: int) -> str | None:
    """Which node answers a new client connection through haproxy (None if none)."""
    import pymysql

    try:
        conn = pymysql.connect(
            host="127.0.0.1", port=port, user="root", connect_timeout=1, read_timeout=1
        )
    except pymysql.err.MySQLError:
        return None
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@wsrep_node_name")
            row = cur.fetchone()
            return str(row[0]) if row else None
    except pymysql.err.MySQLError:
        return None
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def wait_routed(port: int, name: str, timeout: float = 15) -> float:
    """Seconds until new connections through haproxy land on node name."""
    started = time.monotonic()
    wait_until(lambda: routed_node(port) == name, timeout, f"haproxy routing to {name}", 0.1)
    return time.monotonic() - started


@pytest.mark.integration
def test_haproxy_routes_to_synced_node_and_fails_over(
    galera: GaleraCluster, tmp_path: Path
) -> None:
    haproxy = require_binary("haproxy")
    n1, _, _ = galera.nodes
    flag = tmp_path / "node1-maintenance"
    health_ports = [free_port() for _ in galera.nodes]
    with contextlib.ExitStack() as stack:
        for node, hport in zip(galera.nodes, health_ports, strict=True):
            cmd = [
                sys.executable, "-m", "stacktender.cli.main", "galera-health",
                "--listen", f"127.0.0.1:{hport}", "--url", node.url, "--timeout", "1",
            ]  # fmt: skip
            if node is n1:
                cmd += ["--maintenance-file", str(flag)]
            stack.enter_context(
                running(
                    cmd,
                    ready=lambda hport=hport: port_open(hport),
                    log=tmp_path / f"health-{node.name}.log",
                )
            )
        assert http_get(health_ports[0]) == (200, "node1 is Synced\n")
        port = free_port()
        servers = "\n".join(
            f"    server {n.name} 127.0.0.1:{n.port} check port {hp}"
            + ("" if i == 0 else " backup")
            for i, (n, hp) in enumerate(zip(galera.nodes, health_ports, strict=True))
        )
        cfg = tmp_path / "haproxy.cfg"
        cfg.write_text(HAPROXY_CFG.format(port=port, servers=servers))
        stack.enter_context(
            running(
                [haproxy, "-db", "-f", str(cfg)],
                ready=lambda: port_open(port),
                log=tmp_path / "haproxy.log",
            )
        )
        wait_routed(port, "node1")

        # Maintenance: node1 leaves the pool by hand, the first backup takes over.
        flag.touch()
        print(f"maintenance file: node2 after {wait_routed(port, 'node2'):.2f}s")
        flag.unlink()
        print(f"maintenance file removed: node1 after {wait_routed(port, 'node1'):.2f}s")

        # The active node dies: its endpoint answers 503 and haproxy moves on.
        galera.stop_node(n1)
        failover = wait_routed(port, "node2", timeout=10)
        assert failover < 5, f"haproxy took {failover:.1f}s to route to node2"
        print(f"haproxy routed to node2 {failover:.2f}s after node1 stopped")
        code, body = http_get(health_ports[0])
        assert code == 503
        assert body == f"cannot connect to MySQL at 127.0.0.1:{n1.port}: Connection refused\n"

        # It rejoins: back to Synced, haproxy returns to it (rise 2).
        started = time.monotonic()
        galera.start_node(n1)
        assert http_get(health_ports[0]) == (200, "node1 is Synced\n")
        print(f"node1 rejoined in {time.monotonic() - started:.2f}s")
        print(f"haproxy back on node1 after {wait_routed(port, 'node1'):.2f}s")


def test_cli_help_has_example(cli_run: Any) -> None:
    proc = cli_run("galera-health", "--help")
    assert proc.returncode == 0
    assert "stacktender galera-health --listen 10.0.0.11:9200" in proc.stdout


def test_cli_busy_port_is_one_line_error(cli_run: Any) -> None:
    with silent_server() as busy:
        proc = cli_run("galera-health", "--listen", f"127.0.0.1:{busy}", timeout=20)
    assert proc.returncode == 1
    assert proc.stderr.strip().endswith(
        f"stacktender: error: cannot listen on 127.0.0.1:{busy}: Address already in use"
    )
