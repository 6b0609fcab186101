"""A real three-node MariaDB Galera cluster on loopback, for integration tests.

Each node is a ``mariadbd`` with its own datadir, client port, unix socket, group
communication (gmcast) port, IST port and rsync SST port, all on 127.0.0.1. The first
node bootstraps the cluster (``--wsrep-new-cluster``), the others join it by SST and
are started one after the other (one donor at a time). A stopped node rejoins by IST.
Nodes run as the ``mysql`` user (root starts them): rsync's SST daemon, started as root,
would drop to ``nobody`` and could not write the datadir. So the cluster lives in its own
world-traversable temp dir, chowned to ``mysql``. Nothing here touches the shared MariaDB.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support import free_port, require_binary, stop_process

# The database the tests write to (created once, replicated to every node).
TEST_DATABASE = "stacktender_galera"
PROVIDER_CANDIDATES = ("/usr/lib/galera/libgalera_smm.so", "/usr/lib/libgalera_smm.so")


def galera_provider() -> str:
    """Path of the Galera 4 provider library (Debian ``galera-4``)."""
    for path in PROVIDER_CANDIDATES:
        if os.path.exists(path):
            return path
    import pytest

    pytest.fail("libgalera_smm.so is not installed: run 'make test' (installs galera-4)")


@dataclass
class GaleraNode:
    """One node: its ports, files and (when running) its process."""

    index: int
    base: Path
    port: int = field(default_factory=free_port)
    gmcast_port: int = field(default_factory=free_port)
    ist_port: int = field(default_factory=free_port)
    sst_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return f"node{self.index + 1}"

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def socket(self) -> Path:
        return self.base / "mysqld.sock"

    @property
    def cnf(self) -> Path:
        return self.base / "my.cnf"

    @property
    def log(self) -> Path:
        return self.base / "mysqld.log"

    @property
    def url(self) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def connect(self, timeout: float = 2.0) -> Any:
        """A PyMySQL connection as root over TCP (autocommit on)."""
        import pymysql

        return pymysql.connect(
            host="127.0.0.1",
            port=self.port,
            user="root",
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
            autocommit=True,
        )

    def query(self, sql: str, timeout: float = 2.0) -> list[tuple[Any, ...]]:
        """Run one statement on this node and return its rows."""
        conn = self.connect(timeout)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return list(cur.fetchall())
        finally:
            conn.close()

    def wsrep(self, timeout: float = 2.0) -> dict[str, str]:
        """This node's ``wsrep_%`` status variables."""
        return {str(k): str(v) for k, v in self.query("SHOW STATUS LIKE 'wsrep_%'", timeout)}


class GaleraCluster:
    """Start, stop and restart the nodes of a loopback Galera cluster."""

    def __init__(self, base: Path, size: int = 3, name: str = "stacktender-test") -> None:
        self.base = base
        self.name = name
        self.mariadbd = require_binary("mariadbd")
        self.install_db = require_binary("mariadb-install-db")
        require_binary("rsync")  # the SST method
        self.provider = galera_provider()
        self.nodes = [GaleraNode(i, base / f"node{i + 1}") for i in range(size)]

    # -- setup ---------------------------------------------------------------------------
    def _write_config(self, node: GaleraNode) -> None:
        peers = ",".join(f"127.0.0.1:{n.gmcast_port}" for n in self.nodes)
        provider_options = ";".join(
            [
                f"gmcast.listen_addr=tcp://127.0.0.1:{node.gmcast_port}",
                f"ist.recv_addr=127.0.0.1:{node.ist_port}",
                "gcache.size=32M",
                # Fast failure detection for nodes killed without a goodbye.
                "evs.suspect_timeout=PT3S",
                "evs.inactive_timeout=PT6S",
                "evs.install_timeout=PT4S",
                "pc.wait_prim_timeout=PT10S",
            ]
        )
        node.cnf.write_text(
            f"""[mysqld]
user = mysql
datadir = {node.datadir}
socket = {node.socket}
pid-file = {node.base / "mysqld.pid"}
log-error = {node.log}
port = {node.port}
bind-address = 127.0.0.1
skip-log-bin
binlog_format = ROW
default_storage_engine = InnoDB
innodb_autoinc_lock_mode = 2
innodb_buffer_pool_size = 32M
innodb_log_file_size = 16M
innodb_flush_log_at_trx_commit = 0
innodb_flush_method = O_DIRECT_NO_FSYNC
performance_schema = OFF
max_connections = 100
wsrep_on = ON
wsrep_provider = {self.provider}
wsrep_provider_options = "{provider_options}"
wsrep_cluster_name = {self.name}
wsrep_cluster_address = gcomm://{peers}
wsrep_node_name = {node.name}
wsrep_node_address = 127.0.0.1
wsrep_node_incoming_address = 127.0.0.1:{node.port}
wsrep_sst_method = rsync
wsrep_sst_receive_address = 127.0.0.1:{node.sst_port}
wsrep_slave_threads = 2

[sst]
"""
        )

    def _init_datadirs(self) -> None:
        """``mariadb-install-db`` once, then a copy per node (identical system tables)."""
        first = self.nodes[0]
        first.base.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                self.install_db,
                "--no-defaults",
                f"--datadir={first.datadir}",
                "--user=mysql",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        for node in self.nodes[1:]:
            node.base.mkdir(parents=True, exist_ok=True)
            shutil.copytree(first.datadir, node.datadir, symlinks=True)

    # -- lifecycle -----------------------------------------------------------------------
    def start(self, timeout: float = 90) -> None:
        """Bootstrap node 1, then join the others one by one; wait for size N, all Synced."""
        self.base.mkdir(parents=True, exist_ok=True)
        self.base.chmod(0o755)
        self._init_datadirs()
        for node in self.nodes:
            self._write_config(node)
            _chown_tree(node.base, "mysql")
        for i, node in enumerate(self.nodes):
            self.start_node(node, bootstrap=(i == 0), expected_size=i + 1, timeout=timeout)

    def start_node(
        self,
        node: GaleraNode,
        *,
        bootstrap: bool = False,
        expected_size: int | None = None,
        timeout: float = 60,
    ) -> None:
        """Start node (it rejoins by IST/SST) and wait until it is Synced in a cluster of
        expected_size nodes (default: every node of the cluster)."""
        if node.running:
            return
        cmd = [self.mariadbd, f"--defaults-file={node.cnf}"]
        if bootstrap:
            cmd.append("--wsrep-new-cluster")
        with open(node.base / "stdout.log", "ab") as out:
            node.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        size = expected_size if expected_size is not None else len(self.nodes)
        self.wait_synced(node, size, timeout)

    def stop_node(self, node: GaleraNode, timeout: float = 30) -> None:
        """Shut node down cleanly (it leaves the cluster gracefully) and wait for exit."""
        if node.proc is not None:
            stop_process(node.proc, timeout)
        node.proc = None

    def ensure_healthy(self, timeout: float = 60) -> None:
        """Restart any stopped node, wait until every node is Synced in a full cluster and
        undo read_only, so each test starts from a healthy cluster."""
        for node in self.nodes:
            if not node.running:
                self.start_node(node, timeout=timeout)
        for node in self.nodes:
            self.wait_synced(node, len(self.nodes), timeout)
            node.query("SET GLOBAL read_only = 0")

    def wait_synced(self, node: GaleraNode, size: int, timeout: float = 60) -> None:
        """Wait until node answers, is Synced, Primary and sees size members."""
        deadline = time.monotonic() + timeout
        last: object = "no answer yet"
        while time.monotonic() < deadline:
            if node.proc is not None and node.proc.poll() is not None:
                raise RuntimeError(
                    f"{node.name} exited with {node.proc.returncode}: {self._tail(node)}"
                )
            try:
                status = node.wsrep(timeout=1.0)
            except Exception as exc:
                last = exc
            else:
                last = {
                    k: status.get(k)
                    for k in (
                        "wsrep_local_state_comment",
                        "wsrep_cluster_size",
                        "wsrep_cluster_status",
                    )
                }
                if (
                    status.get("wsrep_local_state_comment") == "Synced"
                    and status.get("wsrep_cluster_status") == "Primary"
                    and status.get("wsrep_cluster_size") == str(size)
                    and status.get("wsrep_ready") == "ON"
                ):
                    return
            time.sleep(0.2)
        raise TimeoutError(
            f"{node.name} not Synced in a cluster of {size} after {timeout}s "
            f"(last: {last}); log: {self._tail(node)}"
        )

    def close(self) -> None:
        """Stop every node (last first) and remove the datadirs."""
        for node in reversed(self.nodes):
            self.stop_node(node)
        shutil.rmtree(self.base, ignore_errors=True)

    @staticmethod
    def _tail(node: GaleraNode) -> str:
        try:
            return node.log.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no log)"


def _chown_tree(path: Path, user: str) -> None:
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            shutil.chown(os.path.join(root, name), user, user)
    shutil.chown(path, user, user)


@contextlib.contextmanager
def galera_cluster(size: int = 3, attempts: int = 2) -> Iterator[GaleraCluster]:
    """A running cluster for the block; stopped and removed afterwards, even on failure.

    It lives in its own temp dir under /tmp, not pytest's (mode 0700, root only), because
    the nodes run as ``mysql``. A failed start is retried once on fresh ports: another
    test may have taken one of the free ports between choosing and binding it."""
    for attempt in range(1, attempts + 1):
        cluster = GaleraCluster(Path(tempfile.mkdtemp(prefix="stacktender-galera-")), size)
        try:
            cluster.start()
        except (RuntimeError, TimeoutError, subprocess.SubprocessError):
            cluster.close()
            if attempt == attempts:
                raise
            continue
        break
    try:
        yield cluster
    finally:
        cluster.close()
