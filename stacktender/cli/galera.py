"""``galera-health``: the HTTP health endpoint of a Galera node, for haproxy."""

from __future__ import annotations

import click

from stacktender.cli.common import get_app


@click.command("galera-health")
@click.option(
    "--listen",
    default="0.0.0.0:9200",
    show_default=True,
    metavar="HOST:PORT",
    help="Address to serve on (haproxy connects here: 'check port 9200').",
)
@click.option(
    "--url",
    envvar="STACKTENDER_GALERA_URL",
    metavar="URL",
    help="The node to watch (default: targets.mysql.url from the config, else "
    "mysql://root@127.0.0.1:3306/). Also read from $STACKTENDER_GALERA_URL.",
)
@click.option("--allow-donor", is_flag=True, help="Answer 200 while the node is a Donor.")
@click.option("--allow-read-only", is_flag=True, help="Answer 200 even when read_only is ON.")
@click.option(
    "--maintenance-file",
    metavar="PATH",
    help="Answer 503 while this file exists (take the node out of haproxy by hand).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    help="Seconds one query of the node may take before the answer is 503.",
)
@click.pass_context
def galera_health(
    ctx: click.Context,
    listen: str,
    url: str | None,
    allow_donor: bool,
    allow_read_only: bool,
    maintenance_file: str | None,
    timeout: float,
) -> None:
    """Serve HTTP 200 while this Galera node is Synced, 503 otherwise (for haproxy).

    Each request queries the node; the body says why. 503 also when read_only is ON,
    when the maintenance file exists, or when the node does not answer in time.

    \b
    Example:
      stacktender galera-health --listen 10.0.0.11:9200 \\
          --url 'mysql://127.0.0.1:3306/?read_default_file=/etc/mysql/clustercheck.cnf' \\
          --maintenance-file /etc/stacktender/galera-maintenance
      curl -i http://10.0.0.11:9200/

    The option file holds the [client] user and password, so no password shows
    in the process list.
    """
    import logging

    from stacktender.checks.mysql import DEFAULT_URL
    from stacktender.galera_health import HealthPolicy, make_server, parse_listen
    from stacktender.secrets import mask_url

    if url is None:
        url = str(get_app(ctx).config.targets.get("mysql", {}).get("url") or DEFAULT_URL)
    policy = HealthPolicy(
        allow_donor=allow_donor,
        allow_read_only=allow_read_only,
        maintenance_file=maintenance_file,
        timeout=timeout,
    )
    host, port = parse_listen(listen)
    server = make_server((host, port), url, policy)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"galera-health: {mask_url(url)} on http://{shown}:{port}/", err=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
