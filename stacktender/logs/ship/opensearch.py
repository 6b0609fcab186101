"""Ship records to OpenSearch: bulk API, one index per day, an index template.

Each record becomes one document in ``<prefix>-YYYY.MM.DD`` (the record's UTC date),
written with an ``index`` action under its stable id, so a batch sent twice (after a
crash between delivery and checkpoint) overwrites itself instead of duplicating.
Before the first batch the destination installs the composable index template
``stacktender/data/opensearch/index-template.json`` (``PUT /_index_template/NAME``):
keyword fields for ids, host, service, level and logger, ``date`` for ``@timestamp``,
``text`` for message and traceback.

The bulk answer is read item by item: items refused with 429 or 5xx are sent again
with backoff; items refused for any other reason (a mapping conflict, say) are
reported through :class:`RejectedRecords`; none is silently dropped.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from importlib.resources import files
from typing import Any, Unpack
from urllib.parse import quote

from stacktender.logs.ship._http import (
    HttpDestination,
    HttpOptions,
    HttpTarget,
    destination_name,
    json_or_none,
    retryable_status,
    short_body,
)
from stacktender.logs.ship.base import DeliveryError, RejectedRecords, ShipError, ShipRecord

__all__ = [
    "DEFAULT_PREFIX",
    "OpenSearchDestination",
    "bulk_body",
    "document",
    "index_name",
    "index_template",
]

DEFAULT_PREFIX = "stacktender-logs"
TEMPLATE_FILE = "data/opensearch/index-template.json"
NDJSON = "application/x-ndjson"
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def index_template(
    prefix: str = DEFAULT_PREFIX, settings: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The composable index template body for indices named ``<prefix>-*``."""
    text = files("stacktender").joinpath(TEMPLATE_FILE).read_text(encoding="utf-8")
    template: dict[str, Any] = json.loads(text)
    template["index_patterns"] = [f"{prefix}-*"]
    if settings:
        index_settings = template["template"]["settings"]["index"]
        index_settings.update(copy.deepcopy(dict(settings)))
    return template


def index_name(prefix: str, ts: float) -> str:
    """``<prefix>-YYYY.MM.DD`` for the UTC day of ``ts``."""
    return f"{prefix}-{_day(int(ts // 86400))}"


@lru_cache(maxsize=64)
def _day(day: int) -> str:
    return f"{datetime.fromtimestamp(day * 86400, UTC):%Y.%m.%d}"


@lru_cache(maxsize=4096)
def _second(whole: int) -> str:
    return f"{datetime.fromtimestamp(whole, UTC):%Y-%m-%dT%H:%M:%S}"


def _iso(ts: float) -> str:
    """``LogRecord.as_dict()``'s time text (microseconds, ``Z``), without a datetime
    per record: datetime arithmetic would cost more than the rest of the document."""
    frac, whole = math.modf(ts)
    micro = round(frac * 1e6)  # the rounding datetime.fromtimestamp applies
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    elif micro < 0:
        whole, micro = whole - 1, micro + 1_000_000
    return f"{_second(int(whole))}.{micro:06d}Z"


_FIELDS = ("host", "service", "level", "logger", "pid", "request_id", "global_request_id",
           "user", "project", "instance", "message")  # fmt: skip


def document(item: ShipRecord) -> dict[str, Any]:
    """The JSON document of one record (fields of the index template; no nulls)."""
    record = item.record
    doc: dict[str, Any] = {"@timestamp": _iso(record.ts)}
    for key in _FIELDS:
        value = getattr(record, key)
        if value is not None and value != "":
            doc[key] = value
    if record.traceback:
        doc["traceback"] = "\n".join(record.traceback)
    if record.source:
        doc["source"] = record.source
    doc["lineno"] = record.lineno
    doc["parsed"] = record.parsed
    if record.fmt:
        doc["format"] = record.fmt
    doc["offset"] = item.offset
    return doc


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def bulk_body(items: Sequence[ShipRecord], prefix: str = DEFAULT_PREFIX) -> bytes:
    """NDJSON bulk request: an ``index`` action line and a document line per record."""
    lines: list[str] = []
    add = lines.append
    for item in items:
        # prefix (checked) and id (hex) need no JSON escaping
        add(f'{{"index":{{"_index":"{index_name(prefix, item.record.ts)}","_id":"{item.id}"}}}}')
        add(_encode(document(item)))
    # the bulk API requires the final newline
    return ("\n".join(lines) + "\n").encode()


class OpenSearchDestination(HttpDestination):
    """An OpenSearch cluster, written through ``POST /_bulk``.

    ``url`` is the cluster's base URL (``https://user:password@opensearch:9200``).
    Auth, TLS, timeout and retry keywords (``username``, ``password``, ``token``,
    ``verify``, ``client_cert``, ``timeout``, ``retries``, ``backoff``, ``max_backoff``)
    are those of :class:`~stacktender.logs.ship._http.HttpOptions`.
    ``template=False`` leaves the index template to the operator.
    """

    def __init__(
        self,
        url: str,
        *,
        index_prefix: str = DEFAULT_PREFIX,
        template: bool = True,
        template_name: str | None = None,
        template_settings: Mapping[str, Any] | None = None,
        pipeline: str | None = None,
        compress: bool = False,
        name: str | None = None,
        **http: Unpack[HttpOptions],
    ) -> None:
        if not _PREFIX.match(index_prefix):
            raise ShipError(
                f"bad index prefix {index_prefix!r}: lower-case letters, digits, '.', '_', '-'"
            )
        self.http = HttpTarget(url, **http)
        self.index_prefix = index_prefix
        self.template = template
        self.template_name = template_name or index_prefix
        self.template_settings = template_settings
        self.pipeline = pipeline
        self.compress = compress
        self.name = name or destination_name("opensearch", self.http.base, index_prefix)
        self._template_installed = False

    def ensure_template(self) -> None:
        """Create or update the index template (``PUT /_index_template/NAME``)."""
        body = json.dumps(index_template(self.index_prefix, self.template_settings)).encode()
        response = self.http.request(
            "PUT",
            f"/_index_template/{quote(self.template_name, safe='')}",
            content=body,
            content_type="application/json",
            what="index template",
        )
        if not 200 <= response.status_code < 300:
            raise DeliveryError(
                f"OpenSearch {self.http.base} refused index template {self.template_name!r}: "
                f"HTTP {response.status_code} {short_body(response)}",
                retryable=False,
            )
        self._template_installed = True

    def send(self, records: Sequence[ShipRecord]) -> None:
        """Index records with the bulk API; retry refused items that may succeed later."""
        if not records:
            return
        if self.template and not self._template_installed:
            self.ensure_template()
        rejected: list[tuple[int, str]] = []
        self._deliver(records, list(range(len(records))), rejected)
        if rejected:
            first = rejected[0][1]
            raise RejectedRecords(
                sorted(rejected), f"OpenSearch rejected {len(rejected)} document(s), e.g. {first}"
            )

    def _deliver(
        self, records: Sequence[ShipRecord], todo: list[int], rejected: list[tuple[int, str]]
    ) -> None:
        path = "/_bulk" + (f"?pipeline={quote(self.pipeline, safe='')}" if self.pipeline else "")
        attempt = 0
        while todo:
            body = bulk_body([records[i] for i in todo], self.index_prefix)
            response = self.http.request(
                "POST", path, content=body, content_type=NDJSON, compress=self.compress,
                what="bulk request",
            )  # fmt: skip
            status = response.status_code
            if status == 413:
                # Over http.max_content_length: halve until it fits; one document that
                # alone is too large can never be indexed.
                if len(todo) == 1:
                    rejected.append((todo[0], "HTTP 413: document larger than the request limit"))
                    return
                half = len(todo) // 2
                self._deliver(records, todo[:half], rejected)
                self._deliver(records, todo[half:], rejected)
                return
            if not 200 <= status < 300:
                raise DeliveryError(
                    f"OpenSearch {self.http.base} refused the bulk request: "
                    f"HTTP {status} {short_body(response)}",
                    retryable=False,
                )
            answer = json_or_none(response)
            items = answer.get("items") if isinstance(answer, dict) else None
            if not isinstance(items, list) or len(items) != len(todo):
                raise DeliveryError(
                    f"OpenSearch {self.http.base} sent an unexpected bulk answer: "
                    f"{short_body(response)}"
                )
            if not answer.get("errors"):
                return
            again: list[int] = []
            reason = ""
            for index, item in zip(todo, items, strict=True):
                result: dict[str, Any] = (
                    next(iter(item.values()), {}) if isinstance(item, dict) else {}
                )
                code = int(result.get("status", 0) or 0)
                if 200 <= code < 300:
                    continue
                reason = _item_reason(code, result.get("error"))
                if retryable_status(code):
                    again.append(index)
                else:
                    rejected.append((index, reason))
            if again:
                attempt += 1
                if attempt > self.http.retries:
                    raise DeliveryError(
                        f"OpenSearch {self.http.base} still refused {len(again)} document(s) "
                        f"after {attempt} attempt(s): {reason}"
                    )
                self.http.sleep(self.http.delay(attempt))
            todo = again


def _item_reason(status: int, error: Any) -> str:
    if isinstance(error, dict):
        kind = error.get("type", "error")
        text = error.get("reason", "")
        cause = error.get("caused_by")
        if isinstance(cause, dict) and cause.get("reason"):
            text = f"{text} ({cause.get('type', '')}: {cause['reason']})"
        return f"HTTP {status} {kind}: {text}".strip()
    return f"HTTP {status} {error or ''}".strip()
