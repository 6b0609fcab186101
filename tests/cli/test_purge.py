"""``stacktender purge`` as an operator runs it: help with examples, one-line errors,
the refusals, types, and the store commands (the full purges run in tests/purge)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from testcloud_support import RunningTestCloud

Run = Callable[..., CompletedProcess[str]]


def _one_line_error(run: CompletedProcess[str], text: str) -> None:
    assert run.returncode == 1, run
    assert run.stderr.startswith("stacktender: error: "), run.stderr
    assert text in run.stderr
    assert "Traceback" not in run.stderr


def test_every_command_has_help_with_an_example(cli_run: Run) -> None:
    listing = cli_run("purge", "--help").stdout
    for cmd in ("project", "orphans", "db", "types", "runs", "audit"):
        assert cmd in listing
        assert f"stacktender purge {cmd}" in cli_run("purge", cmd, "--help").stdout


def test_types_lists_the_declared_types_in_deletion_order(cli_run: Run) -> None:
    run = cli_run("purge", "types", "-f", "json")
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)
    names = [r["name"] for r in rows]
    assert names.index("server") < names.index("volume") < names.index("network")
    server = next(r for r in rows if r["name"] == "server")
    assert server["service"] == "compute" and server["asynchronous"] is True
    assert cli_run("purge", "types", "-f", "value", "-c", "name").stdout.split() == names


def test_bad_input_is_a_one_line_error(cli_run: Run, tmp_path: Path) -> None:
    no_clouds = {"OS_CLIENT_CONFIG_FILE": str(tmp_path / "none.yaml")}
    _one_line_error(
        cli_run("purge", "project", "x", "--os-cloud", "nowhere", env=no_clouds),
        "cannot reach cloud nowhere",
    )
    _one_line_error(cli_run("purge", "audit"), "give a RUN_ID or --project ID")
    _one_line_error(
        cli_run("purge", "db", "--db-url", "bogus=sqlite://"), "--db-url bogus=...: want ROLE=URL"
    )
    _one_line_error(
        cli_run("purge", "db", "--testcloud-dir", str(tmp_path / "none")), "no testcloud at"
    )
    _one_line_error(cli_run("purge", "db", "--older-than", "soon"), "--older-than:")


def test_runs_and_audit_of_an_empty_store(cli_run: Run, tmp_path: Path) -> None:
    config = f"store: sqlite:///{tmp_path / 'store.db'}\n"
    run = cli_run("purge", "runs", "-f", "json", config=config)
    assert run.returncode == 0 and json.loads(run.stdout) == []
    assert json.loads(cli_run("purge", "audit", "7", "-f", "json", config=config).stdout) == []


def test_db_counts_a_database_given_by_url(cli_run: Run, tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "cinder.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE volumes (id INTEGER, deleted BOOLEAN, deleted_at DATETIME)")
        conn.execute("CREATE TABLE services (id INTEGER)")
        conn.executemany(
            "INSERT INTO volumes VALUES (?, ?, ?)",
            [(1, 0, None), (2, 1, "2026-01-01 00:00:00"), (3, 1, "2026-11-01 00:00:00")],
        )
    run = cli_run("purge", "db", "--db-url", f"cinder=sqlite:///{path}", "-f", "json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    (row,) = report["soft_deleted"]
    assert row == {
        "service": "cinder", "database": str(path), "table": "volumes", "rows": 3,
        "soft_deleted": 2,
    }  # fmt: skip
    assert [c["command"] for c in report["commands"]] == ["cinder-manage db purge 0"]


@pytest.mark.testcloud
@pytest.mark.integration
def test_refusals(cli_run: Run, testcloud: RunningTestCloud) -> None:
    env = {**testcloud.env, "OS_CLOUD": testcloud.admin_cloud}
    _one_line_error(
        cli_run("purge", "project", "service", env=env), "refusing to purge project service"
    )
    _one_line_error(
        cli_run("purge", "project", "admin", "--execute", "--force", env=env),
        "refusing to purge project admin",
    )
    _one_line_error(cli_run("purge", "project", "acme", "--execute", env=env), "it is enabled")
    _one_line_error(cli_run("purge", "project", "no-such-project", env=env), "no project")
    _one_line_error(
        cli_run("purge", "project", "acme", "--types", "bogus", env=env),
        "unknown resource type(s) bogus",
    )
    _one_line_error(
        cli_run("purge", "project", "acme", "--created-before", "soon", env=env),
        "--created-before:",
    )
    dry = cli_run("purge", "project", "acme", "--types", "server", "-f", "csv", env=env)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[0] == "wave,service,type,id,name,project_id,created_at,detail"
    assert "acme-web-1" in dry.stdout
    assert "warning: the project is enabled" in dry.stderr
