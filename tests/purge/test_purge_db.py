"""``purge db`` against the testcloud's real databases and its venv's real manage
commands: counts of soft-deleted rows, the dry run (nothing changes), the execution."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from testcloud_support import RunningTestCloud

from stacktender.purge import db

pytestmark = [pytest.mark.testcloud, pytest.mark.integration]


def _soft_deleted_volume_and_image(testcloud: RunningTestCloud) -> None:
    """Make sure cinder and glance have soft-deleted rows whatever ran before."""
    conn = testcloud.connect()
    volume = conn.block_storage.create_volume(name="purge-db-test", size=1)
    conn.block_storage.wait_for_status(volume, "available", wait=120)
    conn.block_storage.delete_volume(volume)
    conn.block_storage.wait_for_delete(volume, wait=120)
    image = conn.image.create_image(
        name="purge-db-test", data=b"x" * 64, disk_format="raw", container_format="bare"
    )
    conn.image.delete_image(image)


def _by_service(counts: list[db.TableCount]) -> dict[str, int]:
    out: dict[str, int] = {}
    for count in counts:
        out[count.service] = out.get(count.service, 0) + count.soft_deleted
    return out


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stacktender.cli.main", "purge", "db", *args],
        capture_output=True, text=True, timeout=900, env=dict(os.environ),
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_counts_and_commands_of_the_testcloud(testcloud: RunningTestCloud) -> None:
    _soft_deleted_volume_and_image(testcloud)
    target = db.testcloud_target(testcloud.settings.state_dir)
    assert set(target.databases) == {"nova_api", "nova_cell0", "nova_cell1", "cinder", "glance"}
    counts = db.count_soft_deleted(target)
    tables = {(c.service, c.table) for c in counts}
    assert ("cinder", "volumes") in tables and ("glance", "images") in tables
    assert all(0 < c.soft_deleted <= c.rows for c in counts)
    # rows deleted more than a year ago: none on a cloud this young
    assert db.count_soft_deleted(target, older_than=timedelta(days=365)) == []
    argv = [" ".join(c.argv[3:]) for c in db.commands(target)]
    assert argv == [
        "db archive_deleted_rows --all-cells --until-complete",
        "db purge --all-cells --all",
        "db purge 0",
        "db purge --age_in_days 0 --max_rows -1",
    ]
    assert db.commands(target, timedelta(days=30))[2].argv[-1] == "30"


def test_dry_run_then_execute(testcloud: RunningTestCloud) -> None:
    _soft_deleted_volume_and_image(testcloud)
    target = db.testcloud_target(testcloud.settings.state_dir)
    dry = _cli("-f", "json", "--testcloud-dir", str(testcloud.settings.state_dir))
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["executed"] is False and report["total"] > 0
    assert [c["exit_code"] for c in report["commands"]] == [None] * 4  # nothing ran
    assert "dry run:" in dry.stderr
    before = _by_service(db.count_soft_deleted(target))
    assert before["cinder"] > 0 and before["glance"] > 0

    done = _cli("--execute", "-f", "json", "--testcloud-dir", str(testcloud.settings.state_dir))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert all(c["exit_code"] in (0, 1) for c in report["commands"]), report["commands"]
    assert "running: " in done.stderr and "soft-deleted rows:" in done.stderr
    after = _by_service(db.count_soft_deleted(target))
    # other tests may delete things meanwhile: fewer rows, not necessarily none
    assert after.get("cinder", 0) < before["cinder"]
    assert after.get("nova", 0) < before.get("nova", 1)
    # glance's purge keeps the images table itself (glance-manage db purge_images_table)
    leftover = {c.table for c in db.count_soft_deleted(target) if c.service == "glance"}
    assert leftover <= {"images"}
