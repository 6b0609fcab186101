"""`stacktender purge`: Clean up what deleted or disabled projects leave behind."""

from __future__ import annotations

import click


@click.group()
def purge() -> None:
    """Clean up what deleted or disabled projects leave behind."""
