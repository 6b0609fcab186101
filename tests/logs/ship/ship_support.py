"""Fakes for the shipping tests: a local HTTP server that answers like OpenSearch's
bulk/template API and Loki's push API as their documentation describes them and records
every request, an in-process destination, and oslo.log lines to write.

No OpenSearch or Loki can be installed here: these fakes check the requests strictly
(NDJSON framing, content types, JSON shapes) and store what a real server would, so the
tests can count documents by id and entries by stream. Failures are injected per test.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from stacktender.logs.ship.base import DeliveryError, ShipRecord


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    body: bytes  # after Content-Encoding


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: Any, **headers: str) -> Answer:
        return cls(
            status, json.dumps(data).encode(), {"Content-Type": "application/json", **headers}
        )


Handler = Callable[[Request], Answer]


class FakeServer:
    """ThreadingHTTPServer on a free port; ``handler`` decides every answer."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self.delay = 0.0
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = raw
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(raw)
                request = Request(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                    raw, body,
                )  # fmt: skip
                outer.requests.append(request)
                if outer.delay:
                    time.sleep(outer.delay)
                answer = outer.handler(request)
                try:
                    self.send_response(answer.status)
                    for key, value in answer.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    if answer.body:
                        self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left: what the timeout tests want

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> FakeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path.split("?")[0] == path]


# -- OpenSearch -----------------------------------------------------------------------------


class FakeOpenSearch:
    """Bulk and index-template API. ``docs`` maps (index, id) to the stored document.

    ``item_status(action, doc)`` may return a status for one item (429, 400...) to refuse
    it; ``request_status(request)`` may refuse a whole request (429, 500, 401, 413).
    """

    def __init__(self) -> None:
        self.docs: dict[tuple[str, str], dict[str, Any]] = {}
        self.templates: dict[str, dict[str, Any]] = {}
        self.item_status: Callable[[dict[str, Any], dict[str, Any]], int | None] = lambda a, d: None
        self.request_status: Callable[[Request], Answer | None] = lambda r: None
        self.writes = 0  # documents written, replays included

    def __call__(self, request: Request) -> Answer:
        refused = self.request_status(request)
        if refused is not None:
            return refused
        path = request.path.split("?")[0]
        if request.method == "PUT" and path.startswith("/_index_template/"):
            assert request.headers["content-type"] == "application/json"
            self.templates[path.rsplit("/", 1)[1]] = json.loads(request.body)
            return Answer.json(200, {"acknowledged": True})
        if request.method == "POST" and path == "/_bulk":
            return self.bulk(request)
        return Answer.json(404, {"error": "no handler", "status": 404})

    def bulk(self, request: Request) -> Answer:
        # The documented framing: NDJSON content type, newline-terminated body,
        # action line followed by a source line for index actions.
        if request.headers.get("content-type") != "application/x-ndjson":
            return Answer.json(406, {"error": "Content-Type header is not supported"})
        text = request.body.decode()
        if not text.endswith("\n"):
            return Answer.json(400, {"error": "The bulk request must be terminated by a newline"})
        lines = text[:-1].split("\n")
        assert len(lines) % 2 == 0, "index actions come in pairs"
        items = []
        errors = False
        for action_line, doc_line in zip(lines[::2], lines[1::2], strict=True):
            action = json.loads(action_line)
            doc = json.loads(doc_line)
            assert list(action) == ["index"], action
            meta = action["index"]
            status = self.item_status(meta, doc)
            if status is None:
                key = (meta["_index"], meta["_id"])
                result = "updated" if key in self.docs else "created"
                self.docs[key] = doc
                self.writes += 1
                items.append({"index": {**meta, "result": result, "status": 201 if result ==
                              "created" else 200}})  # fmt: skip
            else:
                errors = True
                kind = "es_rejected_execution_exception" if status == 429 else (
                    "mapper_parsing_exception")  # fmt: skip
                error = {"type": kind, "reason": f"failed to parse field [pid] ({status})"}
                items.append({"index": {**meta, "status": status, "error": error}})
        return Answer.json(200, {"took": 3, "errors": errors, "items": items})


# -- Loki -----------------------------------------------------------------------------------


class FakeLoki:
    """Push API: validates the JSON body and stores entries per stream."""

    def __init__(self) -> None:
        self.streams: dict[tuple[tuple[str, str], ...], list[list[Any]]] = {}
        self.request_status: Callable[[Request], Answer | None] = lambda r: None

    def __call__(self, request: Request) -> Answer:
        refused = self.request_status(request)
        if refused is not None:
            return refused
        if request.method != "POST" or request.path != "/loki/api/v1/push":
            return Answer(404, b"404 page not found\n")
        if request.headers.get("content-type") != "application/json":
            return Answer(415, b"unsupported content type\n")
        body = json.loads(request.body)
        assert list(body) == ["streams"]
        for stream in body["streams"]:
            assert set(stream) == {"stream", "values"}
            labels = stream["stream"]
            assert labels and all(isinstance(v, str) and v for v in labels.values())
            for value in stream["values"]:
                assert isinstance(value[0], str) and value[0].isdigit(), value
                assert isinstance(value[1], str)
                assert len(value) in (2, 3)
                if len(value) == 3:
                    assert all(isinstance(v, str) for v in value[2].values())
            self.streams.setdefault(tuple(sorted(labels.items())), []).extend(stream["values"])
        return Answer(204)

    def entries(self) -> list[list[Any]]:
        return [v for values in self.streams.values() for v in values]


# -- in-process destinations and log writing ------------------------------------------------


class Collector:
    """A destination that keeps what it was sent; ``fail_after`` records it accepts
    (across calls) before it raises, having kept ``keep_partial`` of the failing batch
    as a server that crashed before answering would have."""

    def __init__(self, name: str = "collector", fail_after: int | None = None,
                 keep_partial: int = 0) -> None:  # fmt: skip
        self.name = name
        self.fail_after = fail_after
        self.keep_partial = keep_partial
        self.received: list[ShipRecord] = []  # everything that arrived, replays included
        self.unacknowledged = 0  # the last of them, kept by the failing call
        self.calls = 0

    def send(self, records: Any) -> None:
        self.calls += 1
        records = list(records)
        if self.fail_after is not None and len(self.received) + len(records) > self.fail_after:
            kept = records[: self.keep_partial]
            self.received.extend(kept)
            self.unacknowledged = len(kept)
            raise DeliveryError("simulated crash mid-batch", retryable=True)
        self.received.extend(records)

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.received]


def oslo_line(n: int, *, level: str = "INFO", second: int | None = None, day: int = 25) -> str:
    """One oslo.log context-format line, numbered so tests can find it again."""
    s = n % 60 if second is None else second
    return (
        f"2026-11-{day:02d} 16:{(n // 60) % 60:02d}:{s:02d}.{n % 1000:03d} 4242 {level} "
        f"nova.api.openstack [req-{n:08d}-0000-0000-0000-000000000000 user{n % 3} proj - - -] "
        f"line {n}\n"
    )


def oslo_error(n: int) -> str:
    """An ERROR line and the traceback oslo.log writes after it, each line prefixed."""
    head = oslo_line(n, level="ERROR")
    prefix = head[: head.index(" [req-")]
    return head + "".join(
        f"{prefix} {text}\n"
        for text in ("Traceback (most recent call last):", '  File "nova/api.py", line 1',
                     f"ValueError: bad {n}")
    )  # fmt: skip


def write_lines(path: Path, numbers: range | list[int], mode: str = "a") -> None:
    """Append numbered records; every seventh is an ERROR with a traceback."""
    with open(path, mode) as out:
        out.writelines(oslo_error(n) if n % 7 == 3 else oslo_line(n) for n in numbers)


def numbers_of(messages: list[str]) -> list[int]:
    return [int(m.split()[-1]) for m in messages]
