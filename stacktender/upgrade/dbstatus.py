"""Database migration state: each service database's alembic revision against the heads of
the migrations installed in a service virtualenv, with expand/contract phases.

The revision is read from the database here (``alembic_version``, and a legacy
sqlalchemy-migrate ``migrate_version`` where one remains); the heads are read by a small
script run with the service venv's own python, because the migration files import the
service's code (and its alembic) which never enters stacktender's venv. Nothing here
writes to a database.
"""

from __future__ import annotations

import configparser
import json
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from stacktender.errors import ConfigError, ServiceUnreachable
from stacktender.secrets import mask_url

__all__ = [
    "MIGRATIONS",
    "DatabaseRevisions",
    "DbStatus",
    "Heads",
    "Migrations",
    "ServiceDatabase",
    "databases_from_config",
    "databases_from_urls",
    "db_status",
    "evaluate",
    "installed_heads",
    "read_revisions",
    "target_pythons",
    "testcloud_databases",
    "venv_python",
    "venv_pythons",
    "with_nova_cells",
]


@dataclass(frozen=True)
class Migrations:
    """Where a project keeps one alembic migration tree, and what it says about online
    data migrations (``data``: a fixed note, or ``"glance"`` for glance's read-only check)."""

    package: str
    data: str
    ini: str = "alembic.ini"


_NO_DRY_RUN = "not checked: {} db online_data_migrations has no dry run (it writes)"

# Migration trees by key; a database names its key (nova cells use "nova").
MIGRATIONS: dict[str, Migrations] = {
    "keystone": Migrations(
        "keystone.common.sql", "none: keystone's db_sync --migrate is a no-op since alembic"
    ),
    "glance": Migrations("glance.db.sqlalchemy.alembic_migrations", "glance"),
    "placement": Migrations("placement.db.sqlalchemy", _NO_DRY_RUN.format("placement-manage")),
    "neutron": Migrations("neutron.db.migration", "none: neutron has no online data migrations"),
    "nova_api": Migrations("nova.db.api", _NO_DRY_RUN.format("nova-manage")),
    "nova": Migrations("nova.db.main", _NO_DRY_RUN.format("nova-manage")),
    "cinder": Migrations("cinder.db", _NO_DRY_RUN.format("cinder-manage")),
}

# The config section holding each tree's connection URL (first present wins).
_SECTIONS: dict[str, tuple[str, ...]] = {
    "placement": ("placement_database", "database"),
    "nova_api": ("api_database",),
}


@dataclass(frozen=True)
class ServiceDatabase:
    """One database to inspect: its service, its name, its URL and its migration tree."""

    service: str
    database: str
    url: str
    migrations: str


@dataclass(frozen=True)
class DatabaseRevisions:
    """What a database records: alembic revisions (None: no table) and a legacy version."""

    alembic: tuple[str, ...] | None
    legacy: int | None = None


@dataclass(frozen=True)
class Heads:
    """What the installed migrations say about one database's revisions."""

    heads: tuple[tuple[str, tuple[str, ...]], ...]  # revision, its branch labels
    unknown: tuple[str, ...]  # recorded revisions the installed code does not know
    pending: tuple[tuple[str, tuple[str, ...]], ...]  # revisions not applied yet
    data: str  # online data migrations


@dataclass
class DbStatus:
    """One database's migration state, as a row."""

    service: str
    database: str
    current: list[str]
    heads: list[str]
    state: str  # up to date | behind | ahead | unknown
    phases: dict[str, str] = field(default_factory=dict)
    pending: int = 0
    data_migrations: str = ""
    note: str = ""
    url: str = ""
    target: str = ""  # the state against a target release's heads, when one is given

    def row(self) -> dict[str, Any]:
        phases = ", ".join(f"{k}: {v}" for k, v in self.phases.items())
        return {
            "service": self.service,
            "database": self.database,
            "current": " ".join(self.current) or "-",
            "heads": " ".join(self.heads) or "-",
            "state": self.state,
            "phases": phases or "-",
            "pending": self.pending,
            "data_migrations": self.data_migrations,
            "target": self.target,
            "note": self.note,
        }


# -- which databases -----------------------------------------------------------------------


def testcloud_databases(state_dir: Path | None = None) -> tuple[list[ServiceDatabase], Path]:
    """The testcloud's databases and its venv; ConfigError when no testcloud is set up."""
    from stacktender.testcloud.config import Settings, default_state_dir

    state = state_dir or default_state_dir()
    settings = Settings.load(state)
    if settings is None:
        raise ConfigError(
            f"no testcloud at {state}: pass --db-url SERVICE=URL or --config SERVICE=PATH"
        )
    out = []
    for project, names in settings.database_names().items():
        for name in names:
            short = name.removeprefix(settings.name + "_")
            key = "nova_api" if short == "nova_api" else project
            out.append(ServiceDatabase(project, name, settings.database_url(name), key))
    return out, settings.venv


def _key(service: str) -> str:
    key = service.strip().lower().replace("-", "_")
    if key not in MIGRATIONS:
        raise ConfigError(f"unknown service {service!r} (known: {', '.join(MIGRATIONS)})")
    return key


def _pairs(items: Iterable[str], what: str) -> list[tuple[str, str]]:
    out = []
    for item in items:
        service, sep, value = item.partition("=")
        if not sep or not value:
            raise ConfigError(f"{what} {item!r}: expected SERVICE={what.upper()}")
        out.append((_key(service), value))
    return out


def _service_of(key: str) -> str:
    return "nova" if key == "nova_api" else key


def databases_from_urls(items: Iterable[str]) -> list[ServiceDatabase]:
    """``SERVICE=URL`` pairs (``nova=`` a cell database, ``nova_api=`` the API one)."""
    out = []
    for key, url in _pairs(items, "url"):
        name = urlsplit(url).path.lstrip("/") or "?"
        out.append(ServiceDatabase(_service_of(key), name, url, key))
    return out


def databases_from_config(items: Iterable[str]) -> list[ServiceDatabase]:
    """``SERVICE=PATH`` pairs: the connection URLs of a service's config file
    (``nova=/etc/nova/nova.conf`` gives both its API and its cell database)."""
    out = []
    for key, path in _pairs(items, "config"):
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            with open(path, encoding="utf-8") as handle:
                parser.read_file(handle)
        except (OSError, UnicodeDecodeError, configparser.Error) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from None
        keys = ["nova", "nova_api"] if key in ("nova", "nova_api") else [key]
        for tree in keys:
            sections = _SECTIONS.get(tree, ("database",))
            url = next(
                (
                    parser.get(s, "connection")
                    for s in sections
                    if parser.has_option(s, "connection")
                ),
                None,
            )
            if url is None:
                if tree == key:
                    raise ConfigError(f"{path}: no [{sections[0]}] connection")
                continue
            out += databases_from_urls([f"{tree}={url}"])
    return out


def _format_cell_url(url: str, default: str | None) -> str:
    """A cell mapping's URL with nova's template fields ({username}, {hostname}...) filled
    from the [database] connection, as nova's CellMapping.format_db_url does."""
    if "{" not in url or default is None:
        return url
    parts = urlsplit(default)
    subs = {
        "username": parts.username,
        "password": parts.password,
        "hostname": parts.hostname,
        "port": parts.port,
        "scheme": parts.scheme,
        "query": parts.query,
        "fragment": parts.fragment,
        "path": parts.path.lstrip("/"),
    }
    try:
        return url.format(**subs)
    except (KeyError, IndexError, ValueError):
        return url


def _same_database(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.hostname, pa.port or 0, pa.path.strip("/")) == (
        pb.hostname,
        pb.port or 0,
        pb.path.strip("/"),
    )


def with_nova_cells(
    databases: Sequence[ServiceDatabase], timeout: float = 10.0
) -> list[ServiceDatabase]:
    """databases plus the nova cell databases (cell0 included) that the cell_mappings of
    a listed nova API database name and that are not listed yet (read only). An API
    database that cannot be read adds nothing (its own row says why)."""
    import sqlalchemy as sa
    from sqlalchemy.exc import SQLAlchemyError

    out = list(databases)
    cell_default = next((d.url for d in databases if d.migrations == "nova"), None)
    for api in [d for d in databases if d.migrations == "nova_api"]:
        engine = sa.create_engine(
            _sqlalchemy_url(api.url), connect_args=_connect_args(api.url, timeout)
        )
        try:
            with engine.connect() as conn:
                found = conn.execute(
                    sa.text("SELECT name, database_connection FROM cell_mappings ORDER BY id")
                ).all()
        except SQLAlchemyError:
            continue
        finally:
            engine.dispose()
        for _name, raw in found:
            url = _format_cell_url(str(raw or ""), cell_default)
            if not url or "{" in url or any(_same_database(url, d.url) for d in out):
                continue
            out += databases_from_urls([f"nova={url}"])
    return out


def venv_python(venv: Path) -> Path:
    """The python of a virtualenv (or of a prefix such as /usr)."""
    for name in ("python", "python3"):
        candidate = Path(venv) / "bin" / name
        if candidate.exists():
            return candidate
    raise ConfigError(f"{venv}: no bin/python or bin/python3 (not a virtualenv or prefix)")


def venv_pythons(items: Iterable[str], default: Path | None = None) -> dict[str, Path]:
    """``PATH`` or ``SERVICE=PATH`` items (a venv or prefix each) as interpreters by
    service; ``"*"`` (a bare PATH, else default) serves the services not named."""
    out: dict[str, Path] = {}
    for item in items:
        service, sep, path = item.partition("=")
        if sep and not Path(item).exists():
            out[_service_of(_key(service))] = venv_python(Path(path))
        else:
            out["*"] = venv_python(Path(item))
    if "*" not in out and default is not None:
        out["*"] = venv_python(default)
    return out


def target_pythons(
    items: Iterable[str], progress: Callable[[str], None] | None = None
) -> dict[str, tuple[str, Path]]:
    """``SERVICE=VERSION`` items: each release's cached venv (made on first use, from
    PyPI, by stacktender.upgrade.releases), as (label, python) by service."""
    from stacktender.upgrade.releases import ensure_release, package_for

    out: dict[str, tuple[str, Path]] = {}
    for key, version in _pairs(items, "version"):
        service = _service_of(key)
        package = package_for(service)
        release = ensure_release(package, version, progress=progress)
        out[service] = (f"{package} {release.version}", release.python)
    return out


# -- reading a database --------------------------------------------------------------------


def _sqlalchemy_url(url: str) -> str:
    """The services' URL with a driver stacktender has (PyMySQL, psycopg 3)."""
    scheme, sep, rest = url.partition("://")
    base = scheme.partition("+")[0]
    if base == "mysql":
        scheme = "mysql+pymysql"
    elif base in ("postgresql", "postgres"):
        scheme = "postgresql+psycopg"
    return scheme + sep + rest


def _connect_args(url: str, timeout: float) -> dict[str, Any]:
    """A connect timeout for the network drivers (SQLite takes none)."""
    if url.partition(":")[0].partition("+")[0] in ("mysql", "postgresql", "postgres"):
        return {"connect_timeout": max(1, int(timeout))}
    return {}


def read_revisions(url: str, timeout: float = 10.0) -> DatabaseRevisions:
    """The revisions a database records (read only); ServiceUnreachable when it cannot be
    reached, ConfigError for a URL that is not a database URL."""
    import sqlalchemy as sa
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

    try:
        engine = sa.create_engine(_sqlalchemy_url(url), connect_args=_connect_args(url, timeout))
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise ConfigError(f"{mask_url(url)}: not a database URL: {exc}") from None
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            alembic = None
            if "alembic_version" in tables:
                rows = conn.execute(sa.text("SELECT version_num FROM alembic_version"))
                alembic = tuple(sorted(str(r[0]) for r in rows))
            legacy = None
            if "migrate_version" in tables:
                row = conn.execute(sa.text("SELECT MAX(version) FROM migrate_version")).first()
                legacy = int(row[0]) if row and row[0] is not None else None
    except SQLAlchemyError as exc:
        reason = " ".join(str(getattr(exc, "orig", exc)).split())[:200]
        raise ServiceUnreachable(f"{mask_url(url)}: {reason}") from None
    finally:
        engine.dispose()
    return DatabaseRevisions(alembic, legacy)


# -- reading the installed migrations -------------------------------------------------------

# Runs with the service venv's python: JSON in on stdin, one marked JSON line out (the
# services' imports print warnings of their own). Dependencies (depends_on) count as
# ancestry, as alembic's version table does: glance records only its contract head.
_HEADS_SCRIPT = r"""
import importlib.util, json, os, sys
from alembic.config import Config
from alembic.script import ScriptDirectory
req = json.load(sys.stdin)
spec = importlib.util.find_spec(req["package"])
cfg = Config(os.path.join(os.path.dirname(spec.origin), req["ini"]))
cfg.set_main_option("version_locations", ScriptDirectory.from_config(cfg).versions)
cfg.set_main_option("recursive_version_locations", "true")
script = ScriptDirectory.from_config(cfg)
revs = {r.revision: r for r in script.walk_revisions()}
def downs(rev):
    found = getattr(rev, "_all_down_revisions", None)
    return tuple(found if found is not None else rev._versioned_down_revisions)
def closure(ids):
    seen, todo = set(), [i for i in ids if i in revs]
    while todo:
        i = todo.pop()
        if i not in seen:
            seen.add(i)
            todo.extend(d for d in downs(revs[i]) if d in revs)
    return seen
def labels(i):
    return sorted(revs[i].branch_labels)
out = {"heads": [[h, labels(h)] for h in sorted(script.get_heads())], "states": []}
for current in req["states"]:
    done = closure(current)
    pending = [[i, labels(i)] for i in revs if i not in done]
    out["states"].append({"unknown": [c for c in current if c not in revs], "pending": pending})
data = []
if req.get("glance_urls"):
    import sqlalchemy
    from glance.db.sqlalchemy.alembic_migrations import data_migrations
    for url in req["glance_urls"]:
        engine = sqlalchemy.create_engine(url)
        try:
            data.append(bool(data_migrations.has_pending_migrations(engine)))
        finally:
            engine.dispose()
out["data"] = data
print("STACKTENDER-JSON:" + json.dumps(out))
"""


def installed_heads(
    python: Path,
    tree: str,
    states: Sequence[tuple[str, ...]],
    glance_urls: Sequence[str] = (),
    timeout: float = 120.0,
) -> list[Heads]:
    """For each set of recorded revisions, what the migrations installed for python's
    interpreter say about it (heads, unknown and pending revisions)."""
    migrations = MIGRATIONS[tree]
    request = {
        "package": migrations.package,
        "ini": migrations.ini,
        "states": [list(s) for s in states],
        "glance_urls": list(glance_urls) if migrations.data == "glance" else [],
    }
    try:
        proc = subprocess.run(
            [str(python), "-c", _HEADS_SCRIPT],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise ServiceUnreachable(
            f"{python}: reading {tree} migrations took over {timeout:g}s"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{python}: cannot run: {exc}") from None
    marked = [ln for ln in proc.stdout.splitlines() if ln.startswith("STACKTENDER-JSON:")]
    if proc.returncode != 0 or not marked:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise ConfigError(
            f"{python}: cannot read {migrations.package} migrations: "
            + (lines[-1] if lines else f"exit {proc.returncode}")
        )
    out = json.loads(marked[-1].partition(":")[2])
    heads = tuple((h, tuple(b)) for h, b in out["heads"])
    result = []
    for i, state in enumerate(out["states"]):
        if migrations.data == "glance" and i < len(out["data"]):
            data = "pending" if out["data"][i] else "none pending (glance's read-only check)"
        elif migrations.data == "glance":
            data = "not checked"
        else:
            data = migrations.data
        result.append(
            Heads(
                heads=heads,
                unknown=tuple(state["unknown"]),
                pending=tuple((p, tuple(b)) for p, b in state["pending"]),
                data=data,
            )
        )
    return result


# -- evaluation ------------------------------------------------------------------------------

_PHASES = ("expand", "contract")


def evaluate(db: ServiceDatabase, revisions: DatabaseRevisions, heads: Heads) -> DbStatus:
    """Decide a database's state from what it records and what the code installs."""
    status = DbStatus(
        service=db.service,
        database=db.database,
        current=list(revisions.alembic or ()),
        heads=[h for h, _ in heads.heads],
        state="unknown",
        pending=len(heads.pending),
        data_migrations=heads.data,
        url=mask_url(db.url),
    )
    if revisions.alembic is None:
        if revisions.legacy is not None:
            status.current = [f"migrate:{revisions.legacy}"]
            status.state = "behind"
            status.note = (
                f"legacy sqlalchemy-migrate version {revisions.legacy} only; "
                "the installed code migrates with alembic"
            )
        else:
            status.pending = 0
            status.note = "no alembic_version or migrate_version table"
        return status
    if revisions.legacy is not None:
        status.note = f"legacy migrate_version {revisions.legacy} also remains"
    if heads.unknown:
        status.state = "ahead"
        status.pending = 0
        status.note = (
            f"revision {' '.join(heads.unknown)} is not in the installed migrations: "
            "migrated by a newer release (or another branch)"
        )
        return status
    status.state = "behind" if heads.pending else "up to date"
    branches = {b for _, labels in heads.heads for b in labels}
    for phase in _PHASES:
        if phase in branches:
            count = sum(1 for _, labels in heads.pending if phase in labels)
            status.phases[phase] = f"{count} pending" if count else "done"
    return status


def db_status(
    databases: Sequence[ServiceDatabase],
    python: Path | Mapping[str, Path],
    timeout: float = 10.0,
    workers: int = 3,
    targets: Mapping[str, tuple[str, Path]] | None = None,
) -> list[DbStatus]:
    """The migration state of each database against the migrations installed for python
    (one interpreter, or one per service with ``"*"`` for the rest).

    ``targets`` maps a service to (label, python) of a target release: each of its
    databases also gets ``target``, its state against that release's heads. A database
    that cannot be read becomes a row with state ``unknown`` and the reason.
    """
    recorded: dict[int, DatabaseRevisions] = {}
    rows: dict[int, DbStatus] = {}
    for i, db in enumerate(databases):
        try:
            recorded[i] = read_revisions(db.url, timeout)
        except ServiceUnreachable as exc:
            rows[i] = DbStatus(
                db.service, db.database, [], [], "unknown", note=f"unreachable: {exc}"
            )
    pythons = python if isinstance(python, Mapping) else {"*": python}
    # one run of the heads script per (interpreter, tree): it loads each tree once
    jobs: dict[tuple[Path, str, bool], list[int]] = {}
    for i in recorded:
        db = databases[i]
        own = pythons.get(db.service) or pythons.get("*")
        if own is None:
            raise ConfigError(f"no virtualenv given for {db.service}")
        jobs.setdefault((own, db.migrations, False), []).append(i)
        if targets and db.service in targets:
            jobs.setdefault((targets[db.service][1], db.migrations, True), []).append(i)

    def one(job: tuple[Path, str, bool]) -> list[tuple[int, bool, DbStatus]]:
        interpreter, tree, is_target = job
        idx = jobs[job]
        states = [recorded[i].alembic or () for i in idx]
        urls = [databases[i].url for i in idx]
        found = installed_heads(interpreter, tree, states, urls)
        return [
            (i, is_target, evaluate(databases[i], recorded[i], h))
            for i, h in zip(idx, found, strict=True)
        ]

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = [item for batch in pool.map(one, jobs) for item in batch]
    for i, is_target, status in results:
        if not is_target:
            rows[i] = status
    for i, is_target, status in results:
        if is_target and targets:
            label = targets[databases[i].service][0]
            rows[i].target = f"{label}: {_summary(status)}"
    return [rows[i] for i in range(len(databases))]


def _summary(status: DbStatus) -> str:
    text = status.state
    if status.state == "behind":
        text += f", {status.pending} pending"
        if status.phases:
            text += " (" + ", ".join(f"{k} {v}" for k, v in status.phases.items()) + ")"
    return text


def rows(statuses: Iterable[DbStatus]) -> list[Mapping[str, Any]]:
    """Statuses as rows for render_rows."""
    return [s.row() for s in statuses]


COLUMNS = (
    "service",
    "database",
    "current",
    "heads",
    "state",
    "phases",
    "pending",
    "data_migrations",
    "target",
    "note",
)
