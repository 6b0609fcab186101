"""logs trace: id closure and hops on hand-made records, then real testcloud requests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stacktender.errors import ConfigError
from stacktender.logs.reading import LogQuery
from stacktender.logs.record import LogRecord
from stacktender.logs.trace import hops_of, related_ids, trace

G = "req-11111111-1111-1111-1111-111111111111"
API = "req-aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"
NET = "req-bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"
OTHER = "req-cccccccc-cccc-cccc-cccc-cccccccccccc"
VM = "6f0c2d9e-0000-4000-8000-000000000001"


def _record(ts: float, service: str, rid: str | None, gid: str | None = None, **kw: Any):
    return LogRecord(
        ts,
        "ctl1",
        service,
        kw.pop("level", "INFO"),
        "x",
        1,
        rid,
        gid,
        message=kw.pop("message", f"{service} at {ts}"),
        lines=["line"],
        **kw,
    )


RECORDS = [
    _record(1.0, "nova-api", API, G, message='"POST /v2.1/servers" status: 202'),
    _record(1.5, "neutron-api", NET, G),
    _record(2.0, "nova-compute", API, G, instance=VM),
    _record(
        2.1,
        "nova-compute",
        API,
        G,
        level="ERROR",
        message="Build failed",
        traceback=["Traceback (most recent call last):", "ValueError: boom"],
    ),
    _record(3.0, "nova-api", OTHER, None, instance=VM, message="DELETE later"),
    _record(4.0, "nova-api", "req-dddddddd-dddd-dddd-dddd-dddddddddddd", None),
]


def test_request_id_brings_its_global_id_and_every_service_under_it() -> None:
    assert related_ids(RECORDS, API) == {API, G, NET}
    assert related_ids(RECORDS, NET) == {API, G, NET}


def test_instance_brings_every_request_that_logged_it_but_not_the_reverse() -> None:
    assert related_ids(RECORDS, VM) == {VM, API, G, NET, OTHER}
    # tracing the boot must not pull in the later delete of the same instance
    assert OTHER not in related_ids(RECORDS, G)


def test_trace_timeline_hops_and_failure() -> None:
    result = trace(lambda: RECORDS, API)
    assert [r.ts for r in result.records] == [1.0, 1.5, 2.0, 2.1]
    assert [(h.service, len(h.records)) for h in result.hops] == [
        ("nova-api", 1),
        ("neutron-api", 1),
        ("nova-compute", 2),
    ]
    assert result.duration == pytest.approx(1.1)
    failure = result.failure
    assert failure is not None and failure.service == "nova-compute"
    assert failure.summary == "Build failed"
    rows = result.rows()
    assert [row["gap"] for row in rows] == [0.0, 0.5, 0.5]
    assert result.as_dict()["failed"]["service"] == "nova-compute"


def test_hops_split_when_a_service_comes_back() -> None:
    records = [
        _record(1, "nova-api", API),
        _record(2, "nova-conductor", API),
        _record(3, "nova-api", API),
    ]
    assert [h.service for h in hops_of(records)] == ["nova-api", "nova-conductor", "nova-api"]


def test_unknown_id_and_empty_id_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="appears in none of the logs"):
        trace(lambda: RECORDS, "req-ffffffff-ffff-ffff-ffff-ffffffffffff")
    with pytest.raises(ConfigError, match="needs a request id"):
        trace(lambda: RECORDS, "  ")


# -- the testcloud's real logs ------------------------------------------------------------


@pytest.mark.testcloud
def test_failed_boot_traced_across_services_to_the_scheduler(
    testcloud: Any, testcloud_scenario: Any
) -> None:
    logs = Path(testcloud.settings.logs)
    query = LogQuery(paths=[str(logs)])
    result = trace(query.records, testcloud_scenario.failed_boot)
    services = {r.service for r in result.records}
    assert {"nova-api", "nova-conductor", "nova-scheduler", "placement-api"} <= services
    failure = result.failure
    assert failure is not None
    assert failure.service == "nova-conductor"
    assert "NoValidHost" in failure.summary or "No valid host" in failure.summary
    assert any(r.instance == testcloud_scenario.failed_server for r in result.records)
    assert result.records == sorted(result.records, key=lambda r: r.ts)


@pytest.mark.testcloud
def test_boot_trace_reaches_compute_and_neutron_and_did_not_fail(
    testcloud: Any, testcloud_scenario: Any
) -> None:
    query = LogQuery(paths=[str(testcloud.settings.logs)])
    result = trace(query.records, testcloud_scenario.boot)
    services = {r.service for r in result.records}
    assert {"nova-api", "nova-compute", "neutron-api", "placement-api"} <= services
    assert result.failure is None
    # a nova-api request id of the boot leads to the same trace as the global id
    local = next(r.request_id for r in result.records if r.service == "nova-api")
    assert local is not None
    assert {r.lineno for r in trace(query.records, local).records} >= {
        r.lineno for r in result.records if r.service == "nova-compute"
    }


@pytest.mark.testcloud
def test_instance_trace_covers_boot_resize_and_delete(
    testcloud: Any, testcloud_scenario: Any
) -> None:
    query = LogQuery(paths=[str(testcloud.settings.logs)])
    result = trace(query.records, testcloud_scenario.server)
    assert {testcloud_scenario.boot, testcloud_scenario.resize, testcloud_scenario.delete} <= (
        result.ids
    )
