"""Prometheus text exposition format (version 0.0.4) for check results."""

from __future__ import annotations

import re
from collections.abc import Sequence

from stacktender.results import CheckResult

__all__ = ["CONTENT_TYPE", "render_prometheus"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_METRICS = {
    "stacktender_check_status": "Check state: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
    "stacktender_check_duration_seconds": "Time the check took.",
    "stacktender_check_value": "A performance datum of a check, labelled by its name and unit.",
    "stacktender_check_threshold": "A threshold range end of a perfdatum (warning or critical).",
    "stacktender_check_timeout_seconds": "Time the check may take before it is given up.",
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    if value != value:  # NaN
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


_SIMPLE_END = re.compile(r"^[-+]?[0-9.eE+-]+$")


def _upper_bound(text: str | None) -> float | None:
    """The number of a plain upper-bound range ("80" or "~:80"), else None."""
    bound = (text or "").strip().removeprefix("~:")
    if not bound or not _SIMPLE_END.match(bound):
        return None
    try:
        return float(bound)
    except ValueError:  # PerfData built by hand may carry anything
        return None


def render_prometheus(results: Sequence[CheckResult], **_: object) -> str:
    """All results as Prometheus samples, one family per metric with HELP and TYPE.

    A result's timeout is exported too, so that alerts can compare its duration with it.
    """
    samples: dict[str, list[str]] = {name: [] for name in _METRICS}
    for r in results:
        base = {"name": r.name, "check": r.check}
        samples["stacktender_check_status"].append(
            f"stacktender_check_status{_labels(**base)} {int(r.status)}"
        )
        samples["stacktender_check_duration_seconds"].append(
            f"stacktender_check_duration_seconds{_labels(**base)} {r.duration:.6f}"
        )
        if r.timeout is not None:
            samples["stacktender_check_timeout_seconds"].append(
                f"stacktender_check_timeout_seconds{_labels(**base)} {_number(float(r.timeout))}"
            )
        for p in r.perfdata:
            labels = {**base, "label": p.label, "unit": p.unit}
            samples["stacktender_check_value"].append(
                f"stacktender_check_value{_labels(**labels)} {_number(float(p.value))}"
            )
            for kind, text in (("warning", p.warning), ("critical", p.critical)):
                # Only a plain upper bound ("80" or "~:80") maps to one number.
                bound = _upper_bound(text)
                if bound is not None:
                    samples["stacktender_check_threshold"].append(
                        f"stacktender_check_threshold{_labels(**labels, level=kind)} "
                        f"{_number(bound)}"
                    )
    out = []
    for name, lines in samples.items():
        if not lines:
            continue
        out.append(f"# HELP {name} {_METRICS[name]}")
        out.append(f"# TYPE {name} gauge")
        out.extend(lines)
    return "\n".join(out) + "\n"
