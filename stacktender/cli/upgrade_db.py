"""``upgrade db-status`` (migration state) and ``upgrade check`` (the services' own
``*-status upgrade check`` tools)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from stacktender.cli.common import CommandError, output_options
from stacktender.errors import ConfigError
from stacktender.render.rows import ROW_FORMATS, render_rows

F = TypeVar("F", bound=Callable[..., Any])

if TYPE_CHECKING:
    from stacktender.upgrade.prechecks import PrecheckSpec

_VENV = click.Path(exists=True, file_okay=False, path_type=Path)


def _repeatable(flag: str, dest: str, metavar: str, help_text: str) -> Callable[[F], F]:
    """A repeatable option gathered into a tuple: most options of these commands."""
    return click.option(flag, dest, multiple=True, metavar=metavar, help=help_text)


def _run_options(timeout: float, timeout_help: str) -> Callable[[F], F]:
    """``--timeout``, ``--testcloud-dir`` and the output options both commands end with."""

    def decorate(func: F) -> F:
        func = output_options(ROW_FORMATS)(func)
        func = click.option(
            "--testcloud-dir",
            type=click.Path(file_okay=False, path_type=Path),
            envvar="STACKTENDER_TESTCLOUD_DIR",
            help="The testcloud giving the defaults (default: its standard state directory).",
        )(func)
        return click.option(
            "--timeout",
            type=click.FloatRange(min=1),
            default=timeout,
            show_default=True,
            help=timeout_help,
        )(func)

    return decorate


@click.command("db-status")
@_repeatable(
    "--db-url",
    "urls",
    "SERVICE=URL",
    "A service database (repeatable); nova= a cell DB, nova_api= the API DB.",
)
@_repeatable(
    "--config",
    "configs",
    "SERVICE=PATH",
    "Read the database URLs of a service's config file (repeatable).",
)
@_repeatable(
    "--venv",
    "venvs",
    "[SERVICE=]PATH",
    "Virtualenv (or prefix) whose migrations give the heads, for all services or one "
    "(repeatable; default: the testcloud's).",
)
@_repeatable(
    "--to",
    "targets",
    "SERVICE=VERSION",
    "Also compare with a release's heads (its venv is cached, made from PyPI once).",
)
@_run_options(10, "Seconds to connect to each database.")
def db_status(
    urls: tuple[str, ...],
    configs: tuple[str, ...],
    venvs: tuple[str, ...],
    targets: tuple[str, ...],
    timeout: float,
    testcloud_dir: Path | None,
    fmt: str,
    columns: tuple[str, ...],
) -> None:
    """Show each service database's migration revision against the heads of the
    migrations installed in a service virtualenv: up to date, behind or ahead, the
    expand/contract phases, and online data migrations where they can be read.

    With no --db-url or --config, the testcloud's databases and venv. A nova API database
    adds the cell databases its cell_mappings name. Nothing is written.
    Exits 1 when a database cannot be read.

    \b
    Examples:
      stacktender upgrade db-status
      stacktender upgrade db-status --to keystone=28.0.0 --to nova=33.0.0
      stacktender upgrade db-status --venv nova=/openstack/venvs/nova-31.0.0 \\
          --venv keystone=/openstack/venvs/keystone-27.0.0 \\
          --config nova=/etc/nova/nova.conf --config keystone=/etc/keystone/keystone.conf
      stacktender upgrade db-status --venv /usr \\
          --db-url keystone=mysql+pymysql://keystone:PASS@db/keystone
    """
    from stacktender.upgrade import dbstatus

    default: Path | None = None
    if urls or configs:
        databases = dbstatus.databases_from_urls(urls) + dbstatus.databases_from_config(configs)
        # a nova API database names every cell database (cell0 too) in its cell_mappings
        databases = dbstatus.with_nova_cells(databases, timeout)
        if not venvs:
            try:
                default = dbstatus.testcloud_databases(testcloud_dir)[1]
            except ConfigError:
                raise CommandError(
                    "--venv PATH is needed: the virtualenv whose migrations give the heads"
                ) from None
    else:
        databases, default = dbstatus.testcloud_databases(testcloud_dir)
    pythons = dbstatus.venv_pythons(venvs, default)
    releases = dbstatus.target_pythons(targets, progress=lambda m: click.echo(m, err=True))
    statuses = dbstatus.db_status(databases, pythons, timeout=timeout, targets=releases)
    click.echo(render_rows(dbstatus.rows(statuses), dbstatus.COLUMNS, fmt, columns))
    unread = [s.database for s in statuses if s.note.startswith("unreachable")]
    if unread:
        raise CommandError(f"could not read {len(unread)} database(s): {', '.join(unread)}")


@click.command("check")
@_repeatable(
    "--service",
    "services",
    "SERVICE",
    "Only this service (repeatable; default all that have a tool).",
)
@click.option(
    "--venv",
    type=_VENV,
    help="Virtualenv or prefix holding the *-status tools "
    "(default: the testcloud's; /usr for distribution packages).",
)
@_repeatable(
    "--config", "configs", "SERVICE=PATH", "A config file for a service's tool (repeatable)."
)
@click.option(
    "--nova-db", metavar="URL", help="A nova cell database: also report service version skew."
)
@_run_options(120, "Seconds each tool may take.")
def upgrade_check(
    services: tuple[str, ...],
    venv: Path | None,
    configs: tuple[str, ...],
    nova_db: str | None,
    timeout: float,
    testcloud_dir: Path | None,
    fmt: str,
    columns: tuple[str, ...],
) -> None:
    """Run each service's own '<service>-status upgrade check' and list every check.

    With no --venv, the testcloud's venv and config files (and its nova cell1 database for
    the version skew). Exits with the worst result: 0 all Success, 1 a Warning, 2 a
    Failure, 3 a tool that gave no results.

    \b
    Examples:
      stacktender upgrade check
      stacktender upgrade check --venv /usr --service nova --service cinder \\
          --config nova=/etc/nova/nova.conf --nova-db mysql://nova:PASS@db/nova
      stacktender upgrade check -f json -c service -c check -c result
    """
    from stacktender.upgrade import prechecks

    specs = _specs(services, venv, configs, testcloud_dir)
    if venv is None and nova_db is None and (not services or "nova" in services):
        nova_db = _testcloud_nova_db(testcloud_dir)
    reports = prechecks.run_prechecks(specs, timeout=timeout)
    rows = [row for report in reports for row in report.rows()]
    if nova_db:
        skew = prechecks.version_skew(nova_db)
        rows.append(
            {
                "service": "nova",
                "check": "Service version skew (openstack-nova-versions)",
                "result": {0: "Success", 1: "Warning", 2: "Failure"}.get(int(skew.status), "Error"),
                "details": skew.summary,
                "duration": round(skew.duration, 2),
            }
        )
    click.echo(render_rows(rows, prechecks.COLUMNS, fmt, columns))
    results = {row["result"] for row in rows}
    code = next((c for r, c in (("Error", 3), ("Failure", 2), ("Warning", 1)) if r in results), 0)
    if code:
        raise SystemExit(code)


def _specs(
    services: tuple[str, ...],
    venv: Path | None,
    configs: tuple[str, ...],
    testcloud_dir: Path | None,
) -> list[PrecheckSpec]:
    from stacktender.upgrade import prechecks

    given: dict[str, list[Path]] = {}
    for item in configs:
        service, sep, path = item.partition("=")
        if not sep or not path:
            raise CommandError(f"--config {item!r}: expected SERVICE=PATH")
        given.setdefault(service.strip(), []).append(Path(path))
    wanted = list(services) or (list(given) if venv is not None and given else None)
    if venv is None:
        specs = prechecks.testcloud_specs(wanted, testcloud_dir)
        return [
            prechecks.PrecheckSpec(s.service, s.prefix, tuple(given[s.service]))
            if s.service in given
            else s
            for s in specs
        ]
    out: list[PrecheckSpec] = []
    for service in wanted or prechecks.TOOLS:
        if service not in prechecks.TOOLS:
            raise CommandError(f"unknown service {service!r} (known: {', '.join(prechecks.TOOLS)})")
        if not (venv / "bin" / f"{service}-status").exists() and not services:
            continue  # not installed in this venv: skip unless asked for by name
        default = Path(f"/etc/{service}/{service}.conf")
        files = given.get(service) or ([default] if default.is_file() else [])
        out.append(prechecks.PrecheckSpec(service, venv, tuple(files)))
    if not out:
        raise CommandError(f"{venv}: no *-status tools under bin/")
    return out


def _testcloud_nova_db(state_dir: Path | None) -> str | None:
    from stacktender.testcloud.config import Settings, default_state_dir

    settings = Settings.load(state_dir or default_state_dir())
    if settings is None:
        return None
    return settings.database_url(f"{settings.name}_nova_cell1")
