"""OpenSearchDestination against a local server answering as the bulk and index-template
API documentation describes (no OpenSearch can run here)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ship_support import Answer, FakeOpenSearch, FakeServer, Request

from stacktender.logs.record import LogRecord
from stacktender.logs.ship import (
    DeliveryError,
    OpenSearchDestination,
    RejectedRecords,
    ShipError,
    ShipRecord,
)
from stacktender.logs.ship.opensearch import bulk_body, document, index_name, index_template

KEYWORDS = {"request_id", "global_request_id", "instance", "user", "project", "host",
            "service", "level", "logger"}  # fmt: skip


def _record(n: int, ts: float, **fields: object) -> ShipRecord:
    record = LogRecord(
        ts, "ctl1", "nova-api", "INFO", "nova.api", 42, request_id=f"req-{n}",
        message=f"message {n}", lines=[f"raw line {n}"], source="/var/log/nova/nova-api.log",
        lineno=n, fmt="oslo",
    )  # fmt: skip
    for key, value in fields.items():
        setattr(record, key, value)
    return ShipRecord(record, f"id-{n}", n * 100)


LATE = datetime(2026, 11, 25, 23, 59, 59, 500000, tzinfo=UTC).timestamp()
EARLY = datetime(2026, 11, 26, 0, 0, 0, 250000, tzinfo=UTC).timestamp()


def _destination(server: FakeServer, **options: object) -> OpenSearchDestination:
    options.setdefault("backoff", 0.001)
    return OpenSearchDestination(server.url, **options)  # type: ignore[arg-type]


def test_template_maps_ids_as_keywords_time_as_date_text_as_text() -> None:
    template = index_template("ops-logs")
    assert template["index_patterns"] == ["ops-logs-*"]
    properties = template["template"]["mappings"]["properties"]
    assert {k for k, v in properties.items() if v["type"] == "keyword"} >= KEYWORDS
    assert properties["@timestamp"] == {"type": "date"}
    assert properties["message"]["type"] == properties["traceback"]["type"] == "text"
    # every field a document carries is mapped (dynamic mapping is off)
    doc = document(_record(1, LATE, traceback=["Traceback", "  File x"], instance="i-1"))
    assert set(doc) <= set(properties)
    assert template["template"]["mappings"]["dynamic"] is False


@given(st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_document_time_is_the_records_own_time_text(ts: float) -> None:
    # the fast formatting must agree with LogRecord.as_dict() to the microsecond
    record = _record(1, ts)
    assert document(record)["@timestamp"] == record.record.as_dict()["time"]


def test_index_per_utc_day() -> None:
    assert index_name("stacktender-logs", LATE) == "stacktender-logs-2026.11.25"
    assert index_name("stacktender-logs", EARLY) == "stacktender-logs-2026.11.26"


def test_bulk_body_is_action_and_document_lines_with_final_newline() -> None:
    body = bulk_body([_record(1, LATE), _record(2, EARLY)], "p").decode()
    assert body.endswith("\n") and not body.endswith("\n\n")
    lines = body.split("\n")[:-1]
    assert len(lines) == 4
    assert json.loads(lines[0]) == {"index": {"_index": "p-2026.11.25", "_id": "id-1"}}
    assert json.loads(lines[2]) == {"index": {"_index": "p-2026.11.26", "_id": "id-2"}}
    doc = json.loads(lines[1])
    assert doc["@timestamp"] == "2026-11-25T23:59:59.500000Z"
    assert doc["request_id"] == "req-1" and doc["offset"] == 100 and doc["format"] == "oslo"
    assert "user" not in doc  # nulls are left out


@pytest.mark.integration
def test_send_installs_template_then_bulk_indexes(
    opensearch: tuple[FakeOpenSearch, FakeServer],
) -> None:
    fake, server = opensearch
    with _destination(server, index_prefix="ops") as dest:
        dest.send([_record(1, LATE), _record(2, EARLY, traceback=["Traceback", "  x"])])
        dest.send([_record(3, LATE)])
    assert [r.method + " " + r.path for r in server.requests] == [
        "PUT /_index_template/ops", "POST /_bulk", "POST /_bulk",
    ]  # fmt: skip
    assert fake.templates["ops"] == index_template("ops")
    bulk = server.requests[1]
    assert bulk.headers["content-type"] == "application/x-ndjson"
    assert "content-encoding" not in bulk.headers
    assert sorted(fake.docs) == [
        ("ops-2026.11.25", "id-1"), ("ops-2026.11.25", "id-3"), ("ops-2026.11.26", "id-2"),
    ]  # fmt: skip
    assert fake.docs[("ops-2026.11.26", "id-2")]["traceback"] == "Traceback\n  x"


@pytest.mark.integration
def test_replayed_batch_overwrites_by_id(opensearch: tuple[FakeOpenSearch, FakeServer]) -> None:
    fake, server = opensearch
    batch = [_record(n, LATE) for n in range(5)]
    with _destination(server) as dest:
        dest.send(batch)
        dest.send(batch)
    assert fake.writes == 10 and len(fake.docs) == 5


@pytest.mark.integration
def test_item_429_retried_alone_other_item_errors_rejected(
    opensearch: tuple[FakeOpenSearch, FakeServer],
) -> None:
    fake, server = opensearch
    busy = {"id-2": 2}  # refused twice with 429, then accepted

    def item_status(meta: dict[str, str], doc: dict[str, object]) -> int | None:
        if meta["_id"] == "id-4":
            return 400
        if busy.get(meta["_id"]):
            busy[meta["_id"]] -= 1
            return 429
        return None

    fake.item_status = item_status
    with _destination(server, template=False) as dest, pytest.raises(RejectedRecords) as caught:
        dest.send([_record(n, LATE) for n in range(6)])
    assert caught.value.rejected == [(4, caught.value.rejected[0][1])]
    assert "mapper_parsing_exception" in caught.value.rejected[0][1]
    bulks = server.to("/_bulk")
    assert [body.count(b"\n") // 2 for body in (r.body for r in bulks)] == [6, 1, 1]
    assert b'"_id":"id-2"' in bulks[1].body
    assert {key[1] for key in fake.docs} == {"id-0", "id-1", "id-2", "id-3", "id-5"}


@pytest.mark.integration
def test_item_still_busy_after_retries_is_a_retryable_delivery_error(
    opensearch: tuple[FakeOpenSearch, FakeServer],
) -> None:
    fake, server = opensearch
    fake.item_status = lambda meta, doc: 503 if meta["_id"] == "id-1" else None
    with (
        _destination(server, template=False, retries=2) as dest,
        pytest.raises(DeliveryError) as caught,
    ):
        dest.send([_record(n, LATE) for n in range(3)])
    assert caught.value.retryable
    assert len(server.to("/_bulk")) == 3


@pytest.mark.integration
def test_whole_request_429_and_500_retried_with_retry_after(
    opensearch: tuple[FakeOpenSearch, FakeServer],
) -> None:
    fake, server = opensearch
    answers = [Answer.json(429, {"error": "too many"}, **{"Retry-After": "0"}),
               Answer.json(500, {"error": "boom"})]  # fmt: skip
    fake.request_status = lambda r: answers.pop(0) if answers else None
    slept: list[float] = []
    with _destination(server, template=False) as dest:
        dest.http.sleep = slept.append
        dest.send([_record(1, LATE)])
    assert len(server.to("/_bulk")) == 3 and len(slept) == 2
    assert len(fake.docs) == 1


@pytest.mark.integration
def test_persistent_500_gives_up_after_retries(
    opensearch: tuple[FakeOpenSearch, FakeServer],
) -> None:
    fake, server = opensearch
    fake.request_status = lambda r: Answer.json(503, {"error": "unavailable"})
    with (
        _destination(server, template=False, retries=3) as dest,
        pytest.raises(DeliveryError, match=r"4 attempt\(s\): HTTP 503") as caught,
    ):
        dest.send([_record(1, LATE)])
    assert caught.value.retryable and len(server.requests) == 4


@pytest.mark.integration
def test_401_is_not_retried_and_hides_the_password(
    opensearch: tuple[FakeOpenSearch, FakeServer],
) -> None:
    fake, server = opensearch
    fake.request_status = lambda r: Answer.json(401, {"error": "unauthorized"})
    url = server.url.replace("http://", "http://admin:s3cret@")
    with OpenSearchDestination(url, template=False) as dest, pytest.raises(DeliveryError) as caught:
        dest.send([_record(1, LATE)])
    assert not caught.value.retryable and len(server.requests) == 1
    assert "s3cret" not in str(caught.value) and "HTTP 401" in str(caught.value)
    assert server.requests[0].headers["authorization"] == "Basic YWRtaW46czNjcmV0"


@pytest.mark.integration
def test_bearer_token_and_gzip(opensearch: tuple[FakeOpenSearch, FakeServer]) -> None:
    fake, server = opensearch
    with _destination(server, token="tok", compress=True, template=False) as dest:
        dest.send([_record(1, LATE)])
    request = server.requests[0]
    assert request.headers["authorization"] == "Bearer tok"
    assert request.headers["content-encoding"] == "gzip"
    assert gzip.decompress(request.raw) == bulk_body([_record(1, LATE)])
    assert len(fake.docs) == 1


@pytest.mark.integration
def test_413_halves_the_batch(opensearch: tuple[FakeOpenSearch, FakeServer]) -> None:
    fake, server = opensearch

    def too_large(request: Request) -> Answer | None:
        if request.body.count(b"\n") > 4:  # more than two documents
            return Answer(413, b"Request Entity Too Large")
        return None

    fake.request_status = too_large
    with _destination(server, template=False) as dest:
        dest.send([_record(n, LATE) for n in range(5)])
    assert len(fake.docs) == 5


@pytest.mark.integration
def test_every_request_has_a_timeout(opensearch: tuple[FakeOpenSearch, FakeServer]) -> None:
    _, server = opensearch
    server.delay = 1.0
    with (
        _destination(server, template=False, timeout=0.2, retries=1) as dest,
        pytest.raises(DeliveryError, match=r"timed out after 0\.2s"),
    ):
        dest.send([_record(1, LATE)])


@pytest.mark.integration
def test_template_refused_stops_before_any_bulk(
    opensearch: tuple[FakeOpenSearch, FakeServer],
) -> None:
    fake, server = opensearch
    fake.request_status = lambda r: (
        Answer.json(403, {"error": "no manage_index_templates"}) if r.method == "PUT" else None
    )
    with _destination(server) as dest, pytest.raises(DeliveryError, match="index template"):
        dest.send([_record(1, LATE)])
    assert server.to("/_bulk") == []


def test_bad_options_are_refused() -> None:
    with pytest.raises(ShipError, match="index prefix"):
        OpenSearchDestination("http://localhost:9200", index_prefix="Logs")
    with pytest.raises(ShipError, match="http"):
        OpenSearchDestination("localhost:9200")
    with pytest.raises(ShipError, match="CA bundle"):
        OpenSearchDestination("https://localhost:9200", verify="/nonexistent/ca.pem")
    assert OpenSearchDestination("https://u:p@os.example:9200/").name == (
        "opensearch-os.example-9200-stacktender-logs"
    )
