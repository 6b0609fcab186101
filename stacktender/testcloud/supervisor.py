"""The processes of one testcloud: started from the current config, checked, stopped.

Each process has a pid file and a config fingerprint under ``<state>/run``, its
console output in ``<state>/logs/<name>.console.log`` and its oslo.log file in
``<state>/logs/<name>.log``. A process whose command line or config changed is
restarted by :meth:`Supervisor.start`.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from stacktender.testcloud import process
from stacktender.testcloud.config import Settings, config_path, wsgi_module
from stacktender.testcloud.errors import PortInUse, ServiceFailed
from stacktender.testcloud.releases import ServiceSpec, compute_groups

__all__ = ["ServiceStatus", "Supervisor"]

# gunicorn for every API: worker processes (ServiceSpec.workers) with threads, on loopback
GUNICORN_OPTIONS = (
    "--worker-class",
    "gthread",
    "--threads",
    "8",
    "--timeout",
    "300",
    "--graceful-timeout",
    "5",
    # longer than clients keep idle connections: gunicorn's 2 s default races with
    # pollers reusing a connection ("Remote end closed connection without response")
    "--keep-alive",
    "75",
    # nova asks neutron about the ports of many servers in one GET
    "--limit-request-line",
    "0",
)


@dataclass
class ServiceStatus:
    """One process of the testcloud as ``status`` shows it."""

    service: str
    state: str  # up | down
    pid: int | None
    port: int | None
    rss_mb: float
    pss_mb: float
    hosts: str
    log: str


class Supervisor:
    """Start, check and stop the processes of the cloud described by settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # -- files -------------------------------------------------------------------------
    def pidfile(self, name: str) -> Path:
        return self.settings.run / f"{name}.pid"

    def log(self, name: str) -> Path:
        """The oslo.log file of a process."""
        return self.settings.logs / f"{name}.log"

    def console(self, name: str) -> Path:
        """stdout and stderr of a process."""
        return self.settings.logs / f"{name}.console.log"

    def _stamp(self, name: str) -> Path:
        return self.settings.run / f"{name}.fingerprint"

    # -- commands ----------------------------------------------------------------------
    def argv(self, spec: ServiceSpec) -> list[str]:
        settings = self.settings
        if spec.kind == "wsgi":
            return [
                str(settings.venv / "bin" / "gunicorn"),
                "--bind",
                f"127.0.0.1:{settings.port(spec)}",
                "--workers",
                str(spec.workers),
                *GUNICORN_OPTIONS,
                "--name",
                f"{settings.name}-{spec.name}",
                "--pythonpath",
                str(settings.state_dir / "wsgi"),
                f"{wsgi_module(spec)}:application",
            ]
        ctx = settings.context(spec.name)
        return [a.format_map(ctx) for a in spec.argv]

    def fingerprint(self, spec: ServiceSpec) -> str:
        """Hash of a process's command line, config file and runtime helpers (a changed
        helper restarts the processes that run it, as a changed config does)."""
        argv = self.argv(spec)
        digest = hashlib.sha256("\0".join(argv).encode())
        digest.update(config_path(self.settings, spec.name, spec.project).read_bytes())
        runtime = self.settings.runtime
        if any(arg.startswith(str(runtime)) for arg in argv):
            for helper in sorted(runtime.glob("*.py")):
                digest.update(helper.read_bytes())
        return digest.hexdigest()[:16]

    def running(self, name: str) -> process.Proc | None:
        proc = process.read_pidfile(self.pidfile(name))
        return proc if proc is not None and proc.alive() else None

    def is_current(self, spec: ServiceSpec) -> bool:
        """Running, and started from the current command line and config."""
        try:
            stamp = self._stamp(spec.name).read_text()
        except OSError:
            return False
        return self.running(spec.name) is not None and stamp == self.fingerprint(spec)

    # -- start and stop ----------------------------------------------------------------
    def start(self, spec: ServiceSpec) -> bool:
        """Start spec unless it runs with the current config (then False); a running
        process with an outdated config is restarted."""
        if self.is_current(spec):
            return False
        old = self.running(spec.name)
        if old is not None:
            process.stop([old])
        port = self.settings.port(spec)
        if port is not None and not process.port_free(port):
            raise PortInUse(spec.name, port, self.log(spec.name))
        bindir = self.settings.venv / "bin"
        env = {"PATH": f"{bindir}:{os.environ.get('PATH', '')}", "PYTHONUNBUFFERED": "1"}
        process.start(
            self.argv(spec),
            pidfile=self.pidfile(spec.name),
            log=self.console(spec.name),
            env=env,
            cwd=self.settings.state_dir,
        )
        self._stamp(spec.name).write_text(self.fingerprint(spec))
        return True

    def stop(self, names: Sequence[str] = ()) -> list[str]:
        """Stop every process with a pid file, or only names; the ones that were running."""
        for name in names:
            self.settings.service(name)  # unknown names raise with the list of services
        pidfiles = sorted(self.settings.run.glob("*.pid"))
        if names:
            pidfiles = [p for p in pidfiles if p.stem in names]
        procs, stopped = [], []
        for pidfile in pidfiles:
            proc = process.read_pidfile(pidfile)
            if proc is not None and proc.alive():
                procs.append(proc)
                stopped.append(pidfile.stem)
        process.stop(procs)
        for pidfile in pidfiles:
            pidfile.unlink(missing_ok=True)
        return stopped

    def stop_retired(self) -> None:
        """Stop processes no longer in the topology (fewer compute hosts than before)."""
        current = {s.name for s in self.settings.services()}
        retired = [p.stem for p in self.settings.run.glob("*.pid") if p.stem not in current]
        for name in retired:
            proc = self.running(name)
            if proc is not None:
                process.stop([proc])
            self.pidfile(name).unlink(missing_ok=True)

    def check_alive(self, names: Sequence[str]) -> None:
        """ServiceFailed, naming the log with the reason, for the first of names that exited."""
        for name in names:
            if self.running(name) is None:
                reason, log = "no error logged", self.console(name)
                for candidate in (self.console(name), self.log(name)):
                    found = last_error(candidate)
                    if found:
                        reason, log = found, candidate
                        break
                raise ServiceFailed(name, f"exited during start: {reason}", log)

    # -- status ------------------------------------------------------------------------
    def status(self) -> list[ServiceStatus]:
        """Every process: up/down, pid, port, memory; a crashed process shows down."""
        settings = self.settings
        groups = dict(compute_groups(settings.compute_hosts))
        rows = []
        for spec in settings.services():
            proc = self.running(spec.name)
            port = settings.port(spec)
            listening = port is None or not process.port_free(port)
            rss, pss = process.group_memory(proc.pid) if proc else (0.0, 0.0)
            rows.append(
                ServiceStatus(
                    service=spec.name,
                    state="up" if proc and listening else "down",
                    pid=proc.pid if proc else None,
                    port=port,
                    rss_mb=round(rss, 1),
                    pss_mb=round(pss, 1),
                    hosts=_host_range(groups.get(spec.name, [])),
                    log=str(self.log(spec.name)),
                )
            )
        return rows


def _host_range(hosts: list[str]) -> str:
    """``tc-compute-1..10`` for a run of compute hosts, ``a,b`` for two or fewer."""
    if len(hosts) <= 2:
        return ",".join(hosts)
    return f"{hosts[0]}..{hosts[-1].rsplit('-', 1)[1]}"


_ERROR = re.compile(r"(Error|Exception|error:|CRITICAL|Traceback|SystemExit)")


def last_error(path: Path) -> str:
    """The last line of a log's latest run that looks like the reason for a failure, or ""."""
    try:
        lines = path.read_text(errors="replace").splitlines()[-300:]
    except OSError:
        return ""
    for line in reversed(lines):
        if line.startswith("--- "):
            break  # output of an earlier run
        if _ERROR.search(line) and not line.rstrip().endswith("Traceback (most recent call last):"):
            return line.strip()[:240]
    return ""
