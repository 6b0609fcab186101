"""``export``: monitoring configuration for other tools, built from the installed checks."""

from __future__ import annotations

import os
import sys
import tempfile

import click

from stacktender.cli.common import CommandError, get_app


@click.group()
def export() -> None:
    """Write monitoring configuration for other tools."""


@export.command("icinga")
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    help="Write to FILE (replaced atomically) instead of standard output.",
)
@click.option(
    "--command",
    "command_path",
    metavar="PATH",
    help="Absolute path of stacktender for Icinga to run (default: this installation's).",
)
@click.pass_context
def icinga(ctx: click.Context, output: str | None, command_path: str | None) -> None:
    """Icinga 2 CheckCommand objects for every installed check (built-in and plugins).

    Each check NAME becomes CheckCommand "stacktender-NAME"; its settings are custom
    variables stacktender_NAME_url, _timeout, _<threshold>_warning, _<threshold>_critical
    and _<option> (hyphens in NAME become underscores). See docs/monitoring.md.

    \b
    Examples:
      stacktender export icinga -o /etc/icinga2/conf.d/stacktender-commands.conf
      stacktender export icinga --command /opt/stacktender/bin/stacktender
    """
    from stacktender.monitoring.icinga import icinga_config

    app = get_app(ctx)
    text = icinga_config(app.checks.values(), _command(command_path))
    if output is None:
        click.echo(text, nl=False)
        return
    _write_atomically(output, text)
    click.echo(f"wrote {len(app.checks)} CheckCommands to {output}", err=True)


@export.command("prometheus-rules")
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    help="Write to FILE (replaced atomically) instead of standard output.",
)
def prometheus_rules(output: str | None) -> None:
    """Prometheus alerting rules for stacktender's metrics (the file shipped in the package).

    \b
    Examples:
      stacktender export prometheus-rules -o /etc/prometheus/rules/stacktender-rules.yml
      promtool check rules /etc/prometheus/rules/stacktender-rules.yml
    """
    from stacktender.monitoring.prometheus import rules_text

    text = rules_text()
    if output is None:
        click.echo(text, nl=False)
        return
    _write_atomically(output, text)
    click.echo(f"wrote the alerting rules to {output}", err=True)


def _command(given: str | None) -> str:
    """The stacktender path Icinga should run: --command, else this very script."""
    if given is not None:
        if not os.path.isabs(given):
            raise CommandError(f"--command {given!r} must be an absolute path")
        if not os.access(given, os.X_OK):
            click.echo(f"stacktender: warning: {given} is not executable here", err=True)
        return given
    # Run as the console script: argv[0] is the very file Icinga should run.
    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0) == "stacktender" and os.path.isfile(argv0):
        return os.path.abspath(argv0)
    from stacktender.monitoring.icinga import find_stacktender

    found = find_stacktender()
    if found is None:
        raise CommandError("cannot find the stacktender script; pass --command PATH")
    return found


def _write_atomically(path: str, text: str) -> None:
    # Icinga may reload at any moment: it must see the old file or the new one, never half.
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".stacktender-", dir=directory)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        os.unlink(tmp)
        raise CommandError(f"cannot write {path}: {exc.strerror}") from None
