"""The runner: hard timeouts, error classification, concurrency, masking, sweep workers."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import free_port, silent_server

from stacktender.app import App
from stacktender.checks.base import Check, CheckContext, Outcome
from stacktender.checks.runner import resolve_instance, split_by_service
from stacktender.config import parse_config
from stacktender.errors import CheckError, ConfigError, ServiceUnreachable, UnknownCheckError
from stacktender.hookspecs import hookimpl
from stacktender.results import Status, ThresholdSpec


def make_check(name: str, collect: Any, service: str = "test", **kwargs: Any) -> Check:
    def evaluate(data: Any, ctx: CheckContext) -> Outcome:
        value = float(data)
        status = ctx.thresholds.status("value", value)
        return Outcome(status, f"value {value:g}", perfdata=[ctx.thresholds.perf("value", value)])

    return Check(
        name=name,
        service=service,
        description="a test check",
        collect=collect,
        evaluate=evaluate,
        default_url="test://user:pw-secret@127.0.0.1:1/",
        thresholds=(ThresholdSpec("value", "a value", "10", "20"),),
        **kwargs,
    )


class Plugin:
    def __init__(self, *checks: Check) -> None:
        self.checks = list(checks)

    @hookimpl
    def stacktender_checks(self) -> list[Check]:
        return self.checks


def app_with(*checks: Check, config: str = "") -> App:
    return App(parse_config(config), plugins=[Plugin(*checks)], load_entrypoints=False)


def test_thresholds_and_perfdata_flow_through() -> None:
    app = app_with(make_check("val", lambda ctx: 15))
    result = app.run(app.instance("val"))
    assert result.status is Status.WARNING
    assert result.perfdata[0].to_nagios() == "value=15;10;20"
    result = app.run(app.instance("val", critical={"value": "14"}))
    assert result.status is Status.CRITICAL


def test_hung_check_is_critical_within_its_timeout() -> None:
    release = threading.Event()
    app = app_with(make_check("hang", lambda ctx: release.wait(60)))
    started = time.monotonic()
    result = app.run(app.instance("hang", timeout=0.3))
    release.set()
    assert result.status is Status.CRITICAL
    assert "no answer" in result.summary and "within 0.3s" in result.summary
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("error", "status", "text"),
    [
        (ServiceUnreachable("login refused"), Status.CRITICAL, "login refused"),
        (CheckError("no wsrep"), Status.UNKNOWN, "no wsrep"),
        (ConnectionRefusedError(111, "Connection refused"), Status.CRITICAL, "Connection refused"),
        (TimeoutError("timed out"), Status.CRITICAL, "timed out"),
        (KeyError("oops"), Status.UNKNOWN, "check failed: KeyError"),
    ],
)
def test_errors_are_classified(error: Exception, status: Status, text: str) -> None:
    def collect(ctx: CheckContext) -> Any:
        raise error

    app = app_with(make_check("err", collect))
    result = app.run(app.instance("err"))
    assert result.status is status
    assert text in result.summary
    assert "\n" not in result.summary


def test_secrets_never_reach_results() -> None:
    def collect(ctx: CheckContext) -> Any:
        raise ServiceUnreachable(f"cannot log in to {ctx.target.url} with {ctx.target.password}")

    app = app_with(make_check("leak", collect))
    result = app.run(app.instance("leak"))
    assert "pw-secret" not in result.summary + result.target
    assert "***" in result.summary


def test_configured_secret_is_masked_anywhere() -> None:
    def collect(ctx: CheckContext) -> Any:
        raise CheckError(f"driver said: {ctx.option('token')} is wrong")

    check = make_check("tok", collect, options={"token": None})
    config = "checks:\n  tok:\n    options: {token: abcdef123}\n"
    app = app_with(check, config=config)
    result = app.run(app.instance("tok"))
    assert "abcdef123" not in result.summary


def test_sweep_runs_concurrently() -> None:
    # Every check waits for all the others: this only completes when they run at once.
    barrier = threading.Barrier(8, timeout=5)
    checks = [make_check(f"c{i}", lambda ctx: barrier.wait() * 0) for i in range(8)]
    app = app_with(*checks)
    results = app.sweep(concurrency=8)
    assert [r.status for r in results] == [Status.OK] * 8
    assert [r.name for r in results] == [f"c{i}" for i in range(8)]


def test_sweep_concurrency_is_bounded() -> None:
    running = 0
    peak = 0
    lock = threading.Lock()

    def collect(ctx: CheckContext) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return 0

    app = app_with(*[make_check(f"c{i}", collect) for i in range(12)])
    app.sweep(concurrency=3)
    assert peak <= 3


def test_sweep_uses_config_list_and_filters_by_name() -> None:
    config = """
targets:
  other: test://10.1.1.1:99/
sweep:
  - val
  - {check: val, name: val-other, target: other, critical: {value: "1"}}
"""
    app = app_with(make_check("val", lambda ctx: 5), config=config)
    instances = app.sweep_instances()
    assert [(i.name, i.target.url) for i in instances] == [
        ("val", "test://user:pw-secret@127.0.0.1:1/"),
        ("val-other", "test://10.1.1.1:99/"),
    ]
    results = app.sweep(app.sweep_instances(["val-other"]))
    assert [(r.name, r.status) for r in results] == [("val-other", Status.CRITICAL)]
    with pytest.raises(UnknownCheckError):
        app.sweep_instances(["nope"])


def test_sweep_config_naming_unknown_check_names_the_line(tmp_path: Any) -> None:
    config = parse_config("sweep:\n  - val\n  - check: nope\n", tmp_path / "s.yaml")
    app = App(config, plugins=[Plugin(make_check("val", lambda ctx: 1))], load_entrypoints=False)
    with pytest.raises(ConfigError, match=r"s.yaml:3: unknown check 'nope'"):
        app.sweep_instances()


def test_unknown_option_and_target_are_errors() -> None:
    app = app_with(make_check("val", lambda ctx: 5))
    with pytest.raises(ConfigError, match="has no option 'colour'"):
        app.instance("val", options={"colour": "red"})
    with pytest.raises(ConfigError, match="unknown target 'db9'"):
        app.instance("val", target="db9")


def test_host_and_port_overrides_keep_credentials() -> None:
    app = app_with(make_check("val", lambda ctx: 5))
    inst = app.instance("val", host="db2", port=3307)
    assert inst.target.url == "test://user:pw-secret@db2:3307/"
    assert inst.target.masked() == "test://user:***@db2:3307/"
    inst = app.instance("val", host="::1")
    assert inst.target.host == "::1"


def test_duplicate_check_names_are_refused() -> None:
    app = App(
        parse_config(""),
        plugins=[Plugin(make_check("x", lambda c: 1)), Plugin(make_check("x", lambda c: 2))],
        load_entrypoints=False,
    )
    with pytest.raises(ConfigError, match="two plugins provide a check named 'x'"):
        _ = app.checks


# -- sweeps spread over processes ------------------------------------------------------------


def test_split_keeps_services_whole_and_balances_by_count() -> None:
    checks = {
        service: make_check(f"{service}-check", lambda ctx: 1, service=service)
        for service in ("rabbitmq", "mysql", "postgres", "memcached")
    }
    order = ["memcached", "rabbitmq", "mysql", "rabbitmq", "postgres", "rabbitmq", "mysql"]
    app = app_with(*checks.values())
    instances = [
        resolve_instance(checks[s], app.config, name=f"{s}-{i}") for i, s in enumerate(order)
    ]
    groups = split_by_service(instances, 2)
    services = [{i.check.service for _, i in group} for group in groups]
    # rabbitmq (3), then mysql (2) to the other group, memcached (listed before postgres)
    # to that smaller group, postgres to the first of the two now equal ones.
    assert services == [{"rabbitmq", "postgres"}, {"mysql", "memcached"}]
    assert sorted(index for group in groups for index, _ in group) == list(range(len(order)))
    assert all([index for index, _ in g] == sorted(index for index, _ in g) for g in groups)
    assert len(split_by_service(instances, 8)) == 4  # never more groups than services
    assert len(split_by_service(instances[1::2], 2)) == 1  # rabbitmq only: nothing to split


def pid_check(name: str, service: str) -> Check:
    return Check(
        name=name,
        service=service,
        description="reports the process it ran in",
        collect=lambda ctx: os.getpid(),
        evaluate=lambda pid, ctx: Outcome(Status.OK, f"pid {pid}"),
        default_url="test://127.0.0.1/",
    )


def test_sweep_beside_running_threads_stays_in_one_process() -> None:
    # serve-metrics sweeps from a background thread: forking there could copy held locks.
    app = app_with(pid_check("a", "one"), pid_check("b", "two"), pid_check("c", "three"))
    release = threading.Event()
    other = threading.Thread(target=release.wait, daemon=True)
    other.start()
    try:
        results = app.sweep(processes=2)
    finally:
        release.set()
    assert [r.summary for r in results] == [f"pid {os.getpid()}"] * 3


MYSQL_URL = "mysql://root@127.0.0.1:3306/"
PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
RABBIT_URL = "http://guest:guest@127.0.0.1:15672"


def _shape(result: dict[str, Any]) -> dict[str, Any]:
    """A result without what changes from one run to the next (timings, live counters)."""
    number = re.compile(r"\d+(?:\.\d+)?")
    shaped = {k: v for k, v in result.items() if k != "duration"}
    shaped["summary"] = number.sub("#", result["summary"])
    shaped["details"] = [number.sub("#", line) for line in result["details"]]
    shaped["perfdata"] = [{**p, "value": None} for p in result["perfdata"]]
    return shaped


@pytest.mark.integration
def test_split_sweep_gives_the_results_of_one_process(
    cli_run: Callable[..., Any], memcached_server: int
) -> None:
    refused = free_port()
    config = f"""
sweep:
  - {{check: rabbitmq-node, url: "{RABBIT_URL}"}}
  - {{check: rabbitmq-health, url: "{RABBIT_URL}"}}
  - {{check: mysql-connection, url: "{MYSQL_URL}"}}
  - {{check: postgres-connection, url: "{PG_URL}"}}
  - {{check: memcached, url: "memcached://127.0.0.1:{memcached_server}"}}
  - {{check: disk-free, options: {{path: /}}}}
  - {{check: postgres-connection, name: pg-refused,
      url: "postgresql://postgres:pw-secret@127.0.0.1:{refused}/postgres"}}
  - {{check: mysql-connection, name: mysql-refused, url: "mysql://root@127.0.0.1:{refused}/"}}
  - {{check: rabbitmq-node, name: rabbit-refused, url: "http://guest:guest@127.0.0.1:{refused}"}}
"""
    one = cli_run("--debug", "sweep", "-f", "json", "--processes", "1", config=config)
    two = cli_run("--debug", "sweep", "-f", "json", config=config)
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    assert "worker process" not in one.stderr
    assert re.search(r"sweep: \d check\(s\) of .+ in worker process \d+", two.stderr)
    single, split = json.loads(one.stdout), json.loads(two.stdout)
    assert [_shape(r) for r in split] == [_shape(r) for r in single]
    statuses = [r["status"] for r in split]
    assert statuses == ["OK"] * 6 + ["CRITICAL"] * 3, split
    assert "pw-secret" not in two.stdout and "***" in split[6]["target"]


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.fixture
def hanging_sweep(tmp_path: Path) -> Iterator[Callable[[float], tuple[subprocess.Popen[str], int]]]:
    """Start a CLI sweep whose worker holds two memcached checks on a port that never
    answers (RabbitMQ and PostgreSQL stay in the parent); return it and its worker's pid."""
    procs: list[subprocess.Popen[str]] = []
    workers: list[int] = []

    with silent_server() as port:

        def start(timeout: float) -> tuple[subprocess.Popen[str], int]:
            config = tmp_path / "hang.yaml"
            silent = f"url: memcached://127.0.0.1:{port}, timeout: {timeout}"
            config.write_text(
                "sweep:\n"
                f"  - {{check: rabbitmq-node, url: '{RABBIT_URL}'}}\n"
                f"  - {{check: rabbitmq-health, url: '{RABBIT_URL}'}}\n"
                f"  - {{check: memcached, name: silent-1, {silent}}}\n"
                f"  - {{check: memcached, name: silent-2, {silent}}}\n"
                f"  - {{check: postgres-connection, url: '{PG_URL}'}}\n"
            )
            cli = [sys.executable, "-m", "stacktender.cli.main", "--config", str(config)]
            proc = subprocess.Popen(
                [*cli, "sweep", "-f", "json"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            procs.append(proc)
            deadline = time.monotonic() + 20
            while not (children := _children(proc.pid)) and time.monotonic() < deadline:
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.005)
            assert len(children) == 1, "no sweep worker appeared"
            workers.append(children[0])
            return proc, children[0]

        try:
            yield start
        finally:
            for pid in workers:  # a worker left behind (the test failed): do not leave it
                if pid in _children(os.getpid()) or Path(f"/proc/{pid}").exists():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                proc.communicate()


@pytest.mark.integration
def test_killed_worker_makes_its_checks_unknown(hanging_sweep: Any) -> None:
    proc, worker = hanging_sweep(10.0)
    started = time.monotonic()
    time.sleep(0.3)  # the worker is inside its checks, waiting on the silent port
    os.kill(worker, signal.SIGKILL)
    out, err = proc.communicate(timeout=30)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, err
    results = {r["name"]: r for r in json.loads(out)}
    assert [results[n]["status"] for n in ("rabbitmq-node", "rabbitmq-health")] == ["OK"] * 2
    assert results["postgres-connection"]["status"] == "OK"
    for name in ("silent-1", "silent-2"):
        assert results[name]["status"] == "UNKNOWN"
        assert results[name]["summary"] == (
            f"sweep worker process {worker} was killed by signal 9 (SIGKILL) "
            "before reporting this check"
        )
    assert elapsed < 10  # the silent checks' own timeout was never waited for
    assert not Path(f"/proc/{worker}").exists()  # reaped


@pytest.mark.integration
def test_hung_worker_is_killed_and_its_checks_unknown(hanging_sweep: Any) -> None:
    proc, worker = hanging_sweep(2.0)
    started = time.monotonic()
    os.kill(worker, signal.SIGSTOP)  # before its 2 s checks can report
    out, err = proc.communicate(timeout=30)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, err
    results = {r["name"]: r for r in json.loads(out)}
    assert results["rabbitmq-node"]["status"] == "OK"
    assert results["postgres-connection"]["status"] == "OK"
    for name in ("silent-1", "silent-2"):
        assert results[name]["status"] == "UNKNOWN"
        # patience: the longest timeout (2) + the runner's grace (0.5) + slack (2)
        assert results[name]["summary"] == (
            f"sweep worker process {worker} reported nothing for 4.5s and was killed"
        )
    assert 4.5 <= elapsed < 10
    assert not Path(f"/proc/{worker}").exists()
