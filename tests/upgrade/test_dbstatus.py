"""Migration state: evaluation rules, input parsing, and the real thing against the
testcloud's databases, its venv's migrations and scratch databases made behind or ahead.

The testcloud's own databases are only read: the behind/ahead cases use a scratch
database created and dropped here.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pymysql
import pytest
from testcloud_support import RunningTestCloud

from stacktender.errors import ConfigError, ServiceUnreachable
from stacktender.upgrade import dbstatus
from stacktender.upgrade.dbstatus import DatabaseRevisions, Heads, ServiceDatabase

SERVER = "mysql+pymysql://root@127.0.0.1:3306"
DB = ServiceDatabase("keystone", "keystone", f"{SERVER}/keystone", "keystone")
HEADS = (("e1", ("expand",)), ("c1", ("contract",)))


def heads(
    pending: tuple[tuple[str, tuple[str, ...]], ...] = (), unknown: tuple[str, ...] = ()
) -> Heads:
    return Heads(HEADS, unknown, pending, "none")


# -- evaluation ----------------------------------------------------------------------------


def test_all_heads_recorded_is_up_to_date_with_both_phases_done() -> None:
    out = dbstatus.evaluate(DB, DatabaseRevisions(("c1", "e1")), heads())
    assert out.state == "up to date"
    assert out.phases == {"expand": "done", "contract": "done"}
    assert out.pending == 0
    assert out.row()["current"] == "c1 e1"


def test_pending_contract_only_is_behind_with_expand_done() -> None:
    out = dbstatus.evaluate(DB, DatabaseRevisions(("c0", "e1")), heads((("c1", ("contract",)),)))
    assert out.state == "behind"
    assert out.phases == {"expand": "done", "contract": "1 pending"}
    assert out.row()["phases"] == "expand: done, contract: 1 pending"


def test_revision_unknown_to_the_code_is_ahead() -> None:
    out = dbstatus.evaluate(DB, DatabaseRevisions(("zz9",)), heads(unknown=("zz9",)))
    assert out.state == "ahead"
    assert "zz9 is not in the installed migrations" in out.note


def test_legacy_migrate_version_only_is_behind() -> None:
    out = dbstatus.evaluate(DB, DatabaseRevisions(None, 402), heads((("e1", ("expand",)),)))
    assert out.state == "behind"
    assert out.current == ["migrate:402"]
    assert "sqlalchemy-migrate version 402" in out.note


def test_no_version_table_is_unknown() -> None:
    out = dbstatus.evaluate(DB, DatabaseRevisions(None), heads())
    assert (out.state, out.note) == ("unknown", "no alembic_version or migrate_version table")


def test_linear_tree_has_no_phases() -> None:
    linear = Heads((("h", ()),), (), (), "n")
    out = dbstatus.evaluate(DB, DatabaseRevisions(("h",)), linear)
    assert out.state == "up to date"
    assert out.phases == {}


# -- input ---------------------------------------------------------------------------------


def test_urls_name_service_database_and_tree() -> None:
    dbs = dbstatus.databases_from_urls(
        [f"nova_api={SERVER}/nova_api", f"nova={SERVER}/nova_cell1", f"Keystone={SERVER}/ks"]
    )
    assert [(d.service, d.database, d.migrations) for d in dbs] == [
        ("nova", "nova_api", "nova_api"),
        ("nova", "nova_cell1", "nova"),
        ("keystone", "ks", "keystone"),
    ]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("swift=mysql://h/s", "unknown service 'swift'"),
        ("keystone", "expected SERVICE=URL"),
        ("keystone=", "expected SERVICE=URL"),
    ],
)
def test_bad_url_pairs_are_config_errors(item: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        dbstatus.databases_from_urls([item])


def test_config_file_gives_nova_api_and_cell_and_placement_section(tmp_path: Path) -> None:
    nova = tmp_path / "nova.conf"
    nova.write_text(
        "[DEFAULT]\n# a comment with % in it\n[api_database]\n"
        f"connection = {SERVER}/nova_api?charset=utf8\n[database]\n"
        f"connection = {SERVER}/nova\n"
    )
    placement = tmp_path / "placement.conf"
    placement.write_text(f"[placement_database]\nconnection = {SERVER}/placement\n")
    dbs = dbstatus.databases_from_config([f"nova={nova}", f"placement={placement}"])
    assert [(d.database, d.migrations) for d in dbs] == [
        ("nova", "nova"),
        ("nova_api", "nova_api"),
        ("placement", "placement"),
    ]


def test_config_without_connection_or_unreadable_is_config_error(tmp_path: Path) -> None:
    empty = tmp_path / "keystone.conf"
    empty.write_text("[DEFAULT]\ndebug = true\n")
    with pytest.raises(ConfigError, match=r"no \[database\] connection"):
        dbstatus.databases_from_config([f"keystone={empty}"])
    with pytest.raises(ConfigError, match="cannot read"):
        dbstatus.databases_from_config([f"keystone={tmp_path / 'missing.conf'}"])
    garbage = tmp_path / "bad.conf"
    garbage.write_text("connection = before any section\n")
    with pytest.raises(ConfigError, match="cannot read"):
        dbstatus.databases_from_config([f"keystone={garbage}"])


def test_urls_get_a_driver_stacktender_has() -> None:
    assert dbstatus._sqlalchemy_url("mysql://u@h/d").startswith("mysql+pymysql://")
    assert dbstatus._sqlalchemy_url("postgresql+psycopg2://u@h/d").startswith(
        "postgresql+psycopg://"
    )
    assert dbstatus._sqlalchemy_url("sqlite:///x.db") == "sqlite:///x.db"


def test_venv_python_needs_a_python(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no bin/python"):
        dbstatus.venv_python(tmp_path)


# -- real databases --------------------------------------------------------------------------


@pytest.fixture
def scratch() -> Iterator[Callable[[list[str], int | None], str]]:
    """Scratch databases on the local MariaDB holding a given alembic_version (and
    optionally a legacy migrate_version); dropped afterwards."""
    made: list[str] = []
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)

    def make(revisions: list[str], legacy: int | None = None) -> str:
        name = f"st_dbstatus_{secrets.token_hex(4)}"
        made.append(name)
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
            if revisions or legacy is None:
                cur.execute(
                    f"CREATE TABLE {name}.alembic_version "
                    "(version_num VARCHAR(32) NOT NULL PRIMARY KEY)"
                )
            for rev in revisions:
                cur.execute(f"INSERT INTO {name}.alembic_version VALUES (%s)", (rev,))
            if legacy is not None:
                cur.execute(
                    f"CREATE TABLE {name}.migrate_version (repository_id VARCHAR(250) "
                    "PRIMARY KEY, repository_path TEXT, version INT)"
                )
                cur.execute(
                    f"INSERT INTO {name}.migrate_version VALUES ('nova', '/x', %s)", (legacy,)
                )
        return f"{SERVER}/{name}?charset=utf8"

    yield make
    with conn.cursor() as cur:
        for name in made:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
    conn.close()


def _testcloud_revisions(state: Path) -> dict[str, DatabaseRevisions]:
    dbs, _ = dbstatus.testcloud_databases(state)
    return {d.database: dbstatus.read_revisions(d.url) for d in dbs}


@pytest.mark.integration
@pytest.mark.testcloud
def test_testcloud_databases_are_up_to_date(testcloud: RunningTestCloud) -> None:
    state = testcloud.settings.state_dir
    before = _testcloud_revisions(state)
    dbs, venv = dbstatus.testcloud_databases(state)
    rows = {s.database: s for s in dbstatus.db_status(dbs, dbstatus.venv_python(venv))}
    assert set(rows) == {
        f"testcloud_{n}"
        for n in (
            "keystone",
            "placement",
            "glance",
            "neutron",
            "nova_api",
            "nova_cell0",
            "nova_cell1",
            "cinder",
        )
    }
    assert {s.state for s in rows.values()} == {"up to date"}, [s.row() for s in rows.values()]
    for name in ("keystone", "neutron", "glance"):
        assert rows[f"testcloud_{name}"].phases == {"expand": "done", "contract": "done"}
    # keystone and neutron record both branch heads; glance only its contract head
    assert len(rows["testcloud_keystone"].current) == 2
    assert rows["testcloud_glance"].current == ["2024_1_contract01"]
    assert len(rows["testcloud_glance"].heads) == 2
    assert rows["testcloud_glance"].data_migrations.startswith("none pending")
    assert rows["testcloud_nova_cell1"].data_migrations.startswith("not checked")
    assert rows["testcloud_nova_api"].heads != rows["testcloud_nova_cell1"].heads
    assert _testcloud_revisions(state) == before


@pytest.mark.integration
@pytest.mark.testcloud
def test_scratch_copies_behind_ahead_and_legacy(
    testcloud: RunningTestCloud, scratch: Callable[..., str]
) -> None:
    _, venv = dbstatus.testcloud_databases(testcloud.settings.state_dir)
    python = dbstatus.venv_python(venv)
    # every keystone revision, with its branch labels: what an empty database lacks
    tree = dbstatus.installed_heads(python, "keystone", [()])[0]
    expand_head = next(h for h, labels in tree.heads if "expand" in labels)
    contract_heads = {h for h, labels in tree.heads if "contract" in labels}
    older_contract = next(
        rev for rev, labels in tree.pending if "contract" in labels and rev not in contract_heads
    )
    # mid rolling upgrade: expanded, not yet contracted
    mid = scratch([expand_head, older_contract])
    ahead = scratch(["ffffffffffff"])
    legacy = scratch([], 72)
    dbs = [
        ServiceDatabase("keystone", "mid", mid, "keystone"),
        ServiceDatabase("keystone", "ahead", ahead, "keystone"),
        ServiceDatabase("nova", "legacy", legacy, "nova"),
    ]
    rows = {s.database: s for s in dbstatus.db_status(dbs, python)}
    assert rows["mid"].state == "behind"
    assert rows["mid"].phases["expand"] == "done"
    assert rows["mid"].phases["contract"].endswith("pending")
    assert rows["mid"].pending >= 1
    assert rows["ahead"].state == "ahead"
    assert rows["legacy"].state == "behind"
    assert rows["legacy"].current == ["migrate:72"]


@pytest.mark.integration
def test_unreachable_database_is_a_row_and_an_error(tmp_path: Path) -> None:
    from support import free_port

    url = f"mysql+pymysql://root:secret@127.0.0.1:{free_port()}/keystone"
    with pytest.raises(ServiceUnreachable) as info:
        dbstatus.read_revisions(url, timeout=2)
    assert "secret" not in str(info.value)
    # the venv is never asked: no database could be read
    rows = dbstatus.db_status([ServiceDatabase("keystone", "ks", url, "keystone")], tmp_path)
    assert rows[0].state == "unknown"
    assert rows[0].note.startswith("unreachable: ")


@pytest.mark.integration
def test_python_that_lacks_the_project_is_a_config_error() -> None:
    import sys

    with pytest.raises(ConfigError, match=r"cannot read keystone\.common\.sql migrations"):
        dbstatus.installed_heads(Path(sys.executable), "keystone", [()])


def test_venv_pythons_per_service_and_default(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name / "bin").mkdir(parents=True)
        (tmp_path / name / "bin" / "python3").write_text("")
    a, b = tmp_path / "a", tmp_path / "b"
    assert dbstatus.venv_pythons([f"nova_api={a}", str(b)]) == {
        "nova": a / "bin" / "python3",
        "*": b / "bin" / "python3",
    }
    assert dbstatus.venv_pythons([f"keystone={a}"], default=b)["*"] == b / "bin" / "python3"
    with pytest.raises(ConfigError, match="unknown service 'swift'"):
        dbstatus.venv_pythons([f"swift={a}"])


@pytest.mark.integration
@pytest.mark.testcloud
def test_a_database_at_an_older_release_against_installed_and_target(
    testcloud: RunningTestCloud, scratch: Callable[..., str]
) -> None:
    """A scratch database recording keystone 28.0.0's heads (from that release's cached
    venv) is behind the testcloud's keystone 30.0.0 and up to date for 28.0.0; the
    testcloud's own keystone database is ahead of 28.0.0."""
    _, venv = dbstatus.testcloud_databases(testcloud.settings.state_dir)
    targets = dbstatus.target_pythons(["keystone=28.0.0"])
    label, old_python = targets["keystone"]
    assert label == "keystone 28.0.0"
    old = dbstatus.installed_heads(old_python, "keystone", [()])[0]
    url = scratch([h for h, _ in old.heads])
    own = testcloud.settings.database_url("testcloud_keystone")
    dbs = [
        ServiceDatabase("keystone", "at-28", url, "keystone"),
        ServiceDatabase("keystone", "testcloud", own, "keystone"),
    ]
    rows = dbstatus.db_status(dbs, dbstatus.venv_python(venv), targets=targets)
    at28, current = rows
    assert at28.state == "behind"
    assert at28.pending >= 1
    assert at28.target == "keystone 28.0.0: up to date"
    assert current.state == "up to date"
    assert current.target == "keystone 28.0.0: ahead"


def test_cell_mapping_templates_are_filled_as_nova_does() -> None:
    default = "mysql+pymysql://nova:pw@db1:3307/nova_cell1?charset=utf8"
    template = "{scheme}://{username}:{password}@{hostname}:{port}/nova_cell0?{query}"
    assert dbstatus._format_cell_url(template, default) == (
        "mysql+pymysql://nova:pw@db1:3307/nova_cell0?charset=utf8"
    )
    assert dbstatus._format_cell_url(template, None) == template
    assert dbstatus._format_cell_url("mysql://h/x", default) == "mysql://h/x"


@pytest.mark.integration
@pytest.mark.testcloud
def test_nova_cells_come_from_cell_mappings(testcloud: RunningTestCloud) -> None:
    settings = testcloud.settings
    api = settings.database_url("testcloud_nova_api")
    cell1 = settings.database_url("testcloud_nova_cell1")
    given = dbstatus.databases_from_urls([f"nova_api={api}", f"nova={cell1}"])
    names = [d.database for d in dbstatus.with_nova_cells(given)]
    assert names == ["testcloud_nova_api", "testcloud_nova_cell1", "testcloud_nova_cell0"]


@pytest.mark.integration
def test_postgresql_database_is_read_with_the_services_url() -> None:
    """A PostgreSQL service URL (psycopg2, as the services write it) is read with psycopg."""
    import psycopg

    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    name = f"st_dbstatus_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}") as conn:
            conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
            conn.execute("INSERT INTO alembic_version VALUES ('b'), ('a')")
        url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
        assert dbstatus.read_revisions(url) == DatabaseRevisions(("a", "b"), None)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")


def test_sqlite_database_is_read(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "keystone.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE migrate_version (repository_id TEXT, version INT)")
        conn.execute("INSERT INTO migrate_version VALUES ('keystone', 109)")
    assert dbstatus.read_revisions(f"sqlite:///{path}") == DatabaseRevisions(None, 109)
    with pytest.raises(ConfigError, match="not a database URL"):
        dbstatus.read_revisions("nonsense")
