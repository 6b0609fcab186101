"""``upgrade galera-rolling``: restart or upgrade a Galera cluster one node at a time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from stacktender.cli.common import CommandError, output_options
from stacktender.render.rows import ROW_FORMATS

COLUMNS = ("phase", "node", "result", "stopped", "started", "synced", "seconds", "error")


@click.command("galera-rolling")
@click.option(
    "-i",
    "--inventory",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Ansible inventory file holding the cluster's nodes (see --group).",
)
@click.option("--hosts", metavar="A,B,C", help="The nodes, comma-separated (SSH, defaults).")
@click.option("--group", default="galera", show_default=True, help="Inventory group of the nodes.")
@click.option(
    "--mode",
    type=click.Choice(["restart", "upgrade"]),
    default="restart",
    show_default=True,
    help="restart: stop and start each node. upgrade: stop, upgrade packages, start.",
)
@click.option("--check", is_flag=True, help="Dry run only (Ansible check mode); the default.")
@click.option("--execute", is_flag=True, help="After the dry run passes, really do it.")
@click.option(
    "--expected-size",
    type=click.IntRange(min=1),
    help="Cluster size to require before and after each node [default: number of nodes].",
)
@click.option(
    "--sync-timeout",
    type=click.FloatRange(min=1),
    help="Seconds a started node may take to be Synced again [default: 600].",
)
@click.option(
    "-e",
    "--extra-var",
    "extra_vars",
    multiple=True,
    metavar="KEY=VALUE",
    help="A playbook variable for every node, e.g. galera_stop_cmd='systemctl stop mysql' "
    "(repeatable).",
)
@output_options(ROW_FORMATS)
def galera_rolling(
    inventory: Path | None,
    hosts: str | None,
    group: str,
    mode: str,
    check: bool,
    execute: bool,
    expected_size: int | None,
    sync_timeout: float | None,
    extra_vars: tuple[str, ...],
    fmt: str,
    columns: tuple[str, ...],
) -> None:
    """Restart or upgrade a Galera cluster one node at a time, with Ansible.

    For each node in turn: check that every node is Synced in a cluster of the
    expected size, stop the node (upgrade its packages), start it, and wait until it
    is Synced and the cluster is whole again. The first failure ends the run and the
    remaining nodes are left alone. A check-mode dry run always comes first; nothing
    is stopped without --execute.

    The nodes' commands are playbook variables, set in the inventory or with -e:
    galera_stop_cmd, galera_start_cmd (default: systemctl stop/start mariadb),
    galera_mysql_cmd (default: mariadb), galera_upgrade_cmd (default: the package
    module on galera_packages). See docs/upgrade-galera-rolling.md.

    \b
    Examples:
      stacktender upgrade galera-rolling --hosts db1,db2,db3
      stacktender upgrade galera-rolling -i inventory.ini --group galera --execute
      stacktender upgrade galera-rolling -i inventory.ini --mode upgrade \\
          -e galera_upgrade_cmd='apt-get install -y --only-upgrade mariadb-server' --execute
    """
    from stacktender.render.rows import render_rows
    from stacktender.upgrade.galera_rolling import RollingOptions, RollingTarget
    from stacktender.upgrade.galera_rolling import galera_rolling as run

    if check and execute:
        raise CommandError("--check (dry run only) and --execute exclude each other")
    target = RollingTarget(
        inventory=inventory,
        hosts=tuple(h.strip() for h in hosts.split(",")) if hosts is not None else (),
        group=group,
    )
    options = RollingOptions(
        mode=mode,
        expected_size=expected_size,
        sync_timeout=sync_timeout,
        extravars=_parse_vars(extra_vars),
    )
    report = run(target, options, execute=execute, progress=_progress)
    rows = [
        {"phase": r.phase, **{k: _plain(getattr(n, k), fmt) for k in COLUMNS[1:]}}
        for r in report.runs
        for n in r.nodes
    ]
    click.echo(render_rows(rows, COLUMNS, fmt, columns))
    last = report.runs[-1]
    if not last.ok:
        raise CommandError(f"{last.phase} failed: {last.error}")
    names = ", ".join(n.node for n in last.nodes)
    if report.executed:
        done = "restarted" if mode == "restart" else "upgraded"
        click.echo(f"{done} {names} one at a time in {last.seconds} s", err=True)
    else:
        click.echo(
            f"dry run (check mode) passed in {last.seconds} s, nothing was changed; "
            f"add --execute to {mode} {names} one at a time",
            err=True,
        )


def _parse_vars(items: tuple[str, ...]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise CommandError(f"-e wants KEY=VALUE with a variable name as KEY, not {item!r}")
        parsed[key.strip()] = value
    return parsed


def _plain(value: Any, fmt: str) -> Any:
    if isinstance(value, datetime):
        # A run takes minutes: the table shows the time of day (UTC), data formats all of it.
        if fmt in ("table", "value"):
            return value.astimezone(UTC).strftime("%H:%M:%S")
        return value.isoformat(timespec="seconds")
    return value


def _progress(line: str) -> None:
    click.echo(f"{datetime.now(UTC).strftime('%H:%M:%S')} {line}", err=True)
