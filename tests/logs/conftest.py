"""Fixtures of the logs tests: lines written by oslo.log's own formatters, and sources
built from text in memory."""

from __future__ import annotations

import io
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stacktender.logs.sources import LogSource
from stacktender.testcloud.config import default_state_dir

DATA = Path(__file__).parent / "data"


@dataclass
class OsloWritten:
    """What tests/logs/data/oslo_writer.py wrote with oslo.log, and what it logged."""

    directory: Path
    expected: dict[str, list[dict[str, Any]]]

    @property
    def context_log(self) -> Path:
        return self.directory / "context.log"

    @property
    def json_log(self) -> Path:
        return self.directory / "json.log"


@pytest.fixture(scope="session")
def oslo_written(tmp_path_factory: pytest.TempPathFactory) -> OsloWritten:
    """Log lines from oslo.log's ContextFormatter and JSONFormatter, run by the
    testcloud's venv (the real oslo.log the services use), times fixed, in UTC."""
    state = Path(os.environ.get("STACKTENDER_TESTCLOUD_DIR") or default_state_dir())
    python = state / "venv" / "bin" / "python"
    if not python.exists():
        pytest.fail(f"no testcloud venv at {python}: run 'stacktender testcloud up' once")
    out = tmp_path_factory.mktemp("oslo-written")
    subprocess.run(
        [str(python), str(DATA / "oslo_writer.py"), str(out)],
        check=True,
        env={**os.environ, "TZ": "UTC"},
        timeout=120,
    )
    return OsloWritten(out, json.loads((out / "expected.json").read_text()))


@pytest.fixture
def memory_source() -> Callable[..., LogSource]:
    """A LogSource over bytes or text held in memory."""

    def build(data: bytes | str, *, name: str = "mem.log", host: str = "h1", service: str = "svc"):
        raw = data.encode() if isinstance(data, str) else data
        return LogSource(name=name, host=host, service=service, open=lambda: io.BytesIO(raw))

    return build
