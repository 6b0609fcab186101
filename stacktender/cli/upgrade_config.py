"""``upgrade config-diff``: what a config file's options become in another release."""

from __future__ import annotations

from pathlib import Path

import click

from stacktender.cli.common import output_options
from stacktender.render.rows import ROW_FORMATS

DETAIL_WIDTH = 70


@click.command("config-diff")
@click.option("--service", required=True, help="nova, keystone, glance, cinder, neutron, ...")
@click.option("--config", "config", required=True, type=click.Path(dir_okay=False),
              help="The rendered config file to check (read only without --fix).")  # fmt: skip
@click.option("--to", "target", required=True,
              help="Target release: a version (33.0.0) or series (2025.2, flamingo).")  # fmt: skip
@click.option("--from", "from_version",
              help="Installed release, if not the one installed here (cached venv).")  # fmt: skip
@click.option("--installed-python", type=click.Path(exists=True),
              help="Python (or venv) that has the installed release; default: the "
              "testcloud's venv, then /usr/bin/python3.")  # fmt: skip
@click.option("--kind", "kinds", multiple=True,
              type=click.Choice(["removed", "renamed", "deprecated", "unknown",
                                 "default-changed", "new"]),
              help="Show only findings of this kind (repeatable).")  # fmt: skip
@click.option("--no-new", is_flag=True, help="Do not list new options.")
@click.option("--fix", is_flag=True,
              help="Write the updated file: rename/move options, comment out removed.")  # fmt: skip
@click.option("--output", type=click.Path(dir_okay=False),
              help="With --fix: write here, not over --config (kept as FILE.orig).")  # fmt: skip
@output_options(ROW_FORMATS)
def config_diff(
    service: str,
    config: str,
    target: str,
    from_version: str | None,
    installed_python: str | None,
    kinds: tuple[str, ...],
    no_new: bool,
    fix: bool,
    output: str | None,
    fmt: str,
    columns: tuple[str, ...],
) -> None:
    """Compare the options a config file sets with another release of the service.

    Option metadata is read from the real packages (their oslo.config.opts entry
    points); the target release is installed once into a cached venv under
    ~/.cache/stacktender/releases. Reports options removed (ignored), renamed or
    moved, deprecated, unknown to both releases; defaults that changed for options
    the file leaves unset; new options of the file's groups and new groups.

    \b
    Examples:
      stacktender upgrade config-diff --service nova --config /etc/nova/nova.conf --to 2025.2
      stacktender upgrade config-diff --service keystone --config keystone.conf \\
          --from 30.0.0 --to 28.0.0 --kind removed --kind renamed
      stacktender upgrade config-diff --service nova --config nova.conf --to 33.0.0 \\
          --fix --output nova.conf.new
    """
    from stacktender.upgrade.config_diff import COLUMNS, TABLE_COLUMNS, fix_config
    from stacktender.upgrade.config_diff import config_diff as run_diff

    if output and not fix:
        raise click.UsageError("--output is only used with --fix")

    def progress(message: str) -> None:
        click.echo(message, err=True)

    ini, diff = run_diff(
        service,
        config,
        target,
        from_version=from_version,
        installed_python=installed_python,
        new_options=not no_new,
        progress=progress,
    )
    rows = [f.as_row() for f in diff.findings if not kinds or f.kind in kinds]
    shown = COLUMNS if fmt != "table" or columns else TABLE_COLUMNS
    if fmt == "table":
        # a deprecation reason can be a paragraph; -f json/yaml carry it whole
        for row in rows:
            row["detail"] = _clip(str(row["detail"]), DETAIL_WIDTH)
    from stacktender.render.rows import render_rows

    if rows:
        click.echo(render_rows(rows, shown, fmt, columns))
    for note in diff.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(diff.summary(), err=True)
    if fix:
        if not diff.fixable:
            click.echo("nothing to fix: file not written", err=True)
            return
        dest = fix_config(ini, diff, output)
        kept = "" if output else f"; the original is {Path(config)}.orig"
        click.echo(f"wrote {dest} ({len(diff.fixable)} change(s){kept})", err=True)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
