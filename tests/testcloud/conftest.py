"""The ``testcloud`` fixture: a real local OpenStack, brought up once per test run.

It reuses a healthy cloud (``up`` is a no-op then) in ``$STACKTENDER_TESTCLOUD_DIR`` or
the default state directory, seeds it (idempotent), and is left running afterwards so
the next run starts in seconds. Tests that stop a service must start it again
(``testcloud.cloud.up()``) before they end.

Use in a test::

    @pytest.mark.testcloud
    def test_something(testcloud):
        conn = testcloud.connect()                 # openstacksdk, as admin
        subprocess.run(["openstack", "--os-cloud", testcloud.admin_cloud, ...],
                       env={**os.environ, **testcloud.env})
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from testcloud_support import RunningTestCloud

from stacktender.testcloud import TestCloud, default_state_dir
from stacktender.testcloud.seed import seed

# Resolved at import, before the suite's per-test isolated $HOME/$XDG_* take effect.
STATE_DIR = Path(os.environ.get("STACKTENDER_TESTCLOUD_DIR") or default_state_dir())


def _progress(message: str) -> None:
    sys.stderr.write(f"[testcloud] {message}\n")


@pytest.fixture(scope="session")
def testcloud() -> Iterator[RunningTestCloud]:
    """The local OpenStack, up and seeded (reused when already healthy)."""
    cloud = TestCloud(STATE_DIR, progress=_progress)
    cloud.up()
    seeded = seed(cloud)
    yield RunningTestCloud(cloud, cloud.settings(), seeded)
