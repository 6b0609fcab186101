"""Icinga 2 configuration for the installed checks: one ``CheckCommand`` per check.

Every check becomes ``object CheckCommand "stacktender-<check>"`` running
``stacktender check <check>``. Each setting a check understands is a custom variable
named ``stacktender_<check>_<setting>`` (hyphens become underscores), mapped to a
command-line argument that is only passed when the variable is set and not empty:

* ``_url``, ``_host``, ``_port``, ``_timeout`` -> ``--url``, ``-H``, ``-p``, ``-t``
* ``_<threshold>_warning`` / ``_<threshold>_critical`` -> ``-w NAME=RANGE`` / ``-c NAME=RANGE``
* ``_<option>`` -> ``-o NAME=VALUE`` (``_option_<option>`` if that name is taken)

Two variables are shared by every command: ``stacktender_config`` (exported to the plugin
as ``STACKTENDER_CONFIG``) and ``stacktender_timeout`` (the default of each ``_timeout``).
Unset variables leave stacktender's configuration file and the check's defaults in charge.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stacktender import __version__
from stacktender.checks.base import Check
from stacktender.errors import StacktenderError
from stacktender.secrets import mask_url

__all__ = [
    "CONFIG_VAR",
    "TIMEOUT_VAR",
    "CommandArgument",
    "CommandSpec",
    "IcingaExportError",
    "command_spec",
    "find_stacktender",
    "icinga_config",
]

CONFIG_VAR = "stacktender_config"
TIMEOUT_VAR = "stacktender_timeout"
COMMAND_PREFIX = "stacktender-"

_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]")
# Icinga 2 string literals understand these escapes; other control characters become spaces.
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class IcingaExportError(StacktenderError):
    """The checks cannot be expressed as Icinga 2 configuration (clashing names)."""


@dataclass(frozen=True)
class CommandArgument:
    """One command-line argument of a CheckCommand, driven by one custom variable."""

    key: str
    """The flag passed to ``stacktender check``: ``--url``, ``-w``, ``-o``..."""
    var: str
    """The custom variable that supplies the value."""
    prefix: str
    """Literal text before the value: ``connections=`` for ``-w connections=80``."""
    description: str
    order: int
    name: str = ""
    """The threshold or option name, empty for target and timeout arguments."""

    @property
    def slot(self) -> str:
        """The key of this argument in the ``arguments`` dictionary (unique per command)."""
        return f"{self.key} {self.name}" if self.name else self.key


@dataclass(frozen=True)
class CommandSpec:
    """The Icinga 2 CheckCommand of one check: its object name, arguments and default vars."""

    check: Check
    object_name: str
    arguments: tuple[CommandArgument, ...]
    defaults: Mapping[str, str]

    @property
    def variables(self) -> dict[str, str]:
        """Every custom variable the command reads, with what it sets."""
        return {a.var: a.description for a in self.arguments}


def ident(text: str) -> str:
    """text as a custom-variable name fragment: anything but letters, digits and _ becomes _."""
    return _NOT_IDENT.sub("_", text)


def command_spec(check: Check) -> CommandSpec:
    """Describe the CheckCommand of check: which custom variable feeds which argument."""
    base = f"stacktender_{ident(check.name)}"
    args = [
        CommandArgument(
            "--url",
            f"{base}_url",
            "",
            f"Target URL (default {mask_url(check.default_url)})",
            1,
        ),
        CommandArgument("-H", f"{base}_host", "", "Target host, replacing the URL's host", 2),
        CommandArgument("-p", f"{base}_port", "", "Target port, replacing the URL's port", 3),
        CommandArgument(
            "-t",
            f"{base}_timeout",
            "",
            f"Seconds before the check gives up (default ${TIMEOUT_VAR}$, "
            "else the configuration's timeout)",
            4,
        ),
    ]
    for i, spec in enumerate(check.thresholds):
        for flag, level, default in (
            ("-w", "warning", spec.warning),
            ("-c", "critical", spec.critical),
        ):
            args.append(
                CommandArgument(
                    flag,
                    f"{base}_{ident(spec.name)}_{level}",
                    f"{spec.name}=",
                    f"{level.capitalize()} range of {spec.name}: {spec.help} "
                    f"(default {default or 'none'})",
                    10 + 2 * i + (flag == "-c"),
                    spec.name,
                )
            )
    taken = {a.var for a in args}
    for i, (name, default) in enumerate(check.options.items()):
        var = f"{base}_{ident(name)}"
        if var in taken:
            var = f"{base}_option_{ident(name)}"
        help_text = check.option_help.get(name) or f"option {name}"
        args.append(
            CommandArgument(
                "-o",
                var,
                f"{name}=",
                f"{help_text} (default {_show(default)})",
                1000 + i,
                name,
            )
        )
    seen: dict[str, str] = {}
    for arg in args:
        if arg.var in seen:
            raise IcingaExportError(
                f"check {check.name!r}: {arg.slot!r} and {seen[arg.var]!r} "
                f"would share the Icinga variable {arg.var!r}"
            )
        seen[arg.var] = arg.slot
    return CommandSpec(
        check=check,
        object_name=COMMAND_PREFIX + check.name,
        arguments=tuple(args),
        defaults={f"{base}_timeout": f"${TIMEOUT_VAR}$"},
    )


def icinga_config(checks: Iterable[Check], command: str | Sequence[str]) -> str:
    """Icinga 2 DSL defining a CheckCommand for every check in checks.

    command is the absolute path of the ``stacktender`` script (or an argv prefix such as
    ``["/usr/bin/python3", "-m", "stacktender.cli.main"]``).
    """
    prefix = [command] if isinstance(command, str) else list(command)
    if not prefix:
        raise IcingaExportError("no stacktender command to run")
    specs = [command_spec(c) for c in sorted(checks, key=lambda c: c.name)]
    _refuse_clashes(specs)
    lines = [
        f"// Icinga 2 CheckCommands for stacktender {__version__}: one per installed check.",
        "// Generated by 'stacktender export icinga'; regenerate rather than edit.",
        f"// Shared custom variables: {CONFIG_VAR} (configuration file, exported as",
        f"// STACKTENDER_CONFIG) and {TIMEOUT_VAR} (default of every *_timeout).",
        "",
    ]
    for spec in specs:
        lines += _command_object(spec, prefix)
        lines.append("")
    return "\n".join(lines)


def find_stacktender() -> str | None:
    """Absolute path of the ``stacktender`` script of this installation, if there is one:
    the one beside the running Python (a virtualenv's bin/), else the one on PATH."""
    sibling = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "stacktender")
    if os.path.isfile(sibling) and os.access(sibling, os.X_OK):
        return sibling
    found = shutil.which("stacktender")
    return os.path.abspath(found) if found else None


def _refuse_clashes(specs: Sequence[CommandSpec]) -> None:
    owners: dict[str, str] = {}
    for spec in specs:
        for var in [*spec.variables, *spec.defaults]:
            owner = owners.setdefault(var, spec.check.name)
            if owner != spec.check.name:
                raise IcingaExportError(
                    f"checks {owner!r} and {spec.check.name!r} would share the Icinga "
                    f"variable {var!r}; rename one of them"
                )


def _command_object(spec: CommandSpec, prefix: Sequence[str]) -> list[str]:
    check = spec.check
    argv = [*prefix, "check", check.name]
    lines = [
        _comment(f"{check.name}: {check.description}"),
        _comment(f"service {check.service}, default target {mask_url(check.default_url)}"),
        f"object CheckCommand {_string(spec.object_name)} {{",
        f"  command = [ {', '.join(_string(_literal(a)) for a in argv)} ]",
        "  env = {",
        f"    STACKTENDER_CONFIG = {_string(f'${CONFIG_VAR}$')}",
        "  }",
        "  arguments = {",
    ]
    for arg in spec.arguments:
        macro = f"${arg.var}$"
        lines += [
            f"    {_string(arg.slot)} = {{",
            f"      key = {_string(arg.key)}",
            f"      value = {_string(_literal(arg.prefix) + macro)}",
            f'      set_if = {{{{ macro({_string(macro)}) != "" }}}}',
            f"      description = {_string(arg.description)}",
            f"      order = {arg.order}",
            "    }",
        ]
    lines.append("  }")
    for var, value in spec.defaults.items():
        lines.append(f"  vars.{var} = {_string(value)}")
    lines.append("}")
    return lines


def _string(text: str) -> str:
    """text as an Icinga 2 string literal."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(" ")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _literal(text: str) -> str:
    """text that Icinga must not read as a runtime macro: ``$`` doubled."""
    return text.replace("$", "$$")


def _comment(text: str) -> str:
    return "// " + " ".join(text.split())


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
