"""``plugins list``: what is installed and what each plugin provides."""

from __future__ import annotations

import click

from stacktender.cli.common import get_app, output_options


@click.group()
def plugins() -> None:
    """Installed plugins."""


@plugins.command("list")
@output_options(("table", "json", "yaml", "csv", "value"))
@click.pass_context
def plugins_list(ctx: click.Context, fmt: str, columns: tuple[str, ...]) -> None:
    """List every plugin with its package, version and what it provides.

    \b
    Example:
      stacktender plugins list -f json
    """
    from stacktender.plugins import describe_plugins
    from stacktender.render.rows import render_rows

    rows = [vars(info) for info in describe_plugins(get_app(ctx).pm)]
    click.echo(
        render_rows(
            rows, ("name", "package", "version", "hooks", "provides", "error"), fmt, columns
        )
    )
