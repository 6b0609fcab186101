"""A sweep of 50 checks over the local real services, against the same 50 checks run the way
Icinga runs plugins today: one `stacktender check` process each, one after another.

Services: the machine's RabbitMQ, MariaDB and PostgreSQL, plus a memcached this benchmark
starts. Target (issue 3): the sweep is at least 20x faster. The sweep runs as shipped (its
checks spread over two processes by service); the same sweep in one process
(``--processes 1``) is recorded beside it.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import write_result

TARGET_RATIO = 20.0
COUNT = 50
SWEEP_RUNS = 5  # the sweep is short: its median over 5 runs; the baseline is 50 runs already
REPEATS = 3  # the whole comparison, three times; the run with the median ratio is recorded


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def candidates(memcached_port: int) -> list[tuple[str, str | None, dict[str, Any]]]:
    """(check, url, options) for every check this machine's real services can answer."""
    return [
        ("memcached", f"memcached://127.0.0.1:{memcached_port}", {}),
        ("rabbitmq-node", None, {}),
        ("rabbitmq-queues", None, {}),
        ("rabbitmq-connections", None, {}),
        ("rabbitmq-openstack", None, {}),
        ("rabbitmq-health", None, {}),
        ("rabbitmq-roundtrip", None, {}),
        ("mysql-connection", None, {}),
        ("mysql-connections", None, {}),
        ("postgres-connection", None, {}),
        ("postgres-connections", None, {}),
        ("disk-free", None, {"path": "/"}),
    ]


def installed_checks(stacktender: str) -> set[str]:
    out = subprocess.run(
        [stacktender, "checks", "list", "-f", "value", "-c", "name"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def main(repeats: int = REPEATS) -> dict[str, Any]:
    """Compare ``repeats`` times; write and return the run with the median speedup."""
    runs = sorted((measure() for _ in range(repeats)), key=lambda r: float(r["speedup"]))
    result = {**runs[len(runs) // 2], "speedups_of_repeats": [r["speedup"] for r in runs]}
    print(f"recorded the median of {repeats}: {result['speedup']}x")
    write_result("sweep-50", result)
    return result


def measure() -> dict[str, Any]:
    """One comparison: the sweep (median of SWEEP_RUNS) against the 50 processes."""
    stacktender = str(Path(sys.executable).parent / "stacktender")
    # Other work on the machine's two cores slows both sides unevenly: record how much.
    load_before = round(os.getloadavg()[0], 2)
    port = free_port()
    memcached = subprocess.Popen(
        ["memcached", "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-u", "root"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        have = installed_checks(stacktender)
        pool = [c for c in candidates(port) if c[0] in have]
        instances = [pool[i % len(pool)] for i in range(COUNT)]
        entries = []
        for i, (check, url, options) in enumerate(instances):
            entry: dict[str, Any] = {"check": check, "name": f"{check}-{i}"}
            if url:
                entry["url"] = url
            if options:
                entry["options"] = options
            entries.append(entry)
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "bench.yaml"
            config.write_text(yaml.safe_dump({"sweep": entries, "concurrency": 16}))
            env = {**os.environ, "STACKTENDER_CONFIG": str(config)}

            # The sweep as shipped (two processes on this 2-core machine), and for reference
            # the same sweep kept in one process, run alternately so both see the same load.
            sweep_runs: list[float] = []
            one_process_runs: list[float] = []
            for _ in range(SWEEP_RUNS):
                for runs, extra in ((sweep_runs, []), (one_process_runs, ["--processes", "1"])):
                    start = time.perf_counter()
                    sweep = subprocess.run(
                        [stacktender, "sweep", "-f", "json", *extra],
                        capture_output=True,
                        text=True,
                        env=env,
                    )
                    runs.append(time.perf_counter() - start)
                    if not extra:
                        results = yaml.safe_load(sweep.stdout)
            sweep_s = statistics.median(sweep_runs)
            statuses = [r["status"] for r in results]

            start = time.perf_counter()
            baseline_statuses = []
            for check, url, options in instances:
                cmd = [stacktender, "check", check]
                if url:
                    cmd += ["--url", url]
                for key, value in options.items():
                    cmd += ["-o", f"{key}={value}"]
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
                baseline_statuses.append(proc.stdout.split(" ", 2)[1] if proc.stdout else "?")
            baseline_s = time.perf_counter() - start
    finally:
        memcached.terminate()
        memcached.wait()

    ratio = baseline_s / sweep_s
    print(
        f"sweep: {COUNT} checks ({len(pool)} kinds) in {sweep_s:.2f}s; one process each, "
        f"sequentially: {baseline_s:.2f}s: {ratio:.1f}x faster (target >= {TARGET_RATIO}x) "
        f"{'PASS' if ratio >= TARGET_RATIO else 'FAIL'}"
    )
    result = {
        "checks": COUNT,
        "check_kinds": sorted({c for c, _, _ in instances}),
        "sweep_seconds": round(sweep_s, 3),
        "sweep_runs_seconds": [round(t, 3) for t in sweep_runs],
        "sweep_processes": 2,
        "sweep_one_process_seconds": round(statistics.median(one_process_runs), 3),
        "sweep_one_process_runs_seconds": [round(t, 3) for t in one_process_runs],
        "baseline_sequential_processes_seconds": round(baseline_s, 3),
        "speedup": round(ratio, 2),
        "target_speedup_min": TARGET_RATIO,
        "pass": ratio >= TARGET_RATIO,
        "load_average_1min_before": load_before,
        "load_average_1min_after": round(os.getloadavg()[0], 2),
        "statuses_sweep": {s: statuses.count(s) for s in sorted(set(statuses))},
        "statuses_baseline": {
            s: baseline_statuses.count(s) for s in sorted(set(baseline_statuses))
        },
    }
    return result


if __name__ == "__main__":
    main()
