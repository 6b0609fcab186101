"""The declarations of services the testcloud lacks (heat, octavia, swift) and of cinder
backups (no cinder-backup runs there), against small in-process fakes of openstacksdk's
proxies: listing filters by owner, deletion calls, and when a deletion counts as over.
Whether the real APIs accept these calls is not proven here: no such service runs."""

from __future__ import annotations

from types import SimpleNamespace as NS
from typing import Any

import pytest
from openstack import exceptions

from stacktender.purge.services import block_storage, extra

TYPES = {t.name: t for t in [*extra.TYPES, *block_storage.TYPES]}


class Recorder:
    """A proxy whose methods return canned answers and record their calls."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            answer = self.answers[name]
            if isinstance(answer, Exception):
                raise answer
            return answer(*args, **kwargs) if callable(answer) else answer

        return call


def test_stacks_of_the_project_only_and_their_deletion() -> None:
    stacks = [
        NS(id="s1", name="web", project_id="p1", status="CREATE_COMPLETE", created_at=None),
        NS(id="s2", name="web", project_id="p2", status="CREATE_COMPLETE", created_at=None),
    ]
    heat = Recorder(stacks=stacks, delete_stack=None, get_stack=NS(status="DELETE_IN_PROGRESS"))
    conn = NS(orchestration=heat)
    rtype = TYPES["stack"]
    (item,) = rtype.list(conn, "p1")
    assert (item.id, item.project_id, item.service) == ("s1", "p1", "orchestration")
    assert {i.id for i in rtype.list(conn, None)} == {"s1", "s2"}
    rtype.delete(conn, item)
    assert ("delete_stack", ("s1",), {"ignore_missing": False}) in heat.calls
    assert rtype.gone is not None
    assert rtype.gone(conn, item) is False
    heat.answers["get_stack"] = NS(status="DELETE_FAILED", status_reason="resource busy")
    with pytest.raises(RuntimeError, match="resource busy"):
        rtype.gone(conn, item)
    heat.answers["get_stack"] = exceptions.NotFoundException(message="gone")
    assert rtype.gone(conn, item) is True


def test_load_balancers_are_deleted_with_cascade() -> None:
    lb = NS(id="l1", name="lb", project_id="p1", provisioning_status="ACTIVE")
    lb.vip_address, lb.created_at = "10.0.0.5", "2026-11-01T00:00:00"
    octavia = Recorder(
        load_balancers=[lb],
        delete_load_balancer=None,
        get_load_balancer=NS(provisioning_status="ERROR"),
    )
    conn = NS(load_balancer=octavia)
    rtype = TYPES["load_balancer"]
    (item,) = rtype.list(conn, "p1")
    assert item.detail == "ACTIVE, vip 10.0.0.5" and item.created_at is not None
    rtype.delete(conn, item)
    name, args, kwargs = octavia.calls[-1]
    assert (name, args, kwargs) == (
        "delete_load_balancer", ("l1",), {"ignore_missing": False, "cascade": True}
    )  # fmt: skip
    assert rtype.gone is not None
    with pytest.raises(RuntimeError, match="went to ERROR"):
        rtype.gone(conn, item)
    assert rtype.list(conn, "p2") == []


class Response:
    def __init__(self, status: int, body: Any = None) -> None:
        self.status_code, self.body = status, body

    def json(self) -> Any:
        return self.body

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(f"HTTP {self.status_code}")


def test_containers_are_listed_through_the_project_account_and_emptied() -> None:
    pages = {
        "http://swift/v1/AUTH_p1": [Response(200, [{"name": "backups", "count": 2, "bytes": 9}])],
        "http://swift/v1/AUTH_p1/backups": [
            Response(200, [{"name": "a"}, {"name": "b"}]), Response(200, []),
        ],
    }  # fmt: skip
    deleted: list[str] = []

    def get(url: str, params: Any = None) -> Response:
        return pages[url].pop(0)

    def delete(url: str) -> Response:
        deleted.append(url)
        return Response(204)

    swift = Recorder(get_endpoint="http://swift/v1/AUTH_admin", get=get, delete=delete)
    conn = NS(object_store=swift)
    rtype = TYPES["container"]
    (item,) = rtype.list(conn, "p1")
    assert (item.name, item.detail) == ("backups", "2 object(s), 9 bytes")
    assert rtype.list(conn, None) == []  # a vanished project's account cannot be found
    rtype.delete(conn, item)
    base = "http://swift/v1/AUTH_p1/backups"
    assert deleted == [f"{base}/a", f"{base}/b", base]


def test_backups_filtered_by_owner_and_failed_deletions_detected() -> None:
    backups = [
        NS(id=f"b{i}", name="nightly", project_id=f"p{i}", status="available", volume_id="v")
        for i in (1, 2)
    ]
    cinder = Recorder(backups=backups, delete_backup=None, get_backup=NS(status="error_deleting"))
    conn = NS(block_storage=cinder)
    rtype = TYPES["backup"]
    (item,) = rtype.list(conn, "p1")
    assert item.id == "b1" and rtype.retry_bad_request
    assert cinder.calls[0][2] == {"details": True, "all_projects": True, "project_id": "p1"}
    rtype.delete(conn, item)
    assert rtype.gone is not None
    with pytest.raises(RuntimeError, match="error_deleting"):
        rtype.gone(conn, item)
