"""The compiled text merge (stacktender/logs/_cmerge.c via cmerge) against the Python
light path, on real files: built at install; the same bytes through the command's
stdout pipe (the writev path) as the Python path writes, with sources handed back to
the Python reader at their start and after many blocks; real oslo.log and testcloud
files read by the compiled reader itself; a reader that leaves early."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stacktender.logs import cmerge
from stacktender.logs.fastmerge import MergedText
from stacktender.logs.sources import discover

DATA = Path(__file__).parent / "data"
STACKTENDER = Path(sys.executable).parent / "stacktender"


def test_the_compiled_module_is_built() -> None:
    """`make`'s install builds it (an optional extension: a machine without a compiler
    installs without it); CI has a compiler, so here it must be there."""
    assert cmerge.AVAILABLE


def _oslo_lines(count: int, *, pid: int, start_ms: int = 0) -> list[str]:
    """Default-layout records with prefixed tracebacks, multi-line messages, ties and
    lines a few ms out of order."""
    lines = []
    for n in range(count):
        ms = start_ms + n * 7 - (5 if n % 13 == 0 else 0)
        stamp = f"2026-11-25 16:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"
        level = ("INFO", "DEBUG", "WARNING", "ERROR")[n % 4]
        lines.append(f"{stamp} {pid} {level} nova.compute.manager [-] record {n} ünïcode")
        if level == "ERROR":
            lines.append(f"{stamp} {pid} ERROR nova.compute.manager Traceback (most recent)")
            lines.append(f"{stamp} {pid} ERROR nova.compute.manager   File x, line {n}")
        if n % 11 == 0:
            lines.append("  a second line of the message")
    return lines


def _files(root: Path) -> Path:
    """Files of every kind the command meets: plain default-layout logs of several
    blocks, one that turns to JSON after many blocks, a gzipped one, the edge cases."""
    host = root / "ctl1"
    host.mkdir(parents=True)
    (host / "nova-compute.log").write_text("\n".join(_oslo_lines(4000, pid=1)) + "\n")
    (host / "nova-api.log").write_text("\n".join(_oslo_lines(3000, pid=2, start_ms=3)))
    late_json = _oslo_lines(3000, pid=3)
    late_json.insert(2500, '{"created": 1795622400.5, "levelname": "INFO", "message": "j"}')
    (host / "nova-conductor.log").write_text("\n".join(late_json) + "\n")
    with gzip.open(host / "nova-scheduler.log.1.gz", "wt") as out:
        out.write("\n".join(_oslo_lines(500, pid=4)) + "\n")
    other = root / "ctl2"
    other.mkdir()
    for name in ("oslo-edge-cases.log", "journald-short-iso.txt"):
        shutil.copy(DATA / name, other / name)
    (other / "odd.log").write_text("no format here\n2026-11-25 16:00:00.500 1 INFO x [-] y\n")
    return root


def _merge(root: Path, compiled: bool, colour: bool = False) -> tuple[str, MergedText]:
    merged = MergedText(discover([str(root)], by_host=True), colour=colour, compiled=compiled)
    out = io.StringIO()
    merged.write(out)
    return out.getvalue(), merged


def test_real_files_give_the_python_paths_bytes(tmp_path: Path) -> None:
    root = _files(tmp_path / "logs")
    for colour in (False, True):
        python, python_merged = _merge(root, False, colour)
        compiled, compiled_merged = _merge(root, True, colour)
        assert compiled == python
        assert compiled_merged.stats == python_merged.stats
    # nova-api, nova-compute and oslo-edge-cases are read in C; the one with a late
    # JSON line (after many blocks), the gzipped one, journald's and odd.log go back to
    # the Python reader
    assert compiled_merged.compiled_sources == 3
    assert python.count("ctl1 nova-conductor ") == 3000 + 750 * 2 + 273 + 1


def test_the_command_writes_the_same_bytes_into_a_pipe(tmp_path: Path) -> None:
    """`stacktender logs merge` writes to its stdout's descriptor with writev: the
    bytes a reader of the pipe gets are the Python path's."""
    root = _files(tmp_path / "logs")
    expected, _merged = _merge(root, False)
    done = subprocess.run(
        [str(STACKTENDER), "logs", "merge", "--by-host", "--no-color", str(root)],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected.encode()
    assert b"1 lines in no known format" in done.stderr  # the counters reached the note


def test_a_reader_that_leaves_early(tmp_path: Path) -> None:
    """`| head -1`: the write fails with EPIPE; the command ends quietly."""
    root = tmp_path / "logs" / "h"
    root.mkdir(parents=True)
    (root / "nova-api.log").write_text("\n".join(_oslo_lines(60_000, pid=1)) + "\n")
    command = [str(STACKTENDER), "logs", "merge", "--by-host", "--no-color", str(root.parent)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()
    errors = process.stderr.read()
    assert process.wait(timeout=60) == 0
    assert first.startswith(b"h nova-api 2026-11-25 16:00:00.")
    assert b"Traceback" not in errors


def test_oslo_logs_own_output(oslo_written: Any, tmp_path: Path) -> None:
    """Files written by oslo.log itself (context and JSON formatters)."""
    for path in (oslo_written.context_log, oslo_written.json_log):
        shutil.copy(path, tmp_path / path.name)
    python, _ = _merge(tmp_path, False)
    compiled, merged = _merge(tmp_path, True)
    assert compiled == python
    assert merged.compiled_sources >= 1  # the context formatter's file


@pytest.mark.testcloud
def test_the_testclouds_service_logs_are_read_by_the_compiled_reader(
    testcloud: Any, testcloud_scenario: Any, tmp_path: Path
) -> None:
    """After a boot, a failed boot, a resize and a delete (with the tracebacks the
    failed boot writes), a copy of every log: the services keep writing to theirs."""
    logs = Path(testcloud.settings.logs)
    for path in logs.glob("*.log"):
        shutil.copy(path, tmp_path / path.name)
    python, _ = _merge(tmp_path, False)
    compiled, merged = _merge(tmp_path, True)
    assert compiled == python
    for request in (testcloud_scenario.boot, testcloud_scenario.failed_boot):
        assert request in compiled
    # the services' own logs (nova-api.log, keystone.log...); the console logs, the
    # *-manage logs, the installer's log and glance's JSON are the Python reader's, and
    # one service log more may go back too: a multi-line message whose later lines carry
    # no prefix (seen: neutron-api's SQLAlchemy errors ending "(Background on this error
    # at: ...)" while MariaDB was out of connections) is a line C does not vouch for
    services = [
        p
        for p in tmp_path.glob("*.log")
        if p.stat().st_size
        and ".console" not in p.name
        and "-manage" not in p.name
        and p.name not in {"install.log", "glance-api.log"}
    ]
    assert merged.compiled_sources >= len(services) - 1 > 0


def test_without_the_compiled_module_the_python_path_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An install without a compiler has no _cmerge (a fault faked here by hiding
    the built module: this machine has a compiler): MergedText then uses Python."""
    root = _files(tmp_path / "logs")
    expected, _ = _merge(root, False)
    monkeypatch.setattr(cmerge, "AVAILABLE", False)
    merged = MergedText(discover([str(root)], by_host=True))
    out = io.StringIO()
    merged.write(out)
    assert out.getvalue() == expected
    assert merged.compiled_sources == 0


def test_fd_target_needs_utf8(tmp_path: Path) -> None:
    """An output in another encoding gets text, encoded by its own writer."""
    path = tmp_path / "out.txt"
    with open(path, "w", encoding="latin-1") as out:
        assert not isinstance(cmerge._target(out), int)
    with open(path, "w", encoding="utf-8") as out:
        assert cmerge._target(out) == out.fileno()
    assert os.path.exists(path)
