"""OpenStack service checks through the public APIs (openstacksdk and clouds.yaml).

The target is ``openstack://CLOUD`` where CLOUD is an entry of ``clouds.yaml``; with no cloud
named, ``--os-cloud`` / ``OS_CLOUD`` / the config's ``os_cloud`` decide, as for the
``openstack`` client. Every API call gets the check's remaining time as its timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from stacktender.checks.base import Check, CheckContext, Outcome
from stacktender.errors import CheckError, ServiceUnreachable
from stacktender.hookspecs import hookimpl
from stacktender.results import Status, ThresholdSpec, worst

DEFAULT_URL = "openstack://"


def cloud_name(ctx: CheckContext) -> str | None:
    """The clouds.yaml entry named by the target URL (case kept), or None for OS_CLOUD."""
    return ctx.target.parts.netloc or None


def connect(ctx: CheckContext) -> Any:
    """An authenticated openstacksdk connection; login problems are CRITICAL, config UNKNOWN."""
    import openstack
    from keystoneauth1 import exceptions as ks

    cloud = cloud_name(ctx)
    try:
        conn = openstack.connect(cloud=cloud, api_timeout=ctx.remaining())
        conn.authorize()
    except openstack.exceptions.ConfigException as exc:
        raise CheckError(f"cloud {cloud or '(OS_CLOUD)'}: {exc}") from None
    except (
        ks.Unauthorized,
        ks.ConnectFailure,
        ks.ConnectTimeout,
        ks.DiscoveryFailure,
        # authorize() wraps keystone's refusal (401) in a plain SDKException
        openstack.exceptions.SDKException,
    ) as exc:
        raise ServiceUnreachable(
            f"keystone of cloud {cloud or '(OS_CLOUD)'}: {_one_line(exc)}"
        ) from None
    return conn


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__


def api_call(what: str, func: Callable[[], Iterable[Any]]) -> list[Any]:
    """Run an openstacksdk listing; transport failures are CRITICAL with what was asked."""
    import openstack
    from keystoneauth1 import exceptions as ks

    try:
        return list(func())
    except (ks.ConnectFailure, ks.ConnectTimeout, ks.EndpointNotFound) as exc:
        raise ServiceUnreachable(f"{what}: {_one_line(exc)}") from None
    except openstack.exceptions.ForbiddenException:
        raise CheckError(f"{what}: forbidden (the check needs an admin role)") from None
    except openstack.exceptions.HttpException as exc:
        raise ServiceUnreachable(f"{what}: {_one_line(exc)}") from None


# -- keystone -------------------------------------------------------------------------------


@dataclass
class TokenIssue:
    seconds: float
    expires: str
    catalog_services: int


def collect_token(ctx: CheckContext) -> TokenIssue:
    import time

    started = time.monotonic()
    conn = connect(ctx)
    elapsed = time.monotonic() - started
    access = conn.session.auth.get_access(conn.session)
    return TokenIssue(elapsed, str(access.expires), len(access.service_catalog.catalog or []))


def evaluate_token(data: TokenIssue, ctx: CheckContext) -> Outcome:
    ms = data.seconds * 1000
    status = ctx.thresholds.status("latency", ms)
    return Outcome(
        status,
        f"token issued in {ms:.0f} ms, expires {data.expires}, "
        f"{data.catalog_services} services in the catalog",
        perfdata=[ctx.thresholds.perf("latency", round(ms, 1), minimum=0)],
    )


# -- catalog endpoints ------------------------------------------------------------------------


@dataclass
class EndpointProbe:
    service: str
    interface: str
    url: str
    error: str | None


def collect_endpoints(ctx: CheckContext) -> list[EndpointProbe]:
    import concurrent.futures

    from stacktender._httpx import import_httpx

    httpx = import_httpx()

    conn = connect(ctx)
    catalog = conn.session.auth.get_access(conn.session).service_catalog.catalog or []
    wanted = set(ctx.option("interfaces") or ["public", "internal", "admin"])
    targets = [
        (service.get("name") or service.get("type", "?"), ep.get("interface", "?"), ep["url"])
        for service in catalog
        for ep in service.get("endpoints", [])
        if ep.get("interface") in wanted and ep.get("url")
    ]

    def probe(item: tuple[str, str, str]) -> EndpointProbe:
        service, interface, url = item
        try:
            # Any HTTP answer (300 version list, 401 without a token) proves it is served.
            httpx.get(url, timeout=ctx.remaining(), follow_redirects=False)
            return EndpointProbe(service, interface, url, None)
        except httpx.HTTPError as exc:
            return EndpointProbe(service, interface, url, _one_line(exc) or type(exc).__name__)

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(probe, targets))


def evaluate_endpoints(probes: list[EndpointProbe], ctx: CheckContext) -> Outcome:
    failed = [p for p in probes if p.error]
    status = ctx.thresholds.status("unreachable", len(failed)) if probes else Status.UNKNOWN
    details = [f"{p.service} {p.interface} {p.url}: {p.error}" for p in failed]
    summary = (
        f"{len(probes) - len(failed)}/{len(probes)} catalog endpoints answer"
        if probes
        else "the catalog has no endpoints on the selected interfaces"
    )
    if failed:
        summary += "; unreachable: " + ", ".join(f"{p.service}/{p.interface}" for p in failed)
    return Outcome(
        status,
        summary,
        details,
        [
            ctx.thresholds.perf("unreachable", len(failed), minimum=0),
            ctx.thresholds.perf("endpoints", len(probes), minimum=0),
        ],
    )


# -- service lists (nova, cinder, neutron agents) ----------------------------------------------


@dataclass
class ServiceState:
    binary: str
    host: str
    up: bool
    enabled: bool = True
    forced_down: bool = False
    reason: str = ""


@dataclass
class ServiceList:
    kind: str
    services: list[ServiceState] = field(default_factory=list)


def _service_list(kind: str, rows: Iterable[Any]) -> ServiceList:
    """nova and cinder describe their services alike (cinder has no forced-down flag)."""
    return ServiceList(
        kind,
        [
            ServiceState(
                binary=s.binary,
                host=s.host,
                up=s.state == "up",
                enabled=s.status == "enabled",
                forced_down=bool(getattr(s, "is_forced_down", False)),
                reason=getattr(s, "disabled_reason", None) or "",
            )
            for s in rows
        ],
    )


def collect_nova_services(ctx: CheckContext) -> ServiceList:
    conn = connect(ctx)
    return _service_list("nova service", api_call("nova service list", conn.compute.services))


def collect_cinder_services(ctx: CheckContext) -> ServiceList:
    conn = connect(ctx)
    rows = api_call("cinder service list", conn.block_storage.services)
    return _service_list("cinder service", rows)


def collect_neutron_agents(ctx: CheckContext) -> ServiceList:
    conn = connect(ctx)
    rows = api_call("neutron agent list", conn.network.agents)
    return ServiceList(
        "neutron agent",
        [
            ServiceState(
                binary=a.binary or a.agent_type,
                host=a.host,
                up=bool(a.is_alive),
                enabled=bool(a.is_admin_state_up),
            )
            for a in rows
        ],
    )


def evaluate_services(data: ServiceList, ctx: CheckContext) -> Outcome:
    th = ctx.thresholds
    # A disabled service is an operator's decision (maintenance): it is not expected to be up.
    down = [s for s in data.services if not s.up and s.enabled and not s.forced_down]
    forced = [s for s in data.services if s.forced_down]
    disabled = [s for s in data.services if not s.enabled]
    statuses = [th.status("down", len(down)), th.status("forced_down", len(forced))]
    statuses.append(th.status("disabled", len(disabled)))
    details = [f"DOWN {s.binary} on {s.host}" for s in down]
    details += [f"forced down {s.binary} on {s.host}" for s in forced]
    details += [
        f"disabled {s.binary} on {s.host}" + (f" ({s.reason})" if s.reason else "")
        for s in disabled
    ]
    if not data.services:
        return Outcome(Status.OK, f"no {data.kind}s registered")
    summary = f"{len(data.services)} {data.kind}s, {len(down)} down"
    if down:
        summary += ": " + ", ".join(f"{s.binary}@{s.host}" for s in down)
    summary += f", {len(forced)} forced down, {len(disabled)} disabled"
    return Outcome(
        worst(statuses),
        summary,
        details,
        [
            th.perf("down", len(down), minimum=0, maximum=len(data.services)),
            th.perf("forced_down", len(forced), minimum=0),
            th.perf("disabled", len(disabled), minimum=0),
            th.perf("total", len(data.services), minimum=0),
        ],
    )


SERVICE_THRESHOLDS = (
    ThresholdSpec("down", "enabled services reported down", None, "0"),
    ThresholdSpec("forced_down", "services forced down", "0", None),
    ThresholdSpec("disabled", "services disabled by an operator", None, None),
    ThresholdSpec("total", "services registered", None, None),
)


# -- placement and hypervisors -----------------------------------------------------------------


@dataclass
class ComputeInventory:
    compute_hosts: dict[str, bool]  # host -> up and enabled
    hypervisors: dict[str, tuple[str, str, str]]  # hypervisor hostname -> (host, state, status)
    providers: set[str]
    aggregates: dict[str, list[str]]


def collect_inventory(ctx: CheckContext) -> ComputeInventory:
    conn = connect(ctx)
    services = api_call("nova service list", lambda: conn.compute.services(binary="nova-compute"))
    hypervisors = api_call("hypervisor list", lambda: conn.compute.hypervisors(details=True))
    providers = api_call("placement resource providers", conn.placement.resource_providers)
    aggregates = api_call("aggregate list", conn.compute.aggregates)
    return ComputeInventory(
        compute_hosts={s.host: s.state == "up" and s.status == "enabled" for s in services},
        hypervisors={
            h.name: ((h.service_details or {}).get("host", ""), h.state or "", h.status or "")
            for h in hypervisors
        },
        providers={p.name for p in providers},
        aggregates={a.name: list(a.hosts or []) for a in aggregates},
    )


def evaluate_placement(data: ComputeInventory, ctx: CheckContext) -> Outcome:
    th = ctx.thresholds
    missing = sorted(set(data.hypervisors) - data.providers)
    hosts_without_node = sorted(
        set(data.compute_hosts) - {host for host, _, _ in data.hypervisors.values()}
    )
    orphans = sorted(data.providers - set(data.hypervisors))
    statuses = [
        th.status("missing", len(missing) + len(hosts_without_node)),
        th.status("orphaned", len(orphans)),
    ]
    details = [f"hypervisor {name} has no resource provider in placement" for name in missing]
    details += [f"compute host {h} has no hypervisor (not discovered?)" for h in hosts_without_node]
    details += [f"resource provider {name} matches no hypervisor" for name in orphans]
    summary = (
        f"{len(data.compute_hosts)} compute services, {len(data.hypervisors)} hypervisors, "
        f"{len(data.providers)} resource providers; {len(missing) + len(hosts_without_node)} "
        f"missing from placement, {len(orphans)} orphaned providers"
    )
    return Outcome(
        worst(statuses),
        summary,
        details,
        [
            th.perf("missing", len(missing) + len(hosts_without_node), minimum=0),
            th.perf("orphaned", len(orphans), minimum=0),
        ],
    )


def evaluate_hypervisors(data: ComputeInventory, ctx: CheckContext) -> Outcome:
    th = ctx.thresholds
    down = sorted(
        name
        for name, (_, state, status) in data.hypervisors.items()
        if state != "up" and status == "enabled"
    )
    known_hosts = set(data.compute_hosts)
    stale = sorted(
        f"{agg}:{host}"
        for agg, hosts in data.aggregates.items()
        for host in hosts
        if host not in known_hosts
    )
    aggregated = {host for hosts in data.aggregates.values() for host in hosts}
    loose = sorted(known_hosts - aggregated) if data.aggregates else []
    statuses = [th.status("down", len(down)), th.status("stale_members", len(stale))]
    details = [f"hypervisor {name} is down" for name in down]
    details += [f"aggregate member {item} is not a compute service" for item in stale]
    details += [f"compute host {h} is in no aggregate" for h in loose]
    summary = (
        f"{len(data.hypervisors)} hypervisors, {len(down)} down; "
        f"{len(data.aggregates)} aggregates, "
        f"{len(stale)} members that are not compute hosts, {len(loose)} hosts in no aggregate"
    )
    return Outcome(
        worst(statuses),
        summary,
        details,
        [
            th.perf("down", len(down), minimum=0, maximum=len(data.hypervisors)),
            th.perf("stale_members", len(stale), minimum=0),
        ],
    )


# -- compute service version skew (nova database) ---------------------------------------------


@dataclass
class ServiceVersions:
    rows: list[tuple[str, str, int]]  # binary, host, version


def collect_versions(ctx: CheckContext) -> ServiceVersions:
    from stacktender.checks.mysql import MySQLAddress, connect

    with connect(MySQLAddress.from_url(ctx.target.url), ctx.remaining) as session:
        try:
            rows = session.rows("SELECT `binary`, host, version FROM services WHERE deleted = 0")
        except CheckError as exc:
            raise CheckError(f"{ctx.target.masked()} is not a nova cell database: {exc}") from None
    return ServiceVersions([(str(b), str(h), int(v or 0)) for b, h, v in rows])


def evaluate_versions(data: ServiceVersions, ctx: CheckContext) -> Outcome:
    if not data.rows:
        return Outcome(Status.UNKNOWN, "no nova services in this database")
    newest = max(v for _, _, v in data.rows)
    computes = [(h, v) for b, h, v in data.rows if b == "nova-compute"]
    skew = newest - min(v for _, _, v in data.rows)
    status = ctx.thresholds.status("skew", skew)
    old = sorted({f"{b}@{h}={v}" for b, h, v in data.rows if v < newest})
    summary = (
        f"{len(data.rows)} nova services, {len(computes)} computes; service versions "
        f"{min(v for _, _, v in data.rows)}..{newest} (skew {skew})"
    )
    return Outcome(
        status,
        summary,
        [f"behind the newest ({newest}): {item}" for item in old],
        [ctx.thresholds.perf("skew", skew, minimum=0)],
    )


def _openstack_check(
    name: str, description: str, collect: Any, evaluate: Any, thresholds: Any, **kw: Any
) -> Check:
    return Check(
        name=name,
        service="openstack",
        description=description,
        collect=collect,
        evaluate=evaluate,
        default_url=DEFAULT_URL,
        thresholds=thresholds,
        **kw,
    )


CHECKS = [
    _openstack_check(
        "openstack-keystone",
        "a token can be issued; its latency",
        collect_token,
        evaluate_token,
        (ThresholdSpec("latency", "token issue time in ms", "1000", "5000", "ms"),),
    ),
    _openstack_check(
        "openstack-endpoints",
        "every catalog endpoint answers HTTP on every interface",
        collect_endpoints,
        evaluate_endpoints,
        (
            ThresholdSpec("unreachable", "endpoints that do not answer", None, "0"),
            ThresholdSpec("endpoints", "endpoints probed", None, None),
        ),
        options={"interfaces": ["public", "internal", "admin"]},
        option_help={"interfaces": "endpoint interfaces to probe"},
    ),
    _openstack_check(
        "openstack-nova-services",
        "nova services up, down, disabled, forced down",
        collect_nova_services,
        evaluate_services,
        SERVICE_THRESHOLDS,
    ),
    _openstack_check(
        "openstack-cinder-services",
        "cinder services up, down, disabled",
        collect_cinder_services,
        evaluate_services,
        SERVICE_THRESHOLDS,
    ),
    _openstack_check(
        "openstack-neutron-agents",
        "neutron agents alive (where agents run)",
        collect_neutron_agents,
        evaluate_services,
        SERVICE_THRESHOLDS,
    ),
    _openstack_check(
        "openstack-placement",
        "every hypervisor has a placement resource provider, and no provider is orphaned",
        collect_inventory,
        evaluate_placement,
        (
            ThresholdSpec(
                "missing", "hypervisors or compute hosts missing from placement", None, "0"
            ),
            ThresholdSpec("orphaned", "resource providers matching no hypervisor", "0", None),
        ),
    ),
    _openstack_check(
        "openstack-hypervisors",
        "hypervisors up; aggregates name only existing compute hosts",
        collect_inventory,
        evaluate_hypervisors,
        (
            ThresholdSpec("down", "enabled hypervisors reported down", None, "0"),
            ThresholdSpec(
                "stale_members", "aggregate members that are not compute hosts", "0", None
            ),
        ),
    ),
    Check(
        name="openstack-nova-versions",
        service="nova-db",
        description="nova service version skew, read from the nova cell database",
        collect=collect_versions,
        evaluate=evaluate_versions,
        default_url="mysql://root@127.0.0.1:3306/nova",
        thresholds=(ThresholdSpec("skew", "newest minus oldest service version", "0", None),),
    ),
]


@hookimpl
def stacktender_checks() -> list[Check]:
    return CHECKS
