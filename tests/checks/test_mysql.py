"""MySQL/MariaDB and Galera checks: evaluate() on hand-built data, then the real thing:
the shared MariaDB on 127.0.0.1:3306 and a private three-node Galera cluster."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from galera_cluster import TEST_DATABASE, GaleraCluster, GaleraNode
from support import silent_server

from stacktender.app import App
from stacktender.checks.base import CheckContext
from stacktender.checks.mysql import (
    MySQLAddress,
    NodeWrites,
    ServerStatus,
    WritersData,
    evaluate_cluster,
    evaluate_connections,
    evaluate_writers,
    node_urls,
)
from stacktender.errors import ConfigError
from stacktender.results import Status

SHARED_URL = "mysql://root@127.0.0.1:3306/"


def context(app: App, name: str, **overrides: Any) -> CheckContext:
    inst = app.instance(name, **overrides)
    return inst.context()


def galera_status(**changes: str) -> ServerStatus:
    status = {
        "wsrep_cluster_status": "Primary",
        "wsrep_cluster_size": "3",
        "wsrep_local_state": "4",
        "wsrep_local_state_comment": "Synced",
        "wsrep_flow_control_paused": "0.001",
        "wsrep_ready": "ON",
        "wsrep_connected": "ON",
        "wsrep_local_recv_queue_avg": "0.0",
        "wsrep_local_send_queue_avg": "0.0",
        "wsrep_local_cert_failures": "0",
        "wsrep_local_bf_aborts": "0",
        "wsrep_incoming_addresses": "10.0.0.1:3306,10.0.0.2:3306,10.0.0.3:3306",
    }
    status.update(changes)
    variables = {"wsrep_on": "ON", "wsrep_provider": "/usr/lib/galera/libgalera_smm.so"}
    return ServerStatus(status, {**variables, "wsrep_node_name": "db1"})


# -- URLs ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://root@127.0.0.1:3306/", ("127.0.0.1", 3306, None, "root", None, None)),
        ("mysql://nova:s%40cret@db:3307/nova", ("db", 3307, None, "nova", "s@cret", "nova")),
        ("mysql+pymysql://nova:pw@db/nova?charset=utf8", ("db", 3306, None, "nova", "pw", "nova")),
        (
            "unix:///run/mysqld/mysqld.sock",
            ("127.0.0.1", 3306, "/run/mysqld/mysqld.sock", "root", None, None),
        ),
        (
            "unix://monitor@/run/mysqld/mysqld.sock",
            ("127.0.0.1", 3306, "/run/mysqld/mysqld.sock", "monitor", None, None),
        ),
        (
            "mysql://root@/?unix_socket=/tmp/my.sock",
            ("127.0.0.1", 3306, "/tmp/my.sock", "root", None, None),
        ),
    ],
)
def test_address_from_url(url: str, expected: tuple[Any, ...]) -> None:
    a = MySQLAddress.from_url(url)
    assert (a.host, a.port, a.unix_socket, a.user, a.password, a.database) == expected
    assert "cret" not in a.display and "pw@" not in a.display


def test_address_option_file_leaves_user_to_the_file() -> None:
    a = MySQLAddress.from_url("mysql://db1/?read_default_file=/etc/mysql/debian.cnf")
    assert a.user is None and a.read_default_file == "/etc/mysql/debian.cnf"


def test_address_rejects_other_schemes() -> None:
    with pytest.raises(ConfigError, match="unsupported MySQL URL 'http://u:\\*\\*\\*@x/'"):
        MySQLAddress.from_url("http://u:secret@x/")


# -- galera-cluster evaluate -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "status", "text"),
    [
        ({}, Status.OK, "Primary, Synced, cluster size 3/3"),
        ({"wsrep_cluster_size": "4"}, Status.OK, "cluster size 4/3"),
        ({"wsrep_cluster_size": "2"}, Status.WARNING, "cluster size 2, expected 3"),
        ({"wsrep_cluster_size": "1"}, Status.CRITICAL, "cluster size 1, expected 3 (quorum 2)"),
        ({"wsrep_cluster_status": "non-Primary"}, Status.CRITICAL, "not Primary"),
        ({"wsrep_local_state_comment": "Donor/Desynced"}, Status.WARNING, "Donor/Desynced"),
        ({"wsrep_local_state_comment": "Joining"}, Status.CRITICAL, "Joining, not Synced"),
        ({"wsrep_local_state_comment": "Joined"}, Status.CRITICAL, "Joined, not Synced"),
        ({"wsrep_flow_control_paused": "0.2"}, Status.WARNING, "flow control paused 20.0%"),
        ({"wsrep_flow_control_paused": "0.75"}, Status.CRITICAL, "flow control paused 75.0%"),
        ({"wsrep_ready": "OFF"}, Status.CRITICAL, "wsrep_ready is OFF"),
        ({"wsrep_connected": "OFF"}, Status.CRITICAL, "wsrep_connected is OFF"),
    ],
)
def test_galera_cluster_evaluate(
    make_app: Callable[..., App], changes: dict[str, str], status: Status, text: str
) -> None:
    outcome = evaluate_cluster(galera_status(**changes), context(make_app(), "galera-cluster"))
    assert outcome.status == status
    assert text in " ".join([outcome.summary, *outcome.details])


def test_galera_cluster_size_follows_expected_size_and_thresholds(
    make_app: Callable[..., App],
) -> None:
    app = make_app()
    five = context(app, "galera-cluster", options={"expected_size": 5})
    assert evaluate_cluster(galera_status(wsrep_cluster_size="4"), five).status == Status.WARNING
    assert evaluate_cluster(galera_status(wsrep_cluster_size="3"), five).status == Status.WARNING
    assert evaluate_cluster(galera_status(wsrep_cluster_size="2"), five).status == Status.CRITICAL
    strict = context(app, "galera-cluster", critical={"size": "3:"})
    outcome = evaluate_cluster(galera_status(wsrep_cluster_size="2"), strict)
    assert outcome.status == Status.CRITICAL
    size = next(p for p in outcome.perfdata if p.label == "size")
    assert (size.warning, size.critical) == ("3:", "3:")


def test_galera_cluster_rejects_bad_expected_size(make_app: Callable[..., App]) -> None:
    ctx = context(make_app(), "galera-cluster", options={"expected_size": "three"})
    with pytest.raises(ConfigError, match="expected_size"):
        evaluate_cluster(galera_status(), ctx)


# -- mysql-connections evaluate --------------------------------------------------------------
def test_mysql_connections_evaluate(make_app: Callable[..., App]) -> None:
    def data(connected: int, max_used: int) -> ServerStatus:
        return ServerStatus(
            {
                "Threads_connected": str(connected),
                "Threads_running": "1",
                "Max_used_connections": str(max_used),
                "Connection_errors_max_connections": "0",
            },
            {"max_connections": "200"},
        )

    ctx = context(make_app(), "mysql-connections")
    assert evaluate_connections(data(20, 50), ctx).status == Status.OK
    assert evaluate_connections(data(170, 170), ctx).status == Status.WARNING
    crit = evaluate_connections(data(195, 200), ctx)
    assert crit.status == Status.CRITICAL
    assert crit.summary.startswith("195/200 connections (97.5% of max_connections)")
    strict = context(make_app(), "mysql-connections", warning={"max_used": "90"})
    assert evaluate_connections(data(20, 199), strict).status == Status.WARNING


# -- galera-writers evaluate -----------------------------------------------------------------
def writes(name: str, commits: int = 0, open_writes: int = 0) -> NodeWrites:
    return NodeWrites(name, f"{name}:3306", commits, 0, 0, open_writes)


@pytest.mark.parametrize(
    ("nodes", "status", "writers"),
    [
        ([writes("db1"), writes("db2"), writes("db3")], Status.OK, 0),
        ([writes("db1", 40), writes("db2"), writes("db3")], Status.OK, 1),
        ([writes("db1", 40), writes("db2", open_writes=1), writes("db3")], Status.WARNING, 2),
        ([writes("db1", 4), writes("db2", 3), writes("db3", 9)], Status.CRITICAL, 3),
    ],
)
def test_galera_writers_evaluate(
    make_app: Callable[..., App], nodes: list[NodeWrites], status: Status, writers: int
) -> None:
    outcome = evaluate_writers(WritersData(2.0, nodes), context(make_app(), "galera-writers"))
    assert outcome.status == status
    assert outcome.summary.startswith(f"{writers} of 3 Galera nodes took writes in 2.0s")
    assert outcome.perfdata[0].label == "writers" and outcome.perfdata[0].value == writers


def test_galera_writers_node_urls(make_app: Callable[..., App]) -> None:
    app = make_app()
    ctx = context(app, "galera-writers", url="mysql://mon:pw@10.0.0.9:3306/")
    assert node_urls(ctx, "10.0.0.1:3306,10.0.0.2:3307") == [
        "mysql://mon:pw@10.0.0.1:3306/",
        "mysql://mon:pw@10.0.0.2:3307/",
    ]
    listed = context(app, "galera-writers", options={"nodes": "mysql://a/, mysql://b/"})
    assert node_urls(listed, "ignored:1") == ["mysql://a/", "mysql://b/"]


# -- the shared MariaDB (no Galera) ----------------------------------------------------------
@pytest.mark.integration
def test_mysql_connection_ok(make_app: Callable[..., App]) -> None:
    app = make_app()
    result = app.run(app.instance("mysql-connection", url=SHARED_URL))
    assert result.status == Status.OK, result.summary
    assert "answered SELECT 1" in result.summary and "MariaDB" in result.summary
    assert {p.label for p in result.perfdata} >= {"time", "connect_time"}


@pytest.mark.integration
def test_mysql_connection_over_unix_socket(make_app: Callable[..., App]) -> None:
    app = make_app()
    for url in (
        "unix:///run/mysqld/mysqld.sock",
        "mysql://root@/?unix_socket=/run/mysqld/mysqld.sock",
    ):
        result = app.run(app.instance("mysql-connection", url=url))
        assert result.status == Status.OK, result.summary


@pytest.mark.integration
def test_mysql_connections_counts_real_connections(make_app: Callable[..., App]) -> None:
    import pymysql

    app = make_app()
    before = app.run(app.instance("mysql-connections", url=SHARED_URL))
    assert before.status == Status.OK, before.summary
    held = [pymysql.connect(host="127.0.0.1", user="root") for _ in range(5)]
    try:
        after = app.run(
            app.instance("mysql-connections", url=SHARED_URL, warning={"connections": "~:0.1"})
        )
    finally:
        for conn in held:
            conn.close()
    assert after.status == Status.WARNING
    connected = next(p for p in after.perfdata if p.label == "threads_connected").value
    assert connected >= 6  # the five held plus the check's own


@pytest.mark.integration
@pytest.mark.parametrize("name", ["galera-cluster", "galera-writers"])
def test_galera_checks_on_plain_mariadb_are_unknown(
    make_app: Callable[..., App], name: str
) -> None:
    app = make_app()
    result = app.run(app.instance(name, url=SHARED_URL))
    assert result.status == Status.UNKNOWN
    assert "wsrep not enabled" in result.summary


@pytest.mark.integration
def test_wrong_password_is_critical_one_line_without_password(cli_run: Any) -> None:
    proc = cli_run(
        "check", "mysql-connection", "--url", "mysql://root:Wr0ngPassw0rd@127.0.0.1:3306/"
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout.startswith("MYSQL-CONNECTION CRITICAL - access denied for MySQL user 'root'")
    assert len(proc.stdout.strip().splitlines()) == 1
    assert "Wr0ngPassw0rd" not in proc.stdout + proc.stderr


@pytest.mark.integration
def test_refused_port_is_critical(make_app: Callable[..., App]) -> None:
    from support import free_port

    app = make_app()
    port = free_port()
    result = app.run(app.instance("mysql-connection", url=f"mysql://root@127.0.0.1:{port}/"))
    assert result.status == Status.CRITICAL
    assert result.summary == f"cannot connect to MySQL at 127.0.0.1:{port}: Connection refused"


@pytest.mark.integration
@pytest.mark.parametrize("name", ["mysql-connection", "galera-cluster"])
def test_silent_server_is_critical_within_timeout(make_app: Callable[..., App], name: str) -> None:
    app = make_app()
    with silent_server() as port:
        started = time.monotonic()
        result = app.run(app.instance(name, url=f"mysql://root@127.0.0.1:{port}/", timeout=1.5))
        elapsed = time.monotonic() - started
    assert result.status == Status.CRITICAL
    assert "no answer" in result.summary
    assert elapsed < 2.5


# -- TLS in PREFERRED mode -------------------------------------------------------------------
def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate and key for 127.0.0.1."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private MariaDB that offers TLS (the shared one does not); yields its URL."""
    from support import free_port, port_open, require_binary, running

    base = tmp_path_factory.mktemp("tls-mariadb")
    cert, key = _self_signed(base)
    subprocess.run(
        [
            require_binary("mariadb-install-db"),
            "--no-defaults",
            f"--datadir={base / 'data'}",
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    cmd = [
        require_binary("mariadbd"),
        "--no-defaults",
        f"--datadir={base / 'data'}",
        f"--socket={base / 'mysqld.sock'}",
        f"--pid-file={base / 'mysqld.pid'}",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        "--user=root",
        "--skip-log-bin",
        "--innodb-buffer-pool-size=16M",
        "--performance-schema=OFF",
        f"--ssl-cert={cert}",
        f"--ssl-key={key}",
    ]
    with running(cmd, ready=lambda: port_open(port), log=base / "mariadbd.log"):
        yield f"mysql://root@127.0.0.1:{port}/"


@pytest.mark.integration
def test_tls_is_used_when_the_server_offers_it(
    tls_mariadb: str, make_app: Callable[..., App]
) -> None:
    from stacktender.checks.mysql import connect

    for _ in range(2):  # the second connection reuses the context the first one built
        with connect(MySQLAddress.from_url(tls_mariadb), lambda: 5.0) as session:
            cipher = session.pairs("SHOW STATUS LIKE 'Ssl_cipher'")["Ssl_cipher"]
        assert cipher.startswith("TLS_"), cipher
    app = make_app()
    assert app.run(app.instance("mysql-connection", url=tls_mariadb)).status == Status.OK


@pytest.mark.integration
def test_no_tls_context_is_built_for_a_server_without_tls(tls_mariadb: str) -> None:
    # In a fresh interpreter: the context is built once per process, maybe by another test.
    script = f"""
from stacktender.checks.mysql import MySQLAddress, _connection_class, connect
with connect(MySQLAddress.from_url({SHARED_URL!r}), lambda: 5.0) as session:
    print(repr(session.pairs("SHOW STATUS LIKE 'Ssl_cipher'")["Ssl_cipher"]))
print(_connection_class()._preferred_ctx is None)
with connect(MySQLAddress.from_url({tls_mariadb!r}), lambda: 5.0) as session:
    print(session.pairs("SHOW STATUS LIKE 'Ssl_cipher'")["Ssl_cipher"].startswith("TLS_"))
print(_connection_class()._preferred_ctx is None)
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["''", "True", "True", "False"]


# -- the Galera cluster ----------------------------------------------------------------------
def run_cluster_check(app: App, node: GaleraNode, **overrides: Any) -> Any:
    return app.run(app.instance("galera-cluster", url=node.url, **overrides))


def wait_status(fetch: Callable[[], Any], status: Status, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if result.status == status or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


@pytest.mark.integration
def test_galera_cluster_ok_on_every_node(galera: GaleraCluster, cli_run: Any) -> None:
    for node in galera.nodes:
        proc = cli_run("check", "galera-cluster", "--url", node.url, "-o", "expected_size=3")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.startswith(
            f"GALERA-CLUSTER OK - Galera node {node.name}: Primary, Synced, cluster size 3/3"
        )
        assert "size=3;3:;2:;0" in proc.stdout


@pytest.mark.integration
def test_galera_cluster_node_down_then_rejoins(
    galera: GaleraCluster, make_app: Callable[..., App]
) -> None:
    app = make_app()
    n1, n2, n3 = galera.nodes
    galera.stop_node(n3)
    try:
        for node in (n1, n2):
            result = wait_status(lambda node=node: run_cluster_check(app, node), Status.WARNING)
            assert result.status == Status.WARNING, result.summary
            assert "cluster size 2/3" in result.summary
            assert "cluster size 2, expected 3 (quorum 2)" in result.details
        strict = run_cluster_check(app, n1, critical={"size": "3:"})
        assert strict.status == Status.CRITICAL
        down = run_cluster_check(app, n3)
        assert down.status == Status.CRITICAL
        assert "Connection refused" in down.summary
        writers = app.run(
            app.instance(
                "galera-writers",
                url=n1.url,
                options={"nodes": [n.url for n in galera.nodes], "interval": 0.3},
            )
        )
        assert writers.status == Status.OK, writers.summary
        assert writers.summary.startswith("0 of 2 Galera nodes took writes")
        assert (
            f"unreachable: {n3.url}: cannot connect to MySQL at 127.0.0.1:{n3.port}"
            in (writers.details[-1])
        )
    finally:
        galera.start_node(n3)
    for node in galera.nodes:
        result = wait_status(lambda node=node: run_cluster_check(app, node), Status.OK)
        assert result.status == Status.OK, result.summary


@contextlib.contextmanager
def writing(*nodes: GaleraNode) -> Iterator[None]:
    """Keep committing small inserts on each node (one client thread per node)."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop(node: GaleraNode) -> None:
        try:
            conn = node.connect()
            with conn.cursor() as cur:
                while not stop.is_set():
                    cur.execute(
                        f"INSERT INTO {TEST_DATABASE}.writes (node, v) VALUES (%s, 1)",
                        (node.name,),
                    )
                    stop.wait(0.02)
            conn.close()
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(n,), daemon=True) for n in nodes]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(5)
        assert not errors, errors


@pytest.mark.integration
def test_galera_writers_single_writer_ok(
    galera: GaleraCluster, make_app: Callable[..., App]
) -> None:
    app = make_app()
    n1 = galera.nodes[0]
    with writing(n1):
        # nodes discovered from wsrep_incoming_addresses of the target
        result = app.run(
            app.instance("galera-writers", url=galera.nodes[2].url, options={"interval": 1})
        )
    assert result.status == Status.OK, (result.summary, result.details)
    assert result.summary.startswith("1 of 3 Galera nodes took writes in 1.0s (writers: node1)")


@pytest.mark.integration
def test_galera_writers_two_writers_warn(
    galera: GaleraCluster, make_app: Callable[..., App]
) -> None:
    app = make_app()
    n1, n2, _ = galera.nodes
    nodes = [n.url for n in galera.nodes]
    with writing(n1, n2):
        warned = app.run(
            app.instance("galera-writers", url=n1.url, options={"nodes": nodes, "interval": 1})
        )
        strict = app.run(
            app.instance(
                "galera-writers",
                url=n1.url,
                options={"nodes": nodes, "interval": 0.5},
                critical={"writers": "1"},
            )
        )
    assert warned.status == Status.WARNING, (warned.summary, warned.details)
    assert "(writers: node1, node2)" in warned.summary
    assert warned.details[0].startswith("more than one node takes writes")
    assert strict.status == Status.CRITICAL


@pytest.mark.integration
def test_galera_writers_sees_open_write_transaction(
    galera: GaleraCluster, make_app: Callable[..., App]
) -> None:
    app = make_app()
    n2 = galera.nodes[1]
    conn = n2.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute(f"INSERT INTO {TEST_DATABASE}.writes (node, v) VALUES ('open', 1)")
            result = app.run(app.instance("galera-writers", url=n2.url, options={"interval": 0.3}))
            cur.execute("ROLLBACK")
    finally:
        conn.close()
    assert result.status == Status.OK, result.summary
    assert "(writers: node2)" in result.summary
    assert any(d.startswith("node2") and "1 open write transactions" in d for d in result.details)


@pytest.mark.integration
def test_credentials_from_option_file(make_app: Callable[..., App], tmp_path: Any) -> None:
    good, bad = tmp_path / "good.cnf", tmp_path / "bad.cnf"
    good.write_text("[client]\nuser = root\n")
    bad.write_text("[client]\nuser = root\npassword = N0tTheOne\n")
    app = make_app()
    ok = app.run(
        app.instance("mysql-connection", url=f"mysql://127.0.0.1:3306/?read_default_file={good}")
    )
    assert ok.status == Status.OK, ok.summary
    denied = app.run(
        app.instance("mysql-connection", url=f"mysql://127.0.0.1:3306/?read_default_file={bad}")
    )
    assert denied.status == Status.CRITICAL
    assert denied.summary == f"access denied for MySQL user of {bad} at 127.0.0.1:3306"
