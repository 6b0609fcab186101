"""The runner: hard timeouts, error classification, concurrency, masking."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from stacktender.app import App
from stacktender.checks.base import Check, CheckContext, Outcome
from stacktender.config import parse_config
from stacktender.errors import CheckError, ConfigError, ServiceUnreachable, UnknownCheckError
from stacktender.hookspecs import hookimpl
from stacktender.results import Status, ThresholdSpec


def make_check(name: str, collect: Any, **kwargs: Any) -> Check:
    def evaluate(data: Any, ctx: CheckContext) -> Outcome:
        value = float(data)
        status = ctx.thresholds.status("value", value)
        return Outcome(status, f"value {value:g}", perfdata=[ctx.thresholds.perf("value", value)])

    return Check(
        name=name,
        service="test",
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
