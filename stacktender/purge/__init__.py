"""Cleanup of what deleted or disabled projects leave behind.

Owns: discovering a project's resources on every service in the catalog, the
dependency-ordered plan (a dry run unless told to execute), its concurrent execution
with retries and waits, the safety rules, orphan detection, database purges, and the
audit record of every deletion (tables in :mod:`stacktender.purge.tables`).

    conn = openstack.connect(cloud="prod")
    plan = plan_project(conn, "old-project")      # the dry run
    print(plan.tree())
    report = execute(conn, plan, ledger=Ledger(store))
"""

from __future__ import annotations

from stacktender.purge.audit import Ledger
from stacktender.purge.discover import Filters, plan_project, resolve_project, resource_types
from stacktender.purge.execute import Outcome, Policy, Report, execute
from stacktender.purge.model import Found, ProjectRefused, PurgeError, ResourceType
from stacktender.purge.orphans import plan_orphans
from stacktender.purge.plan import Plan, Project

__all__ = [
    "Filters",
    "Found",
    "Ledger",
    "Outcome",
    "Plan",
    "Policy",
    "Project",
    "ProjectRefused",
    "PurgeError",
    "Report",
    "ResourceType",
    "execute",
    "plan_orphans",
    "plan_project",
    "resolve_project",
    "resource_types",
]
