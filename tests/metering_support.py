"""Shared by the rating, API and CLI tests: real Keystone tokens of the testcloud's users
and one known month of usage per project, priced by the shipped example sheet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from stacktender.metering.events import UsageEvent
from stacktender.metering.records import Meter
from stacktender.store.db import Store
from stacktender.testcloud import Settings

PERIOD = "2026-10"  # a whole month in the past: nothing is clipped at "now"
GIB = 1024**3
# (user, project, password key in settings.passwords) of each token the tests use
USERS = {
    "admin": ("admin", "admin", "admin"),
    "demo": ("demo", "demo", "demo"),
    "alice": ("alice", "acme", "seed"),
    "carol": ("carol", "acme", "seed"),  # reader only
    "bob": ("bob", "globex", "seed"),
}


@dataclass(frozen=True)
class Token:
    id: str
    project_id: str
    project_name: str


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 10, day, hour, tzinfo=UTC)


def month_of_usage(project_id: str, prefix: str) -> list[UsageEvent]:
    """One project's October: priced at 2.62 EUR by the example sheet (see test_api)."""
    n = iter(range(100))

    def ev(meter: Meter, resource: str, when: datetime, **kw: Any) -> UsageEvent:
        return UsageEvent(
            message_id=f"{prefix}-{next(n)}",
            meter=meter,
            resource_id=f"{prefix}-{resource}",
            occurred_at=when,
            event_type="test",
            project_id=project_id,
            user_id="u",
            **kw,
        )

    return [
        # m1.tiny active 10 h: 0.10
        ev(Meter.INSTANCE, "vm1", at(1), flavor="m1.tiny", state="active"),
        ev(Meter.INSTANCE, "vm1", at(1, 10), deleted=True),
        # m1.small 12 h active (0.48) and 12 h stopped at 25 % (0.12)
        ev(Meter.INSTANCE, "vm2", at(2), flavor="m1.small", state="active"),
        ev(Meter.INSTANCE, "vm2", at(2, 12), state="stopped"),
        ev(Meter.INSTANCE, "vm2", at(3), deleted=True),
        # 10 GB volume, no type, 720 h: 7200 GB-hours x 0.0001 = 0.72
        ev(Meter.VOLUME, "vol", at(1), size_bytes=10 * GIB),
        ev(Meter.VOLUME, "vol", at(31), deleted=True),
        # floating IP 240 h x 0.005 = 1.20
        ev(Meter.FLOATING_IP, "fip", at(1)),
        ev(Meter.FLOATING_IP, "fip", at(11), deleted=True),
    ]


def example_prices() -> Path:
    return Path(str(resources.files("stacktender") / "data/metering/prices.example.yaml"))


def fill(store: Store, tokens: dict[str, Token]) -> None:
    from stacktender.metering.storage import write_batch

    for who in ("demo", "alice", "bob"):
        write_batch(store, month_of_usage(tokens[who].project_id, who))


def get_tokens(settings: Settings) -> dict[str, Token]:
    """Fresh Keystone tokens of the admin and of seeded users in three projects."""
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    out = {}
    for who, (user, project, password) in USERS.items():
        auth = v3.Password(
            auth_url=settings.keystone_url,
            username=user,
            password=settings.passwords[password],
            project_name=project,
            user_domain_id="default",
            project_domain_id="default",
        )
        sess = session.Session(auth=auth, timeout=30)
        out[who] = Token(sess.get_token(), auth.get_project_id(sess), project)
    return out
