"""The contract between the shipper and a destination: records in, acknowledgement out.

A destination is anything with a ``name`` and a ``send(records)`` method. ``send``
returns only once the destination has durably accepted the batch; the shipper
advances its checkpoints after that and never before. It reports trouble by raising:

* :class:`DeliveryError`: the batch was not (or not known to be) accepted. Nothing
  advances; the same records are offered again later (in follow mode after a pause,
  otherwise on the next run). ``retryable`` says whether waiting can help.
* :class:`RejectedRecords`: the batch was accepted except the listed records, which
  the destination will never take (a mapping conflict, an invalid field). The shipper
  counts them as failed, writes them to the rejected file in its state directory and
  moves on, so one bad record cannot block a file forever.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from stacktender.errors import StacktenderError
from stacktender.logs.record import LogRecord

__all__ = [
    "DeliveryError",
    "Destination",
    "DestinationKind",
    "RejectedRecords",
    "ShipError",
    "ShipRecord",
    "destination_kinds",
]


class ShipError(StacktenderError):
    """Shipping cannot start or go on: unusable state directory, bad option, lock held."""


class DeliveryError(ShipError):
    """A destination did not accept a batch; no checkpoint moved past it."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable
        # set by ship() before the error leaves it: what was delivered up to here
        self.report: object | None = None


class RejectedRecords(ShipError):
    """A destination accepted a batch except these records, which it refuses for good."""

    def __init__(self, rejected: Sequence[tuple[int, str]], message: str = "") -> None:
        self.rejected = list(rejected)
        """(index in the batch, reason) of each refused record."""
        super().__init__(message or f"{len(self.rejected)} record(s) rejected")


@dataclass(frozen=True, slots=True)
class ShipRecord:
    """A parsed record with the identity that makes a replay harmless.

    ``id`` is a digest of the file's generation (a name drawn when the file was first
    seen, kept in its checkpoint and inherited by a rotated or compressed copy that
    continues it) and of the record's byte offset. The same line therefore gets the
    same id however often it is sent, under any of the file's names, and two files
    never share ids. Destinations that can upsert by id (OpenSearch) turn a replay
    into an overwrite.
    """

    record: LogRecord
    id: str
    offset: int
    """Byte offset of the record's first line in the (decompressed) file."""


@runtime_checkable
class Destination(Protocol):
    """Where shipped records go. Implement these two members to add a destination."""

    name: str
    """Stable, file-name-safe identifier; names the destination's checkpoint file."""

    def send(self, records: Sequence[ShipRecord]) -> None:
        """Deliver records, returning only when the destination acknowledged them."""
        ...


@dataclass(frozen=True)
class DestinationKind:
    """A kind of destination a plugin offers to ``logs ship --to NAME=URL``.

    ``open(url, **options)`` returns a Destination (a context manager if it holds
    connections); ``options`` are the CLI's common ones: username, password, token,
    verify, timeout, and ``settings`` (``--set KEY=VALUE`` pairs for the kind's own).
    """

    name: str
    description: str
    open: Callable[..., Destination]


def destination_kinds(plugin_manager: Any) -> dict[str, DestinationKind]:
    """Every destination kind the installed plugins offer, by name (first wins)."""
    kinds: dict[str, DestinationKind] = {}
    for batch in plugin_manager.hook.stacktender_log_destinations():
        for kind in batch or []:
            kinds.setdefault(kind.name, kind)
    return kinds
