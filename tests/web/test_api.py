"""The REST API against the testcloud's real Keystone: who sees what, errors as JSON,
Keystone down or slow is 503, and the invoice figures of a known month."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from metering_support import PERIOD, Token, example_prices
from testcloud_support import RunningTestCloud

from stacktender.store.db import Store

pytestmark = [pytest.mark.integration, pytest.mark.testcloud]


def get(client: Any, url: str, token: Token | None = None, **kw: Any) -> Any:
    headers = {"X-Auth-Token": token.id} if token else {}
    return client.get(url, headers=headers, **kw)


def test_admin_sees_every_project_and_its_invoice(client: Any, tokens: dict[str, Token]) -> None:
    admin = tokens["admin"]
    answer = get(client, f"/v1/projects?period={PERIOD}", admin)
    assert answer.status_code == 200
    ids = {tokens[w].project_id for w in ("demo", "alice", "bob")}
    assert set(answer.json()["projects"]) == ids
    usage = get(client, f"/v1/usage?period={PERIOD}", admin).json()
    assert usage["project_id"] is None
    assert {r["project_id"] for r in usage["records"]} == ids
    for who in ("demo", "bob"):
        bill = get(client, f"/v1/projects/{tokens[who].project_id}/invoices/{PERIOD}", admin)
        assert bill.status_code == 200, bill.text
        body = bill.json()
        assert (body["subtotal"], body["discount"], body["total"]) == ("2.62", "0.00", "2.62")
    # acme has 10 % by name in the example sheet; the admin's token names another project,
    # so the API asked Keystone for acme's name
    acme = get(client, f"/v1/projects/{tokens['alice'].project_id}/invoices/{PERIOD}", admin)
    assert acme.json()["project_name"] == "acme"
    assert (acme.json()["discount"], acme.json()["total"]) == ("0.26", "2.36")


def test_the_invoice_lines_add_up_to_the_cent(client: Any, tokens: dict[str, Token]) -> None:
    bob = tokens["bob"]
    body = get(client, f"/v1/projects/{bob.project_id}/invoices/{PERIOD}", bob).json()
    lines = {(line["meter"], line["item"], line["state"]): line for line in body["lines"]}
    assert {k: (v["quantity"], v["amount"]) for k, v in lines.items()} == {
        ("instance", "m1.small", "active"): ("12.0000", "0.48"),
        ("instance", "m1.small", "stopped"): ("12.0000", "0.12"),
        ("instance", "m1.tiny", "active"): ("10.0000", "0.10"),
        ("volume", None, None): ("7200.0000", "0.72"),
        ("floating_ip", None, None): ("240.0000", "1.20"),
    }
    assert sum(Decimal(v["amount"]) for v in lines.values()) == Decimal(body["subtotal"])
    assert body["currency"] == "EUR"


def test_a_member_sees_only_its_own_project(client: Any, tokens: dict[str, Token]) -> None:
    alice, bob = tokens["alice"], tokens["bob"]
    assert get(client, f"/v1/projects?period={PERIOD}", alice).json()["projects"] == [
        alice.project_id
    ]
    own = get(client, f"/v1/usage?period={PERIOD}", alice).json()
    assert own["project_id"] == alice.project_id
    assert own["records"] and {r["project_id"] for r in own["records"]} == {alice.project_id}
    assert get(client, f"/v1/usage?period={PERIOD}&project_id={alice.project_id}", alice).is_success
    other = get(client, f"/v1/usage?period={PERIOD}&project_id={bob.project_id}", alice)
    assert other.status_code == 403
    assert other.json() == {"detail": f"this token may not see project {bob.project_id}"}
    bill = get(client, f"/v1/projects/{bob.project_id}/invoices/{PERIOD}", alice)
    assert bill.status_code == 403
    mine = get(client, f"/v1/projects/{alice.project_id}/invoices/{PERIOD}", alice)
    assert mine.status_code == 200 and mine.json()["total"] == "2.36"


def test_a_reader_of_a_project_sees_it_too(client: Any, tokens: dict[str, Token]) -> None:
    carol, alice, bob = tokens["carol"], tokens["alice"], tokens["bob"]
    assert get(client, f"/v1/projects/{alice.project_id}/invoices/{PERIOD}", carol).is_success
    assert get(client, f"/v1/projects/{bob.project_id}/invoices/{PERIOD}", carol).status_code == 403


@pytest.mark.parametrize(
    "token", [None, "", "gAAAAABnot-a-real-fernet-token", "bad token with spaces", "x" * 9000]
)
def test_no_or_a_bad_token_is_401_pointing_at_keystone(
    client: Any, testcloud: RunningTestCloud, tokens: dict[str, Token], token: str | None
) -> None:
    headers = {} if token is None else {"X-Auth-Token": token}
    project = tokens["demo"].project_id
    for url in ("/v1/projects", "/v1/usage", f"/v1/projects/{project}/invoices/{PERIOD}"):
        answer = client.get(url, headers=headers)
        assert answer.status_code == 401, (url, answer.text)
        expected = f'Keystone uri="{testcloud.settings.keystone_url}"'
        assert answer.headers["WWW-Authenticate"] == expected
        assert set(answer.json()) == {"detail"}


def test_health_needs_no_token(client: Any) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.json()["status"] == "ok"


def test_bad_periods_are_4xx_with_json_bodies(client: Any, tokens: dict[str, Token]) -> None:
    admin, project = tokens["admin"], tokens["demo"].project_id
    future = get(client, f"/v1/projects/{project}/invoices/2099-01", admin)
    assert future.status_code == 400
    assert future.json() == {
        "detail": "period 2099-01 has not begun: there is nothing to invoice yet"
    }
    for bad in ("2026-13", "2026-1", "november", "2026-11-01", "1969-12", "0000-01"):
        answer = get(client, f"/v1/projects/{project}/invoices/{bad}", admin)
        assert answer.status_code == 422, bad
        assert "detail" in answer.json()
        assert get(client, f"/v1/projects?period={bad}", admin).status_code == 422
        assert get(client, f"/v1/usage?period={bad}", admin).status_code == 422


def test_usage_the_sheet_cannot_price_is_409(
    usage_store: Store, keystone_auth: Any, tokens: dict[str, Token]
) -> None:
    from fastapi.testclient import TestClient

    from stacktender.metering.pricing import parse_price_sheet
    from stacktender.web.api import create_app

    sheet = parse_price_sheet("currency: EUR\ninstance: {flavors: {m1.tiny: 1}}\n", "p.yaml")
    bob = tokens["bob"]
    with TestClient(create_app(usage_store, sheet, keystone_auth)) as http:
        answer = get(http, f"/v1/projects/{bob.project_id}/invoices/{PERIOD}", bob)
    assert answer.status_code == 409
    assert answer.json() == {
        "detail": "p.yaml: no price for flavor 'm1.small' "
        "(add it under instance.flavors or set instance.default)"
    }


def test_a_token_is_validated_once_then_cached(
    usage_store: Store, keystone_auth: Any, testcloud: RunningTestCloud, tokens: dict[str, Token]
) -> None:
    """Revoking a token in Keystone: the cache still accepts it, no cache refuses it."""
    from fastapi.testclient import TestClient
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    from stacktender.metering.pricing import load_price_sheet
    from stacktender.web.api import create_app
    from stacktender.web.auth import KeystoneAuth

    settings = testcloud.settings
    auth = v3.Password(
        auth_url=settings.keystone_url,
        username="bob",
        password=settings.passwords["seed"],
        project_name="globex",
        user_domain_id="default",
        project_domain_id="default",
    )
    sess = session.Session(auth=auth, timeout=30)
    token = sess.get_token()
    sheet = load_price_sheet(example_prices())
    uncached = KeystoneAuth(keystone_auth.session, settings.keystone_url, cache_seconds=0)
    with TestClient(create_app(usage_store, sheet, keystone_auth)) as cached_client:
        assert cached_client.get("/v1/projects", headers={"X-Auth-Token": token}).is_success
        revoked = sess.delete(
            f"{settings.keystone_url}/auth/tokens", headers={"X-Subject-Token": token}
        )
        assert revoked.status_code == 204
        assert cached_client.get("/v1/projects", headers={"X-Auth-Token": token}).is_success
    with TestClient(create_app(usage_store, sheet, uncached)) as fresh:
        assert fresh.get("/v1/projects", headers={"X-Auth-Token": token}).status_code == 401


# -- Keystone down or slow: 503, not 500 -------------------------------------------------------


def _clouds_yaml(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "clouds.yaml"
    auth = {
        "auth_url": f"http://127.0.0.1:{port}/v3",
        "username": "svc",
        "password": "s3cret-never-shown",
        "project_name": "service",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    }
    path.write_text(yaml.safe_dump({"clouds": {"gone": {"auth": auth}}}))
    return path


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung Keystone)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("keystone", ["refusing", "silent"])
def test_keystone_down_or_hung_is_503_never_500(
    keystone: str,
    usage_store: Store,
    tmp_path: Path,
    silent_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fastapi.testclient import TestClient

    from stacktender.metering.pricing import load_price_sheet
    from stacktender.web.api import create_app
    from stacktender.web.auth import KeystoneAuth

    port = silent_port if keystone == "silent" else _closed_port()
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(_clouds_yaml(tmp_path, port)))
    auth = KeystoneAuth.from_cloud("gone", timeout=1)
    app = create_app(usage_store, load_price_sheet(example_prices()), auth)
    with TestClient(app) as http:
        answer = http.get("/v1/projects", headers={"X-Auth-Token": "gAAAAABsome-token"})
    assert answer.status_code == 503
    assert answer.json()["detail"].startswith(f"keystone at http://127.0.0.1:{port}/v3")
    assert "s3cret" not in answer.text
