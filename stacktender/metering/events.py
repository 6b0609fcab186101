"""The usage event (one fact about one resource) and the oslo.messaging envelope decoder.

A notification arrives as an oslo.messaging ``messagingv2`` envelope
(``{"oslo.version": "2.0", "oslo.message": "<JSON string>"}``) or, from the old
``messaging`` driver, as the bare message. :func:`decode` turns the bytes into a
:class:`Notification`; a handler (:mod:`stacktender.metering.handlers`) turns that into a
:class:`UsageEvent` carrying the state it leaves the resource in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stacktender.errors import StacktenderError
from stacktender.metering.records import Meter

__all__ = ["MalformedMessage", "Notification", "UsageEvent", "decode", "parse_time"]


class MalformedMessage(StacktenderError):
    """A message that is not a notification we can read; it becomes a dead letter."""


@dataclass(frozen=True)
class Notification:
    """The parts of an oslo.messaging notification metering reads."""

    message_id: str
    event_type: str
    publisher_id: str
    timestamp: datetime
    payload: dict[str, Any]
    context_project_id: str | None = None
    context_user_id: str | None = None


@dataclass(frozen=True)
class UsageEvent:
    """One fact about one resource: the state it is in from ``occurred_at`` on.

    A field left None means the event does not say (the previous value holds).
    """

    message_id: str
    meter: Meter
    resource_id: str
    occurred_at: datetime
    event_type: str
    project_id: str | None = None
    user_id: str | None = None
    flavor: str | None = None
    state: str | None = None
    volume_type: str | None = None
    size_bytes: int | None = None
    name: str | None = None
    deleted: bool = False
    source: str = "notification"


def decode(body: bytes | str) -> Notification:
    """Decode a messagingv2 envelope (or a v1 bare message) into a Notification."""
    try:
        outer = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedMessage(f"not JSON: {exc}") from None
    if not isinstance(outer, dict):
        raise MalformedMessage("not a JSON object")
    if "oslo.message" in outer:
        version = str(outer.get("oslo.version", ""))
        if not version.startswith("2."):
            raise MalformedMessage(f"unknown oslo.version {version!r}")
        inner = outer["oslo.message"]
        if not isinstance(inner, str):
            raise MalformedMessage("oslo.message is not a JSON string")
        try:
            message = json.loads(inner)
        except ValueError as exc:
            raise MalformedMessage(f"oslo.message is not JSON: {exc}") from None
        if not isinstance(message, dict):
            raise MalformedMessage("oslo.message is not a JSON object")
    else:
        message = outer
    try:
        message_id = message["message_id"]
        event_type = message["event_type"]
        payload = message["payload"]
        stamp = message["timestamp"]
    except KeyError as exc:
        raise MalformedMessage(f"no {exc.args[0]!r} in the notification") from None
    if not isinstance(message_id, str) or not message_id or len(message_id) > 255:
        raise MalformedMessage("message_id is not a string of 1-255 characters")
    if not isinstance(event_type, str) or not event_type:
        raise MalformedMessage("event_type is not a string")
    if not isinstance(payload, dict):
        raise MalformedMessage("payload is not a JSON object")
    timestamp = parse_time(stamp)
    if timestamp is None:
        raise MalformedMessage(f"timestamp {stamp!r} is not a time")
    return Notification(
        message_id=message_id,
        event_type=event_type,
        publisher_id=str(message.get("publisher_id") or ""),
        timestamp=timestamp,
        payload=payload,
        context_project_id=_str(message.get("_context_project_id")),
        context_user_id=_str(message.get("_context_user_id")),
    )


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime from the forms OpenStack writes times in; None if not one.

    ``2026-11-25 19:17:49.217819``, ``2026-11-25T19:17:49Z``, ``...+00:00``; naive is UTC.
    """
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
