"""haproxy checks: frontends, backends and servers DOWN; sessions against their limits.

Reads haproxy's CSV statistics either from the stats socket (``unix:///run/haproxy/
admin.sock`` or ``tcp://host:port``, command ``show stat``) or from the stats page
over HTTP (``http://user:pass@host:port/stats;csv``). No client library needed for the
socket; httpx (imported lazily) for the page.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from stacktender.checks.base import Check, CheckContext, Outcome
from stacktender.checks.net import open_stream
from stacktender.errors import CheckError, ServiceUnreachable
from stacktender.hookspecs import hookimpl
from stacktender.results import PerfData, Status, ThresholdSpec, worst

DEFAULT_URL = "unix:///run/haproxy/admin.sock"

_KINDS = {"0": "frontend", "1": "backend", "2": "server", "3": "listener"}


@dataclass(frozen=True)
class ProxyStat:
    """One row of ``show stat``: a frontend, backend, server or listener."""

    proxy: str
    name: str
    kind: str
    status: str
    sessions: int
    limit: int | None
    check: str = ""
    backup: bool = False

    @property
    def label(self) -> str:
        """``backend/server`` for a server, the proxy name otherwise."""
        return f"{self.proxy}/{self.name}" if self.kind == "server" else self.proxy

    @property
    def state(self) -> str:
        """The status folded to up, down, maint, drain or stopped."""
        word = self.status.split(" ", 1)[0].upper()
        if word == "DOWN":
            return "down"
        if word == "MAINT":
            return "maint"
        if word in {"DRAIN", "NOLB"}:
            return "drain"
        if word == "STOP":
            return "stopped"
        return "up"  # UP, OPEN, FULL, "no check", "UP 1/3" (going down but still up)


@dataclass
class HaproxyStats:
    """The statistics rows of one haproxy process, and where they were read."""

    source: str
    rows: list[ProxyStat]

    def of_kind(self, kind: str) -> list[ProxyStat]:
        return [r for r in self.rows if r.kind == kind]


def parse_csv(text: str) -> list[ProxyStat]:
    """Parse haproxy's CSV statistics (header ``# pxname,svname,...``)."""
    if not text.startswith("# pxname"):
        head = " ".join(text.strip().split())[:80]
        raise CheckError(f"not haproxy CSV statistics: {head!r}")
    lines = [line for line in text[2:].splitlines() if line.strip()]
    rows = []
    for record in csv.DictReader(lines):
        kind = _KINDS.get(record.get("type") or "", "")
        if not kind:
            continue
        name = record.get("svname") or ""
        # haproxy prefixes the last known status with "* " while a check is in flight.
        check_status = (record.get("check_status") or "").removeprefix("* ")
        check = " ".join(part for part in (check_status, record.get("check_desc")) if part)
        rows.append(
            ProxyStat(
                proxy=record.get("pxname") or "",
                name=name,
                kind=kind,
                status=record.get("status") or "",
                sessions=_int(record.get("scur")) or 0,
                limit=_int(record.get("slim")),
                check=check,
                backup=record.get("bck") == "1",
            )
        )
    return rows


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


# -- collection ------------------------------------------------------------------------


def read_stats(ctx: CheckContext) -> HaproxyStats:
    """Fetch and parse the statistics from the target's socket or HTTP stats page."""
    target = ctx.target
    if target.scheme in {"unix", "tcp"}:
        text = _socket_show_stat(ctx)
    elif target.scheme in {"http", "https"}:
        text = _http_csv(ctx)
    else:
        raise CheckError(
            f"haproxy target {target.masked()!r}: use unix:///path/admin.sock, "
            "tcp://host:port or http(s)://host:port/stats;csv"
        )
    return HaproxyStats(source=target.masked(), rows=parse_csv(text))


def _socket_show_stat(ctx: CheckContext) -> str:
    target = ctx.target
    try:
        address = target.path if target.scheme == "unix" else (target.host, target.port_or(9999))
        sock = open_stream(address, ctx.remaining())
    except OSError as exc:
        raise ServiceUnreachable(
            f"cannot connect to haproxy stats socket {target.masked()}: {exc.strerror or exc}"
        ) from None
    chunks = []
    with sock:
        try:
            sock.settimeout(ctx.remaining())
            sock.sendall(b"show stat\n")
            # Outside interactive mode haproxy closes the connection after the answer.
            while True:
                sock.settimeout(ctx.remaining())
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except TimeoutError:
            raise ServiceUnreachable(
                f"haproxy stats socket {target.masked()} did not answer 'show stat' in time"
            ) from None
        except OSError as exc:
            raise ServiceUnreachable(
                f"haproxy stats socket {target.masked()}: {exc.strerror or exc}"
            ) from None
    text = b"".join(chunks).decode(errors="replace")
    if not text.strip():
        raise CheckError(f"haproxy stats socket {target.masked()} sent no statistics")
    if text.startswith("Permission denied"):
        raise CheckError(f"haproxy stats socket {target.masked()}: permission denied")
    return text


def _http_csv(ctx: CheckContext) -> str:
    from stacktender._httpx import import_httpx

    httpx = import_httpx()

    target = ctx.target
    parts = urlsplit(target.url)
    path = parts.path or "/"
    if not path.endswith(";csv"):
        path += ";csv"
    # Credentials go to BasicAuth, not into the URL httpx might print in an error.
    netloc = parts.netloc.rpartition("@")[2]
    url = urlunsplit((parts.scheme, netloc, path, parts.query, ""))
    auth = (target.username or "", target.password or "") if target.username else None
    verify = bool(ctx.option("verify_tls"))
    try:
        with httpx.Client(timeout=ctx.remaining(), verify=verify) as client:
            response = client.get(url, auth=auth)
    except httpx.TimeoutException:
        raise ServiceUnreachable(f"haproxy stats page {target.masked()} timed out") from None
    except httpx.HTTPError as exc:
        reason = str(exc).split("\n", 1)[0] or type(exc).__name__
        raise ServiceUnreachable(
            f"cannot reach haproxy stats page {target.masked()}: {reason}"
        ) from None
    if response.status_code in {401, 403}:
        raise ServiceUnreachable(
            f"haproxy stats page {target.masked()} refused the login (HTTP {response.status_code})"
        )
    if response.status_code >= 500:
        raise ServiceUnreachable(
            f"haproxy stats page {target.masked()} answered HTTP {response.status_code}"
        )
    if response.status_code != 200:
        raise CheckError(
            f"haproxy stats page {target.masked()} answered HTTP {response.status_code}"
        )
    return response.text


# -- evaluation ------------------------------------------------------------------------


def _selected(rows: Iterable[ProxyStat], matcher: re.Pattern[str] | None) -> list[ProxyStat]:
    return [r for r in rows if matcher is None or matcher.search(r.proxy)]


@dataclass
class _BackendState:
    backend: ProxyStat
    servers: list[ProxyStat]
    down: list[ProxyStat]
    parked: list[ProxyStat]  # MAINT / DRAIN, not counted as down unless asked

    @property
    def in_service(self) -> int:
        return len(self.servers) - len(self.parked)

    @property
    def down_pct(self) -> float:
        return 100.0 * len(self.down) / self.in_service if self.in_service else 0.0


def evaluate_servers(stats: HaproxyStats, ctx: CheckContext) -> Outcome:
    th = ctx.thresholds
    alert_maint = bool(ctx.option("alert_maint"))
    backends = _selected(stats.of_kind("backend"), ctx.pattern("backends"))
    frontends = _selected(stats.of_kind("frontend"), ctx.pattern("frontends"))
    if not backends and not frontends:
        raise CheckError(f"no frontend or backend of {stats.source} matches the options")
    servers = stats.of_kind("server")
    states = []
    for backend in backends:
        members = [s for s in servers if s.proxy == backend.proxy]
        parked = [s for s in members if s.state in {"maint", "drain"}]
        down = [s for s in members if s.state == "down"]
        if alert_maint:
            down, parked = down + parked, []
        states.append(_BackendState(backend, members, down, parked))

    statuses: list[Status] = []
    problems: list[str] = []
    details: list[str] = []
    perfdata: list[PerfData] = []
    for fe in frontends:
        if fe.state == "stopped":
            statuses.append(Status.CRITICAL)
            problems.append(f"frontend {fe.proxy} {fe.status}")
    for st in states:
        name = st.backend.proxy
        if st.backend.state == "down":
            status = Status.CRITICAL
            problems.append(f"backend {name} DOWN")
        else:
            status = worst(
                [
                    th.status("servers_down", len(st.down)),
                    th.status("servers_down_pct", st.down_pct),
                ]
            )
            if st.down:
                problems.append(f"{name}: {len(st.down)}/{len(st.servers)} servers down")
        statuses.append(status)
        for s in st.down:
            why = f" ({s.check})" if s.check else ""
            details.append(f"{status.name}: {s.label} {s.status}{why}")
        for s in st.parked:
            details.append(f"{s.label} {s.status} (not alerting)")
        if not st.servers:
            continue
        perfdata.append(
            th.perf(
                "servers_down",
                len(st.down),
                label=f"{name}_down",
                minimum=0,
                maximum=len(st.servers),
            )
        )
    total = sum(len(st.servers) for st in states)
    up = sum(1 for st in states for s in st.servers if s.state == "up")
    n_parked = sum(len(st.parked) for st in states)
    summary = f"{len(backends)} backends, {up}/{total} servers up"
    if n_parked:
        summary += f", {n_parked} in maintenance/drain"
    if problems:
        summary += "; " + "; ".join(problems)
    perfdata.insert(0, PerfData("servers_up", up, minimum=0, maximum=total))
    return Outcome(worst(statuses), summary, details, perfdata)


def _kinds(value: Any) -> set[str]:
    kinds = {str(k).strip() for k in ([value] if isinstance(value, str) else value or [])}
    wrong = sorted(kinds - {"frontend", "backend", "server"})
    if wrong or not kinds:
        raise CheckError(
            f"option kinds: expected a list of frontend, backend, server; got {value!r}"
        )
    return kinds


def evaluate_sessions(stats: HaproxyStats, ctx: CheckContext) -> Outcome:
    th = ctx.thresholds
    kinds = _kinds(ctx.option("kinds"))
    rows = [
        r
        for r in _selected(stats.rows, ctx.pattern("proxies"))
        if r.kind in kinds and r.limit and r.limit > 0
    ]
    if not rows:
        raise CheckError(
            f"no {'/'.join(sorted(kinds))} of {stats.source} matches and has a session limit"
        )
    usage = sorted(
        ((100.0 * r.sessions / (r.limit or 1), r) for r in rows),
        key=lambda item: item[0],
        reverse=True,
    )
    statuses = [th.status("sessions", pct) for pct, _ in usage]
    status = worst(statuses)
    top_pct, top = usage[0]
    summary = (
        f"highest session usage {top_pct:.1f}% on {top.kind} {top.label} "
        f"({top.sessions}/{top.limit}); {len(rows)} proxies checked"
    )
    alerting: list[tuple[float, ProxyStat, Status]] = [
        (pct, r, s) for (pct, r), s in zip(usage, statuses, strict=True) if s != Status.OK
    ]
    shown = alerting or [(pct, r, Status.OK) for pct, r in usage[:3]]
    details = [
        f"{s.name}: {r.kind} {r.label} {r.sessions}/{r.limit} sessions ({pct:.1f}%)"
        for pct, r, s in shown
    ]
    perfdata = [th.perf("sessions", round(top_pct, 2), minimum=0, maximum=100)]
    perfdata += [
        PerfData(f"{r.kind}_{r.label}", r.sessions, minimum=0, maximum=r.limit)
        for r in sorted(rows, key=lambda r: (r.kind, r.label))
    ]
    return Outcome(status, summary, details, perfdata)


_COMMON_OPTIONS: dict[str, Any] = {"verify_tls": True}
_COMMON_HELP = {"verify_tls": "verify the TLS certificate of an https:// stats page"}

SERVERS = Check(
    name="haproxy-servers",
    service="haproxy",
    description="frontends stopped, backends DOWN, servers DOWN per backend (count and %)",
    collect=read_stats,
    evaluate=evaluate_servers,
    default_url=DEFAULT_URL,
    thresholds=(
        ThresholdSpec("servers_down", "servers DOWN in one backend", "0", None),
        ThresholdSpec(
            "servers_down_pct",
            "servers DOWN in one backend, % of those in service",
            None,
            "50",
            "%",
        ),
    ),
    options={**_COMMON_OPTIONS, "backends": None, "frontends": None, "alert_maint": False},
    option_help={
        **_COMMON_HELP,
        "backends": "regular expression: check only backends whose name matches",
        "frontends": "regular expression: check only frontends whose name matches",
        "alert_maint": "count servers in MAINT or DRAIN as down (default: report only)",
    },
)

SESSIONS = Check(
    name="haproxy-sessions",
    service="haproxy",
    description="current sessions against the session limit (maxconn) of each frontend",
    collect=read_stats,
    evaluate=evaluate_sessions,
    default_url=DEFAULT_URL,
    thresholds=(
        ThresholdSpec("sessions", "sessions in use, % of the limit (worst proxy)", "80", "90", "%"),
    ),
    options={**_COMMON_OPTIONS, "proxies": None, "kinds": ["frontend"]},
    option_help={
        **_COMMON_HELP,
        "proxies": "regular expression: check only proxies whose name matches",
        # A backend's limit in the statistics is its fullconn, a tuning knob rather than
        # a hard limit, so backends are opt-in.
        "kinds": "which rows to check: a list of frontend, backend, server (with maxconn)",
    },
)


@hookimpl
def stacktender_checks() -> list[Check]:
    return [SERVERS, SESSIONS]
