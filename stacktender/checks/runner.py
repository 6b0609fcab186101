"""Resolve check instances from configuration and run them, each with a hard timeout.

A check runs in a daemon thread; if it has not answered when its timeout is up,
the result is CRITICAL and the thread is abandoned, so a service that accepts a
connection and never answers cannot hang a command. A sweep runs many instances
concurrently, bounded by ``concurrency``; asked for more than one process, it forks
workers that each run the checks of some services and send their results back
over a pipe (see :func:`run_sweep`).
"""

from __future__ import annotations

import logging
import os
import pickle
import selectors
import signal
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from stacktender.checks.base import Check, CheckContext, Target
from stacktender.config import Config
from stacktender.errors import CheckError, ConfigError, ServiceUnreachable, StacktenderError
from stacktender.results import CheckResult, Status, Thresholds
from stacktender.secrets import Redactor, redact

__all__ = ["CheckInstance", "resolve_instance", "run_instance", "run_sweep", "split_by_service"]

log = logging.getLogger(__name__)

# Time beyond a check's own timeout before the runner gives up on its thread: the check
# passes its remaining time to every socket, so it normally reports its own timeout first.
GRACE_SECONDS = 0.5

# A sweep worker reports each result as its check ends, and each check ends within its
# timeout plus GRACE_SECONDS; this much more silence (a starved CPU) and it is hung.
WORKER_SLACK_SECONDS = 2.0


@dataclass
class CheckInstance:
    """A check bound to a target, thresholds, options and a timeout, under a name."""

    name: str
    check: Check
    target: Target
    thresholds: Thresholds
    options: dict[str, Any] = field(default_factory=dict)
    timeout: float = 10.0

    def context(self, started: float | None = None) -> CheckContext:
        """The context one run of this instance gets (its time budget starts at started)."""
        return CheckContext(
            check=self.check,
            target=self.target,
            thresholds=self.thresholds,
            options=self.options,
            timeout=self.timeout,
            started=time.monotonic() if started is None else started,
        )


def resolve_instance(
    check: Check,
    config: Config,
    *,
    name: str | None = None,
    target: str | Mapping[str, Any] | None = None,
    warning: Mapping[str, Any] | None = None,
    critical: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    timeout: float | None = None,
    url: str | None = None,
    host: str | None = None,
    port: int | None = None,
) -> CheckInstance:
    """Build an instance: explicit arguments override the check's config, which overrides
    the check's defaults. ``target`` is a target name from config or a ``{url: ...}``."""
    settings = config.checks.get(check.name, {})
    resolved = _resolve_target(
        check, config, target if target is not None else settings.get("target")
    )
    resolved = resolved.with_overrides(url=url, host=host, port=port)
    merged_warning = {**(settings.get("warning") or {}), **(warning or {})}
    merged_critical = {**(settings.get("critical") or {}), **(critical or {})}
    thresholds = Thresholds(
        check.thresholds,
        {k: _as_text(v) for k, v in merged_warning.items()},
        {k: _as_text(v) for k, v in merged_critical.items()},
    )
    merged_options = {**(settings.get("options") or {}), **(options or {})}
    unknown = sorted(set(merged_options) - set(check.options))
    if unknown:
        known = ", ".join(sorted(check.options)) or "none"
        raise ConfigError(f"check {check.name!r} has no option {unknown[0]!r} (options: {known})")
    return CheckInstance(
        name=name or check.name,
        check=check,
        target=resolved,
        thresholds=thresholds,
        options=merged_options,
        timeout=float(timeout or settings.get("timeout") or config.timeout),
    )


def _as_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _resolve_target(check: Check, config: Config, target: str | Mapping[str, Any] | None) -> Target:
    if isinstance(target, str):
        if target not in config.targets:
            known = ", ".join(sorted(config.targets)) or "none configured"
            raise ConfigError(f"check {check.name!r}: unknown target {target!r} (targets: {known})")
        spec: Mapping[str, Any] = config.targets[target]
    elif isinstance(target, Mapping):
        spec = target
    else:
        spec = config.targets.get(check.service, {})
    extra = {**check.default_extra, **{k: v for k, v in spec.items() if k != "url"}}
    url = str(spec.get("url") or check.default_url)
    if url == "openstack://" and config.os_cloud:
        # --os-cloud / OS_CLOUD / os_cloud: pick the clouds.yaml entry, as the openstack client does
        url = f"openstack://{config.os_cloud}"
    return Target(url=url, extra=extra)


def run_instance(instance: CheckInstance, secrets: Iterable[str] = ()) -> CheckResult:
    """Run one instance with its hard timeout; never raises, never hangs."""
    box: dict[str, CheckResult] = {}
    finished = threading.Event()
    started = time.monotonic()

    def work() -> None:
        try:
            box["result"] = _execute(instance, started)
        finally:
            finished.set()

    threading.Thread(target=work, name=f"check:{instance.name}", daemon=True).start()
    if finished.wait(instance.timeout + GRACE_SECONDS):
        result = box.get("result") or _result(
            instance, Status.UNKNOWN, "check ended without a result", started
        )
    else:
        result = _result(
            instance,
            Status.CRITICAL,
            f"no answer from {instance.target.masked()} within {instance.timeout:g}s",
            started,
        )
    return _redacted(result, secrets, instance)


def run_sweep(
    instances: Sequence[CheckInstance],
    *,
    concurrency: int = 16,
    secrets: Iterable[str] = (),
    on_result: Callable[[CheckResult], None] | None = None,
    processes: int = 1,
) -> list[CheckResult]:
    """Run instances concurrently; results come back in the order of instances.

    With ``processes`` above 1 the instances, grouped by service, are spread over this
    process and forked workers, so that client-library imports and check CPU use more
    than one core (the GIL keeps one process's threads on one). ``concurrency`` is shared
    between them. It forks only from a single-threaded process on a machine with more
    than one core, since a fork beside running threads can inherit locks they hold;
    otherwise everything runs here. A worker that dies or stops answering turns each of
    its unreported checks into UNKNOWN with the reason, and is killed.
    """
    secrets = tuple(secrets)
    if not instances:
        return []
    groups = [list(enumerate(instances))]
    if processes > 1 and concurrency > 1:
        if _may_fork():
            groups = split_by_service(instances, min(processes, concurrency, _cpus()))
        else:
            log.debug("sweep: in one process (other threads are running, or no fork)")
    if len(groups) == 1:
        results: list[CheckResult | None] = [None] * len(instances)

        def keep(index: int, result: CheckResult) -> None:
            results[index] = result
            if on_result is not None:
                on_result(result)

        _run_threads(groups[0], concurrency, secrets, keep)
        return [r for r in results if r is not None]
    return _run_split(groups, len(instances), concurrency, secrets, on_result)


def split_by_service(
    instances: Sequence[CheckInstance], processes: int
) -> list[list[tuple[int, CheckInstance]]]:
    """Instances (with their index) in up to ``processes`` groups of whole services,
    balanced by instance count; the first group holds the service with the most."""
    by_service: dict[str, list[tuple[int, CheckInstance]]] = {}
    for index, instance in enumerate(instances):
        by_service.setdefault(instance.check.service, []).append((index, instance))
    groups: list[list[tuple[int, CheckInstance]]] = [
        [] for _ in range(max(1, min(processes, len(by_service))))
    ]
    # Largest service first, each to the smallest group so far: one service's checks share
    # one process, so its client library is imported once.
    for members in sorted(by_service.values(), key=len, reverse=True):
        min(groups, key=len).extend(members)
    return [sorted(group, key=lambda pair: pair[0]) for group in groups]


def _run_threads(
    indexed: Sequence[tuple[int, CheckInstance]],
    concurrency: int,
    secrets: tuple[str, ...],
    deliver: Callable[[int, CheckResult], None],
) -> None:
    def one(pair: tuple[int, CheckInstance]) -> None:
        deliver(pair[0], run_instance(pair[1], secrets))

    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(indexed)))) as pool:
        list(pool.map(one, indexed))


def _may_fork() -> bool:
    return (
        hasattr(os, "fork")
        and threading.current_thread() is threading.main_thread()
        and threading.active_count() == 1
    )


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _run_split(
    groups: list[list[tuple[int, CheckInstance]]],
    total: int,
    concurrency: int,
    secrets: tuple[str, ...],
    on_result: Callable[[CheckResult], None] | None,
) -> list[CheckResult]:
    started = time.monotonic()
    # Each process gets at least one slot, the rest in proportion to its checks.
    shares = [1 + (concurrency - len(groups)) * len(group) // total for group in groups]
    results: list[CheckResult | None] = [None] * total
    lock = threading.Lock()

    def keep(index: int, result: CheckResult) -> None:
        with lock:
            results[index] = result
        if on_result is not None:
            on_result(result)

    workers: list[_Worker] = []
    here, here_share = list(groups[0]), shares[0]
    try:
        # Every fork before this process starts a thread of its own.
        for group, share in zip(groups[1:], shares[1:], strict=True):
            try:
                workers.append(_Worker.start(group, share, secrets, [w.fd for w in workers]))
            except OSError as exc:  # no fork (process limit, memory): run the group here
                log.debug("sweep: no worker process (%s); running its checks here", exc)
                here, here_share = here + group, here_share + share
        local = threading.Thread(
            target=_run_threads, args=(here, here_share, secrets, keep), daemon=True
        )
        local.start()
        _collect(workers, keep)
        local.join()
    finally:
        for worker in workers:
            worker.close()
    for worker in workers:
        for index, instance in worker.group:
            if results[index] is None:
                lost = _result(instance, Status.UNKNOWN, worker.failure, started)
                keep(index, _redacted(lost, secrets, instance))
    return [r for r in results if r is not None]


class _Worker:
    """A forked process running one group of a sweep, read through a pipe."""

    def __init__(self, pid: int, fd: int, group: list[tuple[int, CheckInstance]]) -> None:
        self.pid = pid
        self.fd = fd
        self.group = group
        self.pending = {index for index, _ in group}
        self.buffer = b""
        self.patience = max(i.timeout for _, i in group) + GRACE_SECONDS + WORKER_SLACK_SECONDS
        self.deadline = time.monotonic() + self.patience
        self.failure = f"sweep worker process {pid} ended without reporting this check"
        self.reaped = False

    @classmethod
    def start(
        cls,
        group: list[tuple[int, CheckInstance]],
        concurrency: int,
        secrets: tuple[str, ...],
        inherited: Iterable[int],
    ) -> _Worker:
        read_fd, write_fd = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            raise
        if pid == 0:  # pragma: no cover - the child leaves through os._exit only
            code = 1
            try:
                os.close(read_fd)
                for fd in inherited:
                    os.close(fd)
                _worker_main(group, concurrency, secrets, write_fd)
                code = 0
            finally:
                # No atexit handlers, no flushing of the parent's copied stdio buffers.
                os._exit(code)
        os.close(write_fd)
        services = sorted({instance.check.service for _, instance in group})
        log.debug(
            "sweep: %d check(s) of %s in worker process %d",
            len(group),
            ", ".join(services),
            pid,
        )
        return cls(pid, read_fd, group)

    def feed(self, chunk: bytes) -> list[tuple[int, CheckResult]]:
        """Decode the whole frames received so far (length, pickled (index, result))."""
        self.deadline = time.monotonic() + self.patience
        self.buffer += chunk
        decoded = []
        while len(self.buffer) >= 4:
            (size,) = struct.unpack("!I", self.buffer[:4])
            if len(self.buffer) < 4 + size:
                break
            frame, self.buffer = self.buffer[4 : 4 + size], self.buffer[4 + size :]
            index, result = pickle.loads(frame)
            if index in self.pending and isinstance(result, CheckResult):
                self.pending.discard(index)
                decoded.append((index, result))
        return decoded

    def ended(self) -> None:
        """The pipe closed: reap the process; its unreported checks say how it ended."""
        how = self._reap()
        self.failure = f"sweep worker process {self.pid} {how} before reporting this check"

    def kill(self, why: str) -> None:
        """Kill a worker that is hung or talks nonsense; its unreported checks say why."""
        os.kill(self.pid, signal.SIGKILL)  # not reaped yet: the pid is still this child
        self._reap()
        self.failure = f"sweep worker process {self.pid} {why} and was killed"

    def close(self) -> None:
        """Make sure the process is gone and reaped, and the pipe closed."""
        if not self.reaped:
            os.kill(self.pid, signal.SIGKILL)
            self._reap()
        os.close(self.fd)

    def _reap(self) -> str:
        _, status = os.waitpid(self.pid, 0)
        self.reaped = True
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            return f"was killed by signal {number} ({signal.Signals(number).name})"
        return f"exited with code {os.waitstatus_to_exitcode(status)}"


def _worker_main(
    group: list[tuple[int, CheckInstance]],
    concurrency: int,
    secrets: tuple[str, ...],
    write_fd: int,
) -> None:
    lock = threading.Lock()

    def send(index: int, result: CheckResult) -> None:
        try:
            frame = pickle.dumps((index, result), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # a check put something unpicklable in its result
            instance = dict(group)[index]
            result = _result(
                instance, Status.UNKNOWN, f"result not passed back: {exc}", time.monotonic()
            )
            frame = pickle.dumps((index, result), protocol=pickle.HIGHEST_PROTOCOL)
        data = memoryview(struct.pack("!I", len(frame)) + frame)
        with lock:
            while data:
                data = data[os.write(write_fd, data) :]

    _run_threads(group, concurrency, secrets, send)


def _collect(workers: list[_Worker], keep: Callable[[int, CheckResult], None]) -> None:
    """Read every worker's results as they come, until each has ended or gone silent."""
    with selectors.DefaultSelector() as selector:
        for worker in workers:
            selector.register(worker.fd, selectors.EVENT_READ, worker)
        waiting = set(workers)

        def drop(worker: _Worker) -> None:
            selector.unregister(worker.fd)
            waiting.discard(worker)

        while waiting:
            timeout = max(0.0, min(w.deadline for w in waiting) - time.monotonic())
            for key, _ in selector.select(timeout):
                worker = key.data
                chunk = os.read(worker.fd, 1 << 16)
                if not chunk:
                    worker.ended()
                    drop(worker)
                    continue
                try:
                    decoded = worker.feed(chunk)
                except Exception as exc:
                    worker.kill(f"sent an unreadable result ({type(exc).__name__})")
                    drop(worker)
                    continue
                for index, result in decoded:
                    keep(index, result)
            now = time.monotonic()
            for worker in [w for w in waiting if w.deadline <= now]:
                worker.kill(f"reported nothing for {worker.patience:g}s")
                drop(worker)


def _execute(instance: CheckInstance, started: float) -> CheckResult:
    ctx = instance.context(started)
    try:
        data = instance.check.collect(ctx)
        outcome = instance.check.evaluate(data, ctx)
    except ServiceUnreachable as exc:
        return _result(instance, Status.CRITICAL, str(exc), started)
    except CheckError as exc:
        return _result(instance, Status.UNKNOWN, str(exc), started)
    except StacktenderError as exc:
        return _result(instance, Status.UNKNOWN, str(exc), started)
    except (OSError, TimeoutError) as exc:
        return _result(instance, Status.CRITICAL, _describe_os_error(exc, instance), started)
    except Exception as exc:
        if _is_transport_error(exc):
            return _result(instance, Status.CRITICAL, _describe_os_error(exc, instance), started)
        return _result(
            instance, Status.UNKNOWN, f"check failed: {type(exc).__name__}: {exc}", started
        )
    result = _result(instance, outcome.status, outcome.summary, started)
    result.details = list(outcome.details)
    result.perfdata = list(outcome.perfdata)
    return result


def _is_transport_error(exc: BaseException) -> bool:
    # httpx's transport errors do not derive from OSError; match them without importing httpx.
    return any(
        cls.__module__.startswith("httpx")
        and cls.__name__ in {"TransportError", "TimeoutException"}
        for cls in type(exc).__mro__
    )


def _describe_os_error(exc: BaseException, instance: CheckInstance) -> str:
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError) or "timed out" in reason.lower():
        reason = "timed out"
    return f"cannot reach {instance.target.masked()}: {reason}"


def _result(instance: CheckInstance, status: Status, summary: str, started: float) -> CheckResult:
    return CheckResult(
        name=instance.name,
        check=instance.check.name,
        status=status,
        summary=" ".join(summary.split()) or status.name.lower(),
        target=instance.target.masked(),
        duration=time.monotonic() - started,
        timeout=instance.timeout,
    )


def _redacted(result: CheckResult, secrets: Iterable[str], instance: CheckInstance) -> CheckResult:
    # The instance's own credentials (URL, extra URLs, secret-named options) may have come
    # from the command line rather than the configuration: mask them too.
    own = Redactor()
    own.learn({"url": instance.target.url, **instance.target.extra, **instance.options})
    secrets = (*secrets, *own.secrets)
    result.summary = redact(result.summary, secrets)
    result.details = [redact(line, secrets) for line in result.details]
    return result
