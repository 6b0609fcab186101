"""PostgreSQL checks: evaluate() on hand-built data, then the real server on 127.0.0.1:5432."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support import free_port, silent_server

from stacktender.checks.postgres import Answer, ConnectionUsage
from stacktender.results import Status

PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _evaluate(make_app: Callable[..., Any], check: str, data: Any, **overrides: Any) -> Any:
    instance = make_app().instance(check, **overrides)
    return instance.check.evaluate(data, instance.context())


# -- unit ---------------------------------------------------------------------------------


def test_connection_latency_thresholds(make_app: Callable[..., Any]) -> None:
    fast = _evaluate(make_app, "postgres-connection", Answer(0.004, "15.20", False))
    assert fast.status == Status.OK
    assert fast.summary == "PostgreSQL 15.20 (primary) answered SELECT 1 in 0.004s"
    assert fast.perfdata[0].to_nagios() == "latency=0.004s;1;5;0"
    slow = _evaluate(make_app, "postgres-connection", Answer(2.5, "15.20", True))
    assert slow.status == Status.WARNING
    assert "(standby)" in slow.summary


def test_connections_percent_of_usable_limit(make_app: Callable[..., Any]) -> None:
    usage = ConnectionUsage(
        clients=85,
        max_connections=100,
        reserved=3,
        by_state={"idle": 80, "active": 4, "idle in transaction": 1},
        by_database={"nova": 60, "neutron": 25},
    )
    out = _evaluate(make_app, "postgres-connections", usage)
    assert out.status == Status.WARNING  # 85/97 = 87.6%
    assert out.summary == ("85/97 client connections (87.6%; max_connections 100, 3 reserved)")
    assert out.details == [
        "by state: idle 80, active 4, idle in transaction 1",
        "busiest databases: nova 60, neutron 25",
    ]
    perf = {p.label: p.value for p in out.perfdata}
    assert perf == {"connections": 87.63, "clients": 85, "idle_in_transaction": 1}
    usage.clients = 90
    assert _evaluate(make_app, "postgres-connections", usage).status == Status.CRITICAL


# -- integration: the real PostgreSQL ------------------------------------------------------


def _client_count() -> int:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
        ).fetchone()
    assert row is not None
    return int(row[0]) - 1  # not this one


def _usable() -> int:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_setting('max_connections')::int"
            " - current_setting('superuser_reserved_connections')::int"
        ).fetchone()
    assert row is not None
    return int(row[0])


@contextlib.contextmanager
def _held(count: int) -> Iterator[None]:
    import psycopg

    conns = [
        psycopg.connect(PG_URL, application_name="stacktender-test-held") for _ in range(count)
    ]
    try:
        yield
    finally:
        for conn in conns:
            conn.close()


@pytest.mark.integration
def test_connection_ok_against_real_server(make_app: Callable[..., Any]) -> None:
    app = make_app()
    result = app.run(app.instance("postgres-connection", url=PG_URL))
    assert result.status == Status.OK, result
    assert result.summary.startswith("PostgreSQL 1")
    assert "(primary) answered SELECT 1 in " in result.summary
    assert result.perfdata[0].label == "latency" and result.perfdata[0].value < 1


@pytest.mark.integration
def test_connections_ok_then_warning_then_critical(make_app: Callable[..., Any]) -> None:
    app = make_app()
    ok = app.run(app.instance("postgres-connections", url=PG_URL))
    assert ok.status == Status.OK, ok
    assert f"/{_usable()} client connections" in ok.summary

    # Other test suites share this server, so place the thresholds relative to the
    # clients counted just before our connections open, with room for a little noise.
    usable = _usable()
    base = _client_count()

    def run() -> Any:
        return app.run(
            app.instance(
                "postgres-connections",
                url=PG_URL,
                warning={"connections": f"{100 * (base + 3) / usable:.2f}"},
                critical={"connections": f"{100 * (base + 9) / usable:.2f}"},
            )
        )

    with _held(6):
        warn = run()
        assert warn.status == Status.WARNING, warn
        with _held(6):
            crit = run()
            assert crit.status == Status.CRITICAL, crit
            clients = next(p for p in crit.perfdata if p.label == "clients")
            assert clients.value >= base + 12
    # A closed connection's backend exits asynchronously: give the server a moment.
    deadline = time.monotonic() + 10
    after = run()
    while after.status != Status.OK and time.monotonic() < deadline:
        time.sleep(0.2)
        after = run()
    assert after.status == Status.OK, after


@pytest.mark.integration
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://postgres@127.0.0.1:5432/stacktender_no_such_db", 'database "stacktender'),
        ("postgresql://stacktender_no_role@127.0.0.1:5432/postgres", 'role "stacktender_no_role'),
    ],
)
@pytest.mark.parametrize("check", ["postgres-connection", "postgres-connections"])
def test_wrong_database_or_user_is_critical_one_line(
    make_app: Callable[..., Any], url: str, reason: str, check: str
) -> None:
    app = make_app()
    result = app.run(app.instance(check, url=url))
    assert result.status == Status.CRITICAL
    assert reason in result.summary
    assert "does not exist" in result.summary
    assert "\n" not in result.summary


@pytest.mark.integration
def test_password_never_shown(make_app: Callable[..., Any], cli_run: Callable[..., Any]) -> None:
    url = "postgresql://stacktender_no_role:Pa55-secret@127.0.0.1:5432/postgres"
    proc = cli_run("check", "postgres-connection", "--url", url)
    assert proc.returncode == 2, proc
    assert proc.stdout.startswith("POSTGRES-CONNECTION CRITICAL - PostgreSQL at postgresql://")
    assert "Pa55-secret" not in proc.stdout + proc.stderr


@pytest.mark.integration
def test_refused_port_is_critical(make_app: Callable[..., Any]) -> None:
    app = make_app()
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    result = app.run(app.instance("postgres-connection", url=url))
    assert result.status == Status.CRITICAL
    assert "Connection refused" in result.summary


@pytest.mark.integration
def test_silent_server_is_critical_within_timeout(make_app: Callable[..., Any]) -> None:
    app = make_app()
    with silent_server() as port:
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        started = time.monotonic()
        result = app.run(app.instance("postgres-connection", url=url, timeout=3))
        elapsed = time.monotonic() - started
    assert result.status == Status.CRITICAL
    assert "timed out" in result.summary
    assert elapsed < 3.5


@pytest.mark.integration
def test_cli_plugin_output(cli_run: Callable[..., Any]) -> None:
    proc = cli_run("check", "postgres-connections", "--url", PG_URL, "-w", "99", "-c", "100")
    assert proc.returncode == 0, proc
    first, *details = proc.stdout.splitlines()
    assert first.startswith("POSTGRES-CONNECTIONS OK - ")
    assert "| connections=" in first
    assert details[0].startswith("by state: ")
