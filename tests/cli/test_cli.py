"""The CLI as users and Icinga run it: exit codes, one-line errors, formats."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

RunCli = Callable[..., Any]


def test_help_lists_commands_with_examples(cli_run: RunCli) -> None:
    proc = cli_run("--help")
    assert proc.returncode == 0
    for command in ("check", "sweep", "plugins", "export", "history", "serve-metrics"):
        assert command in proc.stdout
    assert "Examples:" in proc.stdout


def test_check_unknown_name_lists_known_and_exits_unknown(cli_run: RunCli) -> None:
    proc = cli_run("check", "no-such-check")
    assert proc.returncode == 3
    assert proc.stderr.startswith("stacktender: error: unknown check 'no-such-check'; known")
    assert "disk-free" in proc.stderr and "memcached" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-w", "abc"], "invalid threshold 'abc'"),
        (["-w", "free=5:1"], "start 5 is above end 1"),
        (["-c", "nosuch=1"], "unknown threshold 'nosuch'"),
        (["-o", "colour=red"], "has no option 'colour'"),
        (["--bogus"], "No such option"),
    ],
)
def test_check_bad_input_is_one_line_and_unknown(
    cli_run: RunCli, args: list[str], message: str
) -> None:
    proc = cli_run("check", "disk-free", *args)
    assert proc.returncode == 3, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_check_exit_codes_follow_status(cli_run: RunCli) -> None:
    assert cli_run("check", "disk-free", "-w", "0:", "-c", "0:").returncode == 0
    assert cli_run("check", "disk-free", "-w", "101:", "-c", "0:").returncode == 1
    assert cli_run("check", "disk-free", "-c", "101:").returncode == 2
    proc = cli_run("check", "disk-free", "-o", "path=/no/such/dir")
    assert proc.returncode == 2  # FileNotFoundError is an OSError: the thing checked is missing
    assert proc.stdout.startswith("DISK-FREE CRITICAL - ")


def test_malformed_config_names_file_and_line(cli_run: RunCli) -> None:
    proc = cli_run("sweep", config="timeout: 5\nsweep:\n  - disk-free\n  - {check: [\n")
    assert proc.returncode == 1
    assert "cli-config.yaml:" in proc.stderr and "invalid YAML" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_missing_config_file(cli_run: RunCli, tmp_path: Path) -> None:
    proc = cli_run("--config", str(tmp_path / "none.yaml"), "sweep")
    assert proc.returncode == 1
    assert "configuration file not found" in proc.stderr


def test_sweep_formats_and_columns(cli_run: RunCli) -> None:
    config = (
        "sweep:\n  - disk-free\n  - {check: disk-free, name: tmp-free, options: {path: /tmp}}\n"
    )
    table = cli_run("sweep", config=config)
    assert table.returncode == 0, table.stderr
    assert "| Name" in table.stdout and "tmp-free" in table.stdout

    data = json.loads(cli_run("sweep", "-f", "json", config=config).stdout)
    assert [d["name"] for d in data] == ["disk-free", "tmp-free"]
    assert data[0]["perfdata"][0]["label"] == "free"

    data = yaml.safe_load(cli_run("sweep", "-f", "yaml", config=config).stdout)
    assert data[1]["status"] == "OK"

    rows = list(csv.reader(io.StringIO(cli_run("sweep", "-f", "csv", config=config).stdout)))
    assert rows[0][:3] == ["name", "check", "status"] and len(rows) == 3

    value = cli_run("sweep", "-f", "value", "-c", "name", "-c", "status", config=config)
    assert value.stdout.split("\n")[:2] == ["disk-free OK", "tmp-free OK"]

    nagios = cli_run("sweep", "-f", "nagios", config=config).stdout.splitlines()
    assert nagios[1].startswith("TMP-FREE OK - ") and "| free=" in nagios[1]

    bad = cli_run("sweep", "-c", "colour", config=config)
    assert bad.returncode == 1 and "no column 'colour'" in bad.stderr


def test_sweep_exit_status_flag(cli_run: RunCli) -> None:
    config = "sweep:\n  - {check: disk-free, critical: {free: '101:'}}\n"
    assert cli_run("sweep", config=config).returncode == 0
    assert cli_run("sweep", "--exit-status", config=config).returncode == 2


def test_sweep_is_quiet_when_piped(cli_run: RunCli) -> None:
    proc = cli_run("sweep", "-f", "value", config="sweep: [disk-free, disk-free]\n")
    assert proc.stderr == ""


def test_config_show_masks_secrets(cli_run: RunCli) -> None:
    config = (
        "targets:\n  rabbitmq: {url: 'http://admin:VerySecret1@rabbit:15672',"
        " amqp_url: 'amqp://nova:AlsoSecret2@rabbit:5672/'}\n"
    )
    proc = cli_run("config", "show", config=config)
    assert proc.returncode == 0
    assert "VerySecret1" not in proc.stdout and "AlsoSecret2" not in proc.stdout
    assert "admin:***@rabbit" in proc.stdout


def test_config_check(cli_run: RunCli) -> None:
    ok = cli_run("config", "check", config="sweep: [disk-free]\n")
    assert ok.returncode == 0 and "ok, 1 check instances" in ok.stdout
    bad = cli_run("config", "check", config="checks:\n  disk-free: {warning: {free: zz}}\n")
    assert bad.returncode == 1 and "invalid threshold 'zz'" in bad.stderr


def test_checks_list(cli_run: RunCli) -> None:
    proc = cli_run("checks", "list", "-f", "json")
    names = {c["name"] for c in json.loads(proc.stdout)}
    assert {"disk-free", "memcached"} <= names
