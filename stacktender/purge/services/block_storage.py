"""cinder: backups, then snapshots, then volumes (in that order: a volume with
snapshots or backups cannot go). Volumes still attached are detached through nova first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stacktender.purge.model import GONE, PRESENT, Found, ResourceType, Transient
from stacktender.purge.services import found, get_or_none, owned

SERVICE = "block-storage"
FAILED = ("error_deleting",)


def _filters(project_id: str | None) -> dict[str, Any]:
    filters: dict[str, Any] = {"details": True, "all_projects": True}
    if project_id:
        filters["project_id"] = project_id
    return filters


def _backups(conn: Any, project_id: str | None) -> list[Found]:
    items = conn.block_storage.backups(**_filters(project_id))
    return [
        found("backup", SERVICE, b, detail=f"{b.status}, of volume {b.volume_id}")
        for b in owned(items, project_id)
    ]


def _snapshots(conn: Any, project_id: str | None) -> list[Found]:
    items = conn.block_storage.snapshots(**_filters(project_id))
    return [
        found("snapshot", SERVICE, s, detail=f"{s.status}, of volume {s.volume_id}")
        for s in owned(items, project_id)
    ]


def _volumes(conn: Any, project_id: str | None) -> list[Found]:
    items = conn.block_storage.volumes(**_filters(project_id))
    out = []
    for volume in owned(items, project_id):
        servers = tuple(a.get("server_id") for a in volume.attachments or [] if a.get("server_id"))
        detail = f"{volume.status}, {volume.size} GiB"
        if servers:
            detail += ", attached to " + ", ".join(servers)
        out.append(found("volume", SERVICE, volume, detail=detail, needs=servers))
    return out


def _failed(item: Found, status: str | None) -> RuntimeError | None:
    return RuntimeError(f"{item.type} {item.id} went to {status}") if status in FAILED else None


def _gone(getter_name: str) -> Any:
    def gone(conn: Any, item: Found) -> bool:
        obj = get_or_none(getattr(conn.block_storage, getter_name), item.id)
        if obj is None:
            return True
        if error := _failed(item, obj.status):
            raise error
        return False

    return gone


def _census(listing: str) -> Any:
    """One listing per project for all awaited resources; missing from it is gone."""

    def census(conn: Any, items: Sequence[Found]) -> dict[str, str | BaseException]:
        states: dict[str, str | BaseException] = {}
        for project_id in {i.project_id for i in items}:
            lister = getattr(conn.block_storage, listing)
            listed = {o.id: o.status for o in lister(**_filters(project_id))}
            for item in (i for i in items if i.project_id == project_id):
                if item.id not in listed:
                    states[item.id] = GONE
                else:
                    states[item.id] = _failed(item, listed[item.id]) or PRESENT
        return states

    return census


def _delete_volume(conn: Any, item: Found) -> None:
    if not item.needs and not item.data.get("looked"):
        # attached to nothing when listed: straight to the deletion; a refusal (attached
        # since, or in transition) brings the careful path below at the next attempt
        item.data["looked"] = True
        conn.block_storage.delete_volume(item.id, ignore_missing=False, cascade=True)
        return
    volume = conn.block_storage.get_volume(item.id)
    attachments = [a for a in volume.attachments or [] if a.get("server_id")]
    for attachment in attachments:
        # the attaching server was not purged (excluded, or another project's): detach
        conn.compute.delete_volume_attachment(attachment["server_id"], volume.id)
    if attachments or volume.status in ("attaching", "detaching", "creating", "deleting"):
        raise Transient(f"volume {volume.id} is {volume.status}")
    conn.block_storage.delete_volume(volume, ignore_missing=False, cascade=True)


def _delete_backup(conn: Any, item: Found) -> None:
    conn.block_storage.delete_backup(item.id, ignore_missing=False)


TYPES = [
    ResourceType(
        name="backup",
        service=SERVICE,
        list=_backups,
        delete=_delete_backup,
        gone=_gone("get_backup"),
        census=_census("backups"),
        description="cinder backups (incremental ones are retried until their children go)",
        retry_bad_request=True,
    ),
    ResourceType(
        name="snapshot",
        service=SERVICE,
        list=_snapshots,
        delete=lambda conn, item: conn.block_storage.delete_snapshot(item.id, ignore_missing=False),
        gone=_gone("get_snapshot"),
        census=_census("snapshots"),
        after=("backup",),
        description="cinder volume snapshots",
        retry_bad_request=True,
    ),
    ResourceType(
        name="volume",
        service=SERVICE,
        list=_volumes,
        delete=_delete_volume,
        gone=_gone("get_volume"),
        census=_census("volumes"),
        after=("server", "snapshot", "backup"),
        description="cinder volumes (still attached ones are detached through nova first)",
        retry_bad_request=True,
    ),
]
