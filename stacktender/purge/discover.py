"""Finding the target and everything it owns: resource types from the plugins, the
catalog check, the safety rules, concurrent listing, and the filters.

Safety lives here, before any plan exists: the admin and service projects and the
project the purging credentials are scoped to are refused always (``--force`` does not
change that); an enabled project is refused unless forced; every listed resource is
checked again against the target's id, whatever filter the API was given.
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stacktender.purge.model import (
    Found,
    ProjectRefused,
    PurgeError,
    ResourceType,
    is_transient,
)
from stacktender.purge.plan import Plan, Project

__all__ = [
    "PROTECTED_PROJECTS",
    "Filters",
    "available_types",
    "connect",
    "discover",
    "list_all",
    "plan_project",
    "resolve_project",
    "resource_types",
]

PROTECTED_PROJECTS = ("admin", "service")
_ID = re.compile(r"^[0-9a-f]{32}$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
LIST_WORKERS = 8
LIST_ATTEMPTS = 4  # a listing that fails with a 5xx is tried again after 1, 2, 4 s
LIST_BACKOFF = 1.0


@dataclass(frozen=True)
class Filters:
    """Which resources a plan includes: types, a creation cut-off, exclusions."""

    types: tuple[str, ...] = ()
    created_before: datetime | None = None
    exclude: tuple[str, ...] = ()  # ids, or name patterns (fnmatch)

    def as_dict(self) -> dict[str, Any]:
        return {
            "types": list(self.types),
            "created_before": self.created_before.isoformat() if self.created_before else None,
            "exclude": list(self.exclude),
        }


def resource_types(pm: Any = None) -> dict[str, ResourceType]:
    """Every resource type the installed plugins declare, by name."""
    if pm is None:
        from stacktender.plugins import make_plugin_manager

        pm = make_plugin_manager()
    out: dict[str, ResourceType] = {}
    for batch in pm.hook.stacktender_purge_resources():
        for rtype in batch or []:
            if rtype.name in out:
                raise PurgeError(f"two plugins declare the purge resource type {rtype.name!r}")
            out[rtype.name] = rtype
    return out


def resolve_project(conn: Any, name_or_id: str, *, force: bool = False) -> Project:
    """The target project, after the safety rules; ProjectRefused or PurgeError.

    A dry run passes force=True: it may show an enabled project's plan, but never the
    admin or service project's."""
    project = conn.identity.find_project(name_or_id, ignore_missing=True)
    if project is None:
        if not _ID.match(name_or_id.lower()):
            raise PurgeError(
                f"no project {name_or_id!r} in Keystone (give the id of a deleted one)"
            )
        target = Project(id=name_or_id.lower().replace("-", ""), exists=False)
    else:
        target = Project(id=project.id, name=project.name, enabled=bool(project.is_enabled))
    check_allowed(conn, target, force=force)
    return target


def check_allowed(conn: Any, target: Project, *, force: bool) -> None:
    """Refuse the admin and service projects and our own (always), enabled ones unless force."""
    own = getattr(conn, "current_project_id", None)
    if target.name in PROTECTED_PROJECTS or target.id == own:
        what = "the project these credentials are scoped to" if target.id == own else "protected"
        raise ProjectRefused(f"refusing to purge project {target.label}: {what}, never purged")
    if target.enabled and not force:
        raise ProjectRefused(
            f"refusing to purge project {target.label}: it is enabled "
            f"(disable it first: openstack project set --disable {target.id}; or --force)"
        )


def available_types(
    conn: Any, types: dict[str, ResourceType], wanted: Sequence[str] = ()
) -> tuple[list[ResourceType], dict[str, str]]:
    """The types to list (selected, service in the catalog) and why the others are skipped."""
    unknown = [w for w in wanted if w not in types]
    if unknown:
        raise PurgeError(
            f"unknown resource type(s) {', '.join(unknown)} (known: {', '.join(sorted(types))})"
        )
    chosen, skipped = [], {}
    endpoints: dict[str, bool] = {}
    for rtype in types.values():
        if wanted and rtype.name not in wanted:
            continue
        if rtype.service not in endpoints:
            endpoints[rtype.service] = _has_endpoint(conn, rtype.service)
        if not endpoints[rtype.service]:
            skipped[rtype.name] = f"no {rtype.service} service in the catalog"
            continue
        reason = rtype.unavailable(conn) if rtype.unavailable else None
        if reason:
            skipped[rtype.name] = reason
            continue
        chosen.append(rtype)
    return chosen, skipped


def _has_endpoint(conn: Any, service: str) -> bool:
    try:
        return bool(conn.endpoint_for(service))
    except Exception:  # openstacksdk raises several types for an unknown service
        return False


def list_all(
    conn: Any,
    types: Iterable[ResourceType],
    project_id: str | None,
    workers: int = LIST_WORKERS,
) -> tuple[list[Found], dict[str, str]]:
    """List every type concurrently; return what was found and the types that failed."""
    types = list(types)
    failed: dict[str, str] = {}

    def one(rtype: ResourceType) -> list[Found]:
        for attempt in range(LIST_ATTEMPTS):
            try:
                return list(rtype.list(conn, project_id))
            except Exception as exc:  # one service failing must not hide the others
                if attempt < LIST_ATTEMPTS - 1 and is_transient(exc):
                    time.sleep(LIST_BACKOFF * 2**attempt)
                    continue
                failed[rtype.name] = f"listing failed: {_one_line(exc)}"
        return []

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(types) or 1))) as pool:
        batches = list(pool.map(one, types))
    found = [item for batch in batches for item in batch]
    if project_id is not None:
        found = [i for i in found if i.project_id == project_id]
    return found, failed


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def discover(
    conn: Any,
    targets: Sequence[Project],
    types: dict[str, ResourceType],
    filters: Filters = Filters(),
    found: Sequence[Found] | None = None,
) -> Plan:
    """A plan for targets: list what they own (unless found is given) and filter it."""
    chosen, skipped = available_types(conn, types, filters.types)
    plan = Plan(projects=list(targets), types={t.name: t for t in chosen}, skipped=skipped)
    if found is None:
        (target,) = targets
        found, plan.unlisted = list_all(conn, chosen, target.id)
    ids = {t.id for t in targets}
    apply_filters(plan, [i for i in found if i.project_id in ids], filters)
    return plan


def apply_filters(plan: Plan, found: Sequence[Found], filters: Filters) -> None:
    """Split found into plan.items and plan.kept by the filters and what they imply."""
    kept: dict[tuple[str, str], str] = {}
    for item in found:
        why = _excluded(item, filters)
        if why:
            kept[(item.type, item.id)] = why
    # what hangs under a kept resource, or needs one gone first, is kept as well
    changed = True
    while changed:
        changed = False
        kept_ids = {i for _, i in kept}
        for item in found:
            key = (item.type, item.id)
            if key in kept:
                continue
            if item.parent and item.parent in kept_ids and item.parent != item.id:
                kept[key] = f"part of kept {item.parent}"
            elif any(n in kept_ids for n in item.needs):
                blocker = next(n for n in item.needs if n in kept_ids)
                kept[key] = f"needs kept {blocker} gone first"
            elif item.type == "router_gateway" and item.id in kept_ids:
                kept[key] = "its router is kept"
            else:
                continue
            changed = True
    plan.items = [i for i in found if (i.type, i.id) not in kept]
    plan.kept = [(i, kept[(i.type, i.id)]) for i in found if (i.type, i.id) in kept]


def _excluded(item: Found, filters: Filters) -> str | None:
    for pattern in filters.exclude:
        if item.id == pattern or (item.name and fnmatch.fnmatchcase(item.name, pattern)):
            return f"--exclude {pattern}"
    if filters.created_before is not None:
        if item.created_at is None:
            return "creation time unknown (--created-before)"
        if item.created_at >= filters.created_before:
            return f"created {item.created_at.isoformat()} (--created-before)"
    return None


def plan_project(
    conn: Any,
    name_or_id: str,
    filters: Filters = Filters(),
    *,
    force: bool = False,
    types: dict[str, ResourceType] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Plan:
    """Resolve the project (safety rules) and plan its purge."""
    target = resolve_project(conn, name_or_id, force=force)
    if progress:
        progress(f"discovering what project {target.label} owns")
    plan = discover(conn, [target], types or resource_types(), filters)
    if target.enabled:
        plan.warnings.append("the project is enabled: its users may be creating resources")
    return plan


def connect(cloud: str | None, timeout: float = 30.0) -> Any:
    """An openstacksdk connection to a clouds.yaml cloud (OS_CLOUD when None), checked."""
    import openstack

    try:
        conn = openstack.connect(cloud=cloud, api_timeout=timeout)
        conn.authorize()
    except Exception as exc:  # openstacksdk raises many types; the user wants one line
        raise PurgeError(f"cannot reach cloud {cloud or '(OS_CLOUD)'}: {_one_line(exc)}") from None
    return conn
