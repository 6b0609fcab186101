"""``sweep --record``, ``history`` and ``store`` through the real console script, with a
temporary SQLite store (the store itself is tested on every backend in tests/store)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from support import free_port

from stacktender.store.migrate import HEAD_REVISION

Run = Callable[..., CompletedProcess[str]]

# The example plugin's disk-free check: free space of / is below 101% -> CRITICAL.
CRITICAL_CONFIG = 'checks: {disk-free: {critical: {free: "101:"}, warning: {free: "101:"}}}\n'


@pytest.fixture
def config(tmp_path: Path) -> str:
    return f"store: sqlite:///{tmp_path / 'store' / 'stacktender.db'}\nsweep: [disk-free]\n"


def _ok(proc: CompletedProcess[str]) -> CompletedProcess[str]:
    assert proc.returncode == 0, proc.stderr
    return proc


def test_sweep_record_then_history(cli_run: Run, config: str) -> None:
    _ok(cli_run("sweep", "--record", config=config))
    _ok(cli_run("sweep", "--record", config=config + CRITICAL_CONFIG))
    _ok(cli_run("sweep", "--record", config=config + CRITICAL_CONFIG))

    changes = json.loads(_ok(cli_run("history", "-f", "json", config=config)).stdout)
    assert [(c["name"], c["from"], c["to"]) for c in changes] == [
        ("disk-free", None, "OK"),
        ("disk-free", "OK", "CRITICAL"),
    ]
    assert changes[1]["check"] == "disk-free" and "% free on /" in changes[1]["summary"]
    assert changes[0]["time"] <= changes[1]["time"]

    runs = json.loads(
        _ok(cli_run("history", "disk-free", "--all-runs", "-f", "json", config=config)).stdout
    )
    assert [r["status"] for r in runs] == ["OK", "CRITICAL", "CRITICAL"]
    assert runs[1]["perfdata"][0]["label"] == "free"
    assert runs[1]["perfdata"][0]["critical"] == "101:"

    table = _ok(cli_run("history", "--since", "1h", config=config)).stdout
    assert "| From" in table and "CRITICAL" in table
    value = _ok(cli_run("history", "-c", "to", "-f", "value", "-n", "1", config=config)).stdout
    assert value.split() == ["CRITICAL"]
    future = _ok(cli_run("history", "--since", "2999-01-01", "-f", "json", config=config))
    assert json.loads(future.stdout) == []


def test_history_rejects_a_bad_since(cli_run: Run, config: str) -> None:
    proc = cli_run("history", "--since", "last tuesday", config=config)
    assert proc.returncode == 2
    assert "neither an age" in proc.stderr


def test_unreachable_store_is_one_masked_line(cli_run: Run) -> None:
    config = f"store: postgresql://stacktender:hunter2@127.0.0.1:{free_port()}/stacktender\n"
    proc = cli_run("history", config=config)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("stacktender: error: store postgresql://stacktender:***@127.0.0.1")
    assert "hunter2" not in proc.stderr + proc.stdout


def test_store_upgrade_and_prune(cli_run: Run, config: str) -> None:
    upgraded = _ok(cli_run("store", "upgrade", config=config)).stdout
    assert f"schema at revision {HEAD_REVISION}" in upgraded
    _ok(cli_run("sweep", "--record", config=config))
    kept = _ok(cli_run("store", "prune", "--older-than", "1d", config=config))
    assert kept.stdout.startswith("deleted 0 ")
    pruned = _ok(cli_run("store", "prune", "--older-than", "0s", config=config))
    assert pruned.stdout.startswith("deleted 1 ")
    assert json.loads(_ok(cli_run("history", "-f", "json", config=config)).stdout) == []
