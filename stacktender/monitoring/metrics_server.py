"""A Prometheus endpoint: ``/metrics`` serves the latest sweep, ``/healthz`` says if it is fresh.

Sweeps run in ONE background thread, every ``interval`` seconds, never on a scrape:

* a scrape never waits for the checks. A sweep can last as long as the slowest check's
  timeout (10 s by default), which is also Prometheus's default ``scrape_timeout``;
  sweeping on scrape would fail scrapes exactly when a service hangs.
* the load on the checked services is set by ``interval`` alone, whatever the number
  of Prometheus servers (an HA pair scrapes twice) or people running curl.
* there is never more than one sweep at a time, and a scrape only reads an immutable
  snapshot, so concurrent scrapes need no locking.

The price is that results are up to ``interval`` old; ``stacktender_sweep_timestamp_seconds``
exposes their age, and the shipped alerting rules fire when it stops advancing.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from stacktender.errors import ConfigError, StacktenderError

if TYPE_CHECKING:
    from stacktender.app import App
    from stacktender.checks.runner import CheckInstance

__all__ = [
    "DEFAULT_PORT",
    "MetricsServer",
    "MetricsServerError",
    "Snapshot",
    "Sweeper",
    "parse_listen",
]

log = logging.getLogger(__name__)

DEFAULT_PORT = 9469

_OWN_METRICS = (
    ("stacktender_sweep_timestamp_seconds", "gauge", "Unix time the last sweep finished."),
    ("stacktender_sweep_duration_seconds", "gauge", "Time the last sweep took."),
    ("stacktender_sweep_interval_seconds", "gauge", "Seconds between the starts of two sweeps."),
    ("stacktender_sweeps_total", "counter", "Sweeps finished since the server started."),
    ("stacktender_sweep_errors_total", "counter", "Sweeps that failed since the server started."),
)


class MetricsServerError(StacktenderError):
    """The metrics server cannot listen where it was asked to."""


@dataclass(frozen=True)
class Snapshot:
    """The exposition text of one finished sweep, ready to serve."""

    body: bytes
    finished: float
    """Unix time the sweep finished."""
    duration: float
    results: int


class Sweeper:
    """Runs a sweep every interval in one background thread; keeps the latest Snapshot."""

    def __init__(
        self, app: App, instances: Sequence[CheckInstance], interval: float = 30.0
    ) -> None:
        if not interval > 0:
            raise ConfigError(f"the sweep interval must be positive, not {interval!r}")
        self.app = app
        self.instances = list(instances)
        self.interval = float(interval)
        self.sweeps = 0
        self.errors = 0
        self._latest: Snapshot | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def latest(self) -> Snapshot | None:
        """The last finished sweep, or None before the first one."""
        return self._latest

    @property
    def max_timeout(self) -> float:
        """The longest timeout of the swept checks: a sweep takes at most about this long."""
        return max((i.timeout for i in self.instances), default=0.0)

    def sweep_once(self) -> Snapshot:
        """Run one sweep now (in this thread), publish and return its snapshot."""
        started = time.monotonic()
        try:
            results = self.app.sweep(self.instances)
            body = self.app.render(results, "prometheus")
        except Exception:
            self.errors += 1
            raise
        duration = time.monotonic() - started
        finished = time.time()
        self.sweeps += 1
        snapshot = Snapshot(
            body=(body + self._own_metrics(finished, duration)).encode(),
            finished=finished,
            duration=duration,
            results=len(results),
        )
        self._latest = snapshot
        self._ready.set()
        return snapshot

    def wait_first(self, timeout: float) -> Snapshot | None:
        """The latest snapshot, waiting up to timeout seconds for the first sweep."""
        self._ready.wait(timeout)
        return self._latest

    def start(self) -> None:
        """Start sweeping in the background: one sweep now, then one every interval."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="sweeper", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop after the running sweep; a sweep stuck in a check is left to die with us."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        next_start = time.monotonic()
        while not self._stop.is_set():
            try:
                self.sweep_once()
            except Exception as exc:  # keep serving the previous sweep; say why once per sweep
                log.error("sweep failed: %s: %s", type(exc).__name__, exc)
            # Start to start, so the interval holds however long a sweep takes; a sweep
            # longer than the interval is followed by the next one at once, never overlapped.
            next_start = max(next_start + self.interval, time.monotonic())
            self._stop.wait(next_start - time.monotonic())

    def _own_metrics(self, finished: float, duration: float) -> str:
        values = {
            "stacktender_sweep_timestamp_seconds": f"{finished:.3f}",
            "stacktender_sweep_duration_seconds": f"{duration:.6f}",
            "stacktender_sweep_interval_seconds": f"{self.interval:g}",
            "stacktender_sweeps_total": str(self.sweeps),
            "stacktender_sweep_errors_total": str(self.errors),
        }
        lines = []
        for name, kind, help_ in _OWN_METRICS:
            lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name} {values[name]}"]
        return "\n".join(lines) + "\n"


class MetricsServer:
    """``/metrics`` and ``/healthz`` over HTTP in front of a :class:`Sweeper`.

    The socket is bound on construction (port 0 picks a free one; see :attr:`url`).
    Call :meth:`serve_forever` to serve in this thread, or :meth:`start` for a
    background thread; :meth:`close` stops both the HTTP server and the sweeps.
    """

    def __init__(
        self,
        sweeper: Sweeper,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        content_type: str = "text/plain; version=0.0.4; charset=utf-8",
        first_wait: float = 10.0,
    ) -> None:
        self.sweeper = sweeper
        self.content_type = content_type
        self.first_wait = first_wait
        server_class = _HTTPServerV6 if ":" in host else _HTTPServer
        try:
            self.httpd = server_class((host, port), _Handler)
        except OSError as exc:
            where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            raise MetricsServerError(f"cannot listen on {where}: {exc.strerror or exc}") from None
        self.httpd.metrics = self
        self._thread: threading.Thread | None = None

    @classmethod
    def for_app(
        cls,
        app: App,
        names: Sequence[str] = (),
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        interval: float = 30.0,
    ) -> MetricsServer:
        """A server sweeping app's configured checks (or only names) every interval."""
        sweeper = Sweeper(app, app.sweep_instances(names), interval)
        renderer = app.renderers.get("prometheus")
        kwargs: dict[str, Any] = {"content_type": renderer.content_type} if renderer else {}
        return cls(sweeper, host, port, **kwargs)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """Where Prometheus should scrape: ``http://host:port/metrics``."""
        host, port = self.address
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}/metrics"

    def serve_forever(self) -> None:
        """Start the sweeps and serve HTTP in this thread until close() or an exception."""
        self.sweeper.start()
        self.httpd.serve_forever(poll_interval=0.5)

    def start(self) -> None:
        """Start the sweeps and serve HTTP in a background thread."""
        self.sweeper.start()
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving and sweeping; release the port."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(5)
            self._thread = None
        self.sweeper.stop()
        self.httpd.server_close()

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def health(self) -> tuple[int, str]:
        """HTTP status and text for /healthz: 200 while sweeps keep finishing."""
        latest = self.sweeper.latest
        if latest is None:
            return 503, "no sweep has finished yet\n"
        age = time.time() - latest.finished
        # Three missed intervals, plus the time one slow sweep may legitimately take.
        allowed = 3 * self.sweeper.interval + self.sweeper.max_timeout
        if age > allowed:
            return 503, f"stale: last sweep finished {age:.0f}s ago (allowed {allowed:.0f}s)\n"
        return 200, f"ok: last sweep finished {age:.1f}s ago, {latest.results} checks\n"


def parse_listen(text: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """``host:port``, ``[v6]:port``, ``host`` or ``:port`` as (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ConfigError(f"invalid listen address {text!r}: expected [ADDRESS]:PORT")
        port_text = rest[1:]
    elif text.count(":") > 1:
        raise ConfigError(f"invalid listen address {text!r}: write IPv6 as [ADDRESS]:PORT")
    else:
        host, _, port_text = text.partition(":")
    host = host or "0.0.0.0"
    if not port_text:
        return host, default_port
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"invalid listen address {text!r}: port {port_text!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"invalid listen address {text!r}: port out of range")
    return host, port


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64
    metrics: MetricsServer


class _HTTPServerV6(_HTTPServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "stacktender"

    def do_GET(self) -> None:
        metrics = self.server.metrics
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            snapshot = metrics.sweeper.wait_first(metrics.first_wait)
            if snapshot is None:
                self._send(503, b"no sweep has finished yet\n")
            else:
                self._send(200, snapshot.body, metrics.content_type)
        elif path == "/healthz":
            status, text = metrics.health()
            self._send(status, text.encode())
        elif path == "/":
            self._send(200, b"stacktender metrics: /metrics (Prometheus), /healthz\n")
        else:
            self._send(404, b"not found: try /metrics or /healthz\n")

    def _send(
        self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8"
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # A scrape every few seconds would flood stderr; keep it for --debug.
        log.debug("%s %s", self.address_string(), format % args)
