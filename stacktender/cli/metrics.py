"""``serve-metrics``: check results for Prometheus over HTTP."""

from __future__ import annotations

import signal
from typing import Any, NoReturn

import click

from stacktender.cli.common import get_app


@click.command("serve-metrics")
@click.argument("names", nargs=-1)
@click.option(
    "--listen",
    default="127.0.0.1:9469",
    show_default=True,
    metavar="[HOST]:PORT",
    help="Address to serve on; [::1]:PORT for IPv6, :PORT for every interface, port 0 for any.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0, min_open=True),
    default=30.0,
    show_default=True,
    help="Seconds between the starts of two sweeps.",
)
@click.pass_context
def serve_metrics(ctx: click.Context, names: tuple[str, ...], listen: str, interval: float) -> None:
    """Sweep the configured checks (or NAMES) every --interval seconds in the background and
    serve the latest results on /metrics in the Prometheus text format; /healthz answers 200
    while sweeps keep finishing. Stops cleanly on Ctrl-C or SIGTERM.

    \b
    Examples:
      stacktender serve-metrics
      stacktender serve-metrics --listen :9469 --interval 60
      stacktender --config /etc/stacktender.yaml serve-metrics memcached rabbitmq-node

    \b
    Without a server, node-exporter's textfile collector does the same from cron:
      stacktender sweep -f prometheus > /var/lib/node_exporter/stacktender.prom.$$ \\
        && mv /var/lib/node_exporter/stacktender.prom.$$ /var/lib/node_exporter/stacktender.prom
    """
    from stacktender.monitoring.metrics_server import MetricsServer, parse_listen

    app = get_app(ctx)
    host, port = parse_listen(listen)
    server = MetricsServer.for_app(app, names, host=host, port=port, interval=interval)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        click.echo(
            f"serving {len(server.sweeper.instances)} checks, swept every {interval:g}s, "
            f"on {server.url} (health: {server.url.removesuffix('/metrics')}/healthz)"
        )
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()


def _interrupt(signum: int, frame: Any) -> NoReturn:
    # SIGTERM (systemd stop, docker stop) ends the server like Ctrl-C: cleanly, exit 0.
    raise KeyboardInterrupt
