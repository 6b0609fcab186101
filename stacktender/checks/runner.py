"""Resolve check instances from configuration and run them, each with a hard timeout.

A check runs in a daemon thread; if it has not answered when its timeout is up,
the result is CRITICAL and the thread is abandoned, so a service that accepts a
connection and never answers cannot hang a command. A sweep runs many instances
concurrently, bounded by ``concurrency``.
"""

from __future__ import annotations

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

__all__ = ["CheckInstance", "resolve_instance", "run_instance", "run_sweep"]

# Time beyond a check's own timeout before the runner gives up on its thread: the check
# passes its remaining time to every socket, so it normally reports its own timeout first.
GRACE_SECONDS = 0.5


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
) -> list[CheckResult]:
    """Run instances concurrently; results come back in the order of instances."""
    secrets = tuple(secrets)
    if not instances:
        return []

    def one(instance: CheckInstance) -> CheckResult:
        result = run_instance(instance, secrets)
        if on_result is not None:
            on_result(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(instances)))) as pool:
        return list(pool.map(one, instances))


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
