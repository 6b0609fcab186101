"""LokiDestination against a local server answering as the push API documentation
describes (no Loki can run here)."""

from __future__ import annotations

import gzip
import json

import pytest
from ship_support import Answer, FakeLoki, FakeServer

from stacktender.logs.record import LogRecord
from stacktender.logs.ship import DeliveryError, LokiDestination, RejectedRecords, ShipError
from stacktender.logs.ship.base import ShipRecord
from stacktender.logs.ship.loki import push_body

T0 = 1795622400.123456  # 2026-11-25 13:20:00.123456 UTC


def _record(n: int, ts: float, level: str = "INFO", service: str = "nova-api",
            **fields: object) -> ShipRecord:  # fmt: skip
    record = LogRecord(
        ts, "ctl1", service, level, "nova.api", 42, message=f"message {n}",
        lines=[f"2026-11-25 ... {level} nova.api message {n}"], lineno=n, fmt="oslo",
    )  # fmt: skip
    for key, value in fields.items():
        setattr(record, key, value)
    return ShipRecord(record, f"id-{n}", n * 100)


def test_only_low_cardinality_labels_ids_as_structured_metadata() -> None:
    body = push_body([
        _record(1, T0 + 2, request_id="req-1", global_request_id="req-g", user="u",
                project="p", instance="9f0c"),
        _record(2, T0 + 1),
        _record(3, T0 + 3, level="ERROR"),
        _record(4, T0, level=""),
    ], extra_labels={"job": "openstack"})  # fmt: skip
    streams = {json.dumps(s["stream"], sort_keys=True): s["values"] for s in body["streams"]}
    info = {"host": "ctl1", "job": "openstack", "level": "INFO", "service": "nova-api"}
    assert set(streams) == {
        json.dumps(info, sort_keys=True),
        json.dumps({**info, "level": "ERROR"}, sort_keys=True),
        json.dumps({k: v for k, v in info.items() if k != "level"}, sort_keys=True),
    }
    values = streams[json.dumps(info, sort_keys=True)]
    # sorted by time within the stream, nanoseconds as decimal strings
    assert [v[0] for v in values] == ["1795622401123456000", "1795622402123456000"]
    assert values[0] == ["1795622401123456000", "2026-11-25 ... INFO nova.api message 2"]
    assert values[1][2] == {"request_id": "req-1", "global_request_id": "req-g",
                            "instance": "9f0c", "project": "p", "user": "u"}  # fmt: skip
    for value in values:
        assert isinstance(value[0], str) and value[0].isdigit()


def test_multi_line_entry_and_json_line_format() -> None:
    record = _record(1, T0, traceback=["Traceback", "  File x"])
    record.record.lines.extend(["... ERROR nova.api Traceback", "... ERROR nova.api   File x"])
    raw = push_body([record])["streams"][0]["values"][0][1]
    assert raw.count("\n") == 2
    line = push_body([record], line_format="json")["streams"][0]["values"][0][1]
    assert json.loads(line)["traceback"] == ["Traceback", "  File x"]
    plain = push_body([record], structured_metadata=False)["streams"][0]["values"][0]
    assert len(plain) == 2


def test_labels_that_would_explode_streams_are_refused() -> None:
    with pytest.raises(ShipError, match="request_id as Loki labels"):
        LokiDestination("http://loki:3100", labels=("host", "request_id"))
    with pytest.raises(ShipError, match="label name"):
        LokiDestination("http://loki:3100", extra_labels={"bad-name": "x"})
    dest = LokiDestination("http://loki:3100/loki/api/v1/push", tenant="ops")
    assert dest.http.base == "http://loki:3100" and dest.name == "loki-loki-3100-ops"


@pytest.mark.integration
def test_push_request_format_tenant_and_gzip(loki: tuple[FakeLoki, FakeServer]) -> None:
    fake, server = loki
    records = [_record(n, T0 + n, request_id=f"req-{n}") for n in range(3)]
    with LokiDestination(server.url, tenant="team-a", compress=True) as dest:
        dest.send(records)
    (request,) = server.requests
    assert request.method == "POST" and request.path == "/loki/api/v1/push"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-scope-orgid"] == "team-a"
    assert request.headers["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(request.raw)) == push_body(records)
    assert len(fake.entries()) == 3


@pytest.mark.integration
def test_429_and_5xx_retried(loki: tuple[FakeLoki, FakeServer]) -> None:
    fake, server = loki
    answers = [Answer(429, b"Ingestion rate limit exceeded"), Answer(502, b"bad gateway")]
    fake.request_status = lambda r: answers.pop(0) if answers else None
    with LokiDestination(server.url, backoff=0.001) as dest:
        dest.send([_record(1, T0)])
    assert len(server.requests) == 3 and len(fake.entries()) == 1


@pytest.mark.integration
def test_400_stops_with_lokis_reason_or_is_dropped_when_asked(
    loki: tuple[FakeLoki, FakeServer],
) -> None:
    fake, server = loki
    reason = (b"entry with timestamp 2026-11-01 00:00:00 +0000 UTC ignored, reason: "
              b"'entry too far behind', total ignored: 2 out of 2")  # fmt: skip
    fake.request_status = lambda r: Answer(400, reason)
    with LokiDestination(server.url) as dest, pytest.raises(DeliveryError) as caught:
        dest.send([_record(1, T0), _record(2, T0)])
    assert not caught.value.retryable and "entry too far behind" in str(caught.value)
    assert len(server.requests) == 1
    with (
        LokiDestination(server.url, drop_rejected=True) as dest,
        pytest.raises(RejectedRecords) as rejected,
    ):
        dest.send([_record(1, T0), _record(2, T0)])
    assert [index for index, _ in rejected.value.rejected] == [0, 1]
    assert "HTTP 400" in rejected.value.rejected[0][1]


@pytest.mark.integration
def test_404_wrong_url_is_not_retried(loki: tuple[FakeLoki, FakeServer]) -> None:
    _, server = loki
    with LokiDestination(server.url + "/wrong") as dest, pytest.raises(DeliveryError) as caught:
        dest.send([_record(1, T0)])
    assert "HTTP 404" in str(caught.value) and len(server.requests) == 1
