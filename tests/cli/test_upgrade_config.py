"""``stacktender upgrade config-diff`` through the real console script: real releases from
PyPI (cached venvs), real files, the testcloud's own config."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest

Run = Callable[..., CompletedProcess[str]]

# Resolved at import, before the suite isolates the environment of each test.
CACHE = str(
    os.environ.get("STACKTENDER_RELEASE_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stacktender/releases"
)
ENV = {"STACKTENDER_RELEASE_CACHE": CACHE}

NOVA_CONF = """\
[DEFAULT]
# API workers
osapi_compute_workers = 4
image_cache_manager_interval = 600
no_such_option = 1

[image_cache]
subdirectory_name = _base
"""


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    path = tmp_path / "nova.conf"
    path.write_text(NOVA_CONF)
    return path


def _diff(cli_run: Run, conf: Path, *args: str) -> CompletedProcess[str]:
    return cli_run(
        "upgrade", "config-diff", "--service", "nova", "--config", str(conf),
        "--from", "31.0.0", "--to", "34.0.0", *args, env=ENV, timeout=300,
    )  # fmt: skip


def test_help_has_examples(cli_run: Run) -> None:
    group = cli_run("upgrade", "--help")
    assert group.returncode == 0 and "config-diff" in group.stdout
    proc = cli_run("upgrade", "config-diff", "--help")
    assert proc.returncode == 0
    assert "stacktender upgrade config-diff --service nova --config /etc/nova/nova.conf" in (
        proc.stdout
    )


@pytest.mark.integration
def test_table_and_json_and_nothing_written(cli_run: Run, conf: Path) -> None:
    proc = _diff(cli_run, conf)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(
        "| removed " in line and "osapi_compute_workers" in line and "| 3 " in line
        for line in lines
    )
    assert any("-> [image_cache] manager_interval" in line for line in lines)
    assert "nova.conf: 4 options set, 1 unchanged in nova 34.0.0 (from 31.0.0); " in proc.stderr
    assert "1 removed, 1 renamed, 1 unknown" in proc.stderr

    rows = json.loads(_diff(cli_run, conf, "-f", "json", "--kind", "renamed").stdout)
    assert rows == [
        {
            "kind": "renamed",
            "group": "DEFAULT",
            "option": "image_cache_manager_interval",
            "line": 4,
            "change": "-> [image_cache] manager_interval",
            "replacement": "[image_cache] manager_interval",
            "installed_default": None,
            "target_default": None,
            "fix": "move",
            "detail": "deprecated name in nova 34.0.0 (still read); moved to "
            "[image_cache] manager_interval",
        }
    ]
    value = _diff(cli_run, conf, "-f", "value", "-c", "option", "--kind", "default-changed")
    assert "graceful_shutdown_timeout" in value.stdout.split()
    assert conf.read_text() == NOVA_CONF and sorted(p.name for p in conf.parent.iterdir()) == [
        "nova.conf"
    ]


@pytest.mark.integration
def test_fix_to_output_then_in_place(cli_run: Run, conf: Path, tmp_path: Path) -> None:
    out = tmp_path / "nova.conf.new"
    proc = _diff(cli_run, conf, "--fix", "--output", str(out), "--no-new")
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out} (2 change(s))" in proc.stderr
    assert conf.read_text() == NOVA_CONF
    assert out.read_text() == (
        "[DEFAULT]\n"
        "# API workers\n"
        "# stacktender: removed in nova 34.0.0, ignored there:\n"
        "# osapi_compute_workers = 4\n"
        "# stacktender: [DEFAULT] image_cache_manager_interval moved to "
        "[image_cache] manager_interval in nova 34.0.0\n"
        "no_such_option = 1\n"
        "\n"
        "[image_cache]\n"
        "subdirectory_name = _base\n"
        "# stacktender: was [DEFAULT] image_cache_manager_interval (moved in nova 34.0.0)\n"
        "manager_interval = 600\n"
    )
    in_place = _diff(cli_run, conf, "--fix")
    assert in_place.returncode == 0 and f"the original is {conf}.orig" in in_place.stderr
    assert conf.read_text() == out.read_text()
    assert Path(f"{conf}.orig").read_text() == NOVA_CONF
    nothing = _diff(cli_run, conf, "--fix")
    assert "nothing to fix: file not written" in nothing.stderr


@pytest.mark.integration
@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        ("", ("--service", "nvoa", "--to", "34.0.0"), "unknown service 'nvoa'"),
        ("", ("--service", "nova", "--to", "99.0.0"), "PyPI has no release 99.0.0 of nova"),
        ("", ("--service", "nova", "--to", "2019.1"), "unknown release series '2019.1'"),
        ("missing", ("--service", "nova", "--to", "34.0.0"), "cannot read"),
        (
            "[DEFAULT]\nthis is not ini\n",
            ("--service", "nova", "--to", "34.0.0"),
            "nova.conf:2: not 'key = value'",
        ),
    ],
)
def test_bad_input_is_one_line_error(
    cli_run: Run, conf: Path, setup: str, args: tuple[str, ...], message: str
) -> None:
    if setup == "missing":
        conf.unlink()
    elif setup:
        conf.write_text(setup)
    before = sorted(conf.parent.iterdir())
    proc = cli_run(
        "upgrade", "config-diff", "--config", str(conf), "--from", "31.0.0", *args, env=ENV
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("stacktender: error: ") and message in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert sorted(conf.parent.iterdir()) == before


def test_output_needs_fix(cli_run: Run, conf: Path) -> None:
    proc = cli_run(
        "upgrade", "config-diff", "--service", "nova", "--config", str(conf),
        "--to", "34.0.0", "--output", "x.conf",
    )  # fmt: skip
    assert proc.returncode == 2 and "--output is only used with --fix" in proc.stderr


@pytest.mark.integration
@pytest.mark.testcloud
def test_testcloud_nova_conf_with_the_installed_release_found(cli_run: Run, testcloud: Any) -> None:
    state = Path(testcloud.settings.state_dir)
    conf = state / "etc" / "nova" / "nova-compute.conf"
    env = dict(ENV)
    if state.parts[-2:] == ("stacktender", "testcloud"):
        # the default candidates: <XDG_DATA_HOME>/stacktender/testcloud/venv
        env["XDG_DATA_HOME"] = str(state.parent.parent)
        extra: tuple[str, ...] = ()
    else:
        extra = ("--installed-python", str(state / "venv"))
    proc = cli_run(
        "upgrade", "config-diff", "--service", "nova", "--config", str(conf),
        "--to", "33.0.0", "-f", "json", *extra, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert "(from 34.0.0)" in proc.stderr
    assert {"kind": "unknown", "group": "service_user", "option": "region_name"}.items() <= (
        next(r for r in rows if r["option"] == "region_name" and r["group"] == "service_user")
    ).items()
