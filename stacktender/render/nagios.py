"""Nagios/Icinga plugin output: ``NAME STATUS - summary | perfdata``, then long output."""

from __future__ import annotations

from collections.abc import Sequence

from stacktender.results import CheckResult

__all__ = ["nagios_output", "render_nagios"]


def _clean(text: str) -> str:
    # '|' would start perfdata in the plugin protocol; keep it out of human text.
    return " ".join(text.replace("|", "/").split())


def nagios_output(result: CheckResult) -> str:
    """The full plugin output of one result: status line, long output lines."""
    line = f"{result.name.upper()} {result.status.name} - {_clean(result.summary)}"
    if result.perfdata:
        line += " | " + " ".join(p.to_nagios() for p in result.perfdata)
    lines = [line]
    lines += [d.replace("|", "/") for d in result.details]
    return "\n".join(lines)


def render_nagios(results: Sequence[CheckResult], **_: object) -> str:
    """One status line per result (a sweep); details are left out."""
    return "\n".join(nagios_output(r).splitlines()[0] for r in results)
