"""memcached checks against a real memcached the suite starts."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from support import silent_server

from stacktender.app import App
from stacktender.checks.base import CheckContext
from stacktender.checks.memcached import MEMCACHED, MemcachedStats, evaluate
from stacktender.results import Status, Thresholds

pytestmark = pytest.mark.integration


def url(port: int) -> str:
    return f"memcached://127.0.0.1:{port}"


def test_ok_against_real_server(make_app: Callable[..., App], memcached_server: int) -> None:
    app = make_app()
    result = app.run(app.instance("memcached", url=url(memcached_server)))
    assert result.status is Status.OK, result.summary
    assert "memcached 1." in result.summary
    labels = {p.label for p in result.perfdata}
    assert {"connections", "hit_ratio", "evictions"} <= labels


def test_hit_ratio_threshold_with_real_misses(
    make_app: Callable[..., App], memcached_server: int
) -> None:
    with socket.create_connection(("127.0.0.1", memcached_server), timeout=5) as sock:
        for i in range(20):
            sock.sendall(f"get missing-key-{i}\r\n".encode())
            assert sock.recv(100).startswith(b"END")
    app = make_app()
    result = app.run(
        app.instance("memcached", url=url(memcached_server), warning={"hit_ratio": "99:"})
    )
    assert result.status is Status.WARNING
    assert any("hit ratio" in d for d in result.details)


def test_connection_limit_with_held_connections(
    make_app: Callable[..., App], memcached_server: int
) -> None:
    held = [socket.create_connection(("127.0.0.1", memcached_server)) for _ in range(10)]
    try:
        time.sleep(0.2)
        app = make_app()
        # the server runs with -c 64: 10+ connections is over 15 %
        result = app.run(
            app.instance("memcached", url=url(memcached_server), critical={"connections": "15"})
        )
        assert result.status is Status.CRITICAL
    finally:
        for sock in held:
            sock.close()


def test_refused_port_is_critical(make_app: Callable[..., App]) -> None:
    from support import free_port

    app = make_app()
    result = app.run(app.instance("memcached", url=url(free_port())))
    assert result.status is Status.CRITICAL
    assert "Connection refused" in result.summary


def test_silent_server_is_critical_within_timeout(make_app: Callable[..., App]) -> None:
    app = make_app()
    with silent_server() as port:
        started = time.monotonic()
        result = app.run(app.instance("memcached", url=url(port), timeout=1))
    assert result.status is Status.CRITICAL
    assert time.monotonic() - started < 3


def test_cli_plugin_protocol(cli_run: Callable[..., Any], memcached_server: int) -> None:
    proc = cli_run("check", "memcached", "--url", url(memcached_server), "-w", "90", "-c", "95")
    assert proc.returncode == 0, proc.stderr
    status_line = proc.stdout.splitlines()[0]
    assert status_line.startswith("MEMCACHED OK - memcached ")
    assert "| connections=" in status_line and ";90;95;0;100" in status_line


def test_evaluate_unit() -> None:
    stats = MemcachedStats(
        {
            "version": "1.6.18",
            "uptime": "5",
            "get_hits": "90",
            "get_misses": "10",
            "curr_connections": "90",
            "max_connections": "100",
            "evictions": "3",
            "curr_items": "1",
            "bytes": "10",
            "limit_maxbytes": "100",
        }
    )
    ctx = CheckContext(
        check=MEMCACHED,
        target=None,  # type: ignore[arg-type]
        thresholds=Thresholds(MEMCACHED.thresholds, {"evictions": "0"}),
        options={},
        timeout=1,
    )
    outcome = evaluate(stats, ctx)
    assert outcome.status is Status.WARNING  # 90% connections (warn 80) and evictions > 0
    assert "hit ratio 90.0%" in outcome.summary
