"""Purging a project: stacktender against openstacksdk's ``project_cleanup``, on
identical seeds in the same run, on the testcloud.

Each round seeds two identical project pairs (``stacktender.purge.testing.seed_pair``:
a project of about 210 resources on nova, cinder, glance and neutron, and a neighbour
with same-named resources, a shared network and a shared image), then times
stacktender's purge of one (discovery, plan and execution, with the audit written to a
SQLite store, as ``purge project --execute`` does) and ``project_cleanup`` of the other
(credentials scoped to the project, the only way it works; connecting is not timed for
either). Afterwards both projects are inventoried through the APIs: what is left is
reported per kind. Then both pairs are discarded (purged, deleted from Keystone).
Seeding is not timed. Results go to bench/results/purge.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import write_result

TARGET_RATIO = 0.5


def _stacktender(
    settings: Any, seeded: Any, store_dir: Path, workers: int, per_service: int
) -> float:
    from stacktender.purge import Ledger, Policy, execute, plan_project
    from stacktender.store.db import Store
    from stacktender.testcloud.catalog import connect

    conn = connect(settings)
    conn.authorize()
    with Store.open(f"sqlite:///{store_dir / 'purge.db'}") as store:
        started = time.perf_counter()
        plan = plan_project(conn, seeded.project.id)
        policy = Policy(workers=workers, per_service=per_service)
        report = execute(conn, plan, ledger=Ledger(store), policy=policy)
        seconds = time.perf_counter() - started
    if report.status != "finished":
        raise SystemExit(f"stacktender: {report.summary()}")
    conn.close()
    return seconds


def _baseline(settings: Any, seeded: Any) -> float:
    from stacktender.testcloud.catalog import connect

    admin = connect(settings)
    admin.identity.update_project(seeded.project, is_enabled=True)
    conn = connect(settings, project=seeded.project.name)
    conn.authorize()
    started = time.perf_counter()
    conn.project_cleanup(dry_run=False, wait_timeout=600)
    seconds = time.perf_counter() - started
    admin.identity.update_project(seeded.project, is_enabled=False)
    conn.close()
    admin.close()
    return seconds


def _left(settings: Any, project_id: str) -> dict[str, int]:
    from stacktender.purge.testing import remaining
    from stacktender.testcloud.catalog import connect

    conn = connect(settings)
    try:
        return {kind: len(ids) for kind, ids in sorted(remaining(conn, project_id).items())}
    finally:
        conn.close()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="seeded pairs per contender")
    parser.add_argument("--servers", type=int, default=4)
    parser.add_argument("--ports", type=int, default=120)
    parser.add_argument("--security-groups", type=int, default=30)
    parser.add_argument("--workers", type=int, default=24)
    parser.add_argument("--per-service", type=int, default=4)
    parser.add_argument("--name", default="purge", help="results file: bench/results/NAME.json")
    args = parser.parse_args(argv)
    from stacktender.purge.testing import discard, seed_pair
    from stacktender.testcloud import TestCloud, default_state_dir

    cloud = TestCloud(default_state_dir())
    settings = cloud.settings()
    sizes = {"servers": args.servers, "ports": args.ports, "security_groups": args.security_groups}
    ours: list[float] = []
    theirs: list[float] = []
    left: dict[str, list[dict[str, int]]] = {"stacktender": [], "project_cleanup": []}
    created: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="stacktender-bench-purge-") as tmp:
        for n in range(args.rounds):
            print(f"round {n + 1}: seeding two identical pairs ...", flush=True)
            pairs = [seed_pair(settings, f"bench-purge-{who}", **sizes) for who in ("st", "sdk")]
            created = pairs[0].created
            # alternate who goes first: the cloud's caches and load drift during a run
            order = [("stacktender", pairs[0]), ("project_cleanup", pairs[1])]
            if n % 2:
                order.reverse()
            for who, seeded in order:
                if who == "stacktender":
                    ours.append(
                        _stacktender(settings, seeded, Path(tmp), args.workers, args.per_service)
                    )
                    print(f"  stacktender     {ours[-1]:6.1f} s", flush=True)
                else:
                    theirs.append(_baseline(settings, seeded))
                    print(f"  project_cleanup {theirs[-1]:6.1f} s", flush=True)
                left[who].append(_left(settings, seeded.project.id))
            for seeded in pairs:  # the testcloud is shared: leave it as it was
                discard(settings, seeded.project, seeded.neighbour)
    mine, base = statistics.median(ours), statistics.median(theirs)
    ratio = mine / base
    print(f"stacktender {mine:.1f} s vs project_cleanup {base:.1f} s: {ratio:.2f}x")
    print(f"(target <= {TARGET_RATIO}x with nothing left behind)")
    print(f"left behind: stacktender {left['stacktender']}")
    print(f"             project_cleanup {left['project_cleanup']}")
    result = {
        "seed": {"resources": sum(created.values()), "per_kind": created, **sizes},
        "workers": args.workers,
        "per_service": args.per_service,
        "stacktender_s": [round(s, 2) for s in ours],
        "project_cleanup_s": [round(s, 2) for s in theirs],
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "met": ratio <= TARGET_RATIO and not any(left["stacktender"][i] for i in range(len(ours))),
        "left_behind": left,
    }
    path = write_result(args.name, result)
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
