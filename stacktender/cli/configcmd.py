"""``config show`` and ``config check``: the configuration as stacktender sees it."""

from __future__ import annotations

import click

from stacktender.cli.common import get_app


@click.group()
def config() -> None:
    """Show or validate the configuration."""


@config.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print the configuration in effect, secrets masked.

    \b
    Example:
      stacktender --config /etc/stacktender/stacktender.yaml config show
    """
    import yaml

    app = get_app(ctx)
    source = str(app.config.path) if app.config.path else "(no file: built-in defaults)"
    click.echo(f"# {source}")
    click.echo(yaml.safe_dump(dict(app.masked_config()), sort_keys=False).rstrip("\n"))


@config.command("check")
@click.pass_context
def config_check(ctx: click.Context) -> None:
    """Validate the configuration: every sweep entry, target, threshold and option.

    \b
    Example:
      stacktender config check && systemctl reload icinga2
    """
    app = get_app(ctx)
    instances = app.sweep_instances()
    source = app.config.path or "built-in defaults"
    click.echo(f"{source}: ok, {len(instances)} check instances")
