"""upgrade plan: upstream order, hosts from the cloud, runbook and a playbook Ansible accepts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacktender.errors import ConfigError
from stacktender.upgrade.plan import (
    CloudInventory,
    installed_versions,
    inventory_from_cloud,
    make_plan,
    render_markdown,
    render_playbook,
)
from stacktender.upgrade.series import series

EVERYTHING = {"identity", "image", "placement", "block-storage", "compute", "network"}


def _inventory(types: set[str] = EVERYTHING) -> CloudInventory:
    return CloudInventory(
        types,
        {"nova_compute": ["cmp1", "cmp2", "cmp3"], "nova_control": ["ctl1"]},
        {"nova": "32.1.0", "keystone": "28.0.0"},
    )


def test_upstream_order_cinder_before_nova_computes_last() -> None:
    plan = make_plan(_inventory(), series("2026.1"))
    keys = [p.step.key for p in plan.steps]
    assert keys == ["identity", "image", "placement", "block-storage", "compute-control",
                    "network", "computes", "finalize"]  # fmt: skip
    assert plan.current.id == "2025.2"  # from the installed nova/keystone versions


def test_each_hop_is_a_whole_upgrade_and_unknown_services_are_skipped() -> None:
    plan = make_plan(
        _inventory({"identity", "compute"}), series("2026.2"), current=series("2025.1")
    )
    assert [h.id for h in plan.hops] == ["2026.1", "2026.2"]
    assert [(p.hop_to.id, p.step.key) for p in plan.steps] == [
        ("2026.1", "identity"), ("2026.1", "compute-control"), ("2026.1", "computes"),
        ("2026.1", "finalize"), ("2026.2", "identity"), ("2026.2", "compute-control"),
        ("2026.2", "computes"), ("2026.2", "finalize"),
    ]  # fmt: skip
    assert "Image (glance)" in plan.skipped


def test_runbook_names_hosts_batches_backups_and_rollback() -> None:
    text = render_markdown(make_plan(_inventory(), series("2026.1"), canary=2, batch="10%"))
    assert text.startswith("# Upgrade runbook: 2025.2 (flamingo) -> 2026.1 (gazpacho)")
    assert "Hosts: cmp1, cmp2, cmp3." in text
    assert "In batches: a canary batch of 2, then 10% at a time" in text
    assert "/var/backups/keystone-2025.2.sql" in text
    assert text.count("Rollback:") == 8


def test_playbook_structure() -> None:
    plays = yaml.safe_load(render_playbook(make_plan(_inventory(), series("2026.1"), canary=2)))
    computes = next(p for p in plays if p["hosts"] == "nova_compute")
    assert computes["serial"] == [2, "25%"] and computes["max_fail_percentage"] == 0
    assert all(t.get("delegate_to") == "localhost" for t in computes["post_tasks"])
    control = next(p for p in plays if p["hosts"] == "nova_control")
    assert control["serial"] == 1
    sync = [t for t in control["tasks"] if "db sync" in t["name"]]
    assert sync and all(t["run_once"] for t in sync)
    no_canary = yaml.safe_load(render_playbook(make_plan(_inventory(), series("2026.1"), canary=0)))
    assert next(p for p in no_canary if p["hosts"] == "nova_compute")["serial"] == "25%"


def test_bad_input() -> None:
    bare = CloudInventory({"compute"})
    with pytest.raises(ConfigError, match="--from SERIES"):
        make_plan(bare, series("2026.1"))
    with pytest.raises(ConfigError, match="downgrades"):
        make_plan(_inventory(), series("2024.1"))


def test_installed_versions_from_dist_info(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    for name in ("nova-34.0.0", "openstack_placement-16.0.0", "requests-2.32.0"):
        (site / f"{name}.dist-info").mkdir(parents=True)
    assert installed_versions([site]) == {"nova": "34.0.0", "openstack-placement": "16.0.0"}


@pytest.mark.integration
def test_ansible_accepts_the_playbook(tmp_path: Path) -> None:
    # ansible-core comes with the upgrade extra that make installs
    playbook_cmd = Path(sys.executable).with_name("ansible-playbook")
    binary = str(playbook_cmd) if playbook_cmd.exists() else shutil.which("ansible-playbook")
    assert binary, "ansible-playbook not installed: make installs the 'upgrade' extra"
    book = tmp_path / "upgrade.yml"
    book.write_text(render_playbook(make_plan(_inventory(), series("2026.2"), canary=1)))
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        "[keystone]\nctl1\n[glance]\nctl1\n[placement]\nctl1\n[cinder]\nctl1\n"
        "[nova_control]\nctl1\n[neutron]\nctl1\n[nova_compute]\ncmp1\ncmp2\n"
    )
    out = subprocess.run(
        [binary, "--syntax-check", "-i", str(inventory), str(book)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    listed = subprocess.run(
        [binary, "--list-tasks", "-i", str(inventory), str(book)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert "upgrade: nova-manage db sync" in listed.stdout


@pytest.mark.testcloud
def test_plan_of_the_testcloud(testcloud: Any) -> None:
    conn = testcloud.connect()
    venv = Path(testcloud.settings.state_dir) / "venv"
    versions = installed_versions(sorted(venv.glob("lib/python3*/site-packages")))
    inventory = inventory_from_cloud(conn, versions)
    assert inventory.service_types >= EVERYTHING
    assert inventory.current_series() == series("2026.2")
    assert "tc-compute-1" in inventory.hosts["nova_compute"]
    assert "tc-controller" in inventory.hosts["nova_control"]
    plan = make_plan(inventory, series("2026.2"), current=series("2026.1"))
    assert {p.step.key for p in plan.steps} >= {"identity", "block-storage", "computes"}
