"""Keystone contents of the testcloud: service users, catalog, demo project, clouds.yaml.

All through the identity API in this one process with openstacksdk (one ``openstack``
CLI call per object costs a second and a half each). Every step is create-if-missing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from stacktender.testcloud.config import Settings
from stacktender.testcloud.releases import CATALOG, SERVICE_USERS

__all__ = [
    "cloud_entries",
    "connect",
    "register",
    "remove_clouds_yaml_entries",
    "user_clouds_yaml",
    "write_clouds_yaml",
]

INTERFACES = ("public", "internal", "admin")


def connect(
    settings: Settings,
    who: str = "admin",
    *,
    user: str | None = None,
    password: str | None = None,
    project: str | None = None,
) -> Any:
    """An openstacksdk Connection to the testcloud: as admin or demo, or as a given
    user/project (the admin's password unless given)."""
    import openstack

    entry = cloud_entries(settings)[f"{settings.name}-{who}"]
    auth = dict(entry["auth"])
    if user:
        auth.update(username=user, password=password or auth["password"])
    if project:
        auth["project_name"] = project
    return openstack.connection.Connection(
        auth=auth,
        region_name=entry["region_name"],
        identity_api_version="3",
        interface="public",
    )


def register(settings: Settings) -> None:
    """Service project and users, roles, catalog services and endpoints, demo user."""
    conn = connect(settings)
    idn = conn.identity
    roles = {role.name: role for role in idn.roles()}
    service_project = _project(idn, "service", "Service users of the testcloud")
    password = settings.passwords["service"]
    for name in SERVICE_USERS:
        user = _user(idn, name, password, service_project.id)
        for role in ("admin", "service"):
            idn.assign_project_role_to_user(service_project, user, roles[role])
    demo = _project(idn, "demo", "Demo project of the testcloud")
    demo_user = _user(idn, "demo", settings.passwords["demo"], demo.id)
    for role in ("member", "reader"):
        idn.assign_project_role_to_user(demo, demo_user, roles[role])
    admin_project = idn.find_project("admin", domain_id="default")
    admin_user = idn.find_user("admin", domain_id="default")
    idn.assign_project_role_to_user(demo, admin_user, roles["admin"])
    assert admin_project is not None

    services = {svc.type: svc for svc in idn.services()}
    endpoints = list(idn.endpoints())
    for service_type, (name, path) in CATALOG.items():
        if service_type == "identity":
            continue  # keystone-manage bootstrap registered it
        service = services.get(service_type) or idn.create_service(
            name=name, type=service_type, description=f"testcloud {name}", enabled=True
        )
        spec = next(s for s in settings.services() if s.catalog == service_type)
        url = f"http://127.0.0.1:{settings.port(spec)}{path}"
        for interface in INTERFACES:
            found = [
                e for e in endpoints if e.service_id == service.id and e.interface == interface
            ]
            if not found:
                idn.create_endpoint(
                    service_id=service.id, interface=interface, url=url, region_id="RegionOne"
                )
            elif found[0].url != url:
                idn.update_endpoint(found[0], url=url)
    conn.close()


def _project(idn: Any, name: str, description: str) -> Any:
    project = idn.find_project(name, domain_id="default")
    return project or idn.create_project(name=name, domain_id="default", description=description)


def _user(idn: Any, name: str, password: str, project_id: str) -> Any:
    user = idn.find_user(name, domain_id="default")
    if user is None:
        return idn.create_user(
            name=name, password=password, domain_id="default", default_project_id=project_id
        )
    return idn.update_user(user, password=password)


def cloud_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    """The ``<name>-admin`` and ``<name>-demo`` clouds.yaml entries."""

    def entry(user: str, project: str) -> dict[str, Any]:
        return {
            "auth": {
                "auth_url": settings.keystone_url,
                "username": user,
                "password": settings.passwords[user],
                "project_name": project,
                "user_domain_name": "Default",
                "project_domain_name": "Default",
            },
            "region_name": "RegionOne",
            "interface": "public",
            "identity_api_version": 3,
        }

    return {
        f"{settings.name}-admin": entry("admin", "admin"),
        f"{settings.name}-demo": entry("demo", "demo"),
    }


def user_clouds_yaml() -> Path:
    """The clouds.yaml openstacksdk reads first for this user (honours XDG_CONFIG_HOME)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
    return Path(base) / "openstack" / "clouds.yaml"


def write_clouds_yaml(settings: Settings, extra: Path | None = None) -> list[Path]:
    """Write the entries to ``<state>/clouds.yaml`` and merge them into the user's file."""
    entries = cloud_entries(settings)
    written = []
    for path in (settings.clouds_yaml, extra or user_clouds_yaml()):
        data = _read(path) if path != settings.clouds_yaml else {}
        clouds = data.setdefault("clouds", {})
        if all(clouds.get(k) == v for k, v in entries.items()) and path.exists():
            written.append(path)
            continue
        clouds.update(entries)
        _write(path, data)
        written.append(path)
    return written


def remove_clouds_yaml_entries(settings: Settings, extra: Path | None = None) -> None:
    path = extra or user_clouds_yaml()
    data = _read(path)
    clouds = data.get("clouds") or {}
    names = set(cloud_entries(settings))
    if names & set(clouds):
        data["clouds"] = {k: v for k, v in clouds.items() if k not in names}
        _write(path, data)


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
    os.chmod(tmp, 0o600)
    tmp.replace(path)
