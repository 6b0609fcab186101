"""Orphans: resources whose project no longer exists in Keystone, on every service.

Everything is listed once for all projects (as admin) and grouped by owner; owners
Keystone does not know are the orphans. Their plan is one plan over all of them, so
``--execute`` deletes them in the same dependency-ordered waves as a project purge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from stacktender.purge.discover import Filters, available_types, list_all, resource_types
from stacktender.purge.discover import apply_filters as _apply_filters
from stacktender.purge.model import PurgeError, ResourceType
from stacktender.purge.plan import Plan, Project

__all__ = ["plan_orphans"]


def plan_orphans(
    conn: Any,
    filters: Filters | None = None,
    *,
    types: dict[str, ResourceType] | None = None,
    projects: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> Plan:
    """A plan deleting every resource whose owning project is not in Keystone (only
    those of the given project ids, when some are given)."""
    filters = filters or Filters()
    types = types or resource_types()
    chosen, skipped = available_types(conn, types, filters.types)
    if progress:
        progress("listing Keystone projects and every project's resources")
    try:
        known = {p.id for p in conn.identity.projects()}
    except Exception as exc:  # without the project list every resource would look orphaned
        raise PurgeError(f"cannot list Keystone projects: {exc}") from exc
    if not known:
        raise PurgeError("Keystone lists no projects: refusing to call everything an orphan")
    found, failed = list_all(conn, chosen, None)
    orphans = [i for i in found if i.project_id and i.project_id not in known]
    if projects:
        orphans = [i for i in orphans if i.project_id in projects]
    owners = sorted({i.project_id for i in orphans})
    plan = Plan(
        projects=[Project(id=p, exists=False) for p in owners],
        types={t.name: t for t in chosen},
        skipped=skipped,
        unlisted=failed,
    )
    _apply_filters(plan, orphans, filters)
    return plan
