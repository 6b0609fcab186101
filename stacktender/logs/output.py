"""How logs commands print records, traces and templates (text, colour, JSON lines)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from stacktender.logs.record import LogRecord
from stacktender.logs.templates import Template
from stacktender.logs.trace import Trace

_COLOURS = {"ERROR": "31", "CRITICAL": "1;31", "FATAL": "1;31", "WARNING": "33", "DEBUG": "2"}
_BATCH = 2048


def _label(record: LogRecord) -> str:
    return f"{record.host} {record.service or '-'} "


def _text_lines(record: LogRecord, colour: bool) -> Iterator[str]:
    label = _label(record)
    code = _COLOURS.get(record.level) if colour else None
    for line in record.lines:
        yield f"\x1b[{code}m{label}{line}\x1b[0m\n" if code else label + line + "\n"


def text_style(label: str, level: str, colour: bool) -> tuple[str, str]:
    """What goes before and after each line of a record at ``level`` in text output."""
    code = _COLOURS.get(level) if colour else None
    return (f"\x1b[{code}m{label}", "\x1b[0m\n") if code else (label, "\n")


def record_text(record: LogRecord, colour: bool = False) -> str:
    """A record as write_text prints it: every line labelled, each with its newline."""
    return "".join(_text_lines(record, colour))


def _json_lines(record: LogRecord, colour: bool) -> Iterator[str]:
    yield json.dumps(record.as_dict(), ensure_ascii=False) + "\n"


def _write(
    records: Iterable[LogRecord],
    out: TextIO,
    render: Callable[[LogRecord, bool], Iterator[str]],
    colour: bool = False,
) -> int:
    # one write per batch of lines: per-line writes would cost more than parsing them
    written = 0
    buffer: list[str] = []
    for record in records:
        buffer.extend(render(record, colour))
        written += 1
        if len(buffer) >= _BATCH:
            out.write("".join(buffer))
            buffer.clear()
    out.write("".join(buffer))
    out.flush()
    return written


def write_text(records: Iterable[LogRecord], out: TextIO, *, colour: bool = False) -> int:
    """Every line of every record, labelled ``HOST SERVICE``; coloured by level."""
    return _write(records, out, _text_lines, colour)


def write_json(records: Iterable[LogRecord], out: TextIO) -> int:
    """One JSON object per record (JSON lines)."""
    return _write(records, out, _json_lines)


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S.%f")[:-3]


def trace_text(result: Trace, *, colour: bool = False) -> str:
    """The timeline of a trace: one line per hop, then where it failed."""
    start = datetime.fromtimestamp(result.start, UTC).isoformat(timespec="milliseconds")
    services = sorted({r.service for r in result.records})
    hosts = sorted({r.host for r in result.records})
    lines = [
        f"trace {result.id}: {len(result.records)} records, {len(result.hops)} hops, "
        f"{len(services)} services on {len(hosts)} hosts, {result.duration:.3f}s "
        f"from {start.replace('+00:00', 'Z')}",
        f"{'time (UTC)':<12} {'+offset':>8} {'gap':>7}  {'host':<12} {'service':<18} "
        f"{'request':<12} {'level':<8} message",
    ]
    failure = result.failure
    for hop, row in zip(result.hops, result.rows(), strict=True):
        request = (hop.request_id or "-")[:12]
        text = (
            f"{_clock(hop.start):<12} {row['offset']:>8.3f} {row['gap']:>7.3f}  "
            f"{hop.host[:12]:<12} {hop.service[:18]:<18} {request:<12} {row['level']:<8} "
            f"{row['message'][:120]}"
        )
        if hop is failure:
            text += "   <== failed here"
        code = _COLOURS.get(row["level"]) if colour else None
        lines.append(f"\x1b[{code}m{text}\x1b[0m" if code else text)
    if failure is None:
        lines.append("no ERROR or traceback in this trace")
    else:
        record = next(r for r in failure.records if r.levelno >= 40 or r.traceback)
        lines.append(
            f"failed in {failure.service} on {failure.host} at {_clock(record.ts)} "
            f"(+{record.ts - result.start:.3f}s): {record.message.splitlines()[0][:300]}"
        )
        last = [line for line in record.traceback if line.strip()][-1:]
        if last:
            lines.append(f"  {last[0].strip()[:300]}")
    return "\n".join(lines)


def template_row(template: Template) -> dict[str, Any]:
    """A table/JSON row for one template."""

    def iso(ts: float | None) -> str | None:
        if ts is None:
            return None
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

    return {
        "count": template.count,
        "id": template.id,
        "levels": ",".join(sorted(template.levels)),
        "services": ",".join(sorted(template.services)),
        "template": template.text,
        "first_seen": iso(template.first_seen),
        "last_seen": iso(template.last_seen),
    }
