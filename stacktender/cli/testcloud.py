"""``stacktender testcloud``: a real local OpenStack for trying things and for tests."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from stacktender.cli.common import output_options
from stacktender.render.rows import ROW_FORMATS, render_rows

F = TypeVar("F", bound=Callable[..., Any])

STATUS_COLUMNS = ("service", "state", "pid", "port", "rss_mb", "pss_mb", "hosts", "log")


def state_dir_option(func: F) -> F:
    return click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="STACKTENDER_TESTCLOUD_DIR",
        help="Where the cloud lives (default ~/.local/share/stacktender/testcloud).",
    )(func)


def _cloud(state_dir: Path | None, progress: bool = False) -> Any:
    from stacktender.testcloud import TestCloud

    report = None
    if progress and sys.stderr.isatty():
        began = time.monotonic()

        def report(message: str) -> None:
            click.echo(f"{time.monotonic() - began:6.1f}s  {message}", err=True)

    return TestCloud(state_dir, progress=report)


@click.group()
def testcloud() -> None:
    """A real OpenStack control plane on this machine, from PyPI.

    \b
    Examples:
      stacktender testcloud up
      stacktender testcloud status
      openstack --os-cloud testcloud-admin server list
      stacktender testcloud seed --scale 100
      stacktender testcloud down
    """


@testcloud.command()
@state_dir_option
@click.option("--db", "db_url", metavar="URL", help="Database server (default local MariaDB).")
@click.option("--computes", type=click.IntRange(1, 200), help="Fake compute hosts (default 1).")
@click.option("--port-base", type=click.IntRange(1024, 65000), help="First API port (25000).")
@click.option("--name", help="Prefix of databases, vhost and cloud names (testcloud).")
@click.option("--release", help="OpenStack release series to install.")
@click.option("--pin", "pins", multiple=True, metavar="PKG==VERSION", help="Override a pin.")
@click.option("--debug-logs", is_flag=True, default=None, help="Services log at DEBUG.")
def up(
    state_dir: Path | None,
    db_url: str | None,
    computes: int | None,
    port_base: int | None,
    name: str | None,
    release: str | None,
    pins: tuple[str, ...],
    debug_logs: bool | None,
) -> None:
    """Install, configure and start the cloud; a no-op when it is already up.

    \b
    Examples:
      stacktender testcloud up
      stacktender testcloud up --computes 4
      stacktender testcloud up --db postgresql://postgres@127.0.0.1:5432
      stacktender testcloud up --state-dir /tmp/tc --port-base 26000 --name tc2
    """
    from stacktender.testcloud.install import parse_pins

    cloud = _cloud(state_dir, progress=True)
    result = cloud.up(
        db_url=db_url,
        compute_hosts=computes,
        port_base=port_base,
        name=name,
        release=release,
        pins=parse_pins(pins),
        debug=debug_logs,
    )
    settings = cloud.settings()
    if result.already_running:
        click.echo(f"testcloud already up in {settings.state_dir}")
    else:
        click.echo(f"testcloud up in {result.seconds:.0f}s ({settings.state_dir})")
    click.echo(
        f"try: openstack --os-cloud {settings.name}-admin server list  "
        f"(clouds {settings.name}-admin, {settings.name}-demo)"
    )


@testcloud.command()
@state_dir_option
@output_options(ROW_FORMATS)
def status(state_dir: Path | None, fmt: str, columns: tuple[str, ...]) -> None:
    """What runs: process state, pid, port and memory of every service.

    \b
    Examples:
      stacktender testcloud status
      stacktender testcloud status -f json
      stacktender testcloud status -c service -c state
    """
    rows = [vars(row) for row in _cloud(state_dir).status()]
    if fmt == "table" and not columns:
        rows.append(
            {
                "service": "total",
                "state": f"{sum(r['state'] == 'up' for r in rows)}/{len(rows)} up",
                "rss_mb": round(sum(r["rss_mb"] for r in rows), 1),
                "pss_mb": round(sum(r["pss_mb"] for r in rows), 1),
            }
        )
        columns = STATUS_COLUMNS[:7]
    click.echo(render_rows(rows, STATUS_COLUMNS, fmt, columns))
    if any(r["state"] == "down" for r in rows):
        sys.exit(1)


@testcloud.command()
@state_dir_option
@click.argument("services", nargs=-1)
def down(state_dir: Path | None, services: tuple[str, ...]) -> None:
    """Stop every process, or only SERVICES (the data stays; 'up' starts them again).

    \b
    Examples:
      stacktender testcloud down
      stacktender testcloud down nova-compute
    """
    stopped = _cloud(state_dir).down(services)
    click.echo(f"stopped {len(stopped)} processes" + (f": {', '.join(stopped)}" if stopped else ""))


@testcloud.command()
@state_dir_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def destroy(state_dir: Path | None, yes: bool) -> None:
    """Stop everything and remove it: databases, vhost, state directory, clouds.yaml entries.

    \b
    Example:
      stacktender testcloud destroy --yes
    """
    cloud = _cloud(state_dir)
    if not yes and sys.stdin.isatty():
        click.confirm(f"destroy the testcloud in {cloud.state_dir}?", abort=True)
    cloud.destroy()
    click.echo(f"destroyed {cloud.state_dir}")


@testcloud.command()
@state_dir_option
@click.argument("service", required=False)
@click.option("-n", "--lines", type=int, default=40, show_default=True, help="Lines to show.")
def logs(state_dir: Path | None, service: str | None, lines: int) -> None:
    """Where the logs are; with SERVICE, the end of its logs.

    \b
    Examples:
      stacktender testcloud logs
      stacktender testcloud logs nova-compute -n 100
      tail -f ~/.local/share/stacktender/testcloud/logs/nova-api.log
    """
    paths = _cloud(state_dir).logs(service)
    if service is None:
        for path in paths:
            click.echo(str(path))
        return
    for path in paths:
        click.echo(f"==> {path} <==")
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        click.echo("\n".join(tail))


@testcloud.command()
@state_dir_option
@click.option("--scale", type=click.IntRange(0, 5000), default=0, help="Servers to spread.")
def seed(state_dir: Path | None, scale: int) -> None:
    """Create realistic data through the public APIs (idempotent).

    \b
    Examples:
      stacktender testcloud seed
      stacktender testcloud seed --scale 500
    """
    from stacktender.testcloud.seed import seed as run_seed

    cloud = _cloud(state_dir, progress=True)
    summary = run_seed(cloud, scale=scale)
    click.echo(", ".join(f"{count} {kind}" for kind, count in summary.items()))


@testcloud.command()
@state_dir_option
def scenario(state_dir: Path | None) -> None:
    """Boot a server, fail a boot, resize, delete; print each action's global request id.

    The services' logs then hold these requests: follow one with 'logs trace'.

    \b
    Examples:
      stacktender testcloud scenario
      stacktender logs trace "$(stacktender testcloud scenario | awk '/failed_boot/ {print $2}')" \\
          ~/.local/share/stacktender/testcloud/logs
    """
    from stacktender.testcloud.scenario import run_scenario

    run = run_scenario(_cloud(state_dir, progress=True))
    for action in ("boot", "failed_boot", "resize", "delete"):
        click.echo(f"{action:<12} {getattr(run, action)}")
    click.echo(f"{'server':<12} {run.server}")
    click.echo(f"{'failed':<12} {run.failed_server}")
