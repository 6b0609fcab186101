"""neutron: floating IPs, router gateways and interfaces, routers, trunks, ports (of a
device, and unattached ones), subnets, networks and non-default security groups.

A router's gateway and each of its interfaces are resources of their own here: they
must go before the router, and the gateway only after the floating IPs that need it.
Ports that belong to a router, a floating IP or DHCP go with their owner.
"""

from __future__ import annotations

from typing import Any

from stacktender.purge.model import Found, ResourceType
from stacktender.purge.services import found, owned

SERVICE = "network"
INTERFACE_OWNERS = (
    "network:router_interface",
    "network:router_interface_distributed",
    "network:ha_router_replicated_interface",
)
# ports deleted by deleting (or detaching) what owns them
OWNED_PORTS = (*INTERFACE_OWNERS, "network:router_gateway", "network:floatingip", "network:dhcp")


def _filters(project_id: str | None) -> dict[str, Any]:
    return {"project_id": project_id} if project_id else {}


def _floating_ips(conn: Any, project_id: str | None) -> list[Found]:
    out = []
    for ip in owned(conn.network.ips(**_filters(project_id)), project_id):
        detail = ip.floating_ip_address + (f" -> port {ip.port_id}" if ip.port_id else "")
        item = found("floating_ip", SERVICE, ip, detail=detail)
        out.append(_named(item, ip.floating_ip_address))
    return out


def _named(item: Found, name: str) -> Found:
    from dataclasses import replace

    return item if item.name else replace(item, name=name)


def _routers(conn: Any, project_id: str | None) -> list[Found]:
    return [
        found("router", SERVICE, r, detail=f"{len(r.routes or [])} route(s)" if r.routes else "")
        for r in owned(conn.network.routers(**_filters(project_id)), project_id)
    ]


def _gateways(conn: Any, project_id: str | None) -> list[Found]:
    out = []
    for router in owned(conn.network.routers(**_filters(project_id)), project_id):
        info = router.external_gateway_info or {}
        if not info.get("network_id"):
            continue
        ips = ", ".join(f.get("ip_address", "") for f in info.get("external_fixed_ips") or [])
        item = found(
            "router_gateway",
            SERVICE,
            router,
            parent=router.id,
            detail=f"on network {info['network_id']}" + (f" ({ips})" if ips else ""),
        )
        out.append(item)
    return out


def _interfaces(conn: Any, project_id: str | None) -> list[Found]:
    out = []
    for owner in INTERFACE_OWNERS:
        ports = conn.network.ports(device_owner=owner, **_filters(project_id))
        for port in owned(ports, project_id):
            subnets = ", ".join(ip.get("subnet_id", "") for ip in port.fixed_ips or [])
            item = found(
                "router_interface",
                SERVICE,
                port,
                parent=port.device_id,
                detail=f"router {port.device_id} on subnet {subnets}",
                router=port.device_id,
            )
            out.append(_named(item, f"interface {port.id[:8]}"))
    return out


def _remove_gateway(conn: Any, item: Found) -> None:
    conn.network.update_router(item.id, external_gateway_info={})


def _remove_interface(conn: Any, item: Found) -> None:
    router = conn.network.get_router(item.data["router"])
    if router.routes:
        # static routes through the interface's subnet would block its removal
        conn.network.update_router(router, routes=[])
    conn.network.remove_interface_from_router(router, port_id=item.id)


def _ports(attached: bool) -> Any:
    def lister(conn: Any, project_id: str | None) -> list[Found]:
        out = []
        for port in owned(conn.network.ports(**_filters(project_id)), project_id):
            if port.device_owner in OWNED_PORTS or bool(port.device_owner) != attached:
                continue
            detail = f"network {port.network_id}"
            if port.device_owner:
                detail += f", {port.device_owner} {port.device_id}"
            rtype = "port" if attached else "unattached_port"
            out.append(_named(found(rtype, SERVICE, port, detail=detail), f"port {port.id[:8]}"))
        return out

    return lister


def _simple(rtype: str, listing: str, detail: Any = None) -> Any:
    def lister(conn: Any, project_id: str | None) -> list[Found]:
        items = owned(getattr(conn.network, listing)(**_filters(project_id)), project_id)
        return [found(rtype, SERVICE, i, detail=detail(i) if detail else "") for i in items]

    return lister


def _security_groups(conn: Any, project_id: str | None) -> list[Found]:
    groups = owned(conn.network.security_groups(**_filters(project_id)), project_id)
    return [
        found("security_group", SERVICE, g, detail=f"{len(g.security_group_rules or [])} rule(s)")
        for g in groups
        if g.name != "default"
    ]


def _no_trunks(conn: Any) -> str | None:
    if conn.network.find_extension("trunk") is None:
        return "neutron has no 'trunk' extension"
    return None


TYPES = [
    ResourceType(
        name="floating_ip",
        service=SERVICE,
        list=_floating_ips,
        delete=lambda conn, item: conn.network.delete_ip(item.id, ignore_missing=False),
        description="neutron floating IPs (released, associated or not)",
    ),
    ResourceType(
        name="router_gateway",
        service=SERVICE,
        list=_gateways,
        delete=_remove_gateway,
        after=("floating_ip",),
        description="a router's external gateway (cleared after the floating IPs using it)",
    ),
    ResourceType(
        name="router_interface",
        service=SERVICE,
        list=_interfaces,
        delete=_remove_interface,
        after=("floating_ip", "load_balancer"),
        description="a router's interface on a subnet (its static routes are cleared first)",
    ),
    ResourceType(
        name="router",
        service=SERVICE,
        list=_routers,
        delete=lambda conn, item: conn.network.delete_router(item.id, ignore_missing=False),
        after=("router_gateway", "router_interface"),
        description="neutron routers",
    ),
    ResourceType(
        name="trunk",
        service=SERVICE,
        list=_simple("trunk", "trunks", lambda t: f"parent port {t.port_id}"),
        delete=lambda conn, item: conn.network.delete_trunk(item.id, ignore_missing=False),
        unavailable=_no_trunks,
        after=("server",),
        description="neutron trunks (before their parent port)",
    ),
    ResourceType(
        name="port",
        service=SERVICE,
        list=_ports(attached=True),
        delete=lambda conn, item: conn.network.delete_port(item.id, ignore_missing=False),
        after=("server", "trunk", "floating_ip", "load_balancer", "router_interface"),
        description="neutron ports of a device (nova deletes most with their server)",
    ),
    ResourceType(
        name="unattached_port",
        service=SERVICE,
        list=_ports(attached=False),
        delete=lambda conn, item: conn.network.delete_port(item.id, ignore_missing=False),
        after=("trunk",),
        description="neutron ports without a device: deleted from the start, concurrently",
    ),
    ResourceType(
        name="subnet",
        service=SERVICE,
        list=_simple("subnet", "subnets", lambda s: s.cidr),
        delete=lambda conn, item: conn.network.delete_subnet(item.id, ignore_missing=False),
        after=("port", "unattached_port", "router_interface"),
        description="neutron subnets",
    ),
    ResourceType(
        name="network",
        service=SERVICE,
        list=_simple("network", "networks", lambda n: "shared" if n.is_shared else ""),
        delete=lambda conn, item: conn.network.delete_network(item.id, ignore_missing=False),
        after=("subnet", "port", "unattached_port"),
        description="neutron networks",
    ),
    ResourceType(
        name="security_group",
        service=SERVICE,
        list=_security_groups,
        delete=lambda conn, item: conn.network.delete_security_group(item.id, ignore_missing=False),
        after=("server", "port", "unattached_port"),
        description="neutron security groups except 'default'",
    ),
]
