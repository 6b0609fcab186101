"""memcached checks: server up, hit ratio, evictions, connections against the limit.

Talks memcached's text protocol (``stats``) over TCP or a unix socket; no client
library needed.
"""

from __future__ import annotations

from dataclasses import dataclass

from stacktender.checks.base import Check, CheckContext, Outcome
from stacktender.checks.net import open_stream
from stacktender.errors import CheckError, ServiceUnreachable
from stacktender.hookspecs import hookimpl
from stacktender.results import Status, ThresholdSpec, worst

DEFAULT_URL = "memcached://127.0.0.1:11211"


@dataclass
class MemcachedStats:
    """The ``stats`` of one memcached server, as numbers where they are numbers."""

    values: dict[str, str]

    def number(self, key: str) -> float:
        try:
            return float(self.values[key])
        except (KeyError, ValueError):
            raise CheckError(f"memcached did not report {key!r}") from None


def read_stats(ctx: CheckContext) -> MemcachedStats:
    """Connect, send ``stats`` and parse the ``STAT name value`` lines up to ``END``."""
    target = ctx.target
    try:
        address = target.path if target.scheme == "unix" else (target.host, target.port_or(11211))
        sock = open_stream(address, ctx.remaining())
    except OSError as exc:
        raise ServiceUnreachable(
            f"cannot connect to memcached at {target.masked()}: {exc.strerror or exc}"
        ) from None
    with sock:
        sock.settimeout(ctx.remaining())
        sock.sendall(b"stats\r\n")
        buf = b""
        while not buf.endswith(b"END\r\n"):
            sock.settimeout(ctx.remaining())
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                raise ServiceUnreachable(
                    f"memcached at {target.masked()} did not answer 'stats' in time"
                ) from None
            if not chunk:
                raise CheckError("memcached closed the connection before END")
            buf += chunk
            if buf.startswith((b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR")):
                raise CheckError(f"memcached answered {buf.decode(errors='replace').strip()!r}")
    values = {}
    for line in buf.decode(errors="replace").splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0] == "STAT":
            values[parts[1]] = parts[2]
    return MemcachedStats(values)


def evaluate(stats: MemcachedStats, ctx: CheckContext) -> Outcome:
    th = ctx.thresholds
    hits, misses = stats.number("get_hits"), stats.number("get_misses")
    lookups = hits + misses
    hit_ratio = 100.0 * hits / lookups if lookups else 100.0
    conns, limit = stats.number("curr_connections"), stats.number("max_connections")
    conn_pct = 100.0 * conns / limit if limit else 0.0
    evictions = stats.number("evictions")
    statuses = [
        th.status("connections", conn_pct),
        th.status("hit_ratio", hit_ratio),
        th.status("evictions", evictions),
    ]
    status = worst(statuses)
    summary = (
        f"memcached {stats.values.get('version', '?')} up "
        f"{int(stats.number('uptime'))}s, {int(conns)}/{int(limit)} connections "
        f"({conn_pct:.1f}%), hit ratio {hit_ratio:.1f}%, {int(evictions)} evictions"
    )
    details = []
    if statuses[0] != Status.OK:
        details.append(f"connections at {conn_pct:.1f}% of max_connections ({int(limit)})")
    if statuses[1] != Status.OK:
        details.append(f"hit ratio {hit_ratio:.1f}% ({int(hits)} hits, {int(misses)} misses)")
    if statuses[2] != Status.OK:
        details.append(f"{int(evictions)} items evicted for lack of memory")
    return Outcome(
        status,
        summary,
        details,
        [
            th.perf("connections", conn_pct, minimum=0, maximum=100),
            th.perf("hit_ratio", hit_ratio, minimum=0, maximum=100),
            th.perf("evictions", evictions, unit="c", minimum=0),
            th.perf("curr_items", stats.number("curr_items"), unit="", minimum=0),
            th.perf(
                "bytes",
                stats.number("bytes"),
                unit="B",
                minimum=0,
                maximum=stats.number("limit_maxbytes"),
            ),
        ],
    )


MEMCACHED = Check(
    name="memcached",
    service="memcached",
    description="memcached is up; hit ratio, evictions and connections against max_connections",
    collect=read_stats,
    evaluate=evaluate,
    default_url=DEFAULT_URL,
    thresholds=(
        ThresholdSpec("connections", "connections in use, % of max_connections", "80", "95", "%"),
        ThresholdSpec("hit_ratio", "get hit ratio in % (e.g. warning '90:')", None, None, "%"),
        ThresholdSpec("evictions", "items evicted since start", None, None, "c"),
        ThresholdSpec("curr_items", "items stored", None, None),
        ThresholdSpec("bytes", "bytes stored", None, None, "B"),
    ),
)


@hookimpl
def stacktender_checks() -> list[Check]:
    return [MEMCACHED]
