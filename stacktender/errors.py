"""Typed exceptions of the library; the CLI turns them into one-line errors."""

from __future__ import annotations

__all__ = [
    "CheckError",
    "ConfigError",
    "ServiceUnreachable",
    "StacktenderError",
    "StoreError",
    "ThresholdError",
    "UnknownCheckError",
]


class StacktenderError(Exception):
    """Base of every error the library raises on purpose."""

    exit_code = 1


class ConfigError(StacktenderError):
    """The configuration file or an option is wrong."""


class ThresholdError(ConfigError):
    """A warning/critical threshold cannot be parsed or names no known threshold."""


class UnknownCheckError(StacktenderError):
    """No installed plugin provides a check of that name."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"unknown check {name!r}; known checks: {', '.join(sorted(known))}")


class CheckError(StacktenderError):
    """A check could not decide (bad answer, missing permission): the result is UNKNOWN."""


class ServiceUnreachable(StacktenderError):
    """The checked service refused, timed out or rejected the login: the result is CRITICAL."""


class StoreError(StacktenderError):
    """stacktender's own database cannot be opened, migrated, read or written."""
