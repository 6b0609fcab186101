"""Seeding the testcloud for the purge's tests and benchmark: a project full of
resources on every service, and a neighbour holding same-named resources, a shared
network the first project has ports on, and an image shared with it.

Everything goes through the public APIs, concurrently (the cloud's APIs are
single-worker gunicorns with eight threads each): about 210 resources in well under a
minute. The seeded project is disabled at the end, as a project waiting for its purge.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Seeded", "discard", "inventory", "remaining", "seed_pair"]

IMAGE_BYTES = b"purge test image\n" * 64
WORKERS = 4  # more concurrent requests need database connections beyond the pools


@dataclass
class Seeded:
    """What seed_pair made: the project to purge, its neighbour, and their resources."""

    project: Any  # the keystone project to purge
    neighbour: Any  # the project that must stay untouched
    shared_network: str  # the neighbour's shared network the project has ports on
    shared_image: str  # the neighbour's image the project is a member of
    created: dict[str, int] = field(default_factory=dict)  # per kind, in the project
    neighbour_ids: dict[str, set[str]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.created.values())


def _pool(func: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(lambda item: _retrying(func, item), items))


def _retrying(func: Callable[[Any], Any], item: Any) -> Any:
    """func(item), again after a 5xx or a reset connection (twice at most): the shared
    MariaDB of a busy machine runs out of connections now and then."""
    from stacktender.purge.model import is_transient

    for attempt in range(3):
        try:
            return func(item)
        except Exception as exc:
            if attempt == 2 or not is_transient(exc):
                raise
            time.sleep(1 + attempt)
    raise AssertionError("unreachable")


def _made(
    create: Callable[[], Any], settle: Callable[[Any], Any], remove: Callable[[Any], Any]
) -> Any:
    """create() then settle(); one that fails to build is removed and made again, up to
    three times (on a loaded machine the shared MariaDB may refuse connections, and
    cinder's scheduler then puts the volume in 'error')."""
    for attempt in range(3):
        made = create()
        try:
            return settle(made)
        except Exception:  # openstacksdk's ResourceFailure, or its timeout
            if attempt == 2:
                raise
            # already gone, or going: the purge under test takes whatever is left
            with contextlib.suppress(Exception):
                remove(made)
    raise AssertionError("unreachable")


def _gone(proxy: Any, resource: Any, delete: Callable[[Any], Any]) -> None:
    delete(resource)
    proxy.wait_for_delete(resource, wait=120)


def _project(admin: Any, name: str) -> Any:
    project = admin.identity.create_project(
        name=name, domain_id="default", description="purge test (stacktender)"
    )
    member = admin.identity.find_role("member")
    user = admin.identity.find_user("admin", domain_id="default")
    admin.identity.assign_project_role_to_user(project, user, member)
    admin.network.update_quota(
        project.id, port=-1, network=-1, subnet=-1, router=-1, floatingip=-1,
        security_group=-1, security_group_rule=-1,
    )  # fmt: skip
    admin.compute.update_quota_set(
        project.id, instances=-1, cores=-1, ram=-1, server_groups=-1, server_group_members=-1
    )
    admin.block_storage.update_quota_set(
        project.id, volumes=-1, snapshots=-1, gigabytes=-1, backups=-1
    )
    return project


def seed_pair(
    settings: Any,
    prefix: str = "purge",
    *,
    servers: int = 4,
    ports: int = 120,
    security_groups: int = 30,
    timeout: float = 300.0,
) -> Seeded:
    """Seed a project to purge (>= 200 resources) and its neighbour; return both."""
    from stacktender.testcloud.catalog import connect

    suffix = uuid.uuid4().hex[:8]
    admin = connect(settings)
    try:
        target = _project(admin, f"{prefix}-{suffix}")
        neighbour = _project(admin, f"{prefix}-{suffix}-neighbour")
        public = admin.network.find_network("public", ignore_missing=False)
        shared = admin.network.create_network(
            name="shared-net", is_shared=True, project_id=neighbour.id
        )
        admin.network.create_subnet(
            name="shared-subnet", network_id=shared.id, ip_version=4, cidr="10.99.0.0/24",
            project_id=neighbour.id,
        )  # fmt: skip
        mine = connect(settings, project=target.name)
        theirs = connect(settings, project=neighbour.name)
        try:
            seeded = Seeded(target, neighbour, shared.id, "")
            image = _neighbour(theirs, public, target.id, timeout)
            seeded.shared_image = image
            seeded.created = _fill(
                mine, public, shared.id, neighbour.id, servers, ports, security_groups, timeout
            )
            seeded.neighbour_ids = inventory(admin, neighbour.id)
        finally:
            mine.close()
            theirs.close()
        admin.identity.update_project(target, is_enabled=False)
        return seeded
    finally:
        admin.close()


def _neighbour(conn: Any, public: Any, share_with: str, timeout: float) -> str:
    """Same-named resources in the neighbour project; its image shared with share_with."""
    net = conn.network.create_network(name="net-0")
    subnet = conn.network.create_subnet(
        name="subnet-0", network_id=net.id, ip_version=4, cidr="10.0.0.0/24"
    )
    router = conn.network.create_router(
        name="router-0", external_gateway_info={"network_id": public.id}
    )
    conn.network.add_interface_to_router(router, subnet=subnet.id)
    conn.network.create_security_group(name="sg-0", description="same name as the target's")
    _pool(lambda i: conn.network.create_port(name=f"port-{i}", network_id=net.id), range(5))
    conn.network.create_ip(floating_network_id=public.id)
    conn.compute.create_server_group(name="group-0", policies=["anti-affinity"])
    conn.block_storage.create_volume(name="vol-0", size=1)
    image = conn.image.create_image(
        name="image-0", data=IMAGE_BYTES, disk_format="raw", container_format="bare",
        visibility="shared", wait=True, timeout=timeout,
    )  # fmt: skip
    conn.image.add_member(image, member=share_with)
    return str(image.id)


def _fill(
    conn: Any,
    public: Any,
    shared_net: str,
    neighbour_id: str,
    n_servers: int,
    n_ports: int,
    n_groups: int,
    timeout: float,
) -> dict[str, int]:
    """The target project's resources; returns how many of each kind."""
    nets = _pool(lambda i: conn.network.create_network(name=f"net-{i}"), range(3))
    subnets = _pool(
        lambda i: conn.network.create_subnet(
            name=f"subnet-{i}", network_id=nets[i].id, ip_version=4, cidr=f"10.0.{i}.0/24"
        ),
        range(3),
    )
    routers = _pool(
        lambda i: conn.network.create_router(
            name=f"router-{i}", external_gateway_info={"network_id": public.id}
        ),
        range(2),
    )
    for router, subnet in (
        (routers[0], subnets[0]),
        (routers[0], subnets[1]),
        (routers[1], subnets[2]),
    ):
        conn.network.add_interface_to_router(router, subnet=subnet.id)

    def group(i: int) -> None:
        sg = conn.network.create_security_group(name=f"sg-{i}", description="purge test")
        conn.network.create_security_group_rule(
            security_group_id=sg.id, direction="ingress", ethertype="IPv4", protocol="tcp",
            port_range_min=22, port_range_max=22, remote_ip_prefix="0.0.0.0/0",
        )  # fmt: skip

    _pool(group, range(n_groups))
    _pool(
        lambda i: conn.network.create_port(name=f"port-{i}", network_id=nets[i % 3].id),
        range(n_ports),
    )
    _pool(
        lambda i: conn.network.create_port(name=f"shared-port-{i}", network_id=shared_net),
        range(10),
    )
    _pool(
        lambda i: conn.compute.create_server_group(name=f"group-{i}", policies=["affinity"]),
        range(6),
    )

    flavor = conn.compute.find_flavor("m1.nano", ignore_missing=False)
    tiny = conn.image.find_image("tiny", ignore_missing=False)

    def server(i: int) -> Any:
        return _made(
            lambda: conn.compute.create_server(
                name=f"server-{i}", flavor_id=flavor.id, image_id=tiny.id,
                networks=[{"uuid": nets[0].id}],
            ),
            lambda s: conn.compute.wait_for_server(s, status="ACTIVE", wait=timeout, interval=1),
            lambda s: _gone(conn.compute, s, conn.compute.delete_server),
        )  # fmt: skip

    def volume(i: int) -> Any:
        return _made(
            lambda: conn.block_storage.create_volume(name=f"vol-{i}", size=1),
            lambda v: conn.block_storage.wait_for_status(v, "available", wait=timeout),
            lambda v: _gone(conn.block_storage, v, conn.block_storage.delete_volume),
        )

    images = _pool(
        lambda i: conn.image.create_image(
            name=f"image-{i}",
            data=IMAGE_BYTES,
            disk_format="raw",
            container_format="bare",
            visibility="shared" if i < 2 else "private",
            wait=True,
            timeout=timeout,
        ),
        range(4),
    )
    for image in images[:2]:
        conn.image.add_member(image, member=neighbour_id)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        building = [pool.submit(server, i) for i in range(n_servers)]
        volumes = list(pool.map(volume, range(2 * n_servers)))
        servers = [f.result() for f in building]
    for booted, disk in zip(servers, volumes[:n_servers], strict=True):
        conn.compute.create_volume_attachment(booted, volume_id=disk.id)
    _pool(
        lambda v: _made(
            lambda: conn.block_storage.create_snapshot(name=f"snap-{v.name}", volume_id=v.id),
            lambda s: conn.block_storage.wait_for_status(s, "available", wait=timeout),
            lambda s: _gone(conn.block_storage, s, conn.block_storage.delete_snapshot),
        ),
        volumes[n_servers:],
    )
    for booted in servers[:2]:
        port = next(iter(conn.network.ports(device_id=booted.id)))
        conn.network.create_ip(floating_network_id=public.id, port_id=port.id)
    _pool(lambda i: conn.network.create_ip(floating_network_id=public.id), range(4))
    deadline = time.monotonic() + timeout
    for disk in volumes[:n_servers]:  # attached (in-use) before the purge starts
        conn.block_storage.wait_for_status(disk, "in-use", wait=max(1, deadline - time.monotonic()))
    return {
        "network": 3, "subnet": 3, "router": 2, "router_gateway": 2, "router_interface": 3,
        "security_group": n_groups, "port": n_ports + 10 + n_servers, "server_group": 6,
        "server": n_servers, "volume": 2 * n_servers, "snapshot": n_servers, "image": 4,
        "image_member": 1, "floating_ip": min(2, n_servers) + 4,
    }  # fmt: skip


def inventory(conn: Any, project_id: str) -> dict[str, set[str]]:
    """Ids of what project_id owns, per kind, listed straight from the APIs (as admin)."""
    net = conn.network
    ids: dict[str, set[str]] = {
        "server": {s.id for s in conn.compute.servers(all_projects=True, project_id=project_id)},
        "server_group": {
            g.id
            for g in conn.compute.server_groups(all_projects=True)
            if g.project_id == project_id
        },
        "volume": {
            v.id for v in conn.block_storage.volumes(all_projects=True, project_id=project_id)
            if v.project_id == project_id
        },
        "snapshot": {
            s.id for s in conn.block_storage.snapshots(all_projects=True, project_id=project_id)
            if s.project_id == project_id
        },
        "image": {i.id for i in conn.image.images(owner=project_id) if i.owner == project_id},
        "network": {n.id for n in net.networks(project_id=project_id)},
        "subnet": {s.id for s in net.subnets(project_id=project_id)},
        "router": {r.id for r in net.routers(project_id=project_id)},
        "port": {p.id for p in net.ports(project_id=project_id)},
        "floating_ip": {i.id for i in net.ips(project_id=project_id)},
        "security_group": {
            g.id for g in net.security_groups(project_id=project_id) if g.name != "default"
        },
    }  # fmt: skip
    ids["image_member"] = {
        f"{i.id}/{m.member_id}"
        for i in conn.image.images(visibility="shared")
        for m in conn.image.members(i.id)
        if m.member_id == project_id
    }
    return ids


def remaining(conn: Any, project_id: str) -> dict[str, set[str]]:
    """What project_id still owns (kinds with nothing left omitted)."""
    return {kind: ids for kind, ids in inventory(conn, project_id).items() if ids}


def discard(settings: Any, *projects: Any) -> None:
    """Purge seeded projects (with stacktender's purge) and delete them from Keystone, so
    that tests and benchmarks leave the shared testcloud as they found it."""
    from stacktender.purge import Policy, execute, plan_project
    from stacktender.testcloud.catalog import connect

    conn = connect(settings)
    try:
        for project in projects:
            if conn.identity.find_project(project.id) is None:
                continue
            conn.identity.update_project(project.id, is_enabled=False)
            report = execute(conn, plan_project(conn, project.id), policy=Policy(workers=8))
            if report.status != "finished":
                raise RuntimeError(f"cleaning up {project.name}: {report.summary()}")
            conn.identity.delete_project(project.id)
    finally:
        conn.close()
