"""``stacktender testcloud``: help, errors before anything is installed, a taken port."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "testcloud"))
from testcloud_support import free_port_base


def test_help_lists_the_commands_with_examples(cli_run: Any) -> None:
    out = cli_run("testcloud", "--help")
    assert out.returncode == 0
    for command in ("up", "status", "down", "destroy", "logs", "seed"):
        assert command in out.stdout
    up = cli_run("testcloud", "up", "--help")
    assert "stacktender testcloud up --computes 4" in up.stdout
    assert "--db" in up.stdout and "--state-dir" in up.stdout


def test_commands_on_a_missing_cloud_say_how_to_start_one(tmp_path: Path, cli_run: Any) -> None:
    for args in (("status",), ("down",), ("logs",), ("seed",)):
        out = cli_run("testcloud", *args, "--state-dir", str(tmp_path / "none"))
        assert out.returncode == 1
        assert out.stderr.strip() == (
            f"stacktender: error: no testcloud in {tmp_path / 'none'}: "
            "run 'stacktender testcloud up' first"
        )
    destroyed = cli_run("testcloud", "destroy", "--yes", "--state-dir", str(tmp_path / "none"))
    assert destroyed.returncode == 0


@pytest.mark.integration
def test_a_taken_port_names_the_service_and_its_log(tmp_path: Path, cli_run: Any) -> None:
    base = free_port_base()
    state = tmp_path / "tc"
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", base + 3))  # neutron-api's port
        squatter.listen(1)
        out = cli_run(
            "testcloud", "up", "--state-dir", str(state), "--port-base", str(base), timeout=60
        )
    assert out.returncode == 1
    assert out.stderr.strip() == (
        f"stacktender: error: neutron-api: port 127.0.0.1:{base + 3} is already in use by "
        "another process (free it or choose another --port-base); "
        f"log: {state / 'logs' / 'neutron-api.log'}"
    )
    assert not (state / "venv").exists()
