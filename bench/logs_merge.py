"""Parse + merge throughput and peak memory of `stacktender logs merge`.

The same multi-file set of real testcloud log lines (timestamps rewritten, request and
instance ids varied) is merged three ways, each in its own child process:

* ours: ``stacktender logs merge --by-host DIR`` (no filter, text: the light path of
  ``stacktender.logs.fastmerge``, compiled: ``_cmerge.c``), and in-process the library
  paths it chooses between: ``MergedText`` (unfiltered text; compiled, and its pure
  Python reference with ``compiled=False``) and ``MergedLogs`` (records, as any filter
  or JSON output uses them);
* os-log-merger (PyPI), the tool operators use today, on the same files;
* ``cat`` of the same files: the speed of just reading the bytes.

Each is measured writing to /dev/null and writing into a pipe read by ``cat >/dev/null``.
Peak RSS comes from ``os.wait4`` of the child. Targets (issue 5): at least 5x
os-log-merger's throughput, at least 0.2x cat's, and peak memory flat from 1M to 5M lines.
The data set is generated under a temporary directory at bench time, never committed.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import write_result

TESTCLOUD_LOGS = Path.home() / ".local/share/stacktender/testcloud/logs"
TARGET_VS_OSLOGMERGER = 5.0
TARGET_VS_CAT = 0.2
TIME = "/usr/bin/time"  # GNU time (Debian package "time")
HOSTS = 3
START = datetime(2026, 11, 25, 0, 0, tzinfo=UTC).timestamp()
SPAN = 86400.0  # every file covers the same day, so the merge interleaves all of them

_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ")
_REQ = re.compile(r"req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_CONTEXT = re.compile(r"\[(-|None |req-)")
_UUID = re.compile(r"(?<!req-)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def real_entries(logs: Path = TESTCLOUD_LOGS) -> dict[str, list[list[tuple[bool, str]]]]:
    """The testcloud's oslo.log text entries per service: each a head line and the
    lines that follow it (traceback lines written with logging_exception_prefix,
    multi-line messages), as (time-stamped, text after the time stamp)."""
    entries: dict[str, list[list[tuple[bool, str]]]] = {}
    for path in sorted(logs.glob("*.log")):
        if path.name.endswith((".console.log", "-manage.log")) or path.name == "install.log":
            continue
        found: list[list[tuple[bool, str]]] = []
        head: list[str] = []  # time stamp, pid, logger of the last head line
        for line in path.read_text(errors="replace").splitlines():
            if _STAMP.match(line):
                pid, level, logger, rest = [*line[24:].split(" ", 3), "", "", ""][:4]
                if (
                    found
                    and [line[:23], pid, logger] == head
                    and level == "ERROR"
                    and not _CONTEXT.match(rest)
                ):  # a traceback line written with logging_exception_prefix
                    found[-1].append((True, line[24:]))
                    continue
                head = [line[:23], pid, logger]
                found.append([(True, line[24:])])
            elif found:
                found[-1].append((False, line))
        if found:  # glance-api writes JSON: os-log-merger cannot read it, so not here
            entries[path.name.removesuffix(".log")] = found
    if not entries:
        raise SystemExit(f"no oslo.log files in {logs}: start the testcloud first")
    return entries


def _varied(text: str, ids: dict[str, str], rng: random.Random) -> str:
    """Replace request ids and UUIDs so that every generated request has its own."""

    def swap(match: re.Match[str]) -> str:
        old = match.group(0)
        new = ids.get(old)
        if new is None:
            new = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            if old.startswith("req-"):
                new = "req-" + new
            ids[old] = new
        return new

    return _UUID.sub(swap, _REQ.sub(swap, text))


def generate(root: Path, total_lines: int, seed: int = 5) -> list[Path]:
    """Write about ``total_lines`` lines as ROOT/host-N/SERVICE.log; return the files."""
    entries = real_entries()
    rng = random.Random(seed)
    services = sorted(entries)
    files = [(h, s) for h in range(1, HOSTS + 1) for s in services]
    per_file = total_lines // len(files) + 1
    written: list[Path] = []
    for host, service in files:
        path = root / f"host-{host}" / f"{service}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        templates = entries[service]
        mean_lines = sum(map(len, templates)) / len(templates)
        step = SPAN / (per_file / mean_lines)
        ts = START + rng.random() * step
        lines_out = 0
        ids: dict[str, str] = {}
        with path.open("w") as out:
            index = rng.randrange(len(templates))
            chunk: list[str] = []
            while lines_out < per_file:
                entry = templates[index % len(templates)]
                index += 1
                if index % 7 == 0:
                    ids.clear()  # a new request: new ids from here on
                ts += rng.expovariate(1.0 / step)
                # processes sharing a file write a line a few ms late now and then
                when = ts - (0.004 if rng.random() < 0.002 else 0.0)
                stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:23]
                for stamped, line in entry:
                    text = _varied(line, ids, rng)
                    chunk.append(f"{stamp} {text}" if stamped else text)
                lines_out += len(entry)
                if len(chunk) > 4096:
                    out.write("\n".join(chunk) + "\n")
                    chunk.clear()
            if chunk:
                out.write("\n".join(chunk) + "\n")
        written.append(path)
    return written


# The library pipelines `stacktender logs merge` runs, minus click: records (any filter,
# JSON output) and the light text path (no filter, text output).
_LIBRARY = """
import sys
from stacktender.logs.merge import MergedLogs
from stacktender.logs.sources import discover
out = sys.stdout
buffer = []
for batch in MergedLogs(discover([sys.argv[1]], by_host=True)).batches():
    for record in batch:
        buffer += record.lines
    if len(buffer) > 4096:
        buffer.append("")
        out.write("\\n".join(buffer))
        buffer.clear()
buffer.append("")
out.write("\\n".join(buffer))
"""
_LIBRARY_TEXT = """
import sys
from stacktender.logs.fastmerge import MergedText
from stacktender.logs.sources import discover
MergedText(discover([sys.argv[1]], by_host=True)).write(sys.stdout)
"""
_LIBRARY_TEXT_PYTHON = """
import sys
from stacktender.logs.fastmerge import MergedText
from stacktender.logs.sources import discover
MergedText(discover([sys.argv[1]], by_host=True), compiled=False).write(sys.stdout)
"""


def _run(command: list[str], into_pipe: bool) -> dict[str, float]:
    """Wall and CPU seconds and peak RSS of one command, measured by GNU time (a small
    parent: a child forked from this Python process would inherit its RSS as its
    high-water mark). Through a pipe, ``cat >/dev/null`` reads the output."""
    with tempfile.NamedTemporaryFile("r") as report, open(os.devnull, "wb") as devnull:
        timed = [TIME, "-f", "%e %U %S %M", "-o", report.name, *command]
        start = time.perf_counter()
        if into_pipe:
            reader = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=devnull)
            child = subprocess.run(timed, stdout=reader.stdin, stderr=subprocess.DEVNULL)
            assert reader.stdin is not None
            reader.stdin.close()
            reader.wait()
        else:
            child = subprocess.run(timed, stdout=devnull, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        fields = report.read().split()
    if child.returncode != 0:
        raise SystemExit(f"{command!r} failed with {child.returncode}")
    _elapsed, user, system, rss_kb = fields[-4:]
    return {"wall_s": wall, "cpu_s": float(user) + float(system), "max_rss_mb": int(rss_kb) / 1024}


def _best(samples: list[dict[str, float]]) -> dict[str, Any]:
    best = min(samples, key=lambda s: s["wall_s"])
    return {
        "wall_s": round(best["wall_s"], 3),
        "cpu_s": round(best["cpu_s"], 3),
        "max_rss_mb": round(max(s["max_rss_mb"] for s in samples), 1),
        "runs": len(samples),
        "all_wall_s": [round(s["wall_s"], 3) for s in samples],
    }


def measure(root: Path, files: list[Path], runs: int, baseline: bool) -> dict[str, Any]:
    """Every contender on one data set, ``runs`` times each, interleaved so that the
    load of the (shared) machine hits them alike; the best run of each counts."""
    bindir = Path(sys.executable).parent
    names = [str(f) for f in files]
    contenders: dict[str, tuple[list[str], bool]] = {
        "stacktender_cli_devnull": (
            [str(bindir / "stacktender"), "logs", "merge", "--by-host", "--no-color", str(root)],
            False,
        ),
        "stacktender_cli_pipe": (
            [str(bindir / "stacktender"), "logs", "merge", "--by-host", "--no-color", str(root)],
            True,
        ),
        "stacktender_library_devnull": ([sys.executable, "-c", _LIBRARY, str(root)], False),
        "stacktender_library_text_devnull": (
            [sys.executable, "-c", _LIBRARY_TEXT, str(root)],
            False,
        ),
        "stacktender_library_text_python_devnull": (
            [sys.executable, "-c", _LIBRARY_TEXT_PYTHON, str(root)],
            False,
        ),
        "cat_devnull": (["cat", *names], False),
        "cat_pipe": (["cat", *names], True),
    }
    if baseline:
        contenders["os_log_merger_devnull"] = ([str(bindir / "os-log-merger"), *names], False)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, (command, into_pipe) in contenders.items():
            samples[name].append(_run(command, into_pipe))
    return {name: _best(found) for name, found in samples.items()}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--baseline-up-to", type=int, default=1_000_000,
        help="run os-log-merger (slow) only on sets up to this many lines",
    )  # fmt: skip
    args = parser.parse_args(argv)
    from stacktender.logs import cmerge

    if not cmerge.AVAILABLE:  # the figures are the compiled path's
        raise SystemExit("stacktender.logs._cmerge is not built: run `make venv` first")
    load = os.getloadavg()  # the machine is shared: say how busy it was
    sets: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="logs-merge-bench-") as tmp:
        for total in args.lines:
            root = Path(tmp, f"{total}")
            files = generate(root, total)
            lines = sum(1 for f in files for _ in f.open("rb"))
            size = sum(f.stat().st_size for f in files)
            print(
                f"logs merge: {lines} lines, {size / 1e6:.0f} MB in {len(files)} files", flush=True
            )
            found = measure(root, files, args.runs, total <= args.baseline_up_to)
            shutil.rmtree(root)
            ours = found["stacktender_cli_devnull"]["wall_s"]
            entry: dict[str, Any] = {
                "lines": lines, "bytes": size, "files": len(files), "results": found,
                "us_per_line": {k: round(v["wall_s"] / lines * 1e6, 3) for k, v in found.items()},
                "ratio_vs_cat_devnull": round(found["cat_devnull"]["wall_s"] / ours, 4),
                "ratio_vs_cat_pipe": round(
                    found["cat_pipe"]["wall_s"] / found["stacktender_cli_pipe"]["wall_s"], 4
                ),
            }  # fmt: skip
            if "os_log_merger_devnull" in found:
                theirs = found["os_log_merger_devnull"]["wall_s"]
                entry["speedup_vs_os_log_merger"] = round(theirs / ours, 2)
                entry["speedup_vs_os_log_merger_library"] = round(
                    theirs / found["stacktender_library_devnull"]["wall_s"], 2
                )
                entry["speedup_vs_os_log_merger_library_text"] = round(
                    theirs / found["stacktender_library_text_devnull"]["wall_s"], 2
                )
            sets[str(total)] = entry
            for name, value in found.items():
                print(
                    f"  {name:30} {value['wall_s']:7.2f} s  "
                    f"{value['wall_s'] / lines * 1e6:6.2f} us/line  {value['max_rss_mb']:6.0f} MB"
                )
            if "speedup_vs_os_log_merger" in entry:
                print(f"  {entry['speedup_vs_os_log_merger']}x os-log-merger, the library "
                      f"{entry['speedup_vs_os_log_merger_library_text']}x (text), "
                      f"{entry['speedup_vs_os_log_merger_library']}x (records) "
                      f"(target >= {TARGET_VS_OSLOGMERGER}x)")  # fmt: skip
            print(f"  {entry['ratio_vs_cat_devnull']}x cat to /dev/null, "
                  f"{entry['ratio_vs_cat_pipe']}x cat through a pipe "
                  f"(target >= {TARGET_VS_CAT}x)")  # fmt: skip
    first = sets[str(args.lines[0])]
    rss = {k: v["results"]["stacktender_cli_devnull"]["max_rss_mb"] for k, v in sets.items()}
    result: dict[str, Any] = {
        "data": "real testcloud oslo.log lines, time stamps rewritten, ids varied; "
        f"{HOSTS} hosts x services as DIR/host-N/SERVICE.log",
        "how": "each command a child process, stdout to /dev/null or into `cat >/dev/null`; "
        "best wall time of the runs (interleaved); peak RSS from GNU time",
        "sets": sets,
        "peak_rss_mb": rss,
        "load_average_at_start": [round(x, 2) for x in load],
        "speedup_vs_os_log_merger": first.get("speedup_vs_os_log_merger"),
        "speedup_vs_os_log_merger_library": first.get("speedup_vs_os_log_merger_library"),
        "speedup_vs_os_log_merger_library_text": first.get("speedup_vs_os_log_merger_library_text"),
        "compiled": "stacktender.logs._cmerge (the CLI's and MergedText's default); "
        "stacktender_library_text_python_devnull is the pure-Python reference path",
        "target_vs_os_log_merger": TARGET_VS_OSLOGMERGER,
        "ratio_vs_cat_devnull": first["ratio_vs_cat_devnull"],
        "ratio_vs_cat_pipe": first["ratio_vs_cat_pipe"],
        "target_vs_cat": TARGET_VS_CAT,
    }
    result["pass"] = {
        "os_log_merger": (first.get("speedup_vs_os_log_merger") or 0) >= TARGET_VS_OSLOGMERGER,
        "cat": first["ratio_vs_cat_pipe"] >= TARGET_VS_CAT,
        "memory_flat": len(rss) < 2 or max(rss.values()) <= 1.25 * min(rss.values()),
    }
    print(f"peak RSS by lines: {rss}")
    write_result("logs-merge", result)
    return result


if __name__ == "__main__":
    main()
