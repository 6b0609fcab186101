"""An in-process fake cloud for the purge's scheduling, retry and filter logic (the
real services are in test_purge_cloud.py), and its fixture."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from stacktender.purge.model import Found, ResourceType


@dataclass
class FakeCloud:
    """Resources in memory; deletions recorded in order, faults injected per id.

    Only the scheduling, retry and filter logic run against it: whether real services
    accept the deletions is what tests/purge/test_purge_cloud.py proves."""

    resources: dict[str, Found] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    conflicts: dict[str, int] = field(default_factory=dict)  # id -> 409s before success
    broken: set[str] = field(default_factory=set)  # ids whose deletion fails for good
    async_polls: dict[str, int] = field(default_factory=dict)  # id -> polls until gone
    poll_errors: dict[str, int] = field(default_factory=dict)  # id -> 503s while polling
    current_project_id: str = "admin-id"
    catalog: tuple[str, ...] = ("compute", "network")
    lock: threading.Lock = field(default_factory=threading.Lock)
    times: dict[str, float] = field(default_factory=dict)

    def endpoint_for(self, service: str) -> str | None:
        return f"http://fake/{service}" if service in self.catalog else None

    def add(self, rtype: str, rid: str, project: str = "p1", **kw: Any) -> Found:
        service = "compute" if rtype in ("server", "group") else "network"
        item = Found(rtype, service, rid, kw.pop("name", rid), project, **kw)
        self.resources[rid] = item
        return item


def http_error(code: int) -> Exception:
    from openstack import exceptions

    return exceptions.HttpException(message=f"fake {code}", http_status=code)


def fake_types(cloud: FakeCloud) -> dict[str, ResourceType]:
    """server (asynchronous) -> port -> network; group independent."""

    def lister(rtype: str) -> Any:
        def list_(conn: Any, project_id: str | None) -> list[Found]:
            return [
                r for r in conn.resources.values()
                if r.type == rtype and (project_id is None or r.project_id == project_id)
            ]  # fmt: skip

        return list_

    def delete(conn: FakeCloud, item: Found) -> None:
        with conn.lock:
            if item.id in conn.broken:
                raise http_error(400)
            if conn.conflicts.get(item.id, 0) > 0:
                conn.conflicts[item.id] -= 1
                raise http_error(409)
            if item.id not in conn.resources:
                raise http_error(404)
            conn.deleted.append(item.id)
            conn.times[item.id] = time.monotonic()
            if item.id not in conn.async_polls:
                del conn.resources[item.id]

    def gone(conn: FakeCloud, item: Found) -> bool:
        with conn.lock:
            if conn.poll_errors.get(item.id, 0) > 0:
                conn.poll_errors[item.id] -= 1
                raise http_error(503)
            left = conn.async_polls.get(item.id, 0)
            if left <= 0:
                conn.resources.pop(item.id, None)
                return True
            conn.async_polls[item.id] = left - 1
            return False

    return {
        "server": ResourceType("server", "compute", lister("server"), delete, gone),
        "group": ResourceType("group", "compute", lister("group"), delete, after=("server",)),
        "port": ResourceType("port", "network", lister("port"), delete, after=("server",)),
        "network": ResourceType("network", "network", lister("network"), delete, after=("port",)),
        "lb": ResourceType("lb", "load-balancer", lister("lb"), delete),
    }


@pytest.fixture
def fake_cloud() -> FakeCloud:
    return FakeCloud()
