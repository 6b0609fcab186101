"""``stacktender logs ship`` end to end: a real process, a local HTTP server that answers
as OpenSearch's bulk API and Loki's push API are documented to (no real server exists here)."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

LINES = [
    f"2026-11-25 10:00:0{i}.000 101 {'ERROR' if i == 3 else 'INFO'} nova.compute.manager "
    f"[None req-00000000-0000-0000-0000-00000000000{i} u1 p1 - - default default] message {i}"
    for i in range(6)
]


class Capture:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []


@pytest.fixture
def server() -> Iterator[tuple[str, Capture]]:
    capture = Capture()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            capture.requests.append((self.command, self.path, dict(self.headers), body))
            if self.path.startswith("/_bulk"):
                items = [
                    {"index": {"_id": json.loads(line)["index"]["_id"], "status": 201}}
                    for line in body.decode().splitlines()[::2]
                ]
                payload = json.dumps({"took": 1, "errors": False, "items": items}).encode()
                self.send_response(200)
            elif self.path.startswith("/loki/api/v1/push"):
                payload = b""
                self.send_response(204)
            else:
                payload = b'{"acknowledged": true}'
                self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_POST = do_PUT = do_GET = _answer

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", capture
    httpd.shutdown()


def _documents(capture: Capture) -> list[dict[str, Any]]:
    docs = []
    for _, path, _, body in capture.requests:
        if path.startswith("/_bulk"):
            docs += [json.loads(line) for line in body.decode().splitlines()[1::2]]
    return docs


@pytest.mark.integration
def test_ship_to_opensearch_resumes_without_repeating(
    cli_run: Any, server: tuple[str, Capture], tmp_path: Path
) -> None:
    url, capture = server
    log = tmp_path / "nova-compute.log"
    log.write_text("\n".join(LINES[:4]) + "\n")
    state = tmp_path / "state"
    args = ("logs", "ship", str(log), "--opensearch", url, "--state-dir", str(state))
    first = cli_run(*args, "--username", "logs", env={"STACKTENDER_SHIP_PASSWORD": "s3cret"})
    assert first.returncode == 0, first.stderr
    assert "4 records sent" in first.stderr and "s3cret" not in first.stderr + first.stdout
    assert [d["message"] for d in _documents(capture)] == [f"message {i}" for i in range(4)]
    bulk = next(r for r in capture.requests if r[1].startswith("/_bulk"))
    assert bulk[2]["Content-Type"] == "application/x-ndjson"
    assert bulk[2]["Authorization"].startswith("Basic ")
    assert json.loads(bulk[3].decode().splitlines()[0])["index"]["_index"] == (
        "stacktender-logs-2026.11.25"
    )
    with log.open("a") as handle:
        handle.write("\n".join(LINES[4:]) + "\n")
    second = cli_run(*args, "--username", "logs", env={"STACKTENDER_SHIP_PASSWORD": "s3cret"})
    assert second.returncode == 0, second.stderr
    messages = [d["message"] for d in _documents(capture)]
    assert messages == [f"message {i}" for i in range(6)]  # 4 then only the 2 new ones


@pytest.mark.integration
def test_ship_to_loki_with_filter_and_tenant(
    cli_run: Any, server: tuple[str, Capture], tmp_path: Path
) -> None:
    url, capture = server
    log = tmp_path / "nova-compute.log"
    log.write_text("\n".join(LINES) + "\n")
    out = cli_run("logs", "ship", str(log), "--loki", url, "--tenant", "ops", "-l", "ERROR",
                  "--state-dir", str(tmp_path / "s"), "-f", "json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    pushes = [r for r in capture.requests if r[1] == "/loki/api/v1/push"]
    assert pushes and pushes[0][2]["X-Scope-OrgID"] == "ops"
    streams = json.loads(pushes[0][3])["streams"]
    values = [v for s in streams for v in s["values"]]
    assert len(values) == 1 and values[0][1].endswith("message 3")
    assert streams[0]["stream"]["level"] == "ERROR"
    report = json.loads(out.stdout)
    assert report[0]["sent"] == 1 and report[0]["skipped"] == 5


def test_ship_needs_exactly_one_destination(cli_run: Any, tmp_path: Path) -> None:
    out = cli_run("logs", "ship", str(tmp_path))
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "stacktender: error: name one destination: --opensearch URL, --loki URL or --to KIND=URL"
    )


@pytest.mark.integration
def test_ship_to_a_destination_kind_by_name(
    cli_run: Any, server: tuple[str, Capture], tmp_path: Path
) -> None:
    url, capture = server
    log = tmp_path / "nova-compute.log"
    log.write_text("\n".join(LINES[:2]) + "\n")
    out = cli_run("logs", "ship", str(log), "--to", f"opensearch={url}", "--set",
                  "index-prefix=ops-logs", "--state-dir", str(tmp_path / "s"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    bulk = next(r for r in capture.requests if r[1].startswith("/_bulk"))
    assert json.loads(bulk[3].decode().splitlines()[0])["index"]["_index"] == "ops-logs-2026.11.25"
    unknown = cli_run("logs", "ship", str(log), "--to", f"kafka={url}")
    assert unknown.returncode == 1
    assert "unknown destination 'kafka' (installed: opensearch, loki" in unknown.stderr
    bad = cli_run("logs", "ship", str(log), "--to", f"loki={url}", "--set", "colour=blue",
                  "--state-dir", str(tmp_path / "s2"))  # fmt: skip
    assert bad.returncode == 1 and "unknown setting colour" in bad.stderr
