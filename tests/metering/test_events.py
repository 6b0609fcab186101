"""The envelope decoder, the handlers and the replay of captured streams (fast, no I/O)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import lifecycle

from stacktender.errors import ConfigError
from stacktender.metering.builtin import BUILTIN_HANDLERS, NOVA_LEGACY
from stacktender.metering.events import MalformedMessage, decode, parse_time
from stacktender.metering.handlers import HandlerRegistry
from stacktender.metering.records import Meter
from stacktender.metering.replay import CapturedMessage, Replayer


def _v2(message: dict[str, object]) -> str:
    return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(message)})


MESSAGE = {
    "message_id": "m-1",
    "event_type": "floatingip.delete.end",
    "publisher_id": "network.ctl",
    "timestamp": "2026-11-25 19:22:54.980098",
    "payload": {"floatingip_id": "fip-1"},
    "_context_project_id": "p-ctx",
    "_context_user_id": "u-ctx",
}


def test_a_v2_envelope_and_a_bare_v1_message_decode_alike() -> None:
    v2, v1 = decode(_v2(MESSAGE)), decode(json.dumps(MESSAGE).encode())
    assert v2 == v1
    assert v2.timestamp == datetime(2026, 11, 25, 19, 22, 54, 980098, tzinfo=UTC)
    assert (v2.context_project_id, v2.context_user_id) == ("p-ctx", "u-ctx")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"oslo.version": "1.0", "oslo.message": "{}"}', "unknown oslo.version"),
        ('{"oslo.version": "2.0", "oslo.message": {}}', "not a JSON string"),
        (b'{"oslo.version": "2.0", "oslo.message": "{\\"message_id', "not JSON"),
        (_v2({**MESSAGE, "timestamp": "yesterday"}), "is not a time"),
        (_v2({k: v for k, v in MESSAGE.items() if k != "event_type"}), "no 'event_type'"),
        (_v2({**MESSAGE, "payload": [1]}), "payload is not a JSON object"),
        (_v2({**MESSAGE, "message_id": ""}), "message_id"),
    ],
)
def test_bad_messages_say_why(body: str | bytes, reason: str) -> None:
    with pytest.raises(MalformedMessage, match=reason):
        decode(body)


def test_a_delete_without_owner_takes_it_from_the_request_context(
    registry: HandlerRegistry,
) -> None:
    event = registry.to_event(decode(_v2(MESSAGE)))
    assert event is not None
    assert (event.meter, event.resource_id, event.deleted) == (Meter.FLOATING_IP, "fip-1", True)
    assert (event.project_id, event.user_id) == ("p-ctx", "u-ctx")


def test_unmetered_events_are_none_and_broken_payloads_are_malformed(
    registry: HandlerRegistry,
) -> None:
    assert registry.to_event(decode(_v2({**MESSAGE, "event_type": "port.create.end"}))) is None
    broken = {**MESSAGE, "event_type": "volume.create.end", "payload": {"size": 1}}
    with pytest.raises(MalformedMessage, match=r"volume\.create\.end: unexpected payload"):
        registry.to_event(decode(_v2(broken)))
    huge = {**broken, "payload": {"volume_id": "v", "size": 10**12}}
    with pytest.raises(MalformedMessage, match="out of range"):
        registry.to_event(decode(_v2(huge)))


def test_two_handlers_for_one_event_type_are_refused() -> None:
    with pytest.raises(ConfigError, match="two metering handlers"):
        HandlerRegistry([*BUILTIN_HANDLERS, NOVA_LEGACY])


def test_every_captured_metered_message_becomes_an_event(registry: HandlerRegistry) -> None:
    types = {}
    for message in lifecycle():
        note = decode(message["body"])
        if note.event_type in registry:
            types[note.event_type] = registry.to_event(note)
    assert {
        "compute.instance.create.end",
        "instance.create.end",
        "volume.resize.end",
        "snapshot.create.end",
        "floatingip.create.end",
        "image.activate",
    } <= set(types)
    legacy, versioned = types["compute.instance.create.end"], types["instance.create.end"]
    assert legacy is not None and versioned is not None
    assert (legacy.flavor, legacy.state, legacy.resource_id) == (
        versioned.flavor,
        versioned.state,
        versioned.resource_id,
    )


def test_times_in_every_openstack_form_parse_to_utc() -> None:
    expected = datetime(2026, 11, 25, 19, 17, 49, tzinfo=UTC)
    for text in ("2026-11-25 19:17:49", "2026-11-25T19:17:49Z", "2026-11-25T20:17:49+01:00"):
        assert parse_time(text) == expected
    assert parse_time("") is None and parse_time(None) is None and parse_time("x") is None


def test_replayed_copies_are_new_lifecycles_later_in_time(registry: HandlerRegistry) -> None:
    captured = [CapturedMessage.from_dict(m) for m in lifecycle()]
    origin = datetime(2026, 1, 1, tzinfo=UTC)
    replayer = Replayer(captured, registry, projects=3, origin=origin)
    copies = [list(replayer.copy(i)) for i in range(4)]
    events = [[registry.to_event(decode(m.body)) for m in copy] for copy in copies]
    ids = [{e.message_id for e in copy if e} for copy in events]
    resources = [{e.resource_id for e in copy if e} for copy in events]
    assert all(not (ids[0] & other) for other in ids[1:])
    assert all(not (resources[0] & other) for other in resources[1:])
    first = min(e.occurred_at for e in events[0] if e)
    assert origin <= first < origin + timedelta(minutes=1)  # copy 0's first message at origin
    assert min(e.occurred_at for e in events[1] if e) == first + timedelta(minutes=1)
    projects = [{e.project_id for e in copy if e} for copy in events]
    assert projects[0] == projects[3] != projects[1]  # a pool of 3 projects
    assert len(list(replayer.stream(150))) == 150
