"""Fixtures shared by the whole suite; service fixtures live beside the tests that use them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

# A suite started as a background job of a non-interactive shell inherits SIGINT
# ignored, and so would every CLI it starts: the tests that press Ctrl-C on one (purge,
# serve-metrics) need it to arrive as it does from a terminal. A handler here is reset
# to the default in each child, which Python then turns into KeyboardInterrupt.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

from stacktender.app import App
from stacktender.config import Config, parse_config

sys.path.insert(0, str(Path(__file__).parent))

from store_fixtures import mariadb_database, pg_database, store_url
from support import free_port, port_open, require_binary, running
from testcloud_support import RunningTestCloud

from stacktender.testcloud import TestCloud, default_state_dir
from stacktender.testcloud.scenario import ScenarioRun, run_scenario
from stacktender.testcloud.seed import seed

__all__ = ["mariadb_database", "pg_database", "store_url"]  # fixtures every package may use


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
            # never the test runner's own stdin: commands that read a piped stdin would wait
            stdin=subprocess.DEVNULL if input is None else None,
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


# -- the testcloud ------------------------------------------------------------------------
# A real local OpenStack, brought up once per test run. It reuses a healthy cloud (``up``
# is a no-op then) in $STACKTENDER_TESTCLOUD_DIR or the default state directory, seeds it
# (idempotent), and is left running afterwards so the next run starts in seconds. Tests
# that stop a service must start it again (``testcloud.cloud.up()``) before they end.
#
#     @pytest.mark.testcloud
#     def test_something(testcloud):
#         conn = testcloud.connect()                 # openstacksdk, as admin
#
# Resolved at import, before the suite's per-test isolated $HOME/$XDG_* take effect.
TESTCLOUD_DIR = Path(os.environ.get("STACKTENDER_TESTCLOUD_DIR") or default_state_dir())


def _testcloud_progress(message: str) -> None:
    sys.stderr.write(f"[testcloud] {message}\n")


@pytest.fixture(scope="session")
def testcloud() -> Iterator[RunningTestCloud]:
    """The local OpenStack, up and seeded (reused when already healthy)."""
    cloud = TestCloud(TESTCLOUD_DIR, progress=_testcloud_progress)
    cloud.up()
    seeded = seed(cloud)
    yield RunningTestCloud(cloud, cloud.settings(), seeded)


@pytest.fixture(scope="session")
def testcloud_scenario(testcloud: RunningTestCloud) -> ScenarioRun:
    """A boot, a failed boot, a resize and a delete, run once per test session; the
    services' log files under ``testcloud.settings`` hold their request ids."""
    return run_scenario(testcloud.cloud)


# -- an sshd of our own ---------------------------------------------------------------------


@dataclass
class SshServer:
    """A private sshd on loopback that accepts ``client_key`` for the current user."""

    port: int
    client_key: Path
    user: str

    @property
    def ssh_options(self) -> list[str]:
        """ssh arguments to reach it (no host-key prompt, no known_hosts entry)."""
        return [
            "-p", str(self.port), "-i", str(self.client_key), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
        ]  # fmt: skip


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """An sshd of our own on a free port, with a host key and a client key made here
    (it has no sftp subsystem: copy with pipes)."""
    binary, keygen = require_binary("sshd"), require_binary("ssh-keygen")
    home = tmp_path_factory.mktemp("sshd")
    for key in ("host_key", "client_key"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(home / key)], check=True)
    (home / "authorized_keys").write_text((home / "client_key.pub").read_text())
    os.chmod(home / "authorized_keys", 0o600)
    port = free_port()
    config = home / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home / 'host_key'}\n"
        f"AuthorizedKeysFile {home / 'authorized_keys'}\nPidFile {home / 'sshd.pid'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nPermitRootLogin prohibit-password\nLogLevel ERROR\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    with running(
        [binary, "-D", "-e", "-f", str(config)], ready=lambda: port_open(port), log=home / "log"
    ):
        yield SshServer(port, home / "client_key", os.environ.get("USER") or "root")
