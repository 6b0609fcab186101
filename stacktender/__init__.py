"""stacktender: operations toolkit for OpenStack clouds.

The public surface is small and import-light: the result model, the check
definition and the pluggy marker a plugin uses. Everything else is imported
from its own module when needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Check",
    "CheckContext",
    "CheckError",
    "CheckResult",
    "NagiosRange",
    "Outcome",
    "PerfData",
    "ServiceUnreachable",
    "Status",
    "Target",
    "ThresholdSpec",
    "__version__",
    "hookimpl",
]

_LAZY = {
    "Check": "stacktender.checks.base",
    "CheckContext": "stacktender.checks.base",
    "Outcome": "stacktender.checks.base",
    "Target": "stacktender.checks.base",
    "CheckResult": "stacktender.results",
    "NagiosRange": "stacktender.results",
    "PerfData": "stacktender.results",
    "Status": "stacktender.results",
    "ThresholdSpec": "stacktender.results",
    "CheckError": "stacktender.errors",
    "ServiceUnreachable": "stacktender.errors",
    "hookimpl": "stacktender.hookspecs",
}

if TYPE_CHECKING:
    from stacktender.checks.base import Check, CheckContext, Outcome, Target
    from stacktender.errors import CheckError, ServiceUnreachable
    from stacktender.hookspecs import hookimpl
    from stacktender.results import CheckResult, NagiosRange, PerfData, Status, ThresholdSpec


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stacktender' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
