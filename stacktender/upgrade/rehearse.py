"""Rehearsal of a release's database migrations on a copy of a service database.

The source database is copied into a scratch database (``rehearse_<service>_<random>``) on
the same server (MariaDB/MySQL: ``mysqldump --single-transaction | mysql``; PostgreSQL:
``pg_dump | psql``); the target release's own manage command (``placement-manage db
sync``, ``keystone-manage db_sync --expand`` ...) runs from its isolated environment (see
:mod:`stacktender.upgrade.releases`) with a config file pointing at the copy; the report
gives the duration, the result with the last lines of a failure, the alembic revision
before and after, and the schema difference read from the catalog. The scratch database
is dropped afterwards unless kept.

The source is only ever read: the dump and the catalog queries. Without ``execute`` the
rehearsal is a plan (what would be copied where, and the commands).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stacktender.errors import ConfigError, StacktenderError
from stacktender.secrets import mask_url
from stacktender.upgrade import releases

__all__ = [
    "CHANGE_COLUMNS",
    "SERVICES",
    "MigrationTool",
    "Rehearsal",
    "RehearsalError",
    "Schema",
    "SchemaChange",
    "Step",
    "database_checksum",
    "diff_schemas",
    "migrate",
    "migration_steps",
    "rehearse",
    "snapshot",
    "source_url",
]


class RehearsalError(StacktenderError):
    """The copy could not be made or cleaned up (not a failed migration: that is a result)."""


@dataclass(frozen=True)
class MigrationTool:
    """How a service migrates its database: the console script, the commands in order and
    the config section holding the connection URL."""

    package: str
    script: str
    commands: tuple[tuple[str, ...], ...]
    section: str = "database"


# service (as ``upgrade db-status`` names its databases) -> its migration commands
SERVICES: dict[str, MigrationTool] = {
    "placement": MigrationTool(
        "openstack-placement", "placement-manage", (("db", "sync"),), "placement_database"
    ),
    # expand, migrate, contract: the rolling-upgrade order keystone documents
    "keystone": MigrationTool(
        "keystone",
        "keystone-manage",
        (("db_sync", "--expand"), ("db_sync", "--migrate"), ("db_sync", "--contract")),
    ),
    "glance": MigrationTool("glance", "glance-manage", (("db", "sync"),)),
    "cinder": MigrationTool("cinder", "cinder-manage", (("db", "sync"),)),
    "neutron": MigrationTool("neutron", "neutron-db-manage", (("upgrade", "heads"),)),
    "nova_api": MigrationTool("nova", "nova-manage", (("api_db", "sync"),), "api_database"),
    "nova": MigrationTool("nova", "nova-manage", (("db", "sync", "--local_cell"),)),
}

# The database drivers the services' configs name, and the package providing each.
_DRIVERS = {"mysql": ("pymysql", "PyMySQL"), "postgresql": ("psycopg2", "psycopg2-binary")}
_SCRIPT = releases.RUNTIME_DIR / "rehearse_migrate.py"
_TAIL = 8  # lines of a failing command's output kept in the report


@dataclass
class Step:
    """One command of the rehearsal and how it went."""

    name: str
    command: str
    result: str = "pending"  # pending | ok | failed | skipped
    seconds: float | None = None
    output: list[str] = field(default_factory=list)


@dataclass
class Rehearsal:
    """What a rehearsal did (or, not executed, would do) and what it found."""

    service: str
    package: str
    version: str
    source: str  # URL, password masked
    scratch: str
    executed: bool
    result: str = "dry run"  # dry run | ok | failed
    python: str = ""
    config: str = ""  # the generated config file (password masked)
    steps: list[Step] = field(default_factory=list)
    revision_before: list[str] = field(default_factory=list)
    revision_after: list[str] = field(default_factory=list)
    target_heads: list[str] = field(default_factory=list)
    tables_before: int = 0
    tables_after: int = 0
    changes: list[SchemaChange] = field(default_factory=list)
    error: list[str] = field(default_factory=list)
    copy_seconds: float = 0.0
    migrate_seconds: float = 0.0
    source_unchanged: bool | None = None  # source schema hash equal before and after
    scratch_state: str = "not created"  # not created | dropped | kept
    note: str = ""

    def summary(self) -> dict[str, Any]:
        """The report as plain data (JSON/YAML)."""
        return asdict(self)


def _tool(service: str) -> tuple[str, MigrationTool]:
    key = service.strip().lower().replace("-", "_")
    if key not in SERVICES:
        raise ConfigError(f"unknown service {service!r} (known: {', '.join(sorted(SERVICES))})")
    return key, SERVICES[key]


def source_url(
    service: str,
    db_url: str | None = None,
    config: Path | None = None,
    state_dir: Path | None = None,
) -> str:
    """The service database to rehearse on: ``db_url``, the connection in ``config`` (the
    service's config file), or the testcloud's database of that service."""
    from stacktender.upgrade import dbstatus

    key, _ = _tool(service)
    if db_url:
        return db_url
    if config is not None:
        found = [
            d for d in dbstatus.databases_from_config([f"{key}={config}"]) if d.migrations == key
        ]
        if not found:
            raise ConfigError(f"{config}: no {key} database connection")
        return found[0].url
    databases, _ = dbstatus.testcloud_databases(state_dir)
    # nova: a cell with instances rather than cell0
    for db in sorted(databases, key=lambda d: d.database.endswith("cell0")):
        if db.migrations == key:
            return db.url
    raise ConfigError(f"the testcloud has no {key} database: pass --db-url")


# -- the release -----------------------------------------------------------------------------


def _release(
    tool: MigrationTool, wanted: str, python: Path | None, cache_dir: Path | None, build: bool
) -> tuple[str, releases.Release | None]:
    """The version meant by wanted (a version, or a series such as 2026.2 or hibiscus) and
    the release to migrate with; None when it is not built yet and build is False."""
    if python is not None:
        found = releases.installed_release(tool.package, python)
        if not _same_release(tool.package, found.version, wanted):
            raise ConfigError(f"{found.python} has {tool.package} {found.version}, not {wanted}")
        return found.version, found
    version = releases.resolve_version(tool.package, wanted)
    root = cache_dir or releases.default_cache_dir()
    if build or (root / f"{tool.package}-{version}" / releases.MARKER).exists():
        return version, releases.ensure_release(tool.package, version, cache_dir=cache_dir)
    releases.check_release(tool.package, version, cache_dir)  # a plan: build nothing
    return version, None


def _same_release(package: str, installed: str, wanted: str) -> bool:
    if installed == wanted:
        return True
    if re.fullmatch(r"\d+(\.\d+)+", wanted) and not re.fullmatch(r"20\d\d\.\d", wanted):
        return False
    from stacktender.upgrade.series import FIRST_MAJOR, series

    found = series(wanted)  # ConfigError for a name that is no series
    if package not in FIRST_MAJOR:
        raise ConfigError(f"no series table for {package}: give a version number")
    return installed.split(".")[0] == str(found.major(package))


def _ensure_driver(release: releases.Release, backend: str) -> None:
    """The release's python must import the driver the generated config names; a cached
    venv stacktender built gets it installed, an operator's own python is not touched."""
    module, requirement = _DRIVERS[backend]
    probe = subprocess.run(
        [str(release.python), "-I", "-c", f"import {module}"], capture_output=True, timeout=60
    )
    if probe.returncode == 0:
        return
    if not release.cached:
        raise ConfigError(f"{release.python} cannot import {module}: install {requirement}")
    uv = Path(sys.executable).parent / "uv"
    cmd = [str(uv) if uv.exists() else (shutil.which("uv") or "uv"), "pip", "install"]
    proc = subprocess.run(
        [*cmd, "--quiet", "--python", str(release.python), requirement],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        tail = " / ".join(proc.stderr.strip().splitlines()[-2:])
        raise releases.ReleaseError(f"cannot install {requirement} for {release.python}: {tail}")


# -- the database server ---------------------------------------------------------------------


def _url(url: str) -> Any:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"{mask_url(url)}: not a database URL") from None
    if parsed.get_backend_name() not in _DRIVERS:
        raise ConfigError(f"{mask_url(url)}: only MariaDB/MySQL and PostgreSQL can be copied")
    if not parsed.database:
        raise ConfigError(f"{mask_url(url)}: the URL names no database")
    return parsed


def _service_url(parsed: Any, database: str) -> str:
    """The scratch URL as the release's config gets it (the services' usual drivers)."""
    backend = parsed.get_backend_name()
    driver = "pymysql" if backend == "mysql" else "psycopg2"
    url = parsed.set(drivername=f"{backend}+{driver}", database=database)
    return str(url.render_as_string(hide_password=False))


def _client_env(parsed: Any, tmp: Path, write: bool) -> tuple[list[str], dict[str, str]]:
    """Connection arguments for the command-line clients; the password goes in a file
    (MySQL, written to tmp when write) or the environment (PostgreSQL), never on a command
    line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MYSQL", "PG"))}
    if parsed.get_backend_name() == "mysql":
        lines = ["[client]", f"user={parsed.username or os.environ.get('USER', 'root')}"]
        if parsed.password:
            lines.append(f"password={parsed.password}")
        socket = parsed.query.get("unix_socket")
        if socket:
            lines.append(f"socket={socket}")
        else:
            lines += [f"host={parsed.host or 'localhost'}", f"port={parsed.port or 3306}"]
        cnf = tmp / "client.cnf"
        if write:
            cnf.touch(0o600)
            cnf.write_text("\n".join(lines) + "\n")
        return [f"--defaults-extra-file={cnf}"], env
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    args = [f"--host={parsed.host or 'localhost'}", f"--port={parsed.port or 5432}"]
    if parsed.username:
        args.append(f"--username={parsed.username}")
    return args, env


def _copy_commands(parsed: Any, scratch: str, conn: list[str]) -> tuple[list[str], list[str]]:
    if parsed.get_backend_name() == "mysql":
        dump = [
            "mysqldump",
            *conn,
            "--single-transaction",  # a consistent read, no lock on a live database
            "--no-tablespaces",
            "--skip-add-locks",  # nobody else uses the scratch; LOCK TABLES needs a grant
            "--hex-blob",
            "--triggers",
            parsed.database,
        ]
        return dump, ["mysql", *conn, scratch]
    dump = ["pg_dump", *conn, "--no-owner", "--no-privileges", f"--dbname={parsed.database}"]
    load = ["psql", *conn, "--quiet", "--set=ON_ERROR_STOP=1", f"--dbname={scratch}"]
    return dump, load


def _engine(parsed: Any, database: str) -> Any:
    import sqlalchemy as sa

    backend = parsed.get_backend_name()
    driver = "pymysql" if backend == "mysql" else "psycopg"
    url = parsed.set(drivername=f"{backend}+{driver}", database=database)
    # CREATE/DROP DATABASE cannot run inside a transaction on PostgreSQL
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 10})


def _admin(parsed: Any, sql: str, what: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    admin_db = parsed.database if parsed.get_backend_name() == "mysql" else "postgres"
    engine = _engine(parsed, admin_db)
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
    except SQLAlchemyError as exc:
        reason = " ".join(str(getattr(exc, "orig", exc)).split())[:200]
        raise RehearsalError(f"cannot {what}: {reason}") from None
    finally:
        engine.dispose()


def _quote(parsed: Any, name: str) -> str:
    return f"`{name}`" if parsed.get_backend_name() == "mysql" else f'"{name}"'


def _create_scratch(parsed: Any, scratch: str) -> None:
    """An empty database with the source's character set and collation."""
    from sqlalchemy import text

    mysql = parsed.get_backend_name() == "mysql"
    sql = (
        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
        "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = :db"
        if mysql
        else "SELECT pg_encoding_to_char(encoding), datcollate, datctype "
        "FROM pg_database WHERE datname = :db"
    )
    engine = _engine(parsed, parsed.database)
    try:
        with engine.connect() as conn:
            found = conn.execute(text(sql), {"db": parsed.database}).one()
    finally:
        engine.dispose()
    q = _quote(parsed, scratch)
    if mysql:
        create = f"CREATE DATABASE {q} CHARACTER SET {found[0]} COLLATE {found[1]}"
    else:
        # template0: template1 may hold objects of the site's own the source never had
        create = (
            f"CREATE DATABASE {q} TEMPLATE template0 ENCODING '{found[0]}' "
            f"LC_COLLATE '{found[1]}' LC_CTYPE '{found[2]}'"
        )
    try:
        _admin(parsed, create, f"create the scratch database {scratch}")
    except RehearsalError as exc:
        raise RehearsalError(
            f"{exc} (the URL's user needs CREATE and DROP on rehearse_* databases)"
        ) from None


def _drop_scratch(parsed: Any, scratch: str) -> None:
    _admin(parsed, f"DROP DATABASE IF EXISTS {_quote(parsed, scratch)}", f"drop {scratch}")


def _pipe(dump: list[str], load: list[str], env: dict[str, str], timeout: float) -> list[str]:
    """Run dump | load; the error lines of whichever failed (empty: both ok)."""
    for program in (dump[0], load[0]):
        if shutil.which(program) is None:
            raise RehearsalError(f"{program} is not installed (it copies the database)")
    with tempfile.TemporaryFile() as dump_err, tempfile.TemporaryFile() as load_err:
        producer = subprocess.Popen(dump, stdout=subprocess.PIPE, stderr=dump_err, env=env)
        consumer = subprocess.Popen(
            load, stdin=producer.stdout, stdout=subprocess.DEVNULL, stderr=load_err, env=env
        )
        assert producer.stdout is not None
        producer.stdout.close()  # the consumer holds the pipe; a dead consumer stops the dump
        try:
            consumer.wait(timeout)
            producer.wait(timeout)
        except subprocess.TimeoutExpired:
            producer.kill()
            consumer.kill()
            producer.wait()
            consumer.wait()
            return [f"copy took longer than {timeout:g}s"]
        errors: list[str] = []
        # the loader first: when it fails, the dump's broken pipe is only the consequence
        for binary, proc, err in ((load[0], consumer, load_err), (dump[0], producer, dump_err)):
            err.seek(0)
            text = err.read().decode("utf-8", "replace")
            if proc.returncode != 0:
                lines = [ln for ln in text.splitlines() if ln.strip(" -")]
                errors += [f"{binary}: exit {proc.returncode}", *lines[-_TAIL:]]
        return errors


# -- the schema, read from the catalog ---------------------------------------------------------

_MYSQL_QUERIES = {
    "table": (
        "SELECT TABLE_NAME, TABLE_NAME, CONCAT_WS(' ', TABLE_TYPE, ENGINE, TABLE_COLLATION) "
        "FROM information_schema.TABLES WHERE TABLE_SCHEMA = :db"
    ),
    "column": (
        "SELECT TABLE_NAME, COLUMN_NAME, CONCAT_WS(' ', COLUMN_TYPE, "
        "IF(IS_NULLABLE = 'YES', 'NULL', 'NOT NULL'), "
        "CONCAT('DEFAULT ', COLUMN_DEFAULT), NULLIF(EXTRA, ''), "
        "CONCAT('COLLATE ', COLLATION_NAME)) "
        "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = :db"
    ),
    "index": (
        "SELECT TABLE_NAME, INDEX_NAME, CONCAT(IF(MAX(NON_UNIQUE) = 0, 'UNIQUE ', ''), "
        "MAX(INDEX_TYPE), ' (', GROUP_CONCAT(CONCAT(COLUMN_NAME, "
        "IFNULL(CONCAT('(', SUB_PART, ')'), '')) ORDER BY SEQ_IN_INDEX SEPARATOR ', '), ')') "
        "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = :db "
        "GROUP BY TABLE_NAME, INDEX_NAME"
    ),
    "foreign key": (
        "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, CONCAT('(', GROUP_CONCAT(k.COLUMN_NAME "
        "ORDER BY k.ORDINAL_POSITION SEPARATOR ', '), ') -> ', MAX(k.REFERENCED_TABLE_NAME), "
        "' (', GROUP_CONCAT(k.REFERENCED_COLUMN_NAME ORDER BY k.ORDINAL_POSITION "
        "SEPARATOR ', '), ') ON UPDATE ', MAX(r.UPDATE_RULE), ' ON DELETE ', MAX(r.DELETE_RULE)) "
        "FROM information_schema.KEY_COLUMN_USAGE k "
        "JOIN information_schema.REFERENTIAL_CONSTRAINTS r "
        "ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
        "AND r.TABLE_NAME = k.TABLE_NAME "
        "WHERE k.TABLE_SCHEMA = :db GROUP BY k.TABLE_NAME, k.CONSTRAINT_NAME"
    ),
}

_PG_NAMESPACE = "n.nspname = current_schema()"
_PG_QUERIES = {
    "table": (
        "SELECT table_name, table_name, table_type FROM information_schema.tables "
        "WHERE table_schema = current_schema()"
    ),
    "column": (
        "SELECT c.relname, a.attname, concat_ws(' ', format_type(a.atttypid, a.atttypmod), "
        "CASE WHEN a.attnotnull THEN 'NOT NULL' ELSE 'NULL' END, "
        "'DEFAULT ' || pg_get_expr(d.adbin, d.adrelid)) "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        f"WHERE {_PG_NAMESPACE} AND c.relkind IN ('r', 'p') AND a.attnum > 0 "
        "AND NOT a.attisdropped"
    ),
    "index": (
        # "CREATE [UNIQUE] INDEX name ON public.t USING btree (a, b)" -> "[UNIQUE ]btree (a, b)"
        "SELECT tablename, indexname, regexp_replace(indexdef, "
        "'^CREATE (UNIQUE )?INDEX \\S+ ON \\S+ USING ', '\\1') "
        "FROM pg_indexes WHERE schemaname = current_schema()"
    ),
    "constraint": (
        "SELECT c.relname, con.conname, "
        "CASE con.contype WHEN 'f' THEN 'foreign key ' ELSE '' END "
        "|| pg_get_constraintdef(con.oid) "
        "FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid "
        f"JOIN pg_namespace n ON n.oid = con.connamespace WHERE {_PG_NAMESPACE}"
    ),
}


@dataclass
class Schema:
    """A database's tables, columns, indexes and constraints, each as one line of text."""

    parts: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (kind, table, name)

    @property
    def tables(self) -> list[str]:
        return sorted(t for kind, t, _ in self.parts if kind == "table")

    def digest(self) -> str:
        """A hash of the whole schema (equal schemas, equal digests)."""
        text = "\n".join(f"{k}|{t}|{n}|{v}" for (k, t, n), v in sorted(self.parts.items()))
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class SchemaChange:
    """One difference between two schemas."""

    change: str  # added | removed | changed
    kind: str  # table | column | index | foreign key | constraint
    table: str
    name: str
    before: str = ""
    after: str = ""

    def row(self) -> dict[str, str]:
        return {
            "change": self.change,
            "kind": self.kind,
            "table": self.table,
            "name": self.name if self.kind != "table" else "",
            "before": self.before,
            "after": self.after,
        }


CHANGE_COLUMNS = ("change", "kind", "table", "name", "before", "after")


def _read_schema(parsed: Any, database: str) -> Schema:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    mysql = parsed.get_backend_name() == "mysql"
    queries = _MYSQL_QUERIES if mysql else _PG_QUERIES
    schema = Schema()
    engine = _engine(parsed, database)
    try:
        with engine.connect() as conn:
            if mysql:
                # GROUP_CONCAT stops at 1024 bytes by default: a wide index would be cut
                conn.execute(text("SET SESSION group_concat_max_len = 65536"))
            for kind, sql in queries.items():
                for table, name, desc in conn.execute(text(sql), {"db": database}):
                    schema.parts[(kind, str(table), str(name))] = str(desc or "")
    except SQLAlchemyError as exc:
        reason = " ".join(str(getattr(exc, "orig", exc)).split())[:200]
        raise RehearsalError(f"cannot read the schema of {database}: {reason}") from None
    finally:
        engine.dispose()
    return schema


def snapshot(url: str) -> Schema:
    """The schema of the database at url, from its catalog (read only)."""
    parsed = _url(url)
    return _read_schema(parsed, parsed.database)


def diff_schemas(before: Schema, after: Schema) -> list[SchemaChange]:
    """What changed from before to after; a new or dropped table is one change, not one per
    column and index."""
    tables_before, tables_after = set(before.tables), set(after.tables)
    out: list[SchemaChange] = []
    for key in sorted(before.parts.keys() | after.parts.keys()):
        kind, table, name = key
        old, new = before.parts.get(key), after.parts.get(key)
        if kind != "table" and (table not in tables_before or table not in tables_after):
            continue  # part of a table added or removed as a whole
        if old is None:
            out.append(SchemaChange("added", kind, table, name, "", new or ""))
        elif new is None:
            out.append(SchemaChange("removed", kind, table, name, old, ""))
        elif old != new:
            out.append(SchemaChange("changed", kind, table, name, old, new))
    for change in out:
        if change.kind == "table" and change.change != "changed":
            side = after if change.change == "added" else before
            count = sum(1 for k, t, _ in side.parts if k == "column" and t == change.table)
            detail = f"{count} columns"
            if change.change == "added":
                object.__setattr__(change, "after", f"{change.after} ({detail})")
            else:
                object.__setattr__(change, "before", f"{change.before} ({detail})")
    order = {"table": 0, "column": 1, "index": 2, "foreign key": 3, "constraint": 3}
    return sorted(out, key=lambda c: (c.table, order.get(c.kind, 9), c.name))


def database_checksum(url: str) -> str:
    """A checksum of the database's schema and every table's rows (read only): two equal
    checksums mean nothing was written. MySQL: CHECKSUM TABLE; PostgreSQL: md5 of rows."""
    from sqlalchemy import text

    parsed = _url(url)
    mysql = parsed.get_backend_name() == "mysql"
    schema = _read_schema(parsed, parsed.database)
    tables = [t for k, t, _ in schema.parts if k == "table"]
    sums = [schema.digest()]
    engine = _engine(parsed, parsed.database)
    try:
        with engine.connect() as conn:
            for table in sorted(tables):
                q = _quote(parsed, table)
                if mysql:
                    row = conn.execute(text(f"CHECKSUM TABLE {q} EXTENDED")).one()
                    sums.append(f"{table}:{row[1]}")
                else:
                    sql = (
                        "SELECT count(*), md5(coalesce(string_agg(md5(r::text), '' "
                        f"ORDER BY md5(r::text)), '')) FROM {q} r"
                    )
                    count, digest = conn.execute(text(sql)).one()
                    sums.append(f"{table}:{count}:{digest}")
    finally:
        engine.dispose()
    return hashlib.sha256("\n".join(sums).encode()).hexdigest()


# -- the rehearsal -----------------------------------------------------------------------


def _config_text(tool: MigrationTool, url: str) -> str:
    # use_stderr: the services log to a file or syslog only when told to; the rehearsal
    # wants every line on the pipe it reads.
    return (
        "# written by stacktender upgrade rehearse: points at the scratch copy only\n"
        "[DEFAULT]\nuse_stderr = true\ndebug = false\n\n"
        f"[{tool.section}]\nconnection = {url}\n"
    )


def _command_line(tool: MigrationTool, args: Sequence[str], tmp: Path) -> list[str]:
    # an explicit (empty) --config-dir: otherwise oslo.config also reads the default
    # /etc/<project>/<project>.conf.d/, whose connection could name the real database
    return [
        tool.script,
        f"--config-file={tmp / 'rehearse.conf'}",
        f"--config-dir={tmp / 'conf.d'}",
        *args,
    ]


def _run_migration(
    release: releases.Release, argv: list[str], timeout: float
) -> tuple[int, list[str]]:
    # no OS_* variables: oslo.config reads OS_<GROUP>__<OPTION> over the config file
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["PYTHONUNBUFFERED"] = "1"
    try:
        proc = subprocess.run(
            [str(release.python), "-I", str(_SCRIPT), *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=env,
            timeout=timeout,
            cwd=tempfile.gettempdir(),
        )
    except subprocess.TimeoutExpired:
        return 124, [f"{argv[0]} took longer than {timeout:g}s"]
    return proc.returncode, [ln for ln in proc.stdout.splitlines() if ln.strip()]


def migration_steps(service: str, tmp: Path) -> list[Step]:
    """The service's migration commands, as run with a config file in tmp (not run)."""
    _, tool = _tool(service)
    return [
        Step(" ".join((tool.script, *args)), " ".join(_command_line(tool, args, tmp)))
        for args in tool.commands
    ]


def migrate(
    release: releases.Release,
    service: str,
    url: str,
    timeout: float = 3600,
    progress: Callable[[str], None] | None = None,
) -> list[Step]:
    """Run the service's migration commands from release against the database at url.

    This WRITES to that database: rehearse() points it at a scratch copy. The steps say
    how each command went; after a failed one the rest are skipped.
    """
    key, tool = _tool(service)
    parsed = _url(url)
    _ensure_driver(release, parsed.get_backend_name())
    with tempfile.TemporaryDirectory(prefix="stacktender-migrate-") as tmpdir:
        tmp = Path(tmpdir)
        (tmp / "conf.d").mkdir()
        conf = tmp / "rehearse.conf"
        conf.touch(0o600)
        conf.write_text(_config_text(tool, _service_url(parsed, parsed.database)))
        steps = migration_steps(key, tmp)
        failed = False
        for step, args in zip(steps, tool.commands, strict=True):
            if failed:
                step.result = "skipped"
                continue
            if progress:
                progress(f"running {step.name}")
            started = time.monotonic()
            code, lines = _run_migration(release, _command_line(tool, args, tmp), timeout)
            # a service that logs its connection URL must not put the password in a report
            lines = [mask_url(ln) for ln in lines]
            step.seconds = round(time.monotonic() - started, 2)
            step.output = lines[-_TAIL:]
            step.result = "ok" if code == 0 else "failed"
            if code != 0:
                failed = True
                step.output = [f"exit {code}", *lines[-_TAIL:]]
    return steps


def _revisions(url: str) -> list[str]:
    from stacktender.upgrade.dbstatus import read_revisions

    found = read_revisions(url)
    return list(found.alembic or ()) or ([f"migrate:{found.legacy}"] if found.legacy else [])


def rehearse(
    service: str,
    version: str,
    url: str,
    *,
    execute: bool = False,
    keep: bool = False,
    python: Path | None = None,
    cache_dir: Path | None = None,
    timeout: float = 3600,
    progress: Callable[[str], None] | None = None,
) -> Rehearsal:
    """Copy the service database at url, migrate the copy with release ``version`` of the
    service, and report; without execute, only the plan (nothing is created or written).

    ``python``: an interpreter that already has that release (a service venv) instead of
    a cached venv. A failed migration is a result (``result == "failed"``); a copy that
    cannot be made raises RehearsalError, a bad service, version or URL ConfigError.
    """
    say = progress or (lambda _msg: None)
    key, tool = _tool(service)
    parsed = _url(url)
    scratch = f"rehearse_{key}_{secrets.token_hex(4)}"
    masked = mask_url(str(parsed.render_as_string(hide_password=False)))
    # the source must answer before anything else happens (and the plan shows its revision)
    revision_before = _revisions(url)
    version, release = _release(tool, version, python, cache_dir, build=execute)
    report = Rehearsal(key, tool.package, version, masked, scratch, execute)
    report.revision_before = revision_before
    report.python = str(release.python) if release else "(cached venv, built on --execute)"
    scratch_url = _service_url(parsed, scratch)
    report.config = mask_url(_config_text(tool, scratch_url))

    with tempfile.TemporaryDirectory(prefix="stacktender-rehearse-") as tmpdir:
        tmp = Path(tmpdir) if execute else Path("<tmp>")
        conn, env = _client_env(parsed, tmp, write=execute)
        dump, load = _copy_commands(parsed, scratch, conn)
        copy = Step("copy", f"{' '.join(dump)} | {' '.join(load)}")
        drop = Step("drop", f"DROP DATABASE {scratch}")
        report.steps = [copy, *migration_steps(key, Path("<tmp>")), drop]
        if not execute:
            if keep:
                drop.result = "skipped"
            return report
        assert release is not None
        from stacktender.upgrade.dbstatus import installed_heads

        heads = installed_heads(release.python, key, [tuple(report.revision_before)])[0]
        report.target_heads = [h for h, _ in heads.heads]
        source_schema = _read_schema(parsed, parsed.database)
        say(f"copying {parsed.database} to {scratch}")
        _create_scratch(parsed, scratch)
        report.scratch_state = "created"
        try:
            started = time.monotonic()
            errors = _pipe(dump, load, env, timeout)
            copy.seconds = report.copy_seconds = round(time.monotonic() - started, 2)
            if errors:
                copy.result, copy.output = "failed", errors
                # the line that says why (the clients echo the statement around it)
                why = next((ln for ln in reversed(errors) if "error" in ln.lower()), errors[-1])
                raise RehearsalError(f"cannot copy {parsed.database}: {errors[0]}: {why}")
            copy.result = "ok"
            before = _read_schema(parsed, scratch)
            report.tables_before = len(before.tables)
            if before.digest() != source_schema.digest():
                raise RehearsalError(f"the copy {scratch} does not match {parsed.database}")
            steps = migrate(release, key, scratch_url, timeout, progress)
            report.steps = [copy, *steps, drop]
            report.migrate_seconds = round(sum(s.seconds or 0 for s in steps), 2)
            failed = [s for s in steps if s.result == "failed"]
            report.result = "failed" if failed else "ok"
            if failed:
                report.error = [f"{failed[0].name}: {failed[0].output[0]}", *failed[0].output[1:]]
            report.revision_after = _revisions(scratch_url)
            if report.result == "ok":
                # keystone 28.0.0 is one: its db_sync lists the release directories to load
                # and left out 2025.02, so e8725d6fa226 ships but never runs
                left = installed_heads(release.python, key, [tuple(report.revision_after)])[0]
                if left.pending:
                    pending = " ".join(sorted(r for r, _ in left.pending))
                    report.note = (
                        f"the copy stopped at {' '.join(report.revision_after)}; the release "
                        f"ships migrations its manage command did not apply: {pending}"
                    )
            after = _read_schema(parsed, scratch)
            report.tables_after = len(after.tables)
            report.changes = diff_schemas(before, after)
        finally:
            if keep:
                drop.result = "skipped"
                report.scratch_state = "kept"
            else:
                started = time.monotonic()
                _drop_scratch(parsed, scratch)
                drop.result, drop.seconds = "ok", round(time.monotonic() - started, 2)
                report.scratch_state = "dropped"
            # nothing the migrations ran could reach the source; the catalog confirms it
            report.source_unchanged = (
                _read_schema(parsed, parsed.database).digest() == source_schema.digest()
            )
    return report
