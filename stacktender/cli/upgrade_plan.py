"""``upgrade plan``: the ordered runbook or playbook to a target series."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from stacktender.cli.common import CommandError, get_app


@click.command()
@click.option("--to", "target", required=True, help="Target series: 2025.1 or epoxy.")
@click.option("--from", "current", help="Installed series, when versions cannot be read.")
@click.option(
    "--venv",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A service virtualenv (or /usr) whose installed packages give the versions.",
)
@click.option("--canary", type=click.IntRange(min=0), default=1, show_default=True,
              help="Compute nodes in the first batch (0: none).")  # fmt: skip
@click.option("--batch", default="25%", show_default=True, help="Compute batch size after it.")
@click.option("-f", "--format", "fmt", type=click.Choice(["markdown", "ansible", "json"]),
              default="markdown", show_default=True)  # fmt: skip
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of stdout.")  # fmt: skip
@click.pass_context
def plan(
    ctx: click.Context,
    target: str,
    current: str | None,
    venv: Path | None,
    canary: int,
    batch: str,
    fmt: str,
    output: Path | None,
) -> None:
    """Plan the upgrade of this cloud (--os-cloud) to a release series, in the
    upstream order, each step with pre-checks, commands, verification and rollback.

    \b
    Examples:
      stacktender --os-cloud prod upgrade plan --to 2025.1 --from 2024.1
      stacktender --os-cloud testcloud-admin upgrade plan --to 2026.2 --from 2026.1 \
          -f ansible -o upgrade.yml
      stacktender upgrade plan --to epoxy --venv /openstack/venvs/nova --canary 2 --batch 10%
    """
    from stacktender.upgrade.plan import (
        installed_versions,
        inventory_from_cloud,
        make_plan,
        render_markdown,
        render_playbook,
    )
    from stacktender.upgrade.series import series

    wanted = series(target)
    since = series(current) if current else None
    versions = installed_versions(sorted(venv.glob("lib/python3*/site-packages"))) if venv else {}
    inventory = inventory_from_cloud(_connect(get_app(ctx).os_cloud), versions)
    result = make_plan(inventory, wanted, current=since, canary=canary, batch=batch)
    if fmt == "markdown":
        text = render_markdown(result)
    elif fmt == "ansible":
        text = render_playbook(result)
    else:
        text = json.dumps(asdict(result), indent=2, default=str)
    if output is None:
        click.echo(text.rstrip("\n"))
    else:
        output.write_text(text)
        click.echo(f"wrote {len(result.steps)} steps to {output}", err=True)


def _connect(cloud: str | None) -> Any:
    import openstack

    try:
        conn = openstack.connect(cloud=cloud, api_timeout=30)
        conn.authorize()
    except Exception as exc:  # openstacksdk raises many types; the user wants one line
        text = " ".join(str(exc).split())[:300]
        raise CommandError(f"cannot reach cloud {cloud or '(OS_CLOUD)'}: {text}") from None
    return conn
