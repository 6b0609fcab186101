"""The renderer contract that built-in and plugin output formats implement."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from stacktender.results import CheckResult

__all__ = ["Renderer"]


@dataclass(frozen=True)
class Renderer:
    """An output format for check results, selected with ``-f NAME``."""

    name: str
    description: str
    render: Callable[..., str]
    content_type: str = "text/plain; charset=utf-8"

    def __call__(self, results: Sequence[CheckResult], **options: Any) -> str:
        return self.render(results, **options)
