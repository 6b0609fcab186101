"""Shared helpers of the benchmarks: timing whole commands and writing results."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def time_command(cmd: Sequence[str], runs: int, env: dict[str, str] | None = None) -> list[float]:
    """Wall-clock seconds of each of runs executions of cmd (after one warm-up run)."""
    environ = {**os.environ, **(env or {})}
    subprocess.run(cmd, capture_output=True, env=environ, check=False)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, env=environ, check=False)
        times.append(time.perf_counter() - start)
    return times


def summary(times: Sequence[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(times), 4),
        "min_s": round(min(times), 4),
        "max_s": round(max(times), 4),
        "runs": len(times),
    }


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Write bench/results/<name>.json with the machine and time of the run."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {
        "benchmark": name,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        **data,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
