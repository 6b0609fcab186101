"""The embedded log index: load throughput, index size and query latency, vs. files.

The data set is made of the testcloud's real log files (every ``*.log``: oslo.log
text, glance's JSON, console and install logs nobody can parse), copied again and
again: each copy is shifted in time, and every UUID in it (request ids, instances,
volumes, ports) gets a new value per copy, the same in every file, so that a request
keeps its chain across services and each request id occurs a few times, as in a
real cloud. Copies go round-robin to three host folders (``DIR/HOST/...``). It is
generated under a temporary directory at bench time, never committed.

Measured: ``LogIndex.index_sources`` of the whole set (lines/s, seconds, file size),
then each query on the index (first run and median of the next runs) and the same
query on the files (``MergedLogs`` with the ``LogFilter``; the traces with
``stacktender.logs.trace.trace`` over ``MergedLogs``, which reads the files twice). Results go to
bench/results/logs-index.json.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import write_result
from stacktender.logs.filters import LogFilter
from stacktender.logs.index import LogIndex
from stacktender.logs.merge import MergedLogs
from stacktender.logs.record import LogRecord
from stacktender.logs.sources import discover
from stacktender.logs.trace import trace

TESTCLOUD_LOGS = Path.home() / ".local/share/stacktender/testcloud/logs"
HOSTS = ("ctl-1", "cmp-1", "cmp-2")
TARGET_SECONDS = 1.0  # "well under a second"
_STAMP = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-([0-9a-f]{12})")
_FORMAT = "%Y-%m-%d %H:%M:%S"


def _template(line: str) -> list[str | tuple[str, str]]:
    """A line as literal pieces and ("t", time stamp) / ("u", uuid) to vary."""
    pieces: list[str | tuple[str, str]] = []
    at = 0
    stamp = _STAMP.match(line)
    if stamp is not None:
        pieces.append(("t", stamp.group(1)))
        at = stamp.end()
    for match in _UUID.finditer(line, at):
        pieces.append(line[at : match.start()])
        pieces.append(("u", match.group()))
        at = match.end()
    pieces.append(line[at:])
    return pieces


def generate(root: Path, total_lines: int, logs: Path = TESTCLOUD_LOGS) -> dict[str, Any]:
    """Write about ``total_lines`` lines under ``root/HOST/``; returns what it wrote."""
    files = {p.name: p.read_text(errors="replace").splitlines() for p in sorted(logs.glob("*.log"))}
    if not files:
        raise SystemExit(f"no log files in {logs}: start the testcloud first")
    templates = {name: [_template(line) for line in lines] for name, lines in files.items()}
    stamps = sorted(
        {p[1] for lines in templates.values() for t in lines for p in t if isinstance(p, tuple)
         and p[0] == "t"}
    )  # fmt: skip
    first = datetime.strptime(stamps[0], _FORMAT).timestamp()
    last = datetime.strptime(stamps[-1], _FORMAT).timestamp()
    period = int(last - first) + 60  # copies follow each other in time, a minute apart
    per_copy = sum(len(lines) for lines in files.values())
    copies = max(1, -(-total_lines // per_copy))
    for host in HOSTS:
        (root / host).mkdir(parents=True, exist_ok=True)
    handles = {
        (host, name): open(root / host / name, "w")  # noqa: SIM115 - closed below
        for host in HOSTS
        for name in files
    }
    seconds = {s: datetime.strptime(s, _FORMAT).timestamp() for s in stamps}
    written = size = 0
    try:
        for copy in range(copies):
            host = HOSTS[copy % len(HOSTS)]
            shift = copy * period
            stamp_map = {
                s: time.strftime(_FORMAT, time.localtime(t + shift)) for s, t in seconds.items()
            }
            ids: dict[str, str] = {}

            def uuid_for(text: str, copy: int = copy, ids: dict[str, str] = ids) -> str:
                new = ids.get(text)
                if new is None:
                    tail = (int(text[24:], 16) + copy * 0x9E3779B97F) % (1 << 48)
                    new = ids[text] = f"{text[:24]}{tail:012x}"
                return new

            for name, lines in templates.items():
                out = []
                for pieces in lines:
                    parts = []
                    for piece in pieces:
                        if isinstance(piece, str):
                            parts.append(piece)
                        elif piece[0] == "t":
                            parts.append(stamp_map[piece[1]])
                        else:
                            parts.append(uuid_for(piece[1]))
                    out.append("".join(parts))
                text = "\n".join(out) + "\n"
                handles[(host, name)].write(text)
                written += len(out)
                size += len(text)
    finally:
        for handle in handles.values():
            handle.close()
    return {"lines": written, "bytes": size, "copies": copies, "files": len(handles),
            "lines_per_copy": per_copy, "period_s": period}  # fmt: skip


def _timed(run: Callable[[], Sequence[LogRecord]], runs: int) -> dict[str, Any]:
    first_start = time.perf_counter()
    result = run()
    first = time.perf_counter() - first_start
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return {
        "first_s": round(first, 4),
        "median_s": round(statistics.median(times), 4) if times else round(first, 4),
        "records": len(result),
        "_result": result,
    }


def _pick(index: LogIndex) -> dict[str, Any]:
    """Ids and a window from the middle copy: a chained request, an instance."""
    stats = index.stats()
    assert stats.last_ts is not None
    # unparsed lines before any time stamp (install.log) carry ts 0: start after them
    first = next(index.query(LogFilter(since=1.0), limit=1)).ts
    middle = (first + stats.last_ts) / 2
    # a boot: its compute record names the instance and nova's request id, whose
    # global request id links the API, conductor, scheduler, neutron, glance, placement
    boot = LogFilter(since=middle, until=stats.last_ts, regex="Claim successful on node")
    claim = next(index.query(boot, limit=1))
    instance, request = claim.instance, claim.request_id
    errors = LogFilter(min_level="ERROR", since=middle, until=stats.last_ts)
    error_at = next(r.ts for r in index.query(errors, limit=1))
    return {"instance": instance, "request_id": request, "window_start": error_at - 300}


def _key(record: LogRecord) -> tuple[float, str, int]:
    return (record.ts, record.source, record.lineno)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per index query")
    parser.add_argument("--workdir", type=Path, help="keep data here (default: a temp dir)")
    parser.add_argument("--no-files", action="store_true", help="skip the file baseline")
    args = parser.parse_args(argv)
    root = args.workdir or Path(tempfile.mkdtemp(prefix="stacktender-logs-index-"))
    data = root / "logs"
    try:
        if not data.exists():
            print(f"generating {args.lines} lines under {data} ...", flush=True)
            started = time.perf_counter()
            made = generate(data, args.lines)
            made["seconds"] = round(time.perf_counter() - started, 1)
            print(f"  {made}", flush=True)
        else:
            made = {"lines": None, "reused": str(data)}
        db = root / "logs.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        sources = lambda: discover([str(data)], by_host=True)  # noqa: E731
        index = LogIndex(db)
        started = time.perf_counter()
        report = index.index_sources(sources())
        load_s = time.perf_counter() - started
        index.close()
        index = LogIndex(db, create=False)
        stats = index.stats()
        lines = report.stats.lines
        data_bytes = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
        load = {
            "seconds": round(load_s, 1),
            "lines": lines,
            "records": report.records,
            "lines_per_s": round(lines / load_s),
            "mb_per_s": round(data_bytes / load_s / 1e6, 2),
            "index_bytes": stats.size_bytes,
            "data_bytes": data_bytes,
            "index_to_data": round(stats.size_bytes / data_bytes, 2),
        }
        print(f"load: {load}", flush=True)
        again = time.perf_counter()
        second = index.index_sources(sources())
        load["reindex_unchanged_s"] = round(time.perf_counter() - again, 3)
        load["reindex_skipped"] = len(second.skipped)

        picked = _pick(index)
        start = picked["window_start"]
        queries: dict[str, tuple[Callable[[], list[LogRecord]], Callable[[], list[LogRecord]]]]
        level_window = LogFilter(min_level="ERROR", since=start, until=start + 600)
        service_regex = LogFilter(services=("nova-*",), regex=r"Took \d+\.\d+ seconds to spawn")
        fragment = LogFilter(regex="alid host")
        no_literal = LogFilter(regex=r"[A-Z]{5}\d{3}")
        queries = {
            "trace_request_id": (
                lambda: index.trace_records(picked["request_id"]),
                lambda: trace(lambda: MergedLogs(sources()), picked["request_id"]).records,
            ),
            "trace_instance": (
                lambda: index.trace_records(picked["instance"]),
                lambda: trace(lambda: MergedLogs(sources()), picked["instance"]).records,
            ),
            "request_id_filter": (
                lambda: list(index.query(LogFilter(request_id=picked["request_id"]))),
                lambda: list(MergedLogs(sources(), LogFilter(request_id=picked["request_id"]))),
            ),
            "error_10min_window": (
                lambda: list(index.query(level_window)),
                lambda: list(MergedLogs(sources(), level_window)),
            ),
            "service_regex": (
                lambda: list(index.query(service_regex)),
                lambda: list(MergedLogs(sources(), service_regex)),
            ),
            # part of a word: FTS5 cannot use "alid", SQLite's instr() narrows in C
            "grep_word_fragment": (
                lambda: list(index.query(fragment)),
                lambda: list(MergedLogs(sources(), fragment)),
            ),
            # the worst case: no literal text at all, Python's re reads every row
            "grep_no_literal": (
                lambda: list(index.query(no_literal)),
                lambda: list(MergedLogs(sources(), no_literal)),
            ),
        }
        # every record, in time order (logs merge --index without a filter)
        queries["everything"] = (  # keys only: two lists of 2M records would not fit well
            lambda: [_key(r) for r in index.query()],  # type: ignore[misc]
            lambda: [_key(r) for r in MergedLogs(sources())],  # type: ignore[misc]
        )
        slow = {"grep_no_literal", "everything"}
        results: dict[str, Any] = {}
        for name, (on_index, on_files) in queries.items():
            measured = _timed(on_index, 1 if name in slow else args.runs)
            found = measured.pop("_result")
            entry: dict[str, Any] = {"index": measured}
            if not args.no_files:
                baseline = _timed(on_files, 0)
                expected = baseline.pop("_result")
                entry["files"] = baseline
                by = None if name == "everything" else _key
                entry["same_records"] = sorted(found, key=by) == sorted(expected, key=by)
                entry["speedup"] = round(baseline["first_s"] / max(measured["median_s"], 1e-6))
            entry["under_target"] = measured["median_s"] < TARGET_SECONDS
            results[name] = entry
            print(f"{name}: {entry}", flush=True)
        index.close()
        data_out = {
            "data": {**made, "hosts": len(HOSTS), "source": "testcloud logs, ids varied"},
            "load": load,
            "queries": results,
            "picked": picked,
            "target_s": TARGET_SECONDS,
            "sqlite": sqlite3.sqlite_version,
            "fts5": index.fts,
            "load_average": os.getloadavg(),
        }
        path = write_result("logs-index", data_out)
        print(f"wrote {path}")
        return data_out
    finally:
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
