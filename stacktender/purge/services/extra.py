"""Services a cloud may or may not have: orchestration stacks (first: they own other
resources), load balancers (cascade delete) and object storage containers.

None of the three runs on the testcloud, so these declarations are exercised only by
the unit tests' in-process fakes; a cloud whose catalog lacks the service reports the
types as skipped.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from stacktender.purge.model import Found, ResourceType
from stacktender.purge.services import found, get_or_none, owned


def _stacks(conn: Any, project_id: str | None) -> list[Found]:
    # heat names the owner "project" in stack listings; global_tenant lists every project
    stacks = conn.orchestration.stacks(global_tenant=True)
    out = []
    for stack in stacks:
        owner = getattr(stack, "project_id", None) or getattr(stack, "project", None)
        if not owner or (project_id is not None and owner != project_id):
            continue
        item = found("stack", "orchestration", stack, detail=str(stack.status or ""))
        out.append(replace(item, project_id=str(owner)))
    return out


def _stack_gone(conn: Any, item: Found) -> bool:
    stack = get_or_none(conn.orchestration.get_stack, item.id)
    if stack is None or stack.status == "DELETE_COMPLETE":
        return True
    if stack.status == "DELETE_FAILED":
        raise RuntimeError(f"stack {item.id}: {stack.status_reason or 'DELETE_FAILED'}")
    return False


def _load_balancers(conn: Any, project_id: str | None) -> list[Found]:
    filters = {"project_id": project_id} if project_id else {}
    return [
        found(
            "load_balancer",
            "load-balancer",
            lb,
            detail=f"{lb.provisioning_status}, vip {lb.vip_address}",
        )
        for lb in owned(conn.load_balancer.load_balancers(**filters), project_id)
    ]


def _lb_gone(conn: Any, item: Found) -> bool:
    lb = get_or_none(conn.load_balancer.get_load_balancer, item.id)
    if lb is None or lb.provisioning_status == "DELETED":
        return True
    if lb.provisioning_status == "ERROR":
        raise RuntimeError(f"load balancer {item.id} went to ERROR while deleting")
    return False


def _containers(conn: Any, project_id: str | None) -> list[Found]:
    """The project's containers, through its account URL (needs a reseller admin)."""
    if project_id is None:
        return []  # accounts of vanished projects cannot be listed without their ids
    account = _account(conn, project_id)
    response = conn.object_store.get(account, params={"format": "json"})
    if response.status_code == 404:
        return []
    response.raise_for_status()
    return [
        Found(
            type="container",
            service="object-store",
            id=f"{account}/{c['name']}",
            name=c["name"],
            project_id=project_id,
            detail=f"{c.get('count', 0)} object(s), {c.get('bytes', 0)} bytes",
            data={"account": account, "container": c["name"]},
        )
        for c in response.json()
    ]


def _account(conn: Any, project_id: str) -> str:
    endpoint = conn.object_store.get_endpoint().rstrip("/")
    base, _, _ = endpoint.rpartition("/AUTH_")
    return f"{base}/AUTH_{project_id}"


def _delete_container(conn: Any, item: Found) -> None:
    url = f"{item.data['account']}/{item.data['container']}"
    while True:
        listing = conn.object_store.get(url, params={"format": "json", "limit": 1000})
        if listing.status_code == 404:
            return
        objects = listing.json()
        if not objects:
            break
        for obj in objects:
            conn.object_store.delete(f"{url}/{obj['name']}")
    conn.object_store.delete(url).raise_for_status()


TYPES = [
    ResourceType(
        name="stack",
        service="orchestration",
        list=_stacks,
        delete=lambda conn, item: conn.orchestration.delete_stack(item.id, ignore_missing=False),
        gone=_stack_gone,
        owner="project",
        description="heat stacks (they delete the resources they created)",
        wait_timeout=900,
    ),
    ResourceType(
        name="load_balancer",
        service="load-balancer",
        list=_load_balancers,
        delete=lambda conn, item: conn.load_balancer.delete_load_balancer(
            item.id, ignore_missing=False, cascade=True
        ),
        gone=_lb_gone,
        after=("stack",),
        description="octavia load balancers with their listeners, pools and members (cascade)",
    ),
    ResourceType(
        name="container",
        service="object-store",
        list=_containers,
        delete=_delete_container,
        after=("stack",),
        description="swift containers and their objects (the project's account)",
    ),
]
