"""The purge against the real testcloud: a seeded project of 200+ resources purged
through the CLI, interrupted twice (SIGINT, then SIGKILL) and finished by a third run,
proved through the APIs to leave nothing of it and everything of its neighbour; the
same seed through openstacksdk's project_cleanup, and what that leaves; orphans of a
project deleted straight in Keystone."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testcloud_support import RunningTestCloud

from stacktender.purge.audit import Ledger
from stacktender.purge.testing import Seeded, discard, inventory, remaining, seed_pair
from stacktender.store.db import Store

pytestmark = [pytest.mark.testcloud, pytest.mark.integration]


class Cli:
    """The real ``stacktender`` console script against the testcloud, with a store of
    its own (SQLite in the test's directory)."""

    def __init__(self, testcloud: RunningTestCloud, tmp_path: Path) -> None:
        self.db = tmp_path / "store.db"
        self.config = tmp_path / "stacktender.yaml"
        self.config.write_text(f"store: sqlite:///{self.db}\n")
        self.env = {**os.environ, **testcloud.env, "OS_CLOUD": testcloud.admin_cloud}

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "stacktender.cli.main", "--config", str(self.config), *args]

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), capture_output=True, text=True, timeout=timeout, env=self.env,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=self.env, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def runs(self, project_id: str | None = None) -> list[dict[str, Any]]:
        with Store.open(f"sqlite:///{self.db}") as store:
            return Ledger(store).runs(project_id)


def _outcomes(cli: Cli) -> int:
    """Deletions with an outcome so far (not the rows written ahead), in every run."""
    if not cli.db.exists():
        return 0
    try:
        with sqlite3.connect(cli.db, timeout=5) as db:
            query = "SELECT count(*) FROM purge_actions WHERE outcome != 'requested'"
            return int(db.execute(query).fetchone()[0])
    except sqlite3.Error:  # the purge is still creating the store
        return 0


def _interrupt_after(cli: Cli, args: list[str], actions: int, sig: int) -> str:
    """Start a purge; send sig once it has ended more than actions more deletions."""
    already = _outcomes(cli)
    proc = cli.start(*args)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the purge ended before it was interrupted: {proc.returncode} {err}")
        if _outcomes(cli) > already + actions:
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=120)
            return err
        time.sleep(0.2)
    proc.kill()
    pytest.fail("the purge recorded too few deletions in 300s")


@pytest.fixture
def seeded(testcloud: RunningTestCloud, request: pytest.FixtureRequest) -> Iterator[Seeded]:
    """A freshly seeded project pair, discarded afterwards (the testcloud is shared)."""
    pair = seed_pair(testcloud.settings, request.param)
    try:
        yield pair
    finally:
        discard(testcloud.settings, pair.project, pair.neighbour)


def _neighbour_view(ids: dict[str, set[str]]) -> dict[str, set[str]]:
    # the neighbour's memberships were of the purged project's images: they go with them
    return {k: v for k, v in ids.items() if k != "image_member"}


@pytest.mark.timeout(900)  # seeding ~1 min, three purge runs, on a loaded machine
@pytest.mark.parametrize("seeded", ["purge-test"], indirect=True)
def test_purge_project_interrupted_twice_then_finished(
    testcloud: RunningTestCloud, seeded: Seeded, tmp_path: Path
) -> None:
    project = seeded.project
    admin = testcloud.connect()
    assert seeded.total >= 200
    before = inventory(admin, project.id)
    assert sum(len(v) for v in before.values()) >= 200
    server_ports = {
        p.id for p in admin.network.ports(project_id=project.id)
        if p.device_owner.startswith("compute:")
    }  # fmt: skip
    cli = Cli(testcloud, tmp_path)

    dry = cli.run("purge", "project", project.name)
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert lines[0] == f"project {project.name} ({project.id}, disabled): {seeded.total} to delete"
    assert any(line.startswith("│   ├── server (4, wave ") for line in lines)
    assert "| Wave | Service" in dry.stdout  # the table follows the tree
    assert "skipped: container: no object-store service in the catalog" in dry.stdout
    assert "dry run: nothing deleted" in dry.stderr
    as_json = json.loads(cli.run("purge", "project", project.id, "-f", "json").stdout)
    counts = as_json["counts"]
    assert sum(counts.values()) == seeded.total
    assert counts["port"] + counts["unattached_port"] == seeded.created["port"]
    for kind in ("server", "volume", "snapshot", "router_gateway", "router_interface", "image"):
        assert counts[kind] == seeded.created[kind], kind
    assert inventory(admin, project.id) == before  # the dry runs deleted nothing

    execute = ["purge", "project", project.name, "--execute"]
    err = _interrupt_after(cli, execute, 20, signal.SIGINT)
    assert "interrupted: run the same command again" in err
    _interrupt_after(cli, execute, 40, signal.SIGKILL)
    first, second = sorted(cli.runs(project.id), key=lambda r: r["id"])
    assert first["status"] == "interrupted"  # written by the process itself on SIGINT
    assert second["status"] == "running"  # SIGKILL: nobody could say otherwise

    last = cli.run("purge", "project", project.name, "--execute", "-f", "json")
    assert last.returncode == 0, last.stderr
    report = json.loads(last.stdout)
    assert report["resumes"] == second["id"]
    assert {r["outcome"] for r in report["resources"]} <= {"deleted", "gone"}
    runs = {r["id"]: r for r in cli.runs(project.id)}
    assert [runs[i]["status"] for i in sorted(runs)] == ["interrupted", "interrupted", "finished"]

    # nothing of it remains, through the APIs
    assert remaining(admin, project.id) == {}
    # every seeded resource has an audit row saying it went, over the three runs (but
    # a server's ports, which nova may delete before a later run lists them)
    audit = json.loads(cli.run("purge", "audit", "--project", project.id, "-f", "json").stdout)
    went = {a["resource_id"] for a in audit if a["outcome"] in ("requested", "deleted", "gone")}
    for kind, ids in before.items():
        assert ids - server_ports <= went, kind
    # and its neighbour, with same-named resources and the shared network, is untouched
    after = inventory(admin, seeded.neighbour.id)
    assert _neighbour_view(after) == _neighbour_view(seeded.neighbour_ids)
    assert seeded.shared_network in after["network"]
    assert admin.image.get_image(seeded.shared_image).status == "active"
    assert [m.member_id for m in admin.image.members(seeded.shared_image)] == []


@pytest.mark.timeout(900)
@pytest.mark.parametrize("seeded", ["purge-baseline"], indirect=True)
def test_openstacksdk_project_cleanup_baseline_leaves_shared_net_ports_and_memberships(
    testcloud: RunningTestCloud, seeded: Seeded
) -> None:
    """What the baseline leaves on the same seed, as a fact: the project's ports on
    another project's shared network, and its membership of another project's image."""
    admin = testcloud.connect()
    shared_ports = {
        p.id for p in admin.network.ports(project_id=seeded.project.id)
        if p.network_id == seeded.shared_network
    }  # fmt: skip
    assert len(shared_ports) == 10
    # project_cleanup needs credentials scoped to the project: it must be enabled again
    admin.identity.update_project(seeded.project, is_enabled=True)
    conn = testcloud.connect(project=seeded.project.name)
    try:
        conn.project_cleanup(dry_run=False, wait_timeout=600)
    finally:
        conn.close()
    left = remaining(admin, seeded.project.id)
    assert left == {
        "port": shared_ports,
        "image_member": {f"{seeded.shared_image}/{seeded.project.id}"},
    }
    after = inventory(admin, seeded.neighbour.id)
    assert _neighbour_view(after) == _neighbour_view(seeded.neighbour_ids)
    admin.identity.update_project(seeded.project, is_enabled=False)


def _orphan(testcloud: RunningTestCloud) -> tuple[str, dict[str, set[str]]]:
    """A project with a few resources, then deleted straight in Keystone."""
    admin = testcloud.connect()
    name = f"purge-orphan-{uuid.uuid4().hex[:8]}"
    project = admin.identity.create_project(name=name, domain_id="default")
    admin.identity.assign_project_role_to_user(
        project,
        admin.identity.find_user("admin", domain_id="default"),
        admin.identity.find_role("member"),
    )
    conn: Any = testcloud.connect(project=name)
    try:
        net = conn.network.create_network(name="orphan-net")
        conn.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.55.0.0/24")
        for i in range(3):
            conn.network.create_port(name=f"orphan-port-{i}", network_id=net.id)
        conn.network.create_security_group(name="orphan-sg")
        conn.compute.create_server_group(name="orphan-group", policies=["affinity"])
        volume = conn.block_storage.create_volume(name="orphan-vol", size=1)
        conn.block_storage.wait_for_status(volume, "available", wait=120)
    finally:
        conn.close()
    owned = remaining(admin, project.id)
    admin.identity.delete_project(project)
    return project.id, owned


def test_orphans_of_a_project_deleted_in_keystone(
    testcloud: RunningTestCloud, tmp_path: Path
) -> None:
    project_id, owned = _orphan(testcloud)
    assert sum(len(v) for v in owned.values()) == 8  # net, subnet, 3 ports, sg, group, volume
    cli = Cli(testcloud, tmp_path)
    listed = cli.run("purge", "orphans", "-f", "json")
    assert listed.returncode == 0, listed.stderr
    plan = json.loads(listed.stdout)
    mine = {r["id"] for r in plan["resources"] if r["project_id"] == project_id}
    assert {i for ids in owned.values() for i in ids} <= mine
    assert any(p["id"] == project_id and not p["exists"] for p in plan["projects"])

    gone = cli.run("purge", "orphans", "--project", project_id, "--execute", "-f", "json")
    assert gone.returncode == 0, gone.stderr
    assert remaining(testcloud.connect(), project_id) == {}
    (run,) = cli.runs()
    assert run["kind"] == "orphans" and run["status"] == "finished"
