"""What a check is: a declarative description plus a collect and an evaluate function.

A check collects raw data from its target (the only step that does I/O), then
evaluates that data against thresholds into an :class:`Outcome`. The runner
turns the outcome into a :class:`~stacktender.results.CheckResult`; renderers
print it. Plugins build :class:`Check` objects and return them from the
``stacktender_checks`` hook.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, overload
from urllib.parse import SplitResult, unquote, urlsplit

from stacktender.errors import CheckError
from stacktender.results import PerfData, Status, Thresholds, ThresholdSpec
from stacktender.secrets import mask_url

__all__ = ["Check", "CheckContext", "Outcome", "Target"]


@dataclass(frozen=True)
class Target:
    """Where a check looks: a URL (``http://``, ``amqp://``, ``mysql://``, ``unix:///``...)
    plus service-specific extra settings (for example RabbitMQ's ``amqp_url``)."""

    url: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def parts(self) -> SplitResult:
        return urlsplit(self.url)

    @property
    def scheme(self) -> str:
        return self.parts.scheme

    @property
    def host(self) -> str:
        return self.parts.hostname or "127.0.0.1"

    def port_or(self, default: int) -> int:
        """The URL's port, or default when the URL names none."""
        return self.parts.port or default

    @property
    def username(self) -> str | None:
        user = self.parts.username
        return unquote(user) if user is not None else None

    @property
    def password(self) -> str | None:
        password = self.parts.password
        return unquote(password) if password is not None else None

    @property
    def path(self) -> str:
        return unquote(self.parts.path)

    def masked(self) -> str:
        """The URL with any password replaced, safe to print."""
        return mask_url(self.url)

    def with_overrides(
        self, url: str | None = None, host: str | None = None, port: int | None = None
    ) -> Target:
        """A copy pointed elsewhere by ``--url``, ``--host`` and ``--port``."""
        new = url or self.url
        if host or port:
            parts = urlsplit(new)
            userinfo, _, _hostport = parts.netloc.rpartition("@")
            old_host = parts.hostname or "127.0.0.1"
            old_port = parts.port
            hostname = host or old_host
            if ":" in hostname and not hostname.startswith("["):
                hostname = f"[{hostname}]"
            netport = port or old_port
            netloc = hostname + (f":{netport}" if netport else "")
            if userinfo:
                netloc = f"{userinfo}@{netloc}"
            new = parts._replace(netloc=netloc).geturl()
        return Target(url=new, extra=self.extra)


@dataclass
class Outcome:
    """What evaluate() decided: status, one-line summary, details, perfdata."""

    status: Status
    summary: str
    details: list[str] = field(default_factory=list)
    perfdata: list[PerfData] = field(default_factory=list)


@dataclass
class CheckContext:
    """Everything one run of one check gets: target, thresholds, options, time budget."""

    check: Check
    target: Target
    thresholds: Thresholds
    options: dict[str, Any]
    timeout: float
    started: float = field(default_factory=time.monotonic)

    def remaining(self, floor: float = 0.1) -> float:
        """Seconds left of the timeout (at least floor), for the next network call."""
        return max(floor, self.timeout - (time.monotonic() - self.started))

    def option(self, name: str) -> Any:
        """An option's value (config or ``-o``), falling back to the check's default."""
        if name in self.options:
            return self.options[name]
        return self.check.options.get(name)

    @overload
    def pattern(self, name: str, default: str) -> re.Pattern[str]: ...
    @overload
    def pattern(self, name: str, default: None = None) -> re.Pattern[str] | None: ...

    def pattern(self, name: str, default: str | None = None) -> re.Pattern[str] | None:
        """A regular-expression option compiled (None when unset); a bad one is UNKNOWN."""
        text = self.option(name)
        if text in (None, ""):
            text = default
        if text is None:
            return None
        try:
            return re.compile(str(text))
        except re.error as exc:
            raise CheckError(f"option {name}: invalid regular expression {text!r}: {exc}") from None


@dataclass(frozen=True)
class Check:
    """A check: its name, the service it targets, its thresholds and options, and two
    functions. ``collect(ctx)`` does the I/O and returns raw data; ``evaluate(data,
    ctx)`` returns an :class:`Outcome`. Raise :class:`~stacktender.errors.
    ServiceUnreachable` from collect for CRITICAL, :class:`~stacktender.errors.
    CheckError` for UNKNOWN."""

    name: str
    service: str
    description: str
    collect: Callable[[CheckContext], Any]
    evaluate: Callable[[Any, CheckContext], Outcome]
    default_url: str
    thresholds: tuple[ThresholdSpec, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    option_help: Mapping[str, str] = field(default_factory=dict)
    default_extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def primary_threshold(self) -> str | None:
        """The threshold a bare ``-w 80`` applies to (the first declared)."""
        return self.thresholds[0].name if self.thresholds else None
