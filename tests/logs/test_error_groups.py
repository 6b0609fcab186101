"""logs errors: grouping by exception and raising frame."""

from __future__ import annotations

from typing import Any

import pytest

from stacktender.logs.error_groups import classify, group_errors
from stacktender.logs.reading import LogQuery
from stacktender.logs.record import LogRecord

SITE = "/usr/lib/python3/dist-packages"


def _tb(frame_file: str, func: str, exc: str, line: int = 10) -> list[str]:
    return [
        "Traceback (most recent call last):",
        f'  File "{SITE}/nova/compute/manager.py", line 2000, in _build',
        "    self.driver.spawn()",
        f'  File "{SITE}/{frame_file}", line {line}, in {func}',
        "    raise X",
        exc,
        "",
    ]


def _record(ts: float, host: str, level: str, message: str, tb: list[str] | None = None):
    return LogRecord(
        ts,
        host,
        "nova-compute",
        level,
        "nova.compute.manager",
        1,
        message=message,
        lines=[message],
        traceback=tb or [],
    )


def test_classify_takes_exception_and_innermost_frame_without_line_numbers() -> None:
    a = _record(
        1, "c1", "ERROR", "Build failed", _tb("nova/virt/fake.py", "spawn", "ValueError: x")
    )
    b = _record(
        2,
        "c2",
        "ERROR",
        "Build failed",
        _tb("nova/virt/fake.py", "spawn", "ValueError: y", line=99),
    )
    assert classify(a) == ("ValueError", "nova/virt/fake.py:spawn")
    assert classify(a) == classify(b)


def test_chained_exceptions_group_by_the_last_one() -> None:
    tb = [
        *_tb("a.py", "first", "KeyError: 'k'")[:-1],
        "During handling of the above exception, another exception occurred:",
        *_tb("oslo_db/api.py", "wrapper", "oslo_db.exception.DBError: gone"),
    ]
    record = _record(1, "c1", "ERROR", "DB failed", tb)
    assert classify(record) == ("oslo_db.exception.DBError", "oslo_db/api.py:wrapper")


def test_error_without_traceback_groups_by_masked_message() -> None:
    one = _record(1, "c1", "ERROR", "Instance 6f0c2d9e-0000-4000-8000-000000000001 vanished")
    two = _record(2, "c1", "ERROR", "Instance 7a1c2d9e-0000-4000-8000-000000000002 vanished")
    assert classify(one) == classify(two)
    assert classify(one)[0] == "-"


def test_groups_count_hosts_first_last_and_ignore_lower_levels() -> None:
    tb = _tb("nova/virt/fake.py", "spawn", "ValueError: x")
    records = [
        _record(5, "c1", "ERROR", "Build failed", tb),
        _record(1, "c2", "ERROR", "Build failed", tb),
        _record(3, "c1", "ERROR", "Other thing broke"),
        _record(4, "c1", "WARNING", "just a warning"),
        # a warning carrying a real traceback still counts (LOG.warning(..., exc_info=True))
        _record(6, "c3", "WARNING", "retrying", _tb("x.py", "y", "TimeoutError: t")),
        # indented continuation lines of a warning are no traceback
        _record(7, "c1", "WARNING", "deprecated", ["  code_line()"]),
    ]
    groups = group_errors(records)
    assert [(g.exception, g.count) for g in groups] == [
        ("ValueError", 2),
        ("-", 1),
        ("TimeoutError", 1),
    ]
    first = groups[0]
    assert (first.first_seen, first.last_seen, first.hosts) == (1, 5, {"c1", "c2"})
    row = first.as_row()
    assert row["frame"] == "nova/virt/fake.py:spawn" and row["hosts"] == "c1,c2"
    assert [g.exception for g in group_errors(records, min_level="WARNING")][:2] == [
        "ValueError",
        "-",
    ]


@pytest.mark.testcloud
def test_failed_boot_shows_as_no_valid_host_group(testcloud: Any, testcloud_scenario: Any) -> None:
    query = LogQuery(paths=[str(testcloud.settings.logs)])
    groups = group_errors(query.records())
    novalid = [g for g in groups if g.exception == "nova.exception.NoValidHost"]
    assert novalid, [g.as_row() for g in groups]
    assert novalid[0].frame == "nova/scheduler/manager.py:select_destinations"
    assert "nova-conductor" in novalid[0].services
