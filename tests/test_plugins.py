"""The plugin framework: entry-point discovery, the example third-party plugin under every
output, broken plugins, and documentation of every hook."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stacktender import hookspecs
from stacktender.app import App
from stacktender.plugins import describe_plugins, make_plugin_manager
from stacktender.results import Status

ROOT = Path(__file__).resolve().parents[1]


def test_builtins_load_through_entry_points_like_third_party() -> None:
    pm = make_plugin_manager()
    assert pm.origins["memcached"][0] == "stacktender"
    assert pm.origins["example"] == ("stacktender-example-check", "1.0.0")


def test_plugins_list_shows_package_version_and_provides(cli_run: Callable[..., Any]) -> None:
    proc = cli_run("plugins", "list", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    assert rows["example"]["package"] == "stacktender-example-check"
    assert rows["example"]["version"] == "1.0.0"
    assert rows["example"]["provides"] == ["check:disk-free"]
    assert "check:memcached" in rows["memcached"]["provides"]
    assert "renderer:prometheus" in rows["renderers"]["provides"]


def test_example_plugin_is_about_twenty_lines() -> None:
    source = ROOT / "examples/stacktender-example-check/stacktender_example_check/__init__.py"
    code = [line for line in source.read_text().splitlines() if line.strip()]
    assert len(code) <= 35


def test_example_check_under_every_output(cli_run: Callable[..., Any]) -> None:
    nagios = cli_run("check", "disk-free", "-o", "path=/tmp")
    assert nagios.returncode == 0
    assert re.match(
        r"^DISK-FREE OK - [\d.]+% free on /tmp \| free=[\d.]+%;20:;10:;0;100$", nagios.stdout
    )

    data = json.loads(cli_run("check", "disk-free", "-f", "json").stdout)
    assert data[0]["status"] == "OK" and data[0]["perfdata"][0]["unit"] == "%"

    prom = cli_run("check", "disk-free", "-f", "prometheus").stdout
    assert 'stacktender_check_status{name="disk-free",check="disk-free"} 0' in prom
    assert re.search(r'stacktender_check_value\{.*label="free",unit="%"\} [\d.]+', prom)

    config = "sweep: [disk-free]\n"
    for fmt in ("table", "json", "yaml", "csv", "value", "nagios", "prometheus"):
        proc = cli_run("sweep", "-f", fmt, config=config)
        assert proc.returncode == 0, (fmt, proc.stderr)
        assert "disk-free" in proc.stdout.lower(), fmt


def test_broken_plugin_is_reported_not_fatal(tmp_path: Path) -> None:
    dist = tmp_path / "broken_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[stacktender]\nbroken = no_such_module_xyz\n")
    env = {"PYTHONPATH": str(tmp_path)}
    import os

    run = subprocess.run(
        [sys.executable, "-m", "stacktender.cli.main", "plugins", "list", "-f", "json"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    rows = {row["name"]: row for row in json.loads(run.stdout)}
    assert rows["broken"]["package"] == "broken-plugin"
    assert "no_such_module_xyz" in rows["broken"]["error"]
    check = subprocess.run(
        [sys.executable, "-m", "stacktender.cli.main", "check", "disk-free"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert check.returncode == 0 and check.stdout.startswith("DISK-FREE OK")
    # Icinga merges stderr into the output: the status line stays first, the note comes after
    assert check.stderr == ""
    assert "note: plugin broken failed to load: broken-plugin" in check.stdout.splitlines()[1]


def test_plugin_registered_in_code() -> None:
    from stacktender_example_check import stacktender_checks

    class Mine:
        @hookspecs.hookimpl
        def stacktender_checks(self) -> list[Any]:
            (check,) = stacktender_checks()
            from dataclasses import replace

            return [replace(check, name="my-disk")]

    app = App(plugins=[Mine()])
    assert app.run(app.instance("my-disk")).status is Status.OK
    assert any(info.package == "(registered in code)" for info in describe_plugins(app.pm))


def test_every_hook_is_typed_and_documented() -> None:
    docs = (ROOT / "docs/plugins.md").read_text()
    hooks = [
        (name, func)
        for name, func in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("stacktender_")
    ]
    assert hooks
    for name, func in hooks:
        assert func.__doc__ and len(func.__doc__.strip().splitlines()) == 1, name
        assert "return" in inspect.get_annotations(func), name
        assert f"`{name}`" in docs, f"{name} is not documented in docs/plugins.md"
