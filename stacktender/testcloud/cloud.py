"""The testcloud object: up, status, down, destroy, logs of one local OpenStack."""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from stacktender.testcloud import bootstrap, catalog, database, health, install, process, rabbit
from stacktender.testcloud.config import Settings, default_state_dir, render_configs
from stacktender.testcloud.errors import PortInUse, ServiceFailed, TestCloudError
from stacktender.testcloud.releases import DATABASES, compute_groups
from stacktender.testcloud.supervisor import ServiceStatus, Supervisor

__all__ = ["ServiceStatus", "TestCloud", "UpResult"]

Progress = Callable[[str], None]
NOTIFICATION_CAP = 50_000  # messages kept per notification queue (see docs/testcloud.md)


@dataclass
class UpResult:
    """What ``up`` did: nothing (already running) or a start, with its step timings."""

    already_running: bool
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    clouds_yaml: list[Path] = field(default_factory=list)


class TestCloud:
    """A real OpenStack control plane run from PyPI packages under one state directory."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, state_dir: str | Path | None = None, progress: Progress | None = None):
        self.state_dir = Path(state_dir) if state_dir else default_state_dir()
        self.progress: Progress = progress or (lambda message: None)
        self._lock_depth = 0
        self._lock_file: IO[bytes] | None = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the state directory's lock: one up/down/destroy/seed at a time, machine-wide."""
        if self._lock_depth == 0:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self._lock_file = open(self.state_dir / ".lock", "wb")  # noqa: SIM115
            fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        self._lock_depth += 1
        try:
            yield
        finally:
            self._lock_depth -= 1
            if self._lock_depth == 0 and self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None

    # -- settings ----------------------------------------------------------------------
    def settings(self) -> Settings:
        """The saved settings; TestCloudError when no cloud was ever set up here."""
        settings = Settings.load(self.state_dir)
        if settings is None:
            raise TestCloudError(
                f"no testcloud in {self.state_dir}: run 'stacktender testcloud up' first"
            )
        return settings

    def exists(self) -> bool:
        return Settings.load(self.state_dir) is not None

    def _configure(self, **options: object) -> Settings:
        settings = Settings.load(self.state_dir) or Settings(state_dir=self.state_dir)
        changed = {k: v for k, v in options.items() if v is not None}
        if bootstrap.is_set_up(settings, "keystone"):
            for key in ("name", "db_url", "release"):
                if key in changed and changed[key] != getattr(settings, key):
                    raise TestCloudError(
                        f"the testcloud in {self.state_dir} was set up with {key} "
                        f"{getattr(settings, key)!r}; run 'stacktender testcloud destroy' first"
                    )
        for key, value in changed.items():
            setattr(settings, key, value)
        settings.ensure_passwords()
        settings.save()
        return settings

    # -- up ----------------------------------------------------------------------------
    def up(
        self,
        *,
        db_url: str | None = None,
        compute_hosts: int | None = None,
        port_base: int | None = None,
        name: str | None = None,
        release: str | None = None,
        pins: dict[str, str] | None = None,
        debug: bool | None = None,
        timeout: float = 900.0,
    ) -> UpResult:
        """Install, configure, set up and start everything missing; wait until healthy.

        A healthy cloud with unchanged settings is left alone; after a failure, a
        second call resumes (every step is create-if-missing).
        """
        with self.locked():
            return self._up(
                db_url=db_url,
                compute_hosts=compute_hosts,
                port_base=port_base,
                name=name,
                release=release,
                pins=pins,
                debug=debug,
                timeout=timeout,
            )

    def _up(
        self,
        *,
        db_url: str | None,
        compute_hosts: int | None,
        port_base: int | None,
        name: str | None,
        release: str | None,
        pins: dict[str, str] | None,
        debug: bool | None,
        timeout: float,
    ) -> UpResult:
        began = time.monotonic()
        settings = self._configure(
            db_url=db_url,
            compute_hosts=compute_hosts,
            port_base=port_base,
            name=name,
            release=release,
            debug=debug,
        )
        result = UpResult(already_running=False, seconds=0.0)
        timings = result.timings
        reqs = install.requirements(settings, pins)
        if install.is_installed(settings, reqs):
            render_configs(settings)  # a changed setting changes a config: not a no-op
            if self._all_current(settings, Supervisor(settings)):
                result.already_running = True
                result.seconds = time.monotonic() - began
                return result

        self._step(timings, "preflight", lambda: self._preflight(settings))
        if not install.is_installed(settings, reqs):
            self.progress(f"installing OpenStack {settings.release} from PyPI")
            self._step(timings, "install", lambda: install.install(settings, reqs))
        self._step(timings, "configure", lambda: render_configs(settings))
        self._step(timings, "databases", lambda: self._databases(settings))
        self._step(timings, "vhost", lambda: self._vhost(settings))
        supervisor = Supervisor(settings)
        supervisor.stop_retired()

        projects = list(DATABASES)
        self.progress("migrating databases, setting up keystone and nova cells")
        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
            futures = {pool.submit(bootstrap.run_setup, settings, p): p for p in projects}
            by_project = {p: f for f, p in futures.items()}
            timings["setup keystone"] = by_project["keystone"].result()
            result.started += self._start_project(supervisor, "keystone")
            self._wait_apis(supervisor, ["keystone"], timeout)
            self._step(timings, "catalog", lambda: self._register(settings))
            for future in concurrent.futures.as_completed(futures):
                project = futures[future]
                if project == "keystone":
                    continue
                timings[f"setup {project}"] = future.result()
                result.started += self._start_project(supervisor, project)
        result.clouds_yaml = catalog.write_clouds_yaml(settings)
        apis = [s.name for s in settings.services() if s.kind == "wsgi"]
        self._step(timings, "apis", lambda: self._wait_apis(supervisor, apis, timeout))
        self._step(timings, "services", lambda: self._wait_registered(supervisor, timeout))
        result.seconds = time.monotonic() - began
        self.progress(f"testcloud healthy after {result.seconds:.0f}s")
        return result

    def _step(self, timings: dict[str, float], name: str, action: Callable[[], object]) -> None:
        began = time.monotonic()
        action()
        timings[name] = time.monotonic() - began
        self.progress(f"{name} done ({timings[name]:.1f}s)")

    def _preflight(self, settings: Settings) -> None:
        for server in settings.servers():
            database.check_server(server)
        rabbit.check_broker(settings.rabbit_api)
        for spec in settings.services():
            port = settings.port(spec)
            if port is None:
                continue
            supervisor = Supervisor(settings)
            if supervisor.running(spec.name) is None and not process.port_free(port):
                raise PortInUse(spec.name, port, supervisor.log(spec.name))

    def _databases(self, settings: Settings) -> None:
        for server, names in settings.servers().items():
            database.create_databases(server, names)

    def _vhost(self, settings: Settings) -> None:
        rabbit.create_vhost(settings.rabbit_api, settings.name)
        rabbit.cap_notification_queues(settings.rabbit_api, settings.name, NOTIFICATION_CAP)

    def _register(self, settings: Settings) -> None:
        marker = settings.run / "catalog.done"
        stamp = f"{settings.port_base}\n"
        if marker.exists() and marker.read_text() == stamp:
            return
        catalog.register(settings)
        marker.write_text(stamp)

    def _all_current(self, settings: Settings, supervisor: Supervisor) -> bool:
        """Every process alive, started from the current config, every API answering."""
        if not (settings.run / "catalog.done").exists():
            return False
        for spec in settings.services():
            if not supervisor.is_current(spec):
                return False
            if spec.kind == "wsgi" and not health.api_answers(settings.url(spec.name), 10):
                return False
        return True

    def _start_project(self, supervisor: Supervisor, project: str) -> list[str]:
        started = [
            spec.name
            for spec in supervisor.settings.services()
            if spec.project == project and supervisor.start(spec)
        ]
        if started:
            self.progress(f"started {', '.join(started)}")
        return started

    def _wait_apis(self, supervisor: Supervisor, names: Sequence[str], timeout: float) -> None:
        settings = supervisor.settings
        for name in names:
            url = settings.url(name)
            ok = health.wait_until(
                lambda u=url: health.api_answers(u),  # type: ignore[misc]
                timeout,
                abort=lambda n=name: supervisor.check_alive([n]),  # type: ignore[misc]
            )
            if not ok:
                raise ServiceFailed(
                    name, f"{url} did not answer within {timeout:.0f}s", supervisor.log(name)
                )

    def _wait_registered(self, supervisor: Supervisor, timeout: float) -> None:
        settings = supervisor.settings
        daemons = [s.name for s in settings.services() if s.kind == "daemon"]
        conn = catalog.connect(settings)
        missing: list[str] = []

        def complete() -> bool:
            nonlocal missing
            missing = health.registered_state(settings, conn).missing(settings)
            return not missing

        try:
            ok = health.wait_until(
                complete, timeout, interval=1.0, abort=lambda: supervisor.check_alive(daemons)
            )
        finally:
            conn.close()
        if not ok:
            first = missing[0].split("@")[0]
            name = "neutron-agents" if first.startswith("neutron") else first
            name = "nova-scheduler" if first == "cell mapping" else name
            if name == "nova-compute":
                name = next(
                    g
                    for g, hosts in compute_groups(settings.compute_hosts)
                    if missing[0].split("@")[1] in hosts
                )
            raise ServiceFailed(
                name,
                f"not reported up within {timeout:.0f}s (missing: {', '.join(missing)})",
                supervisor.log(name),
            )

    # -- status, down, destroy, logs --------------------------------------------------
    def status(self) -> list[ServiceStatus]:
        """Every process: up/down, pid, port, memory; a crashed process shows down."""
        return Supervisor(self.settings()).status()

    def down(self, services: Sequence[str] = ()) -> list[str]:
        """Stop every process, or only the named ones (SIGTERM to each process group,
        SIGKILL after 10 s); names of the processes that were running."""
        with self.locked():
            return self._down(services)

    def _down(self, services: Sequence[str] = ()) -> list[str]:
        return Supervisor(self.settings()).stop(services)

    def destroy(self) -> None:
        """Stop everything, drop the databases and vhost, remove the state and clouds."""
        settings = Settings.load(self.state_dir)
        if settings is None:
            if self.state_dir.exists():
                shutil.rmtree(self.state_dir)
            return
        with self.locked():
            self._down()
            for server, names in settings.servers().items():
                database.drop_databases(server, names)
            rabbit.delete_vhost(settings.rabbit_api, settings.name)
            catalog.remove_clouds_yaml_entries(settings)
            shutil.rmtree(self.state_dir)

    def logs(self, service: str | None = None) -> list[Path]:
        """Log files of one service (oslo.log file, console output) or of all."""
        settings = self.settings()
        if service is None:
            return sorted(settings.logs.glob("*.log"))
        if service.endswith("-manage") or service == "install":
            candidates = [settings.logs / f"{service}.log"]
        else:
            settings.service(service)  # unknown names raise with the list of services
            supervisor = Supervisor(settings)
            candidates = [supervisor.log(service), supervisor.console(service)]
        return [p for p in candidates if p.exists()]
