"""The built-in resource types, one module per OpenStack service, each a list ``TYPES``.

:mod:`stacktender.purge.builtin` registers them through the ``stacktender_purge_resources``
hook; helpers shared by the modules are here.
"""

from __future__ import annotations

import time
from typing import Any

from stacktender.purge.model import Found, is_not_found, parse_time

__all__ = ["found", "get_or_none", "owned"]


def found(
    rtype: str,
    service: str,
    obj: Any,
    *,
    owner: str = "project_id",
    detail: str = "",
    parent: str | None = None,
    needs: tuple[str, ...] = (),
    **data: Any,
) -> Found:
    """A :class:`Found` from an openstacksdk resource."""
    return Found(
        type=rtype,
        service=service,
        id=str(obj.id),
        name=str(getattr(obj, "name", None) or ""),
        project_id=str(getattr(obj, owner, None) or ""),
        created_at=parse_time(getattr(obj, "created_at", None)),
        detail=detail,
        parent=parent,
        needs=needs,
        data=data,
    )


def owned(items: Any, project_id: str | None, owner: str = "project_id") -> list[Any]:
    """Items whose owner is project_id (every item with an owner when None).

    Applied after every listing even when the API was given the filter: an API that
    ignores an unknown filter would otherwise hand back every project's resources."""
    out = []
    for item in items:
        value = getattr(item, owner, None)
        if value and (project_id is None or value == project_id):
            out.append(item)
    return out


def get_or_none(getter: Any, *args: Any) -> Any:
    """getter(*args), or None on 404."""
    try:
        return getter(*args)
    except Exception as exc:
        if is_not_found(exc):
            return None
        raise


def settle(check: Any, timeout: float, interval: float = 0.5) -> None:
    """Poll check() until it returns True or timeout seconds pass (then TimeoutError)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not settled after {timeout:.0f}s")
        time.sleep(interval)
