"""Event handlers: which notifications are metered and what state each one sets.

A handler is data: a meter, the event types it reads, the ones among them that delete
the resource, and a *shape* (a function reading one family of payloads: nova legacy,
nova versioned, cinder volume...). Plugins add handlers through the
``stacktender_metering_handlers`` hook; the built-in ones are in
:mod:`stacktender.metering.builtin`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stacktender.errors import ConfigError
from stacktender.metering.events import MalformedMessage, Notification, UsageEvent
from stacktender.metering.records import Meter

__all__ = ["EventHandler", "Fields", "HandlerRegistry", "Shape"]

GIB = 1024**3

# The state fields a shape returns: resource_id (required), project_id, user_id,
# flavor, state, volume_type, size_bytes, name.
Fields = dict[str, Any]
Shape = Callable[[Mapping[str, Any]], Fields]


@dataclass(frozen=True)
class EventHandler:
    """Event types of one payload family that meter one kind of resource."""

    meter: Meter
    shape: Shape
    event_types: frozenset[str]
    deleting: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.deleting <= self.event_types:
            raise ConfigError(f"{self.meter} handler: deleting events not in event_types")


class HandlerRegistry:
    """Event type -> handler, built from every plugin's handlers."""

    def __init__(self, handlers: Iterable[EventHandler]) -> None:
        self.by_type: dict[str, EventHandler] = {}
        for handler in handlers:
            for event_type in handler.event_types:
                if event_type in self.by_type:
                    raise ConfigError(f"two metering handlers for event type {event_type!r}")
                self.by_type[event_type] = handler

    def __contains__(self, event_type: str) -> bool:
        return event_type in self.by_type

    def to_event(self, note: Notification) -> UsageEvent | None:
        """The usage event a notification stands for; None if it is not metered.

        Raises MalformedMessage when a metered event's payload lacks what it needs."""
        handler = self.by_type.get(note.event_type)
        if handler is None:
            return None
        try:
            fields = handler.shape(note.payload)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MalformedMessage(
                f"{note.event_type}: unexpected payload ({type(exc).__name__}: {exc})"
            ) from None
        resource_id = fields.pop("resource_id", None)
        if not isinstance(resource_id, str) or not resource_id or len(resource_id) > 64:
            raise MalformedMessage(f"{note.event_type}: no resource id in the payload")
        fields.setdefault("project_id", None)
        fields.setdefault("user_id", None)
        # A delete may not say whose resource it was; the request's context does.
        fields["project_id"] = _id(fields["project_id"]) or note.context_project_id
        fields["user_id"] = _id(fields["user_id"]) or note.context_user_id
        size = fields.get("size_bytes")
        if size is not None and not 0 <= size < 2**63:
            raise MalformedMessage(f"{note.event_type}: size {size} out of range")
        for key in ("flavor", "state", "volume_type", "name"):
            if key in fields:
                fields[key] = _text(fields[key])
        return UsageEvent(
            message_id=note.message_id,
            meter=handler.meter,
            resource_id=resource_id,
            occurred_at=note.timestamp,
            event_type=note.event_type,
            deleted=note.event_type in handler.deleting,
            **fields,
        )


def _id(value: Any) -> str | None:
    return value[:64] if isinstance(value, str) and value else None


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)[:255]


# -- shapes: one function per payload family ------------------------------------------------


def nova_legacy(payload: Mapping[str, Any]) -> Fields:
    """``compute.instance.*`` (unversioned) payloads."""
    return {
        "resource_id": payload["instance_id"],
        "project_id": payload.get("tenant_id"),
        "user_id": payload.get("user_id"),
        "flavor": payload.get("instance_type"),
        "state": payload.get("state"),
        "name": payload.get("display_name"),
    }


def nova_versioned(payload: Mapping[str, Any]) -> Fields:
    """``instance.*`` versioned payloads (``nova_object.data``)."""
    data = payload["nova_object.data"]
    flavor = (data.get("flavor") or {}).get("nova_object.data") or {}
    return {
        "resource_id": data["uuid"],
        "project_id": data.get("tenant_id"),
        "user_id": data.get("user_id"),
        "flavor": flavor.get("name"),
        "state": data.get("state"),
        "name": data.get("display_name"),
    }


def cinder_volume(payload: Mapping[str, Any]) -> Fields:
    """``volume.*`` payloads; ``volume_type`` is the type's id."""
    return {
        "resource_id": payload["volume_id"],
        "project_id": payload.get("tenant_id"),
        "user_id": payload.get("user_id"),
        "volume_type": payload.get("volume_type"),
        "size_bytes": _gib(payload.get("size")),
        "name": payload.get("display_name"),
    }


def cinder_snapshot(payload: Mapping[str, Any]) -> Fields:
    """``snapshot.*`` payloads (sized by their volume)."""
    return {
        "resource_id": payload["snapshot_id"],
        "project_id": payload.get("tenant_id"),
        "user_id": payload.get("user_id"),
        "size_bytes": _gib(payload.get("volume_size")),
        "name": payload.get("display_name"),
    }


def cinder_backup(payload: Mapping[str, Any]) -> Fields:
    """``backup.*`` payloads."""
    return {
        "resource_id": payload["backup_id"],
        "project_id": payload.get("tenant_id"),
        "user_id": payload.get("user_id"),
        "size_bytes": _gib(payload.get("size")),
        "name": payload.get("display_name"),
    }


def neutron_floatingip(payload: Mapping[str, Any]) -> Fields:
    """``floatingip.*`` payloads; a delete may carry only ``floatingip_id``."""
    fip = payload.get("floatingip") or {}
    return {
        "resource_id": fip.get("id") or payload["floatingip_id"],
        "project_id": fip.get("project_id") or fip.get("tenant_id"),
        "name": fip.get("floating_ip_address"),
    }


def glance_image(payload: Mapping[str, Any]) -> Fields:
    """``image.*`` payloads; size in bytes (None before the upload)."""
    size = payload.get("size")
    return {
        "resource_id": payload["id"],
        "project_id": payload.get("owner"),
        "size_bytes": int(size) if size is not None else None,
        "name": payload.get("name"),
    }


def _gib(size: Any) -> int | None:
    return None if size is None else int(size) * GIB
