"""Faults, each checked for zero lost and zero double counted: a worker killed with
SIGKILL in the middle of a batch (a real subprocess), and RabbitMQ restarted
mid-stream (a private rabbitmq-server node of this test's own, never the shared one)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import assert_exact, consumer, make_stream, publish, queue_counts
from support import free_port, port_open, require_binary, stop_process, wait_until

from stacktender.metering.storage import count_events
from stacktender.store.db import Store

pytestmark = pytest.mark.integration


def test_a_worker_killed_mid_batch_loses_nothing_and_counts_nothing_twice(
    store: Store, vhost_url: str, tmp_path: Path
) -> None:
    stream = make_stream(60, bad_every=500)
    consumer(store, vhost_url).declare()
    publish(vhost_url, stream.messages)
    config = tmp_path / "stacktender.yaml"
    config.write_text(f"store: {store.engine.url.render_as_string(hide_password=False)}\n")
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [
            sys.executable, "-m", "stacktender.cli.main", "--config", str(config),
            "metering", "consume", "--transport-url", vhost_url, "--queue", "metering-test",
            "--prefetch", "500", "--batch-size", "100000", "--batch-wait", "3",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        # The worker holds at most 500 messages unacked and commits them every 3 s: once
        # the first batch is committed, it is in the middle of the next one.
        wait_until(lambda: count_events(store) > 0, 60, "a committed batch", interval=0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    stored = count_events(store)
    assert 0 < stored < len(stream.events), "the kill came after the end: no fault tested"
    # The broker gives the killed worker's unacked messages to the next one.
    wait_until(lambda: queue_counts(vhost_url, "metering-test")[1] == 0, 30, "requeue")
    consumer(store, vhost_url).run(idle_exit=2.0)
    assert_exact(store, stream)


# -- a private RabbitMQ node ------------------------------------------------------------------


@dataclass
class PrivateRabbit:
    """A rabbitmq-server node of its own: own ports, node name, data dir and cookie."""

    root: Path
    port: int
    dist_port: int
    node: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.root),  # the Erlang cookie lives here, not in the system's
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq"),
            "RABBITMQ_PID_FILE": str(self.root / "rabbitmq.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def start(self) -> None:
        # The packaged script, not /usr/sbin's wrapper (which would switch user and
        # read /etc/rabbitmq's node name).
        binary = "/usr/lib/rabbitmq/bin/rabbitmq-server"
        with (self.root / "server.log").open("ab") as out:
            self.proc = subprocess.Popen(
                [binary], stdout=out, stderr=subprocess.STDOUT, env=self.env(),
                start_new_session=True, cwd=self.root,
            )  # fmt: skip
        wait_until(lambda: port_open(self.port) or self.proc.poll() is not None, 90, "rabbit")
        if self.proc.poll() is not None:
            raise RuntimeError((self.root / "server.log").read_text()[-2000:])

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=30)
            self.proc = None
        wait_until(lambda: not port_open(self.port), 30, "rabbit stopped")


@pytest.fixture
def private_rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRabbit]:
    require_binary("rabbitmq-server")
    root = tmp_path_factory.mktemp("rabbit")
    (root / "enabled_plugins").write_text("[].\n")  # no management: no port 15672 clash
    (root / "rabbitmq-env.conf").write_text("")
    port = free_port()
    (root / "rabbitmq.conf").write_text(
        f"listeners.tcp.local = 127.0.0.1:{port}\nloopback_users = none\n"
    )
    rabbit = PrivateRabbit(root, port, free_port(), f"stmeter{uuid.uuid4().hex[:8]}@localhost")
    rabbit.start()
    try:
        yield rabbit
    finally:
        with contextlib.suppress(Exception):
            rabbit.stop()


def test_rabbitmq_restarted_mid_stream_loses_nothing(
    store: Store, private_rabbit: PrivateRabbit
) -> None:
    stream = make_stream(40, bad_every=700)
    early = len(stream.messages) * 2 // 3
    worker = consumer(store, private_rabbit.url, reconnect_max_delay=2.0, prefetch=300)
    worker.declare()
    publish(private_rabbit.url, stream.messages[:early])
    done: list[object] = []
    thread = threading.Thread(target=lambda: done.append(worker.run(idle_exit=4.0)))
    thread.start()
    try:
        wait_until(lambda: count_events(store) > 0, 60, "the first batches", interval=0.02)
        private_rabbit.stop()  # mid-stream: batches held unacked die with the connection
        stored_before = count_events(store)
        assert stored_before < len(stream.events)
        time.sleep(2)  # the worker retries against a dead port meanwhile
        private_rabbit.start()
        # oslo.messaging's exchanges are not durable: a restarted broker has lost them
        # and their bindings until the worker re-binds (and a service re-declares).
        # What was queued before the restart (persistent, durable queue) must survive.
        assert worker.consuming.wait(60)
        publish(private_rabbit.url, stream.messages[early:])
        thread.join(180)
    finally:
        if thread.is_alive():
            private_rabbit.stop()
            thread.join(30)
    assert done, "the worker did not finish"
    assert worker.stats.reconnects >= 1
    assert_exact(store, stream)
