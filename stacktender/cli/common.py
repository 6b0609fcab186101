"""Shared CLI plumbing: building the App, output options, error handling."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from stacktender.errors import StacktenderError

F = TypeVar("F", bound=Callable[..., Any])

# Exit code for errors in commands that speak the Nagios plugin protocol (UNKNOWN).
NAGIOS_UNKNOWN = 3


class CommandError(click.ClickException):
    """A one-line error of a command's own (exit 1; 3 under ``check``, see run_cli)."""

    def show(self, file: Any = None) -> None:
        click.echo(f"stacktender: error: {self.format_message()}", err=True)


def get_app(ctx: click.Context) -> Any:
    """The App for this invocation, built once from the global options."""
    root = ctx.find_root()
    obj = root.obj or {}
    if "app" not in obj:
        from stacktender.app import App

        app = App.from_path(obj.get("config_path"), os_cloud=obj.get("os_cloud"))
        app.install_log_redaction()
        obj["app"] = app
        root.obj = obj
    return obj["app"]


def output_options(formats: Sequence[str], default: str = "table") -> Callable[[F], F]:
    """``-f/--format`` and ``-c/--column`` as the openstack client has them."""

    def decorate(func: F) -> F:
        func = click.option(
            "-c",
            "--column",
            "columns",
            multiple=True,
            metavar="COLUMN",
            help="Show only this column (repeatable).",
        )(func)
        func = click.option(
            "-f",
            "--format",
            "fmt",
            type=click.Choice(list(formats)),
            default=default,
            show_default=True,
            help="Output format.",
        )(func)
        return func

    return decorate


def run_cli(cli: click.Group, argv: list[str] | None) -> Any:
    """Invoke cli; turn library errors into ``stacktender: error: ...`` and exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    # 'check' is a Nagios plugin: any error it meets must exit UNKNOWN (3), never 1 or 2.
    nagios = _subcommand(args) == "check"
    try:
        return _invoke(cli, args, debug)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
        if nagios and code not in (0, 1, 2, 3):
            code = NAGIOS_UNKNOWN
        if nagios and code != 0 and not _from_check_result(exc):
            code = NAGIOS_UNKNOWN
        raise SystemExit(code) from None


class CheckExit(SystemExit):
    """The exit of 'check' carrying the result's own status code."""


def _from_check_result(exc: SystemExit) -> bool:
    return isinstance(exc, CheckExit)


def _subcommand(args: Sequence[str]) -> str | None:
    takes_value = {"--config", "--os-cloud"}
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in takes_value:
            skip = True
            continue
        if arg.startswith("-"):
            continue
        return arg
    return None


def _invoke(cli: click.Group, args: list[str], debug: bool) -> Any:
    try:
        return cli.main(args=args, prog_name="stacktender", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("stacktender: aborted", err=True)
        return sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        return sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        return sys.exit(exc.exit_code)
    except StacktenderError as exc:
        if debug:
            raise
        from stacktender.secrets import redact

        click.echo(f"stacktender: error: {redact(str(exc))}", err=True)
        return sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("stacktender: interrupted", err=True)
        return sys.exit(130)
    except BrokenPipeError:
        return sys.exit(0)
    except Exception as exc:
        if debug:
            raise
        from stacktender.secrets import redact

        message = redact(f"{type(exc).__name__}: {exc}")
        click.echo(f"stacktender: error: unexpected {message} (--debug shows where)", err=True)
        return sys.exit(1)
