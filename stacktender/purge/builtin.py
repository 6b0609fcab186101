"""The built-in purge resource types, registered as a plugin (entry point ``purge``)."""

from __future__ import annotations

from stacktender.hookspecs import hookimpl
from stacktender.purge.model import ResourceType


@hookimpl
def stacktender_purge_resources() -> list[ResourceType]:
    """nova, cinder, glance and neutron; heat, octavia and swift when the catalog has them."""
    from stacktender.purge.services import block_storage, compute, extra, image, network

    return [
        *extra.TYPES,
        *compute.TYPES,
        *block_storage.TYPES,
        *image.TYPES,
        *network.TYPES,
    ]
