"""What the RabbitMQ checks collect, as typed data, and how it is read from the API.

The ``from_api`` constructors take one object of the management API's JSON answer
(``/api/nodes``, ``/api/queues``, ``/api/connections``); fields the broker leaves out
(statistics not emitted yet, a stopped node) read as zero.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stacktender.errors import CheckError, ConfigError

if TYPE_CHECKING:
    from stacktender.checks.base import CheckContext
    from stacktender.checks.rabbitmq.management import Management

__all__ = [
    "ConnectionInfo",
    "NodeInfo",
    "QueueFilter",
    "QueueInfo",
    "fetch_nodes",
    "fetch_queues",
    "number_option",
]

QUEUE_COLUMNS = (
    "name,vhost,messages_ready,messages_unacknowledged,consumers,exclusive,"
    "auto_delete,durable,arguments,effective_policy_definition,state,node"
)
CONNECTION_COLUMNS = "name,node,vhost,user,peer_host,channels,state,client_properties"


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    return int(value) if isinstance(value, int | float) else 0


@dataclass(frozen=True)
class NodeInfo:
    """One cluster node from ``/api/nodes``: running, alarms, partitions, resource use."""

    name: str
    running: bool
    mem_used: int = 0
    mem_limit: int = 0
    mem_alarm: bool = False
    disk_free: int = 0
    disk_free_limit: int = 0
    disk_free_alarm: bool = False
    fd_used: int = 0
    fd_total: int = 0
    sockets_used: int = 0
    sockets_total: int = 0
    proc_used: int = 0
    proc_total: int = 0
    partitions: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> NodeInfo:
        return cls(
            name=str(data.get("name", "?")),
            running=bool(data.get("running", False)),
            mem_used=_int(data, "mem_used"),
            mem_limit=_int(data, "mem_limit"),
            mem_alarm=bool(data.get("mem_alarm", False)),
            disk_free=_int(data, "disk_free"),
            disk_free_limit=_int(data, "disk_free_limit"),
            disk_free_alarm=bool(data.get("disk_free_alarm", False)),
            fd_used=_int(data, "fd_used"),
            fd_total=_int(data, "fd_total"),
            sockets_used=_int(data, "sockets_used"),
            sockets_total=_int(data, "sockets_total"),
            proc_used=_int(data, "proc_used"),
            proc_total=_int(data, "proc_total"),
            partitions=tuple(str(p) for p in data.get("partitions") or ()),
        )

    @property
    def alarms(self) -> list[str]:
        """Resource alarms in effect on this node: ``memory``, ``disk``."""
        return [
            name for name, on in (("memory", self.mem_alarm), ("disk", self.disk_free_alarm)) if on
        ]


@dataclass(frozen=True)
class QueueInfo:
    """One queue from ``/api/queues`` (message counts lag by the statistics interval)."""

    vhost: str
    name: str
    messages_ready: int = 0
    messages_unacked: int = 0
    consumers: int = 0
    exclusive: bool = False
    auto_delete: bool = False
    durable: bool = False
    expires: bool = False
    state: str = "running"

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> QueueInfo:
        arguments = data.get("arguments") or {}
        policy = data.get("effective_policy_definition") or {}
        return cls(
            vhost=str(data.get("vhost", "/")),
            name=str(data.get("name", "")),
            messages_ready=_int(data, "messages_ready"),
            messages_unacked=_int(data, "messages_unacknowledged"),
            consumers=_int(data, "consumers"),
            exclusive=bool(data.get("exclusive", False)),
            auto_delete=bool(data.get("auto_delete", False)),
            durable=bool(data.get("durable", False)),
            expires="x-expires" in arguments
            or (isinstance(policy, Mapping) and "expires" in policy),
            state=str(data.get("state") or "running"),
        )

    @property
    def messages(self) -> int:
        return self.messages_ready + self.messages_unacked

    @property
    def unconsumed(self) -> bool:
        """Holds messages that no consumer will take."""
        return self.messages > 0 and self.consumers == 0

    @property
    def label(self) -> str:
        """How details lines name the queue."""
        return f"{self.name} (vhost {self.vhost})"


@dataclass(frozen=True)
class ConnectionInfo:
    """One client connection from ``/api/connections``."""

    name: str
    node: str
    vhost: str
    user: str
    peer_host: str
    channels: int
    state: str
    client: str = ""

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ConnectionInfo:
        props = data.get("client_properties") or {}
        # oslo.messaging names its connections "<program>:<pid>:<uuid>"
        client = str(props.get("connection_name") or props.get("product") or "")
        return cls(
            name=str(data.get("name", "")),
            node=str(data.get("node", "")),
            vhost=str(data.get("vhost", "")),
            user=str(data.get("user", "")),
            peer_host=str(data.get("peer_host") or "unknown"),
            channels=_int(data, "channels"),
            state=str(data.get("state") or "unknown"),
            client=client,
        )


@dataclass(frozen=True)
class QueueFilter:
    """Which queues a check looks at: one vhost or all, include/exclude regexes (search)."""

    vhost: str | None = None
    include: re.Pattern[str] | None = None
    exclude: re.Pattern[str] | None = None

    @classmethod
    def from_ctx(cls, ctx: CheckContext) -> QueueFilter:
        vhost = ctx.option("vhost")
        return cls(
            vhost=None if vhost in (None, "", "all") else str(vhost),
            include=ctx.pattern("include"),
            exclude=ctx.pattern("exclude"),
        )

    def matches(self, queue: QueueInfo) -> bool:
        if self.vhost is not None and queue.vhost != self.vhost:
            return False
        if self.include is not None and not self.include.search(queue.name):
            return False
        return not (self.exclude is not None and self.exclude.search(queue.name))


def number_option(ctx: CheckContext, name: str, *, minimum: float = 0) -> float:
    """A numeric option, or ConfigError (UNKNOWN) naming it; None reads as 0."""
    value = ctx.option(name)
    try:
        number = float(value if value not in (None, "") else 0)
    except (TypeError, ValueError):
        raise ConfigError(f"option {name} must be a number, not {value!r}") from None
    if number < minimum:
        raise ConfigError(f"option {name} must be at least {minimum:g}, not {number:g}")
    return number


def fetch_nodes(api: Management) -> list[NodeInfo]:
    """Every cluster node, running or not."""
    nodes = api.get("nodes")
    if not isinstance(nodes, list):
        raise CheckError("RabbitMQ management API answered /api/nodes with no node list")
    return [NodeInfo.from_api(n) for n in nodes]


def fetch_queues(api: Management, selection: QueueFilter) -> list[QueueInfo]:
    """The queues selection picks (one vhost's listing when it names one)."""
    from stacktender.checks.rabbitmq.management import vhost_path

    if selection.vhost is None:
        path, missing = "queues", None
    else:
        path = f"queues/{vhost_path(selection.vhost)}"
        missing = f"RabbitMQ has no vhost {selection.vhost!r}"
    raw = api.get(path, {"columns": QUEUE_COLUMNS}, not_found=missing)
    if not isinstance(raw, list):
        raise CheckError(f"RabbitMQ management API answered /api/{path} with no queue list")
    queues = [QueueInfo.from_api(q) for q in raw]
    return [q for q in queues if selection.matches(q)]


def fetch_connections(api: Management) -> list[ConnectionInfo]:
    """Every client connection of the cluster."""
    raw = api.get("connections", {"columns": CONNECTION_COLUMNS})
    if not isinstance(raw, list):
        raise CheckError("RabbitMQ management API answered /api/connections with no list")
    return [ConnectionInfo.from_api(c) for c in raw]
