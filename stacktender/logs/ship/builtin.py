"""The built-in log destinations (OpenSearch, Loki), registered as a plugin."""

from __future__ import annotations

from typing import Any

from stacktender.hookspecs import hookimpl
from stacktender.logs.ship.base import DestinationKind, ShipError


def _opensearch(url: str, *, settings: dict[str, str] | None = None, **options: Any) -> Any:
    from stacktender.logs.ship.opensearch import OpenSearchDestination

    return OpenSearchDestination(url, **_known(settings, {"index_prefix", "pipeline"}), **options)


def _loki(url: str, *, settings: dict[str, str] | None = None, **options: Any) -> Any:
    from stacktender.logs.ship.loki import LokiDestination

    return LokiDestination(url, **_known(settings, {"tenant"}), **options)


def _known(settings: dict[str, str] | None, allowed: set[str]) -> dict[str, Any]:
    settings = dict(settings or {})
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise ShipError(
            f"unknown setting {', '.join(unknown)} (this destination takes: "
            f"{', '.join(sorted(allowed))})"
        )
    return settings


@hookimpl
def stacktender_log_destinations() -> list[DestinationKind]:
    return [
        DestinationKind("opensearch", "OpenSearch bulk API, one index per day", _opensearch),
        DestinationKind("loki", "Loki push API, ids as structured metadata", _loki),
    ]
