"""End to end on the testcloud: real servers and volumes go through their lifecycles,
the consumer meters the notifications nova and cinder really emit, and the usage
records match what happened; reconcile against the real APIs."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from conftest import consumer
from support import wait_until
from testcloud_support import RunningTestCloud

from stacktender.metering.events import UsageEvent
from stacktender.metering.reconcile import fetch_inventory, reconcile
from stacktender.metering.records import Meter
from stacktender.metering.storage import write_batch
from stacktender.metering.usage import usage_records
from stacktender.store.db import Store
from stacktender.testcloud import catalog

pytestmark = [pytest.mark.integration, pytest.mark.testcloud]


@pytest.fixture
def metering_queue(testcloud: RunningTestCloud) -> Iterator[str]:
    """A queue of this test's own on the testcloud's vhost, deleted afterwards."""
    from kombu import Connection

    from stacktender.metering.consumer import amqp_url

    name = f"stacktender-metering-test-{uuid.uuid4().hex[:8]}"
    yield name
    with Connection(amqp_url(testcloud.settings.transport_url), connect_timeout=10) as conn:
        conn.channel().queue_delete(name)


def _wait_status(conn: Any, server: Any, status: str) -> None:
    conn.compute.wait_for_server(server, status=status, wait=180, interval=1)


def test_server_and_volume_lifecycles_become_the_right_usage(
    testcloud: RunningTestCloud, store: Store, metering_queue: str
) -> None:
    settings = testcloud.settings
    worker = consumer(store, settings.transport_url, queue=metering_queue, batch_wait=0.2)
    worker.declare()  # from now on nothing the cloud emits is lost
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    demo = catalog.connect(settings, "demo")
    began = datetime.now(UTC)
    try:
        tiny = demo.compute.find_flavor("m1.tiny", ignore_missing=False)
        small = demo.compute.find_flavor("m1.small", ignore_missing=False)
        image = demo.image.find_image("tiny", ignore_missing=False)
        network = demo.network.find_network("demo-net", ignore_missing=False)
        server = demo.compute.create_server(
            name=f"meter-{uuid.uuid4().hex[:6]}", flavor_id=tiny.id, image_id=image.id,
            networks=[{"uuid": network.id}],
        )  # fmt: skip
        _wait_status(demo, server, "ACTIVE")
        time.sleep(2)
        demo.compute.stop_server(server)
        _wait_status(demo, server, "SHUTOFF")
        time.sleep(2)
        demo.compute.start_server(server)
        _wait_status(demo, server, "ACTIVE")
        demo.compute.resize_server(server, small.id)
        _wait_status(demo, server, "VERIFY_RESIZE")
        demo.compute.confirm_server_resize(server)
        _wait_status(demo, server, "ACTIVE")
        time.sleep(2)
        demo.compute.delete_server(server)
        demo.compute.wait_for_delete(server, wait=180, interval=1)

        volume = demo.block_storage.create_volume(name="meter-vol", size=1)
        demo.block_storage.wait_for_status(volume, "available", wait=120)
        time.sleep(2)
        demo.block_storage.extend_volume(volume, 2)
        wait_until(lambda: demo.block_storage.get_volume(volume.id).size == 2, 120, "extend", 1)
        time.sleep(2)
        demo.block_storage.delete_volume(volume)
        demo.block_storage.wait_for_delete(volume, wait=120)
        ended = datetime.now(UTC)

        def closed(resource_id: str) -> bool:
            records = usage_records(store, began - timedelta(minutes=1), ended + timedelta(1))
            mine = [r for r in records if r.resource_id == resource_id]
            return bool(mine) and not any(r.open for r in mine)

        wait_until(lambda: closed(server.id) and closed(volume.id), 60, "deletions metered", 0.5)
    finally:
        stop.set()
        thread.join(30)
        demo.close()

    records = usage_records(store, began - timedelta(minutes=1), ended + timedelta(minutes=1))
    instance = [r for r in records if r.resource_id == server.id]
    assert [(r.flavor, r.state) for r in instance] == [
        ("m1.tiny", "active"),
        ("m1.tiny", "stopped"),
        ("m1.tiny", "active"),
        ("m1.small", "resized"),
        ("m1.small", "active"),
    ]
    assert {r.project_id for r in instance} == {server.project_id}
    assert instance[1].seconds >= 1  # stopped for about 2 s
    total = sum(float(r.seconds) for r in instance)
    assert 0 < total <= (ended - began).total_seconds()
    vol = [r for r in records if r.resource_id == volume.id]
    assert [r.size_gb for r in vol] == [1, 2]
    assert all(r.meter is Meter.VOLUME and r.volume_type for r in vol)
    assert vol[0].end == vol[1].start and vol[1].seconds >= 1
    # nova's legacy and versioned notifications both arrived: still no overlap or double
    assert all(a.end <= b.start for a, b in pairwise(instance))


def test_reconcile_backfills_closes_and_corrects_against_the_real_apis(
    testcloud: RunningTestCloud, store: Store
) -> None:
    conn = catalog.connect(testcloud.settings)
    try:
        inventory = fetch_inventory(conn)
    finally:
        conn.close()
    servers = [r for r in inventory.resources if r.meter is Meter.INSTANCE]
    assert servers and any(r.meter is Meter.VOLUME for r in inventory.resources)
    now = datetime.now(UTC)
    ghost = str(uuid.uuid4())
    wrong = servers[0]
    write_batch(
        store,
        [
            UsageEvent("n1", Meter.INSTANCE, ghost, now - timedelta(hours=2), "e",
                       project_id="p-ghost", flavor="m1.tiny", state="active"),
            UsageEvent("n2", Meter.INSTANCE, wrong.resource_id, now - timedelta(hours=1), "e",
                       project_id=wrong.project_id, flavor="m1.huge", state="active"),
        ],
    )  # fmt: skip
    dry = reconcile(store, inventory, dry_run=True, now=now)
    kinds = {(d.kind, d.resource_id) for d in dry}
    assert ("closed", ghost) in kinds
    assert ("changed", wrong.resource_id) in kinds
    backfilled = {d.resource_id for d in dry if d.kind == "backfilled"}
    assert backfilled == {r.resource_id for r in inventory.resources} - {wrong.resource_id}
    assert usage_records(store, now - timedelta(hours=3), now)[0].open  # dry: nothing written

    assert reconcile(store, inventory, now=now) == dry
    assert reconcile(store, inventory, now=now) == []  # idempotent
    records = usage_records(store, now - timedelta(hours=3), now + timedelta(seconds=1))
    (ghost_record,) = [r for r in records if r.resource_id == ghost]
    assert not ghost_record.open and ghost_record.end == now
    fixed = [r for r in records if r.resource_id == wrong.resource_id]
    assert [r.flavor for r in fixed] == ["m1.huge", wrong.flavor]  # the API's from now on
    assert fixed[0].end == fixed[1].start == now
    volumes = [r for r in records if r.meter is Meter.VOLUME]
    assert volumes and all(r.volume_type and "-" not in r.volume_type for r in volumes)
