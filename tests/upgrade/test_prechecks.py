"""Pre-checks: parsing the tools' tables and JSON, running them, and the real tools of the
testcloud's venv against its config files."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from testcloud_support import RunningTestCloud

from stacktender.errors import ConfigError, ServiceUnreachable
from stacktender.results import Status
from stacktender.upgrade import prechecks
from stacktender.upgrade.prechecks import PrecheckSpec, UpgradeCheck

# nova-status's own table (nova 34.0.0 on the testcloud), a wrapped Details cell included
NOVA_TABLE = """\
+---------------------------------------------------------------------+
| Upgrade Check Results                                               |
+---------------------------------------------------------------------+
| Check: Cells v2                                                     |
| Result: Success                                                     |
| Details: None                                                       |
+---------------------------------------------------------------------+
| Check: hw_machine_type unset                                        |
| Result: Warning                                                     |
| Details:  Instances found without hw_machine_type set. This warning |
|   can be ignored if your environment does not contain               |
|   https://docs.openstack.org/nova/latest/admin/hw-machine-          |
|   type.html                                                         |
+---------------------------------------------------------------------+
| Check: Older than N-1 computes                                      |
| Result: Failure                                                     |
| Details: Current Nova version does not support computes older than  |
|   Antelope but the minimum compute service level in your system is  |
|   61.                                                               |
+---------------------------------------------------------------------+
"""

# cinder-status --json (one line on stdout, after warnings the services print themselves)
CINDER_JSON = (
    "some warning line\n"
    '{"name": "Upgrade Check Results", "checks": [{"check": "Backup Driver Path", '
    '"result": 0, "details": null}, {"check": "Use of Policy File", "result": 1, '
    '"details": "Cannot locate   your cinder configuration directory."}, '
    '{"check": "Removed Drivers", "result": 2, "details": "x"}]}\n'
)


def test_table_is_parsed_with_wrapped_details() -> None:
    checks = prechecks.parse_output(NOVA_TABLE)
    assert [(c.name, c.result) for c in checks] == [
        ("Cells v2", "Success"),
        ("hw_machine_type unset", "Warning"),
        ("Older than N-1 computes", "Failure"),
    ]
    assert checks[0].details == ""
    assert checks[1].details.startswith("Instances found without hw_machine_type set. This")
    # a word prettytable broke after its hyphen is joined back
    assert checks[1].details.endswith("admin/hw-machine-type.html")
    assert checks[2].details.endswith("in your system is 61.")


def test_json_is_parsed_and_codes_named() -> None:
    checks = prechecks.parse_output(CINDER_JSON)
    assert checks == [
        UpgradeCheck("Backup Driver Path", "Success", ""),
        UpgradeCheck(
            "Use of Policy File", "Warning", "Cannot locate your cinder configuration directory."
        ),
        UpgradeCheck("Removed Drivers", "Failure", "x"),
    ]


def test_no_results_in_garbage() -> None:
    assert prechecks.parse_output("") == []
    assert prechecks.parse_output("Error:\nTraceback (most recent call last):\n  x\n") == []
    assert prechecks.parse_output('{"checks": [broken json\n') == []


def test_worst_and_rows() -> None:
    report = prechecks.StatusReport("nova", ["nova-status"], 2, prechecks.parse_output(NOVA_TABLE))
    assert report.worst == "Failure"
    assert [r["result"] for r in report.rows()] == ["Success", "Warning", "Failure"]
    failed = prechecks.StatusReport("glance", ["glance-status"], 255, error="boom")
    assert failed.worst == "Error"
    assert failed.rows()[0]["check"] == "glance-status upgrade check"


def test_reason_is_the_exception_line_of_a_traceback() -> None:
    stdout = (
        "Error:\nTraceback (most recent call last):\n  File x\n"
        "oslo_config.cfg.NoSuchOptError: no such option enabled_backends\n"
    )
    assert prechecks._last_line(stdout, "  import eventlet\n") == (
        "oslo_config.cfg.NoSuchOptError: no such option enabled_backends"
    )
    assert prechecks._last_line("", "/etc/keystone/fernet-keys/ does not exist\n") == (
        "/etc/keystone/fernet-keys/ does not exist"
    )


def test_json_flag_only_where_the_tool_takes_it(tmp_path: Path) -> None:
    assert "--json" not in PrecheckSpec("nova", tmp_path).command()
    cmd = PrecheckSpec("cinder", tmp_path, (Path("/a.conf"),), Path("/etc/cinder")).command()
    assert cmd == [
        str(tmp_path / "bin" / "cinder-status"),
        "--config-file",
        "/a.conf",
        "--config-dir",
        "/etc/cinder",
        "upgrade",
        "check",
        "--json",
    ]


def test_bad_input_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown service 'swift'"):
        prechecks.run_status_check(PrecheckSpec("swift", tmp_path))
    with pytest.raises(ConfigError, match="nova-status does not exist"):
        prechecks.run_status_check(PrecheckSpec("nova", tmp_path))
    tool = _tool(tmp_path, "nova", "exit 0")
    with pytest.raises(ConfigError, match="no such config file"):
        prechecks.run_status_check(PrecheckSpec("nova", tool, (tmp_path / "nova.conf",)))


def _tool(prefix: Path, service: str, body: str) -> Path:
    """A stand-in executable under prefix/bin (only for what no real tool does on demand:
    hanging, printing nothing)."""
    path = prefix / "bin" / f"{service}-status"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    os.chmod(path, 0o755)
    return prefix


def test_a_hung_tool_is_cut_at_the_timeout(tmp_path: Path) -> None:
    prefix = _tool(tmp_path, "nova", "exec sleep 30")
    started = time.monotonic()
    with pytest.raises(ServiceUnreachable, match="did not finish within 1s"):
        prechecks.run_status_check(PrecheckSpec("nova", prefix), timeout=1)
    assert time.monotonic() - started < 5
    # run_prechecks keeps going: the hung tool is a row with its error
    reports = prechecks.run_prechecks([PrecheckSpec("nova", prefix)], timeout=1)
    assert reports[0].worst == "Error"
    assert "did not finish" in reports[0].error


def test_a_tool_with_no_results_is_an_error_report(tmp_path: Path) -> None:
    prefix = _tool(tmp_path, "placement", "echo 'something went wrong' >&2; exit 1")
    report = prechecks.run_status_check(PrecheckSpec("placement", prefix))
    assert report.worst == "Error"
    assert report.error == "placement-status exited 1 with no results: something went wrong"


def test_no_testcloud_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no testcloud at"):
        prechecks.testcloud_specs(state_dir=tmp_path)


# -- the real tools ------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.testcloud
def test_testcloud_tools(testcloud: RunningTestCloud) -> None:
    specs = prechecks.testcloud_specs(state_dir=testcloud.settings.state_dir)
    assert [s.service for s in specs] == list(prechecks.TOOLS)
    reports = {r.service: r for r in prechecks.run_prechecks(specs)}
    for report in reports.values():
        # each tool either gave checks or an error saying why not (never silence)
        assert report.checks or report.error, report
        assert report.duration > 0
    # the table tools (nova, placement) and the JSON ones (cinder, neutron) are all read
    assert {c.name for c in reports["placement"].checks} >= {"Incomplete Consumers"}
    assert reports["placement"].worst == "Success"
    nova = {c.name: c for c in reports["nova"].checks}
    assert nova["Cells v2"].result == "Success"
    assert nova["Older than N-1 computes"].result == "Success"
    assert len(reports["neutron"].checks) >= 10
    assert "Backup Driver Path" in {c.name for c in reports["cinder"].checks}
    assert all(
        c.result in ("Success", "Warning", "Failure") for r in reports.values() for c in r.checks
    )


@pytest.mark.integration
@pytest.mark.testcloud
def test_version_skew_reuses_the_nova_versions_check(testcloud: RunningTestCloud) -> None:
    settings = testcloud.settings
    result = prechecks.version_skew(settings.database_url(f"{settings.name}_nova_cell1"))
    assert result.check == "openstack-nova-versions"
    assert result.status is Status.OK
    assert "(skew 0)" in result.summary
