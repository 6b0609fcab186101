"""``metering consume|usage|reconcile|dead-letters`` through the real console script,
with a SQLite store, a vhost of the local RabbitMQ and (reconcile) the testcloud."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import free_port, wait_until

Run = Callable[..., subprocess.CompletedProcess[str]]
DATA = Path(__file__).parent.parent / "metering" / "data" / "lifecycle.json"
API = "http://guest:guest@127.0.0.1:15672"
PROJECT = "c9c2a886a976450087478b710943bbe8"


@pytest.fixture
def config(tmp_path: Path) -> str:
    return f"store: sqlite:///{tmp_path / 'store.db'}\n"


@pytest.fixture
def vhost() -> Iterator[str]:
    from stacktender.testcloud.rabbit import create_vhost, delete_vhost

    name = f"stacktender-cli-metering-{uuid.uuid4().hex[:8]}"
    create_vhost(API, name)
    try:
        yield f"rabbit://guest:guest@127.0.0.1:5672/{name}"
    finally:
        delete_vhost(API, name)


def _publish(url: str, extra: list[bytes] = ()) -> int:  # type: ignore[assignment]
    from kombu import Connection, Exchange, Producer

    from stacktender.metering.consumer import amqp_url

    messages = json.loads(DATA.read_text())
    with Connection(amqp_url(url), connect_timeout=5) as connection:
        producer = Producer(connection.channel())
        for m in messages:
            producer.publish(
                m["body"],
                exchange=Exchange(m["exchange"], "topic", durable=False),
                routing_key=m["routing_key"],
                serializer=None,
                content_type="application/json",
                content_encoding="utf-8",
                declare=[Exchange(m["exchange"], "topic", durable=False)],
            )
        for body in extra:
            producer.publish(
                body,
                exchange=Exchange("nova", "topic", durable=False),
                routing_key="notifications.info",
                serializer=None,
            )
    return len(messages) + len(extra)


def _ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.integration
def test_consume_then_list_usage_and_dead_letters(cli_run: Run, config: str, vhost: str) -> None:
    _ok(cli_run("metering", "consume", "--transport-url", vhost, "--declare-only", config=config))
    published = _publish(vhost, [b"{not json", b'{"oslo.version": "9"}'])
    done = _ok(
        cli_run(
            "metering",
            "consume",
            "--until-idle",
            "1.5",
            config=config,
            env={"STACKTENDER_TRANSPORT_URL": vhost},
        )
    )
    assert f"received {published}," in done.stderr and "dead letters 2" in done.stderr
    assert "guest:guest" not in done.stderr + done.stdout  # the password is masked

    rows = json.loads(
        _ok(cli_run("metering", "usage", "--period", "2026-11", "-f", "json", config=config)).stdout
    )
    meters = sorted({r["meter"] for r in rows})
    assert meters == ["floating_ip", "image", "instance", "snapshot", "volume"]
    assert {r["project_id"] for r in rows} == {PROJECT}
    assert [r["size_gb"] for r in rows if r["meter"] == "volume"] == ["1", "2"]
    value = _ok(
        cli_run(
            "metering",
            "usage",
            "--start",
            "2026-11-25",
            "--end",
            "2026-11-26",
            "--project",
            PROJECT,
            "-c",
            "meter",
            "-c",
            "flavor",
            "-c",
            "state",
            "-f",
            "value",
            config=config,
        )
    ).stdout.splitlines()
    instances = [line for line in value if line.startswith("instance ")]
    assert instances[:2] == ["instance m1.tiny active", "instance m1.tiny stopped"]
    csv = _ok(cli_run("metering", "usage", "--period", "2026-11", "-f", "csv", config=config))
    assert csv.stdout.splitlines()[0].startswith("project_id,meter,resource_id")

    letters = json.loads(
        _ok(cli_run("metering", "dead-letters", "-f", "json", config=config)).stdout
    )
    assert sorted(letter["body"] for letter in letters) == ['{"oslo.version": "9"}', "{not json"]
    assert all(letter["reason"] for letter in letters)
    table = _ok(cli_run("metering", "dead-letters", config=config)).stdout
    assert "Reason" in table and "Body" not in table


@pytest.mark.integration
def test_sigterm_commits_the_batch_and_exits_cleanly(
    tmp_path: Path, config: str, vhost: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(config)
    cmd = [
        sys.executable,
        "-m",
        "stacktender.cli.main",
        "--config",
        str(path),
        "metering",
        "consume",
        "--transport-url",
        vhost,
        "--batch-wait",
        "120",
    ]
    worker = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        from stacktender.metering.consumer import amqp_url

        wait_until(lambda: _queue_exists(amqp_url(vhost)), 30, "the queue", 0.2)
        published = _publish(vhost)
        time.sleep(2)  # received, held in a batch that would wait two minutes
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, err
    assert f"received {published}," in err and "batches 1" in err
    from stacktender.metering.storage import count_events
    from stacktender.store.db import Store

    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        assert count_events(store) > 0


def _queue_exists(url: str) -> bool:
    import httpx

    vhost = url.rsplit("/", 1)[1]
    response = httpx.get(
        f"http://127.0.0.1:15672/api/queues/{vhost}/stacktender-metering",
        auth=("guest", "guest"),
        timeout=5,
    )
    return response.status_code == 200 and response.json().get("consumers", 0) > 0


def test_bad_input_is_one_clear_line(cli_run: Run, config: str) -> None:
    for args, message in [
        (("--period", "2026-13"), "unknown period '2026-13'"),
        (("--start", "yesterday"), "--start 'yesterday' is not a time"),
        (("--period", "2026-11", "--start", "2026-11-01"), "not both"),
        (("--start", "2026-11-02", "--end", "2026-11-01"), "empty time range"),
        (("-c", "nope"), "no column 'nope'"),
    ]:
        proc = cli_run("metering", "usage", *args, config=config)
        assert proc.returncode != 0
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], proc.stderr


def test_an_unreachable_broker_is_one_line_with_the_password_masked(
    cli_run: Run, config: str
) -> None:
    url = f"rabbit://guest:hunter2@127.0.0.1:{free_port()}/"
    proc = cli_run("metering", "consume", "--transport-url", url, config=config)
    assert proc.returncode == 1
    assert "cannot connect" in proc.stderr and "hunter2" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2  # the "consuming ..." line and the error
    environ = {k: v for k, v in os.environ.items() if k != "STACKTENDER_TRANSPORT_URL"}
    missing = cli_run("metering", "consume", config=config, env=environ)
    assert missing.returncode == 2 and "--transport-url" in missing.stderr


@pytest.mark.integration
@pytest.mark.testcloud
def test_reconcile_dry_run_lists_what_the_store_never_saw(
    cli_run: Run, config: str, testcloud: object
) -> None:
    env = testcloud.env  # type: ignore[attr-defined]
    cloud = testcloud.admin_cloud  # type: ignore[attr-defined]
    proc = _ok(
        cli_run(
            "--os-cloud",
            cloud,
            "metering",
            "reconcile",
            "--dry-run",
            "-f",
            "json",
            config=config,
            env=env,
            timeout=120,
        )
    )
    rows = json.loads(proc.stdout)
    assert rows and {r["kind"] for r in rows} == {"backfilled"}
    assert {"instance", "volume"} <= {r["meter"] for r in rows}
    usage = _ok(cli_run("metering", "usage", "-f", "json", config=config))
    assert json.loads(usage.stdout) == []  # a dry run writes nothing
    _ok(cli_run("--os-cloud", cloud, "metering", "reconcile", config=config, env=env, timeout=120))
    again = _ok(
        cli_run(
            "--os-cloud",
            cloud,
            "metering",
            "reconcile",
            "-f",
            "json",
            config=config,
            env=env,
            timeout=120,
        )
    )
    assert json.loads(again.stdout) == []
    usage = json.loads(_ok(cli_run("metering", "usage", "-f", "json", config=config)).stdout)
    assert usage and all(r["open"] for r in usage)
