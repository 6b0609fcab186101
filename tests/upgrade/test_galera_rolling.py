"""The rolling Galera restart/upgrade (stacktender/upgrade/galera_rolling.py and its
playbook) against a real three-node Galera cluster on loopback (tests/checks/galera_cluster.py).

The nodes are mariadbd processes, not systemd services, so the inventory gives each node
the commands that stop and start it the way the fixture does (SIGTERM and wait; mariadbd
with the node's own my.cnf), over Ansible's local connection.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parents[1] / "checks"))

from galera_cluster import GaleraCluster, GaleraNode, galera_cluster

from stacktender.errors import ConfigError
from stacktender.upgrade.galera_rolling import (
    RollingOptions,
    RollingTarget,
    galera_rolling,
    playbook_path,
    resolve_nodes,
    run_rolling,
)

# Fast polling: the loopback cluster rejoins in seconds.
POLL = 0.5


# -- the cluster and its inventory ---------------------------------------------------------


def node_pid(node: GaleraNode) -> int | None:
    """The pid of the node's running mariadbd (its pid file), None when it is down."""
    try:
        pid = int((node.base / "mysqld.pid").read_text().strip())
        state = Path(f"/proc/{pid}/status").read_text()
    except (OSError, ValueError):
        return None
    # A node the fixture started and Ansible stopped stays a zombie until pytest reaps it.
    return None if "\nState:\tZ" in state else pid


def stop_command(node: GaleraNode) -> str:
    """SIGTERM (a clean leave, as the fixture's stop_node) and wait for the exit."""
    pidfile = shlex.quote(str(node.base / "mysqld.pid"))
    return (
        f"pid=$(cat {pidfile}) && kill -TERM $pid && "
        "while [ -d /proc/$pid ] && ! grep -q '^State:.Z' /proc/$pid/status; do sleep 0.2; done"
    )


def start_command(cluster: GaleraCluster, node: GaleraNode, *extra: str) -> str:
    """mariadbd with the node's my.cnf, detached (as the fixture's start_node)."""
    args = [cluster.mariadbd, f"--defaults-file={node.cnf}", *extra]
    out = shlex.quote(str(node.base / "stdout.log"))
    return f"setsid {shlex.join(args)} >> {out} 2>&1 < /dev/null &"


def mysql_command(node: GaleraNode) -> str:
    return f"mariadb --no-defaults --protocol=tcp -h 127.0.0.1 -P {node.port} -u root"


def write_inventory(
    cluster: GaleraCluster,
    path: Path,
    *,
    start_extra: dict[str, list[str]] | None = None,
    connection: dict[str, Any] | None = None,
) -> Path:
    """A YAML inventory: group galera, one host per node with its commands (Ansible's
    local connection unless connection gives other connection variables)."""
    hosts: dict[str, Any] = {}
    for node in cluster.nodes:
        hosts[node.name] = {
            **(
                connection
                or {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
            ),
            "galera_mysql_cmd": mysql_command(node),
            "galera_stop_cmd": stop_command(node),
            "galera_start_cmd": start_command(
                cluster, node, *(start_extra or {}).get(node.name, [])
            ),
        }
    path.write_text(yaml.safe_dump({"galera": {"hosts": hosts}}))
    return path


def heal(cluster: GaleraCluster) -> None:
    """Start any node that is down and wait until all are Synced in a full cluster."""
    for node in cluster.nodes:
        if node.proc is not None and node.proc.poll() is not None:
            node.proc = None  # stopped by a playbook: nothing left for the fixture to stop
        if node_pid(node) is None:
            node.proc = None
            cluster.start_node(node, timeout=90)
    for node in cluster.nodes:
        cluster.wait_synced(node, len(cluster.nodes), timeout=90)


def stop_node(node: GaleraNode) -> None:
    """Stop a node whoever started it (the fixture or a playbook): SIGTERM, wait."""
    pid = node_pid(node)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while node_pid(node) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
    if node.proc is not None:
        node.proc.poll()  # reap it, if it was the fixture's child


def stop_strays(cluster: GaleraCluster) -> None:
    """Stop the nodes a playbook started (not children of pytest) before the fixture cleans up."""
    for node in cluster.nodes:
        pid = node_pid(node)
        if pid is not None and (node.proc is None or node.proc.pid != pid):
            stop_node(node)


@pytest.fixture(scope="module")
def rolling_cluster() -> Iterator[GaleraCluster]:
    with galera_cluster(size=3) as cluster:
        try:
            yield cluster
        finally:
            stop_strays(cluster)


@pytest.fixture
def cluster(rolling_cluster: GaleraCluster) -> GaleraCluster:
    """The module's cluster, healed: every node running and Synced in a cluster of 3."""
    heal(rolling_cluster)
    return rolling_cluster


def pids(cluster: GaleraCluster) -> dict[str, int | None]:
    return {node.name: node_pid(node) for node in cluster.nodes}


class Watch(threading.Thread):
    """Samples every node's state (Synced/Primary/size, or down) every 0.1 s."""

    def __init__(self, cluster: GaleraCluster) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.rounds: list[dict[str, tuple[str, str, int] | None]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            sample: dict[str, tuple[str, str, int] | None] = {}
            for node in self.cluster.nodes:
                try:
                    st = node.wsrep(timeout=1.0)
                    sample[node.name] = (
                        st.get("wsrep_local_state_comment", ""),
                        st.get("wsrep_cluster_status", ""),
                        int(st.get("wsrep_cluster_size", "0")),
                    )
                except Exception:
                    sample[node.name] = None
            self.rounds.append(sample)
            time.sleep(0.1)

    def stop(self) -> None:
        self.done.set()
        self.join(10)

    def out_of_service(self) -> list[list[str]]:
        """Per round, the nodes down or outside the Primary component.

        A node that serves the rejoining one its state transfer shows Donor/Desynced but
        stays in the Primary component: that is Galera's normal rejoin, not a second node
        out."""
        return [
            [name for name, v in r.items() if v is None or v[1] != "Primary"] for r in self.rounds
        ]

    def others_when_going_out(self) -> dict[str, list[tuple[str, str, int] | None]]:
        """For each node that went out, the other nodes' states in the round just before."""
        seen: dict[str, list[tuple[str, str, int] | None]] = {}
        out = self.out_of_service()
        for i in range(1, len(out)):
            for name in set(out[i]) - set(out[i - 1]):
                seen.setdefault(name, [v for n, v in self.rounds[i - 1].items() if n != name])
        return seen


# -- without a cluster ---------------------------------------------------------------------


def test_playbook_passes_ansible_syntax_check(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"galera": {"hosts": {"db1": {}, "db2": {}}}}))
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "--syntax-check",
            "-i",
            str(inventory),
            str(playbook_path()),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_nodes_come_from_the_inventory_group_in_order(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        "[web]\nw1\n\n[db_a]\ndb3\ndb1\n\n[db_b]\ndb2\n\n[db:children]\ndb_a\ndb_b\n"
    )
    assert resolve_nodes(RollingTarget(inventory=inventory, group="db")) == ["db3", "db1", "db2"]
    assert resolve_nodes(RollingTarget(hosts=("a", "b", "c"))) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("target", "options", "message"),
    [
        (RollingTarget(hosts=("a",)), RollingOptions(mode="reboot"), "unknown mode 'reboot'"),
        (RollingTarget(), RollingOptions(), "exactly one of an inventory file and a list of hosts"),
        (RollingTarget(hosts=("a b",)), RollingOptions(), "bad host name"),
        (RollingTarget(hosts=("a", "a")), RollingOptions(), "listed twice"),
        (RollingTarget(hosts=("a",)), RollingOptions(expected_size=0), "at least 1"),
        (RollingTarget(hosts=("a",)), RollingOptions(sync_timeout=-1), "must be positive"),
        (
            RollingTarget(hosts=("a",)),
            RollingOptions(extravars={"galera_mode": "upgrade"}),
            "galera_mode with its own option",
        ),
        (RollingTarget(inventory=Path("/nonexistent/hosts")), RollingOptions(), "cannot read"),
    ],
)
def test_bad_input_is_a_config_error(
    target: RollingTarget, options: RollingOptions, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        run_rolling(target, options)


def test_inventory_without_the_group_is_refused(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[mysql]\ndb1\ndb2\n")
    with pytest.raises(ConfigError, match=r"no host in group 'galera' \(groups: mysql\)"):
        run_rolling(RollingTarget(inventory=inventory))


@pytest.mark.integration
def test_unreachable_node_fails_the_dry_run_with_its_name(tmp_path: Path) -> None:
    """A node Ansible cannot reach over SSH (nothing listens on the port)."""
    from support import free_port

    options = RollingOptions(
        extravars={"ansible_port": free_port(), "ansible_ssh_common_args": "-o BatchMode=yes"},
        poll_interval=POLL,
    )
    run = run_rolling(RollingTarget(hosts=("127.0.0.1",)), options, check=True)
    assert not run.ok
    assert run.nodes[0].result == "failed"
    assert run.error is not None and "127.0.0.1 unreachable" in run.error
    assert "Connection refused" in run.error


# -- against the three-node cluster --------------------------------------------------------


@pytest.fixture
def sshd(ssh_server: Any) -> dict[str, Any]:
    """The shared test sshd as Ansible connection variables: the production path (SSH)."""
    return {
        "ansible_host": "127.0.0.1",
        "ansible_port": ssh_server.port,
        "ansible_user": ssh_server.user,
        "ansible_ssh_private_key_file": str(ssh_server.client_key),
        # not discovered: a pyenv shim on PATH may be found first
        "ansible_python_interpreter": "/usr/bin/python3",
        "ansible_ssh_transfer_method": "piped",  # this sshd has no sftp subsystem
        "ansible_pipelining": True,
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no "
        "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
    }


@pytest.mark.integration
def test_check_mode_changes_nothing(cluster: GaleraCluster, tmp_path: Path) -> None:
    before = pids(cluster)
    uptimes = {n.name: int(n.query("SHOW STATUS LIKE 'Uptime'")[0][1]) for n in cluster.nodes}
    watch = Watch(cluster)
    watch.start()
    try:
        report = galera_rolling(
            RollingTarget(inventory=write_inventory(cluster, tmp_path / "hosts.yml")),
            RollingOptions(poll_interval=POLL),
        )
    finally:
        watch.stop()
    assert report.ok and not report.executed
    (run,) = report.runs
    assert run.phase == "check"
    assert [(n.node, n.result) for n in run.nodes] == [
        ("node1", "checked"),
        ("node2", "checked"),
        ("node3", "checked"),
    ]
    assert all(n.stopped is None and n.started is None for n in run.nodes)
    assert pids(cluster) == before and None not in before.values()
    assert all(
        int(n.query("SHOW STATUS LIKE 'Uptime'")[0][1]) >= uptimes[n.name] for n in cluster.nodes
    )
    # Every node stayed Synced in a cluster of 3 for the whole run.
    assert watch.rounds
    assert all(
        v is not None and v == ("Synced", "Primary", 3) for r in watch.rounds for v in r.values()
    )


@pytest.mark.integration
def test_restart_rolls_one_node_at_a_time(cluster: GaleraCluster, tmp_path: Path) -> None:
    before = pids(cluster)
    lines: list[str] = []
    watch = Watch(cluster)
    watch.start()
    try:
        report = galera_rolling(
            RollingTarget(inventory=write_inventory(cluster, tmp_path / "hosts.yml")),
            RollingOptions(mode="restart", poll_interval=POLL),
            execute=True,
            progress=lines.append,
        )
    finally:
        watch.stop()
    assert report.ok, [run.error for run in report.runs]
    check, real = report.runs
    assert (check.phase, real.phase) == ("check", "execute")
    assert [n.result for n in real.nodes] == ["restarted"] * 3

    # Every node got a new process; the times are in order, node by node.
    after = pids(cluster)
    assert all(after[name] not in (None, before[name]) for name in before)
    for node in real.nodes:
        assert node.stopped and node.started and node.synced and node.seconds
        assert node.stopped <= node.started <= node.synced
    for earlier, later in zip(real.nodes, real.nodes[1:], strict=False):
        assert earlier.synced is not None and later.stopped is not None
        assert earlier.synced < later.stopped

    # Seen from outside: never more than one node out, the cluster never below 2 ...
    out = watch.out_of_service()
    assert max(len(o) for o in out) == 1, [o for o in out if len(o) > 1]
    for sample in watch.rounds:
        primary = [v for v in sample.values() if v is not None and v[1] == "Primary"]
        assert len(primary) >= 2 and min(v[2] for v in primary) >= 2, sample
    # ... and the nodes went out one after the other, each back before the next ...
    sequence = [o[0] for o in out if o]
    collapsed = [name for i, name in enumerate(sequence) if i == 0 or sequence[i - 1] != name]
    assert collapsed == ["node1", "node2", "node3"]
    # ... and only when every other node was Synced again (the donor too).
    others = watch.others_when_going_out()
    assert sorted(others) == ["node1", "node2", "node3"]
    for name, states in others.items():
        assert all(v is not None and v[:2] == ("Synced", "Primary") for v in states), (name, states)
    assert lines[-1].startswith("node3: Synced")


@pytest.mark.integration
def test_node_that_does_not_come_back_stops_the_run(cluster: GaleraCluster, tmp_path: Path) -> None:
    """node2's start command "succeeds" but its mariadbd cannot load Galera and exits."""
    inventory = write_inventory(
        cluster,
        tmp_path / "hosts.yml",
        start_extra={"node2": ["--wsrep-provider=/nonexistent/libgalera_smm.so"]},
    )
    before = pids(cluster)
    started = time.monotonic()
    run = run_rolling(
        RollingTarget(inventory=inventory),
        RollingOptions(sync_timeout=8, poll_interval=POLL),
        check=False,
    )
    took = time.monotonic() - started
    assert not run.ok
    node1, node2, node3 = run.nodes
    assert node1.result == "restarted"
    assert (node2.result, node2.stopped is not None, node2.synced) == ("failed", True, None)
    assert node3.result == "untouched" and node3.stopped is None
    assert run.error == node2.error
    assert run.error is not None
    assert run.error.startswith("node2 did not come back: not Synced in a cluster of 3 within 8 s")
    assert "Can't connect" in run.error and "remaining nodes were not touched" in run.error
    # node3 is untouched: the same process, still Synced, with node1 in a cluster of 2.
    after = pids(cluster)
    assert after["node3"] == before["node3"] and after["node2"] is None
    assert after["node1"] not in (None, before["node1"])
    cluster.wait_synced(cluster.nodes[2], 2, timeout=10)
    assert took < 90


@pytest.mark.integration
def test_unhealthy_cluster_is_refused_before_any_node(
    cluster: GaleraCluster, tmp_path: Path
) -> None:
    stop_node(cluster.nodes[2])
    assert node_pid(cluster.nodes[2]) is None
    before = pids(cluster)
    report = galera_rolling(
        RollingTarget(inventory=write_inventory(cluster, tmp_path / "hosts.yml")),
        RollingOptions(extravars={"galera_precheck_timeout": 1}, poll_interval=POLL),
        execute=True,
    )
    assert not report.ok and not report.executed
    (run,) = report.runs
    assert [n.result for n in run.nodes] == ["failed", "untouched", "untouched"]
    assert run.error is not None
    assert run.error.startswith("cluster not healthy before node1 was touched")
    assert "node1 Synced, Primary, size 2" in run.error
    assert "node3 unreachable: ERROR 2002" in run.error
    assert pids(cluster) == before


@pytest.mark.integration
def test_upgrade_mode_runs_the_package_step_while_the_node_is_down(
    cluster: GaleraCluster, tmp_path: Path
) -> None:
    """The package step is a hook: here a command that records whether the node answers."""
    marker = tmp_path / "upgraded"
    hook = (
        "if {{ galera_mysql_cmd }} -e 'SELECT 1' >/dev/null 2>&1; "
        f"then echo '{{{{ inventory_hostname }}}} up' >> {marker}; "
        f"else echo '{{{{ inventory_hostname }}}} down' >> {marker}; fi"
    )
    run = run_rolling(
        RollingTarget(inventory=write_inventory(cluster, tmp_path / "hosts.yml")),
        RollingOptions(mode="upgrade", extravars={"galera_upgrade_cmd": hook}, poll_interval=POLL),
        check=False,
    )
    assert run.ok, run.error
    assert [n.result for n in run.nodes] == ["upgraded"] * 3
    assert marker.read_text().splitlines() == ["node1 down", "node2 down", "node3 down"]


@pytest.mark.integration
def test_dry_run_over_ssh(cluster: GaleraCluster, sshd: dict[str, Any], tmp_path: Path) -> None:
    """The production connection: every node reached over SSH, the pre-check of each node
    delegated over SSH to every other node."""
    before = pids(cluster)
    run = run_rolling(
        RollingTarget(inventory=write_inventory(cluster, tmp_path / "hosts.yml", connection=sshd)),
        RollingOptions(poll_interval=POLL),
        check=True,
    )
    assert run.ok, run.error
    assert [n.result for n in run.nodes] == ["checked"] * 3
    assert pids(cluster) == before
