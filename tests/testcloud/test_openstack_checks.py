"""The OpenStack checks against the real test cloud, including a stopped nova-compute."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from testcloud_support import RunningTestCloud

from stacktender.app import App
from stacktender.results import CheckResult, Status

pytestmark = pytest.mark.testcloud

CLOUD_CHECKS = [
    "openstack-keystone",
    "openstack-endpoints",
    "openstack-nova-services",
    "openstack-cinder-services",
    "openstack-neutron-agents",
    "openstack-placement",
    "openstack-hypervisors",
]


@pytest.fixture
def cloud_app(
    testcloud: RunningTestCloud, make_app: Callable[..., App], monkeypatch: pytest.MonkeyPatch
) -> App:
    for key, value in testcloud.env.items():
        monkeypatch.setenv(key, value)
    return make_app(f"os_cloud: {testcloud.admin_cloud}\ntimeout: 30\n")


def run(app: App, name: str, **overrides: Any) -> CheckResult:
    return app.run(app.instance(name, **overrides))


@pytest.mark.parametrize("name", CLOUD_CHECKS)
def test_check_is_ok_on_a_healthy_cloud(cloud_app: App, name: str) -> None:
    result = run(cloud_app, name)
    assert result.status is Status.OK, f"{result.summary} {result.details}"
    assert result.target == "openstack://testcloud-admin"


def test_service_lists_count_the_real_services(cloud_app: App) -> None:
    nova = run(cloud_app, "openstack-nova-services")
    total = next(p.value for p in nova.perfdata if p.label == "total")
    assert total >= 3  # conductor, scheduler, at least one compute
    cinder = run(cloud_app, "openstack-cinder-services")
    assert next(p.value for p in cinder.perfdata if p.label == "total") >= 2


def test_keystone_latency_threshold(cloud_app: App) -> None:
    result = run(cloud_app, "openstack-keystone", critical={"latency": "0.001"})
    assert result.status is Status.CRITICAL
    assert result.perfdata[0].label == "latency" and result.perfdata[0].value > 0


def test_wrong_password_is_critical(
    testcloud: RunningTestCloud, cli_run: Callable[..., Any], tmp_path: Any
) -> None:
    import yaml

    # openstacksdk reads OS_CLIENT_CONFIG_FILE when first imported: use a fresh process.
    clouds = yaml.safe_load(testcloud.clouds_yaml.read_text())
    entry = clouds["clouds"][testcloud.demo_cloud]
    entry["auth"]["password"] = "wrong-Pa55"
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {"bad": entry}}))
    proc = cli_run(
        "--os-cloud", "bad", "check", "openstack-keystone", env={"OS_CLIENT_CONFIG_FILE": str(path)}
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout.startswith("OPENSTACK-KEYSTONE CRITICAL - keystone of cloud bad: ")
    assert "wrong-Pa55" not in proc.stdout + proc.stderr


def test_nova_versions_from_the_cell_database(cloud_app: App, testcloud: RunningTestCloud) -> None:
    settings = testcloud.settings
    cell = next(
        db for dbs in settings.database_names().values() for db in dbs if db.endswith("nova_cell1")
    )
    result = run(cloud_app, "openstack-nova-versions", url=settings.database_url(cell))
    assert result.status is Status.OK, result.summary
    assert "skew 0" in result.summary


def test_demo_user_gets_unknown_not_critical_for_admin_apis(
    testcloud: RunningTestCloud, cloud_app: App
) -> None:
    result = run(cloud_app, "openstack-nova-services", url=f"openstack://{testcloud.demo_cloud}")
    assert result.status is Status.UNKNOWN
    assert "admin" in result.summary


def wait_for(app: App, name: str, status: Status, timeout: float) -> CheckResult:
    deadline = time.monotonic() + timeout
    while True:
        result = run(app, name)
        if result.status is status or time.monotonic() > deadline:
            return result
        time.sleep(2)


def test_stopped_compute_goes_critical_and_back(
    cloud_app: App, testcloud: RunningTestCloud
) -> None:
    compute = next(
        s.service for s in testcloud.cloud.status() if s.service.startswith("nova-compute")
    )
    testcloud.cloud.down([compute])
    try:
        down = wait_for(cloud_app, "openstack-nova-services", Status.CRITICAL, timeout=120)
        assert down.status is Status.CRITICAL, down.summary
        assert any(d.startswith("DOWN nova-compute on ") for d in down.details)
        hypervisors = run(cloud_app, "openstack-hypervisors")
        assert hypervisors.status is Status.CRITICAL, hypervisors.summary
    finally:
        testcloud.cloud.up()
    back = wait_for(cloud_app, "openstack-nova-services", Status.OK, timeout=120)
    assert back.status is Status.OK, back.summary


def test_cli_with_os_cloud(testcloud: RunningTestCloud, cli_run: Callable[..., Any]) -> None:
    proc = cli_run(
        "--os-cloud", testcloud.admin_cloud, "check", "openstack-keystone", env=testcloud.env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("OPENSTACK-KEYSTONE OK - token issued in ")
