"""What a ``ship()`` call did: totals and one report per file, ready for rendering."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stacktender.logs.record import ParseStats

__all__ = ["FileReport", "ShipReport"]


@dataclass
class FileReport:
    """What one run did with one file."""

    path: str
    host: str = ""
    service: str = ""
    sent: int = 0
    """Records the destination acknowledged."""
    failed: int = 0
    """Records the destination refused for good (written to the rejected file)."""
    skipped: int = 0
    """Records left out by the ``keep`` filter (their lines still count as done)."""
    start: int | None = None
    """Offset this run started at, None if the file was not read."""
    offset: int = 0
    """Offset delivered and checkpointed when the run ended."""
    status: str = ""
    events: list[str] = field(default_factory=list)
    """Rotations, truncations and resumes, in order."""
    stats: ParseStats = field(default_factory=ParseStats)

    @property
    def state(self) -> str:
        """``shipped``, ``up to date``, or the status a special case set."""
        if self.status:
            return self.status
        if self.stats.errors:
            return "error"
        return "shipped" if self.sent or self.failed or self.skipped else "up to date"

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "host": self.host,
            "service": self.service,
            "state": self.state,
            "sent": self.sent,
            "failed": self.failed,
            "skipped": self.skipped,
            "start": self.start,
            "offset": self.offset,
            "events": list(self.events),
            "stats": self.stats.as_dict(),
        }


@dataclass
class ShipReport:
    """Totals and per-file reports of one ``ship()`` call."""

    destination: str
    checkpoints: str
    rejected_file: str
    files: dict[str, FileReport] = field(default_factory=dict)
    batches: int = 0
    error: str | None = None
    """Why delivery stopped early, None when everything read was delivered."""

    @property
    def sent(self) -> int:
        return sum(f.sent for f in self.files.values())

    @property
    def failed(self) -> int:
        return sum(f.failed for f in self.files.values())

    @property
    def skipped(self) -> int:
        return sum(f.skipped for f in self.files.values())

    @property
    def stats(self) -> ParseStats:
        return ParseStats.total(report.stats for report in self.files.values())

    def file(self, path: str) -> FileReport:
        report = self.files.get(path)
        if report is None:
            report = self.files[path] = FileReport(path)
        return report

    def as_dict(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "checkpoints": self.checkpoints,
            "rejected_file": self.rejected_file,
            "sent": self.sent,
            "failed": self.failed,
            "skipped": self.skipped,
            "batches": self.batches,
            "error": self.error,
            "files": [f.as_dict() for f in self.files.values()],
        }
