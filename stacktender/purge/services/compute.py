"""nova: servers (deleted first among compute resources; nova detaches their volumes
and deletes the ports it created) and server groups."""

from __future__ import annotations

from typing import Any

from stacktender.purge.model import Found, ResourceType
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
    server = conn.compute.get_server(item.id)
    if server.status == "SOFT_DELETED":
        conn.compute.delete_server(
            server, ignore_missing=False, force=True
        )  # reclaim now, not at the interval
    else:
        conn.compute.delete_server(server, ignore_missing=False)


REDELETES = 3


def _server_gone(conn: Any, item: Found) -> bool:
    server = get_or_none(conn.compute.get_server, item.id)
    if server is None or server.status == "DELETED":
        return True
    if server.status == "ERROR" and not server.task_state:
        # the deletion itself failed (neutron or cinder said no for a moment): an ERROR
        # server can be deleted again, which nova then retries from the start
        tries = item.data.setdefault("redeletes", 0)
        if tries >= REDELETES:
            fault = (server.fault or {}).get("message", "no fault recorded")
            raise RuntimeError(f"server {item.id} stays in ERROR after {tries} deletes: {fault}")
        item.data["redeletes"] = tries + 1
        conn.compute.delete_server(server, ignore_missing=False)
    return False


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
