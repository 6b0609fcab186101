"""`stacktender api`: Serve the REST API."""

from __future__ import annotations

import click


@click.group()
def api() -> None:
    """Serve the REST API."""
