"""Pins and the testcloud venv; a release that fails to install names its log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from testcloud_support import free_port_base

from stacktender.testcloud import Settings
from stacktender.testcloud.errors import InstallFailed
from stacktender.testcloud.install import PINS_ENV, parse_pins, requirements
from stacktender.testcloud.releases import DEFAULT_RELEASE, RELEASES


def test_parse_pins_from_options_and_env_text() -> None:
    assert parse_pins(("nova==34.0.0", "cinder")) == {"nova": "34.0.0", "cinder": ""}
    assert parse_pins("nova==1.0, glance==2.0") == {"nova": "1.0", "glance": "2.0"}
    with pytest.raises(InstallFailed):
        parse_pins(["==1.0"])


def test_requirements_pin_every_service_and_apply_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PINS_ENV, raising=False)
    settings = Settings(state_dir=tmp_path)
    reqs = requirements(settings)
    for name, version in RELEASES[DEFAULT_RELEASE].python_packages.items():
        assert f"{name}=={version}" in reqs
    assert "gunicorn==27.0.1" in reqs
    monkeypatch.setenv(PINS_ENV, "nova==99.0.0")
    assert "nova==99.0.0" in requirements(settings)
    assert "nova==98.0.0" in requirements(settings, {"nova": "98.0.0"})
    settings.db_url = "postgresql://postgres@127.0.0.1:5432"
    assert "psycopg2-binary" in requirements(settings)


def test_unknown_release_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InstallFailed, match="unknown release 'zebra'"):
        requirements(Settings(state_dir=tmp_path, release="zebra"))


@pytest.mark.integration
def test_a_release_that_does_not_install_gives_one_line_naming_the_log(
    tmp_path: Path, cli_run: Any
) -> None:
    state = tmp_path / "tc"
    out = cli_run(
        "testcloud",
        "up",
        "--state-dir",
        str(state),
        "--name",
        "tcbadpin",
        "--port-base",
        str(free_port_base()),
        env={PINS_ENV: "nova==1.0.99"},
        timeout=180,
    )
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(
        f"stacktender: error: installing OpenStack {DEFAULT_RELEASE} with nova==1.0.99 failed: "
    )
    assert "nova==1.0.99" in lines[0]
    assert lines[0].endswith(f"read {state / 'logs' / 'install.log'}")
