"""``stacktender upgrade galera-rolling`` (stacktender/cli/upgrade_galera.py): the real
console script, its dry run against the loopback three-node Galera cluster, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "checks"))
sys.path.insert(0, str(Path(__file__).parents[1] / "upgrade"))

from galera_cluster import GaleraCluster, galera_cluster
from test_galera_rolling import pids, stop_strays, write_inventory

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def cluster() -> Iterator[GaleraCluster]:
    with galera_cluster(size=3) as started:
        try:
            yield started
        finally:
            stop_strays(started)


def test_help_has_examples(cli_run: Run) -> None:
    proc = cli_run("upgrade", "galera-rolling", "--help")
    assert proc.returncode == 0
    assert "stacktender upgrade galera-rolling --hosts db1,db2,db3" in proc.stdout
    assert "--execute" in proc.stdout and "--mode [restart|upgrade]" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give exactly one of an inventory file and a list of hosts"),
        (("--hosts", "a,b", "-i", "x.ini"), "give exactly one of"),
        (("--hosts", "a,b", "--check", "--execute"), "--check (dry run only) and --execute"),
        (("--inventory", "/nonexistent/hosts.ini"), "cannot read inventory /nonexistent/hosts.ini"),
        (("--hosts", "a", "-e", "novalue"), "-e wants KEY=VALUE"),
        (("--hosts", "a,,b"), "bad host name(s): ''"),
        (("--hosts", "a", "-e", "galera_mode=upgrade"), "galera_mode with its own option"),
    ],
)
def test_bad_input_is_one_line_error(cli_run: Run, args: tuple[str, ...], message: str) -> None:
    proc = cli_run("upgrade", "galera-rolling", *args)
    assert proc.returncode == 1
    assert proc.stderr.startswith("stacktender: error: ")
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_unknown_mode_is_refused(cli_run: Run) -> None:
    proc = cli_run("upgrade", "galera-rolling", "--hosts", "a", "--mode", "reboot")
    assert proc.returncode == 2 and "'reboot' is not one of 'restart', 'upgrade'" in proc.stderr


@pytest.mark.integration
def test_default_is_a_dry_run_that_touches_nothing(
    cli_run: Run, cluster: GaleraCluster, tmp_path: Path
) -> None:
    inventory = write_inventory(cluster, tmp_path / "hosts.yml")
    before = pids(cluster)
    proc = cli_run(
        "upgrade", "galera-rolling", "-i", str(inventory), "-f", "json", "-e",
        "galera_poll_interval=0.5", timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [(r["phase"], r["node"], r["result"]) for r in rows] == [
        ("check", "node1", "checked"),
        ("check", "node2", "checked"),
        ("check", "node3", "checked"),
    ]
    assert all(r["stopped"] is None and r["error"] is None for r in rows)
    assert "nothing was changed; add --execute to restart node1, node2, node3" in proc.stderr
    assert "node2: checked (cluster healthy; would restart)" in proc.stderr
    assert pids(cluster) == before and None not in before.values()


@pytest.mark.integration
def test_failed_dry_run_is_an_error_after_the_table(
    cli_run: Run, cluster: GaleraCluster, tmp_path: Path
) -> None:
    """Expecting four nodes of a three-node cluster: the pre-check of node1 fails."""
    inventory = write_inventory(cluster, tmp_path / "hosts.yml")
    before = pids(cluster)
    proc = cli_run(
        "upgrade", "galera-rolling", "-i", str(inventory), "--expected-size", "4", "--execute",
        "-e", "galera_precheck_timeout=1", "-e", "galera_poll_interval=0.5", timeout=180,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "node1" in proc.stdout and "failed" in proc.stdout and "untouched" in proc.stdout
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("stacktender: error: check failed: cluster not healthy before node1")
    assert "node2 Synced, Primary, size 3" in error
    assert pids(cluster) == before
