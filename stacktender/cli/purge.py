"""`stacktender purge`: Clean up what deleted or disabled projects leave behind."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from stacktender.cli.common import CommandError, get_app, output_options
from stacktender.render.rows import ROW_FORMATS, render_rows

if TYPE_CHECKING:
    from stacktender.purge import Filters, Plan

F = TypeVar("F", bound=Callable[..., Any])


@click.group()
def purge() -> None:
    """Clean up what deleted or disabled projects leave behind."""


_SELECT_OPTIONS = (
    click.option(
        "--os-cloud", envvar="OS_CLOUD", metavar="NAME",
        help="Cloud in clouds.yaml (admin credentials).",
    ),
    click.option("--execute", is_flag=True, help="Delete (default: a dry run printing the plan)."),
    click.option(
        "--types", "types", metavar="TYPE[,TYPE]", help="Only these resource types (purge types)."
    ),
    click.option(
        "--created-before", metavar="WHEN",
        help="Only resources created before WHEN (7d, 2026-01-31).",
    ),
    click.option(
        "--exclude", multiple=True, metavar="ID|NAME",
        help="Keep this resource: an id or a name pattern (repeatable).",
    ),
    click.option(
        "--workers", type=click.IntRange(1, 64), default=24, show_default=True,
        help="Deletions at once.",
    ),
    click.option(
        "--per-service", type=click.IntRange(1, 64), default=4, show_default=True,
        help="Requests in flight to one service at once (about its API workers).",
    ),
)  # fmt: skip


def _select_options(func: F) -> F:
    """The options every resource purge takes: cloud, filters, execution, output."""
    func = output_options(ROW_FORMATS)(func)
    for decorator in reversed(_SELECT_OPTIONS):
        func = decorator(func)
    return func


def _filters(types: str | None, created_before: str | None, exclude: tuple[str, ...]) -> Filters:
    from stacktender.purge import Filters
    from stacktender.store.timespec import parse_since

    when = None
    if created_before:
        try:
            when = parse_since(created_before)
        except ValueError as exc:
            raise CommandError(f"--created-before: {exc}") from None
    wanted = tuple(t.strip() for t in (types or "").split(",") if t.strip())
    return Filters(types=wanted, created_before=when, exclude=exclude)


def _connect(ctx: click.Context, os_cloud: str | None) -> Any:
    from stacktender.purge.discover import connect

    return connect(os_cloud or get_app(ctx).os_cloud)


@purge.command("project")
@click.argument("name_or_id")
@_select_options
@click.option("--force", is_flag=True, help="Purge even though the project is enabled.")
@click.pass_context
def project_cmd(ctx: click.Context, name_or_id: str, force: bool, **options: Any) -> None:
    """Delete everything a project owns, on every service, in dependency order.

    A dry run unless --execute: prints the plan as a tree and a table. Never the admin
    or service project; an enabled project only with --force. Running it again after
    a crash or Ctrl-C finishes the job.

    \b
    Examples:
      stacktender purge project old-team --os-cloud prod
      stacktender purge project old-team -f json
      stacktender purge project 3f2c...e1 --execute --exclude keep-*
    """
    from stacktender.purge import plan_project, resolve_project

    conn = _connect(ctx, options["os_cloud"])
    filters = _filters(options["types"], options["created_before"], options["exclude"])
    if options["execute"]:
        resolve_project(conn, name_or_id, force=force)  # refuses before anything is listed
    plan = plan_project(conn, name_or_id, filters, force=True, progress=_note)
    _plan_or_execute(ctx, conn, plan, filters, "project", options)


@purge.command("orphans")
@_select_options
@click.option(
    "--project", "projects", multiple=True, metavar="ID",
    help="Only the orphans of this vanished project (repeatable).",
)  # fmt: skip
@click.pass_context
def orphans_cmd(ctx: click.Context, projects: tuple[str, ...], **options: Any) -> None:
    """Resources whose project no longer exists in Keystone, on every service.

    \b
    Examples:
      stacktender purge orphans --os-cloud prod
      stacktender purge orphans --types server,volume --execute
      stacktender purge orphans --project 3f2c9a...e1 --execute
    """
    from stacktender.purge import plan_orphans

    conn = _connect(ctx, options["os_cloud"])
    filters = _filters(options["types"], options["created_before"], options["exclude"])
    plan = plan_orphans(conn, filters, projects=projects, progress=_note)
    _plan_or_execute(ctx, conn, plan, filters, "orphans", options)


def _note(message: str) -> None:
    """What the purge is doing, on a terminal only (like the progress bar)."""
    if sys.stderr.isatty():
        click.echo(message, err=True)


def _plan_or_execute(
    ctx: click.Context, conn: Any, plan: Plan, filters: Filters, kind: str, options: dict[str, Any]
) -> None:
    fmt, columns = options["fmt"], options["columns"]
    if not options["execute"]:
        _show_plan(plan, fmt, columns)
        if plan.items:
            click.echo("dry run: nothing deleted (--execute deletes)", err=True)
        return
    from stacktender.purge import Ledger, Policy, execute
    from stacktender.purge.execute import OUTCOME_COLUMNS

    ledger = Ledger(get_app(ctx).store)
    progress, close = _progress(len(plan.items))
    policy = Policy(workers=options["workers"], per_service=options["per_service"])
    run_options = {
        **filters.as_dict(), "workers": policy.workers, "per_service": policy.per_service,
    }  # fmt: skip
    try:
        report = execute(
            conn, plan, ledger=ledger, kind=kind, options=run_options,
            policy=policy, progress=progress,
        )  # fmt: skip
    except KeyboardInterrupt:
        close()
        click.echo("stacktender: interrupted: run the same command again to finish", err=True)
        ctx.exit(130)
    close()
    if fmt == "json":
        import json

        data = {"summary": report.summary(), "run_id": report.run_id, "resumes": report.resumes}
        click.echo(json.dumps({**data, "resources": report.rows()}, indent=2, default=str))
    elif report.outcomes:
        click.echo(render_rows(report.rows(), OUTCOME_COLUMNS, fmt, columns))
    click.echo(report.summary(), err=True)
    _warn(plan)
    if report.failed or report.unlisted:
        what = f"{len(report.failed)} deletion(s) failed" if report.failed else ""
        if report.unlisted:
            what += ("; " if what else "") + f"{len(report.unlisted)} type(s) could not be listed"
        raise CommandError(f"{what}; run again to finish")


def _show_plan(plan: Plan, fmt: str, columns: tuple[str, ...]) -> None:
    from stacktender.purge.plan import PLAN_COLUMNS

    if fmt == "json":
        import json

        click.echo(json.dumps(plan.as_dict(), indent=2, default=str))
        return
    if fmt == "yaml":
        import yaml

        click.echo(yaml.safe_dump(plan.as_dict(), sort_keys=False).rstrip("\n"))
        return
    if fmt == "table":
        click.echo(plan.tree())
        click.echo()
    if plan.items:
        click.echo(render_rows(plan.rows(), PLAN_COLUMNS, fmt, columns))
    if fmt != "table":
        _warn(plan)


def _warn(plan: Plan) -> None:
    for rtype, why in sorted(plan.skipped.items()):
        click.echo(f"skipped {rtype}: {why}", err=True)
    for rtype, why in sorted(plan.unlisted.items()):
        click.echo(f"not listed {rtype}: {why}", err=True)
    for warning in plan.warnings:
        click.echo(f"warning: {warning}", err=True)


def _progress(total: int) -> tuple[Any, Callable[[], None]]:
    """A progress bar on stderr when it is a terminal; nothing when piped."""
    if total < 2 or not sys.stderr.isatty():
        return None, lambda: None
    bar = click.progressbar(length=total, label="purging", file=sys.stderr)
    bar.__enter__()
    return (lambda outcome, done, total: bar.update(1)), lambda: bar.__exit__(None, None, None)


@purge.command("types")
@output_options(ROW_FORMATS)
def types_cmd(fmt: str, columns: tuple[str, ...]) -> None:
    """The resource types purge knows, in the order it deletes them.

    \b
    Example:
      stacktender purge types -f value -c name
    """
    from stacktender.purge import resource_types
    from stacktender.purge.plan import type_waves

    types = resource_types()
    waves = type_waves(types.values())
    rows = [
        {
            "wave": waves[t.name] + 1,
            "name": t.name,
            "service": t.service,
            "owner": t.owner,
            "asynchronous": t.gone is not None,
            "after": list(t.after),
            "description": t.description,
        }
        for t in sorted(types.values(), key=lambda t: (waves[t.name], t.service, t.name))
    ]
    cols = ("wave", "name", "service", "owner", "asynchronous", "after", "description")
    click.echo(render_rows(rows, cols, fmt, columns))


@purge.command("runs")
@click.argument("project_id", required=False)
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@output_options(ROW_FORMATS)
@click.pass_context
def runs_cmd(
    ctx: click.Context, project_id: str | None, limit: int, fmt: str, columns: tuple[str, ...]
) -> None:
    """Executed purges recorded in the store, newest first (interrupted ones too).

    \b
    Example:
      stacktender purge runs 3f2c9a...e1 -f json
    """
    from stacktender.purge import Ledger
    from stacktender.purge.audit import RUN_COLUMNS

    rows = Ledger(get_app(ctx).store).runs(project_id, limit)
    click.echo(render_rows(rows, RUN_COLUMNS, fmt, columns))


@purge.command("audit")
@click.argument("run_id", type=int, required=False)
@click.option("--project", "project_id", metavar="ID", help="Every run's actions on this project.")
@output_options(ROW_FORMATS)
@click.pass_context
def audit_cmd(
    ctx: click.Context,
    run_id: int | None,
    project_id: str | None,
    fmt: str,
    columns: tuple[str, ...],
) -> None:
    """Every deletion a run (or every run on a project) made, and its outcome.

    \b
    Examples:
      stacktender purge audit 12
      stacktender purge audit --project 3f2c9a...e1 -f csv
    """
    from stacktender.purge import Ledger
    from stacktender.purge.audit import ACTION_COLUMNS

    if run_id is None and project_id is None:
        raise CommandError("give a RUN_ID or --project ID")
    rows = Ledger(get_app(ctx).store).actions(run_id, project_id)
    click.echo(render_rows(rows, ACTION_COLUMNS, fmt, columns))


@purge.command("db")
@click.option("--execute", is_flag=True, help="Run the services' purge commands (default: report).")
@click.option("--older-than", metavar="AGE", help="Only rows deleted more than AGE ago (30d).")
@click.option(
    "--db-url",
    "urls",
    multiple=True,
    metavar="ROLE=URL",
    help="A service database: nova_cell1=, nova_api=, cinder=, glance= (repeatable; "
    "default: the testcloud's).",
)
@click.option(
    "--venv",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Where bin/nova-manage etc. are (default: PATH, or the testcloud's).",
)
@click.option(
    "--manage-config",
    "configs",
    multiple=True,
    metavar="SERVICE=PATH",
    help="Config file for a service's manage command (repeatable).",
)
@click.option(
    "--testcloud-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="STACKTENDER_TESTCLOUD_DIR",
    help="The testcloud giving the defaults.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=600,
    show_default=True,
    help="Seconds each command may take.",
)
@output_options(ROW_FORMATS)
def db_cmd(
    execute: bool, older_than: str | None, urls: tuple[str, ...], venv: Path | None,
    configs: tuple[str, ...], testcloud_dir: Path | None, timeout: float, fmt: str,
    columns: tuple[str, ...],
) -> None:  # fmt: skip
    """Soft-deleted rows per service database and table; --execute runs nova-manage
    db archive_deleted_rows and purge, cinder-manage db purge, glance-manage db purge.

    \b
    Examples:
      stacktender purge db
      stacktender purge db --older-than 30d --execute
      stacktender purge db --db-url nova_cell1=mysql+pymysql://nova:...@db/nova -f json
    """
    import json

    from stacktender.purge import db
    from stacktender.store.timespec import parse_age

    age = None
    if older_than:
        try:
            age = parse_age(older_than)
        except ValueError as exc:
            raise CommandError(f"--older-than: {exc}") from None
    target = _db_target(urls, venv, configs, testcloud_dir)
    before = db.count_soft_deleted(target, age)
    cmds = db.commands(target, age)
    if execute:
        for cmd in cmds:
            click.echo(f"running: {' '.join(cmd.argv)}", err=True)
            db.run_commands([cmd], timeout)
            click.echo(f"{cmd.service}: exit {cmd.exit_code} in {cmd.seconds:.1f}s", err=True)
    after = db.count_soft_deleted(target, age) if execute else before
    rows = [c.row() for c in after]
    if fmt == "json":
        data: dict[str, Any] = {
            "soft_deleted": rows, "total": sum(c.soft_deleted for c in after),
            "before": sum(c.soft_deleted for c in before), "executed": execute,
            "commands": [c.row() for c in cmds],
        }  # fmt: skip
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(render_rows(rows, db.COUNT_COLUMNS, fmt, columns))
        if fmt == "table":
            click.echo()
            click.echo(render_rows([c.row() for c in cmds], db.COMMAND_COLUMNS, "table"))
    total = sum(c.soft_deleted for c in before)
    if execute:
        click.echo(
            f"soft-deleted rows: {total} before, {sum(c.soft_deleted for c in after)} after",
            err=True,
        )
        failed = [c for c in cmds if not c.ok]
        if failed:
            raise CommandError(
                f"{failed[0].service}: exit {failed[0].exit_code}: {failed[0].output}"
            )
    else:
        click.echo(
            f"dry run: {total} soft-deleted rows; --execute runs the {len(cmds)} commands", err=True
        )


def _db_target(
    urls: tuple[str, ...], venv: Path | None, configs: tuple[str, ...], testcloud_dir: Path | None
) -> Any:
    from stacktender.purge import db

    if not urls:
        target = db.testcloud_target(testcloud_dir)
        if venv is None and not configs:
            return target
        urls_map, base_venv, base_configs = target.databases, target.venv, dict(target.configs)
    else:
        urls_map, base_venv, base_configs = {}, None, {}
        for item in urls:
            role, sep, url = item.partition("=")
            if not sep or not url or role.split("_")[0] not in db.SERVICES:
                raise CommandError(
                    f"--db-url {role}=...: want ROLE=URL, ROLE one of "
                    "nova_api, nova_cell1, cinder, glance"
                )
            urls_map[role] = url
    for item in configs:
        service, sep, path = item.partition("=")
        if not sep or service not in db.SERVICES:
            raise CommandError(f"--manage-config {item}: want SERVICE=PATH (nova, cinder, glance)")
        base_configs[service] = Path(path)
    return db.DbTarget(urls_map, venv or base_venv, base_configs)
