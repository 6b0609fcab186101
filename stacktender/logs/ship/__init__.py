"""Ship parsed log records to OpenSearch or Loki, resuming from per-file checkpoints.

Usage::

    from stacktender.logs.ship import OpenSearchDestination, ship

    with OpenSearchDestination("https://admin:secret@opensearch:9200") as dest:
        report = ship(["/var/log/nova"], dest, state_dir="/var/lib/stacktender/ship")
    print(report.sent, report.failed, report.skipped)

``ship`` reads each file from its checkpoint, parses complete lines, sends batches
and advances a file's checkpoint only after the destination acknowledged the batch,
so a restart neither loses nor repeats a line. A destination is any object with a
``name`` and a ``send(records)`` method (:class:`Destination`); raise
:class:`DeliveryError` when a batch did not get through and :class:`RejectedRecords`
for records the destination refuses for good.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stacktender.logs.ship.base import (
        DeliveryError,
        Destination,
        DestinationKind,
        RejectedRecords,
        ShipError,
        ShipRecord,
    )
    from stacktender.logs.ship.checkpoint import Checkpoint, CheckpointStore
    from stacktender.logs.ship.loki import LokiDestination
    from stacktender.logs.ship.opensearch import OpenSearchDestination
    from stacktender.logs.ship.report import FileReport, ShipReport
    from stacktender.logs.ship.shipper import ship

# Imported on first use: the built-in destinations plugin lives in this package, and
# loading plugins (every `stacktender check`) must not import the shipper and httpx.
_HOMES = {
    "DeliveryError": "base",
    "Destination": "base",
    "DestinationKind": "base",
    "RejectedRecords": "base",
    "ShipError": "base",
    "ShipRecord": "base",
    "Checkpoint": "checkpoint",
    "CheckpointStore": "checkpoint",
    "LokiDestination": "loki",
    "OpenSearchDestination": "opensearch",
    "FileReport": "report",
    "ShipReport": "report",
    "ship": "shipper",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    "Checkpoint",
    "CheckpointStore",
    "DeliveryError",
    "Destination",
    "DestinationKind",
    "FileReport",
    "LokiDestination",
    "OpenSearchDestination",
    "RejectedRecords",
    "ShipError",
    "ShipRecord",
    "ShipReport",
    "ship",
]
