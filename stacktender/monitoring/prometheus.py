"""The Prometheus alerting rules shipped with stacktender (package data)."""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

__all__ = ["rules_file", "rules_text"]

RULES = "data/prometheus/stacktender-rules.yml"


def rules_file() -> Traversable:
    """The shipped ``stacktender-rules.yml``."""
    return files("stacktender").joinpath(RULES)


def rules_text() -> str:
    """The text of the shipped alerting rules."""
    return rules_file().read_text(encoding="utf-8")
