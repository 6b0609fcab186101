"""A real OpenStack control plane on this machine, from PyPI packages.

``TestCloud(state_dir).up()`` installs one release series of keystone, placement,
nova, glance, neutron and cinder into a venv of its own, configures and starts them
under the state directory, and writes ``clouds.yaml`` entries; ``status``, ``down``,
``destroy``, ``logs`` and :func:`stacktender.testcloud.seed.seed` do the rest.
"""

from __future__ import annotations

from stacktender.testcloud.cloud import ServiceStatus, TestCloud, UpResult
from stacktender.testcloud.config import Settings, default_state_dir
from stacktender.testcloud.errors import (
    InstallFailed,
    PortInUse,
    PrerequisiteMissing,
    ServiceFailed,
    TestCloudError,
)

__all__ = [
    "InstallFailed",
    "PortInUse",
    "PrerequisiteMissing",
    "ServiceFailed",
    "ServiceStatus",
    "Settings",
    "TestCloud",
    "TestCloudError",
    "UpResult",
    "default_state_dir",
]
