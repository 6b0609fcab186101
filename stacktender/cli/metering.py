"""`stacktender metering`: Meter usage from OpenStack notifications; rate it; invoice it."""

from __future__ import annotations

import click


@click.group()
def metering() -> None:
    """Meter usage from OpenStack notifications; rate it; invoice it."""


# Rating lives in its own module (its imports are as light as this one's).
from stacktender.cli.metering_invoice import invoice  # noqa: E402

metering.add_command(invoice)

# Ingestion, usage, reconciliation and dead letters (imports as light as this one's).
from stacktender.cli.metering_ingest import consume, dead_letters, reconcile, usage  # noqa: E402

for _command in (consume, usage, reconcile, dead_letters):
    metering.add_command(_command)
