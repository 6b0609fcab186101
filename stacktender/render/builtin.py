"""The built-in output formats for check results, registered as a plugin."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from stacktender.hookspecs import hookimpl
from stacktender.render.base import Renderer
from stacktender.render.nagios import render_nagios
from stacktender.render.prometheus import CONTENT_TYPE, render_prometheus
from stacktender.render.rows import render_rows
from stacktender.results import CheckResult

RESULT_COLUMNS = ("name", "check", "status", "summary", "target", "duration")


def result_rows(results: Sequence[CheckResult]) -> list[dict[str, Any]]:
    """One listing row per result."""
    return [
        {
            "name": r.name,
            "check": r.check,
            "status": r.status.name,
            "summary": r.summary,
            "target": r.target,
            "duration": round(r.duration, 3),
        }
        for r in results
    ]


def _rows_renderer(fmt: str) -> Any:
    def render(
        results: Sequence[CheckResult], columns: Sequence[str] | None = None, **_: Any
    ) -> str:
        if fmt in ("json", "yaml") and not columns:
            data = [r.to_dict() for r in results]
            if fmt == "json":
                return json.dumps(data, indent=2)
            import yaml

            return yaml.safe_dump(data, sort_keys=False).rstrip("\n")
        return render_rows(result_rows(results), RESULT_COLUMNS, fmt, columns)

    return render


@hookimpl
def stacktender_renderers() -> list[Renderer]:
    return [
        Renderer("table", "a table, one row per check", _rows_renderer("table")),
        Renderer(
            "json", "JSON, with details and perfdata", _rows_renderer("json"), "application/json"
        ),
        Renderer(
            "yaml", "YAML, with details and perfdata", _rows_renderer("yaml"), "application/yaml"
        ),
        Renderer("csv", "CSV, one row per check", _rows_renderer("csv"), "text/csv"),
        Renderer("value", "space-separated values, no header", _rows_renderer("value")),
        Renderer("nagios", "Nagios/Icinga plugin status lines", render_nagios),
        Renderer("prometheus", "Prometheus exposition text", render_prometheus, CONTENT_TYPE),
    ]
