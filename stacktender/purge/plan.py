"""The plan: what a purge would delete, in which wave, and what it keeps or skips.

Waves come from the types' ``after`` graph: a type's wave is one more than the
latest wave of the types it must wait for, so everything in one wave can be deleted
concurrently. The plan renders as a tree (project, service, type, resources with
their parts under them) and as rows for ``-f table|json|yaml|csv|value``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stacktender.purge.model import Found, PurgeError, ResourceType

__all__ = ["PLAN_COLUMNS", "Plan", "Project", "type_waves"]

PLAN_COLUMNS = ("wave", "service", "type", "id", "name", "project_id", "created_at", "detail")


@dataclass(frozen=True)
class Project:
    """A purge target: a Keystone project, or the id of one Keystone no longer has."""

    id: str
    name: str = ""
    enabled: bool = False
    exists: bool = True

    @property
    def label(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        if not self.exists:
            state = "not in Keystone"
        return f"{self.name or '(no name)'} ({self.id}, {state})"


@dataclass
class Plan:
    """Resources to delete (grouped in waves), resources kept, types skipped."""

    projects: list[Project]
    types: dict[str, ResourceType]
    items: list[Found] = field(default_factory=list)
    kept: list[tuple[Found, str]] = field(default_factory=list)  # resource, why kept
    skipped: dict[str, str] = field(default_factory=dict)  # type name -> why
    # types whose listing failed: the plan is incomplete, and so is a run of it
    unlisted: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def waves(self) -> list[list[Found]]:
        """The items, in the waves they are deleted in (empty waves dropped)."""
        order = type_waves(self.types.values())
        grouped: dict[int, list[Found]] = {}
        for item in self.items:
            grouped.setdefault(order[item.type], []).append(item)
        return [grouped[w] for w in sorted(grouped)]

    def wave_of(self) -> dict[tuple[str, str], int]:
        return {(i.type, i.id): n for n, wave in enumerate(self.waves(), 1) for i in wave}

    def counts(self) -> dict[str, int]:
        """Resources to delete per type, in wave order."""
        out: dict[str, int] = {}
        for wave in self.waves():
            for item in wave:
                out[item.type] = out.get(item.type, 0) + 1
        return out

    def rows(self) -> list[dict[str, Any]]:
        """One row per resource to delete, wave by wave."""
        rows = []
        for n, wave in enumerate(self.waves(), 1):
            for item in sorted(wave, key=lambda i: (i.service, i.type, i.name, i.id)):
                rows.append(
                    {
                        "wave": n,
                        "service": item.service,
                        "type": item.type,
                        "id": item.id,
                        "name": item.name,
                        "project_id": item.project_id,
                        "created_at": item.created_at.isoformat() if item.created_at else "",
                        "detail": item.detail,
                    }
                )
        return rows

    def as_dict(self) -> dict[str, Any]:
        """The whole plan as plain data (``-f json``)."""
        return {
            "projects": [vars(p) | {"label": p.label} for p in self.projects],
            "waves": len(self.waves()),
            "counts": self.counts(),
            "resources": self.rows(),
            "kept": [
                {"type": i.type, "id": i.id, "name": i.name, "why": why} for i, why in self.kept
            ],
            "skipped": self.skipped,
            "unlisted": self.unlisted,
            "warnings": self.warnings,
        }

    def tree(self) -> str:
        """The plan as a tree: project, service, type (wave), resources and their parts."""
        waves = {t: n for (t, _), n in self.wave_of().items()}
        lines = []
        total = len(self.items)
        for project in self.projects:
            mine = [i for i in self.items if i.project_id == project.id]
            lines.append(f"project {project.label}: {len(mine)} to delete")
            by_service: dict[str, list[Found]] = {}
            for item in mine:
                by_service.setdefault(item.service, []).append(item)
            services = sorted(by_service)
            for s_index, service in enumerate(services):
                s_last = s_index == len(services) - 1
                lines.append(_branch(s_last) + service)
                s_pad = _pad(s_last)
                by_type: dict[str, list[Found]] = {}
                for item in by_service[service]:
                    by_type.setdefault(item.type, []).append(item)
                types = sorted(by_type, key=lambda t: (waves.get(t, 0), t))
                for t_index, rtype in enumerate(types):
                    t_last = t_index == len(types) - 1
                    items = sorted(by_type[rtype], key=lambda i: (i.name, i.id))
                    lines.append(
                        f"{s_pad}{_branch(t_last)}{rtype} ({len(items)}, wave {waves.get(rtype)})"
                    )
                    t_pad = s_pad + _pad(t_last)
                    for i_index, item in enumerate(items):
                        last = i_index == len(items) - 1
                        text = f"{item.name or item.id}  {item.id}"
                        if item.detail:
                            text += f"  [{item.detail}]"
                        lines.append(f"{t_pad}{_branch(last)}{text}")
        for item, why in self.kept:
            lines.append(f"kept: {item.label} ({item.id}): {why}")
        for rtype, why in sorted(self.skipped.items()):
            lines.append(f"skipped: {rtype}: {why}")
        for rtype, why in sorted(self.unlisted.items()):
            lines.append(f"NOT LISTED: {rtype}: {why} (its resources stay; run again)")
        for warning in self.warnings:
            lines.append(f"warning: {warning}")
        lines.append(f"{total} resources in {len(self.waves())} waves")
        return "\n".join(lines)


def _branch(last: bool) -> str:
    return "└── " if last else "├── "


def _pad(last: bool) -> str:
    return "    " if last else "│   "


def type_waves(types: Iterable[ResourceType]) -> dict[str, int]:
    """Wave number (0-based) of each type from its ``after`` list; PurgeError on a cycle."""
    by_name = {t.name: t for t in types}
    wave: dict[str, int] = {}
    visiting: set[str] = set()

    def visit(name: str, path: Sequence[str]) -> int:
        if name in wave:
            return wave[name]
        if name in visiting:
            raise PurgeError(f"resource types depend on each other: {' -> '.join([*path, name])}")
        visiting.add(name)
        before = [visit(a, [*path, name]) for a in by_name[name].after if a in by_name]
        visiting.discard(name)
        wave[name] = 1 + max(before) if before else 0
        return wave[name]

    for name in sorted(by_name):
        visit(name, [])
    return wave
