# mypy: ignore-errors
"""nova-compute serving several fake compute hosts from one process.

The virt driver is ``fake_virt.StableFakeDriver`` (beside this file), nova's fake
driver made restartable.

Runs under the testcloud venv's python (never imported by stacktender). It is nova's
own ``nova-compute`` entry point, except that ``[testcloud] hosts`` lists the hosts:
the first is ``[DEFAULT] host``, and each further one gets its own nova Service (own
RPC server ``compute.<host>``, own ComputeManager and FakeDriver, own compute node and
resource provider), all sharing one interpreter instead of ~150 MB each.
"""

from __future__ import annotations

from nova import monkey_patch

monkey_patch.patch(backend="threading")

import configparser  # noqa: E402
import contextlib  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402

from nova import service  # noqa: E402
from nova.cmd import compute  # noqa: E402
from nova.compute import rpcapi as compute_rpcapi  # noqa: E402


def _config(argv: list[str]) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read([a for i, a in enumerate(argv) if i and argv[i - 1] == "--config-file"])
    return parser


def _ensure_node_identity(state_path: str, host: str) -> None:
    """nova-compute refuses to restart without a local node identity file; the fake
    driver never writes one (its nodes carry their own UUIDs), so write it once."""
    import fake_virt

    path = os.path.join(state_path, "compute_id")
    if not os.path.exists(path):
        os.makedirs(state_path, exist_ok=True)
        with open(path, "w") as out:
            out.write(fake_virt.node_uuid(host))


def main() -> None:
    import fake_virt

    # nova loads drivers from its own namespace only: compute_driver = testcloud_fake.*
    sys.modules["nova.virt.testcloud_fake"] = fake_virt
    config = _config(sys.argv)
    raw = config.get("testcloud", "hosts", fallback="")
    hosts = [h.strip() for h in raw.split(",") if h.strip()]
    _ensure_node_identity(config.get("DEFAULT", "state_path"), hosts[0])
    extra_hosts = hosts[1:]
    servers: list = []
    stopped = threading.Event()

    def serve(server, workers=None, no_fork=False):
        servers.append(server)
        servers.extend(
            service.Service.create(
                binary="nova-compute",
                topic=compute_rpcapi.RPC_TOPIC,
                topic_alt=compute_rpcapi.RPC_TOPIC_ALT,
                host=host,
            )
            for host in extra_hosts
        )
        for each in servers:
            each.start()

    def wait():
        while not stopped.wait(1):
            pass
        signal.alarm(10)  # a service that will not stop must not hold the process
        for each in servers:
            with contextlib.suppress(Exception):  # best effort: the process exits next
                each.stop()
        os._exit(0)

    def terminate(*_):
        stopped.set()

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    signal.signal(signal.SIGALRM, lambda *_: os._exit(1))
    service.serve = serve
    service.wait = wait
    compute.main()


if __name__ == "__main__":
    main()
