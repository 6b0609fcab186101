"""``stacktender upgrade``: the group; each sub-command lives in its own module."""

from __future__ import annotations

import importlib
import importlib.util

import click

# name -> (module:attribute, one-line help); imported only when run.
COMMANDS: dict[str, tuple[str, str]] = {
    "plan": ("stacktender.cli.upgrade_plan:plan", "Ordered upgrade steps for this cloud."),
    "config-diff": (
        "stacktender.cli.upgrade_config:config_diff",
        "What a config file's options become in another release.",
    ),
    "db-status": (
        "stacktender.cli.upgrade_db:db_status",
        "Migration state of each service database.",
    ),
    "check": (
        "stacktender.cli.upgrade_db:upgrade_check",
        "Run the services' own upgrade checks (nova-status upgrade check, ...).",
    ),
    "galera-rolling": (
        "stacktender.cli.upgrade_galera:galera_rolling",
        "Restart or upgrade a Galera cluster one node at a time (Ansible).",
    ),
    "rehearse": (
        "stacktender.cli.upgrade_rehearse:rehearse",
        "Run a release's migrations on a copy of a service database.",
    ),
}


def _available(name: str) -> bool:
    module = COMMANDS[name][0].partition(":")[0]
    return importlib.util.find_spec(module) is not None


class _UpgradeGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if _available(name)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS or not _available(name):
            return None
        module_name, _, attr = COMMANDS[name][0].partition(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_UpgradeGroup)
def upgrade() -> None:
    """Plan, check, diff and rehearse OpenStack upgrades.

    \b
    Examples:
      stacktender upgrade config-diff --service nova --config /etc/nova/nova.conf --to 2025.2
      stacktender upgrade db-status
      stacktender upgrade galera-rolling --hosts db1,db2,db3 --check
    """
