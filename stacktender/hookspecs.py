"""Every extension point of stacktender, as typed pluggy hook specifications.

A plugin is a module (or object) with ``@hookimpl`` functions named after these
specs, registered through the entry-point group ``stacktender``. The built-in
checks and renderers are registered exactly that way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from stacktender.checks.base import Check
    from stacktender.logs.ship.base import DestinationKind
    from stacktender.metering.handlers import EventHandler
    from stacktender.purge.model import ResourceType
    from stacktender.render.base import Renderer

PROJECT = "stacktender"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def stacktender_checks() -> list[Check]:
    """Return the checks this plugin provides."""
    raise NotImplementedError


@hookspec
def stacktender_renderers() -> list[Renderer]:
    """Return output formats for check results (``-f NAME``)."""
    raise NotImplementedError


@hookspec
def stacktender_cli_commands() -> list[Any]:
    """Return click commands or groups to add to the ``stacktender`` CLI."""
    raise NotImplementedError


@hookspec
def stacktender_log_destinations() -> list[DestinationKind]:
    """Return kinds of places ``logs ship --to KIND=URL`` can send records to."""
    raise NotImplementedError


@hookspec
def stacktender_metering_handlers() -> list[EventHandler]:
    """Return which notifications ``metering consume`` meters and the state each sets."""
    raise NotImplementedError


@hookspec
def stacktender_purge_resources() -> list[ResourceType]:
    """Return resource types ``purge`` discovers and deletes (one per kind of resource)."""
    raise NotImplementedError
