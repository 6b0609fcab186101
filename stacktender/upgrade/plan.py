"""``upgrade plan``: the ordered steps from this cloud's release to a target series.

The order is the one the upstream upgrade guides document: identity, image,
placement, block storage, the compute control plane (database, conductors before
schedulers and APIs, with the compute RPC version pinned), networking, then the
compute nodes in batches, and last what may only run when every node is new
(online data migrations, neutron's contract phase, removing the pin). Each step is
data: pre-checks, commands, verification, rollback. The plan renders as a
Markdown runbook and as an Ansible playbook; which steps appear depends on the
services the cloud runs and the hosts that run them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stacktender.errors import ConfigError
from stacktender.upgrade.series import Series, path, series_of


@dataclass(frozen=True)
class Step:
    """One service's part of a one-series upgrade."""

    key: str
    title: str
    service_types: tuple[str, ...]  # catalog types that make this step needed
    package: str
    group: str  # inventory group whose hosts the step runs on
    binaries: tuple[str, ...]
    prechecks: tuple[str, ...]
    commands: tuple[str, ...]
    verify: tuple[str, ...]
    rollback: tuple[str, ...]
    batched: bool = False  # many hosts, upgraded in batches with health checks between


_BACKUP = "mysqldump --single-transaction --routines {db} > /var/backups/{db}-{from_}.sql"
_PACKAGES = "upgrade the {package} packages  # your package manager or deployment tool"

STEPS: tuple[Step, ...] = (
    Step(
        "identity", "Identity (keystone)", ("identity",), "keystone", "keystone",
        ("keystone",),
        ("keystone-status upgrade check", _BACKUP.format(db="keystone", from_="{from_}")),
        (_PACKAGES, "keystone-manage db_sync --expand", "keystone-manage db_sync --migrate",
         "restart keystone on each node in turn", "keystone-manage db_sync --contract"),
        ("stacktender check openstack-keystone", "stacktender check openstack-endpoints"),
        ("before --contract: reinstall the previous packages and restart (expand is additive)",
         "after --contract: restore /var/backups/keystone-{from_}.sql, then the packages"),
    ),
    Step(
        "image", "Image (glance)", ("image",), "glance", "glance", ("glance-api",),
        ("glance-status upgrade check", _BACKUP.format(db="glance", from_="{from_}")),
        (_PACKAGES, "glance-manage db expand", "glance-manage db migrate",
         "restart glance-api on each node in turn", "glance-manage db contract"),
        ("openstack image list --limit 1",),
        ("before contract: previous packages and restart",
         "after contract: restore /var/backups/glance-{from_}.sql"),
    ),
    Step(
        "placement", "Placement", ("placement",), "openstack-placement", "placement",
        ("placement-api",),
        ("placement-status upgrade check", _BACKUP.format(db="placement", from_="{from_}")),
        (_PACKAGES, "placement-manage db sync", "restart placement-api on each node in turn"),
        ("stacktender check openstack-placement",),
        ("restore /var/backups/placement-{from_}.sql and the previous packages",),
    ),
    Step(
        "block-storage", "Block storage control plane (cinder)", ("block-storage", "volumev3"),
        "cinder", "cinder", ("cinder-scheduler", "cinder-api", "cinder-volume"),
        ("cinder-status upgrade check", _BACKUP.format(db="cinder", from_="{from_}")),
        (_PACKAGES, "cinder-manage db sync",
         "restart cinder-scheduler, then cinder-api, then cinder-volume, node by node"),
        ("stacktender check openstack-cinder-services",),
        ("restore /var/backups/cinder-{from_}.sql and the previous packages",),
    ),
    Step(
        "compute-control", "Compute control plane (nova)", ("compute",), "nova", "nova_control",
        ("nova-conductor", "nova-scheduler", "nova-api"),
        ("nova-status upgrade check", "stacktender check openstack-nova-versions",
         _BACKUP.format(db="nova_api", from_="{from_}"),
         _BACKUP.format(db="nova", from_="{from_}")),
        ("set [upgrade_levels] compute = auto in nova.conf (old computes keep talking)",
         _PACKAGES, "nova-manage api_db sync", "nova-manage db sync",
         "restart nova-conductor, then nova-scheduler, then nova-api, node by node"),
        ("stacktender check openstack-nova-services", "stacktender check openstack-nova-versions"),
        ("restore /var/backups/nova_api-{from_}.sql and nova-{from_}.sql, previous packages",),
    ),
    Step(
        "network", "Networking (neutron server and agents)", ("network",), "neutron", "neutron",
        ("neutron-server", "neutron-openvswitch-agent", "neutron-l3-agent",
         "neutron-dhcp-agent", "neutron-metadata-agent"),
        ("neutron-status upgrade check", _BACKUP.format(db="neutron", from_="{from_}")),
        (_PACKAGES, "neutron-db-manage upgrade --expand",
         "restart neutron-server on each node in turn, then the agents of network nodes"),
        ("stacktender check openstack-neutron-agents",),
        ("before --contract: previous packages and restart",
         "after --contract: restore /var/backups/neutron-{from_}.sql"),
    ),
    Step(
        "computes", "Compute nodes (nova-compute and their neutron agent)", ("compute",),
        "nova", "nova_compute", ("nova-compute", "neutron-openvswitch-agent"),
        ("stacktender check openstack-nova-services", "stacktender check openstack-hypervisors"),
        (_PACKAGES, "restart nova-compute and the neutron agent"),
        ("stacktender check openstack-nova-services", "stacktender check openstack-neutron-agents"),
        ("previous packages on the batch that failed; the pin keeps mixed versions working",),
        batched=True,
    ),
    Step(
        "finalize", "Finish: online data migrations, contract, unpin", ("compute",), "nova",
        "nova_control", ("nova-conductor", "nova-scheduler", "nova-api"),
        ("stacktender check openstack-nova-versions  # every compute on the new version",),
        ("nova-manage db online_data_migrations  # repeat until it reports nothing left",
         "cinder-manage db online_data_migrations", "placement-manage db online_data_migrations",
         "neutron-db-manage upgrade --contract",
         "remove [upgrade_levels] compute from nova.conf and restart nova services"),
        ("stacktender check openstack-nova-versions", "stacktender sweep"),
        ("nothing to undo here: these steps only run once every node is upgraded",),
    ),
)  # fmt: skip


@dataclass
class CloudInventory:
    """What the plan needs to know of a cloud."""

    service_types: set[str]
    hosts: dict[str, list[str]] = field(default_factory=dict)  # inventory group -> hosts
    versions: dict[str, str] = field(default_factory=dict)  # package -> installed version

    def current_series(self) -> Series | None:
        """The oldest series among the readable package versions (mixed clouds exist)."""
        found = [series_of(p, v) for p, v in self.versions.items()]
        known = [s for s in found if s is not None]
        return min(known) if known else None


@dataclass
class PlannedStep:
    """A step of the plan: one service's part of one series hop."""

    hop_from: Series
    hop_to: Series
    step: Step
    hosts: list[str]

    def text(self, lines: Iterable[str]) -> list[str]:
        return [
            line.replace("{from_}", self.hop_from.id).replace("{package}", self.step.package)
            for line in lines
        ]


@dataclass
class UpgradePlan:
    """Every step from ``current`` to ``target``, in order."""

    current: Series
    target: Series
    hops: list[Series]
    steps: list[PlannedStep]
    canary: int
    batch: str
    skipped: list[str]


def make_plan(
    inventory: CloudInventory,
    target: Series,
    *,
    current: Series | None = None,
    canary: int = 1,
    batch: str = "25%",
) -> UpgradePlan:
    """Plan the upgrade of ``inventory`` to ``target`` (``current`` defaults to what
    the installed versions say)."""
    current = current or inventory.current_series()
    if current is None:
        raise ConfigError("cannot tell the installed release: pass --from SERIES (e.g. 2025.1)")
    if canary < 0:
        raise ConfigError("--canary must be 0 (no canary batch) or more")
    hops = path(current, target)
    planned: list[PlannedStep] = []
    skipped = [s.title for s in STEPS if not set(s.service_types) & inventory.service_types]
    previous = current
    for hop in hops:
        for step in STEPS:
            if set(step.service_types) & inventory.service_types:
                planned.append(
                    PlannedStep(previous, hop, step, inventory.hosts.get(step.group, []))
                )
        previous = hop
    return UpgradePlan(current, target, hops, planned, canary, batch, skipped)


def inventory_from_cloud(conn: Any, versions: Mapping[str, str] | None = None) -> CloudInventory:
    """Services from the catalog and hosts from the compute, volume and network APIs."""
    types = {service.type for service in conn.identity.services() if service.is_enabled}
    hosts: dict[str, set[str]] = {}

    def add(group: str, host: str | None) -> None:
        if host:
            hosts.setdefault(group, set()).add(host.split("@", 1)[0])

    if "compute" in types:
        for service in conn.compute.services():
            group = "nova_compute" if service.binary == "nova-compute" else "nova_control"
            add(group, service.host)
    if types & {"block-storage", "volumev3"}:
        for service in conn.block_storage.services():
            add("cinder", service.host)
    if "network" in types:
        for agent in conn.network.agents():
            add("neutron", agent.host)
    return CloudInventory(types, {g: sorted(h) for g, h in hosts.items()}, dict(versions or {}))


def installed_versions(site_packages: Iterable[Any]) -> dict[str, str]:
    """Package versions from ``*.dist-info`` folders of a service venv or /usr/lib/python3."""
    from stacktender.upgrade.series import FIRST_MAJOR

    versions: dict[str, str] = {}
    for folder in site_packages:
        for entry in folder.glob("*.dist-info"):
            name, _, version = entry.name[: -len(".dist-info")].partition("-")
            package = name.lower().replace("_", "-")
            if package in FIRST_MAJOR:
                versions[package] = version
    return versions


def render_markdown(plan: UpgradePlan) -> str:
    """The plan as a runbook an operator follows and ticks off."""
    hops = " -> ".join(str(s) for s in [plan.current, *plan.hops])
    out = [f"# Upgrade runbook: {hops}", ""]
    if len(plan.hops) > 1:
        out += ["Each hop is a complete upgrade; finish one before starting the next.", ""]
    if plan.skipped:
        out += [f"Not in this cloud's catalog, so not planned: {', '.join(plan.skipped)}.", ""]
    for number, planned in enumerate(plan.steps, 1):
        step = planned.step
        hosts = ", ".join(planned.hosts) if planned.hosts else f"inventory group `{step.group}`"
        out.append(f"## {number}. {planned.hop_to.id}: {step.title}")
        out.append("")
        out.append(f"Hosts: {hosts}. Processes: {', '.join(step.binaries)}.")
        if step.batched:
            first = f"a canary batch of {plan.canary}, then " if plan.canary else ""
            out.append(f"In batches: {first}{plan.batch} at a time, health checks between.")
        out.append("")
        for title, lines in (
            ("Pre-checks", step.prechecks),
            ("Commands", step.commands),
            ("Verify", step.verify),
            ("Rollback", step.rollback),
        ):
            out.append(f"{title}:")
            out += [f"- [ ] `{line}`" for line in planned.text(lines)]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def render_playbook(plan: UpgradePlan) -> str:
    """The plan as an Ansible playbook: one play per step, control plane one node at a
    time, computes in batches (a canary first) with health checks after each batch."""
    import yaml

    plays: list[dict[str, Any]] = []
    for planned in plan.steps:
        step = planned.step
        serial: Any = 1
        if step.batched:
            serial = [plan.canary, plan.batch] if plan.canary else plan.batch
        plays.append(
            {
                "name": f"{planned.hop_from.id} -> {planned.hop_to.id}: {step.title}",
                "hosts": step.group,
                "serial": serial,
                "any_errors_fatal": True,
                "max_fail_percentage": 0,
                "vars": {
                    "openstack_series": planned.hop_to.id,
                    "openstack_package": step.package,
                    "upgrade_packages_command": (
                        "{{ upgrade_packages_command_override | default('apt-get install -y "
                        "--only-upgrade ' + openstack_package) }}"
                    ),
                },
                "pre_tasks": _tasks("pre-check", planned.text(step.prechecks), once=True),
                "tasks": _tasks(
                    "upgrade", planned.text(step.commands), once=False, binaries=step.binaries
                ),
                "post_tasks": _tasks("verify", planned.text(step.verify), once=True, local=True),
            }
        )
    header = (
        f"# Upgrade {plan.current} -> {plan.target} by stacktender upgrade plan.\n"
        "# Groups: keystone, glance, placement, cinder, nova_control, nova_compute, neutron.\n"
        "# Review every task; set upgrade_packages_command_override for your packaging.\n"
    )
    return header + yaml.safe_dump(plays, sort_keys=False, width=100)


def _tasks(
    kind: str,
    lines: Sequence[str],
    *,
    once: bool,
    local: bool = False,
    binaries: Sequence[str] = (),
) -> list[Any]:
    tasks: list[dict[str, Any]] = []
    for line in lines:
        command, _, note = line.partition("  # ")
        if command.startswith("upgrade the "):
            tasks.append(
                {
                    "name": f"{kind}: {command}",
                    "ansible.builtin.shell": "{{ upgrade_packages_command }}",
                }
            )
            continue
        if command.startswith("restart ") and binaries:
            # node by node comes from the play's serial; names differ per distribution
            tasks.append({
                "name": f"{kind}: {command}",
                "ansible.builtin.service": {"name": "{{ item }}", "state": "restarted"},
                "loop": "{{ restart_services | default(" + repr(list(binaries)) + ") }}",
            })  # fmt: skip
            continue
        if command.startswith(("restart ", "set ", "remove ", "before ", "after ")):
            # a human step: pause with the instruction rather than guess a command
            tasks.append(
                {
                    "name": f"{kind}: {command}",
                    "ansible.builtin.pause": {
                        "prompt": f"{command}{' (' + note + ')' if note else ''}; Enter when done"
                    },
                }
            )
            continue
        task: dict[str, Any] = {
            "name": f"{kind}: {command}",
            "ansible.builtin.shell": command,
            "changed_when": kind == "upgrade",
        }
        if "db " in command or "db_sync" in command or "mysqldump" in command or once:
            task["run_once"] = True
        if local:
            task["delegate_to"] = "localhost"
        tasks.append(task)
    return tasks
