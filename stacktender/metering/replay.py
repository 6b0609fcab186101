"""Replay a captured notification stream with fresh ids and later times.

Load tests and the ingest benchmark need many notifications shaped exactly like the
ones a cloud emits. :class:`Replayer` takes real captured messages (exchange, routing
key, raw body) and makes copies of the whole stream: each copy gets new message ids
and new resource ids, its projects and users from a fixed pool, and its envelope
timestamps shifted, so every copy is one more set of real lifecycles.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from stacktender.metering.events import MalformedMessage, decode, parse_time
from stacktender.metering.handlers import HandlerRegistry

__all__ = ["CapturedMessage", "Replayer", "load_captured"]

# In a messagingv2 body the inner message is a JSON string: its quotes are escaped.
_TIMESTAMP = re.compile(r'(\\"timestamp\\": \\")([^\\"]+)(\\")')


@dataclass(frozen=True)
class CapturedMessage:
    """One message as it was on the wire."""

    exchange: str
    routing_key: str
    body: str

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> CapturedMessage:
        return cls(data["exchange"], data["routing_key"], data["body"])


class Replayer:
    """Copies of a captured stream; copy k starts k * spacing after the first (which
    starts at origin, or when it was captured)."""

    def __init__(
        self,
        messages: Sequence[CapturedMessage],
        registry: HandlerRegistry,
        projects: int = 20,
        spacing: timedelta = timedelta(minutes=1),
        origin: datetime | None = None,
    ) -> None:
        self.messages = list(messages)
        self.spacing = spacing
        self._base = timedelta(0)
        resources: set[str] = set()
        owners: set[str] = set()
        message_ids: set[str] = set()
        first: datetime | None = None
        for message in self.messages:
            try:
                note = decode(message.body)
            except MalformedMessage:
                continue
            message_ids.add(note.message_id)
            if origin is not None and (first is None or note.timestamp < first):
                first = note.timestamp
            event = registry.to_event(note)
            if event is not None:
                resources.add(event.resource_id)
                owners.update(v for v in (event.project_id, event.user_id) if v)
            owners.update(v for v in (note.context_project_id, note.context_user_id) if v)
        if origin is not None and first is not None:
            self._base = origin - first  # copy 0 starts at origin
        self._fresh = message_ids | resources
        self._owners = sorted(owners)
        self._pool = [
            [uuid.UUID(int=(p << 64) | i).hex for i in range(len(owners))] for p in range(projects)
        ]
        tokens = sorted(self._fresh | owners, key=len, reverse=True)
        pattern = re.compile("|".join(re.escape(t) for t in tokens) + "|" + _TIMESTAMP.pattern)
        self._parts = [self._split(pattern, message.body) for message in self.messages]

    @staticmethod
    def _split(pattern: re.Pattern[str], body: str) -> list[str | tuple[str, str]]:
        parts: list[str | tuple[str, str]] = []
        last = 0
        for match in pattern.finditer(body):
            parts.append(body[last : match.start()])
            if match.group(2) is not None:  # the envelope timestamp
                parts.append(match.group(1))
                parts.append(("time", match.group(2)))
                parts.append(match.group(3))
            else:
                parts.append(("id", match.group(0)))
            last = match.end()
        parts.append(body[last:])
        return parts

    def copy(self, index: int) -> Iterator[CapturedMessage]:
        """Copy number index of the stream (a new set of resources and messages)."""
        pool = self._pool[index % len(self._pool)]
        mapping = {owner: pool[i] for i, owner in enumerate(self._owners)}
        shift = self._base + self.spacing * index
        fresh: dict[str, str] = {}
        for message, parts in zip(self.messages, self._parts, strict=True):
            out: list[str] = []
            for part in parts:
                if isinstance(part, str):
                    out.append(part)
                elif part[0] == "time":
                    out.append(_shifted(part[1], shift))
                elif part[1] in mapping:
                    out.append(mapping[part[1]])
                else:
                    new = fresh.get(part[1])
                    if new is None:
                        new = str(uuid.uuid4()) if "-" in part[1] else uuid.uuid4().hex
                        fresh[part[1]] = new
                    out.append(new)
            yield CapturedMessage(message.exchange, message.routing_key, "".join(out))

    def stream(self, count: int) -> Iterator[CapturedMessage]:
        """count messages: whole copies of the stream, the last one cut short."""
        index = 0
        produced = 0
        while produced < count:
            for message in self.copy(index):
                if produced >= count:
                    return
                produced += 1
                yield message
            index += 1


def _shifted(stamp: str, shift: timedelta) -> str:
    parsed = parse_time(stamp)
    if parsed is None:
        return stamp
    return (parsed + shift).strftime("%Y-%m-%d %H:%M:%S.%f")


def load_captured(text: str) -> list[CapturedMessage]:
    """Messages from a JSON list of {exchange, routing_key, body}."""
    return [CapturedMessage.from_dict(item) for item in json.loads(text)]
