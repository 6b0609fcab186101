"""Supervised processes: pid files, process groups, zombies, memory, ports."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

from stacktender.testcloud.process import (
    Proc,
    group_memory,
    port_free,
    read_pidfile,
    start,
    stop,
)


def wait_dead(proc: Proc, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while proc.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not proc.alive()


def test_start_writes_pidfile_and_log_stop_ends_the_whole_group(tmp_path: Path) -> None:
    pidfile, log = tmp_path / "run" / "x.pid", tmp_path / "logs" / "x.log"
    # a parent with a child in the same process group, both ignoring nothing
    proc = start(["sh", "-c", "echo hello; sleep 60 & sleep 60"], pidfile=pidfile, log=log)
    assert read_pidfile(pidfile) == proc
    assert proc.alive()
    deadline = time.monotonic() + 5
    while "hello" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "starting: sh -c" in log.read_text() and "hello" in log.read_text()
    rss, pss = group_memory(proc.pid)
    assert rss > 0 and 0 < pss <= rss
    stop([proc], timeout=5)
    assert wait_dead(proc)
    assert group_memory(proc.pid) == (0, 0)


def test_stop_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    proc = start(
        ["sh", "-c", "trap '' TERM; sleep 60"],
        pidfile=tmp_path / "p.pid",
        log=tmp_path / "p.log",
    )
    time.sleep(0.2)
    began = time.monotonic()
    stop([proc], timeout=1)
    assert wait_dead(proc)
    assert time.monotonic() - began < 5


def test_a_killed_process_is_not_alive_even_as_a_zombie(tmp_path: Path) -> None:
    proc = start(["sleep", "60"], pidfile=tmp_path / "z.pid", log=tmp_path / "z.log")
    os.kill(proc.pid, signal.SIGKILL)
    assert wait_dead(proc)  # a zombie of this test process until reaped


def test_pid_reuse_is_detected_by_start_time() -> None:
    me = Proc(os.getpid(), 0)
    assert not me.alive()


def test_unreadable_pidfile_is_none(tmp_path: Path) -> None:
    (tmp_path / "bad.pid").write_text("garbage")
    assert read_pidfile(tmp_path / "bad.pid") is None
    assert read_pidfile(tmp_path / "missing.pid") is None


def test_port_free() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        assert not port_free(port)
    assert port_free(port)
