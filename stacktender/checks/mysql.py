"""MySQL/MariaDB and Galera checks: connection, connection usage, cluster health, writers.

Talks to the server with PyMySQL (imported when a check runs). A target is a URL:
``mysql://user:password@host:3306/``, ``mysql://user@/?unix_socket=/run/mysqld/mysqld.sock``,
``unix://user@/run/mysqld/mysqld.sock``, or with ``?read_default_file=/etc/mysql/debian.cnf``
to take the credentials from an option file. ``mysql+pymysql://`` and ``mariadb://``
(as found in OpenStack configuration files) are accepted too.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from stacktender.checks.base import Check, CheckContext, Outcome
from stacktender.errors import CheckError, ConfigError, ServiceUnreachable
from stacktender.hookspecs import hookimpl
from stacktender.results import NagiosRange, PerfData, Status, ThresholdSpec, worst
from stacktender.secrets import mask_url, redact

__all__ = [
    "DEFAULT_URL",
    "MySQLAddress",
    "MySQLSession",
    "connect",
    "stacktender_checks",
]

DEFAULT_URL = "mysql://root@127.0.0.1:3306/"
SCHEMES = frozenset({"mysql", "mariadb", "mysql+pymysql", "mariadb+pymysql", "unix"})


# -- connecting ------------------------------------------------------------------------------
@dataclass(frozen=True)
class MySQLAddress:
    """Where and as whom to connect, parsed from a target URL."""

    host: str = "127.0.0.1"
    port: int = 3306
    unix_socket: str | None = None
    user: str | None = "root"
    password: str | None = None
    database: str | None = None
    read_default_file: str | None = None
    display: str = DEFAULT_URL

    @classmethod
    def from_url(cls, url: str) -> MySQLAddress:
        """Parse ``mysql://``, ``unix://`` (socket path) and ``?unix_socket=`` URLs."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise ConfigError(
                f"unsupported MySQL URL {mask_url(url)!r}: expected mysql://user:pass@host:port/ "
                "or unix:///path/to/mysqld.sock"
            )
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            port = parts.port or 3306
        except ValueError:
            raise ConfigError(f"invalid port in MySQL URL {mask_url(url)!r}") from None
        option_file = query.get("read_default_file")
        user = unquote(parts.username) if parts.username else (None if option_file else "root")
        password = unquote(parts.password) if parts.password is not None else None
        if scheme == "unix":
            socket_path, database = unquote(parts.path) or None, None
        else:
            socket_path = query.get("unix_socket")
            database = unquote(parts.path).strip("/") or None
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=port,
            unix_socket=socket_path,
            user=user,
            password=password,
            database=database,
            read_default_file=option_file,
            display=mask_url(url),
        )

    @property
    def where(self) -> str:
        """A short description of the server for messages (no credentials)."""
        return self.unix_socket or f"{self.host}:{self.port}"


class MySQLSession:
    """A connection whose every read and write gets the time left of a deadline."""

    def __init__(self, conn: Any, address: MySQLAddress, deadline: Callable[[], float]) -> None:
        self.conn = conn
        self.address = address
        self._remaining = deadline

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Run sql and return all rows; errors become ServiceUnreachable or CheckError."""
        import pymysql

        budget = self._remaining()
        # PyMySQL re-applies these before each socket read/write.
        self.conn._read_timeout = budget
        self.conn._write_timeout = budget
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql)
                return list(cur.fetchall())
        except pymysql.err.OperationalError as exc:
            code, message = _error_parts(exc)
            if code in (2006, 2013, 2014) or "timed out" in message:
                raise ServiceUnreachable(
                    f"MySQL at {self.address.where} did not answer in time ({_short(message)})"
                ) from None
            raise ServiceUnreachable(
                f"MySQL at {self.address.where} failed a query: error {code}: {_short(message)}"
            ) from None
        except pymysql.err.MySQLError as exc:
            code, message = _error_parts(exc)
            raise CheckError(
                f"MySQL at {self.address.where} refused {sql.split()[0]}: "
                f"error {code}: {_short(message)}"
            ) from None

    def pairs(self, sql: str) -> dict[str, str]:
        """Rows of (name, value), as for SHOW STATUS / SHOW VARIABLES."""
        return {str(k): "" if v is None else str(v) for k, v, *_ in self.rows(sql)}

    def close(self) -> None:
        # Closing a broken connection must not mask the real result.
        with contextlib.suppress(Exception):
            self.conn.close()

    def __enter__(self) -> MySQLSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(address: MySQLAddress, remaining: Callable[[], float]) -> MySQLSession:
    """Connect with ``remaining()`` as connect, read and write timeout.

    Refused, timed-out and rejected logins raise ServiceUnreachable with a one-line
    reason that never contains the password."""
    import pymysql

    budget = remaining()
    kwargs: dict[str, Any] = {
        "user": address.user,
        "password": address.password or "",
        "database": address.database,
        "connect_timeout": budget,
        "read_timeout": budget,
        "write_timeout": budget,
        "autocommit": True,
        "charset": "utf8mb4",
    }
    if address.unix_socket:
        kwargs["unix_socket"] = address.unix_socket
    else:
        kwargs["host"], kwargs["port"] = address.host, address.port
    if address.read_default_file:
        kwargs["read_default_file"] = address.read_default_file
        if address.password is None:
            del kwargs["password"]
    try:
        conn = _connection_class()(**kwargs)
    except pymysql.err.MySQLError as exc:
        raise ServiceUnreachable(_describe_connect_error(exc, address, budget)) from None
    except (OSError, ValueError) as exc:
        raise ServiceUnreachable(
            f"cannot connect to MySQL at {address.where}: {_short(str(exc))}"
        ) from None
    return MySQLSession(conn, address, remaining)


@functools.cache
def _connection_class() -> type:
    """PyMySQL's Connection, sharing one TLS context between connections in PREFERRED mode
    and building it only when a server offers TLS.

    Without TLS options PyMySQL builds a fresh default context for every connection, which
    loads the system CA store (about 25 ms of CPU), even when the server has no TLS: most
    of a MySQL check's cost in a sweep.
    """
    import pymysql

    lock = threading.Lock()

    class Connection(pymysql.connections.Connection):  # type: ignore[misc]
        _preferred_ctx: Any = None

        def _create_ssl_ctx(self, sslp: Any) -> Any:
            if sslp:  # explicit TLS settings: built per connection, as PyMySQL does
                return super()._create_ssl_ctx(sslp)
            return _PreferredContext(self)

        def preferred_context(self) -> Any:
            """The default context of PREFERRED mode, built once per process."""
            cls = type(self)
            with lock:
                if cls._preferred_ctx is None:
                    cls._preferred_ctx = super()._create_ssl_ctx({})
            return cls._preferred_ctx

    return Connection


class _PreferredContext:
    """What a PREFERRED-mode connection holds as its TLS context until the server offers
    TLS: PyMySQL only ever calls ``wrap_socket`` on it, and only then."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def wrap_socket(self, sock: Any, server_hostname: str | None = None) -> Any:
        context = self._connection.preferred_context()
        return context.wrap_socket(sock, server_hostname=server_hostname)


def _error_parts(exc: BaseException) -> tuple[int, str]:
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    if len(args) >= 2 and isinstance(args[0], int):
        return args[0], str(args[1])
    return 0, str(exc)


def _short(message: str) -> str:
    return redact(" ".join(message.split()))[:200]


def _describe_connect_error(exc: BaseException, address: MySQLAddress, budget: float) -> str:
    code, message = _error_parts(exc)
    where = address.where
    if code == 1045:
        who = repr(address.user) if address.user else f"of {address.read_default_file}"
        return f"access denied for MySQL user {who} at {where}"
    if code == 1040:
        return f"MySQL at {where} refuses connections: too many connections"
    if code == 1049:
        return f"MySQL at {where}: unknown database {address.database!r}"
    if "timed out" in message or code == 2013:
        return f"no answer from MySQL at {where} within {budget:.1f}s"
    if code == 2003:
        reason = message.split("(", 1)[-1].rstrip(")") if "(" in message else message
        reason = reason.split("] ", 1)[-1]
        return f"cannot connect to MySQL at {where}: {_short(reason)}"
    return f"cannot connect to MySQL at {where}: error {code}: {_short(message)}"


def _session(ctx: CheckContext) -> MySQLSession:
    return connect(MySQLAddress.from_url(ctx.target.url), ctx.remaining)


def _number(values: Mapping[str, str], key: str, what: str = "MySQL") -> float:
    try:
        return float(values[key])
    except (KeyError, ValueError):
        raise CheckError(f"{what} did not report {key!r}") from None


# -- mysql-connection --------------------------------------------------------------------------
@dataclass
class ConnectionProbe:
    """Timings of one login plus ``SELECT 1``."""

    connect_seconds: float
    query_seconds: float
    version: str
    uptime: int

    @property
    def total(self) -> float:
        return self.connect_seconds + self.query_seconds


def collect_connection(ctx: CheckContext) -> ConnectionProbe:
    import pymysql  # noqa: F401  (imported before the clock starts: the import is not latency)

    started = time.monotonic()
    with _session(ctx) as session:
        connected = time.monotonic()
        session.rows("SELECT 1")
        queried = time.monotonic()
        info = session.rows(
            "SELECT VERSION(), (SELECT VARIABLE_VALUE FROM "
            "information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME')"
        )
    version, uptime = info[0] if info else ("?", 0)
    return ConnectionProbe(
        connect_seconds=connected - started,
        query_seconds=queried - connected,
        version=str(version),
        uptime=int(uptime or 0),
    )


def evaluate_connection(probe: ConnectionProbe, ctx: CheckContext) -> Outcome:
    th = ctx.thresholds
    status = th.status("time", probe.total)
    summary = (
        f"MySQL {probe.version} answered SELECT 1 in {probe.total * 1000:.0f} ms "
        f"(connect {probe.connect_seconds * 1000:.0f} ms), up {probe.uptime}s"
    )
    details = [] if status == Status.OK else [f"login plus SELECT 1 took {probe.total:.3f}s"]
    return Outcome(
        status,
        summary,
        details,
        [
            th.perf("time", round(probe.total, 6), minimum=0),
            PerfData("connect_time", round(probe.connect_seconds, 6), "s", minimum=0),
        ],
    )


# -- mysql-connections -------------------------------------------------------------------------
@dataclass
class ServerStatus:
    """Global status and variables of one server (only the names a check asked for)."""

    status: dict[str, str]
    variables: dict[str, str]

    def number(self, key: str) -> float:
        source = self.variables if key in self.variables else self.status
        return _number(source, key)


CONNECTION_STATUS = (
    "Threads_connected",
    "Threads_running",
    "Max_used_connections",
    "Connection_errors_max_connections",
    "Aborted_connects",
)


def _in_list(names: Iterable[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def collect_connections(ctx: CheckContext) -> ServerStatus:
    with _session(ctx) as session:
        status = session.pairs(
            f"SHOW GLOBAL STATUS WHERE Variable_name IN ({_in_list(CONNECTION_STATUS)})"
        )
        variables = session.pairs("SHOW GLOBAL VARIABLES WHERE Variable_name = 'max_connections'")
    return ServerStatus(status, variables)


def evaluate_connections(data: ServerStatus, ctx: CheckContext) -> Outcome:
    th = ctx.thresholds
    limit = data.number("max_connections")
    connected = data.number("Threads_connected")
    max_used = data.number("Max_used_connections")
    pct = 100.0 * connected / limit if limit else 0.0
    max_used_pct = 100.0 * max_used / limit if limit else 0.0
    statuses = [th.status("connections", pct), th.status("max_used", max_used_pct)]
    refused = data.status.get("Connection_errors_max_connections")
    summary = (
        f"{int(connected)}/{int(limit)} connections ({pct:.1f}% of max_connections), "
        f"highest since start {int(max_used)} ({max_used_pct:.1f}%)"
    )
    details = []
    if statuses[0] != Status.OK:
        details.append(f"{int(connected)} client connections of max_connections {int(limit)}")
    if statuses[1] != Status.OK:
        details.append(f"Max_used_connections reached {int(max_used)} of {int(limit)}")
    if refused and refused != "0":
        details.append(f"{refused} connections refused for max_connections since start")
    perfdata = [
        th.perf("connections", round(pct, 2), minimum=0, maximum=100),
        th.perf("max_used", round(max_used_pct, 2), minimum=0, maximum=100),
        PerfData("threads_connected", connected, minimum=0, maximum=limit),
        PerfData("max_used_connections", max_used, minimum=0, maximum=limit),
    ]
    if "Threads_running" in data.status:
        perfdata.append(PerfData("threads_running", data.number("Threads_running"), minimum=0))
    if refused is not None:
        perfdata.append(PerfData("refused_max_connections", float(refused), "c", minimum=0))
    return Outcome(worst(statuses), summary, details, perfdata)


# -- galera-cluster ----------------------------------------------------------------------------
GALERA_VARIABLES = ("wsrep_on", "wsrep_provider", "wsrep_node_name", "wsrep_cluster_name")


def _require_wsrep(variables: Mapping[str, str], where: str) -> None:
    if variables.get("wsrep_on", "OFF").upper() != "ON":
        raise CheckError(
            f"wsrep not enabled on MySQL at {where} (wsrep_on="
            f"{variables.get('wsrep_on', 'absent')}): not a Galera node"
        )
    provider = variables.get("wsrep_provider", "none").strip().lower()
    if provider in ("", "none"):
        raise CheckError(f"wsrep not enabled on MySQL at {where}: wsrep_provider is none")


def read_galera(session: MySQLSession) -> ServerStatus:
    """wsrep variables and ``wsrep_%`` status of one node; CheckError if not Galera."""
    variables = session.pairs(
        f"SHOW GLOBAL VARIABLES WHERE Variable_name IN ({_in_list(GALERA_VARIABLES)})"
    )
    _require_wsrep(variables, session.address.where)
    return ServerStatus(session.pairs("SHOW GLOBAL STATUS LIKE 'wsrep%'"), variables)


def collect_cluster(ctx: CheckContext) -> ServerStatus:
    with _session(ctx) as session:
        return read_galera(session)


def _expected_size(ctx: CheckContext) -> int:
    raw = ctx.option("expected_size")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"option expected_size must be a whole number, not {raw!r}") from None
    if value < 1:
        raise ConfigError("option expected_size must be at least 1")
    return value


def size_ranges(ctx: CheckContext, expected: int) -> tuple[str, str]:
    """The size thresholds in force: as configured, else derived from expected_size:
    WARNING below expected, CRITICAL below its quorum (more than half)."""
    configured = ctx.thresholds.perf("size", 0)
    quorum = expected // 2 + 1
    return configured.warning or f"{expected}:", configured.critical or f"{quorum}:"


def state_status(comment: str) -> Status:
    """Synced is OK; a donor or desynced node is WARNING; anything else is CRITICAL."""
    if comment == "Synced":
        return Status.OK
    if "Donor" in comment or "Desynced" in comment:
        return Status.WARNING
    return Status.CRITICAL


def evaluate_cluster(data: ServerStatus, ctx: CheckContext) -> Outcome:
    th = ctx.thresholds
    s = data.status
    node = data.variables.get("wsrep_node_name") or "?"
    expected = _expected_size(ctx)
    size = int(_number(s, "wsrep_cluster_size", "Galera"))
    component = s.get("wsrep_cluster_status", "?")
    state = s.get("wsrep_local_state_comment", "?")
    paused_pct = 100.0 * _number(s, "wsrep_flow_control_paused", "Galera")
    warn_size, crit_size = size_ranges(ctx, expected)
    checks: list[tuple[Status, str]] = []
    checks.append(
        (
            Status.OK if component == "Primary" else Status.CRITICAL,
            f"component is {component}, not Primary: the node refuses queries "
            "(it lost quorum or is partitioned)",
        )
    )
    size_status = (
        Status.CRITICAL
        if NagiosRange.parse(crit_size).alerts(size)
        else Status.WARNING
        if NagiosRange.parse(warn_size).alerts(size)
        else Status.OK
    )
    checks.append(
        (size_status, f"cluster size {size}, expected {expected} (quorum {expected // 2 + 1})")
    )
    checks.append((state_status(state), f"local state is {state}, not Synced"))
    checks.append(
        (th.status("flow_control_paused", paused_pct), f"flow control paused {paused_pct:.1f}%")
    )
    for name in ("wsrep_ready", "wsrep_connected"):
        value = s.get(name, "?")
        checks.append(
            (
                Status.OK if value == "ON" else Status.CRITICAL,
                f"{name} is {value}"
                + (": the node does not accept queries" if name == "wsrep_ready" else ""),
            )
        )
    status = worst(st for st, _ in checks)
    details = [text for st, text in checks if st != Status.OK]
    if s.get("wsrep_incoming_addresses"):
        details.append(f"members: {s['wsrep_incoming_addresses']}")
    summary = (
        f"Galera node {node}: {component}, {state}, cluster size {size}/{expected}, "
        f"flow control paused {paused_pct:.1f}%"
    )
    perfdata = [
        PerfData("size", size, warning=warn_size, critical=crit_size, minimum=0),
        th.perf("flow_control_paused", round(paused_pct, 3), minimum=0, maximum=100),
    ]
    for name, label, unit in (
        ("wsrep_local_recv_queue_avg", "recv_queue_avg", ""),
        ("wsrep_local_send_queue_avg", "send_queue_avg", ""),
        ("wsrep_local_cert_failures", "cert_failures", "c"),
        ("wsrep_local_bf_aborts", "bf_aborts", "c"),
    ):
        if name in s:
            perfdata.append(PerfData(label, _number(s, name, "Galera"), unit, minimum=0))
    if "wsrep_flow_control_paused_ns" in s:
        # A counter since start: graph its rate to see recent throttling, which the
        # fraction since start (or FLUSH STATUS) shows only slowly on a long-running node.
        paused = _number(s, "wsrep_flow_control_paused_ns", "Galera") / 1e9
        perfdata.append(PerfData("flow_control_paused_seconds", round(paused, 3), "c", minimum=0))
    return Outcome(status, summary, details, perfdata)


# -- galera-writers ----------------------------------------------------------------------------
WRITER_STATUS = ("wsrep_local_commits", "wsrep_local_cert_failures", "wsrep_local_bf_aborts")
# Open transactions of client threads that changed rows. Applier threads ('system user')
# apply other nodes' write sets and are not writers; their rows are excluded.
OPEN_WRITES_SQL = (
    "SELECT COUNT(*) FROM information_schema.INNODB_TRX t "
    "JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id "
    "WHERE t.trx_rows_modified > 0 AND p.USER <> 'system user'"
)


@dataclass
class NodeWrites:
    """What one node did during the sampling window."""

    name: str
    where: str
    commits: int
    cert_failures: int
    bf_aborts: int
    open_writes: int

    @property
    def is_writer(self) -> bool:
        return self.commits > 0 or self.open_writes > 0


@dataclass
class WritersData:
    """Writes seen on each reachable node during interval seconds."""

    interval: float
    nodes: list[NodeWrites] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)

    @property
    def writers(self) -> list[NodeWrites]:
        return [n for n in self.nodes if n.is_writer]


def node_urls(ctx: CheckContext, incoming: str | None) -> list[str]:
    """The ``nodes`` option as a list; when empty, the cluster's own member list
    (``wsrep_incoming_addresses``) with the target URL's scheme and credentials."""
    raw = ctx.option("nodes")
    if isinstance(raw, str):
        raw = [u for u in (part.strip() for part in raw.split(",")) if u]
    urls = [str(u) for u in raw or []]
    if urls:
        return urls
    if not incoming:
        return []
    base = urlsplit(ctx.target.url)
    userinfo = base.netloc.rpartition("@")[0]
    scheme = "mysql" if base.scheme == "unix" else base.scheme
    found = []
    for addr in incoming.split(","):
        addr = addr.strip()
        if not addr or addr.upper() == "AUTO":
            continue
        host, _, port = addr.rpartition(":")
        hostport = f"{host or ctx.target.host}:{port}" if port.isdigit() else addr
        netloc = f"{userinfo}@{hostport}" if userinfo else hostport
        found.append(base._replace(scheme=scheme, netloc=netloc, query="").geturl())
    return found


def collect_writers(ctx: CheckContext) -> WritersData:
    incoming = None
    if not ctx.option("nodes"):
        with _session(ctx) as session:
            galera = read_galera(session)
            incoming = galera.status.get("wsrep_incoming_addresses")
    urls = node_urls(ctx, incoming)
    if not urls:
        raise CheckError("no Galera nodes to sample: set option nodes to the node URLs")
    interval = min(float(ctx.option("interval")), max(0.2, ctx.remaining() / 2 - 0.5))

    def open_node(url: str) -> tuple[MySQLSession | None, str]:
        try:
            address = MySQLAddress.from_url(url)
            session = connect(address, ctx.remaining)
            read_galera(session)
        except (ServiceUnreachable, CheckError) as exc:
            return None, f"{mask_url(url)}: {exc}"
        return session, ""

    with ThreadPoolExecutor(max_workers=min(8, len(urls))) as pool:
        opened = list(pool.map(open_node, urls))
        sessions = [s for s, _ in opened if s is not None]
        unreachable = [why for s, why in opened if s is None]
        try:
            if not sessions:
                raise ServiceUnreachable("no Galera node reachable: " + "; ".join(unreachable))
            first = list(pool.map(_writer_sample, sessions))
            time.sleep(interval)
            second = list(pool.map(_writer_sample, sessions))
        finally:
            for session in sessions:
                session.close()
    data = WritersData(interval=interval, unreachable=unreachable)
    seen: set[str] = set()
    for session, before, after in zip(sessions, first, second, strict=True):
        uuid = after["uuid"]
        if uuid in seen:  # the same node twice (a VIP or haproxy in the list)
            continue
        seen.add(uuid)
        data.nodes.append(
            NodeWrites(
                name=after["name"],
                where=session.address.where,
                commits=int(after["wsrep_local_commits"]) - int(before["wsrep_local_commits"]),
                cert_failures=int(after["wsrep_local_cert_failures"])
                - int(before["wsrep_local_cert_failures"]),
                bf_aborts=int(after["wsrep_local_bf_aborts"])
                - int(before["wsrep_local_bf_aborts"]),
                open_writes=int(after["open_writes"]),
            )
        )
    return data


def _writer_sample(session: MySQLSession) -> dict[str, str]:
    values = session.pairs(
        "SHOW GLOBAL STATUS WHERE Variable_name IN "
        f"({_in_list((*WRITER_STATUS, 'wsrep_gcomm_uuid'))})"
    )
    for name in WRITER_STATUS:
        _number(values, name, f"Galera at {session.address.where}")
    names = session.pairs("SHOW GLOBAL VARIABLES WHERE Variable_name = 'wsrep_node_name'")
    values["name"] = names.get("wsrep_node_name") or session.address.where
    values["uuid"] = values.get("wsrep_gcomm_uuid") or session.address.where
    try:
        values["open_writes"] = str(session.rows(OPEN_WRITES_SQL)[0][0])
    except CheckError:  # no PROCESS privilege: rely on the commit counters alone
        values["open_writes"] = "0"
    return values


def evaluate_writers(data: WritersData, ctx: CheckContext) -> Outcome:
    th = ctx.thresholds
    writers = data.writers
    count = len(writers)
    status = th.status("writers", count)
    names = ", ".join(n.name for n in writers) or "none"
    summary = (
        f"{count} of {len(data.nodes)} Galera nodes took writes in {data.interval:.1f}s "
        f"(writers: {names})"
    )
    details = [
        f"{n.name} ({n.where}): {n.commits} local commits, {n.open_writes} open write "
        f"transactions, {n.cert_failures} certification failures, {n.bf_aborts} BF aborts"
        for n in data.nodes
    ]
    if status != Status.OK:
        details.insert(
            0,
            "more than one node takes writes: send all writes to one node "
            "(haproxy: one active server, the others 'backup')",
        )
    details += [f"unreachable: {why}" for why in data.unreachable]
    conflicts = sum(n.cert_failures + n.bf_aborts for n in data.nodes)
    perfdata = [
        th.perf("writers", count, minimum=0, maximum=len(data.nodes)),
        PerfData("conflicts", conflicts, minimum=0),
    ]
    # Commits during the window (not a counter since start).
    perfdata += [PerfData(f"commits_{n.name}", n.commits, minimum=0) for n in data.nodes]
    return Outcome(status, summary, details, perfdata)


# -- registration ------------------------------------------------------------------------------
def _checks() -> Sequence[Check]:
    return (
        Check(
            name="mysql-connection",
            service="mysql",
            description="MySQL/MariaDB accepts a login and answers SELECT 1; latency",
            collect=collect_connection,
            evaluate=evaluate_connection,
            default_url=DEFAULT_URL,
            thresholds=(ThresholdSpec("time", "seconds for login plus SELECT 1", "1", "5", "s"),),
        ),
        Check(
            name="mysql-connections",
            service="mysql",
            description="client connections (Threads_connected) against max_connections",
            collect=collect_connections,
            evaluate=evaluate_connections,
            default_url=DEFAULT_URL,
            thresholds=(
                ThresholdSpec(
                    "connections", "connections in use, % of max_connections", "80", "95", "%"
                ),
                ThresholdSpec(
                    "max_used", "Max_used_connections, % of max_connections", None, None, "%"
                ),
            ),
        ),
        Check(
            name="galera-cluster",
            service="mysql",
            description="Galera node: Primary component, Synced, cluster size, flow control",
            collect=collect_cluster,
            evaluate=evaluate_cluster,
            default_url=DEFAULT_URL,
            thresholds=(
                ThresholdSpec(
                    "size",
                    "nodes in the cluster (default: warning below expected_size, critical "
                    "below its quorum)",
                    None,
                    None,
                ),
                ThresholdSpec(
                    "flow_control_paused",
                    "% of time replication was paused by flow control (since FLUSH STATUS)",
                    "10",
                    "50",
                    "%",
                ),
            ),
            options={"expected_size": 3},
            option_help={"expected_size": "nodes the cluster should have"},
        ),
        Check(
            name="galera-writers",
            service="mysql",
            description="how many Galera nodes take writes (OpenStack wants exactly one)",
            collect=collect_writers,
            evaluate=evaluate_writers,
            default_url=DEFAULT_URL,
            thresholds=(
                ThresholdSpec("writers", "nodes that committed or hold client writes", "1", "2"),
            ),
            options={"nodes": [], "interval": 2.0},
            option_help={
                "nodes": "node URLs to sample (default: the target's wsrep_incoming_addresses)",
                "interval": "seconds between the two samples of the write counters",
            },
        ),
    )


@hookimpl
def stacktender_checks() -> list[Check]:
    return list(_checks())
