"""Fixtures for the REST API tests: real Keystone tokens of the testcloud's users, a store
holding one known month of usage per seeded project, and the app over both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from metering_support import Token, example_prices, fill, get_tokens
from testcloud_support import RunningTestCloud

from stacktender.store.db import Store


@pytest.fixture(scope="session")
def tokens(testcloud: RunningTestCloud) -> dict[str, Token]:
    """Fresh Keystone tokens of the admin and of seeded users in three projects."""
    return get_tokens(testcloud.settings)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def usage_store(
    request: pytest.FixtureRequest, tmp_path: Path, tokens: dict[str, Token]
) -> Iterator[Store]:
    """A store (SQLite, then PostgreSQL) holding October's usage of demo, acme and globex."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'api.db'}"
    else:
        from store_fixtures import empty_database

        url = request.getfixturevalue("pg_database")
        empty_database(url)
    store = Store.open(url)
    try:
        fill(store, tokens)
        yield store
    finally:
        store.close()


@pytest.fixture
def keystone_auth(testcloud: RunningTestCloud, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Token validation against the testcloud's Keystone, as the admin service user."""
    from stacktender.web.auth import KeystoneAuth

    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(testcloud.clouds_yaml))
    return KeystoneAuth.from_cloud(testcloud.admin_cloud, timeout=10)


@pytest.fixture
def client(usage_store: Store, keystone_auth: Any) -> Iterator[Any]:
    """An HTTP client of the app (in process, through its ASGI interface)."""
    from fastapi.testclient import TestClient

    from stacktender.metering.pricing import load_price_sheet
    from stacktender.web.api import create_app

    app = create_app(usage_store, load_price_sheet(example_prices()), keystone_auth)
    with TestClient(app) as http:
        yield http
