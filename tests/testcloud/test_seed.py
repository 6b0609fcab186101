"""Seeding through the public APIs: idempotent, and --scale spreads servers over hosts."""

from __future__ import annotations

import collections

import pytest
from testcloud_support import RunningTestCloud

from stacktender.testcloud.seed import PROJECTS, SERVERS_PER_HOST, seed

pytestmark = pytest.mark.testcloud


def test_seed_twice_creates_nothing_new(testcloud: RunningTestCloud) -> None:
    again = seed(testcloud.cloud)
    assert again == testcloud.seeded
    assert again["servers"] >= 2 * len(PROJECTS)
    assert again["snapshots"] >= len(PROJECTS)
    assert again["floating IPs"] >= len(PROJECTS)


def test_scale_spreads_servers_over_added_compute_hosts(testcloud: RunningTestCloud) -> None:
    count = SERVERS_PER_HOST + 5  # two hosts
    seed(testcloud.cloud, scale=count)
    assert testcloud.cloud.settings().compute_hosts >= 2
    conn = testcloud.connect(project="scale")
    servers = list(conn.compute.servers(name="^scale-"))
    assert sum(s.status == "ACTIVE" for s in servers) >= count
    admin = testcloud.connect()
    hosts = collections.Counter(
        s.compute_host for s in admin.compute.servers(all_projects=True, name="^scale-")
    )
    assert len(hosts) >= 2, hosts
    assert all(status == "up" for status in (r.state for r in testcloud.cloud.status()))
