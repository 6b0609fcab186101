"""``metering invoice`` and ``api serve`` as a user runs them: the real console script, a
store on disk, the shipped example sheet, the testcloud's Keystone for names and tokens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from metering_support import PERIOD, example_prices, get_tokens, month_of_usage
from support import free_port
from testcloud_support import RunningTestCloud

from stacktender.metering.storage import write_batch
from stacktender.store.db import Store

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def store_config(tmp_path: Path) -> str:
    """A config whose store holds October's usage of project p-1 (2.62 EUR)."""
    url = f"sqlite:///{tmp_path / 'usage.db'}"
    with Store.open(url) as store:
        write_batch(store, month_of_usage("p-1", "p1"))
    return f"store: {url}\n"


def invoice(run: Run, config: str, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return run("metering", "invoice", "--period", PERIOD, *args, config=config, **kw)


def test_invoice_by_project_id_as_json_adds_up(cli_run: Run, store_config: str) -> None:
    done = invoice(cli_run, store_config, "--project", "p-1", "--prices", str(example_prices()))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Invoice for project p-1, 2026-10 (UTC), in EUR\n")
    assert "| total " in done.stdout and "2.62" in done.stdout
    as_json = invoice(
        cli_run, store_config, "--project", "p-1", "--prices", str(example_prices()), "-f", "json"
    )
    data = json.loads(as_json.stdout)
    assert (data["subtotal"], data["discount"], data["total"]) == ("2.62", "0.00", "2.62")
    assert [line["amount"] for line in data["lines"]] == ["0.48", "0.12", "0.10", "0.72", "1.20"]


def test_invoice_as_csv_ends_with_the_totals(cli_run: Run, store_config: str) -> None:
    done = invoice(
        cli_run,
        store_config,
        "--project",
        "p-1",
        "--prices",
        str(example_prices()),
        "-f",
        "csv",
        "-c",
        "meter",
        "-c",
        "amount",
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "meter,amount"
    assert lines[-2:] == ["subtotal,2.62", "total,2.62"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--period", "2026-13"), "unknown period '2026-13': expected YYYY-MM, such as 2026-11"),
        (("--period", "last-month"), "unknown period 'last-month'"),
        (("--period", "2099-01"), "period 2099-01 has not begun: there is nothing to invoice yet"),
        (("-c", "price"), "no column 'price'"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    cli_run: Run, store_config: str, args: tuple[str, ...], message: str
) -> None:
    done = cli_run(
        "metering", "invoice", "--project", "p-1", "--prices", str(example_prices()),
        "--period", PERIOD, *args, config=store_config,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("stacktender: error: ") and message in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_an_invalid_price_sheet_names_the_file_line_and_key(
    cli_run: Run, store_config: str, tmp_path: Path
) -> None:
    sheet = tmp_path / "prices.yaml"
    sheet.write_text("currency: EUR\ninstance:\n  flavors:\n    m1.tiny: -1\n")
    done = invoice(cli_run, store_config, "--project", "p-1", "--prices", str(sheet))
    assert done.returncode == 1
    assert done.stderr == (
        f"stacktender: error: {sheet}:4: instance.flavors.m1.tiny: negative price -1\n"
    )


def test_usage_the_sheet_has_no_price_for_is_one_line(
    cli_run: Run, store_config: str, tmp_path: Path
) -> None:
    sheet = tmp_path / "prices.yaml"
    sheet.write_text("currency: EUR\ninstance: {flavors: {m1.tiny: 1}}\n")
    done = invoice(cli_run, store_config, "--project", "p-1", "--prices", str(sheet))
    assert done.returncode == 1
    assert done.stderr == (
        f"stacktender: error: {sheet}: no price for flavor 'm1.small' "
        "(add it under instance.flavors or set instance.default)\n"
    )


def test_api_serve_refuses_a_bad_sheet_or_no_cloud_in_one_line(
    tmp_path: Path, store_config: str
) -> None:
    config = tmp_path / "stacktender.yaml"
    config.write_text(store_config)
    sheet = tmp_path / "prices.yaml"
    sheet.write_text("currency: EUR\nfloating_ip: free\n")
    env = {k: v for k, v in os.environ.items() if k != "OS_CLOUD"}
    base = [sys.executable, "-m", "stacktender.cli.main", "--config", str(config), "api", "serve"]
    for args, message in [
        (["--os-cloud", "any", "--prices", str(sheet)], f"{sheet}:2: floating_ip: not a number"),
        (["--prices", str(example_prices())], "--os-cloud NAME is needed"),
    ]:
        done = subprocess.run(
            base + args, capture_output=True, text=True, env=env, timeout=60,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert done.returncode == 1
        assert done.stderr.startswith("stacktender: error: ") and message in done.stderr
        assert done.stderr.count("\n") == 1


@pytest.mark.integration
@pytest.mark.testcloud
def test_invoice_by_project_name_through_keystone(
    cli_run: Run, tmp_path: Path, testcloud: RunningTestCloud
) -> None:
    conn = testcloud.connect()
    acme = conn.identity.find_project("acme", domain_id="default").id
    conn.close()
    url = f"sqlite:///{tmp_path / 'usage.db'}"
    with Store.open(url) as store:
        write_batch(store, month_of_usage(acme, "acme"))
    config = f"store: {url}\nos_cloud: {testcloud.admin_cloud}\n"
    done = invoice(
        cli_run, config, "--project", "acme", "--prices", str(example_prices()), "-f", "json",
        env=testcloud.env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    # the example sheet gives acme 10 % by name
    assert (data["project_id"], data["project_name"]) == (acme, "acme")
    assert (data["subtotal"], data["discount"], data["total"]) == ("2.62", "0.26", "2.36")
    missing = invoice(
        cli_run, config, "--project", "no-such-project", "--prices", str(example_prices()),
        env=testcloud.env,
    )  # fmt: skip
    assert missing.returncode == 1
    assert missing.stderr == (
        f"stacktender: error: no project 'no-such-project' in cloud {testcloud.admin_cloud}\n"
    )


@pytest.mark.integration
@pytest.mark.testcloud
def test_api_serve_answers_with_keystone_tokens(
    tmp_path: Path, testcloud: RunningTestCloud
) -> None:
    """The real server (uvicorn) in its own process, as an operator starts it."""
    import httpx

    tokens = get_tokens(testcloud.settings)
    url = f"sqlite:///{tmp_path / 'usage.db'}"
    with Store.open(url) as store:
        write_batch(store, month_of_usage(tokens["bob"].project_id, "bob"))
    config = tmp_path / "stacktender.yaml"
    config.write_text(f"store: {url}\n")
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable, "-m", "stacktender.cli.main", "--config", str(config),
            "api", "serve", "--port", str(port), "--os-cloud", testcloud.admin_cloud,
            "--prices", str(example_prices()),
        ],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, **testcloud.env},
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "api serve did not answer in 60 s"
            time.sleep(0.2)
        bob = tokens["bob"]
        path = f"/v1/projects/{bob.project_id}/invoices/{PERIOD}"
        answer = httpx.get(base + path, headers={"X-Auth-Token": bob.id}, timeout=30)
        assert answer.status_code == 200 and answer.json()["total"] == "2.62"
        alice = httpx.get(base + path, headers={"X-Auth-Token": tokens["alice"].id}, timeout=30)
        assert alice.status_code == 403
        anonymous = httpx.get(base + path, timeout=30)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Keystone uri=")
        spec = httpx.get(f"{base}/openapi.json", timeout=10).json()
        assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-Auth-Token"
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    assert bob.id not in (tmp_path / "serve.log").read_text()  # tokens never logged
