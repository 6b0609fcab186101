# mypy: ignore-errors
"""Open vSwitch agent heartbeats for the testcloud's fake compute hosts.

Runs under the testcloud venv's python (never imported by stacktender). nova's fake
virt driver plugs no VIF anywhere, so a real OVS agent would have nothing to wire;
what neutron needs to bind a port to a host is an alive Open vSwitch agent on that
host. This process reports one for every host, over the real agent RPC API
(``report_state`` to neutron-rpc-server), so neutron's real ``openvswitch`` ML2
mechanism driver binds ports exactly as it does on a real cloud; ``network agent
list`` shows the agents, and they go dead when this process stops. Like an agent
that wired them, it reports the ports bound to its hosts as up
(``update_device_list``), so they turn ACTIVE and nova gets ``network-vif-plugged``.
"""

from __future__ import annotations

import signal
import sys
import threading
import time

from neutron.agent import rpc as agent_rpc
from neutron.api.rpc.callbacks import resources
from neutron.common import config as common_config
from neutron.conf.agent import common as agent_config
from neutron_lib import constants as n_const
from neutron_lib import context
from neutron_lib.agent import topics
from oslo_config import cfg
from oslo_log import log as logging

LOG = logging.getLogger("neutron.testcloud.agents")
PORT_POLL_SECONDS = 2.0


def agent_state(host: str) -> dict:
    return {
        "binary": n_const.AGENT_PROCESS_OVS,
        "host": host,
        "topic": n_const.L2_AGENT_TOPIC,
        "availability_zone": "nova",
        "configurations": {
            "bridge_mappings": {"public": "br-ex"},
            "integration_bridge": "br-int",
            "tunnel_types": ["vxlan"],
            "tunneling_ip": "127.0.0.1",
            "l2_population": False,
            "arp_responder_enabled": False,
            "enable_distributed_routing": False,
            "log_agent_heartbeats": False,
            "extensions": [],
            "datapath_type": "system",
            "ovs_hybrid_plug": False,
            "devices": 0,
            "in_distributed_mode": False,
        },
        "resource_versions": resources.LOCAL_RESOURCE_VERSIONS,
        "agent_type": n_const.AGENT_TYPE_OVS,
        "start_flag": True,
    }


def activate_ports(plugin, ctx, host: str, state: dict) -> None:
    """Report the ports bound to host as plugged, like an agent that wired them."""
    ports = plugin.get_ports_by_vnic_type_and_host(ctx, "normal", host)
    state["configurations"]["devices"] = len(ports)
    down = [p["id"] for p in ports if p.get("status") != n_const.PORT_STATUS_ACTIVE]
    if down:
        plugin.update_device_list(ctx, down, [], f"ovs-agent-{host}", host)
        LOG.info("ports up on %s: %s", host, ", ".join(down))


def main() -> None:
    cfg.CONF.register_opts([cfg.ListOpt("hosts", default=[])], group="testcloud")
    agent_config.register_agent_state_opts_helper(cfg.CONF)
    common_config.register_common_config_options()
    common_config.init(sys.argv[1:])
    common_config.setup_logging()
    hosts = cfg.CONF.testcloud.hosts
    interval = cfg.CONF.AGENT.report_interval
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    rpc = agent_rpc.PluginReportStateAPI(topics.REPORTS)
    plugin = agent_rpc.PluginApi(topics.PLUGIN)
    ctx = context.get_admin_context_without_session()
    states = {host: agent_state(host) for host in hosts}
    LOG.info("reporting Open vSwitch agents for %s every %ss", ", ".join(hosts), interval)
    next_report = 0.0
    while not stop.is_set():
        report = time.monotonic() >= next_report
        if report:
            next_report = time.monotonic() + interval
        for host, state in states.items():
            try:
                if report:
                    rpc.report_state(ctx, state, True)
                    state.pop("start_flag", None)
                    state.pop("resource_versions", None)
                if "start_flag" not in state:
                    activate_ports(plugin, ctx, host, state)
            except Exception as exc:  # neutron-rpc-server not (yet) there: retry next round
                LOG.warning("RPC for %s failed: %s", host, exc)
        stop.wait(PORT_POLL_SECONDS)
    LOG.info("stopping")


if __name__ == "__main__":
    main()
