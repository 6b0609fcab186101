"""The openstack-upgrade-check check: evaluation rules, and the real *-status tools of
the testcloud's venv run through the check runner."""

from __future__ import annotations

from typing import Any

import pytest
from testcloud_support import RunningTestCloud

from stacktender.checks import upgrade
from stacktender.checks.base import CheckContext, Target
from stacktender.checks.runner import resolve_instance, run_instance
from stacktender.config import Config
from stacktender.plugins import make_plugin_manager
from stacktender.results import Status, Thresholds
from stacktender.upgrade.prechecks import StatusReport, UpgradeCheck


def ctx(warning: dict[str, str] | None = None, **options: Any) -> CheckContext:
    return CheckContext(
        check=upgrade.CHECK,
        target=Target(upgrade.CHECK.default_url),
        thresholds=Thresholds(upgrade.CHECK.thresholds, warning),
        options=options,
        timeout=5,
    )


def report(*results: tuple[str, str]) -> StatusReport:
    return StatusReport(
        "nova", ["nova-status"], 0, [UpgradeCheck(n, r, f"about {n}") for n, r in results], "", 1.5
    )


def test_all_success_is_ok_with_one_detail_per_check() -> None:
    out = upgrade.evaluate(report(("Cells v2", "Success"), ("Placement API", "Success")), ctx())
    assert out.status is Status.OK
    assert out.summary == "nova-status upgrade check: 2 checks, 0 failures, 0 warnings (1.5s)"
    assert out.details == [
        "Success: Cells v2: about Cells v2",
        "Success: Placement API: about Placement API",
    ]
    assert {p.label: p.value for p in out.perfdata}["checks"] == 2


def test_failure_is_critical_and_named() -> None:
    out = upgrade.evaluate(report(("A", "Warning"), ("B", "Failure")), ctx())
    assert out.status is Status.CRITICAL
    assert out.summary.endswith(": B, A")


def test_warning_is_warning_unless_thresholds_or_ignore_say_otherwise() -> None:
    data = report(("hw_machine_type unset", "Warning"), ("Cells v2", "Success"))
    assert upgrade.evaluate(data, ctx()).status is Status.WARNING
    assert upgrade.evaluate(data, ctx({"warnings": "1"})).status is Status.OK
    ignored = upgrade.evaluate(data, ctx(ignore="^hw_machine"))
    assert ignored.status is Status.OK
    assert ignored.details[-1] == "1 checks ignored by option ignore"


def test_tool_without_results_is_unknown() -> None:
    bad = StatusReport("glance", ["glance-status"], 255, [], "glance-status exited 255: boom")
    out = upgrade.evaluate(bad, ctx())
    assert out.status is Status.UNKNOWN
    assert out.summary == "glance-status upgrade check: glance-status exited 255: boom"


def test_the_check_is_a_registered_plugin() -> None:
    pm = make_plugin_manager()
    names = {c.name for checks in pm.hook.stacktender_checks() for c in checks}
    assert "openstack-upgrade-check" in names


def _run(url: str, timeout: float = 120, **options: Any) -> Any:
    instance = resolve_instance(upgrade.CHECK, Config(), url=url, options=options, timeout=timeout)
    return run_instance(instance)


@pytest.mark.integration
@pytest.mark.testcloud
def test_real_tools_through_the_runner(testcloud: RunningTestCloud) -> None:
    settings = testcloud.settings
    venv = f"file://{settings.venv}"
    placement = _run(
        venv, service="placement", config=str(settings.etc / "placement/placement.conf")
    )
    assert placement.status is Status.OK, placement
    assert "Success: Incomplete Consumers" in placement.details
    nova = _run(venv, service="nova", config=str(settings.etc / "nova/nova-manage.conf"))
    assert nova.status in (Status.OK, Status.WARNING), nova
    assert "Success: Cells v2" in nova.details
    # the nova testcloud has no libvirt: nova's own advice is to ignore this warning
    quiet = _run(
        venv,
        service="nova",
        config=str(settings.etc / "nova/nova-manage.conf"),
        ignore="hw_machine_type",
    )
    assert quiet.status is Status.OK, quiet


@pytest.mark.integration
@pytest.mark.testcloud
def test_misconfigured_check_is_unknown(testcloud: RunningTestCloud, tmp_path: Any) -> None:
    assert _run(f"file://{testcloud.settings.venv}", service="swift").status is Status.UNKNOWN
    missing = _run(f"file://{tmp_path}", service="nova")
    assert missing.status is Status.UNKNOWN
    assert "nova-status does not exist" in missing.summary
    # a tool that cannot finish in the check's time: the hard timeout decides, never a hang
    slow = _run(
        f"file://{testcloud.settings.venv}",
        timeout=1,
        service="neutron",
        config=str(testcloud.settings.etc / "neutron/neutron-manage.conf"),
    )
    assert slow.status is Status.CRITICAL
    assert slow.duration < 5
