"""Open vSwitch checks: OVSDB decoding and evaluate() by hand, then a real Open vSwitch.

The integration tests run Debian's ovsdb-server and ovs-vswitchd from a temporary
directory, without systemd. Bridges use the userspace datapath (``netdev``), so no
kernel module is needed; ovs-vswitchd runs in its own network namespace when
``unshare`` allows it, so its tap devices (br-int, br-ex) never meet another test's.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import (
    free_port,
    port_open,
    require_binary,
    running,
    silent_server,
    stop_process,
    wait_until,
)

from stacktender.checks.base import CheckContext
from stacktender.checks.ovs import (
    Bridge,
    Daemons,
    Interface,
    Interfaces,
    JsonRpc,
    atom,
    uuids,
)
from stacktender.errors import CheckError, ServiceUnreachable
from stacktender.results import Status


def _ctx(make_app: Callable[..., Any], check: str, **overrides: Any) -> CheckContext:
    return make_app().instance(check, **overrides).context()


def _evaluate(make_app: Callable[..., Any], check: str, data: Any, **overrides: Any) -> Any:
    ctx = _ctx(make_app, check, **overrides)
    return ctx.check.evaluate(data, ctx)


# -- unit: OVSDB values and JSON-RPC framing ---------------------------------------------


def test_atom_and_uuids_decode_ovsdb_values() -> None:
    assert atom(["set", []]) is None
    assert atom("down") == "down"
    assert atom(["set", ["x"]]) == "x"
    assert atom(["uuid", "u1"]) == "u1"
    assert atom(-1) == -1
    assert uuids(["uuid", "u1"]) == ["u1"]
    assert uuids(["set", [["uuid", "u1"], ["uuid", "u2"]]]) == ["u1", "u2"]
    assert uuids(["set", []]) == []


def test_jsonrpc_framing_echo_probe_and_errors(make_app: Callable[..., Any]) -> None:
    ctx = _ctx(make_app, "ovs-daemons", timeout=2)
    ours, theirs = socket.socketpair()

    def server() -> None:
        data = b""
        while b"}" not in data:
            data += theirs.recv(4096)
        # the server's own echo probe, a notification, then our answer in two pieces
        theirs.sendall(b'{"method":"echo","params":[],"id":"echo"}{"method":"update",')
        theirs.sendall(b'"params":[],"id":null} {"id":1,"result":["a"],')
        time.sleep(0.05)
        theirs.sendall(b'"error":null}{"id":2,"result":null,"error":"unknown method"}')
        reply = json.loads(theirs.recv(4096))
        assert reply == {"result": [], "error": None, "id": "echo"}

    thread = threading.Thread(target=server)
    thread.start()
    rpc = JsonRpc(ours, "test server", ctx)
    assert rpc.call("echo", ["a"]) == ["a"]
    with pytest.raises(CheckError, match="unknown method"):
        rpc.call("nope", [])
    thread.join(2)
    theirs.close()
    with pytest.raises(ServiceUnreachable, match="test server: Broken pipe"):
        rpc.call("echo", [])
    ours.close()


# -- unit: evaluation ----------------------------------------------------------------------


def test_daemons_evaluation(make_app: Callable[..., Any]) -> None:
    ok = Daemons(0.0004, 7, 7, 0.0, "/run/ovs.ctl", "ovs-vswitchd (Open vSwitch) 3.1.0")
    out = _evaluate(make_app, "ovs-daemons", ok)
    assert out.status == Status.OK
    assert out.summary == (
        "ovsdb-server answered echo in 0.4ms, ovs-vswitchd (Open vSwitch) 3.1.0 answering, "
        "config applied (cur_cfg 7)"
    )
    stuck = Daemons(0.0004, 7, 9, 3.0, "/run/ovs.ctl", "ovs-vswitchd 3.1.0")
    out = _evaluate(make_app, "ovs-daemons", stuck)
    assert out.status == Status.CRITICAL
    assert "config not applied: cur_cfg 7 < next_cfg 9" in out.summary
    gone = Daemons(0.0004, 7, 7, 0.0, None, vswitchd_error="ovs-vswitchd is not running: x")
    out = _evaluate(make_app, "ovs-daemons", gone)
    assert out.status == Status.CRITICAL
    assert out.details == ["CRITICAL: ovs-vswitchd is not running: x"]
    remote = Daemons(0.0004, 7, 7, 0.0, None)
    out = _evaluate(make_app, "ovs-daemons", remote)
    assert out.status == Status.OK
    assert "not checked (remote target" in out.summary


def test_bridges_evaluation(make_app: Callable[..., Any]) -> None:
    both = [Bridge("br-int", "system", 12), Bridge("br-ex", "system", 2)]
    out = _evaluate(make_app, "ovs-bridges", both)
    assert out.status == Status.OK
    assert out.summary == "2 bridges: br-ex, br-int"
    out = _evaluate(make_app, "ovs-bridges", both[:1])
    assert out.status == Status.CRITICAL
    assert out.summary == "missing bridge(s) br-ex; 1 bridges: br-int"
    out = _evaluate(make_app, "ovs-bridges", both, options={"bridges": "br-int,br-tun"})
    assert out.status == Status.CRITICAL and "br-tun" in out.summary


def _iface(name: str, **kw: Any) -> Interface:
    values: dict[str, Any] = {
        "type": "system",
        "bridge": "br-int",
        "error": None,
        "ofport": 1,
        "admin_state": "up",
        "link_state": "up",
    }
    values.update(kw)
    return Interface(name, **values)


def test_interfaces_evaluation(make_app: Callable[..., Any]) -> None:
    data = Interfaces(
        [
            _iface("br-int", type="internal", admin_state="down", link_state="down"),
            _iface("tap1", error="could not open network device tap1 (No such device)", ofport=-1),
            _iface("eth1", bridge="br-ex", link_state="down"),
            _iface("vx0", type="vxlan", ofport=-1),
        ]
    )
    out = _evaluate(make_app, "ovs-interfaces", data)
    assert out.status == Status.WARNING
    assert out.summary == "4 interfaces, 2 failed, 1 down (tap1, vx0 failed)"
    assert out.details == [
        "WARNING: br-int/tap1 (system): could not open network device tap1 (No such device)",
        "WARNING: br-int/vx0 (vxlan): ofport -1",
        "WARNING: br-ex/eth1 (system): link down, admin up",
    ]
    crit = _evaluate(make_app, "ovs-interfaces", data, critical={"failed": "1"})
    assert crit.status == Status.CRITICAL
    quiet = _evaluate(
        make_app,
        "ovs-interfaces",
        data,
        options={"ignore": "^(tap|vx)", "expect_up": ["br-int", "eth9"]},
    )
    assert quiet.summary == "2 interfaces, 0 failed, 3 down"
    assert quiet.details[-1] == "WARNING: eth9: expected up but no such interface"


def test_many_failures_are_capped_in_details(make_app: Callable[..., Any]) -> None:
    data = Interfaces([_iface(f"tap{i:02d}", ofport=-1, error="gone") for i in range(30)])
    out = _evaluate(make_app, "ovs-interfaces", data)
    assert len(out.details) == 21 and out.details[-1] == "... and 10 more"
    assert out.summary.endswith("(tap00, tap01, tap02, tap03, tap04, ... failed)")


# -- integration: a real Open vSwitch -----------------------------------------------------


class OpenVSwitch:
    """ovsdb-server (for the module) and an ovs-vswitchd the tests stop and start."""

    def __init__(self, tmp: Path, tcp_port: int) -> None:
        self.tmp = tmp
        self.db_sock = tmp / "db.sock"
        self.url = f"unix://{self.db_sock}"
        self.tcp_url = f"tcp://127.0.0.1:{tcp_port}"
        self.pidfile = tmp / "ovs-vswitchd.pid"
        self.env = {
            "OVS_RUNDIR": str(tmp),
            "OVS_DBDIR": str(tmp),
            "OVS_LOGDIR": str(tmp),
            "OVS_PKGDATADIR": "/usr/share/openvswitch",
            "OVS_SYSCONFDIR": str(tmp),
        }
        self.vswitchd: subprocess.Popen[bytes] | None = None

    def vsctl(self, *args: str, timeout: int = 5, check: bool = True) -> str:
        proc = subprocess.run(
            [
                require_binary("ovs-vsctl"),
                f"--db=unix:{self.db_sock}",
                f"--timeout={timeout}",
                *args,
            ],
            capture_output=True,
            text=True,
            env={**os.environ, **self.env},
            timeout=timeout + 5,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"ovs-vsctl {' '.join(args)}: {proc.stderr}")
        return proc.stdout.strip()

    @property
    def ctl(self) -> Path:
        return self.tmp / f"ovs-vswitchd.{self.pidfile.read_text().strip()}.ctl"

    def start_vswitchd(self) -> None:
        if self.vswitchd is not None and self.vswitchd.poll() is None:
            return
        # A killed vswitchd leaves its pidfile and control socket: wait for fresh ones.
        for stale in [self.pidfile, *self.tmp.glob("ovs-vswitchd.*.ctl")]:
            stale.unlink(missing_ok=True)
        cmd = [require_binary("ovs-vswitchd"), f"unix:{self.db_sock}", f"--pidfile={self.pidfile}"]
        if _can_unshare():
            cmd = ["unshare", "--net", *cmd]
        with open(self.tmp / "ovs-vswitchd.log", "ab") as log:
            self.vswitchd = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **self.env},
            )
        wait_until(
            lambda: (
                self.pidfile.exists()
                and self.pidfile.read_text().strip() != ""
                and self.ctl.exists()
            ),
            15,
            "ovs-vswitchd",
        )

    def stop_vswitchd(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.vswitchd is None:
            return
        if sig == signal.SIGTERM:
            stop_process(self.vswitchd)
        else:
            os.killpg(self.vswitchd.pid, sig)
            self.vswitchd.wait(10)
        self.vswitchd = None


def _can_unshare() -> bool:
    try:
        return subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode == 0
    except FileNotFoundError:
        return False


@pytest.fixture(scope="module")
def ovs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenVSwitch]:
    ovsdb_server = require_binary("ovsdb-server")
    ovsdb_tool = require_binary("ovsdb-tool")
    tmp = tmp_path_factory.mktemp("ovs")
    port = free_port()
    switch = OpenVSwitch(tmp, port)
    subprocess.run(
        [ovsdb_tool, "create", str(tmp / "conf.db"), "/usr/share/openvswitch/vswitch.ovsschema"],
        check=True,
    )
    with running(
        [
            ovsdb_server,
            f"--remote=punix:{switch.db_sock}",
            f"--remote=ptcp:{port}:127.0.0.1",
            f"--pidfile={tmp / 'ovsdb-server.pid'}",
            f"--unixctl={tmp / 'ovsdb-server.ctl'}",
            str(tmp / "conf.db"),
        ],
        ready=lambda: switch.db_sock.exists() and port_open(port),
        log=tmp / "ovsdb-server.log",
        env=switch.env,
    ):
        switch.vsctl("--no-wait", "init")
        switch.start_vswitchd()
        for bridge in ("br-int", "br-ex"):
            switch.vsctl("add-br", bridge, "--", "set", "bridge", bridge, "datapath_type=netdev")
        try:
            yield switch
        finally:
            switch.stop_vswitchd()


@pytest.fixture
def switch(ovs: OpenVSwitch) -> Iterator[OpenVSwitch]:
    """The module's Open vSwitch with vswitchd running and br-int, br-ex present."""
    ovs.start_vswitchd()
    for bridge in ("br-int", "br-ex"):
        ovs.vsctl(
            "--may-exist", "add-br", bridge, "--", "set", "bridge", bridge, "datapath_type=netdev"
        )
    yield ovs


@pytest.mark.integration
def test_daemons_ok_over_unix_socket(switch: OpenVSwitch, make_app: Callable[..., Any]) -> None:
    app = make_app()
    result = app.run(app.instance("ovs-daemons", url=switch.url))
    assert result.status == Status.OK, result
    assert "ovs-vswitchd (Open vSwitch) 3." in result.summary
    assert "config applied" in result.summary
    explicit = app.run(
        app.instance("ovs-daemons", url=switch.url, options={"vswitchd_ctl": str(switch.ctl)})
    )
    assert explicit.status == Status.OK, explicit


@pytest.mark.integration
def test_daemons_over_tcp(switch: OpenVSwitch, make_app: Callable[..., Any]) -> None:
    app = make_app()
    remote = app.run(app.instance("ovs-daemons", url=switch.tcp_url))
    assert remote.status == Status.OK, remote
    assert "ovs-vswitchd not checked (remote target, no vswitchd_ctl)" in remote.summary
    app = make_app(f"targets:\n  ovs: {{url: '{switch.tcp_url}', vswitchd_ctl: '{switch.ctl}'}}\n")
    with_ctl = app.run(app.instance("ovs-daemons"))
    assert with_ctl.status == Status.OK, with_ctl
    assert "Open vSwitch" in with_ctl.summary


@pytest.mark.integration
def test_daemons_critical_when_vswitchd_stops(
    switch: OpenVSwitch, make_app: Callable[..., Any]
) -> None:
    app = make_app()

    def run() -> Any:
        return app.run(app.instance("ovs-daemons", url=switch.url, options={"cfg_wait": 0.5}))

    switch.stop_vswitchd()
    stopped = run()
    assert stopped.status == Status.CRITICAL
    assert "ovs-vswitchd not answering" in stopped.summary
    assert stopped.details[0].startswith("CRITICAL: ovs-vswitchd is not running: no ")

    # A change made meanwhile waits for vswitchd: next_cfg moves ahead of cur_cfg.
    switch.vsctl("add-br", "br-late", timeout=1, check=False)
    behind = run()
    assert behind.status == Status.CRITICAL
    assert "config not applied" in behind.summary

    switch.start_vswitchd()  # applies the pending change
    app_ok = app.run(app.instance("ovs-daemons", url=switch.url, options={"cfg_wait": 5}))
    assert app_ok.status == Status.OK, app_ok
    switch.vsctl("del-br", "br-late")


@pytest.mark.integration
def test_daemons_critical_after_vswitchd_crash(
    switch: OpenVSwitch, make_app: Callable[..., Any]
) -> None:
    switch.stop_vswitchd(signal.SIGKILL)  # leaves its pidfile and control socket behind
    app = make_app()
    result = app.run(app.instance("ovs-daemons", url=switch.url))
    assert result.status == Status.CRITICAL
    assert "Connection refused" in result.details[0]


@pytest.mark.integration
def test_bridges_present_missing_and_back(
    switch: OpenVSwitch, make_app: Callable[..., Any]
) -> None:
    app = make_app()

    def run(**options: Any) -> Any:
        return app.run(app.instance("ovs-bridges", url=switch.url, options=options))

    ok = run()
    assert ok.status == Status.OK, ok
    assert ok.summary == "2 bridges: br-ex, br-int"
    assert "br-int: 1 ports, datapath netdev" in ok.details

    switch.vsctl("del-br", "br-ex")
    missing = run()
    assert missing.status == Status.CRITICAL
    assert missing.summary == "missing bridge(s) br-ex; 1 bridges: br-int"
    assert run(bridges=["br-int"]).status == Status.OK

    switch.vsctl("add-br", "br-ex", "--", "set", "bridge", "br-ex", "datapath_type=netdev")
    assert run().status == Status.OK
    assert run(bridges="br-int,br-tun").status == Status.CRITICAL


@pytest.mark.integration
def test_interfaces_alert_on_errors(switch: OpenVSwitch, make_app: Callable[..., Any]) -> None:
    app = make_app()

    def run(**overrides: Any) -> Any:
        return app.run(app.instance("ovs-interfaces", url=switch.url, **overrides))

    ok = run()
    assert ok.status == Status.OK, ok
    assert ok.summary == "2 interfaces, 0 failed, 0 down"

    # vswitchd rejects both; ovs-vsctl reports the error and exits non-zero.
    switch.vsctl(
        "add-port", "br-int", "vx0", "--", "set", "interface", "vx0", "type=vxlan", check=False
    )
    switch.vsctl("add-port", "br-int", "st-nodev0", check=False)
    try:
        failed = run()
        assert failed.status == Status.WARNING, failed
        assert failed.summary == "4 interfaces, 2 failed, 0 down (st-nodev0, vx0 failed)"
        assert failed.details == [
            "WARNING: br-int/st-nodev0 (system): could not open network device st-nodev0 "
            "(No such device)",
            "WARNING: br-int/vx0 (vxlan): vx0: vxlan type requires valid 'remote_ip' argument",
        ]
        assert run(critical={"failed": "1"}).status == Status.CRITICAL
        assert run(options={"ignore": "^(vx|st-)"}).status == Status.OK
    finally:
        switch.vsctl("del-port", "br-int", "vx0")
        switch.vsctl("del-port", "br-int", "st-nodev0")

    # br-int's own port exists but its link is down (nobody set the tap device up).
    down = run(options={"expect_up": ["br-int"]})
    assert down.status == Status.WARNING
    assert down.details == ["WARNING: br-int/br-int (internal): link down, admin down"]
    assert run().status == Status.OK


@pytest.mark.integration
def test_cli_output(switch: OpenVSwitch, cli_run: Callable[..., Any]) -> None:
    proc = cli_run("check", "ovs-bridges", "--url", switch.url, "-o", "bridges=[br-int,br-tun]")
    assert proc.returncode == 2, proc
    assert proc.stdout.startswith("OVS-BRIDGES CRITICAL - missing bridge(s) br-tun; 2 bridges")


@pytest.mark.integration
def test_missing_db_socket_is_critical(tmp_path: Path, make_app: Callable[..., Any]) -> None:
    app = make_app()
    result = app.run(app.instance("ovs-bridges", url=f"unix://{tmp_path}/db.sock"))
    assert result.status == Status.CRITICAL
    assert "cannot connect to ovsdb-server" in result.summary


@pytest.mark.integration
@pytest.mark.parametrize("check", ["ovs-daemons", "ovs-bridges", "ovs-interfaces"])
def test_silent_server_is_critical_within_timeout(make_app: Callable[..., Any], check: str) -> None:
    app = make_app()
    with silent_server() as port:
        started = time.monotonic()
        result = app.run(app.instance(check, url=f"tcp://127.0.0.1:{port}", timeout=1))
        elapsed = time.monotonic() - started
    assert result.status == Status.CRITICAL
    assert result.summary == f"ovsdb-server at tcp://127.0.0.1:{port} did not answer in time"
    assert elapsed < 1.5
