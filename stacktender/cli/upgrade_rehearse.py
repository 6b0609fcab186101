"""``upgrade rehearse``: a release's migrations run on a copy of a service database."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from stacktender.cli.common import output_options
from stacktender.render.rows import ROW_FORMATS, render_rows

if TYPE_CHECKING:
    from stacktender.upgrade.rehearse import Rehearsal


@click.command()
@click.option("--service", required=True, help="placement, keystone, glance, cinder, neutron, "
              "nova (a cell database) or nova_api.")  # fmt: skip
@click.option("--to", "version", required=True, metavar="VERSION",
              help="The release to migrate with: a version as on PyPI (16.0.0) or a "
              "series (2026.2, hibiscus: its newest release).")  # fmt: skip
@click.option("--db-url", metavar="URL", help="The service database (read only: it is copied).")
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Take the database URL from the service's config file instead.",
)
@click.option(
    "--venv",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A virtualenv (or prefix) that already has that release "
    "(default: a cached venv, built from PyPI once).",
)
@click.option("--execute", is_flag=True, help="Copy and migrate; without it only the plan.")
@click.option("--keep", is_flag=True, help="Keep the migrated copy (default: drop it).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=3600,
    show_default=True,
    help="Seconds for the copy and for each migration command.",
)
@click.option(
    "--testcloud-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="STACKTENDER_TESTCLOUD_DIR",
    help="Without --db-url/--config: the testcloud whose database is rehearsed.",
)
@output_options(ROW_FORMATS)
def rehearse(
    service: str,
    version: str,
    db_url: str | None,
    config: Path | None,
    venv: Path | None,
    execute: bool,
    keep: bool,
    timeout: float,
    testcloud_dir: Path | None,
    fmt: str,
    columns: tuple[str, ...],
) -> None:
    """Copy a service database to a scratch database on the same server, run a release's
    migrations on the copy from its isolated environment, report duration, result,
    revisions and schema changes, and drop the copy. The source is only read.

    Without --execute, print what would be done. Exits 1 when the migration fails.

    \b
    Examples:
      stacktender upgrade rehearse --service placement --to 16.0.0 \\
          --db-url mysql+pymysql://placement:secret@db1/placement
      stacktender upgrade rehearse --service keystone --to 2026.2 \\
          --config /etc/keystone/keystone.conf --execute
      stacktender upgrade rehearse --service nova_api --to 34.0.0 --execute --keep -f json
    """
    from stacktender.upgrade import rehearse as lib
    from stacktender.upgrade.dbstatus import venv_python

    url = lib.source_url(service, db_url, config, testcloud_dir)
    python = venv_python(venv) if venv is not None else None

    def progress(message: str) -> None:
        if fmt == "table":
            click.echo(f"... {message}", err=True)

    report = lib.rehearse(
        service,
        version,
        url,
        execute=execute,
        keep=keep,
        python=python,
        timeout=timeout,
        progress=progress,
    )
    rows = [c.row() for c in report.changes]
    if fmt == "json":
        click.echo(json.dumps(report.summary(), indent=2, default=str))
    elif fmt == "yaml":
        import yaml

        click.echo(yaml.safe_dump(report.summary(), sort_keys=False).rstrip("\n"))
    elif fmt == "table":
        click.echo(_summary(report))
        if rows:
            click.echo(render_rows(rows, lib.CHANGE_COLUMNS, fmt, columns))
    elif rows:
        click.echo(render_rows(rows, lib.CHANGE_COLUMNS, fmt, columns))
    if report.result == "failed":
        raise click.exceptions.Exit(1)


def _summary(report: Rehearsal) -> str:
    before = " ".join(report.revision_before) or "(none)"
    lines: list[tuple[str, Any]] = [
        ("service", f"{report.service} -> {report.package} {report.version}"),
        ("source", f"{report.source} (revision {before})"),
        ("python", report.python),
    ]
    if not report.executed:
        head = "dry run: nothing was created or written; --execute rehearses"
        lines += [("scratch", f"{report.scratch} (created, then dropped)")]
        out = [head, *_aligned(lines), "steps:"]
        out += [f"  {i}. {s.command}" for i, s in enumerate(report.steps, 1)]
        out += ["config of the migration commands:"]
        out += [f"  {ln}" for ln in report.config.splitlines() if ln and not ln.startswith("#")]
        return "\n".join(out)
    after = " ".join(report.revision_after) or "(none)"
    heads = " ".join(report.target_heads) or "?"
    counts = Counter((c.kind, c.change) for c in report.changes)
    changes = (
        ", ".join(
            f"{n} {kind if n == 1 else _PLURAL.get(kind, kind + 's')} {change}"
            for (kind, change), n in sorted(counts.items())
        )
        or "none"
    )
    lines += [
        ("result", report.result),
        ("revision", f"{before} -> {after} (target heads {heads})"),
        (
            "duration",
            f"copy {report.copy_seconds:.1f} s, migrations {report.migrate_seconds:.1f} s",
        ),
        ("schema", f"{report.tables_before} -> {report.tables_after} tables; changes: {changes}"),
        ("scratch", f"{report.scratch} ({report.scratch_state})"),
        ("source after", "schema unchanged" if report.source_unchanged else "SCHEMA CHANGED"),
    ]
    if report.note:
        lines.append(("note", report.note))
    out = [*_aligned(lines), "steps:"]
    for step in report.steps:
        took = f"{step.seconds:6.2f} s" if step.seconds is not None else "       -"
        out.append(f"  {step.result:<7} {took}  {step.name}")
    if report.error:
        out += ["error (last lines):", *(f"  {ln}" for ln in report.error)]
    return "\n".join(out)


_PLURAL = {"index": "indexes"}


def _aligned(pairs: list[tuple[str, Any]]) -> list[str]:
    width = max(len(k) for k, _ in pairs)
    return [f"{k:<{width}}  {v}" for k, v in pairs]
