"""``store``: stacktender's own database (schema migrations, pruning old sweeps)."""

from __future__ import annotations

import click

from stacktender.cli.common import get_app


@click.group()
def store() -> None:
    """stacktender's own database (set by 'store:' in the configuration).

    \b
    Examples:
      stacktender store upgrade
      stacktender store prune --older-than 90d
    """


@store.command("upgrade")
@click.pass_context
def store_upgrade(ctx: click.Context) -> None:
    """Create or migrate the store's schema.

    Every command that uses the store does this on its own; run it to migrate at a
    moment of your choosing, for example right after upgrading stacktender.

    \b
    Example:
      stacktender --config /etc/stacktender/stacktender.yaml store upgrade
    """
    db = get_app(ctx).store
    click.echo(f"{db.masked_url}: schema at revision {db.upgrade()}")


@store.command("prune")
@click.option(
    "--older-than",
    required=True,
    metavar="AGE",
    help="Delete sweeps older than this age (for example 90d, 2w).",
)
@click.pass_context
def store_prune(ctx: click.Context, older_than: str) -> None:
    """Delete sweeps older than an age, with their check results.

    \b
    Example:
      stacktender store prune --older-than 90d
    """
    from stacktender.store.timespec import parse_age

    try:
        age = parse_age(older_than)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--older-than'") from None
    deleted = get_app(ctx).store.prune(age)
    click.echo(f"deleted {deleted} check results older than {older_than}")
