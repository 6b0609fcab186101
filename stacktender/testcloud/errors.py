"""Errors of the testcloud: each names what failed and which log to read."""

from __future__ import annotations

from pathlib import Path

from stacktender.errors import StacktenderError

__all__ = ["InstallFailed", "PortInUse", "PrerequisiteMissing", "ServiceFailed", "TestCloudError"]


class TestCloudError(StacktenderError):
    """Something about the testcloud went wrong; the message is one line."""

    __test__ = False  # not a pytest test class, despite the name


class PrerequisiteMissing(TestCloudError):
    """A server the testcloud needs (MariaDB, PostgreSQL, RabbitMQ) is not reachable."""


class PortInUse(TestCloudError):
    """Another process listens on a port a testcloud service needs."""

    def __init__(self, service: str, port: int, log: Path) -> None:
        self.service, self.port, self.log = service, port, log
        super().__init__(
            f"{service}: port 127.0.0.1:{port} is already in use by another process "
            f"(free it or choose another --port-base); log: {log}"
        )


class InstallFailed(TestCloudError):
    """The OpenStack packages could not be installed into the testcloud's venv."""


class ServiceFailed(TestCloudError):
    """A setup step or a process of the testcloud failed."""

    def __init__(self, service: str, reason: str, log: Path | None) -> None:
        self.service, self.reason, self.log = service, reason, log
        where = f"; read {log}" if log else ""
        super().__init__(f"{service}: {reason}{where}")
