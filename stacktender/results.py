"""Check results as pure data: status, perfdata, Nagios threshold ranges.

Nothing here does I/O. Checks produce these objects; renderers consume them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from stacktender.errors import ThresholdError

__all__ = [
    "CheckResult",
    "NagiosRange",
    "PerfData",
    "Status",
    "Thresholds",
    "worst",
]


class Status(IntEnum):
    """Nagios/Icinga plugin states; the value is the plugin exit code."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @property
    def severity(self) -> int:
        """Order for 'worst of': OK < UNKNOWN < WARNING < CRITICAL (as Icinga sorts)."""
        return {Status.OK: 0, Status.UNKNOWN: 1, Status.WARNING: 2, Status.CRITICAL: 3}[self]


def worst(statuses: Iterable[Status]) -> Status:
    """Return the most severe of statuses (OK for none)."""
    return max(statuses, key=lambda s: s.severity, default=Status.OK)


_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE_RE = re.compile(rf"^(?P<inside>@)?(?:(?P<start>~|{_NUMBER})?:)?(?P<end>{_NUMBER})?$")


@dataclass(frozen=True)
class NagiosRange:
    """A threshold range in the Nagios plugin syntax.

    ``10`` alerts outside 0..10, ``10:`` below 10, ``~:10`` above 10,
    ``10:20`` outside 10..20, ``@10:20`` inside 10..20 (endpoints inclusive).
    """

    start: float
    end: float
    inside: bool
    text: str

    @classmethod
    def parse(cls, text: str | int | float) -> NagiosRange:
        """Parse a range; raise ThresholdError saying what is wrong."""
        raw = str(text).strip()
        match = _RANGE_RE.match(raw)
        if not raw or raw in {"@", ":", "@:"} or match is None:
            raise ThresholdError(
                f"invalid threshold {raw!r}: expected a Nagios range such as "
                "'10', '10:', '~:10', '10:20' or '@10:20'"
            )
        start_s, end_s = match.group("start"), match.group("end")
        if ":" not in raw and end_s is None:
            raise ThresholdError(f"invalid threshold {raw!r}: no number")
        start = -math.inf if start_s == "~" else float(start_s) if start_s is not None else 0.0
        end = float(end_s) if end_s is not None else math.inf
        if start > end:
            raise ThresholdError(f"invalid threshold {raw!r}: start {start:g} is above end {end:g}")
        return cls(start=start, end=end, inside=match.group("inside") is not None, text=raw)

    def alerts(self, value: float) -> bool:
        """True when value should raise an alert for this range."""
        within = self.start <= value <= self.end
        return within if self.inside else not within

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class PerfData:
    """One Nagios performance datum (also a Prometheus sample)."""

    label: str
    value: float
    unit: str = ""
    warning: str | None = None
    critical: str | None = None
    minimum: float | None = None
    maximum: float | None = None

    def to_nagios(self) -> str:
        """Format as ``'label'=value[UOM];[warn];[crit];[min];[max]``."""
        label = self.label.replace("'", "_")
        if re.search(r"[\s=]", label):
            label = f"'{label}'"
        fields = [
            f"{_num(self.value)}{self.unit}",
            self.warning or "",
            self.critical or "",
            "" if self.minimum is None else _num(self.minimum),
            "" if self.maximum is None else _num(self.maximum),
        ]
        return f"{label}=" + ";".join(fields).rstrip(";")

    def to_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "value": self.value,
            "unit": self.unit,
            "warning": self.warning,
            "critical": self.critical,
            "min": self.minimum,
            "max": self.maximum,
        }


def _num(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}" if isinstance(value, float) else str(value)


@dataclass
class CheckResult:
    """What one check found: a status, a one-line summary, details and perfdata."""

    name: str
    status: Status
    summary: str
    details: list[str] = field(default_factory=list)
    perfdata: list[PerfData] = field(default_factory=list)
    check: str = ""
    target: str = ""
    duration: float = 0.0
    timeout: float | None = None

    def __post_init__(self) -> None:
        if not self.check:
            self.check = self.name

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "check": self.check,
            "status": self.status.name,
            "exit_code": int(self.status),
            "summary": self.summary,
            "details": list(self.details),
            "perfdata": [p.to_dict() for p in self.perfdata],
            "target": self.target,
            "duration": round(self.duration, 6),
            "timeout": self.timeout,
        }


@dataclass(frozen=True)
class ThresholdSpec:
    """A threshold a check understands: its name, defaults and meaning."""

    name: str
    help: str
    warning: str | None = None
    critical: str | None = None
    unit: str = ""


class Thresholds:
    """Resolved warning/critical ranges of one check instance, by threshold name."""

    def __init__(
        self,
        specs: Iterable[ThresholdSpec] = (),
        warning: Mapping[str, str | None] | None = None,
        critical: Mapping[str, str | None] | None = None,
    ) -> None:
        self.specs = {s.name: s for s in specs}
        warning = dict(warning or {})
        critical = dict(critical or {})
        for given in (warning, critical):
            unknown = sorted(set(given) - set(self.specs))
            if unknown:
                known = ", ".join(self.specs) or "none"
                raise ThresholdError(f"unknown threshold {unknown[0]!r} (known: {known})")
        self._warning: dict[str, NagiosRange | None] = {}
        self._critical: dict[str, NagiosRange | None] = {}
        for name, spec in self.specs.items():
            self._warning[name] = _parse_optional(warning.get(name, spec.warning), name)
            self._critical[name] = _parse_optional(critical.get(name, spec.critical), name)

    def status(self, name: str, value: float) -> Status:
        """Evaluate value against the named threshold pair."""
        crit, warn = self._critical.get(name), self._warning.get(name)
        if crit is not None and crit.alerts(value):
            return Status.CRITICAL
        if warn is not None and warn.alerts(value):
            return Status.WARNING
        return Status.OK

    def perf(
        self,
        name: str,
        value: float,
        *,
        label: str | None = None,
        unit: str | None = None,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> PerfData:
        """Build perfdata for value carrying this threshold's ranges."""
        warn, crit = self._warning.get(name), self._critical.get(name)
        spec = self.specs.get(name)
        return PerfData(
            label=label or name,
            value=value,
            unit=unit if unit is not None else (spec.unit if spec else ""),
            warning=str(warn) if warn else None,
            critical=str(crit) if crit else None,
            minimum=minimum,
            maximum=maximum,
        )


def _parse_optional(text: str | None, name: str) -> NagiosRange | None:
    if text is None or str(text).strip() == "":
        return None
    try:
        return NagiosRange.parse(text)
    except ThresholdError as exc:
        raise ThresholdError(f"threshold {name!r}: {exc}") from None
