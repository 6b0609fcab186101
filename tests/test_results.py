"""The result model: Nagios range semantics exactly as the plugin guidelines define them."""

from __future__ import annotations

import math

import pytest

from stacktender.errors import ThresholdError
from stacktender.results import (
    CheckResult,
    NagiosRange,
    PerfData,
    Status,
    Thresholds,
    ThresholdSpec,
    worst,
)

# (range, values that alert, values that do not) from the Nagios plugin development guidelines
RANGE_CASES = [
    ("10", [-1, 11, 10.5], [0, 5, 10]),
    ("10:", [9.99, -5], [10, 11, 1e9]),
    ("~:10", [10.01, 11], [-1e9, 0, 10]),
    ("10:20", [9, 21, -1], [10, 15, 20]),
    ("@10:20", [10, 15, 20], [9.99, 20.01, -1]),
    ("@~:0", [-1, 0], [0.1]),
    ("-5:-1", [0, -6], [-5, -3, -1]),
    ("1e3", [1001], [1000]),
]


@pytest.mark.parametrize(("text", "alerting", "quiet"), RANGE_CASES)
def test_nagios_range_semantics(text: str, alerting: list[float], quiet: list[float]) -> None:
    rng = NagiosRange.parse(text)
    for value in alerting:
        assert rng.alerts(value), f"{text} should alert on {value}"
    for value in quiet:
        assert not rng.alerts(value), f"{text} should not alert on {value}"


def test_range_bounds_parse() -> None:
    assert NagiosRange.parse("10") == NagiosRange(0, 10, False, "10")
    assert NagiosRange.parse("~:10").start == -math.inf
    assert NagiosRange.parse("10:").end == math.inf
    assert NagiosRange.parse(" 5 ").text == "5"
    assert NagiosRange.parse(80).end == 80


@pytest.mark.parametrize("text", ["", "abc", "@", ":", "10:5", "1:2:3", "~", "--1", "10%"])
def test_bad_ranges_say_what_is_wrong(text: str) -> None:
    with pytest.raises(ThresholdError, match="invalid threshold"):
        NagiosRange.parse(text)


def test_start_above_end_is_named() -> None:
    with pytest.raises(ThresholdError, match="start 10 is above end 5"):
        NagiosRange.parse("10:5")


def test_thresholds_critical_wins_and_defaults_apply() -> None:
    specs = [ThresholdSpec("used", "percent used", "80", "90", "%")]
    th = Thresholds(specs)
    assert th.status("used", 50) is Status.OK
    assert th.status("used", 85) is Status.WARNING
    assert th.status("used", 95) is Status.CRITICAL
    override = Thresholds(specs, {"used": "10"})
    assert override.status("used", 50) is Status.WARNING
    assert override.status("used", 95) is Status.CRITICAL  # default critical still applies
    # an empty or null range switches that level off
    assert Thresholds(specs, critical={"used": ""}).status("used", 95) is Status.WARNING
    assert Thresholds(specs, critical={"used": None}).status("used", 95) is Status.WARNING


def test_thresholds_reject_unknown_names_and_bad_ranges() -> None:
    specs = [ThresholdSpec("used", "percent used")]
    with pytest.raises(ThresholdError, match=r"unknown threshold 'free'.*known: used"):
        Thresholds(specs, {"free": "10"})
    with pytest.raises(ThresholdError, match=r"threshold 'used'.*'x'"):
        Thresholds(specs, {"used": "x"})


def test_perf_carries_ranges() -> None:
    th = Thresholds([ThresholdSpec("used", "u", "80", "@90:100", "%")])
    perf = th.perf("used", 42.5, minimum=0, maximum=100)
    assert perf.to_nagios() == "used=42.5%;80;@90:100;0;100"


def test_perfdata_format_quotes_labels_and_trims() -> None:
    assert PerfData("a b", 1).to_nagios() == "'a b'=1"
    assert PerfData("time", 0.25, "s").to_nagios() == "time=0.25s"
    assert PerfData("x", 3, critical="5").to_nagios() == "x=3;;5"
    assert PerfData("it's", 1).to_nagios() == "it_s=1"


def test_worst_orders_like_icinga() -> None:
    assert worst([]) is Status.OK
    assert worst([Status.OK, Status.UNKNOWN]) is Status.UNKNOWN
    assert worst([Status.UNKNOWN, Status.WARNING]) is Status.WARNING
    assert worst([Status.WARNING, Status.CRITICAL, Status.UNKNOWN]) is Status.CRITICAL


def test_result_to_dict() -> None:
    r = CheckResult("x", Status.WARNING, "meh", perfdata=[PerfData("a", 1)])
    d = r.to_dict()
    assert d["status"] == "WARNING" and d["exit_code"] == 1 and d["check"] == "x"
    assert d["perfdata"][0]["label"] == "a"
