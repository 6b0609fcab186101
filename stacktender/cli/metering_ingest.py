"""``metering consume|usage|reconcile|dead-letters``: thin commands over the metering library."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import click

from stacktender.cli.common import CommandError, get_app, output_options
from stacktender.render.rows import ROW_FORMATS

USAGE_COLUMNS = (
    "project_id",
    "meter",
    "resource_id",
    "name",
    "flavor",
    "state",
    "volume_type",
    "size_gb",
    "start",
    "end",
    "seconds",
    "open",
    "user_id",
)
USAGE_TABLE_COLUMNS = USAGE_COLUMNS[:-1]
RECONCILE_COLUMNS = ("kind", "meter", "resource_id", "project_id", "name", "detail", "at")
DEAD_COLUMNS = (
    "id",
    "received_at",
    "exchange",
    "routing_key",
    "event_type",
    "message_id",
    "reason",
    "body",
)
DEAD_TABLE_COLUMNS = DEAD_COLUMNS[:-1]


def _echo_rows(
    rows: list[dict[str, Any]],
    columns: tuple[str, ...],
    fmt: str,
    wanted: tuple[str, ...],
    table_columns: tuple[str, ...] | None = None,
) -> None:
    from stacktender.render.rows import render_rows

    shown = table_columns if fmt == "table" and table_columns and not wanted else columns
    if wanted:
        shown = columns
    text = render_rows(rows, shown, fmt, wanted or None)
    if text:
        click.echo(text)


@click.command()
@click.option(
    "--transport-url",
    envvar="STACKTENDER_TRANSPORT_URL",
    required=True,
    help="RabbitMQ, as oslo.messaging's transport_url (rabbit://user:pass@host:5672/vhost) "
    "or amqp://. Default: $STACKTENDER_TRANSPORT_URL.",
)
@click.option(
    "--queue",
    default="stacktender-metering",
    show_default=True,
    help="The durable queue; workers sharing it share the work.",
)
@click.option(
    "--exchange",
    "exchanges",
    multiple=True,
    metavar="NAME",
    help="Exchange to bind (repeatable). Default: nova, openstack (cinder), neutron, glance.",
)
@click.option(
    "--prefetch",
    type=click.IntRange(min=1),
    default=2000,
    show_default=True,
    help="Unacknowledged messages this worker may hold.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Messages per database transaction.",
)
@click.option(
    "--batch-wait",
    type=click.FloatRange(min=0.01),
    default=1.0,
    show_default=True,
    help="Seconds a partial batch waits before it is written.",
)
@click.option(
    "--until-idle",
    type=click.FloatRange(min=0.1),
    metavar="SECONDS",
    help="Exit once nothing arrived for this long (drain the queue, then stop).",
)
@click.option("--declare-only", is_flag=True, help="Declare the queue and its bindings, then exit.")
@click.pass_context
def consume(
    ctx: click.Context,
    transport_url: str,
    queue: str,
    exchanges: tuple[str, ...],
    prefetch: int,
    batch_size: int,
    batch_wait: float,
    until_idle: float | None,
    declare_only: bool,
) -> None:
    """Consume notifications into the store until SIGTERM or Ctrl-C (several workers may
    share one queue).

    Example: stacktender metering consume --transport-url rabbit://u:p@10.0.0.5:5672/
    """
    import signal
    import threading

    from stacktender.metering.consumer import DEFAULT_EXCHANGES, ConsumerOptions, MeteringConsumer
    from stacktender.metering.handlers import HandlerRegistry

    app = get_app(ctx)
    registry = HandlerRegistry(
        h for batch in app.pm.hook.stacktender_metering_handlers() for h in batch or []
    )
    options = ConsumerOptions(
        url=transport_url,
        queue=queue,
        exchanges=exchanges or DEFAULT_EXCHANGES,
        prefetch=prefetch,
        batch_size=batch_size,
        batch_wait=batch_wait,
    )
    worker = MeteringConsumer(app.store, registry, options)
    if declare_only:
        worker.declare()
        click.echo(f"declared queue {queue} on {worker.masked_url}")
        return
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()  # the loop commits (or leaves unacked) its batch and returns

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    click.echo(f"consuming {queue} on {worker.masked_url} (pid {os.getpid()})", err=True)
    stats = worker.run(stop, idle_exit=until_idle)
    click.echo(
        f"received {stats.received}, metered events {stats.events}, skipped {stats.skipped}, "
        f"dead letters {stats.dead_letters}, batches {stats.batches}, "
        f"reconnects {stats.reconnects}",
        err=True,
    )


def _range(period: str | None, start: str | None, end: str | None) -> tuple[datetime, datetime]:
    from stacktender.metering.events import parse_time
    from stacktender.metering.records import Period

    if period and (start or end):
        raise CommandError("give --period or --start/--end, not both")
    if start or end:
        begin, finish = parse_time(start or ""), parse_time(end or "") if end else None
        if begin is None:
            raise CommandError(f"--start {start!r} is not a time (2026-11-01 or 2026-11-01T00:00Z)")
        if end and finish is None:
            raise CommandError(f"--end {end!r} is not a time")
        return begin, finish or datetime.now(UTC)
    if period is None:
        now = datetime.now(UTC)
        chosen = Period(now.year, now.month)
    else:
        chosen = Period.parse(period)
    return chosen.start, chosen.end


@click.command()
@click.option("--period", metavar="YYYY-MM", help="A calendar month (UTC). Default: this month.")
@click.option("--start", metavar="TIME", help="Start of the range (ISO, UTC).")
@click.option("--end", metavar="TIME", help="End of the range (ISO, UTC). Default: now.")
@click.option("--project", metavar="PROJECT_ID", help="Only this project's usage.")
@output_options(ROW_FORMATS)
@click.pass_context
def usage(
    ctx: click.Context,
    period: str | None,
    start: str | None,
    end: str | None,
    project: str | None,
    fmt: str,
    columns: tuple[str, ...],
) -> None:
    """List usage records: one resource in one billed state over a time range.

    Example: stacktender metering usage --period 2026-11 --project 4f1c... -f csv
    """
    from stacktender.metering.usage import usage_records

    begin, finish = _range(period, start, end)
    records = usage_records(get_app(ctx).store, begin, finish, project)
    rows = [
        {
            "project_id": r.project_id,
            "meter": str(r.meter),
            "resource_id": r.resource_id,
            "name": r.name,
            "flavor": r.flavor,
            "state": r.state,
            "volume_type": r.volume_type,
            "size_gb": f"{r.size_gb.normalize():f}" if r.size_gb else None,
            "start": r.start.isoformat(),
            "end": r.end.isoformat(),
            "seconds": f"{r.seconds.normalize():f}",
            "open": r.open,
            "user_id": r.user_id,
        }
        for r in records
    ]
    _echo_rows(rows, USAGE_COLUMNS, fmt, columns, USAGE_TABLE_COLUMNS)


@click.command()
@click.option("--dry-run", is_flag=True, help="Report the discrepancies; write nothing.")
@output_options(ROW_FORMATS)
@click.pass_context
def reconcile(ctx: click.Context, dry_run: bool, fmt: str, columns: tuple[str, ...]) -> None:
    """Compare open usage with the APIs (servers, volumes, floating IPs of all projects);
    close what a missed event left open, backfill what was never seen; list every
    discrepancy. Needs an admin cloud (--os-cloud or OS_CLOUD).

    Example: stacktender --os-cloud prod-admin metering reconcile --dry-run
    """
    from stacktender.metering.reconcile import fetch_inventory
    from stacktender.metering.reconcile import reconcile as run_reconcile

    app = get_app(ctx)
    conn = _connect(app.os_cloud)
    try:
        inventory = fetch_inventory(conn)
    finally:
        conn.close()
    found = run_reconcile(app.store, inventory, dry_run=dry_run)
    rows = [
        {
            "kind": d.kind,
            "meter": str(d.meter),
            "resource_id": d.resource_id,
            "project_id": d.project_id,
            "name": d.name,
            "detail": d.detail,
            "at": d.at.isoformat(),
        }
        for d in found
    ]
    _echo_rows(rows, RECONCILE_COLUMNS, fmt, columns)
    if fmt == "table":
        done = "would write" if dry_run else "wrote"
        click.echo(f"{len(found)} discrepancies; {done} events for them", err=True)


def _connect(cloud: str | None) -> Any:
    import openstack

    from stacktender.errors import ConfigError, ServiceUnreachable

    try:
        conn = openstack.connect(cloud=cloud, api_timeout=60)
        conn.authorize()
    except openstack.exceptions.ConfigException as exc:
        raise ConfigError(f"cloud {cloud or '(OS_CLOUD)'}: {exc}") from None
    except Exception as exc:  # keystoneauth and SDK failures alike: one line
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise ServiceUnreachable(f"keystone of cloud {cloud or '(OS_CLOUD)'}: {reason}") from None
    return conn


@click.command("dead-letters")
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Show the newest N.",
)
@output_options(ROW_FORMATS)
@click.pass_context
def dead_letters(ctx: click.Context, limit: int, fmt: str, columns: tuple[str, ...]) -> None:
    """List messages the consumer could not meter, with the reason (oldest first).

    Example: stacktender metering dead-letters -n 20 -c reason -c body -f json
    """
    from stacktender.metering.storage import dead_letters as read

    rows = [
        {
            "id": d.id,
            "received_at": d.received_at.isoformat(),
            "exchange": d.exchange,
            "routing_key": d.routing_key,
            "event_type": d.event_type,
            "message_id": d.message_id,
            "reason": d.reason,
            "body": d.body,
        }
        for d in read(get_app(ctx).store, limit)
    ]
    _echo_rows(rows, DEAD_COLUMNS, fmt, columns, DEAD_TABLE_COLUMNS)
