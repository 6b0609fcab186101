"""``serve-metrics``: the HTTP endpoint in-process, the real CLI under signals, and a real
Prometheus (``/usr/bin/prometheus``) scraping it and evaluating the shipped rules."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import free_port, require_binary, running, wait_until

from stacktender.checks.base import Check, CheckContext, Outcome
from stacktender.errors import ConfigError
from stacktender.hookspecs import hookimpl
from stacktender.monitoring.metrics_server import (
    MetricsServer,
    MetricsServerError,
    Sweeper,
    parse_listen,
)
from stacktender.monitoring.prometheus import rules_file
from stacktender.render.prometheus import CONTENT_TYPE
from stacktender.results import Status

AWKWARD = 'tmp "disk" \\ one\ntwo'


def _sleep(ctx: CheckContext) -> float:
    seconds = float(ctx.option("seconds"))
    time.sleep(seconds)
    return seconds


def _slept(seconds: float, ctx: CheckContext) -> Outcome:
    return Outcome(Status.OK, f"slept {seconds}s")


SLOW = Check(
    name="slow-test",
    service="none",
    description="sleeps, to see what scrapes do during a sweep",
    collect=_sleep,
    evaluate=_slept,
    default_url="none://",
    options={"seconds": 0.5},
)


class SlowPlugin:
    @staticmethod
    @hookimpl
    def stacktender_checks() -> list[Check]:
        return [SLOW]


def families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {
        f.name: [(s.labels, s.value) for s in f.samples]
        for f in text_string_to_metric_families(text)
    }


@pytest.fixture
def config_text(tmp_path: Path, memcached_server: int) -> str:
    return textwrap.dedent(
        f"""\
        timeout: 5
        targets:
          mc: {{url: "memcached://127.0.0.1:{memcached_server}"}}
        sweep:
          - check: disk-free
            name: {json.dumps(AWKWARD)}
            options: {{path: "{tmp_path}"}}
            warning: {{free: "101:"}}
          - check: memcached
            target: mc
        """
    )


# -- the library, in-process ------------------------------------------------------------------


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:9469") == ("127.0.0.1", 9469)
    assert parse_listen(":9100") == ("0.0.0.0", 9100)
    assert parse_listen("[::1]:8000") == ("::1", 8000)
    assert parse_listen("localhost") == ("localhost", 9469)
    assert parse_listen("0.0.0.0:0") == ("0.0.0.0", 0)
    for bad in ("::1:80", "[::1", "host:http", "host:70000", "[::1]x"):
        with pytest.raises(ConfigError):
            parse_listen(bad)


@pytest.mark.integration
def test_serves_the_latest_sweep(make_app: Callable[..., Any], config_text: str) -> None:
    app = make_app(config_text)
    with MetricsServer.for_app(app, port=0, interval=60) as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/metrics", server.url)
        server.start()
        reply = httpx.get(server.url, timeout=10)
        assert reply.status_code == 200
        assert reply.headers["content-type"] == CONTENT_TYPE
        got = families(reply.text)
        disk = {"name": AWKWARD, "check": "disk-free"}
        mc = {"name": "memcached", "check": "memcached"}
        assert got["stacktender_check_status"] == [(disk, 1.0), (mc, 0.0)]
        assert got["stacktender_check_timeout_seconds"] == [(disk, 5.0), (mc, 5.0)]
        values = {
            (labels["name"], labels["label"]): v for labels, v in got["stacktender_check_value"]
        }
        assert 0 <= values[(AWKWARD, "free")] <= 100
        assert values[("memcached", "connections")] > 0
        assert got["stacktender_sweeps"] == [({}, 1.0)]
        assert got["stacktender_sweep_errors"] == [({}, 0.0)]
        assert got["stacktender_sweep_interval_seconds"] == [({}, 60.0)]
        [(_, finished)] = got["stacktender_sweep_timestamp_seconds"]
        assert abs(finished - time.time()) < 10

        health = httpx.get(server.url.replace("/metrics", "/healthz"))
        assert health.status_code == 200 and health.text.startswith("ok: ")
        assert httpx.get(server.url.replace("/metrics", "/nope")).status_code == 404


def _slow_app(make_app: Callable[..., Any], seconds: float) -> Any:
    return make_app(
        f"sweep:\n  - check: slow-test\n    options: {{seconds: {seconds}}}\n",
        plugins=[SlowPlugin],
    )


def test_scrapes_never_wait_for_a_sweep_nor_start_one(make_app: Callable[..., Any]) -> None:
    app = _slow_app(make_app, 0.4)
    sweeper = Sweeper(app, app.sweep_instances(), interval=0.5)
    with MetricsServer(sweeper, port=0) as server:
        started = time.monotonic()
        server.start()
        # The first scrape waits for the first sweep rather than failing.
        first = httpx.get(server.url, timeout=10)
        assert first.status_code == 200
        assert time.monotonic() - started >= 0.35
        # 40 concurrent scrapes while sweeps run: each answers at once from the snapshot.
        with httpx.Client(timeout=5) as client, ThreadPoolExecutor(20) as pool:

            def scrape(_: int) -> tuple[int, float]:
                t0 = time.monotonic()
                reply = client.get(server.url)
                return reply.status_code, time.monotonic() - t0

            replies = list(pool.map(scrape, range(40)))
        assert {code for code, _ in replies} == {200}
        slowest = max(took for _, took in replies)
        assert slowest < 0.3, f"a scrape waited {slowest:.2f}s"
        elapsed = time.monotonic() - started
        # Sweeps follow the interval (start to start), not the number of scrapes.
        assert sweeper.sweeps <= math.ceil(elapsed / 0.5) + 1
        print(f"40 concurrent scrapes, slowest {slowest * 1000:.0f} ms; {sweeper.sweeps} sweeps")


def test_before_the_first_sweep(make_app: Callable[..., Any]) -> None:
    app = _slow_app(make_app, 1.0)
    sweeper = Sweeper(app, app.sweep_instances(), interval=60)
    with MetricsServer(sweeper, port=0, first_wait=0.1) as server:
        server.start()
        assert httpx.get(server.url).status_code == 503
        health = httpx.get(server.url.replace("/metrics", "/healthz"))
        assert (health.status_code, health.text) == (503, "no sweep has finished yet\n")
        wait_until(lambda: sweeper.latest is not None, 5, "first sweep")
        assert httpx.get(server.url).status_code == 200


def test_health_turns_stale_and_failed_sweeps_keep_the_last_results(
    make_app: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _slow_app(make_app, 0)
    sweeper = Sweeper(app, app.sweep_instances(), interval=0.05)
    sweeper.instances[0].timeout = 0.05
    server = MetricsServer(sweeper, port=0)
    try:
        good = sweeper.sweep_once()
        assert server.health()[0] == 200
        wait_until(lambda: server.health()[0] == 503, 5, "stale health")
        assert server.health()[1].startswith("stale: last sweep finished ")

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("store is on fire")

        monkeypatch.setattr(app, "sweep", broken)
        sweeper.start()
        wait_until(lambda: sweeper.errors >= 2, 5, "failed sweeps")
        assert sweeper.latest is good
    finally:
        server.close()


def test_port_in_use_is_a_clear_error(make_app: Callable[..., Any]) -> None:
    app = _slow_app(make_app, 0)
    with MetricsServer.for_app(app, port=0) as first:
        port = first.address[1]
        with pytest.raises(MetricsServerError, match=f"cannot listen on 127.0.0.1:{port}: "):
            MetricsServer.for_app(app, port=port)


# -- the real CLI ------------------------------------------------------------------------------


def _serve(config: Path, log: Path, *extra: str) -> Any:
    """Run ``stacktender serve-metrics`` on a port the OS picks; yield (process, url)."""
    cmd = [
        sys.executable,
        "-m",
        "stacktender.cli.main",
        "--config",
        str(config),
        "serve-metrics",
        "--listen",
        "127.0.0.1:0",
        *extra,
    ]

    def url() -> str | None:
        match = re.search(r"on (http://\S+/metrics)", log.read_text()) if log.exists() else None
        return match.group(1) if match else None

    return running(cmd, ready=lambda: url() is not None, log=log), url


@pytest.mark.integration
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_its_url_and_stops_cleanly(
    tmp_path: Path, config_text: str, signum: signal.Signals
) -> None:
    config = tmp_path / "stacktender.yaml"
    config.write_text(config_text)
    log = tmp_path / "serve.log"
    context, url = _serve(config, log, "--interval", "1")
    with context as proc:
        reply = httpx.get(url(), timeout=10)
        assert reply.status_code == 200
        assert "stacktender_check_status" in reply.text
        t0 = time.monotonic()
        os.killpg(proc.pid, signum)
        assert proc.wait(10) == 0, log.read_text()
        stopped_in = time.monotonic() - t0
    text = log.read_text()
    assert text.startswith("serving 2 checks, swept every 1s, on http://127.0.0.1:")
    assert text.rstrip().endswith("stopped")
    assert "Traceback" not in text
    assert stopped_in < 3


def test_cli_errors_are_one_line(
    cli_run: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    proc = cli_run("serve-metrics", "--listen", "host:http")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("stacktender: error: invalid listen")
    proc = cli_run("serve-metrics", "--listen", "127.0.0.1:0", "no-such-check")
    assert proc.returncode == 1
    assert "unknown check 'no-such-check'" in proc.stderr
    proc = cli_run("serve-metrics", "--help")
    assert "stacktender serve-metrics --listen :9469 --interval 60" in proc.stdout
    assert "stacktender sweep -f prometheus > /var/lib/node_exporter/" in proc.stdout


# -- a real Prometheus -------------------------------------------------------------------------


@pytest.fixture
def serve_metrics(tmp_path: Path, config_text: str) -> Iterator[str]:
    config = tmp_path / "stacktender.yaml"
    config.write_text(config_text)
    context, url = _serve(config, tmp_path / "serve.log", "--interval", "1")
    with context:
        yield str(url())


@pytest.fixture
def prometheus(tmp_path: Path, serve_metrics: str) -> Iterator[str]:
    binary = require_binary("prometheus")
    target = serve_metrics.removeprefix("http://").removesuffix("/metrics")
    port = free_port()
    root = tmp_path / "prometheus"
    root.mkdir()
    (root / "prometheus.yml").write_text(
        textwrap.dedent(
            f"""\
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            rule_files:
              - {rules_file()}
            scrape_configs:
              - job_name: stacktender
                static_configs:
                  - targets: ["{target}"]
            """
        )
    )
    api = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{api}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    cmd = [
        binary,
        f"--config.file={root / 'prometheus.yml'}",
        f"--storage.tsdb.path={root / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    with running(cmd, ready=ready, log=root / "prometheus.log", timeout=30):
        yield api


def _query(api: str, promql: str) -> list[dict[str, Any]]:
    reply = httpx.get(f"{api}/api/v1/query", params={"query": promql}, timeout=5).json()
    assert reply["status"] == "success", reply
    return list(reply["data"]["result"])


@pytest.mark.integration
def test_prometheus_scrapes_our_metrics_and_loads_the_rules(
    prometheus: str, serve_metrics: str
) -> None:
    started = time.monotonic()
    series: list[dict[str, Any]] = []

    def scraped() -> bool:
        nonlocal series
        series = _query(prometheus, "stacktender_check_status")
        return len(series) == 2

    wait_until(scraped, 20, "stacktender_check_status in Prometheus", interval=0.2)
    took = time.monotonic() - started
    instance = serve_metrics.removeprefix("http://").removesuffix("/metrics")
    by_check = {s["metric"]["check"]: s for s in series}
    assert by_check["disk-free"]["metric"] == {
        "__name__": "stacktender_check_status",
        "name": AWKWARD,  # quotes, backslash and newline, as escaped and parsed by Prometheus
        "check": "disk-free",
        "instance": instance,
        "job": "stacktender",
    }
    assert by_check["disk-free"]["value"][1] == "1"
    assert by_check["memcached"]["metric"]["name"] == "memcached"
    assert by_check["memcached"]["value"][1] == "0"

    [up] = _query(prometheus, 'up{job="stacktender"}')
    assert up["value"][1] == "1"
    [free] = _query(prometheus, 'stacktender_check_value{check="disk-free",label="free"}')
    assert free["metric"]["unit"] == "%" and 0 <= float(free["value"][1]) <= 100
    ratio = _query(
        prometheus, "stacktender_check_duration_seconds / stacktender_check_timeout_seconds"
    )
    assert len(ratio) == 2 and all(0 <= float(r["value"][1]) < 0.8 for r in ratio)

    # The shipped rules are loaded and match our real series: the WARNING is pending.
    rules = httpx.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
    loaded = {r["name"]: r for g in rules for r in g["rules"]}
    assert len(loaded) == 8 and all(r["health"] != "err" for r in loaded.values()), loaded

    def pending() -> bool:
        alerts = httpx.get(f"{prometheus}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        return any(
            a["labels"]["alertname"] == "StacktenderCheckWarning"
            and a["labels"]["name"] == AWKWARD
            and a["state"] == "pending"
            for a in alerts
        )

    wait_until(pending, 10, "StacktenderCheckWarning pending", interval=0.2)
    print(f"prometheus: first stacktender series queryable {took:.1f}s after start")
