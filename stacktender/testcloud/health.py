"""Is the testcloud healthy? APIs answering, services and agents reporting up."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa

from stacktender.testcloud.config import Settings
from stacktender.testcloud.releases import compute_groups

__all__ = ["RegisteredState", "api_answers", "registered_state", "wait_until"]


def api_answers(url: str, timeout: float = 5.0) -> bool:
    """The API at url sends any HTTP answer below 500 (its version document)."""
    try:
        return httpx.get(url, timeout=timeout).status_code < 500
    except httpx.HTTPError:
        return False


def wait_until(
    predicate: Callable[[], bool],
    timeout: float,
    interval: float = 0.5,
    abort: Callable[[], None] | None = None,
) -> bool:
    """Poll predicate until true (True) or timeout (False); abort() may raise early."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if abort is not None:
            abort()
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


@dataclass
class RegisteredState:
    """What the cloud's own APIs say about its services (host -> up/down)."""

    nova: dict[tuple[str, str], str] = field(default_factory=dict)  # (binary, host) -> state
    cinder: dict[tuple[str, str], str] = field(default_factory=dict)
    agents: dict[str, bool] = field(default_factory=dict)  # host -> alive
    mapped_hosts: set[str] = field(default_factory=set)

    def missing(self, settings: Settings) -> list[str]:
        """Expected registrations that are absent or down, as ``binary@host``."""
        hosts = [h for _, group in compute_groups(settings.compute_hosts) for h in group]
        expected_nova: list[tuple[str, str | None]] = [
            ("nova-conductor", None),
            ("nova-scheduler", None),
        ]
        expected_nova += [("nova-compute", h) for h in hosts]
        out = []
        for binary, host in expected_nova:
            states = [s for (b, h), s in self.nova.items() if b == binary and host in (None, h)]
            if "up" not in states:
                out.append(f"{binary}@{host or '*'}")
        for binary in ("cinder-scheduler", "cinder-volume"):
            if "up" not in [s for (b, _), s in self.cinder.items() if b == binary]:
                out.append(f"{binary}@*")
        out += [f"neutron-openvswitch-agent@{h}" for h in hosts if not self.agents.get(h)]
        out += [f"cell mapping@{h}" for h in hosts if h not in self.mapped_hosts]
        return out


def registered_state(settings: Settings, conn: Any) -> RegisteredState:
    """Ask nova, cinder and neutron (and the nova API database for host mappings)."""
    state = RegisteredState()
    for svc in conn.compute.services():
        state.nova[(svc.binary, svc.host)] = svc.state
    for svc in conn.block_storage.services():
        state.cinder[(svc.binary, svc.host)] = svc.state
    for agent in conn.network.agents():
        if agent.agent_type == "Open vSwitch agent":
            state.agents[agent.host] = bool(agent.is_alive)
    state.mapped_hosts = mapped_hosts(settings)
    return state


def mapped_hosts(settings: Settings) -> set[str]:
    """Compute hosts mapped to a cell (nova's scheduler discovers them periodically)."""
    from stacktender.testcloud.database import _engine

    engine = _engine(settings.server_url("nova"))
    table = f"{settings.name}_nova_api"
    quote = '"' if engine.dialect.name == "postgresql" else "`"
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                url = engine.url.set(database=table)
                with sa.create_engine(url, poolclass=sa.pool.NullPool).connect() as pg:
                    rows = pg.execute(sa.text("SELECT host FROM host_mappings"))
                    return {r[0] for r in rows}
            rows = conn.execute(sa.text(f"SELECT host FROM {quote}{table}{quote}.host_mappings"))
            return {r[0] for r in rows}
    except sa.exc.SQLAlchemyError:
        return set()
