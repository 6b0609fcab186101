"""ShipReport: totals over files, states, and a JSON-ready form for the CLI."""

from __future__ import annotations

import json

from stacktender.logs.ship import FileReport, ShipReport


def test_totals_states_and_json() -> None:
    report = ShipReport("dest", "/s/dest.checkpoints.json", "/s/dest.rejected.jsonl")
    report.file("/a.log").sent = 5
    report.file("/a.log").skipped = 2
    report.file("/b.log.gz").status = "already shipped"
    broken = report.file("/c.log")
    broken.failed = 1
    broken.stats.errors.append("/c.log: unreadable")
    report.file("/d.log")
    assert (report.sent, report.failed, report.skipped) == (5, 1, 2)
    assert [f.state for f in report.files.values()] == [
        "shipped", "already shipped", "error", "up to date",
    ]  # fmt: skip
    data = json.loads(json.dumps(report.as_dict()))
    assert data["files"][0] == FileReport("/a.log", sent=5, skipped=2, status="").as_dict()
    assert data["sent"] == 5 and data["error"] is None
