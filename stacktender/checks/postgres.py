"""PostgreSQL checks: the server answers a query; client connections against the limit.

Uses psycopg 3 (imported lazily). Every connection gets ``connect_timeout`` and a
``statement_timeout`` from the check's remaining time, so a hung server cannot hold
the check past its timeout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stacktender.checks.base import Check, CheckContext, Outcome
from stacktender.errors import CheckError, ServiceUnreachable
from stacktender.hookspecs import hookimpl
from stacktender.results import PerfData, ThresholdSpec
from stacktender.secrets import redact

if TYPE_CHECKING:
    import psycopg

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

# libpq never waits less than this for a connection, whatever connect_timeout says.
_LIBPQ_MIN_CONNECT_TIMEOUT = 2


@contextmanager
def connect(ctx: CheckContext) -> Iterator[psycopg.Connection[Any]]:
    """A connection to the target, or ServiceUnreachable with libpq's one-line reason."""
    import psycopg

    target = ctx.target
    if target.scheme not in {"postgresql", "postgres"}:
        raise CheckError(
            f"PostgreSQL target {target.masked()!r}: use postgresql://USER@HOST:PORT/DBNAME"
        )
    statement_ms = max(100, int(ctx.remaining() * 1000))
    try:
        conn = psycopg.connect(
            target.url,
            connect_timeout=max(_LIBPQ_MIN_CONNECT_TIMEOUT, int(ctx.remaining())),
            options=f"-c statement_timeout={statement_ms}",
            application_name="stacktender",
            autocommit=True,
        )
    except psycopg.errors.ConnectionTimeout:
        raise ServiceUnreachable(f"PostgreSQL at {target.masked()}: connection timed out") from None
    except psycopg.Error as exc:
        raise ServiceUnreachable(
            f"PostgreSQL at {target.masked()}: {_reason(exc, target.password)}"
        ) from None
    try:
        yield conn
    except psycopg.errors.QueryCanceled:
        raise ServiceUnreachable(
            f"PostgreSQL at {target.masked()} did not answer within the timeout"
        ) from None
    except psycopg.OperationalError as exc:
        raise ServiceUnreachable(
            f"PostgreSQL at {target.masked()}: {_reason(exc, target.password)}"
        ) from None
    except psycopg.Error as exc:
        raise CheckError(
            f"PostgreSQL at {target.masked()}: {_reason(exc, target.password)}"
        ) from None
    finally:
        conn.close()


def _reason(exc: BaseException, password: str | None) -> str:
    """libpq's message on one line, without its 'connection to server ... failed:' preamble."""
    text = " ".join(str(exc).split())
    text = text.removeprefix("connection failed: ")
    if " failed: " in text and text.startswith("connection to server"):
        text = text.split(" failed: ", 1)[1]
    text = text.replace("FATAL: ", "").replace(
        " Is the server running on that host and accepting TCP/IP connections?", ""
    )
    return redact(text, [password] if password else []) or type(exc).__name__


# -- postgres-connection -----------------------------------------------------------------


@dataclass
class Answer:
    """How the server answered ``SELECT 1``: time taken, version and role."""

    seconds: float
    version: str
    in_recovery: bool


def probe(ctx: CheckContext) -> Answer:
    """Connect, run ``SELECT 1`` and time both."""
    import psycopg  # noqa: F401  (loading the driver is not the server's latency)

    started = time.monotonic()
    with connect(ctx) as conn:
        row = conn.execute("SELECT 1").fetchone()
        if row is None or row[0] != 1:
            raise CheckError(f"PostgreSQL answered {row!r} to SELECT 1")
        seconds = time.monotonic() - started
        extra = conn.execute(
            "SELECT current_setting('server_version'), pg_is_in_recovery()"
        ).fetchone()
    version, in_recovery = extra if extra else ("?", False)
    return Answer(seconds=seconds, version=str(version).split(" ", 1)[0], in_recovery=in_recovery)


def evaluate_connection(answer: Answer, ctx: CheckContext) -> Outcome:
    th = ctx.thresholds
    status = th.status("latency", answer.seconds)
    role = "standby" if answer.in_recovery else "primary"
    summary = f"PostgreSQL {answer.version} ({role}) answered SELECT 1 in {answer.seconds:.3f}s"
    return Outcome(
        status, summary, perfdata=[th.perf("latency", round(answer.seconds, 6), minimum=0)]
    )


# -- postgres-connections ----------------------------------------------------------------


@dataclass
class ConnectionUsage:
    """Client backends now, the limit they share, and how they split up."""

    clients: int
    max_connections: int
    reserved: int
    by_state: dict[str, int] = field(default_factory=dict)
    by_database: dict[str, int] = field(default_factory=dict)

    @property
    def usable(self) -> int:
        """Connections open to ordinary roles: max_connections minus the reserved slots."""
        return max(1, self.max_connections - self.reserved)

    @property
    def percent(self) -> float:
        return 100.0 * self.clients / self.usable


_USAGE_SQL = """
SELECT coalesce(datname, '-'), coalesce(state, 'unknown'), count(*)
FROM pg_stat_activity
WHERE backend_type = 'client backend'
GROUP BY 1, 2
"""


def read_usage(ctx: CheckContext) -> ConnectionUsage:
    """Count client backends in pg_stat_activity and read the connection limits."""
    with connect(ctx) as conn:
        limits = conn.execute(
            "SELECT current_setting('max_connections')::int,"
            " current_setting('superuser_reserved_connections')::int,"
            # PostgreSQL 16 adds slots reserved for pg_use_reserved_connections.
            " coalesce(current_setting('reserved_connections', true), '0')::int"
        ).fetchone()
        rows = conn.execute(_USAGE_SQL).fetchall()
    if limits is None:
        raise CheckError("PostgreSQL did not report max_connections")
    usage = ConnectionUsage(
        clients=0, max_connections=int(limits[0]), reserved=int(limits[1]) + int(limits[2])
    )
    for database, state, count in rows:
        usage.clients += int(count)
        usage.by_state[state] = usage.by_state.get(state, 0) + int(count)
        usage.by_database[database] = usage.by_database.get(database, 0) + int(count)
    return usage


def evaluate_connections(usage: ConnectionUsage, ctx: CheckContext) -> Outcome:
    th = ctx.thresholds
    status = th.status("connections", usage.percent)
    summary = (
        f"{usage.clients}/{usage.usable} client connections ({usage.percent:.1f}%; "
        f"max_connections {usage.max_connections}, {usage.reserved} reserved)"
    )
    states = ", ".join(f"{k} {v}" for k, v in sorted(usage.by_state.items(), key=_busiest))
    databases = ", ".join(
        f"{k} {v}" for k, v in sorted(usage.by_database.items(), key=_busiest)[:5]
    )
    details = [f"by state: {states}", f"busiest databases: {databases}"]
    return Outcome(
        status,
        summary,
        details,
        [
            th.perf("connections", round(usage.percent, 2), minimum=0, maximum=100),
            PerfData("clients", usage.clients, minimum=0, maximum=usage.usable),
            PerfData(
                "idle_in_transaction",
                usage.by_state.get("idle in transaction", 0)
                + usage.by_state.get("idle in transaction (aborted)", 0),
                minimum=0,
            ),
        ],
    )


def _busiest(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])


CONNECTION = Check(
    name="postgres-connection",
    service="postgres",
    description="PostgreSQL accepts a login and answers SELECT 1; time taken",
    collect=probe,
    evaluate=evaluate_connection,
    default_url=DEFAULT_URL,
    thresholds=(ThresholdSpec("latency", "seconds to connect and answer SELECT 1", "1", "5", "s"),),
)

CONNECTIONS = Check(
    name="postgres-connections",
    service="postgres",
    description="client connections against max_connections minus the reserved slots",
    collect=read_usage,
    evaluate=evaluate_connections,
    default_url=DEFAULT_URL,
    thresholds=(
        ThresholdSpec("connections", "client connections, % of the usable limit", "80", "90", "%"),
    ),
)


@hookimpl
def stacktender_checks() -> list[Check]:
    return [CONNECTION, CONNECTIONS]
