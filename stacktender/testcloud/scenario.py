"""A boot, a failed boot, a resize and a delete on the testcloud, each under its own
global request id, so that the services' real logs hold traceable requests.

The logs module's tests and the README's trace example run on what this writes.
Every action goes through the public APIs with openstacksdk, as the demo user.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from stacktender.testcloud import catalog
from stacktender.testcloud.errors import TestCloudError

if TYPE_CHECKING:
    from stacktender.testcloud.cloud import TestCloud

# More disk than nova's fake driver offers (600000 GiB) and than quotas can refuse
# (there is no disk quota): the scheduler finds no valid host.
IMPOSSIBLE_FLAVOR = ("tc.no-valid-host", 1, 64, 1_000_000)


@dataclass
class ScenarioRun:
    """Global request ids (``req-<uuid>``) of each action and the servers involved."""

    boot: str
    failed_boot: str
    resize: str
    delete: str
    server: str
    failed_server: str
    started: float
    finished: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _request_id() -> str:
    return f"req-{uuid.uuid4()}"


def run_scenario(cloud: TestCloud, timeout: float = 300.0) -> ScenarioRun:
    """Boot a server, fail to boot another, resize the first, then delete both."""
    settings = cloud.settings()
    admin = catalog.connect(settings)
    demo = catalog.connect(settings, "demo")
    started = time.time()
    try:
        name, vcpus, ram, disk = IMPOSSIBLE_FLAVOR
        if admin.compute.find_flavor(name) is None:
            admin.compute.create_flavor(name=name, vcpus=vcpus, ram=ram, disk=disk)
        tiny = demo.compute.find_flavor("m1.tiny", ignore_missing=False)
        small = demo.compute.find_flavor("m1.small", ignore_missing=False)
        impossible = demo.compute.find_flavor(name, ignore_missing=False)
        image = demo.image.find_image("tiny", ignore_missing=False)
        network = demo.network.find_network("demo-net", ignore_missing=False)
        suffix = uuid.uuid4().hex[:8]
        ids = {k: _request_id() for k in ("boot", "failed_boot", "resize", "delete")}

        boot = demo.global_request(ids["boot"])
        server = boot.compute.create_server(
            name=f"trace-{suffix}", flavor_id=tiny.id, image_id=image.id,
            networks=[{"uuid": network.id}],
        )  # fmt: skip
        server = boot.compute.wait_for_server(server, wait=timeout, interval=1)

        failing = demo.global_request(ids["failed_boot"])
        doomed = failing.compute.create_server(
            name=f"trace-fail-{suffix}", flavor_id=impossible.id, image_id=image.id,
            networks=[{"uuid": network.id}],
        )  # fmt: skip
        doomed = failing.compute.wait_for_server(
            doomed, status="ERROR", failures=["ACTIVE"], wait=timeout, interval=1
        )

        resize = demo.global_request(ids["resize"])
        resize.compute.resize_server(server, small.id)
        resize.compute.wait_for_server(server, status="VERIFY_RESIZE", wait=timeout, interval=1)
        resize.compute.confirm_server_resize(server)
        resize.compute.wait_for_server(server, status="ACTIVE", wait=timeout, interval=1)

        delete = demo.global_request(ids["delete"])
        for victim in (server, doomed):
            delete.compute.delete_server(victim)
        for victim in (server, doomed):
            delete.compute.wait_for_delete(victim, wait=timeout, interval=1)
    except TestCloudError:
        raise
    except Exception as exc:  # openstacksdk raises many types; the caller wants one
        raise TestCloudError(f"scenario failed: {exc}") from exc
    finally:
        admin.close()
        demo.close()
    return ScenarioRun(
        **ids, server=server.id, failed_server=doomed.id, started=started, finished=time.time()
    )
