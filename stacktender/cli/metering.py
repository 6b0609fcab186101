"""`stacktender metering`: Meter usage from OpenStack notifications; rate it; invoice it."""

from __future__ import annotations

import click


@click.group()
def metering() -> None:
    """Meter usage from OpenStack notifications; rate it; invoice it."""
