"""`stacktender api`: Serve the REST API."""

from __future__ import annotations

from pathlib import Path

import click

from stacktender.cli.common import CommandError, get_app
from stacktender.cli.metering_invoice import prices_option


@click.group()
def api() -> None:
    """Serve the REST API."""


@api.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8780, show_default=True)
@click.option(
    "--os-cloud",
    "cloud",
    metavar="NAME",
    help="clouds.yaml cloud whose Keystone validates tokens, with its credentials as the "
    "service user (admin or service role; default: the global --os-cloud / OS_CLOUD).",
)
@prices_option
@click.option(
    "--keystone-timeout",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds for Keystone to validate a token (slower: 503).",
)
@click.option(
    "--cache-seconds",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="How long a validated token is trusted before Keystone is asked again.",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    cloud: str | None,
    prices: Path,
    keystone_timeout: float,
    cache_seconds: float,
) -> None:
    """Serve usage and invoices over HTTP (OpenAPI at /docs and /openapi.json).

    Every request but /healthz needs a Keystone token in X-Auth-Token: an admin sees
    every project, anyone else only the project of their token.

    \b
    Examples:
      stacktender api serve --os-cloud mycloud --prices /etc/stacktender/prices.yaml
      curl -H "X-Auth-Token: $(openstack token issue -f value -c id)" \\
          http://127.0.0.1:8780/v1/projects/$PROJECT_ID/invoices/2026-11
    """
    try:
        import uvicorn

        from stacktender.web.api import create_app
    except ImportError as exc:
        raise CommandError(
            f"the REST API needs the web extra (pip install 'stacktender[web]'): {exc}"
        ) from None
    from stacktender.metering.pricing import load_price_sheet
    from stacktender.web.auth import KeystoneAuth

    app = get_app(ctx)
    cloud = cloud or app.os_cloud
    if not cloud:
        raise CommandError("--os-cloud NAME is needed: the cloud whose Keystone checks tokens")
    sheet = load_price_sheet(prices)
    auth = KeystoneAuth.from_cloud(cloud, timeout=keystone_timeout, cache_seconds=cache_seconds)
    web = create_app(app.store, sheet, auth)
    click.echo(f"serving on http://{host}:{port} (tokens checked by {auth.identity_url})", err=True)
    uvicorn.run(web, host=host, port=port, log_level="info", access_log=True)
