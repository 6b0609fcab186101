"""End to end on the testcloud: a server booted, resized, stopped and deleted and a volume
created and deleted in a project of its own; the consumer reads the notifications they
caused from the cloud's RabbitMQ; the invoice (library and REST API) matches what happened,
to the second."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from testcloud_support import RunningTestCloud

from stacktender.metering.builtin import BUILTIN_HANDLERS
from stacktender.metering.consumer import ConsumerOptions, MeteringConsumer, amqp_url
from stacktender.metering.handlers import HandlerRegistry
from stacktender.metering.invoice import invoice_for
from stacktender.metering.pricing import parse_price_sheet
from stacktender.metering.records import Meter, Period
from stacktender.metering.usage import usage_records
from stacktender.store.db import Store

pytestmark = [pytest.mark.integration, pytest.mark.testcloud]

# 3600 an hour: one euro a second (a GB-second for storage), so amounts read as seconds
SHEET = """
currency: EUR
instance: {default: 3600}
volume: {default: 3600}
snapshot: 3600
backup: 3600
image: 3600
floating_ip: 3600
"""
SLACK = timedelta(seconds=2)  # notification timestamps vs this test's clock readings
TIMEOUT = 300


@dataclass
class Happened:
    """What the test did, with the wall-clock bounds of each step."""

    project_id: str
    server_id: str
    volume_id: str
    times: dict[str, datetime]


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def project(testcloud: RunningTestCloud) -> Iterator[tuple[str, Any]]:
    """A project of its own (nothing else bills there), the admin a member of it."""
    admin = testcloud.connect()
    name = f"rating-e2e-{uuid.uuid4().hex[:8]}"
    created = admin.identity.create_project(name=name, domain_id="default")
    user = admin.identity.find_user("admin", domain_id="default")
    member = admin.identity.find_role("member")
    admin.identity.assign_project_role_to_user(created, user, member)
    conn = testcloud.connect(project=name)
    try:
        yield created.id, conn
    finally:
        conn.close()
        admin.identity.delete_project(created)
        admin.close()


@pytest.fixture
def queue(testcloud: RunningTestCloud) -> Iterator[str]:
    """A queue name of this test's own, deleted afterwards (it is bound to every
    notification exchange of the cloud and would otherwise fill up)."""
    import kombu

    name = f"rating-e2e-{uuid.uuid4().hex[:8]}"
    yield name
    with kombu.Connection(amqp_url(testcloud.settings.transport_url), connect_timeout=10) as conn:
        kombu.Queue(name, channel=conn.channel()).delete()


def live_through_a_month(conn: Any, project_id: str) -> Happened:
    """Boot m1.tiny, resize to m1.small, stop, delete; create and delete a 1 GB volume."""
    times: dict[str, datetime] = {}
    compute = conn.compute
    tiny, small = compute.find_flavor("m1.tiny"), compute.find_flavor("m1.small")
    image = conn.image.find_image("tiny")
    times["boot"] = now()
    server = compute.create_server(
        name="rating-e2e", flavor_id=tiny.id, image_id=image.id, networks="none"
    )
    server = compute.wait_for_server(server, wait=TIMEOUT, interval=1)
    times["active"] = now()
    compute.resize_server(server, small.id)
    compute.wait_for_server(server, status="VERIFY_RESIZE", wait=TIMEOUT, interval=1)
    compute.confirm_server_resize(server)
    compute.wait_for_server(server, status="ACTIVE", wait=TIMEOUT, interval=1)
    times["stop"] = now()
    compute.stop_server(server)
    compute.wait_for_server(server, status="SHUTOFF", wait=TIMEOUT, interval=1)
    times["stopped"] = now()
    time.sleep(3)  # a stopped stretch long enough to see
    times["delete"] = now()
    compute.delete_server(server)
    compute.wait_for_delete(server, wait=TIMEOUT, interval=1)
    times["deleted"] = now()

    storage = conn.block_storage
    times["volume"] = now()
    volume = storage.create_volume(size=1, name="rating-e2e")
    storage.wait_for_status(volume, status="available", wait=TIMEOUT, interval=1)
    time.sleep(2)
    times["volume_delete"] = now()
    storage.delete_volume(volume)
    storage.wait_for_delete(volume, wait=TIMEOUT, interval=1)
    times["volume_deleted"] = now()
    return Happened(project_id, server.id, volume.id, times)


def consume_until_closed(worker: MeteringConsumer, store: Store, happened: Happened) -> None:
    """Run the consumer until both resources' deletions are stored (they may trail the API)."""
    deadline = time.monotonic() + 120
    month = Period(happened.times["boot"].year, happened.times["boot"].month)
    while True:
        worker.run(idle_exit=2.0)
        records = usage_records(store, month.start, month.end, happened.project_id)
        ids = {r.resource_id for r in records}
        if {happened.server_id, happened.volume_id} <= ids and not any(r.open for r in records):
            return
        assert time.monotonic() < deadline, f"usage still open after 120 s: {records}"


def test_the_invoice_matches_what_happened_on_the_cloud(
    store: Store, testcloud: RunningTestCloud, project: tuple[str, Any], queue: str
) -> None:
    project_id, conn = project
    worker = MeteringConsumer(
        store,
        HandlerRegistry(BUILTIN_HANDLERS),
        ConsumerOptions(url=testcloud.settings.transport_url, queue=queue, batch_wait=0.3),
    )
    worker.declare()  # bound before anything happens: nothing is missed
    happened = live_through_a_month(conn, project_id)
    consume_until_closed(worker, store, happened)
    t = happened.times
    month = Period(t["boot"].year, t["boot"].month)
    if month != Period(t["volume_deleted"].year, t["volume_deleted"].month):
        pytest.fail("the test ran across a month boundary; run it again")

    records = usage_records(store, month.start, month.end, project_id)
    server = sorted(
        (r for r in records if r.resource_id == happened.server_id), key=lambda r: r.start
    )
    volume = [r for r in records if r.resource_id == happened.volume_id]
    assert {r.meter for r in records} == {Meter.INSTANCE, Meter.VOLUME}
    # the server: from its boot to its deletion, m1.tiny then m1.small, stopped at the end
    assert t["boot"] - SLACK <= server[0].start <= t["active"] + SLACK
    assert t["delete"] - SLACK <= server[-1].end <= t["deleted"] + SLACK
    assert all(a.end == b.start for a, b in itertools.pairwise(server))
    assert server[0].flavor == "m1.tiny" and server[-1].flavor == "m1.small"
    stopped = [r for r in server if r.state == "stopped"]
    assert len(stopped) == 1 and stopped[0] is server[-1]
    assert t["stop"] - SLACK <= stopped[0].start <= t["stopped"] + SLACK
    assert any(r.flavor == "m1.small" and r.state == "active" for r in server)
    # the volume: 1 GB from its creation to its deletion
    assert len(volume) == 1 and volume[0].size_gb == 1
    assert t["volume"] - SLACK <= volume[0].start
    assert t["volume_delete"] - SLACK <= volume[0].end <= t["volume_deleted"] + SLACK

    sheet = parse_price_sheet(SHEET)
    invoice = invoice_for(store, sheet, project_id, month)
    lifetime = server[-1].end - server[0].start
    instance_seconds = sum(
        (line.exact_quantity * 3600 for line in invoice.lines if line.meter is Meter.INSTANCE),
        Decimal(0),
    )
    assert abs(instance_seconds - Decimal(lifetime.total_seconds())) < Decimal("0.001")
    by_key = {(line.meter, line.item, line.state): line for line in invoice.lines}
    stopped_line = by_key[(Meter.INSTANCE, "m1.small", "stopped")]
    assert stopped_line.amount == stopped[0].seconds.quantize(Decimal("0.01"))  # 1 EUR a second
    assert sum(line.amount for line in invoice.lines) == invoice.subtotal == invoice.total
    # at one euro a second, the total is the seconds that happened (each line rounded once)
    used = sum(
        (r.seconds * (r.size_gb if r.meter is Meter.VOLUME else 1) for r in records), Decimal(0)
    )
    assert abs(invoice.total - used) <= Decimal("0.005") * len(invoice.lines)
    assert invoice.total > 10  # the server lived through a boot, a resize and a stop

    # the REST API gives the same invoice to the project's own token
    from fastapi.testclient import TestClient

    from stacktender.web.api import create_app
    from stacktender.web.auth import KeystoneAuth

    admin = testcloud.connect()
    auth = KeystoneAuth(admin.session, testcloud.settings.keystone_url)
    with TestClient(create_app(store, sheet, auth)) as http:
        answer = http.get(
            f"/v1/projects/{project_id}/invoices/{month}",
            headers={"X-Auth-Token": conn.session.get_token()},
        )
    admin.close()
    assert answer.status_code == 200, answer.text
    assert answer.json()["total"] == str(invoice.total)
    assert [line["amount"] for line in answer.json()["lines"]] == [
        str(line.amount) for line in invoice.lines
    ]
