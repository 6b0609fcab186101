"""OpenStack checks: evaluation rules on hand-built data shaped like the APIs' answers.

The integration tests against the real test cloud are in tests/testcloud/test_openstack_checks.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from stacktender.checks import openstack as osc
from stacktender.checks.base import CheckContext, Target
from stacktender.results import Status, Thresholds


def ctx_for(name: str, **options: Any) -> CheckContext:
    check = next(c for c in osc.CHECKS if c.name == name)
    return CheckContext(
        check=check,
        target=Target(check.default_url),
        thresholds=Thresholds(check.thresholds),
        options=options,
        timeout=5,
    )


def services(*specs: tuple[str, str, bool, bool, bool]) -> osc.ServiceList:
    return osc.ServiceList(
        "nova service",
        [osc.ServiceState(b, h, up, enabled, forced) for b, h, up, enabled, forced in specs],
    )


def test_services_all_up_is_ok() -> None:
    data = services(
        ("nova-compute", "c1", True, True, False), ("nova-scheduler", "ctl", True, True, False)
    )
    out = osc.evaluate_services(data, ctx_for("openstack-nova-services"))
    assert out.status is Status.OK
    assert out.summary.startswith("2 nova services, 0 down")


def test_enabled_service_down_is_critical_and_named() -> None:
    data = services(
        ("nova-compute", "c1", False, True, False), ("nova-compute", "c2", True, True, False)
    )
    out = osc.evaluate_services(data, ctx_for("openstack-nova-services"))
    assert out.status is Status.CRITICAL
    assert "nova-compute@c1" in out.summary
    assert out.details == ["DOWN nova-compute on c1"]


def test_disabled_down_is_not_an_outage_but_forced_down_warns() -> None:
    data = services(("nova-compute", "c1", False, False, False))
    assert osc.evaluate_services(data, ctx_for("openstack-nova-services")).status is Status.OK
    data = services(("nova-compute", "c1", False, True, True))
    assert osc.evaluate_services(data, ctx_for("openstack-nova-services")).status is Status.WARNING


def test_endpoints() -> None:
    probes = [
        osc.EndpointProbe("nova", "public", "http://x/", None),
        osc.EndpointProbe("glance", "internal", "http://y/", "connection refused"),
    ]
    out = osc.evaluate_endpoints(probes, ctx_for("openstack-endpoints"))
    assert out.status is Status.CRITICAL and "glance/internal" in out.summary
    assert osc.evaluate_endpoints(probes[:1], ctx_for("openstack-endpoints")).status is Status.OK
    assert osc.evaluate_endpoints([], ctx_for("openstack-endpoints")).status is Status.UNKNOWN


@pytest.fixture
def inventory() -> osc.ComputeInventory:
    return osc.ComputeInventory(
        compute_hosts={"c1": True, "c2": True},
        hypervisors={"c1-node": ("c1", "up", "enabled"), "c2-node": ("c2", "up", "enabled")},
        providers={"c1-node", "c2-node"},
        aggregates={"az1": ["c1", "c2"]},
    )


def test_placement_consistent(inventory: osc.ComputeInventory) -> None:
    assert osc.evaluate_placement(inventory, ctx_for("openstack-placement")).status is Status.OK


def test_placement_missing_provider_is_critical(inventory: osc.ComputeInventory) -> None:
    inventory.providers.discard("c2-node")
    inventory.providers.add("old-node")
    out = osc.evaluate_placement(inventory, ctx_for("openstack-placement"))
    assert out.status is Status.CRITICAL
    assert "hypervisor c2-node has no resource provider in placement" in out.details
    assert "resource provider old-node matches no hypervisor" in out.details


def test_placement_undiscovered_host(inventory: osc.ComputeInventory) -> None:
    inventory.compute_hosts["c3"] = True
    out = osc.evaluate_placement(inventory, ctx_for("openstack-placement"))
    assert out.status is Status.CRITICAL
    assert "compute host c3 has no hypervisor (not discovered?)" in out.details


def test_hypervisors_and_aggregates(inventory: osc.ComputeInventory) -> None:
    assert osc.evaluate_hypervisors(inventory, ctx_for("openstack-hypervisors")).status is Status.OK
    inventory.aggregates["az2"] = ["gone-host"]
    out = osc.evaluate_hypervisors(inventory, ctx_for("openstack-hypervisors"))
    assert out.status is Status.WARNING and "az2:gone-host" in out.details[0]
    inventory.hypervisors["c2-node"] = ("c2", "down", "enabled")
    assert (
        osc.evaluate_hypervisors(inventory, ctx_for("openstack-hypervisors")).status
        is Status.CRITICAL
    )


def test_version_skew() -> None:
    ctx = ctx_for("openstack-nova-versions")
    same = osc.ServiceVersions([("nova-compute", "c1", 66), ("nova-conductor", "ctl", 66)])
    assert osc.evaluate_versions(same, ctx).status is Status.OK
    skewed = osc.ServiceVersions([("nova-compute", "c1", 61), ("nova-conductor", "ctl", 66)])
    out = osc.evaluate_versions(skewed, ctx)
    assert out.status is Status.WARNING and "skew 5" in out.summary
    assert out.details == ["behind the newest (66): nova-compute@c1=61"]


def test_cloud_name_keeps_case_and_os_cloud_fills_default(make_app: Any) -> None:
    app = make_app("os_cloud: MyCloud\n")
    inst = app.instance("openstack-keystone")
    assert inst.target.url == "openstack://MyCloud"
    assert (
        osc.cloud_name(CheckContext(inst.check, inst.target, inst.thresholds, {}, 1)) == "MyCloud"
    )
    other = app.instance("openstack-keystone", url="openstack://Other")
    assert other.target.url == "openstack://Other"


def test_missing_cloud_is_unknown(make_app: Any) -> None:
    app = make_app()
    result = app.run(app.instance("openstack-keystone", url="openstack://no-such-cloud"))
    assert result.status is Status.UNKNOWN
    assert "no-such-cloud" in result.summary
