"""A sweep of 50 checks over the local real services, against the same 50 checks run the way
Icinga runs plugins today: one `stacktender check` process each, one after another.

Services: the machine's RabbitMQ, MariaDB and PostgreSQL, plus a memcached this benchmark
starts. Target (issue 3): the sweep is at least 20x faster.
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


def main() -> dict[str, Any]:
    stacktender = str(Path(sys.executable).parent / "stacktender")
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

            sweep_runs = []
            for _ in range(SWEEP_RUNS):
                start = time.perf_counter()
                sweep = subprocess.run(
                    [stacktender, "sweep", "-f", "json"], capture_output=True, text=True, env=env
                )
                sweep_runs.append(time.perf_counter() - start)
            sweep_s = statistics.median(sweep_runs)
            results = yaml.safe_load(sweep.stdout)
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
        "baseline_sequential_processes_seconds": round(baseline_s, 3),
        "speedup": round(ratio, 2),
        "target_speedup_min": TARGET_RATIO,
        "pass": ratio >= TARGET_RATIO,
        "statuses_sweep": {s: statuses.count(s) for s in sorted(set(statuses))},
        "statuses_baseline": {
            s: baseline_statuses.count(s) for s in sorted(set(baseline_statuses))
        },
    }
    write_result("sweep-50", result)
    return result


if __name__ == "__main__":
    main()
