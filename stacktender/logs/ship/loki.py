"""Ship records to Grafana Loki through its push API (``POST /loki/api/v1/push``).

Loki indexes labels, and every distinct label set is a stream it must keep in
memory, so only low-cardinality fields become labels: ``host``, ``service`` and
``level`` by default, plus fixed ``extra_labels`` such as ``job``. Request and global
request ids, instance, project and user travel as *structured metadata* (the third
element of each value, Loki 2.9 with it enabled, on by default from 3.0), where
``{service="nova-api"} | request_id="req-..."`` finds them without creating streams.

The line is the entry as the service wrote it (every line of a traceback), or with
``line_format="json"`` the record as JSON. Values within a stream are sorted by
time; timestamps are nanoseconds since the epoch as strings, as the API requires.
429 and 5xx answers are retried with backoff. A 400 (an entry too old, a line too
long, structured metadata disabled) stops delivery with Loki's reason, unless
``drop_rejected`` is set: then the batch is counted as rejected and the shipper
moves on. Loki does not say which entries of a refused request it kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, Unpack
from urllib.parse import urlsplit

from stacktender.logs.record import LogRecord
from stacktender.logs.ship._http import (
    HttpDestination,
    HttpOptions,
    HttpTarget,
    destination_name,
    short_body,
)
from stacktender.logs.ship.base import DeliveryError, RejectedRecords, ShipError, ShipRecord

__all__ = [
    "DEFAULT_LABELS",
    "LABEL_FIELDS",
    "METADATA_FIELDS",
    "LokiDestination",
    "push_body",
]

PUSH_PATH = "/loki/api/v1/push"
DEFAULT_LABELS = ("host", "service", "level")
LABEL_FIELDS = frozenset({"host", "service", "level", "logger", "source"})
"""Record fields that may become labels: bounded value sets only."""
METADATA_FIELDS = ("request_id", "global_request_id", "instance", "project", "user")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
LineFormat = Literal["raw", "json"]


def _ns(ts: float) -> str:
    # via whole microseconds: float seconds carry noise below that
    return str(round(ts * 1_000_000) * 1000)


def _line(record: LogRecord, line_format: LineFormat) -> str:
    if line_format == "json":
        data = {k: v for k, v in record.as_dict().items() if v not in (None, "", [])}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return record.text or record.message


def push_body(
    items: Iterable[ShipRecord],
    *,
    labels: Sequence[str] = DEFAULT_LABELS,
    extra_labels: Mapping[str, str] | None = None,
    structured_metadata: bool = True,
    line_format: LineFormat = "raw",
) -> dict[str, Any]:
    """The JSON push body: one stream per label set, values sorted by time."""
    streams: dict[tuple[tuple[str, str], ...], list[tuple[int, int, list[Any]]]] = {}
    fixed = dict(extra_labels or {})
    for seq, item in enumerate(items):
        record = item.record
        stream = dict(fixed)
        for name in labels:
            label = getattr(record, name)
            if label:  # Loki treats an empty label as absent; leave it out
                stream[name] = str(label)
        if not stream:
            stream["job"] = "stacktender"  # a stream needs at least one label
        ns = _ns(record.ts)
        value: list[Any] = [ns, _line(record, line_format)]
        if structured_metadata:
            metadata = {
                key: str(getattr(record, key)) for key in METADATA_FIELDS if getattr(record, key)
            }
            if metadata:
                value.append(metadata)
        streams.setdefault(tuple(sorted(stream.items())), []).append((int(ns), seq, value))
    return {
        "streams": [
            {"stream": dict(key), "values": [v for _, _, v in sorted(values)]}
            for key, values in streams.items()
        ]
    }


class LokiDestination(HttpDestination):
    """A Loki (or Grafana Cloud Logs) push endpoint.

    ``url`` is Loki's base URL (``http://loki:3100``) or the full push URL. ``tenant``
    is sent as ``X-Scope-OrgID`` (multi-tenant Loki). ``labels`` picks record fields
    that become labels (from :data:`LABEL_FIELDS`), ``extra_labels`` adds fixed ones.
    ``structured_metadata=False`` suits Loki before 2.9 or with it disabled: the ids
    are then only in the line. ``compress`` gzips the body. Auth, TLS, timeout and
    retry keywords are those of :class:`~stacktender.logs.ship._http.HttpOptions`.
    """

    def __init__(
        self,
        url: str,
        *,
        tenant: str | None = None,
        labels: Sequence[str] = DEFAULT_LABELS,
        extra_labels: Mapping[str, str] | None = None,
        structured_metadata: bool = True,
        line_format: LineFormat = "raw",
        compress: bool = False,
        drop_rejected: bool = False,
        name: str | None = None,
        **http: Unpack[HttpOptions],
    ) -> None:
        unknown = [label for label in labels if label not in LABEL_FIELDS]
        if unknown:
            raise ShipError(
                f"cannot use {', '.join(unknown)} as Loki labels: labels must have few values "
                f"({', '.join(sorted(LABEL_FIELDS))}); ids travel as structured metadata"
            )
        for key, val in (extra_labels or {}).items():
            if not _LABEL_NAME.match(key) or key.startswith("__"):
                raise ShipError(f"bad Loki label name {key!r}")
            if not val:
                raise ShipError(f"Loki label {key!r} needs a value")
        if line_format not in ("raw", "json"):
            raise ShipError(f"line format must be 'raw' or 'json', not {line_format!r}")
        path = urlsplit(url).path.rstrip("/")
        base = url.rstrip("/")
        if path.endswith(PUSH_PATH):
            base = base[: -len(PUSH_PATH)]
        self.http = HttpTarget(base, headers={"X-Scope-OrgID": tenant} if tenant else None, **http)
        self.tenant = tenant
        self.labels = tuple(labels)
        self.extra_labels = dict(extra_labels or {})
        self.structured_metadata = structured_metadata
        self.line_format: LineFormat = line_format
        self.compress = compress
        self.drop_rejected = drop_rejected
        self.name = name or destination_name("loki", self.http.base, tenant or "")

    def body(self, records: Iterable[ShipRecord]) -> dict[str, Any]:
        """The push body this destination sends for records."""
        return push_body(
            records,
            labels=self.labels,
            extra_labels=self.extra_labels,
            structured_metadata=self.structured_metadata,
            line_format=self.line_format,
        )

    def send(self, records: Sequence[ShipRecord]) -> None:
        """Push records; return when Loki acknowledged them (HTTP 204)."""
        if not records:
            return
        rejected: list[tuple[int, str]] = []
        self._deliver(records, list(range(len(records))), rejected)
        if rejected:
            raise RejectedRecords(
                sorted(rejected), f"Loki rejected {len(rejected)} entries: {rejected[0][1]}"
            )

    def _deliver(
        self, records: Sequence[ShipRecord], todo: list[int], rejected: list[tuple[int, str]]
    ) -> None:
        body = json.dumps(self.body(records[i] for i in todo), ensure_ascii=False).encode()
        response = self.http.request(
            "POST", PUSH_PATH, content=body, content_type="application/json",
            compress=self.compress, what="push",
        )  # fmt: skip
        status = response.status_code
        if 200 <= status < 300:
            return
        reason = f"HTTP {status} {short_body(response)}".strip()
        if status == 413 and len(todo) > 1:
            half = len(todo) // 2
            self._deliver(records, todo[:half], rejected)
            self._deliver(records, todo[half:], rejected)
            return
        if status in (400, 413) and self.drop_rejected:
            rejected.extend((i, reason) for i in todo)
            return
        raise DeliveryError(f"Loki {self.http.base} refused the push: {reason}", retryable=False)
