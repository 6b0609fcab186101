"""Databases of the testcloud on the real MariaDB and PostgreSQL; a missing server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from testcloud_support import free_port_base

from stacktender.testcloud.database import (
    _admin_url,
    check_server,
    create_databases,
    drop_databases,
)
from stacktender.testcloud.errors import PrerequisiteMissing, TestCloudError

MARIADB = "mysql+pymysql://root@127.0.0.1:3306"
POSTGRES = "postgresql://postgres@127.0.0.1:5432"


def test_admin_urls_use_stacktenders_own_drivers() -> None:
    assert _admin_url(MARIADB) == "mysql+pymysql://root@127.0.0.1:3306/"
    assert _admin_url(POSTGRES) == "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    with pytest.raises(TestCloudError, match="unsupported database URL"):
        _admin_url("oracle://x@y")


def test_names_are_checked_before_any_sql() -> None:
    with pytest.raises(TestCloudError, match="refusing database name"):
        create_databases(MARIADB, ["x`; DROP DATABASE mysql; --"])


@pytest.mark.integration
@pytest.mark.parametrize("url", [MARIADB, POSTGRES])
def test_create_and_drop_are_idempotent(url: str) -> None:
    names = ["tcunit_a", "tcunit_b"]
    drop_databases(url, names)
    create_databases(url, names)
    create_databases(url, names)
    engine = sa.create_engine(_admin_url(url))
    with engine.connect() as conn:
        if url.startswith("postgres"):
            rows = conn.execute(sa.text("SELECT datname FROM pg_database"))
        else:
            rows = conn.execute(sa.text("SHOW DATABASES"))
        assert set(names) <= {r[0] for r in rows}
    drop_databases(url, names)
    drop_databases(url, names)


@pytest.mark.integration
def test_missing_database_server_is_one_clear_line(tmp_path: Path, cli_run: Any) -> None:
    port = free_port_base(1)
    with pytest.raises(PrerequisiteMissing, match=f"127.0.0.1:{port} is not reachable"):
        check_server(f"mysql+pymysql://root@127.0.0.1:{port}")
    out = cli_run(
        "testcloud",
        "up",
        "--state-dir",
        str(tmp_path / "tc"),
        "--db",
        f"mysql+pymysql://root@127.0.0.1:{port}",
        "--port-base",
        str(free_port_base()),
        timeout=60,
    )
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(
        f"stacktender: error: database server mysql+pymysql://root@127.0.0.1:{port} "
        "is not reachable: "
    )
    assert "--db" in lines[0]
    assert not (tmp_path / "tc" / "venv").exists(), "nothing installed before the check"
