"""Fixtures shared by the whole suite; service fixtures live beside the tests that use them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from stacktender.app import App
from stacktender.config import Config, parse_config

sys.path.insert(0, str(Path(__file__).parent))

from support import free_port, require_binary, running


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test reads or writes the developer's own config, data or clouds.yaml."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.delenv("STACKTENDER_CONFIG", raising=False)


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., App]:
    """Build an App from YAML text (or a Config), loading the installed plugins."""

    def build(text: str | Config = "", **kwargs: Any) -> App:
        config = (
            text if isinstance(text, Config) else parse_config(text, tmp_path / "stacktender.yaml")
        )
        return App(config, **kwargs)

    return build


@pytest.fixture
def cli_run(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real ``stacktender`` console script, as Icinga or a user would."""

    def run(
        *args: str,
        config: str | None = None,
        input: str | None = None,
        timeout: float = 60,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "stacktender.cli.main"]
        if config is not None:
            path = tmp_path / "cli-config.yaml"
            path.write_text(config)
            cmd += ["--config", str(path)]
        return subprocess.run(
            [*cmd, *args],
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )

    return run


@pytest.fixture
def cli_runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def memcached_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A private memcached on a free port."""
    binary = require_binary("memcached")
    port = free_port()
    log = tmp_path_factory.mktemp("memcached") / "memcached.log"
    from support import port_open

    with running(
        [
            binary,
            "-l",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "0",
            "-u",
            "root",
            "-m",
            "8",
            "-c",
            "64",
        ],
        ready=lambda: port_open(port),
        log=log,
    ):
        yield port
