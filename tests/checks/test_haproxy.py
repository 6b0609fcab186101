"""haproxy checks: evaluate() on hand-built statistics, then a real haproxy.

The integration tests start haproxy in the foreground from a generated config: a
frontend with maxconn 4, a backend with two servers that are real HTTP servers this
module starts and stops, a backend whose only server is a closed port, a stats
socket and a stats page with basic auth.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from support import free_port, port_open, require_binary, running, silent_server

from stacktender.checks.haproxy import HaproxyStats, ProxyStat, parse_csv
from stacktender.results import Status

# -- unit: parsing and evaluation ---------------------------------------------------------

CSV = """\
# pxname,svname,qcur,qmax,scur,smax,slim,stot,status,check_status,check_desc,type,bck,
fe_api,FRONTEND,,,3,5,4,9,OPEN,,,0,,
be_api,web1,0,0,0,0,,0,UP,L7OK,Layer7 check passed,2,0,
be_api,web2,0,0,0,0,,0,DOWN,L4CON,Connection refused,2,0,
be_api,BACKEND,0,0,0,0,1,0,UP,,,1,,
be_off,s1,0,0,0,0,,0,MAINT,,,2,0,
be_off,BACKEND,0,0,0,0,1,0,DOWN,,,1,,

"""


def test_parse_csv_reads_kinds_status_and_limits() -> None:
    rows = parse_csv(CSV)
    assert [(r.kind, r.label, r.state) for r in rows] == [
        ("frontend", "fe_api", "up"),
        ("server", "be_api/web1", "up"),
        ("server", "be_api/web2", "down"),
        ("backend", "be_api", "up"),
        ("server", "be_off/s1", "maint"),
        ("backend", "be_off", "down"),
    ]
    assert rows[0].sessions == 3 and rows[0].limit == 4
    assert rows[1].limit is None
    assert rows[2].check == "L4CON Connection refused"


def test_parse_csv_drops_in_flight_marker_of_check_status() -> None:
    # While a health check runs, haproxy reports the previous result as "* L4CON".
    text = CSV.replace("DOWN,L4CON,", "DOWN,* L4CON,")
    assert parse_csv(text)[2].check == "L4CON Connection refused"


def test_parse_csv_rejects_other_text() -> None:
    from stacktender.errors import CheckError

    with pytest.raises(CheckError, match="not haproxy CSV"):
        parse_csv("<html>login</html>")


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("UP", "up"),
        ("UP 1/3", "up"),
        ("no check", "up"),
        ("OPEN", "up"),
        ("DOWN", "down"),
        ("DOWN 1/2", "down"),
        ("MAINT", "maint"),
        ("MAINT (via be/s1)", "maint"),
        ("DRAIN", "drain"),
        ("NOLB", "drain"),
        ("STOP", "stopped"),
    ],
)
def test_server_state_folding(status: str, state: str) -> None:
    assert ProxyStat("p", "s", "server", status, 0, None).state == state


def _server(backend: str, name: str, status: str) -> ProxyStat:
    return ProxyStat(backend, name, "server", status, 0, None, check="L4CON")


def _backend(name: str, status: str = "UP", sessions: int = 0, limit: int = 10) -> ProxyStat:
    return ProxyStat(name, "BACKEND", "backend", status, sessions, limit)


def _frontend(name: str, sessions: int, limit: int, status: str = "OPEN") -> ProxyStat:
    return ProxyStat(name, "FRONTEND", "frontend", status, sessions, limit)


def _stats(*rows: ProxyStat) -> HaproxyStats:
    return HaproxyStats("unix:///test.sock", list(rows))


def _evaluate(make_app: Callable[..., Any], check: str, data: HaproxyStats, **overrides: Any):
    instance = make_app().instance(check, **overrides)
    return instance.check.evaluate(data, instance.context())


def _three_servers(*statuses: str) -> HaproxyStats:
    return _stats(
        *(_server("be", f"s{i}", s) for i, s in enumerate(statuses, 1)),
        _backend("be", "DOWN" if all(s == "DOWN" for s in statuses) else "UP"),
    )


def test_servers_default_thresholds(make_app: Callable[..., Any]) -> None:
    ok = _evaluate(make_app, "haproxy-servers", _three_servers("UP", "UP", "UP"))
    assert ok.status == Status.OK
    assert ok.summary == "1 backends, 3/3 servers up"
    one = _evaluate(make_app, "haproxy-servers", _three_servers("UP", "DOWN", "UP"))
    assert one.status == Status.WARNING
    assert "be: 1/3 servers down" in one.summary
    assert one.details == ["WARNING: be/s2 DOWN (L4CON)"]
    two = _evaluate(make_app, "haproxy-servers", _three_servers("DOWN", "DOWN", "UP"))
    assert two.status == Status.CRITICAL  # 66.7% > 50%
    gone = _evaluate(make_app, "haproxy-servers", _three_servers("DOWN", "DOWN", "DOWN"))
    assert gone.status == Status.CRITICAL
    assert "backend be DOWN" in gone.summary


def test_servers_count_threshold_and_perfdata(make_app: Callable[..., Any]) -> None:
    out = _evaluate(
        make_app,
        "haproxy-servers",
        _three_servers("DOWN", "UP", "UP"),
        warning={"servers_down": "1"},
        critical={"servers_down": "2", "servers_down_pct": "90"},
    )
    assert out.status == Status.OK
    perf = {p.label: p for p in out.perfdata}
    assert perf["be_down"].value == 1 and perf["be_down"].maximum == 3
    assert perf["servers_up"].value == 2


def test_maint_and_drain_reported_not_alerting(make_app: Callable[..., Any]) -> None:
    data = _three_servers("MAINT", "DRAIN", "UP")
    quiet = _evaluate(make_app, "haproxy-servers", data)
    assert quiet.status == Status.OK
    assert "2 in maintenance/drain" in quiet.summary
    assert quiet.details == ["be/s1 MAINT (not alerting)", "be/s2 DRAIN (not alerting)"]
    loud = _evaluate(make_app, "haproxy-servers", data, options={"alert_maint": True})
    assert loud.status == Status.CRITICAL  # 2 of 3 = 66.7%


def test_backends_regex_and_stopped_frontend(make_app: Callable[..., Any]) -> None:
    data = _stats(
        _frontend("fe", 0, 10, status="STOP"),
        _server("be_ok", "s1", "UP"),
        _backend("be_ok"),
        _server("be_bad", "s1", "DOWN"),
        _backend("be_bad", "DOWN"),
    )
    only_ok = _evaluate(
        make_app, "haproxy-servers", data, options={"backends": "^be_ok$", "frontends": "^$"}
    )
    assert only_ok.status == Status.OK
    everything = _evaluate(make_app, "haproxy-servers", data)
    assert everything.status == Status.CRITICAL
    assert "frontend fe STOP" in everything.summary
    assert "backend be_bad DOWN" in everything.summary


def test_sessions_worst_first(make_app: Callable[..., Any]) -> None:
    data = _stats(
        _frontend("fe_a", 85, 100),
        _frontend("fe_b", 10, 100),
        _frontend("fe_c", 95, 100),
        _backend("be", sessions=50, limit=10),  # fullconn: not checked by default
    )
    out = _evaluate(make_app, "haproxy-sessions", data)
    assert out.status == Status.CRITICAL
    assert out.summary.startswith("highest session usage 95.0% on frontend fe_c (95/100)")
    assert out.details == [
        "CRITICAL: frontend fe_c 95/100 sessions (95.0%)",
        "WARNING: frontend fe_a 85/100 sessions (85.0%)",
    ]
    with_backends = _evaluate(
        make_app, "haproxy-sessions", data, options={"kinds": ["frontend", "backend"]}
    )
    assert "backend be (50/10)" in with_backends.summary
    calm = _evaluate(make_app, "haproxy-sessions", data, options={"proxies": "fe_b"})
    assert calm.status == Status.OK
    assert calm.details == ["OK: frontend fe_b 10/100 sessions (10.0%)"]


# -- integration: a real haproxy ----------------------------------------------------------


class _Quiet(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # haproxy's health checks hang up early; that is not an error here


class WebServer:
    """A small real HTTP server on a fixed port that a test can stop and start again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._server: _QuietServer | None = None

    def start(self) -> None:
        if self._server is None:
            self._server = _QuietServer(("127.0.0.1", self.port), _Quiet)
            threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@dataclass
class Haproxy:
    socket_url: str
    http_url: str
    frontend_port: int
    web: list[WebServer]
    admin_socket: Path

    def admin(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(str(self.admin_socket))
            sock.sendall(command.encode() + b"\n")
            return sock.recv(65536).decode()


HAPROXY_CFG = """\
global
    stats socket {sock} mode 600 level admin
    maxconn 200
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout http-request 30s
frontend fe_web
    bind 127.0.0.1:{fe}
    maxconn 4
    default_backend be_web
backend be_web
    option httpchk GET /
    server web1 127.0.0.1:{web1} check inter 200 fall 1 rise 1
    server web2 127.0.0.1:{web2} check inter 200 fall 1 rise 1
backend be_dead
    server dead1 127.0.0.1:{closed} check inter 200 fall 1 rise 1
listen stats
    bind 127.0.0.1:{stats}
    stats enable
    stats uri /stats
    stats auth admin:s3cret-stats
"""


@pytest.fixture(scope="module")
def haproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Haproxy]:
    binary = require_binary("haproxy")
    tmp = tmp_path_factory.mktemp("haproxy")
    ports = {name: free_port() for name in ("fe", "web1", "web2", "closed", "stats")}
    sock = tmp / "admin.sock"
    cfg = tmp / "haproxy.cfg"
    cfg.write_text(HAPROXY_CFG.format(sock=sock, **ports))
    web = [WebServer(ports["web1"]), WebServer(ports["web2"])]
    for server in web:
        server.start()
    with running(
        [binary, "-f", str(cfg), "-db"],
        ready=lambda: sock.exists() and port_open(ports["stats"]),
        log=tmp / "haproxy.log",
    ):
        yield Haproxy(
            socket_url=f"unix://{sock}",
            http_url=f"http://admin:s3cret-stats@127.0.0.1:{ports['stats']}/stats;csv",
            frontend_port=ports["fe"],
            web=web,
            admin_socket=sock,
        )
    for server in web:
        server.stop()


def _wait_for(run: Callable[[], Any], status: Status, timeout: float = 10) -> Any:
    """Run the check until it reports status (haproxy checks servers every 200 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        result = run()
        if result.status == status or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


@pytest.fixture
def healthy(haproxy: Haproxy, make_app: Callable[..., Any]) -> Haproxy:
    """Both web servers running, no server in maintenance, haproxy seeing them UP."""
    for server in haproxy.web:
        server.start()
    haproxy.admin("enable server be_web/web1")
    haproxy.admin("set server be_web/web1 state ready")
    app = make_app()
    result = _wait_for(
        lambda: app.run(app.instance("haproxy-servers", url=haproxy.socket_url, options=WEB_ONLY)),
        Status.OK,
    )
    assert result.status == Status.OK, result
    return haproxy


WEB_ONLY = {"backends": "^be_web$", "frontends": "^fe_web$"}


@pytest.mark.integration
@pytest.mark.parametrize("source", ["socket", "http"])
def test_servers_down_and_back_up(
    healthy: Haproxy, make_app: Callable[..., Any], source: str
) -> None:
    url = healthy.socket_url if source == "socket" else healthy.http_url
    app = make_app()

    def run() -> Any:
        return app.run(app.instance("haproxy-servers", url=url, options=WEB_ONLY))

    ok = run()
    assert ok.status == Status.OK
    assert ok.summary == "1 backends, 2/2 servers up"

    healthy.web[1].stop()
    one_down = _wait_for(run, Status.WARNING)
    assert one_down.status == Status.WARNING, one_down
    assert "be_web: 1/2 servers down" in one_down.summary
    assert one_down.details[0].startswith("WARNING: be_web/web2 DOWN (")

    healthy.web[0].stop()
    all_down = _wait_for(run, Status.CRITICAL)
    assert all_down.status == Status.CRITICAL, all_down
    assert "backend be_web DOWN" in all_down.summary

    for server in healthy.web:
        server.start()
    back = _wait_for(run, Status.OK)
    assert back.status == Status.OK, back


@pytest.mark.integration
def test_servers_whole_haproxy_sees_dead_backend(
    healthy: Haproxy, make_app: Callable[..., Any]
) -> None:
    app = make_app()
    result = app.run(app.instance("haproxy-servers", url=healthy.socket_url))
    assert result.status == Status.CRITICAL
    assert "backend be_dead DOWN" in result.summary
    assert "be_web" not in result.summary
    assert any(d.startswith("CRITICAL: be_dead/dead1 DOWN (L4CON") for d in result.details)


@pytest.mark.integration
def test_servers_maint_and_drain_report_only_unless_asked(
    healthy: Haproxy, make_app: Callable[..., Any]
) -> None:
    app = make_app()

    def run(**options: Any) -> Any:
        return app.run(
            app.instance("haproxy-servers", url=healthy.socket_url, options=WEB_ONLY | options)
        )

    healthy.admin("disable server be_web/web1")
    maint = run()
    assert maint.status == Status.OK
    assert "1 in maintenance/drain" in maint.summary
    assert maint.details == ["be_web/web1 MAINT (not alerting)"]
    assert run(alert_maint=True).status == Status.WARNING

    healthy.admin("enable server be_web/web1")
    healthy.admin("set server be_web/web1 state drain")
    drain = run()
    assert drain.status == Status.OK
    assert drain.details == ["be_web/web1 DRAIN (not alerting)"]


@contextlib.contextmanager
def _held_connections(port: int, count: int) -> Iterator[None]:
    conns = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
    try:
        yield
    finally:
        for conn in conns:
            conn.close()


@pytest.mark.integration
@pytest.mark.parametrize("source", ["socket", "http"])
def test_sessions_against_frontend_maxconn(
    haproxy: Haproxy, make_app: Callable[..., Any], source: str
) -> None:
    url = haproxy.socket_url if source == "socket" else haproxy.http_url
    app = make_app()

    def run() -> Any:
        return app.run(
            app.instance(
                "haproxy-sessions",
                url=url,
                options={"proxies": "^fe_web$"},
                warning={"sessions": "50"},
            )
        )

    idle = _wait_for(run, Status.OK)
    assert idle.status == Status.OK
    assert idle.summary.startswith("highest session usage 0.0% on frontend fe_web (0/4)")

    with _held_connections(haproxy.frontend_port, 3):
        three = _wait_for(run, Status.WARNING)
        assert three.status == Status.WARNING, three
        assert three.details == ["WARNING: frontend fe_web 3/4 sessions (75.0%)"]
        with _held_connections(haproxy.frontend_port, 1):
            full = _wait_for(run, Status.CRITICAL)
            assert full.status == Status.CRITICAL, full
            assert "(4/4)" in full.summary
            assert full.perfdata[0].label == "sessions" and full.perfdata[0].value == 100
    assert _wait_for(run, Status.OK).status == Status.OK


@pytest.mark.integration
def test_cli_plugin_output_and_exit_code(haproxy: Haproxy, cli_run: Callable[..., Any]) -> None:
    proc = cli_run(
        "check", "haproxy-servers", "--url", haproxy.http_url, "-o", "backends=^be_dead$"
    )
    assert proc.returncode == 2, proc
    assert proc.stdout.startswith("HAPROXY-SERVERS CRITICAL - 1 backends, 0/1 servers up")
    assert "s3cret-stats" not in proc.stdout + proc.stderr


@pytest.mark.integration
def test_wrong_stats_password_is_critical(haproxy: Haproxy, make_app: Callable[..., Any]) -> None:
    app = make_app()
    url = haproxy.http_url.replace("s3cret-stats", "wrong-pass")
    result = app.run(app.instance("haproxy-servers", url=url))
    assert result.status == Status.CRITICAL
    assert "refused the login (HTTP 401)" in result.summary
    assert "wrong-pass" not in result.summary


@pytest.mark.integration
def test_missing_socket_is_critical(tmp_path: Path, make_app: Callable[..., Any]) -> None:
    app = make_app()
    result = app.run(app.instance("haproxy-servers", url=f"unix://{tmp_path}/none.sock"))
    assert result.status == Status.CRITICAL
    assert "cannot connect to haproxy stats socket" in result.summary


@pytest.mark.integration
@pytest.mark.parametrize("scheme", ["http", "tcp"])
def test_silent_server_is_critical_within_timeout(
    make_app: Callable[..., Any], scheme: str
) -> None:
    app = make_app()
    with silent_server() as port:
        url = (
            f"http://127.0.0.1:{port}/stats;csv" if scheme == "http" else f"tcp://127.0.0.1:{port}"
        )
        started = time.monotonic()
        result = app.run(app.instance("haproxy-servers", url=url, timeout=1.5))
        elapsed = time.monotonic() - started
    assert result.status == Status.CRITICAL
    assert elapsed < 2.5
    assert "in time" in result.summary or "timed out" in result.summary
