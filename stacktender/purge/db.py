"""``purge db``: soft-deleted rows per service database and table, and the services'
own archive/purge commands wrapped with a dry-run report.

nova, cinder and glance mark rows deleted instead of deleting them; the rows pile up
until an operator runs ``nova-manage db archive_deleted_rows`` (into ``shadow_*``
tables) and ``nova-manage db purge``, ``cinder-manage db purge``, ``glance-manage db
purge``. Counting needs only a database URL (tables with a ``deleted`` column, counted
read-only); the commands need the services' venv and config files.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stacktender.purge.model import PurgeError
from stacktender.secrets import mask_url, redact

__all__ = [
    "COUNT_COLUMNS",
    "DbTarget",
    "ManageCommand",
    "TableCount",
    "commands",
    "count_soft_deleted",
    "run_commands",
    "testcloud_target",
]

COUNT_COLUMNS = ("service", "database", "table", "rows", "soft_deleted")
COMMAND_COLUMNS = ("service", "command", "exit_code", "seconds", "output")
# database role -> the manage tool that cleans it
SERVICES = ("nova", "cinder", "glance")
# exit codes that mean success: nova's archive says 1 when it archived something, and
# its purge says 1 when there was nothing to purge
OK_CODES = {"archive": (0, 1), "nova-purge": (0, 1)}


@dataclass(frozen=True)
class DbTarget:
    """Service databases to count (role -> URL), and where the manage tools are."""

    databases: dict[str, str]  # "nova_cell1" -> URL; the role's prefix names the service
    venv: Path | None = None  # holds bin/nova-manage, ...; None: found on PATH
    configs: dict[str, Path] = field(default_factory=dict)  # service -> config file


@dataclass(frozen=True)
class TableCount:
    """Rows and soft-deleted rows of one table (shadow tables: every row is deleted)."""

    service: str
    database: str
    table: str
    rows: int
    soft_deleted: int

    def row(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class ManageCommand:
    """One manage command: what it does, its argv, and once run, how it ended."""

    service: str
    argv: list[str]
    ok_codes: tuple[int, ...] = (0,)
    exit_code: int | None = None
    seconds: float = 0.0
    output: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code in self.ok_codes

    def row(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "command": " ".join(self.argv),
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 2),
            "output": self.output,
        }


def testcloud_target(state_dir: Path | None = None) -> DbTarget:
    """The testcloud's nova, cinder and glance databases, venv and manage configs."""
    from stacktender.testcloud.config import Settings, default_state_dir

    state = state_dir or default_state_dir()
    settings = Settings.load(state)
    if settings is None:
        raise PurgeError(f"no testcloud at {state}: pass --db-url SERVICE=URL")
    databases = {}
    for names in settings.database_names().values():
        for name in names:
            role = name.removeprefix(settings.name + "_")
            if role.split("_")[0] in SERVICES:
                databases[role] = settings.database_url(name)
    configs = {s: settings.etc / s / f"{s}-manage.conf" for s in SERVICES}
    return DbTarget(databases, settings.venv, configs)


def count_soft_deleted(
    target: DbTarget, older_than: timedelta | None = None, timeout: float = 10.0
) -> list[TableCount]:
    """Soft-deleted rows of every table with a ``deleted`` column (and every shadow
    table's rows), in every database; tables with none are left out."""
    out: list[TableCount] = []
    for role, url in sorted(target.databases.items()):
        out.extend(_count_database(role, url, older_than, timeout))
    return out


def _count_database(
    role: str, url: str, older_than: timedelta | None, timeout: float
) -> list[TableCount]:
    import sqlalchemy as sa

    from stacktender.store.engine import describe_error

    service = role.split("_")[0]
    args = {"connect_timeout": int(timeout)} if url.startswith(("mysql", "postgres")) else {}
    engine = sa.create_engine(url, connect_args=args, poolclass=sa.pool.NullPool)
    cutoff = datetime.now(UTC).replace(tzinfo=None) - older_than if older_than else None
    counts = []
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            database = connection.engine.url.database or role
            for table_name in sorted(inspector.get_table_names()):
                columns = {c["name"]: c["type"] for c in inspector.get_columns(table_name)}
                shadow = table_name.startswith("shadow_")
                if "deleted" not in columns and not shadow:
                    continue
                table = sa.table(table_name, *(sa.column(c) for c in columns))
                deleted = sa.true() if shadow else _is_deleted(table.c.deleted, columns["deleted"])
                if cutoff is not None and "deleted_at" in columns:
                    deleted = sa.and_(deleted, table.c.deleted_at < cutoff)
                total, marked = connection.execute(
                    sa.select(
                        sa.func.count(),
                        sa.func.coalesce(sa.func.sum(sa.case((deleted, 1), else_=0)), 0),
                    ).select_from(table)
                ).one()
                if marked:
                    counts.append(TableCount(service, database, table_name, total, int(marked)))
    except sa.exc.SQLAlchemyError as exc:
        raise PurgeError(f"{role} database {mask_url(url)}: {describe_error(exc)}") from None
    finally:
        engine.dispose()
    return counts


def _is_deleted(column: Any, type_: Any) -> Any:
    import sqlalchemy as sa

    # nova's deleted is an integer (the row's id once deleted); cinder's and glance's a boolean
    if isinstance(type_, sa.Boolean):
        return column.is_(sa.true())
    return column != 0


def commands(target: DbTarget, older_than: timedelta | None = None) -> list[ManageCommand]:
    """The archive/purge commands for the services the target has databases for."""
    services = {role.split("_")[0] for role in target.databases}
    days = int(older_than.total_seconds() // 86400) if older_than else 0
    before = (datetime.now(UTC) - older_than).strftime("%Y-%m-%d %H:%M:%S") if older_than else ""
    out = []

    def tool(service: str) -> list[str]:
        binary = f"{service}-manage"
        argv = [str(target.venv / "bin" / binary) if target.venv else binary]
        if service in target.configs:
            argv += ["--config-file", str(target.configs[service])]
        return argv

    if "nova" in services:
        since = ["--before", before] if before else []
        out.append(
            ManageCommand(
                "nova",
                [
                    *tool("nova"),
                    "db",
                    "archive_deleted_rows",
                    "--all-cells",
                    "--until-complete",
                    *since,
                ],
                OK_CODES["archive"],
            )
        )
        out.append(
            ManageCommand(
                "nova",
                [*tool("nova"), "db", "purge", "--all-cells", *(since or ["--all"])],
                OK_CODES["nova-purge"],
            )
        )
    if "cinder" in services:
        out.append(ManageCommand("cinder", [*tool("cinder"), "db", "purge", str(days)]))
    if "glance" in services:
        out.append(
            ManageCommand(
                "glance",
                [*tool("glance"), "db", "purge", "--age_in_days", str(days), "--max_rows", "-1"],
            )
        )
    return out


def run_commands(
    cmds: Sequence[ManageCommand],
    timeout: float = 600.0,
    progress: Callable[[ManageCommand], None] | None = None,
) -> list[ManageCommand]:
    """Run each command in turn (they share databases: never concurrently); output is
    masked. A command that cannot start or times out is a failed command, not an error."""
    import time

    for cmd in cmds:
        began = time.monotonic()
        try:
            done = subprocess.run(
                cmd.argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
            )
            cmd.exit_code = done.returncode
            text = (done.stdout + done.stderr).strip()
        except FileNotFoundError:
            cmd.exit_code, text = 127, f"{cmd.argv[0]}: not found"
        except subprocess.TimeoutExpired:
            cmd.exit_code, text = -1, f"timed out after {timeout:.0f}s"
        cmd.seconds = time.monotonic() - began
        lines = [redact(mask_url(line)) for line in text.splitlines() if line.strip()]
        cmd.output = " | ".join(lines[-5:])[:1000]
        if progress is not None:
            progress(cmd)
    return list(cmds)
