"""Fixtures of the shipping tests: fake OpenSearch and Loki servers on free ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from ship_support import FakeLoki, FakeOpenSearch, FakeServer, Handler


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], FakeServer]]:
    """Start fake servers with the given handlers; stopped after the test."""
    started: list[FakeServer] = []

    def start(handler: Handler) -> FakeServer:
        server = FakeServer(handler).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def opensearch(serve: Callable[[Handler], FakeServer]) -> tuple[FakeOpenSearch, FakeServer]:
    fake = FakeOpenSearch()
    return fake, serve(fake)


@pytest.fixture
def loki(serve: Callable[[Handler], FakeServer]) -> tuple[FakeLoki, FakeServer]:
    fake = FakeLoki()
    return fake, serve(fake)
