"""Open vSwitch checks: daemons alive and applying config, expected bridges, failed interfaces.

Speaks OVSDB's JSON-RPC (RFC 7047) to ovsdb-server over its socket
(``unix:///var/run/openvswitch/db.sock`` or ``tcp://host:6640``) and the same JSON-RPC
to ovs-vswitchd's unixctl socket; no ``ovs`` Python package needed.
"""

from __future__ import annotations

import glob
import json
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from stacktender.checks.base import Check, CheckContext, Outcome
from stacktender.checks.net import open_stream
from stacktender.errors import CheckError, ServiceUnreachable
from stacktender.hookspecs import hookimpl
from stacktender.results import PerfData, Status, ThresholdSpec, worst

DEFAULT_URL = "unix:///var/run/openvswitch/db.sock"
DB = "Open_vSwitch"
_MAX_DETAILS = 20


# -- JSON-RPC --------------------------------------------------------------------------


class JsonRpc:
    """A minimal JSON-RPC 1.0 client as OVSDB and unixctl speak it: one object per
    message, no framing, answers matched by id; the server's echo probes are answered."""

    def __init__(self, sock: socket.socket, what: str, ctx: CheckContext) -> None:
        self.sock = sock
        self.what = what
        self.ctx = ctx
        self._buf = ""
        self._next_id = 0
        self._decoder = json.JSONDecoder()

    def call(self, method: str, params: list[Any]) -> Any:
        """Send a request and return its result; CheckError for a JSON-RPC error."""
        self._next_id += 1
        request_id = self._next_id
        self._send({"method": method, "params": params, "id": request_id})
        while True:
            message = self._receive()
            if message.get("method") == "echo" and "id" in message:
                self._send(
                    {"result": message.get("params", []), "error": None, "id": message["id"]}
                )
                continue
            if message.get("id") != request_id:
                continue  # a notification (update, locked, ...) we did not ask for
            if message.get("error") is not None:
                raise CheckError(f"{self.what} answered {method!r} with error {message['error']!r}")
            return message.get("result")

    def _send(self, message: dict[str, Any]) -> None:
        try:
            self.sock.settimeout(self.ctx.remaining())
            self.sock.sendall(json.dumps(message).encode())
        except TimeoutError:
            raise ServiceUnreachable(f"{self.what} did not take a request in time") from None
        except OSError as exc:
            raise ServiceUnreachable(f"{self.what}: {exc.strerror or exc}") from None

    def _receive(self) -> dict[str, Any]:
        while True:
            text = self._buf.lstrip()
            if text:
                try:
                    message, end = self._decoder.raw_decode(text)
                except json.JSONDecodeError:
                    pass  # incomplete: read more
                else:
                    self._buf = text[end:]
                    if not isinstance(message, dict):
                        raise CheckError(
                            f"{self.what} sent a JSON-RPC message that is not an object"
                        )
                    return message
            self.sock.settimeout(self.ctx.remaining())
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise ServiceUnreachable(f"{self.what} did not answer in time") from None
            except OSError as exc:
                raise ServiceUnreachable(f"{self.what}: {exc.strerror or exc}") from None
            if not chunk:
                raise ServiceUnreachable(f"{self.what} closed the connection")
            self._buf += chunk.decode(errors="replace")


def _open_socket(address: str | tuple[str, int], what: str, ctx: CheckContext) -> socket.socket:
    try:
        return open_stream(address, ctx.remaining())
    except TimeoutError:
        raise ServiceUnreachable(f"cannot connect to {what}: timed out") from None
    except OSError as exc:
        raise ServiceUnreachable(f"cannot connect to {what}: {exc.strerror or exc}") from None


def ovsdb_connect(ctx: CheckContext) -> JsonRpc:
    """A JSON-RPC connection to the target's ovsdb-server."""
    target = ctx.target
    what = f"ovsdb-server at {target.masked()}"
    if target.scheme == "unix":
        sock = _open_socket(target.path, what, ctx)
    elif target.scheme == "tcp":
        sock = _open_socket((target.host, target.port_or(6640)), what, ctx)
    else:
        raise CheckError(
            f"OVS target {target.masked()!r}: use unix:///var/run/openvswitch/db.sock "
            "or tcp://host:6640"
        )
    return JsonRpc(sock, what, ctx)


def select(rpc: JsonRpc, *tables: tuple[str, list[str]]) -> list[list[dict[str, Any]]]:
    """Select columns of whole tables in one transaction; rows per table, in order."""
    ops = [{"op": "select", "table": t, "where": [], "columns": cols} for t, cols in tables]
    results = rpc.call("transact", [DB, *ops])
    if not isinstance(results, list) or len(results) < len(ops):
        raise CheckError(f"{rpc.what} gave an unexpected transact answer")
    rows = []
    for (table, _), result in zip(tables, results, strict=False):
        if not isinstance(result, dict) or "error" in result:
            detail = (
                result.get("details") or result.get("error") if isinstance(result, dict) else result
            )
            raise CheckError(f"{rpc.what}: select on {table} failed: {detail}")
        rows.append(result.get("rows", []))
    return rows


def atom(value: Any) -> Any:
    """An optional OVSDB column (``["set", []]`` or a bare atom) as a value or None."""
    if isinstance(value, list) and len(value) == 2 and value[0] == "set":
        items = value[1]
        if not items:
            return None
        return atom(items[0]) if len(items) == 1 else items
    if isinstance(value, list) and len(value) == 2 and value[0] == "uuid":
        return value[1]
    return value


def uuids(value: Any) -> list[str]:
    """A set-of-references column as a list of UUID strings."""
    if isinstance(value, list) and value and value[0] == "uuid":
        return [value[1]]
    if isinstance(value, list) and value and value[0] == "set":
        return [v[1] for v in value[1] if isinstance(v, list) and v and v[0] == "uuid"]
    return []


# -- ovs-daemons -----------------------------------------------------------------------


@dataclass
class Daemons:
    """What the daemons answered: ovsdb-server's echo, the config counters, vswitchd."""

    echo_seconds: float
    cur_cfg: int
    next_cfg: int
    waited: float
    vswitchd_ctl: str | None
    vswitchd_version: str | None = None
    vswitchd_error: str | None = None

    @property
    def cfg_lag(self) -> int:
        return max(0, self.next_cfg - self.cur_cfg)


def read_daemons(ctx: CheckContext) -> Daemons:
    """Echo ovsdb-server, watch cur_cfg catch up with next_cfg, ask vswitchd its version."""
    rpc = ovsdb_connect(ctx)
    with rpc.sock:
        started = time.monotonic()
        if rpc.call("echo", ["stacktender"]) != ["stacktender"]:
            raise CheckError(f"{rpc.what} answered echo with something else")
        echo_seconds = time.monotonic() - started
        # next_cfg moves ahead of cur_cfg whenever the config changes, until vswitchd has
        # applied it; only a gap that stays open means vswitchd is stuck or gone.
        deadline = time.monotonic() + float(ctx.option("cfg_wait") or 0)
        waited_from = time.monotonic()
        while True:
            cur, nxt = _cfg(rpc)
            if cur >= nxt or time.monotonic() >= deadline or ctx.remaining(0) < 1:
                break
            time.sleep(0.2)
        waited = time.monotonic() - waited_from
    ctl, problem = _vswitchd_ctl(ctx)
    data = Daemons(echo_seconds, cur, nxt, waited, vswitchd_ctl=ctl, vswitchd_error=problem)
    if data.vswitchd_ctl is None:
        return data
    what = f"ovs-vswitchd control socket {data.vswitchd_ctl}"
    try:
        sock = _open_socket(data.vswitchd_ctl, what, ctx)
        with sock:
            version = JsonRpc(sock, what, ctx).call("version", [])
        data.vswitchd_version = " ".join(str(version).split())
    except (ServiceUnreachable, CheckError) as exc:
        data.vswitchd_error = str(exc)
    return data


def _cfg(rpc: JsonRpc) -> tuple[int, int]:
    (rows,) = select(rpc, ("Open_vSwitch", ["cur_cfg", "next_cfg"]))
    if not rows:
        raise CheckError(f"{rpc.what}: the Open_vSwitch table is empty (run 'ovs-vsctl init')")
    return int(atom(rows[0]["cur_cfg"]) or 0), int(atom(rows[0]["next_cfg"]) or 0)


def _vswitchd_ctl(ctx: CheckContext) -> tuple[str | None, str | None]:
    """The control socket and, when it cannot be found, why. The path comes from the
    option or target extra ``vswitchd_ctl``, else from ovs-vswitchd.pid beside a local
    db socket; (None, None) when the target is remote and no path is named."""
    given = ctx.option("vswitchd_ctl") or ctx.target.extra.get("vswitchd_ctl")
    if given:
        return str(given), None
    if ctx.target.scheme != "unix":
        return None, None
    rundir = os.path.dirname(ctx.target.path) or "/var/run/openvswitch"
    pidfile = os.path.join(rundir, "ovs-vswitchd.pid")
    try:
        with open(pidfile) as fh:
            pid = int(fh.read().strip())
    except FileNotFoundError:
        found = glob.glob(os.path.join(rundir, "ovs-vswitchd.*.ctl"))
        if len(found) == 1:
            return found[0], None
        return None, f"ovs-vswitchd is not running: no {pidfile}"
    except (OSError, ValueError) as exc:
        return None, f"cannot read {pidfile}: {getattr(exc, 'strerror', None) or exc}"
    return os.path.join(rundir, f"ovs-vswitchd.{pid}.ctl"), None


def evaluate_daemons(data: Daemons, ctx: CheckContext) -> Outcome:
    th = ctx.thresholds
    parts = [f"ovsdb-server answered echo in {data.echo_seconds * 1000:.1f}ms"]
    details = []
    statuses = [Status.OK]
    if data.vswitchd_error:
        statuses.append(Status.CRITICAL)
        parts.append("ovs-vswitchd not answering")
        details.append(f"CRITICAL: {data.vswitchd_error}")
    elif data.vswitchd_ctl is None:
        parts.append("ovs-vswitchd not checked (remote target, no vswitchd_ctl)")
    else:
        parts.append(f"{data.vswitchd_version or 'ovs-vswitchd'} answering")
    lag_status = th.status("cfg_lag", data.cfg_lag)
    statuses.append(lag_status)
    if data.cfg_lag:
        parts.append(f"config not applied: cur_cfg {data.cur_cfg} < next_cfg {data.next_cfg}")
        details.append(
            f"{lag_status.name}: ovs-vswitchd has not applied {data.cfg_lag} configuration "
            f"change(s) after waiting {data.waited:.1f}s"
        )
    else:
        parts.append(f"config applied (cur_cfg {data.cur_cfg})")
    return Outcome(
        worst(statuses),
        ", ".join(parts),
        details,
        [
            PerfData("echo", round(data.echo_seconds, 6), unit="s", minimum=0),
            th.perf("cfg_lag", data.cfg_lag, minimum=0),
        ],
    )


# -- ovs-bridges -----------------------------------------------------------------------


@dataclass
class Bridge:
    name: str
    datapath_type: str
    ports: int


def read_bridges(ctx: CheckContext) -> list[Bridge]:
    """Every bridge with its datapath type and number of ports."""
    rpc = ovsdb_connect(ctx)
    with rpc.sock:
        (rows,) = select(rpc, ("Bridge", ["name", "datapath_type", "ports"]))
    return [
        Bridge(
            str(r["name"]),
            str(atom(r.get("datapath_type")) or "system"),
            len(uuids(r.get("ports"))),
        )
        for r in rows
    ]


def _names(value: Any, option: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, Iterable):
        return [str(v) for v in value]
    raise CheckError(f"option {option}: expected a list of names, got {value!r}")


def evaluate_bridges(bridges: list[Bridge], ctx: CheckContext) -> Outcome:
    th = ctx.thresholds
    expected = _names(ctx.option("bridges"), "bridges")
    present = {b.name: b for b in bridges}
    missing = [name for name in expected if name not in present]
    status = Status.CRITICAL if missing else Status.OK
    status = worst([status, th.status("bridges", len(bridges))])
    names = ", ".join(sorted(present)) or "none"
    summary = f"{len(bridges)} bridges: {names}"
    if missing:
        summary = f"missing bridge(s) {', '.join(missing)}; " + summary
    details = [
        f"{b.name}: {b.ports} ports, datapath {b.datapath_type}"
        for b in sorted(bridges, key=lambda b: b.name)
    ]
    return Outcome(status, summary, details, [th.perf("bridges", len(bridges), minimum=0)])


# -- ovs-interfaces --------------------------------------------------------------------


@dataclass
class Interface:
    name: str
    type: str
    bridge: str
    error: str | None
    ofport: int | None
    admin_state: str | None
    link_state: str | None

    @property
    def failed(self) -> bool:
        """ovs-vswitchd could not set the interface up (error set or ofport -1)."""
        return bool(self.error) or self.ofport == -1


@dataclass
class Interfaces:
    rows: list[Interface] = field(default_factory=list)


def read_interfaces(ctx: CheckContext) -> Interfaces:
    """Every interface with its bridge, error, ofport and link/admin state."""
    rpc = ovsdb_connect(ctx)
    with rpc.sock:
        bridges, ports, interfaces = select(
            rpc,
            ("Bridge", ["name", "ports"]),
            ("Port", ["_uuid", "interfaces"]),
            (
                "Interface",
                ["_uuid", "name", "type", "error", "ofport", "admin_state", "link_state"],
            ),
        )
    bridge_of_port = {p: str(b["name"]) for b in bridges for p in uuids(b.get("ports"))}
    bridge_of_iface = {
        i: bridge_of_port.get(str(atom(p["_uuid"])), "?")
        for p in ports
        for i in uuids(p.get("interfaces"))
    }
    result = Interfaces()
    for row in interfaces:
        ofport = atom(row.get("ofport"))
        result.rows.append(
            Interface(
                name=str(row["name"]),
                type=str(atom(row.get("type")) or "system"),
                bridge=bridge_of_iface.get(str(atom(row["_uuid"])), "?"),
                error=atom(row.get("error")),
                ofport=int(ofport) if isinstance(ofport, int) else None,
                admin_state=atom(row.get("admin_state")),
                link_state=atom(row.get("link_state")),
            )
        )
    return result


def evaluate_interfaces(data: Interfaces, ctx: CheckContext) -> Outcome:
    th = ctx.thresholds
    ignore = ctx.pattern("ignore")
    expect_up = set(_names(ctx.option("expect_up"), "expect_up"))
    rows = sorted(
        (r for r in data.rows if ignore is None or not ignore.search(r.name)),
        key=lambda r: (r.bridge, r.name),
    )
    failed = [r for r in rows if r.failed]
    down = [
        r
        for r in rows
        if not r.failed
        and r.link_state != "up"
        and (r.name in expect_up or (r.admin_state == "up" and r.link_state == "down"))
    ]
    missing = sorted(expect_up - {r.name for r in data.rows})
    status_failed = th.status("failed", len(failed))
    status_down = th.status("down", len(down) + len(missing))
    summary = f"{len(rows)} interfaces, {len(failed)} failed, {len(down) + len(missing)} down"
    lines = [
        f"{status_failed.name}: {r.bridge}/{r.name} ({r.type}): "
        + (r.error or f"ofport {r.ofport}")
        for r in failed
    ]
    lines += [
        f"{status_down.name}: {r.bridge}/{r.name} ({r.type}): link {r.link_state or 'unknown'}, "
        f"admin {r.admin_state or 'unknown'}"
        for r in down
    ]
    lines += [f"{status_down.name}: {name}: expected up but no such interface" for name in missing]
    if failed:
        summary += (
            " ("
            + ", ".join(r.name for r in failed[:5])
            + (", ..." if len(failed) > 5 else "")
            + " failed)"
        )
    details = lines[:_MAX_DETAILS]
    if len(lines) > _MAX_DETAILS:
        details.append(f"... and {len(lines) - _MAX_DETAILS} more")
    return Outcome(
        worst([status_failed, status_down]),
        summary,
        details,
        [
            th.perf("failed", len(failed), minimum=0, maximum=len(rows)),
            th.perf("down", len(down) + len(missing), minimum=0, maximum=len(rows)),
            PerfData("interfaces", len(rows), minimum=0),
        ],
    )


_CTL_HELP = "ovs-vswitchd unixctl socket path (default: from ovs-vswitchd.pid beside the db socket)"

DAEMONS = Check(
    name="ovs-daemons",
    service="ovs",
    description="ovsdb-server answers echo, ovs-vswitchd answers its control socket and "
    "has applied the configuration (cur_cfg = next_cfg)",
    collect=read_daemons,
    evaluate=evaluate_daemons,
    default_url=DEFAULT_URL,
    thresholds=(
        ThresholdSpec(
            "cfg_lag", "configuration changes not yet applied by ovs-vswitchd", None, "0"
        ),
    ),
    options={"vswitchd_ctl": None, "cfg_wait": 3},
    option_help={
        "vswitchd_ctl": _CTL_HELP,
        "cfg_wait": "seconds to let ovs-vswitchd catch up with next_cfg before alerting",
    },
)

BRIDGES = Check(
    name="ovs-bridges",
    service="ovs",
    description="the expected bridges exist (br-int and br-ex by default)",
    collect=read_bridges,
    evaluate=evaluate_bridges,
    default_url=DEFAULT_URL,
    thresholds=(ThresholdSpec("bridges", "number of bridges", None, None),),
    options={"bridges": ["br-int", "br-ex"]},
    option_help={"bridges": "bridges that must exist (a list, or names separated by commas)"},
)

INTERFACES = Check(
    name="ovs-interfaces",
    service="ovs",
    description="interfaces ovs-vswitchd failed to set up (error, ofport -1) or with link down",
    collect=read_interfaces,
    evaluate=evaluate_interfaces,
    default_url=DEFAULT_URL,
    thresholds=(
        ThresholdSpec("failed", "interfaces with an error or ofport -1", "0", None),
        ThresholdSpec(
            "down", "interfaces with link down that are admin up or listed in expect_up", "0", None
        ),
    ),
    options={"expect_up": [], "ignore": None},
    option_help={
        "expect_up": "interfaces whose link must be up (a list, or names separated by commas)",
        "ignore": "regular expression: interfaces whose name matches are not checked",
    },
)


@hookimpl
def stacktender_checks() -> list[Check]:
    return [DAEMONS, BRIDGES, INTERFACES]
