"""Fixtures for the metering tests: real notifications the testcloud emitted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stacktender.metering.builtin import BUILTIN_HANDLERS
from stacktender.metering.events import UsageEvent, decode
from stacktender.metering.handlers import HandlerRegistry

DATA = Path(__file__).parent / "data"


def lifecycle() -> list[dict[str, Any]]:
    """96 messages captured from the testcloud's nova, openstack (cinder), neutron and
    glance exchanges while one server was booted, stopped, started, resized, shelved,
    unshelved and deleted, a volume created, extended, snapshotted and deleted, a
    floating IP created and deleted and an image uploaded and deleted."""
    return json.loads((DATA / "lifecycle.json").read_text())


def lifecycle_events() -> list[UsageEvent]:
    """The usage events of the captured lifecycle."""
    registry = HandlerRegistry(BUILTIN_HANDLERS)
    events = []
    for message in lifecycle():
        event = registry.to_event(decode(message["body"]))
        if event is not None:
            events.append(event)
    return events


@pytest.fixture
def registry() -> HandlerRegistry:
    return HandlerRegistry(BUILTIN_HANDLERS)
