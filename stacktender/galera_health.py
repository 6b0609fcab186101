"""HTTP health endpoint of one Galera node, for haproxy's ``option httpchk`` (clustercheck).

Every request queries the node (short timeout) and answers ``200`` when the node may
take traffic, ``503`` otherwise, with a one-line text body saying why:

- 200 when the node is Synced in the Primary component with ``wsrep_ready=ON``
  (or Donor/Desynced when ``allow_donor``);
- 503 when a maintenance file exists (checked first, without a query), when the node
  cannot be reached or does not answer in time, is not a Galera node, is not Synced,
  or has ``read_only=ON`` (unless ``allow_read_only``).

:func:`judge` is the pure decision; :func:`evaluate_node` adds the I/O;
:func:`make_server` / :func:`serve` put it behind a ``ThreadingHTTPServer``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from stacktender.errors import CheckError, ConfigError, ServiceUnreachable

__all__ = [
    "HealthPolicy",
    "NodeState",
    "Verdict",
    "evaluate_node",
    "judge",
    "make_server",
    "parse_listen",
    "read_node_state",
    "serve",
]

log = logging.getLogger(__name__)

OK, UNAVAILABLE = 200, 503
DONOR_STATE = 2
SYNCED_STATE = 4


@dataclass(frozen=True)
class HealthPolicy:
    """What counts as healthy, and how long one query may take."""

    allow_donor: bool = False
    allow_read_only: bool = False
    maintenance_file: str | None = None
    timeout: float = 2.0


@dataclass(frozen=True)
class NodeState:
    """The few facts about a node the endpoint decides on."""

    name: str
    wsrep_on: bool
    local_state: int
    state_comment: str
    cluster_status: str
    ready: bool
    read_only: bool


@dataclass(frozen=True)
class Verdict:
    """HTTP status and the one-line reason sent as the body."""

    code: int
    reason: str

    @property
    def healthy(self) -> bool:
        return self.code == OK


def judge(state: NodeState, policy: HealthPolicy) -> Verdict:
    """Decide 200 or 503 for a node's state (pure; no I/O)."""
    name = state.name or "node"
    if not state.wsrep_on:
        return Verdict(UNAVAILABLE, f"{name}: wsrep not enabled, not a Galera node")
    if state.cluster_status != "Primary":
        return Verdict(UNAVAILABLE, f"{name} is in a {state.cluster_status} component, not Primary")
    synced = state.local_state == SYNCED_STATE
    donor = state.local_state == DONOR_STATE
    if not (synced or (donor and policy.allow_donor)):
        return Verdict(UNAVAILABLE, f"{name} is {state.state_comment}, not Synced")
    if not state.ready:
        return Verdict(UNAVAILABLE, f"{name} has wsrep_ready OFF")
    if state.read_only and not policy.allow_read_only:
        return Verdict(UNAVAILABLE, f"{name} is read_only")
    return Verdict(OK, f"{name} is {state.state_comment}")


def read_node_state(url: str, timeout: float) -> NodeState:
    """Query the node at url (one connection, two SHOW statements) within timeout seconds."""
    from stacktender.checks.mysql import MySQLAddress, connect

    deadline = time.monotonic() + timeout

    def remaining() -> float:
        return max(0.1, deadline - time.monotonic())

    # SHOW only: a node outside the Primary component refuses most other statements.
    with connect(MySQLAddress.from_url(url), remaining) as session:
        variables = session.pairs(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('wsrep_on', 'read_only', "
            "'wsrep_node_name')"
        )
        status = session.pairs(
            "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state', "
            "'wsrep_local_state_comment', 'wsrep_cluster_status', 'wsrep_ready')"
        )
    try:
        local_state = int(status.get("wsrep_local_state") or 0)
    except ValueError:
        local_state = 0
    return NodeState(
        name=variables.get("wsrep_node_name", ""),
        wsrep_on=variables.get("wsrep_on", "OFF").upper() == "ON",
        local_state=local_state,
        state_comment=status.get("wsrep_local_state_comment") or "unknown",
        cluster_status=status.get("wsrep_cluster_status") or "unknown",
        ready=status.get("wsrep_ready") == "ON",
        read_only=variables.get("read_only", "OFF").upper() == "ON",
    )


def evaluate_node(url: str, policy: HealthPolicy) -> Verdict:
    """The endpoint's answer for the node at url right now; never raises."""
    if policy.maintenance_file and os.path.exists(policy.maintenance_file):
        return Verdict(UNAVAILABLE, f"maintenance: {policy.maintenance_file} exists")
    try:
        state = read_node_state(url, policy.timeout)
    except (ServiceUnreachable, CheckError, ConfigError) as exc:
        return Verdict(UNAVAILABLE, str(exc))
    except Exception as exc:  # a health endpoint answers 503, whatever went wrong
        from stacktender.secrets import redact

        return Verdict(UNAVAILABLE, redact(f"cannot query node: {type(exc).__name__}: {exc}"))
    return judge(state, policy)


class _Handler(BaseHTTPRequestHandler):
    server: _HealthServer
    protocol_version = "HTTP/1.0"

    def _answer(self, body: bool) -> None:
        verdict = self.server.check()
        payload = (verdict.reason + "\n").encode()
        self.send_response(verdict.code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        if body:
            self.wfile.write(payload)

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_OPTIONS(self) -> None:  # haproxy's httpchk default method
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def log_message(self, format: str, *args: Any) -> None:
        # haproxy checks every few seconds: log state changes (see _HealthServer), not hits.
        pass


class _HealthServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], url: str, policy: HealthPolicy) -> None:
        if ":" in address[0]:
            import socket

            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.url = url
        self.policy = policy
        self._last: Verdict | None = None
        self._lock = threading.Lock()

    def check(self) -> Verdict:
        verdict = evaluate_node(self.url, self.policy)
        with self._lock:
            if self._last is None or self._last.code != verdict.code:
                log.warning("galera-health: %d %s", verdict.code, verdict.reason)
            self._last = verdict
        return verdict


def parse_listen(text: str, default_port: int = 9200) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT``, ``PORT`` or ``[::]:PORT`` to (host, port)."""
    text = text.strip()
    if text.isdigit():
        return "0.0.0.0", int(text)
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        if text and ":" not in text:
            return text, default_port
        raise ConfigError(f"invalid listen address {text!r}: expected HOST:PORT")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def make_server(listen: tuple[str, int], url: str, policy: HealthPolicy) -> ThreadingHTTPServer:
    """A bound (not yet serving) HTTP server answering health checks for url."""
    from stacktender.checks.mysql import MySQLAddress

    MySQLAddress.from_url(url)  # a bad URL is a startup error, not a 503 forever
    try:
        return _HealthServer(listen, url, policy)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {listen[0]}:{listen[1]}: {exc.strerror or exc}"
        ) from None


def serve(listen: tuple[str, int], url: str, policy: HealthPolicy) -> None:
    """Serve health checks for url until interrupted."""
    server = make_server(listen, url, policy)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
