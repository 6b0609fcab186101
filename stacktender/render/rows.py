"""Listing output like the ``openstack`` client: ``-f table|json|yaml|csv|value`` and ``-c``."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from stacktender.errors import ConfigError

__all__ = ["ROW_FORMATS", "render_rows", "select_columns"]

ROW_FORMATS = ("table", "json", "yaml", "csv", "value")


def select_columns(columns: Sequence[str], wanted: Sequence[str] | None) -> list[str]:
    """The columns to show; ``-c`` names are matched case-insensitively."""
    if not wanted:
        return list(columns)
    by_lower = {c.lower(): c for c in columns}
    chosen = []
    for name in wanted:
        key = name.lower().replace(" ", "_")
        match = by_lower.get(name.lower()) or by_lower.get(key)
        if match is None:
            raise ConfigError(f"no column {name!r} (columns: {', '.join(columns)})")
        chosen.append(match)
    return chosen


def render_rows(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    fmt: str = "table",
    wanted: Sequence[str] | None = None,
) -> str:
    """Render rows (mappings) in one of ROW_FORMATS."""
    cols = select_columns(columns, wanted)
    if fmt == "json":
        return json.dumps([{c: row.get(c) for c in cols} for row in rows], indent=2, default=str)
    if fmt == "yaml":
        import yaml

        data = [{c: _plain(row.get(c)) for c in cols} for row in rows]
        return yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip("\n")
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(cols)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in cols])
        return buf.getvalue().rstrip("\n")
    if fmt == "value":
        return "\n".join(" ".join(_cell(row.get(c)) for c in cols) for row in rows)
    if fmt == "table":
        return _table(rows, cols)
    raise ConfigError(f"unknown format {fmt!r} (formats: {', '.join(ROW_FORMATS)})")


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool | type(None) | list | dict):
        return value
    return str(value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)


def _table(rows: Sequence[Mapping[str, Any]], cols: Sequence[str]) -> str:
    headers = [c.replace("_", " ").title() for c in cols]
    cells = [[_cell(row.get(c)).replace("\n", " ") for c in cols] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    out = [rule, line(headers), rule]
    out += [line(r) for r in cells]
    out.append(rule)
    return "\n".join(out)
