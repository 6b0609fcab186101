"""Realistic data in the testcloud, created through the public APIs with openstacksdk.

Idempotent: everything is found by name before it is created, so ``seed`` can run
again (and ``seed --scale N`` only adds the servers that are missing).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stacktender.testcloud import catalog
from stacktender.testcloud.errors import TestCloudError

if TYPE_CHECKING:
    from stacktender.testcloud.cloud import TestCloud
    from stacktender.testcloud.config import Settings

__all__ = ["FLAVORS", "PROJECTS", "SERVERS_PER_HOST", "seed"]

# name -> (vcpus, ram MiB, disk GiB)
FLAVORS = {
    "m1.nano": (1, 64, 1),
    "m1.tiny": (1, 512, 1),
    "m1.small": (1, 2048, 20),
    "m1.medium": (2, 4096, 40),
}
# project -> users with their roles, and the project network's CIDR
PROJECTS: dict[str, dict[str, Any]] = {
    "demo": {"users": {"demo": ["member"]}, "cidr": "10.30.0.0/24"},
    "acme": {"users": {"alice": ["member"], "carol": ["reader"]}, "cidr": "10.10.0.0/24"},
    "globex": {"users": {"bob": ["member", "manager"]}, "cidr": "10.20.0.0/24"},
}
SCALE_PROJECT = "scale"
SERVERS_PER_HOST = 25  # --scale adds fake compute hosts to keep about this many per host
IMAGE_BYTES = b"stacktender testcloud tiny image\n" * 2048  # 66 KiB of raw "disk"
WEB_RULES = (("tcp", 22), ("tcp", 80), ("tcp", 443), ("icmp", None))

Progress = Callable[[str], None]


def seed(cloud: TestCloud, scale: int = 0, timeout: float = 1800.0) -> dict[str, int]:
    """Seed the cloud; with scale, also N servers spread over enough compute hosts."""
    with cloud.locked():
        return _seed(cloud, scale, timeout)


def _seed(cloud: TestCloud, scale: int, timeout: float) -> dict[str, int]:
    settings = cloud.settings()
    if scale:
        hosts = max(settings.compute_hosts, math.ceil(scale / SERVERS_PER_HOST))
        if hosts != settings.compute_hosts:
            cloud.progress(f"growing to {hosts} fake compute hosts for {scale} servers")
        cloud.up(compute_hosts=hosts)
        settings = cloud.settings()
    settings.passwords.setdefault("seed", settings.passwords["demo"] + "-seed")
    settings.save()
    admin = catalog.connect(settings)
    try:
        _seed_admin(admin, settings, cloud.progress)
        for project in PROJECTS:
            _seed_project(admin, settings, project, cloud.progress, timeout)
        if scale:
            _seed_scale(admin, settings, scale, cloud.progress, timeout)
        return _summary(admin)
    finally:
        admin.close()


def _seed_admin(conn: Any, settings: Settings, progress: Progress) -> None:
    progress("flavors, image, public network, projects and users")
    for name, (vcpus, ram, disk) in FLAVORS.items():
        if conn.compute.find_flavor(name) is None:
            conn.compute.create_flavor(name=name, vcpus=vcpus, ram=ram, disk=disk)
    image = conn.image.find_image("tiny")
    if image is not None and image.status != "active":  # an upload that was cut short
        conn.image.delete_image(image)
        image = None
    if image is None:
        conn.image.create_image(
            name="tiny",
            data=IMAGE_BYTES,
            disk_format="raw",
            container_format="bare",
            visibility="public",
            wait=True,
        )
    public = conn.network.find_network("public")
    if public is None:
        public = conn.network.create_network(
            name="public",
            is_router_external=True,
            is_shared=False,
            provider_network_type="flat",
            provider_physical_network="public",
        )
    if conn.network.find_subnet("public-subnet") is None:
        conn.network.create_subnet(
            name="public-subnet",
            network_id=public.id,
            ip_version=4,
            cidr="203.0.113.0/24",
            gateway_ip="203.0.113.1",
            allocation_pools=[{"start": "203.0.113.10", "end": "203.0.113.250"}],
            is_dhcp_enabled=False,
        )
    roles = {role.name: role for role in conn.identity.roles()}
    for project_name, spec in PROJECTS.items():
        project = conn.identity.find_project(project_name, domain_id="default")
        if project is None:
            project = conn.identity.create_project(
                name=project_name, domain_id="default", description="seeded by stacktender"
            )
        for user_name, user_roles in spec["users"].items():
            user = conn.identity.find_user(user_name, domain_id="default")
            if user is None:
                user = conn.identity.create_user(
                    name=user_name,
                    password=settings.passwords["seed"],
                    domain_id="default",
                    default_project_id=project.id,
                )
            for role in user_roles:
                conn.identity.assign_project_role_to_user(project, user, roles[role])


def _as_project_user(settings: Settings, project: str) -> Any:
    users = PROJECTS[project]["users"]
    user = next(u for u, roles in users.items() if "member" in roles)
    password = settings.passwords["demo" if user == "demo" else "seed"]
    return catalog.connect(settings, user=user, password=password, project=project)


def _seed_project(
    admin: Any, settings: Settings, project: str, progress: Progress, timeout: float
) -> None:
    progress(f"project {project}: network, router, security group, servers, volumes")
    conn = _as_project_user(settings, project)
    try:
        net, subnet = _network(conn, project, PROJECTS[project]["cidr"])
        _router(conn, project, subnet)
        group = _security_group(conn, project)
        if conn.network.find_port(f"{project}-spare-port") is None:
            conn.network.create_port(name=f"{project}-spare-port", network_id=net.id)
        flavor = conn.compute.find_flavor("m1.tiny")
        image = conn.image.find_image("tiny")
        servers = [
            _server(conn, f"{project}-{role}-1", flavor, image, net, group)
            for role in ("web", "db")
        ]
        servers = [_wait_active(conn, s, timeout) for s in servers]
        data = _volume(conn, f"{project}-data-1", timeout)
        if not any(a.get("server_id") == servers[0].id for a in data.attachments or []):
            conn.compute.create_volume_attachment(servers[0], volume_id=data.id)
        spare = _volume(conn, f"{project}-data-2", timeout)
        if conn.block_storage.find_snapshot(f"{project}-snap-1") is None:
            conn.block_storage.create_snapshot(name=f"{project}-snap-1", volume_id=spare.id)
        _floating_ip(conn, servers[0])
    finally:
        conn.close()


def _network(conn: Any, project: str, cidr: str) -> tuple[Any, Any]:
    net = conn.network.find_network(f"{project}-net") or conn.network.create_network(
        name=f"{project}-net"
    )
    subnet = conn.network.find_subnet(f"{project}-subnet") or conn.network.create_subnet(
        name=f"{project}-subnet", network_id=net.id, ip_version=4, cidr=cidr
    )
    return net, subnet


def _router(conn: Any, project: str, subnet: Any) -> Any:
    router = conn.network.find_router(f"{project}-router")
    if router is None:
        public = conn.network.find_network("public")
        router = conn.network.create_router(
            name=f"{project}-router", external_gateway_info={"network_id": public.id}
        )
        conn.network.add_interface_to_router(router, subnet_id=subnet.id)
    return router


def _security_group(conn: Any, project: str) -> Any:
    group = conn.network.find_security_group(f"{project}-web")
    if group is None:
        group = conn.network.create_security_group(
            name=f"{project}-web", description="ssh, http, https and ping from anywhere"
        )
        for protocol, port in WEB_RULES:
            conn.network.create_security_group_rule(
                security_group_id=group.id,
                direction="ingress",
                ethertype="IPv4",
                protocol=protocol,
                port_range_min=port,
                port_range_max=port,
                remote_ip_prefix="0.0.0.0/0",
            )
    return group


def _server(conn: Any, name: str, flavor: Any, image: Any, net: Any, group: Any) -> Any:
    found = conn.compute.find_server(name)
    if found is not None:
        return found
    return conn.compute.create_server(
        name=name,
        flavor_id=flavor.id,
        image_id=image.id,
        networks=[{"uuid": net.id}],
        security_groups=[{"name": group.name}],
        metadata={"seeded-by": "stacktender"},
    )


def _wait_active(conn: Any, server: Any, timeout: float) -> Any:
    server = conn.compute.get_server(server.id)
    if server.status == "ERROR":
        fault = (server.fault or {}).get("message", "no fault recorded")
        raise TestCloudError(f"server {server.name} went to ERROR: {fault}")
    return conn.compute.wait_for_server(server, status="ACTIVE", wait=timeout, interval=1)


def _volume(conn: Any, name: str, timeout: float) -> Any:
    volume = conn.block_storage.find_volume(name)
    if volume is None:
        volume = conn.block_storage.create_volume(name=name, size=1)
    return conn.block_storage.wait_for_status(
        volume, status=volume.status if volume.status == "in-use" else "available", wait=timeout
    )


def _floating_ip(conn: Any, server: Any) -> None:
    ports = list(conn.network.ports(device_id=server.id))
    if not ports or list(conn.network.ips(port_id=ports[0].id)):
        return
    public = conn.network.find_network("public")
    conn.network.create_ip(floating_network_id=public.id, port_id=ports[0].id)


def _seed_scale(
    admin: Any, settings: Settings, count: int, progress: Progress, timeout: float
) -> None:
    project = admin.identity.find_project(SCALE_PROJECT, domain_id="default")
    if project is None:
        project = admin.identity.create_project(name=SCALE_PROJECT, domain_id="default")
    admin.identity.assign_project_role_to_user(
        project,
        admin.identity.find_user("admin", domain_id="default"),
        admin.identity.find_role("member"),
    )
    unlimited = {"instances": -1, "cores": -1, "ram": -1}
    admin.compute.update_quota_set(project.id, **unlimited)  # type: ignore[arg-type]
    admin.network.update_quota(project.id, port=-1, network=-1, subnet=-1)
    conn = catalog.connect(settings, project=SCALE_PROJECT)
    try:
        net = conn.network.find_network("scale-net") or conn.network.create_network(
            name="scale-net"
        )
        if conn.network.find_subnet("scale-subnet") is None:
            conn.network.create_subnet(
                name="scale-subnet", network_id=net.id, ip_version=4, cidr="10.128.0.0/17"
            )
        flavor = conn.compute.find_flavor("m1.nano")
        image = conn.image.find_image("tiny")
        batch = 50
        began = time.monotonic()

        def listed(**filters: str) -> list[Any]:
            # brief listings: a detailed one makes nova ask neutron about every server
            return list(conn.compute.servers(details=False, name="^scale-", **filters))

        while True:
            total = len(listed())
            active = len(listed(status="ACTIVE"))
            errors = listed(status="ERROR")
            for server in errors:
                conn.compute.delete_server(server)
            building = total - active - len(errors)
            missing = count - total + len(errors)
            progress(f"scale: {active}/{count} servers ACTIVE, {building} building")
            if active >= count:
                return
            if time.monotonic() - began > timeout:
                raise TestCloudError(
                    f"scale seeding: only {active}/{count} ACTIVE after {timeout:.0f}s"
                )
            if missing > 0 and building < batch:
                size = min(batch, missing)
                conn.compute.create_server(
                    name=f"scale-{total + 1:04d}",
                    flavor_id=flavor.id,
                    image_id=image.id,
                    networks=[{"uuid": net.id}],
                    min_count=size,
                    max_count=size,
                )
            time.sleep(5)
    finally:
        conn.close()


def _summary(conn: Any) -> dict[str, int]:
    return {
        "projects": len(list(conn.identity.projects())),
        "users": len(list(conn.identity.users())),
        "flavors": len(list(conn.compute.flavors())),
        "images": len(list(conn.image.images())),
        "networks": len(list(conn.network.networks())),
        "routers": len(list(conn.network.routers())),
        "ports": len(list(conn.network.ports())),
        "floating IPs": len(list(conn.network.ips())),
        "servers": len(list(conn.compute.servers(all_projects=True))),
        "volumes": len(list(conn.block_storage.volumes(all_projects=True))),
        "snapshots": len(list(conn.block_storage.snapshots(all_projects=True))),
        "compute hosts": len(list(conn.compute.hypervisors())),
    }
