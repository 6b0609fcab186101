"""What a testcloud runs, as data: the pinned release, its processes, ports and databases.

Everything else in :mod:`stacktender.testcloud` reads these tables; adding a service
means adding rows here and a config section in :mod:`stacktender.testcloud.templates`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "CATALOG",
    "DATABASES",
    "DEFAULT_RELEASE",
    "HOSTS_PER_COMPUTE_PROCESS",
    "MYSQL_ONLY",
    "RELEASES",
    "SERVICES",
    "SERVICE_USERS",
    "SETUP",
    "Release",
    "ServiceSpec",
    "compute_groups",
    "compute_service",
    "services_for",
]


@dataclass(frozen=True)
class Release:
    """One OpenStack release series: the PyPI pins installed together."""

    name: str
    python_packages: dict[str, str]
    extras: dict[str, str] = field(default_factory=dict)

    def requirements(self, overrides: dict[str, str] | None = None) -> list[str]:
        """``name==version`` lines, with overrides (``{"nova": "99.0.0"}``) applied."""
        pins = {**self.python_packages, **self.extras, **(overrides or {})}
        return [f"{name}=={version}" if version else name for name, version in pins.items()]


RELEASES: dict[str, Release] = {
    "2026.2": Release(
        name="2026.2",
        python_packages={
            "keystone": "30.0.0",
            "openstack-placement": "16.0.0",
            "nova": "34.0.0",
            "glance": "33.0.0",
            "neutron": "29.0.0",
            "cinder": "29.0.0",
        },
        extras={"gunicorn": "27.0.1", "PyMySQL": "1.2.4", "python-memcached": "1.62"},
    ),
}
DEFAULT_RELEASE = "2026.2"

# Database per project, created as ``<name>_<database>`` so nothing else collides.
DATABASES: dict[str, tuple[str, ...]] = {
    "keystone": ("keystone",),
    "placement": ("placement",),
    "glance": ("glance",),
    "neutron": ("neutron",),
    "nova": ("nova_api", "nova_cell0", "nova_cell1"),
    "cinder": ("cinder",),
}

# Keystone catalog: service type -> (service name, path of the endpoint under its port).
CATALOG: dict[str, tuple[str, str]] = {
    "identity": ("keystone", "/v3"),
    "placement": ("placement", ""),
    "image": ("glance", ""),
    "network": ("neutron", ""),
    "compute": ("nova", "/v2.1"),
    "block-storage": ("cinder", "/v3"),
}

# Setup commands per project (console script + arguments), run once, in order, in one
# interpreter per project, with the project's ``-manage.conf`` ({conf}). A command may
# list extra exit codes meaning "already done".
_KM = ("keystone-manage", "--config-file", "{conf}")
_NM = ("nova-manage", "--config-file", "{conf}")
SETUP: dict[str, tuple[tuple[tuple[str, ...], tuple[int, ...]], ...]] = {
    "keystone": (
        ((*_KM, "db_sync"), ()),
        ((*_KM, "fernet_setup", "--keystone-user", "{user}", "--keystone-group", "{group}"), ()),
        (
            (*_KM, "credential_setup", "--keystone-user", "{user}", "--keystone-group", "{group}"),
            (),
        ),
        (
            (
                *_KM,
                "bootstrap",
                "--bootstrap-password",
                "{admin_password}",
                "--bootstrap-admin-url",
                "{keystone_url}",
                "--bootstrap-public-url",
                "{keystone_url}",
                "--bootstrap-internal-url",
                "{keystone_url}",
                "--bootstrap-region-id",
                "RegionOne",
            ),
            (),
        ),
    ),
    "placement": ((("placement-manage", "--config-file", "{conf}", "db", "sync"), ()),),
    "glance": ((("glance-manage", "--config-file", "{conf}", "db_sync"), ()),),
    "neutron": ((("neutron-db-manage", "--config-file", "{conf}", "upgrade", "heads"), ()),),
    "cinder": ((("cinder-manage", "--config-file", "{conf}", "db", "sync"), ()),),
    "nova": (
        ((*_NM, "api_db", "sync"), ()),
        ((*_NM, "cell_v2", "map_cell0", "--database_connection", "{db_nova_cell0}"), ()),
        ((*_NM, "cell_v2", "create_cell", "--name", "cell1"), (2,)),
        ((*_NM, "db", "sync"), ()),
    ),
}

# Users the services authenticate as (admin and service roles in the ``service`` project).
SERVICE_USERS = ("placement", "glance", "neutron", "nova", "cinder")

# Projects whose migrations only run on MySQL/MariaDB: with --db postgresql://..., their
# databases stay on the MariaDB server (Settings.mysql_url).
MYSQL_ONLY = {
    "neutron": "neutron's 2025.2 migrations use MySQL-only SQL (ALTER TABLE ... CONVERT TO)",
}

# One nova-compute process serves up to this many fake compute hosts (see docs).
HOSTS_PER_COMPUTE_PROCESS = 10


@dataclass(frozen=True)
class ServiceSpec:
    """One supervised process of the testcloud.

    kind ``wsgi``: an API served by gunicorn on ``port_base + port_offset`` from a small
    entry file; kind ``daemon``: a console script or runtime helper with arguments.
    ``health`` is the path probed over HTTP (wsgi) or the name the service registers
    under in its project's service list (daemons), checked after start.
    """

    name: str
    project: str
    kind: str
    port_offset: int | None = None
    wsgi_module: str = ""
    config_env: str = ""
    argv: tuple[str, ...] = ()
    registers_as: str = ""
    catalog: str = ""  # the service type this API serves in the keystone catalog
    workers: int = 1  # wsgi: gunicorn worker processes


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "keystone",
        "keystone",
        "wsgi",
        0,
        "keystone.wsgi.api",
        "OS_KEYSTONE_CONFIG_FILES={etc}/keystone/keystone.conf",
        catalog="identity",
    ),
    ServiceSpec(
        "placement-api",
        "placement",
        "wsgi",
        1,
        "placement.wsgi.api",
        "OS_PLACEMENT_CONFIG_DIR={etc}/placement",
        catalog="placement",
    ),
    ServiceSpec(
        "glance-api",
        "glance",
        "wsgi",
        2,
        "glance.wsgi.api",
        "OS_GLANCE_CONFIG_DIR={etc}/glance",
        catalog="image",
    ),
    ServiceSpec(
        "neutron-api",
        "neutron",
        "wsgi",
        3,
        "neutron.wsgi.api",
        "OS_NEUTRON_CONFIG_DIR={etc}/neutron;OS_NEUTRON_CONFIG_FILES=neutron-api.conf",
        catalog="network",
        # a port deletion costs neutron 0.15-0.2 s of CPU (ML2, OVS, notifications): with
        # one process every client's concurrency was serialised there (docs/purge.md)
        workers=2,
    ),
    ServiceSpec(
        "neutron-rpc-server",
        "neutron",
        "daemon",
        argv=("{bin}/neutron-rpc-server", "--config-file", "{etc}/neutron/neutron-rpc-server.conf"),
    ),
    ServiceSpec(
        "neutron-agents",
        "neutron",
        "daemon",
        argv=(
            "{python}",
            "{runtime}/neutron_agents.py",
            "--config-file",
            "{etc}/neutron/neutron-agents.conf",
        ),
    ),
    ServiceSpec(
        "nova-api",
        "nova",
        "wsgi",
        4,
        "nova.wsgi.osapi_compute",
        "OS_NOVA_CONFIG_DIR={etc}/nova;OS_NOVA_CONFIG_FILES=api-paste.ini;nova-api.conf",
        catalog="compute",
    ),
    ServiceSpec(
        "nova-conductor",
        "nova",
        "daemon",
        argv=("{bin}/nova-conductor", "--config-file", "{etc}/nova/nova-conductor.conf"),
        registers_as="nova-conductor",
    ),
    ServiceSpec(
        "nova-scheduler",
        "nova",
        "daemon",
        argv=("{bin}/nova-scheduler", "--config-file", "{etc}/nova/nova-scheduler.conf"),
        registers_as="nova-scheduler",
    ),
    # nova-compute processes are added per compute group by compute_services().
    ServiceSpec(
        "cinder-api",
        "cinder",
        "wsgi",
        5,
        "cinder.wsgi.api",
        "",
        argv=("cinder-api", "--config-file", "{etc}/cinder/cinder-api.conf"),
        catalog="block-storage",
    ),
    ServiceSpec(
        "cinder-scheduler",
        "cinder",
        "daemon",
        argv=("{bin}/cinder-scheduler", "--config-file", "{etc}/cinder/cinder-scheduler.conf"),
        registers_as="cinder-scheduler",
    ),
    ServiceSpec(
        "cinder-volume",
        "cinder",
        "daemon",
        argv=("{bin}/cinder-volume", "--config-file", "{etc}/cinder/cinder-volume.conf"),
        registers_as="cinder-volume",
    ),
)


def compute_groups(hosts: int) -> list[tuple[str, list[str]]]:
    """nova-compute processes and the fake compute hosts each one serves."""
    names = [f"tc-compute-{i}" for i in range(1, hosts + 1)]
    size = HOSTS_PER_COMPUTE_PROCESS
    groups = [names[i : i + size] for i in range(0, len(names), size)]
    if len(groups) == 1:
        return [("nova-compute", groups[0])]
    return [(f"nova-compute-{i}", group) for i, group in enumerate(groups, 1)]


def compute_service(name: str) -> ServiceSpec:
    """The ServiceSpec of one nova-compute process (its hosts are in its config file)."""
    return ServiceSpec(
        name,
        "nova",
        "daemon",
        argv=(
            "{python}",
            "{runtime}/nova_compute.py",
            "--config-file",
            f"{{etc}}/nova/{name}.conf",
        ),
        registers_as="nova-compute",
    )


def services_for(compute_hosts: int) -> list[ServiceSpec]:
    """Every process of a cloud with that many fake compute hosts, in start order."""
    computes = [compute_service(name) for name, _ in compute_groups(compute_hosts)]
    out: list[ServiceSpec] = []
    for spec in SERVICES:
        out.append(spec)
        if spec.name == "nova-scheduler":
            out.extend(computes)
    return out
