"""Entry point and command registry of the ``stacktender`` CLI."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from stacktender import __version__

# name -> (module:attribute, one-line help). Imported only when the command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("stacktender.cli.checks:check", "Run one check as a Nagios/Icinga plugin."),
    "sweep": ("stacktender.cli.checks:sweep", "Run every configured check concurrently."),
    "checks": ("stacktender.cli.checks:checks", "List the installed checks."),
    "plugins": ("stacktender.cli.plugins:plugins", "List installed plugins and what they provide."),
    "export": ("stacktender.cli.export:export", "Write monitoring configuration (Icinga 2)."),
    "serve-metrics": (
        "stacktender.cli.metrics:serve_metrics",
        "Serve check results to Prometheus over HTTP.",
    ),
    "history": ("stacktender.cli.history:history", "Show recorded status changes over time."),
    "store": ("stacktender.cli.store:store", "Migrate or prune stacktender's own database."),
    "galera-health": (
        "stacktender.cli.galera:galera_health",
        "HTTP health endpoint of a Galera node for haproxy.",
    ),
    "config": ("stacktender.cli.configcmd:config", "Show or check the configuration."),
    "testcloud": ("stacktender.cli.testcloud:testcloud", "A real local OpenStack for tests."),
    "logs": ("stacktender.cli.logs:logs", "Merge, trace and mine OpenStack logs."),
    "upgrade": ("stacktender.cli.upgrade:upgrade", "Plan, check, diff and rehearse upgrades."),
    "metering": (
        "stacktender.cli.metering:metering",
        "Meter usage from notifications; rate it; invoice it.",
    ),
    "api": ("stacktender.cli.api:api", "Serve the REST API (usage, invoices)."),
    "purge": ("stacktender.cli.purge:purge", "Clean up what deleted projects leave behind."),
}


class LazyGroup(click.Group):
    """A group whose built-in commands are imported on use and whose plugin commands
    come from the ``stacktender_cli_commands`` hook."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self._plugin_commands(ctx)))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            module_name, _, attr = COMMANDS[name][0].partition(":")
            command = getattr(importlib.import_module(module_name), attr)
            assert isinstance(command, click.Command)
            return command
        return self._plugin_commands(ctx).get(name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, help_) in COMMANDS.items()]
        rows += [(n, c.get_short_help_str()) for n, c in self._plugin_commands(ctx).items()]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        cache = ctx.meta.setdefault("stacktender.plugin_commands", None)
        if cache is None:
            try:
                from stacktender.plugins import make_plugin_manager

                # Built-in commands are in COMMANDS; importing stacktender's own check
                # modules here would only slow down every start.
                pm = make_plugin_manager(exclude_packages=("stacktender",))
                cache = {
                    cmd.name: cmd
                    for batch in pm.hook.stacktender_cli_commands()
                    for cmd in batch or []
                    if cmd.name not in COMMANDS
                }
            except Exception as exc:  # a broken plugin must not break the CLI
                click.echo(f"warning: plugin commands unavailable: {exc}", err=True)
                cache = {}
            ctx.meta["stacktender.plugin_commands"] = cache
        return cache


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="STACKTENDER_CONFIG",
    metavar="PATH",
    help="Configuration file (default ~/.config/stacktender/stacktender.yaml).",
)
@click.option("--os-cloud", envvar="OS_CLOUD", metavar="NAME", help="Cloud name in clouds.yaml.")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(__version__, prog_name="stacktender")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, os_cloud: str | None, debug: bool) -> None:
    """Operations toolkit for OpenStack clouds.

    \b
    Examples:
      stacktender check rabbitmq-node
      stacktender sweep -f prometheus
      stacktender checks list -f json
    """
    ctx.obj = {"config_path": config_path, "os_cloud": os_cloud, "debug": debug}
    if debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI; library errors become one line on stderr and a non-zero exit."""
    from stacktender.cli.common import run_cli

    return run_cli(cli, argv)


if __name__ == "__main__":
    sys.exit(main())
