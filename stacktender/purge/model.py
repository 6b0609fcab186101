"""What the purge works with: resource types declared as data, discovered resources,
the purge's own errors, and how OpenStack errors are classified for retries.

A :class:`ResourceType` says which catalog service it lives in, how to list a project's
resources (or every project's), how to delete one, how to tell that an asynchronous
deletion is over, and which types must be gone first. The built-in types are in
:mod:`stacktender.purge.services`, registered through the ``stacktender_purge_resources``
hook exactly as a third-party plugin's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stacktender.errors import StacktenderError

__all__ = [
    "GONE",
    "PRESENT",
    "RELEASED",
    "Census",
    "Found",
    "ProjectRefused",
    "PurgeError",
    "ResourceType",
    "Transient",
    "is_not_found",
    "is_transient",
    "parse_time",
]

# conn, project id (None: every project) -> resources
Lister = Callable[[Any, "str | None"], Iterable["Found"]]
Deleter = Callable[[Any, "Found"], None]
# conn, resource -> True when it is gone; raises when the deletion failed for good
Gone = Callable[[Any, "Found"], bool]

# What a census says of a resource whose deletion was requested.
GONE = "gone"
RELEASED = "released"  # not gone yet, but what waits for it may go on (a DELETED server)
PRESENT = "present"
# conn, resources of one type awaiting the end of their deletion -> for each id GONE,
# RELEASED, PRESENT, or the exception saying its deletion failed for good. One request
# for them all: a Gone per resource makes one each, every poll.
Census = Callable[[Any, Sequence["Found"]], Mapping[str, "str | BaseException"]]


class PurgeError(StacktenderError):
    """A purge cannot start or cannot go on (unknown project, unreachable cloud)."""


class ProjectRefused(PurgeError):
    """The target is a project a purge must not touch (admin, service, still enabled)."""


class Transient(Exception):
    """Raised by a deleter or waiter: try again later (a status in transition)."""


@dataclass(frozen=True)
class ResourceType:
    """One kind of resource a purge can discover and delete, as data."""

    name: str  # unique: "server", "router_interface", ...
    service: str  # catalog service type: "compute", "network", ...
    list: Lister
    delete: Deleter
    gone: Gone | None = None  # None: deletion is synchronous
    census: Census | None = None  # one look at all awaited resources, preferred to gone
    after: tuple[str, ...] = ()  # types whose resources must be gone first
    owner: str = "project_id"  # the attribute naming the owning project (docs and plan)
    description: str = ""
    wait_timeout: float = 300.0  # seconds an asynchronous deletion may take
    retry_bad_request: bool = False  # 400 means "not in a deletable status yet" (cinder)
    # conn -> why this type cannot be purged on this cloud (an API extension missing)
    unavailable: Callable[[Any], str | None] | None = None


@dataclass(frozen=True)
class Found:
    """One discovered resource, or a part of one (a router's gateway or interface)."""

    type: str
    service: str
    id: str
    name: str
    project_id: str
    created_at: datetime | None = None
    detail: str = ""
    parent: str | None = None  # shown under this resource id in the plan's tree
    needs: tuple[str, ...] = ()  # ids that must be deleted first (a volume's servers)
    data: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def label(self) -> str:
        return f"{self.type} {self.name or self.id}"


def parse_time(value: Any) -> datetime | None:
    """An API timestamp ('2026-11-25T19:21:20Z', with or without zone) as aware UTC."""
    if not value:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _status(exc: BaseException) -> int | None:
    code = getattr(exc, "status_code", None)
    if code is None:
        response = getattr(exc, "response", None)
        code = getattr(response, "status_code", None)
    return int(code) if isinstance(code, int) else None


def is_not_found(exc: BaseException) -> bool:
    """404: the resource is already gone (what makes a second run idempotent)."""
    from openstack import exceptions

    return isinstance(exc, exceptions.NotFoundException) or _status(exc) == 404


def is_transient(exc: BaseException, bad_request: bool = False) -> bool:
    """Worth retrying: 409 while a dependent goes away, 5xx, a reset connection."""
    if isinstance(exc, Transient):
        return True
    code = _status(exc)
    if code is not None:
        return code == 409 or code >= 500 or (bad_request and code == 400)
    import requests
    from keystoneauth1 import exceptions as ksa

    return isinstance(
        exc,
        requests.ConnectionError | requests.Timeout | ksa.ConnectFailure | ksa.ConnectionError,
    )
