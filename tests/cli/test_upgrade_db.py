"""``stacktender upgrade db-status`` and ``upgrade check`` as an operator runs them: the
real console script against the testcloud's databases and tools."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest
from support import free_port
from testcloud_support import RunningTestCloud

Run = Callable[..., CompletedProcess[str]]


def _env(testcloud: RunningTestCloud) -> dict[str, str]:
    return {"STACKTENDER_TESTCLOUD_DIR": str(testcloud.settings.state_dir)}


def _one_line_error(run: CompletedProcess[str], text: str) -> None:
    assert run.returncode == 1, run
    assert run.stderr.startswith("stacktender: error: "), run.stderr
    assert text in run.stderr
    assert "Traceback" not in run.stderr


def test_help_lists_both_commands_with_examples(cli_run: Run) -> None:
    listing = cli_run("upgrade", "--help")
    assert "db-status" in listing.stdout and "check " in listing.stdout
    for cmd in ("db-status", "check"):
        text = cli_run("upgrade", cmd, "--help").stdout
        assert f"stacktender upgrade {cmd}" in text


def test_bad_input_is_a_one_line_error(cli_run: Run, tmp_path: Path) -> None:
    nowhere = {"STACKTENDER_TESTCLOUD_DIR": str(tmp_path / "none")}
    _one_line_error(
        cli_run("upgrade", "db-status", "--db-url", "swift=mysql://h/s", env=nowhere),
        "unknown service 'swift'",
    )
    _one_line_error(cli_run("upgrade", "db-status", env=nowhere), "no testcloud at")
    _one_line_error(
        cli_run("upgrade", "db-status", "--db-url", "keystone=mysql://h/k", env=nowhere),
        "--venv PATH is needed",
    )
    _one_line_error(
        cli_run("upgrade", "db-status", "--config", f"nova={tmp_path / 'x.conf'}", env=nowhere),
        "cannot read",
    )
    _one_line_error(
        cli_run("upgrade", "check", "--venv", str(tmp_path), "--config", "nova", env=nowhere),
        "expected SERVICE=PATH",
    )
    _one_line_error(
        cli_run("upgrade", "check", "--venv", str(tmp_path), env=nowhere), "no *-status tools"
    )


@pytest.mark.integration
@pytest.mark.testcloud
def test_db_status_json(cli_run: Run, testcloud: RunningTestCloud) -> None:
    run = cli_run("upgrade", "db-status", "-f", "json", env=_env(testcloud), timeout=180)
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)
    assert len(rows) == 8
    assert {r["state"] for r in rows} == {"up to date"}
    keystone = next(r for r in rows if r["service"] == "keystone")
    assert keystone["phases"] == "expand: done, contract: done"


@pytest.mark.integration
@pytest.mark.testcloud
def test_db_status_from_a_config_file_and_an_unreachable_url(
    cli_run: Run, testcloud: RunningTestCloud
) -> None:
    etc = testcloud.settings.etc
    run = cli_run(
        "upgrade", "db-status", "--config", f"nova={etc / 'nova/nova-manage.conf'}",
        "-f", "value", "-c", "database", "-c", "state",
        env=_env(testcloud), timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    # nova.conf names the API and cell1 databases; cell_mappings adds cell0
    assert sorted(run.stdout.splitlines()) == [
        "testcloud_nova_api up to date",
        "testcloud_nova_cell0 up to date",
        "testcloud_nova_cell1 up to date",
    ]
    dead = f"mysql+pymysql://root:hunter2@127.0.0.1:{free_port()}/keystone"
    run = cli_run("upgrade", "db-status", "--db-url", f"keystone={dead}", env=_env(testcloud))
    assert run.returncode == 1
    assert "unreachable" in run.stdout and "hunter2" not in run.stdout + run.stderr
    assert run.stderr.strip() == "stacktender: error: could not read 1 database(s): keystone"


@pytest.mark.integration
@pytest.mark.testcloud
def test_upgrade_check_rows_and_exit_code(cli_run: Run, testcloud: RunningTestCloud) -> None:
    run = cli_run(
        "upgrade", "check", "--service", "placement", "--service", "nova", "-f", "json",
        env=_env(testcloud), timeout=240,
    )  # fmt: skip
    rows: list[dict[str, Any]] = json.loads(run.stdout)
    by = {(r["service"], r["check"]): r for r in rows}
    assert by[("placement", "Incomplete Consumers")]["result"] == "Success"
    assert by[("nova", "Cells v2")]["result"] == "Success"
    skew = by[("nova", "Service version skew (openstack-nova-versions)")]
    assert skew["result"] == "Success" and "skew 0" in skew["details"]
    worst = {"Success": 0, "Warning": 1, "Failure": 2, "Error": 3}
    assert run.returncode == max(worst[r["result"]] for r in rows), run.stderr


@pytest.mark.integration
@pytest.mark.testcloud
def test_the_check_as_a_nagios_plugin(cli_run: Run, testcloud: RunningTestCloud) -> None:
    settings = testcloud.settings
    run = cli_run(
        "check", "openstack-upgrade-check", "--url", f"file://{settings.venv}",
        "-o", "service=placement", "-o", f"config={settings.etc / 'placement/placement.conf'}",
        "-t", "60", timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("OPENSTACK-UPGRADE-CHECK OK - placement-status upgrade check: ")
    assert "failures=0;;0;0" in run.stdout


@pytest.mark.integration
@pytest.mark.testcloud
def test_db_status_against_a_target_release(cli_run: Run, testcloud: RunningTestCloud) -> None:
    url = testcloud.settings.database_url("testcloud_keystone")
    run = cli_run(
        "upgrade", "db-status", "--db-url", f"keystone={url}", "--to", "keystone=28.0.0",
        "-f", "json", env=_env(testcloud), timeout=240,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    (row,) = json.loads(run.stdout)
    assert (row["state"], row["target"]) == ("up to date", "keystone 28.0.0: ahead")
    bad = cli_run("upgrade", "db-status", "--to", "keystone=banana", env=_env(testcloud))
    _one_line_error(bad, "not a version number")


@pytest.mark.integration
@pytest.mark.testcloud
def test_the_check_in_a_sweep_for_prometheus(cli_run: Run, testcloud: RunningTestCloud) -> None:
    settings = testcloud.settings
    config = f"""
targets:
  openstack-upgrade:
    url: file://{settings.venv}
sweep:
  - name: upgrade-placement
    check: openstack-upgrade-check
    timeout: 120
    options: {{service: placement, config: {settings.etc / "placement/placement.conf"}}}
"""
    run = cli_run("sweep", "-f", "prometheus", config=config, timeout=180)
    assert run.returncode == 0, run.stderr
    assert (
        'stacktender_check_status{name="upgrade-placement",check="openstack-upgrade-check"} 0'
        in run.stdout
    )
    assert 'label="checks",unit=""} 3' in run.stdout
