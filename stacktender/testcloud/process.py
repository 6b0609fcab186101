"""Background processes with pid files, console logs and process groups (Linux /proc)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Proc",
    "group_memory",
    "port_free",
    "read_pidfile",
    "start",
    "stop",
]


@dataclass(frozen=True)
class Proc:
    """A started process: its pid and the kernel's start time (guards against pid reuse)."""

    pid: int
    started: int

    def alive(self) -> bool:
        """Running (not a zombie) and still the same process as when started."""
        stat = _stat(self.pid)
        return stat is not None and stat[0] not in "ZX" and stat[2] == self.started


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, process group, start time) of pid from /proc, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[2]), int(fields[19])


def start(
    argv: Sequence[str],
    *,
    pidfile: Path,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Proc:
    """Start argv in a new session (its own process group), output appended to log."""
    log.parent.mkdir(parents=True, exist_ok=True)
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(
            f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode()
        )
        out.flush()
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
    stat = _stat(popen.pid)
    proc = Proc(popen.pid, stat[2] if stat else 0)
    pidfile.write_text(f"{proc.pid} {proc.started}\n")
    return proc


def read_pidfile(pidfile: Path) -> Proc | None:
    try:
        pid, started = pidfile.read_text().split()
        return Proc(int(pid), int(started))
    except (OSError, ValueError):
        return None


def stop(procs: Sequence[Proc], timeout: float = 10.0) -> None:
    """SIGTERM every process group, wait up to timeout, then SIGKILL what is left."""
    groups = [p.pid for p in procs if p.alive()]
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_group_members(g) for g in groups):
        _reap()
        time.sleep(0.1)
    for pgid in groups:
        if _group_members(pgid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_group_members(g) for g in groups):
        _reap()
        time.sleep(0.05)


def _reap() -> None:
    """Collect exited children of this process (when the cloud was started by it)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is pgid."""
    members = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat and stat[1] == pgid and stat[0] not in "ZX":
                members.append(int(entry.name))
    return members


def group_memory(pgid: int) -> tuple[float, float]:
    """(RSS, PSS) in MiB summed over the process group (PSS counts shared pages once)."""
    rss = pss = 0
    for pid in _group_members(pgid):
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
    return rss / 1024, pss / 1024


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Nothing listens on host:port (and it can be bound)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
