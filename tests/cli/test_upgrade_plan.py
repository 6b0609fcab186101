"""``stacktender upgrade plan`` as an operator runs it against the test cloud."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml


@pytest.mark.testcloud
def test_plan_runbook_and_playbook(cli_run: Any, testcloud: Any, tmp_path: Path) -> None:
    venv = str(Path(testcloud.settings.state_dir) / "venv")
    args = ("--os-cloud", testcloud.admin_cloud, "upgrade", "plan", "--to", "2026.2")
    # the installed packages are already 2026.2: nothing to plan
    same = cli_run(*args, "--venv", venv, env=testcloud.env)
    assert same.returncode == 1 and "is not after 2026.2" in same.stderr
    runbook = cli_run(*args, "--from", "2026.1", env=testcloud.env)
    assert runbook.returncode == 0, runbook.stderr
    assert "Hosts: tc-compute-1" in runbook.stdout
    book = tmp_path / "upgrade.yml"
    written = cli_run(
        *args, "--from", "2026.1", "-f", "ansible", "-o", str(book), env=testcloud.env
    )
    assert written.returncode == 0 and "wrote 8 steps" in written.stderr
    assert [p["hosts"] for p in yaml.safe_load(book.read_text())][-2:] == [
        "nova_compute",
        "nova_control",
    ]


def test_plan_bad_input(cli_run: Any, tmp_path: Path) -> None:
    unknown = cli_run("upgrade", "plan", "--to", "2099.1")
    assert unknown.returncode == 1 and "unknown release series '2099.1'" in unknown.stderr
    nowhere = cli_run(
        "--os-cloud", "nowhere", "upgrade", "plan", "--to", "2026.2", "--from", "2026.1",
        env={"OS_CLIENT_CONFIG_FILE": str(tmp_path / "none.yaml")},
    )  # fmt: skip
    assert nowhere.returncode == 1
    assert nowhere.stderr.startswith("stacktender: error: cannot reach cloud nowhere")
    assert "Traceback" not in nowhere.stderr
