"""``history``: status changes (or every run) recorded by ``sweep --record``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from stacktender.cli.common import get_app, output_options
from stacktender.render.rows import ROW_FORMATS

CHANGE_COLUMNS = ("time", "name", "check", "from", "to", "summary")
RUN_COLUMNS = ("time", "name", "check", "status", "duration", "summary", "target", "perfdata")
# Columns a table shows unless -c asks for more (perfdata is long).
RUN_TABLE_COLUMNS = ("time", "name", "check", "status", "duration", "summary")


class SinceType(click.ParamType):
    """``--since``: an age (24h, 7d) or an ISO time, as an aware UTC datetime."""

    name = "AGE|TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        from stacktender.store.timespec import parse_since

        try:
            return parse_since(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


@click.command()
@click.argument("name", required=False)
@click.option(
    "--since", type=SinceType(), help="Only since an age (30m, 24h, 7d, 2w) or an ISO time (UTC)."
)
@click.option("--all-runs", is_flag=True, help="Every recorded run, not only status changes.")
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Show the newest N rows at most.",
)
@output_options(ROW_FORMATS)
@click.pass_context
def history(
    ctx: click.Context,
    name: str | None,
    since: datetime | None,
    all_runs: bool,
    limit: int,
    fmt: str,
    columns: tuple[str, ...],
) -> None:
    """Show when check instances changed status (or, with --all-runs, every run),
    oldest first, from the sweeps recorded with 'stacktender sweep --record'.

    NAME is an instance name (a check name, or the 'name' of a sweep entry).
    Times are UTC. The first recorded run of an instance is a change from nothing.

    \b
    Examples:
      stacktender sweep --record          # from cron, every few minutes
      stacktender history --since 24h
      stacktender history rabbitmq-node --since 7d -f json
      stacktender history memcached --all-runs -c time -c status -f value
    """
    from stacktender.render.rows import render_rows

    store = get_app(ctx).store
    if all_runs:
        rows = [
            {
                "time": _time(run.time),
                "name": run.name,
                "check": run.check,
                "status": run.status.name,
                "duration": round(run.duration, 3),
                "summary": run.summary,
                "target": run.target,
                "perfdata": run.perfdata,
            }
            for run in store.runs(name, since, limit)
        ]
        wanted = columns or (RUN_TABLE_COLUMNS if fmt in {"table", "csv", "value"} else None)
        click.echo(render_rows(rows, RUN_COLUMNS, fmt, wanted))
        return
    rows = [
        {
            "time": _time(change.time),
            "name": change.name,
            "check": change.check,
            "from": change.from_status.name if change.from_status is not None else None,
            "to": change.to_status.name,
            "summary": change.summary,
        }
        for change in store.history(name, since, limit)
    ]
    click.echo(render_rows(rows, CHANGE_COLUMNS, fmt, columns))


def _time(when: datetime) -> str:
    return when.isoformat(timespec="seconds")
