"""The filters every logs command takes, and the time expressions they accept."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from stacktender.errors import ConfigError
from stacktender.logs.filters import LogFilter, parse_time
from stacktender.logs.record import LogRecord

NOW = 1_795_622_400.0  # 2026-11-25 16:00:00 UTC
R1, R2 = "req-aaaaaaaa-0000-4000-8000-000000000001", "req-aaaaaaaa-0000-4000-8000-000000000002"
G = "req-99999999-0000-4000-8000-000000000000"
VM = "0b7f3c4e-9a43-4d26-a8c5-3f2e1d0c9b8a"


@pytest.mark.parametrize(
    ("text", "seconds_ago"),
    [("10m", 600), ("30s", 30), ("90S", 90), ("2h", 7200), ("1d", 86400), ("2w", 1209600),
     ("1.5h", 5400)],
)  # fmt: skip
def test_relative_times(text: str, seconds_ago: float) -> None:
    assert parse_time(text, now=NOW) == NOW - seconds_ago


def test_absolute_times_and_zones() -> None:
    assert parse_time("2026-11-25T16:00:00Z") == NOW
    assert parse_time("2026-11-25 17:00:00+01:00") == NOW
    assert parse_time("2026-11-25T16:00", tz=UTC) == NOW
    assert parse_time("2026-11-25T17:00", tz=ZoneInfo("Europe/Paris")) == NOW
    naive = datetime(2026, 11, 25, 16, 0).astimezone().timestamp()  # this machine's zone
    assert parse_time("2026-11-25T16:00") == naive


@pytest.mark.parametrize("text", ["yesterday", "10 parsecs", "10", "2026-13-01", ""])
def test_bad_times_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="bad time"):
        parse_time(text)


def record(**kw: object) -> LogRecord:
    base: dict[str, object] = {"ts": NOW, "host": "ctl1", "service": "nova-api", "level": "INFO",
                               "lines": ["a line"]}  # fmt: skip
    return LogRecord(**(base | kw))  # type: ignore[arg-type]


RECORDS = {
    "debug": record(level="DEBUG"),
    "info": record(request_id=R1, global_request_id=G, user="u1", project="p1"),
    "warning": record(level="WARNING", host="cmp1", service="nova-compute", instance=VM),
    "error": record(level="ERROR", ts=NOW + 60, request_id=R2, lines=["boom", "Traceback x"]),
    "unparsed": record(level="", parsed=False, ts=NOW + 120),
}


@pytest.mark.parametrize(
    ("log_filter", "kept"),
    [
        (LogFilter(), {"debug", "info", "warning", "error", "unparsed"}),
        (LogFilter(min_level="warning"), {"warning", "error"}),
        (LogFilter(min_level="INFO"), {"info", "warning", "error", "unparsed"}),
        (LogFilter(services=("nova-c*",)), {"warning"}),
        (LogFilter(services=("nova-api", "keystone")), {"debug", "info", "error", "unparsed"}),
        (LogFilter(hosts=("cmp?",)), {"warning"}),
        (LogFilter(since=NOW + 60), {"error", "unparsed"}),
        (LogFilter(until=NOW + 60), {"debug", "info", "warning", "error"}),
        (LogFilter(since=NOW + 1, until=NOW + 60), {"error"}),
        (LogFilter(request_id=R1), {"info"}),
        (LogFilter(global_request_id=G), {"info"}),
        (LogFilter(instance=VM), {"warning"}),
        (LogFilter(project="p1"), {"info"}),
        (LogFilter(user="u1"), {"info"}),
        (LogFilter(regex="^Trace"), set()),  # search, not match, over the joined lines
        (LogFilter(regex="\\nTrace"), {"error"}),
        (LogFilter(regex="Traceback|line"), {"debug", "info", "warning", "error", "unparsed"}),
        (LogFilter(min_level="ERROR", request_id=R1), set()),
    ],
)
def test_each_filter(log_filter: LogFilter, kept: set[str]) -> None:
    assert {name for name, r in RECORDS.items() if log_filter(r)} == kept
    assert log_filter.empty == (log_filter == LogFilter())


def test_wants_source_prunes_by_service_and_host_patterns() -> None:
    f = LogFilter(services=("nova-*",), hosts=("ctl*",))
    assert f.wants_source("ctl1", "nova-api")
    assert not f.wants_source("ctl1", "neutron-server")
    assert not f.wants_source("cmp1", "nova-compute")
    assert f.wants_source("ctl1", "")  # unknown service: read it and look
    assert LogFilter().wants_source("any", "thing")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"regex": "("}, "bad --grep pattern"), ({"min_level": "LOUD"}, "unknown level 'LOUD'")],
)
def test_bad_filters_are_config_errors(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LogFilter(**kwargs)  # type: ignore[arg-type]


def test_a_window_at_the_epoch_is_still_a_filter() -> None:
    f = LogFilter(until=0.0)
    assert not f(RECORDS["info"])
    assert not f.empty
