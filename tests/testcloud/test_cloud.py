"""The running testcloud: APIs, seeded data, status, a killed process, a taken port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from testcloud_support import RunningTestCloud

from stacktender.testcloud import PortInUse, ServiceFailed
from stacktender.testcloud.process import read_pidfile

pytestmark = pytest.mark.testcloud

OPENSTACK = str(Path(sys.executable).parent / "openstack")


def test_token_issue_with_openstacksdk(testcloud: RunningTestCloud) -> None:
    conn = testcloud.connect()
    token = conn.authorize()
    assert len(token) > 20
    demo = testcloud.connect("demo")
    assert demo.current_project.name == "demo"


def test_openstack_client_lists_the_seeded_servers(testcloud: RunningTestCloud) -> None:
    cmd = [OPENSTACK, "--os-cloud", testcloud.admin_cloud, "server", "list", "--all-projects"]
    out = subprocess.run(
        [*cmd, "-f", "json"],
        capture_output=True,
        text=True,
        env={**os.environ, **testcloud.env},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    names = {s["Name"]: s["Status"] for s in json.loads(out.stdout)}
    for project in ("demo", "acme", "globex"):
        assert names[f"{project}-web-1"] == "ACTIVE"
        assert names[f"{project}-db-1"] == "ACTIVE"


def test_seeded_server_is_active_on_a_bound_port_with_a_volume(
    testcloud: RunningTestCloud,
) -> None:
    conn = testcloud.connect("demo")
    server = conn.compute.find_server("demo-web-1")
    assert server.status == "ACTIVE"
    ports = list(conn.network.ports(device_id=server.id))
    assert len(ports) == 1
    admin = testcloud.connect()
    port = admin.network.get_port(ports[0].id)
    assert port.binding_host_id.startswith("tc-compute-")
    assert port.binding_vif_type == "ovs"  # bound by neutron's openvswitch mechanism driver
    deadline = time.monotonic() + 30
    while port.status != "ACTIVE" and time.monotonic() < deadline:
        time.sleep(1)
        port = admin.network.get_port(port.id)
    assert port.status == "ACTIVE"
    attachments = list(conn.compute.volume_attachments(server))
    assert len(attachments) == 1
    volume = conn.block_storage.get_volume(attachments[0].volume_id)
    assert volume.status == "in-use"
    assert list(conn.network.ips(port_id=port.id)), "a floating IP on the web server"


def test_status_shows_every_service_up_with_memory(testcloud: RunningTestCloud) -> None:
    rows = testcloud.cloud.status()
    assert {r.service for r in rows} >= {"keystone", "nova-api", "nova-compute", "cinder-volume"}
    assert all(r.state == "up" for r in rows), [r for r in rows if r.state != "up"]
    assert all(r.pid and r.rss_mb > 20 for r in rows)
    assert sum(r.pss_mb for r in rows) < 4000


def test_status_cli_json(testcloud: RunningTestCloud, cli_run) -> None:  # type: ignore[no-untyped-def]
    out = cli_run(
        "testcloud",
        "status",
        "-f",
        "json",
        env={"STACKTENDER_TESTCLOUD_DIR": str(testcloud.settings.state_dir)},
    )
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert {r["service"] for r in rows} >= {"keystone", "glance-api"}
    assert {r["state"] for r in rows} == {"up"}


def test_killed_process_shows_down_a_taken_port_is_named_and_up_repairs(
    testcloud: RunningTestCloud,
) -> None:
    cloud, settings = testcloud.cloud, testcloud.settings
    proc = read_pidfile(settings.run / "glance-api.pid")
    assert proc is not None and proc.alive()
    os.killpg(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while proc.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        glance = next(r for r in cloud.status() if r.service == "glance-api")
        assert glance.state == "down" and glance.pid is None

        port = settings.url("glance-api").rsplit(":", 1)[1]
        with socket.socket() as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", int(port)))
            squatter.listen(1)
            with pytest.raises(PortInUse) as err:
                cloud.up()
        message = str(err.value)
        assert message.startswith(f"glance-api: port 127.0.0.1:{port} is already in use")
        assert str(settings.logs / "glance-api.log") in message
        assert "\n" not in message
    finally:
        result = cloud.up()
    assert result.started == ["glance-api"]
    assert all(r.state == "up" for r in cloud.status())


def test_service_failing_to_start_names_its_log_and_up_repairs(
    testcloud: RunningTestCloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud = testcloud.cloud
    cloud.down(["glance-api"])
    # Every Python process started from now on dies at startup: only glance-api starts.
    (tmp_path / "sitecustomize.py").write_text(
        "raise SystemExit('ImportError: simulated broken glance install')\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    try:
        with pytest.raises(ServiceFailed) as err:
            cloud.up()
        message = str(err.value)
        assert message.startswith("glance-api: exited during start: ")
        assert "simulated broken glance install" in message
        assert message.endswith(f"read {testcloud.settings.logs / 'glance-api.console.log'}")
    finally:
        monkeypatch.delenv("PYTHONPATH")
        cloud.up()
    assert all(r.state == "up" for r in cloud.status())


def test_up_on_a_healthy_cloud_is_a_quick_no_op(testcloud: RunningTestCloud) -> None:
    began = time.monotonic()
    result = testcloud.cloud.up()
    assert result.already_running
    assert time.monotonic() - began < 15
