"""``check``, ``sweep`` and ``checks list``: running checks from the command line."""

from __future__ import annotations

import sys
from typing import Any

import click

from stacktender.cli.common import CheckExit, CommandError, get_app, output_options

RESULT_FORMATS = ("table", "json", "yaml", "csv", "value", "nagios", "prometheus")


def parse_pairs(
    values: tuple[str, ...], what: str, default_key: str | None = None
) -> dict[str, str]:
    """Parse ``KEY=VALUE`` options; a bare VALUE goes to default_key."""
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep:
            if default_key is None:
                raise CommandError(f"{what} {value!r} must be NAME=VALUE")
            key, val = default_key, value
        pairs[key.strip()] = val.strip()
    return pairs


def parse_options(values: tuple[str, ...]) -> dict[str, Any]:
    """``-o key=value`` with YAML scalars, so numbers and lists keep their type."""
    import yaml

    parsed: dict[str, Any] = {}
    for key, raw in parse_pairs(values, "option").items():
        try:
            parsed[key] = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            parsed[key] = raw
    return parsed


@click.command()
@click.argument("name")
@click.option("-w", "--warning", multiple=True, metavar="[NAME=]RANGE", help="Warning range.")
@click.option("-c", "--critical", multiple=True, metavar="[NAME=]RANGE", help="Critical range.")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE", help="Check option.")
@click.option("--url", help="Target URL (replaces the configured one).")
@click.option("-H", "--host", help="Target host.")
@click.option("-p", "--port", type=int, help="Target port.")
@click.option("-t", "--timeout", type=float, help="Seconds before the check gives up.")
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["nagios", "json", "prometheus"]),
    default="nagios",
    show_default=True,
)
@click.pass_context
def check(
    ctx: click.Context,
    name: str,
    warning: tuple[str, ...],
    critical: tuple[str, ...],
    options: tuple[str, ...],
    url: str | None,
    host: str | None,
    port: int | None,
    timeout: float | None,
    fmt: str,
) -> None:
    """Run check NAME as a Nagios/Icinga plugin (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).

    A bare range applies to the check's first threshold; name others as NAME=RANGE.
    Ranges use the Nagios syntax: 10, 10:, ~:10, 10:20, @10:20.

    \b
    Examples:
      stacktender check memcached -w connections=80 -c connections=95
      stacktender check rabbitmq-queues --url http://guest:guest@rabbit1:15672
      stacktender check galera-cluster -H db1 -p 3306 -o expected_size=3
    """
    import logging

    # Icinga merges stderr into the plugin output: a broken third-party plugin must not push
    # the status line down. Load failures are reported as long output below it instead.
    plugin_log = logging.getLogger("stacktender.plugins")
    plugin_log.addHandler(logging.NullHandler())
    plugin_log.propagate = False
    app = get_app(ctx)
    checker = app.get_check(name)
    instance = app.instance(
        name,
        warning=parse_pairs(warning, "warning", checker.primary_threshold),
        critical=parse_pairs(critical, "critical", checker.primary_threshold),
        options=parse_options(options),
        url=url,
        host=host,
        port=port,
        timeout=timeout,
    )
    result = app.run(instance)
    if fmt == "nagios":
        from stacktender.render.nagios import nagios_output

        click.echo(app.redactor(nagios_output(result)))
        for plugin, error in getattr(app.pm, "failed", {}).items():
            click.echo(f"note: plugin {plugin} failed to load: {app.redactor(error)}")
    else:
        click.echo(app.render([result], fmt), nl=fmt != "prometheus")
    raise CheckExit(int(result.status))


@click.command()
@click.argument("names", nargs=-1)
@output_options(RESULT_FORMATS)
@click.option("--concurrency", type=int, help="Checks run at once (default 16).")
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Processes the checks are spread over, whole services each; 1 runs all here.",
)
@click.option("--record", is_flag=True, help="Save the results in the store (see 'history').")
@click.option(
    "--exit-status",
    is_flag=True,
    help="Exit with the worst status as a Nagios code instead of 0.",
)
@click.pass_context
def sweep(
    ctx: click.Context,
    names: tuple[str, ...],
    fmt: str,
    columns: tuple[str, ...],
    concurrency: int | None,
    processes: int,
    record: bool,
    exit_status: bool,
) -> None:
    """Run every configured check (or NAMES) concurrently, each with its timeout.

    On a machine with more than one core the checks of some services run in a forked
    second process (--processes), so that client libraries load and checks run in parallel.

    \b
    Examples:
      stacktender sweep
      stacktender sweep -f prometheus > /var/lib/node_exporter/stacktender.prom
      stacktender sweep rabbitmq-node memcached -f json --record
    """
    from stacktender.results import worst

    app = get_app(ctx)
    instances = app.sweep_instances(names)
    if record:
        _ = app.store  # an unreachable store fails now, before any check has run
    on_result, finish = _progress(len(instances))
    try:
        results = app.sweep(
            instances, concurrency=concurrency, on_result=on_result, processes=processes
        )
    finally:
        finish()
    click.echo(app.render(results, fmt, columns=columns), nl=fmt != "prometheus")
    if record:
        # After printing: if writing fails now, the results are still on stdout, not lost.
        app.store.record_sweep(results)
    if exit_status:
        raise SystemExit(int(worst(r.status for r in results)))


def _progress(total: int) -> tuple[Any, Any]:
    """A progress bar on stderr when it is a terminal; nothing when piped."""
    if total < 2 or not sys.stderr.isatty():
        return None, lambda: None
    bar = click.progressbar(length=total, label="checks", file=sys.stderr)
    bar.__enter__()

    def on_result(_: Any) -> None:
        bar.update(1)

    return on_result, lambda: bar.__exit__(None, None, None)


@click.group()
def checks() -> None:
    """Installed checks."""


@checks.command("list")
@output_options(("table", "json", "yaml", "csv", "value"))
@click.pass_context
def checks_list(ctx: click.Context, fmt: str, columns: tuple[str, ...]) -> None:
    """List installed checks, their service, default target and thresholds.

    \b
    Example:
      stacktender checks list -c name -c service -f value
    """
    from stacktender.render.rows import render_rows
    from stacktender.secrets import mask_url

    app = get_app(ctx)
    rows = [
        {
            "name": c.name,
            "service": c.service,
            "default_target": mask_url(c.default_url),
            "thresholds": [
                f"{t.name}(w={t.warning or '-'},c={t.critical or '-'})" for t in c.thresholds
            ],
            "options": [f"{k}={v}" for k, v in c.options.items()],
            "description": c.description,
        }
        for c in app.checks.values()
    ]
    cols = ("name", "service", "default_target", "thresholds", "options", "description")
    click.echo(render_rows(rows, cols, fmt, columns))
