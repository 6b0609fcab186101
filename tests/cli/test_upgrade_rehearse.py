"""``stacktender upgrade rehearse`` as an operator runs it, against the testcloud's MariaDB.

The source of the executed rehearsals is a database placement 8.0.0 (a cached release
venv) migrated itself; the testcloud's own databases are only planned against and copied.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support import free_port
from testcloud_support import RunningTestCloud

from stacktender.upgrade import releases
from stacktender.upgrade.rehearse import database_checksum, migrate


def _scratch_databases(base: str) -> list[str]:
    engine = sa.create_engine(f"{base}/mysql")
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SHOW DATABASES LIKE 'rehearse\\_placement\\_%'"))
            return [r[0] for r in rows]
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def zed_placement(testcloud: RunningTestCloud) -> Iterator[str]:
    """A database placement 8.0.0's own db sync made."""
    base = testcloud.settings.db_url.rstrip("/")
    name = f"sttest_cli_placement_{secrets.token_hex(3)}"
    engine = sa.create_engine(f"{base}/mysql", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb3"))
    url = f"{base}/{name}?charset=utf8"
    try:
        old = releases.ensure_release("openstack-placement", "8.0.0")
        assert [s.result for s in migrate(old, "placement", url)] == ["ok"]
        yield url
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        engine.dispose()


def _venv(testcloud: RunningTestCloud) -> str:
    return str(Path(testcloud.settings.state_dir) / "venv")


@pytest.mark.integration
@pytest.mark.testcloud
def test_dry_run_on_the_testcloud_database_writes_nothing(
    cli_run: Any, testcloud: RunningTestCloud
) -> None:
    env = {"STACKTENDER_TESTCLOUD_DIR": str(testcloud.settings.state_dir)}
    args = ("upgrade", "rehearse", "--service", "placement", "--to", "16.0.0")
    plan = cli_run(*args, "--venv", _venv(testcloud), env=env)
    assert plan.returncode == 0, plan.stderr
    lines = plan.stdout.splitlines()
    assert lines[0] == "dry run: nothing was created or written; --execute rehearses"
    assert "/testcloud_placement?charset=utf8 (revision a082b8bb98d0)" in plan.stdout
    assert "  2. placement-manage --config-file=<tmp>/rehearse.conf" in plan.stdout
    assert "  [placement_database]" in plan.stdout
    assert _scratch_databases(testcloud.settings.db_url.rstrip("/")) == []


@pytest.mark.integration
@pytest.mark.testcloud
def test_execute_reports_revisions_and_schema_changes(
    cli_run: Any, testcloud: RunningTestCloud, zed_placement: str
) -> None:
    before = database_checksum(zed_placement)
    args = ("upgrade", "rehearse", "--service", "placement", "--to", "16.0.0")
    common = ("--db-url", zed_placement, "--venv", _venv(testcloud), "--execute")
    table = cli_run(*args, *common)
    assert table.returncode == 0, table.stderr
    assert "result        ok" in table.stdout
    assert "revision      422ece571366 -> a082b8bb98d0 (target heads a082b8bb98d0)" in table.stdout
    assert "changes: 5 indexes removed" in table.stdout
    assert "resource_providers_uuid_idx" in table.stdout
    assert "... running placement-manage db sync" in table.stderr
    as_json = cli_run(*args, *common, "-f", "json")
    report = json.loads(as_json.stdout)
    assert report["result"] == "ok" and report["scratch_state"] == "dropped"
    assert len(report["changes"]) == 5
    assert as_json.stderr == ""  # progress only beside the table
    names = cli_run(*args, *common, "-f", "value", "-c", "name")
    assert sorted(names.stdout.split())[0] == "inventories_resource_provider_id_idx"
    assert _scratch_databases(testcloud.settings.db_url.rstrip("/")) == []
    assert database_checksum(zed_placement) == before


@pytest.mark.integration
@pytest.mark.testcloud
def test_failed_migration_exits_1_with_the_error_lines(
    cli_run: Any, testcloud: RunningTestCloud
) -> None:
    env = {"STACKTENDER_TESTCLOUD_DIR": str(testcloud.settings.state_dir)}
    failed = cli_run(
        "upgrade", "rehearse", "--service", "placement", "--to", "8.0.0", "--execute", env=env
    )
    assert failed.returncode == 1
    assert "result        failed" in failed.stdout
    assert "error (last lines):\n  placement-manage db sync: exit 1" in failed.stdout
    assert "Can't locate revision identified by 'a082b8bb98d0'" in failed.stdout
    assert "Traceback" not in failed.stderr
    assert _scratch_databases(testcloud.settings.db_url.rstrip("/")) == []


def test_unknown_service_is_one_line(cli_run: Any) -> None:
    out = cli_run("upgrade", "rehearse", "--service", "swiftly", "--to", "1.0.0",
                  "--db-url", "mysql+pymysql://root@127.0.0.1/x")  # fmt: skip
    assert out.returncode == 1
    assert out.stderr.startswith("stacktender: error: unknown service 'swiftly'")
    assert len(out.stderr.splitlines()) == 1


def test_unreachable_database_is_one_line(cli_run: Any) -> None:
    url = f"mysql+pymysql://root:hunter2@127.0.0.1:{free_port()}/placement"
    out = cli_run("upgrade", "rehearse", "--service", "placement", "--to", "16.0.0",
                  "--db-url", url, "--execute")  # fmt: skip
    assert out.returncode == 1 and len(out.stderr.splitlines()) == 1
    assert out.stderr.startswith("stacktender: error: mysql+pymysql://root:***@127.0.0.1")
    assert "hunter2" not in out.stderr


@pytest.mark.integration
@pytest.mark.testcloud
def test_unknown_version_and_wrong_venv_are_one_line(
    cli_run: Any, testcloud: RunningTestCloud
) -> None:
    env = {"STACKTENDER_TESTCLOUD_DIR": str(testcloud.settings.state_dir)}
    args = ("upgrade", "rehearse", "--service", "placement")
    unknown = cli_run(*args, "--to", "99.0.0", env=env)
    assert unknown.returncode == 1
    assert unknown.stderr.startswith(
        "stacktender: error: PyPI has no release 99.0.0 of openstack-placement (latest: "
    )
    assert "16.0.0" in unknown.stderr  # the newest releases, not the oldest
    wrong = cli_run(*args, "--to", "15.0.0", "--venv", _venv(testcloud), env=env)
    assert wrong.returncode == 1 and "has openstack-placement 16.0.0, not 15.0.0" in wrong.stderr
    assert len(wrong.stderr.splitlines()) == 1
