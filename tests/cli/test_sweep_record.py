"""sweep --record: an unreachable store fails before any check runs, with one line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from support import free_port


def test_unreachable_store_fails_fast_and_says_so(cli_run: Callable[..., Any]) -> None:
    config = (
        f"store: postgresql://postgres:pw9secret@127.0.0.1:{free_port()}/x\nsweep: [disk-free]\n"
    )
    proc = cli_run("sweep", "--record", "-f", "value", config=config)
    assert proc.returncode == 1
    assert proc.stdout == ""  # nothing ran, so nothing is lost
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "pw9secret" not in proc.stderr
