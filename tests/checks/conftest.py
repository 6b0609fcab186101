"""Fixtures of the check tests: a real three-node Galera cluster on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from galera_cluster import TEST_DATABASE, GaleraCluster, galera_cluster


@pytest.fixture(scope="session")
def galera_session() -> Iterator[GaleraCluster]:
    """Started once (≈13 s): three Synced nodes, a test table; removed at the end."""
    with galera_cluster(size=3) as cluster:
        cluster.nodes[0].query(f"CREATE DATABASE {TEST_DATABASE}")
        cluster.nodes[0].query(
            f"CREATE TABLE {TEST_DATABASE}.writes "
            "(id INT AUTO_INCREMENT PRIMARY KEY, node VARCHAR(16), v INT)"
        )
        yield cluster


@pytest.fixture
def galera(galera_session: GaleraCluster) -> GaleraCluster:
    """The session cluster, healed first: every node running, Synced, not read_only."""
    galera_session.ensure_healthy()
    return galera_session
