"""nova: servers (deleted first among compute resources; nova detaches their volumes
and deletes the ports it created) and server groups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stacktender.purge.model import GONE, PRESENT, RELEASED, Found, ResourceType
from stacktender.purge.services import found, get_or_none, owned

SERVICE = "compute"


def _servers(conn: Any, project_id: str | None) -> list[Found]:
    filters: dict[str, Any] = {"all_projects": True}
    if project_id:
        filters["project_id"] = project_id
    out = []
    for server in owned(conn.compute.servers(**filters), project_id):
        volumes = [v.get("id") for v in getattr(server, "attached_volumes", None) or []]
        out.append(
            found(
                "server",
                SERVICE,
                server,
                detail=f"{server.status}, {len(volumes)} volume(s)" if volumes else server.status,
                volumes=[v for v in volumes if v],
                status=server.status,
            )
        )
    return out


def _delete_server(conn: Any, item: Found) -> None:
    if item.data.get("status") == "SOFT_DELETED":
        # reclaim now, not at the reclaim interval
        conn.compute.delete_server(item.id, ignore_missing=False, force=True)
    else:
        conn.compute.delete_server(item.id, ignore_missing=False)


REDELETES = 3


def _judge(conn: Any, item: Found, server: Any) -> str:
    """GONE, RELEASED (nova marked it DELETED: its ports and volumes are free, its
    allocations and database row follow) or PRESENT."""
    if server is None:
        return GONE
    if server.status == "DELETED":
        return RELEASED
    if server.status == "ERROR" and not server.task_state:
        # the deletion itself failed (neutron or cinder said no for a moment): an ERROR
        # server can be deleted again, which nova then retries from the start
        tries = item.data.setdefault("redeletes", 0)
        if tries >= REDELETES:
            fault = (server.fault or {}).get("message", "no fault recorded")
            raise RuntimeError(f"server {item.id} stays in ERROR after {tries} deletes: {fault}")
        item.data["redeletes"] = tries + 1
        conn.compute.delete_server(server, ignore_missing=False)
    return PRESENT


def _server_gone(conn: Any, item: Found) -> bool:
    return _judge(conn, item, get_or_none(conn.compute.get_server, item.id)) == GONE


def _servers_census(conn: Any, items: Sequence[Found]) -> dict[str, str | BaseException]:
    """One listing per project for all awaited servers. A server missing from it is
    looked up on its own before it counts as gone: nova leaves out the servers of a
    cell it cannot reach."""
    states: dict[str, str | BaseException] = {}
    for project_id in {i.project_id for i in items}:
        listed = {s.id: s for s in conn.compute.servers(all_projects=True, project_id=project_id)}
        for item in (i for i in items if i.project_id == project_id):
            try:
                server = listed.get(item.id) or get_or_none(conn.compute.get_server, item.id)
                states[item.id] = _judge(conn, item, server)
            except Exception as exc:
                states[item.id] = exc
    return states


def _server_groups(conn: Any, project_id: str | None) -> list[Found]:
    groups = conn.compute.server_groups(all_projects=True)
    return [
        found("server_group", SERVICE, g, detail=", ".join(g.policies or [g.policy or ""]))
        for g in owned(groups, project_id)
    ]


TYPES = [
    ResourceType(
        name="server",
        service=SERVICE,
        list=_servers,
        delete=_delete_server,
        gone=_server_gone,
        census=_servers_census,
        after=("stack", "load_balancer"),
        description="nova servers (detaches volumes, deletes the ports nova created)",
    ),
    ResourceType(
        name="server_group",
        service=SERVICE,
        list=_server_groups,
        delete=lambda conn, item: conn.compute.delete_server_group(item.id, ignore_missing=False),
        after=("server",),
        description="nova server groups",
    ),
]
