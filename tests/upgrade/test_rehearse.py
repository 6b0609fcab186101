"""Rehearsals on real databases with real releases.

The "source" databases are made the way an operator's came to be: an older release's own
``db sync`` (placement 8.0.0, keystone 28.0.0, from cached venvs) into a fresh database on
the testcloud's MariaDB. They are rehearsed up to the testcloud's release (its venv holds
placement 16.0.0 and keystone 30.0.0), and down to the older release for a real failure.
Every test compares a checksum of the source (CHECKSUM TABLE of every table and a hash of
the schema) before and after, and looks for a scratch database left behind.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from support import free_port
from testcloud_support import RunningTestCloud

from stacktender.errors import ConfigError, ServiceUnreachable
from stacktender.upgrade import releases
from stacktender.upgrade.rehearse import (
    RehearsalError,
    Schema,
    SchemaChange,
    database_checksum,
    diff_schemas,
    migrate,
    rehearse,
    snapshot,
    source_url,
)

PLACEMENT_OLD = "8.0.0"  # Zed: head 422ece571366, before the redundant indexes were dropped
KEYSTONE_OLD = "28.0.0"


# -- the schema diff (no database) ---------------------------------------------------------


def _schema(**parts: str) -> Schema:
    out = Schema()
    for key, desc in parts.items():
        kind, table, name = key.split("__")
        out.parts[(kind.replace("_", " "), table, name)] = desc
    return out


def test_diff_reports_added_removed_changed_parts_and_whole_tables() -> None:
    before = _schema(
        table__t__t="BASE TABLE InnoDB",
        column__t__a="int(11) NOT NULL",
        column__t__b="varchar(36) NULL",
        index__t__ix_b="BTREE (b)",
        table__old__old="BASE TABLE InnoDB",
        column__old__x="int(11) NULL",
    )
    after = _schema(
        table__t__t="BASE TABLE InnoDB",
        column__t__a="bigint(20) NOT NULL",
        column__t__b="varchar(36) NULL",
        column__t__c="text NULL",
        foreign_key__t__fk_a="(a) -> new (id) ON UPDATE RESTRICT ON DELETE CASCADE",
        table__new__new="BASE TABLE InnoDB",
        column__new__id="int(11) NOT NULL",
        column__new__y="int(11) NULL",
    )
    changes = diff_schemas(before, after)
    assert [(c.change, c.kind, c.table, c.name) for c in changes] == [
        ("added", "table", "new", "new"),
        ("removed", "table", "old", "old"),
        ("changed", "column", "t", "a"),
        ("added", "column", "t", "c"),
        ("removed", "index", "t", "ix_b"),
        ("added", "foreign key", "t", "fk_a"),
    ]
    assert changes[0].after == "BASE TABLE InnoDB (2 columns)"
    assert changes[2].before == "int(11) NOT NULL" and changes[2].after == "bigint(20) NOT NULL"
    assert changes[0].row()["name"] == ""  # a table's name is its table column
    assert diff_schemas(after, after) == []
    assert before.digest() != after.digest()


def test_digest_depends_on_every_part_not_on_order() -> None:
    a = _schema(table__t__t="x", column__t__a="int")
    b = Schema(dict(reversed(list(a.parts.items()))))
    assert a.digest() == b.digest()
    assert a.digest() != _schema(table__t__t="x", column__t__a="bigint").digest()


# -- bad input --------------------------------------------------------------------------------


def test_unknown_service_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown service 'swiftly' \(known: cinder, glance"):
        rehearse("swiftly", "1.0.0", "mysql+pymysql://root@127.0.0.1/x")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "not a database URL"),
        ("sqlite:////tmp/x.db", "only MariaDB/MySQL and PostgreSQL"),
        ("mysql+pymysql://root@127.0.0.1:3306", "names no database"),
    ],
)
def test_bad_urls_are_config_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        rehearse("placement", "16.0.0", url)


def test_unreachable_database_is_one_line() -> None:
    url = f"mysql+pymysql://root:secret@127.0.0.1:{free_port()}/placement"
    with pytest.raises(ServiceUnreachable) as caught:
        rehearse("placement", "16.0.0", url, execute=True)
    message = str(caught.value)
    assert "\n" not in message and "secret" not in message
    assert "Can't connect" in message or "Connection refused" in message


# -- MariaDB, real releases --------------------------------------------------------------------


def _server(testcloud: RunningTestCloud) -> str:
    return testcloud.settings.db_url.rstrip("/")


def _databases(base: str, like: str) -> list[str]:
    engine = sa.create_engine(f"{base}/mysql")
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SHOW DATABASES LIKE :p"), {"p": like})
            return [r[0] for r in rows]
    finally:
        engine.dispose()


def _admin(base: str, sql: str) -> None:
    engine = sa.create_engine(f"{base}/mysql", isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(sql))
    finally:
        engine.dispose()


@contextmanager
def _made_by(testcloud: RunningTestCloud, service: str, release: releases.Release) -> Iterator[str]:
    """A fresh database migrated to release's head by release's own manage command."""
    base = _server(testcloud)
    name = f"sttest_{service}_{release.version.replace('.', '_')}_{secrets.token_hex(3)}"
    _admin(base, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb3")
    url = f"{base}/{name}?charset=utf8"
    try:
        steps = migrate(release, service, url)
        assert all(s.result == "ok" for s in steps), [s.output for s in steps]
        yield url
    finally:
        _admin(base, f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture(scope="module")
def testcloud_python(testcloud: RunningTestCloud) -> Path:
    return Path(testcloud.settings.state_dir) / "venv" / "bin" / "python"


@pytest.fixture(scope="module")
def placement_old() -> releases.Release:
    # cached after the first run; cold it takes about a minute
    return releases.ensure_release("openstack-placement", PLACEMENT_OLD)


@pytest.fixture(scope="module")
def placement_source(testcloud: RunningTestCloud, placement_old: releases.Release) -> Iterator[str]:
    with _made_by(testcloud, "placement", placement_old) as url:
        yield url


@pytest.fixture(scope="module")
def placement_current_db(testcloud: RunningTestCloud, testcloud_python: Path) -> Iterator[str]:
    current = releases.installed_release("openstack-placement", testcloud_python)
    with _made_by(testcloud, "placement", current) as url:
        yield url


@pytest.mark.integration
@pytest.mark.testcloud
def test_dry_run_plans_and_creates_nothing(
    testcloud: RunningTestCloud, placement_source: str, testcloud_python: Path
) -> None:
    before = database_checksum(placement_source)
    plan = rehearse("placement", "16.0.0", placement_source, python=testcloud_python)
    assert plan.result == "dry run" and not plan.executed
    assert plan.revision_before == ["422ece571366"]
    assert [s.name for s in plan.steps] == ["copy", "placement-manage db sync", "drop"]
    assert plan.steps[0].command.startswith("mysqldump --defaults-extra-file=")
    assert "--single-transaction" in plan.steps[0].command
    assert "| mysql --defaults-extra-file=" in plan.steps[0].command
    assert plan.steps[0].command.endswith(f" {plan.scratch}")
    assert "--config-dir=<tmp>/conf.d db sync" in plan.steps[1].command
    assert f"/{plan.scratch}?charset=utf8" in plan.config
    assert plan.scratch.startswith("rehearse_placement_")
    assert _databases(_server(testcloud), plan.scratch) == []
    assert database_checksum(placement_source) == before


@pytest.mark.integration
@pytest.mark.testcloud
def test_placement_zed_database_rehearsed_up_to_the_testcloud_release(
    testcloud: RunningTestCloud, placement_source: str, testcloud_python: Path
) -> None:
    before = database_checksum(placement_source)
    schema = snapshot(placement_source)
    seen: list[str] = []
    report = rehearse(
        "placement",
        "16.0.0",
        placement_source,
        execute=True,
        python=testcloud_python,
        progress=seen.append,
    )
    assert report.result == "ok", report.error
    assert report.revision_before == ["422ece571366"]
    assert report.revision_after == ["a082b8bb98d0"] == report.target_heads
    # 2023.1's a082b8bb98d0 drops the indexes that duplicate unique constraints
    assert {(c.change, c.kind, c.table, c.name) for c in report.changes} == {
        ("removed", "index", "inventories", "inventories_resource_provider_id_idx"),
        ("removed", "index", "inventories", "inventories_resource_provider_resource_class_idx"),
        ("removed", "index", "placement_aggregates", "ix_placement_aggregates_uuid"),
        ("removed", "index", "resource_providers", "resource_providers_name_idx"),
        ("removed", "index", "resource_providers", "resource_providers_uuid_idx"),
    }
    assert report.tables_before == report.tables_after == len(schema.tables) == 13
    assert [s.result for s in report.steps] == ["ok", "ok", "ok"]
    assert report.copy_seconds > 0 and report.migrate_seconds > 0
    assert seen == [f"copying {schema_name(placement_source)} to {report.scratch}",
                    "running placement-manage db sync"]  # fmt: skip
    assert report.scratch_state == "dropped" and report.source_unchanged is True
    assert _databases(_server(testcloud), "rehearse\\_placement\\_%") == []
    assert database_checksum(placement_source) == before
    assert snapshot(placement_source).digest() == schema.digest()


def schema_name(url: str) -> str:
    return sa.engine.make_url(url).database or ""


@pytest.mark.integration
@pytest.mark.testcloud
def test_newer_database_rehearsed_down_to_zed_fails_clearly_and_keeps_nothing(
    testcloud: RunningTestCloud, placement_current_db: str, placement_old: releases.Release
) -> None:
    before = database_checksum(placement_current_db)
    report = rehearse("placement", PLACEMENT_OLD, placement_current_db, execute=True)
    assert report.result == "failed"
    assert report.revision_before == report.revision_after == ["a082b8bb98d0"]
    assert report.error[0] == "placement-manage db sync: exit 1"
    assert any("Can't locate revision identified by 'a082b8bb98d0'" in ln for ln in report.error)
    assert report.changes == []
    assert [s.result for s in report.steps] == ["ok", "failed", "ok"]
    assert report.scratch_state == "dropped"
    assert _databases(_server(testcloud), report.scratch) == []
    assert database_checksum(placement_current_db) == before


@pytest.mark.integration
@pytest.mark.testcloud
def test_keep_leaves_the_migrated_copy(
    testcloud: RunningTestCloud, placement_source: str, testcloud_python: Path
) -> None:
    report = rehearse(
        "placement", "16.0.0", placement_source, execute=True, keep=True, python=testcloud_python
    )
    base = _server(testcloud)
    try:
        assert report.scratch_state == "kept" and report.steps[-1].result == "skipped"
        assert _databases(base, report.scratch) == [report.scratch]
        kept = snapshot(f"{base}/{report.scratch}")
        assert ("index", "resource_providers", "resource_providers_uuid_idx") not in kept.parts
    finally:
        _admin(base, f"DROP DATABASE IF EXISTS `{report.scratch}`")


@pytest.mark.integration
@pytest.mark.testcloud
def test_release_must_be_the_version_asked_for(
    placement_source: str, testcloud_python: Path
) -> None:
    with pytest.raises(ConfigError, match=r"has openstack-placement 16\.0\.0, not 15\.0\.0"):
        rehearse("placement", "15.0.0", placement_source, python=testcloud_python)
    with pytest.raises(ConfigError, match=r"has openstack-placement 16\.0\.0, not 2026\.1"):
        rehearse("placement", "2026.1", placement_source, python=testcloud_python)
    # a series names its release: hibiscus (2026.2) is placement 16
    plan = rehearse("placement", "hibiscus", placement_source, python=testcloud_python)
    assert plan.version == "16.0.0"


@pytest.mark.integration
@pytest.mark.testcloud
def test_unknown_version_is_config_error(placement_source: str) -> None:
    with pytest.raises(ConfigError, match=r"PyPI has no release 99\.0\.0 of openstack-placement"):
        rehearse("placement", "99.0.0", placement_source)
    with pytest.raises(ConfigError, match=r"unknown release series '2030\.1'"):
        rehearse("placement", "2030.1", placement_source)
    # a series without --venv: its newest release on PyPI (antelope: placement 9.x)
    assert rehearse("placement", "2023.1", placement_source).version.startswith("9.0.")


@pytest.mark.integration
@pytest.mark.testcloud
def test_source_defaults_to_the_testcloud_database(testcloud: RunningTestCloud) -> None:
    state = Path(testcloud.settings.state_dir)
    assert source_url("placement", state_dir=state).endswith("/testcloud_placement?charset=utf8")
    assert source_url("keystone", "mysql+pymysql://u@h/ks") == "mysql+pymysql://u@h/ks"
    assert source_url("nova", state_dir=state).endswith("/testcloud_nova_cell1?charset=utf8")


@pytest.mark.integration
@pytest.mark.testcloud
def test_keystone_2024_database_rehearsed_through_expand_migrate_contract(
    testcloud: RunningTestCloud, testcloud_python: Path
) -> None:
    old = releases.ensure_release("keystone", KEYSTONE_OLD)
    with _made_by(testcloud, "keystone", old) as source:
        before = database_checksum(source)
        report = rehearse("keystone", "30.0.0", source, execute=True, python=testcloud_python)
        assert report.result == "ok", report.error
        assert report.revision_before == ["47147121", "c88cdce8f248"]
        assert report.revision_after == ["742c857f1dfb", "c88cdce8f248"]
        assert [s.name for s in report.steps][1:4] == [
            "keystone-manage db_sync --expand",
            "keystone-manage db_sync --migrate",
            "keystone-manage db_sync --contract",
        ]
        added = {(c.change, c.kind, c.table, c.name) for c in report.changes}
        assert ("added", "index", "revocation_event", "ix_revocation_event_composite") in added
        assert all(c.change == "added" and c.kind == "index" for c in report.changes)
        assert database_checksum(source) == before
        assert _databases(_server(testcloud), report.scratch) == []


def test_schema_change_rows_have_every_column() -> None:
    change = SchemaChange("removed", "index", "t", "ix", "BTREE (a)")
    assert list(change.row()) == ["change", "kind", "table", "name", "before", "after"]


# -- PostgreSQL ----------------------------------------------------------------------------

PG = "postgresql://postgres@127.0.0.1:5432"  # the shared server (scripts/ensure-services.sh)


def _pg(sql: str, params: dict[str, str] | None = None) -> list[tuple[object, ...]]:
    engine = sa.create_engine(
        PG.replace("postgresql:", "postgresql+psycopg:") + "/postgres", isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as conn:
            result = conn.execute(sa.text(sql), params or {})
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


@pytest.fixture
def pg_placement_source(placement_old: releases.Release) -> Iterator[str]:
    name = f"sttest_pg_placement_{secrets.token_hex(3)}"
    _pg(f'CREATE DATABASE "{name}"')
    try:
        url = f"{PG}/{name}"
        assert [s.result for s in migrate(placement_old, "placement", url)] == ["ok"]
        yield url
    finally:
        _pg(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.mark.integration
def test_postgresql_database_rehearsed_with_a_cached_release(pg_placement_source: str) -> None:
    before = database_checksum(pg_placement_source)
    # a cached venv of the target (built once; the driver psycopg2 is added to it)
    report = rehearse("placement", "16.0.0", pg_placement_source, execute=True)
    assert report.result == "ok", report.error
    assert report.python.endswith("openstack-placement-16.0.0/bin/python")
    assert report.steps[0].command.startswith("pg_dump --host=127.0.0.1 --port=5432")
    assert report.revision_before == ["422ece571366"]
    assert report.revision_after == ["a082b8bb98d0"]
    assert {c.change for c in report.changes} == {"removed"}
    assert {c.name: c.before for c in report.changes if c.kind == "index"} == {
        "inventories_resource_provider_id_idx": "btree (resource_provider_id)",
        "inventories_resource_provider_resource_class_idx":
            "btree (resource_provider_id, resource_class_id)",
        "ix_placement_aggregates_uuid": "btree (uuid)",
        "resource_providers_name_idx": "btree (name)",
        "resource_providers_uuid_idx": "btree (uuid)",
    }  # fmt: skip
    assert len(report.changes) == 5
    assert report.source_unchanged is True
    assert _pg("SELECT datname FROM pg_database WHERE datname = :n", {"n": report.scratch}) == []
    assert database_checksum(pg_placement_source) == before


@pytest.mark.integration
@pytest.mark.testcloud
def test_user_without_create_privilege_gets_one_line_and_no_scratch(
    testcloud: RunningTestCloud, placement_source: str, testcloud_python: Path
) -> None:
    base = _server(testcloud)
    source = schema_name(placement_source)
    user = f"sttest_ro_{secrets.token_hex(3)}"
    _admin(base, f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-{user}'")
    try:
        # what a service's own account usually has: its database, nothing else
        _admin(base, f"GRANT SELECT, SHOW VIEW, TRIGGER ON `{source}`.* TO '{user}'@'%'")
        host = sa.engine.make_url(base).host
        url = f"mysql+pymysql://{user}:pw-{user}@{host}:3306/{source}"
        with pytest.raises(RehearsalError) as caught:
            rehearse("placement", "16.0.0", url, execute=True, python=testcloud_python)
        message = str(caught.value)
        assert message.startswith("cannot create the scratch database rehearse_placement_")
        assert "Access denied" in message and message.endswith("on rehearse_* databases)")
        assert f"pw-{user}" not in message
    finally:
        _admin(base, f"DROP USER IF EXISTS '{user}'@'%'")


@pytest.mark.integration
@pytest.mark.testcloud
def test_copy_that_fails_is_one_line_and_its_scratch_is_dropped(
    testcloud: RunningTestCloud, placement_source: str, testcloud_python: Path
) -> None:
    base = _server(testcloud)
    source = schema_name(placement_source)
    user = f"sttest_cp_{secrets.token_hex(3)}"
    _admin(base, f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'")
    try:
        # may create and drop scratch databases and their tables, but not alter or fill them
        _admin(base, f"GRANT SELECT, SHOW VIEW, TRIGGER ON `{source}`.* TO '{user}'@'%'")
        _admin(base, f"GRANT CREATE, DROP ON `rehearse\\_%`.* TO '{user}'@'%'")
        host = sa.engine.make_url(base).host
        url = f"mysql+pymysql://{user}:pw@{host}:3306/{source}"
        with pytest.raises(RehearsalError) as caught:
            rehearse("placement", "16.0.0", url, execute=True, python=testcloud_python)
        message = str(caught.value)
        assert message.startswith(f"cannot copy {source}: mysql: exit 1: ERROR 1142 (42000)")
        assert "command denied to user" in message and "\n" not in message
        assert _databases(base, "rehearse\\_placement\\_%") == []
    finally:
        _admin(base, f"DROP USER IF EXISTS '{user}'@'%'")


@pytest.mark.integration
@pytest.mark.testcloud
def test_release_whose_command_skips_a_shipped_migration_gets_a_note(
    testcloud: RunningTestCloud,
) -> None:
    # keystone 28.0.0's db_sync loads the directories yoga, bobcat and 2024.01 only, so the
    # 2025.02 migration it ships (e8725d6fa226) never runs: an empty database shows it
    base = _server(testcloud)
    name = f"sttest_empty_{secrets.token_hex(3)}"
    _admin(base, f"CREATE DATABASE `{name}`")
    try:
        report = rehearse("keystone", KEYSTONE_OLD, f"{base}/{name}", execute=True)
        assert report.result == "ok" and report.revision_before == []
        assert report.revision_after == ["47147121", "c88cdce8f248"]
        assert report.target_heads == ["c88cdce8f248", "e8725d6fa226"]
        assert report.note.endswith("did not apply: e8725d6fa226")
        assert report.tables_before == 0 and report.tables_after == 49
        assert {c.kind for c in report.changes} == {"table"} and len(report.changes) == 49
    finally:
        _admin(base, f"DROP DATABASE IF EXISTS `{name}`")


@pytest.mark.integration
@pytest.mark.testcloud
@pytest.mark.parametrize(
    ("service", "package"),
    [
        ("glance", "glance"),
        ("cinder", "cinder"),
        ("neutron", "neutron"),
        ("nova_api", "nova"),
        ("nova", "nova"),
    ],
)
def test_every_testcloud_database_rehearses_at_its_own_release(
    testcloud: RunningTestCloud, testcloud_python: Path, service: str, package: str
) -> None:
    # each service's manage command and config section, on a copy of a live database:
    # nothing to migrate, so nothing changes and no migration is left over
    version = releases.installed_release(package, testcloud_python).version
    url = source_url(service, state_dir=Path(testcloud.settings.state_dir))
    report = rehearse(service, version, url, execute=True, python=testcloud_python)
    assert report.result == "ok", report.error
    assert report.revision_after == report.revision_before != []
    assert report.changes == [] and report.note == ""
    assert report.tables_before == report.tables_after > 10
    assert report.source_unchanged is True and report.scratch_state == "dropped"


@pytest.mark.integration
@pytest.mark.testcloud
def test_rehearsal_as_a_user_with_a_password_never_shows_it(
    testcloud: RunningTestCloud, placement_source: str, testcloud_python: Path
) -> None:
    base = _server(testcloud)
    source = schema_name(placement_source)
    user, password = f"sttest_pw_{secrets.token_hex(3)}", f"Pw-{secrets.token_hex(8)}"
    _admin(base, f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
    try:
        # the least an operator's rehearsal account needs
        _admin(base, f"GRANT SELECT, SHOW VIEW, TRIGGER ON `{source}`.* TO '{user}'@'%'")
        _admin(base, f"GRANT ALL ON `rehearse\\_%`.* TO '{user}'@'%'")
        host = sa.engine.make_url(base).host
        url = f"mysql+pymysql://{user}:{password}@{host}:3306/{source}?charset=utf8"
        before = database_checksum(placement_source)
        report = rehearse("placement", "16.0.0", url, execute=True, python=testcloud_python)
        assert report.result == "ok", report.error
        assert report.revision_after == ["a082b8bb98d0"] and len(report.changes) == 5
        assert password not in json.dumps(report.summary(), default=str)
        assert f"{user}:***@" in report.source and f"{user}:***@" in report.config
        assert database_checksum(placement_source) == before
        assert _databases(base, report.scratch) == []
    finally:
        _admin(base, f"DROP USER IF EXISTS '{user}'@'%'")
