"""What the ``testcloud`` fixture yields (importable by test modules for typing)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacktender.testcloud import Settings, TestCloud
from stacktender.testcloud.catalog import connect


@dataclass
class RunningTestCloud:
    """What a test gets: the cloud, its settings, and how to reach it."""

    cloud: TestCloud
    settings: Settings
    seeded: dict[str, int] = field(default_factory=dict)

    @property
    def clouds_yaml(self) -> Path:
        return self.settings.clouds_yaml

    @property
    def admin_cloud(self) -> str:
        return f"{self.settings.name}-admin"

    @property
    def demo_cloud(self) -> str:
        return f"{self.settings.name}-demo"

    @property
    def env(self) -> dict[str, str]:
        """Environment for ``openstack``/``stacktender`` subprocesses to find the clouds."""
        return {"OS_CLIENT_CONFIG_FILE": str(self.clouds_yaml)}

    def connect(self, who: str = "admin", **kwargs: Any) -> Any:
        """An openstacksdk Connection (admin or demo, or user=/password=/project=)."""
        return connect(self.settings, who, **kwargs)


def free_port_base(span: int = 10) -> int:
    """A port such that it and the next span-1 ports are free (for a second cloud)."""
    import random

    from stacktender.testcloud.process import port_free

    for _ in range(200):
        base = random.randrange(30000, 60000)
        if all(port_free(base + i) for i in range(span)):
            return base
    raise RuntimeError("no block of free ports found")


def fake_venv(settings: Settings) -> None:
    """The files render_configs copies out of an installed venv."""
    for project, name in (
        ("nova", "api-paste.ini"),
        ("neutron", "api-paste.ini"),
        ("cinder", "api-paste.ini"),
        ("cinder", "resource_filters.json"),
        ("glance", "glance-api-paste.ini"),
    ):
        path = settings.venv / "etc" / project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("[composite:x]\n")
