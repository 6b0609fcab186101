"""Pre-checks: the services' own ``*-status upgrade check`` tools, run and parsed.

Each tool (oslo.upgradecheck) prints a table of checks with Success, Warning or Failure,
or JSON with ``--json`` where the service's command accepts it; it exits with the worst
result (0, 1, 2) or 255 when a check crashed. Here the tool runs from a service venv (or
a prefix such as /usr) with the service's config files, under a timeout, and its output
becomes :class:`StatusReport` data for the ``openstack-upgrade-check`` check plugin and
``stacktender upgrade check``. Service version skew is not computed here: the
``openstack-nova-versions`` check (stacktender.checks.openstack) reads it from the nova
cell database, and ``version_skew`` runs that check.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacktender.errors import ConfigError, ServiceUnreachable
from stacktender.results import CheckResult

__all__ = [
    "RESULTS",
    "TOOLS",
    "PrecheckSpec",
    "StatusReport",
    "UpgradeCheck",
    "parse_output",
    "run_prechecks",
    "run_status_check",
    "testcloud_specs",
    "version_skew",
]

# service -> whether its ``upgrade check`` takes --json (nova's own CLI rejects it and
# placement's ignores it; both print the table).
TOOLS: dict[str, bool] = {
    "keystone": True,
    "glance": True,
    "placement": False,
    "cinder": True,
    "neutron": True,
    "nova": False,
}

# oslo.upgradecheck's result codes and names
RESULTS = {0: "Success", 1: "Warning", 2: "Failure"}

# The testcloud's config file for each tool (the ones its -manage commands use).
_TESTCLOUD_CONFIG = {
    "keystone": "keystone/keystone.conf",
    "glance": "glance/glance-api.conf",
    "placement": "placement/placement.conf",
    "cinder": "cinder/cinder-manage.conf",
    "neutron": "neutron/neutron-manage.conf",
    "nova": "nova/nova-manage.conf",
}


@dataclass(frozen=True)
class UpgradeCheck:
    """One line of a tool's answer: the check's name, Success/Warning/Failure, details."""

    name: str
    result: str
    details: str = ""


@dataclass(frozen=True)
class PrecheckSpec:
    """How to run one service's tool: from which prefix, with which config."""

    service: str
    prefix: Path
    config_files: tuple[Path, ...] = ()
    config_dir: Path | None = None

    @property
    def tool(self) -> Path:
        return self.prefix / "bin" / f"{self.service}-status"

    def command(self) -> list[str]:
        cmd = [str(self.tool)]
        for path in self.config_files:
            cmd += ["--config-file", str(path)]
        if self.config_dir is not None:
            cmd += ["--config-dir", str(self.config_dir)]
        cmd += ["upgrade", "check"]
        if TOOLS.get(self.service):
            cmd.append("--json")
        return cmd


@dataclass
class StatusReport:
    """What one tool said: its checks, exit code, and an error when it gave no checks."""

    service: str
    command: list[str]
    exit_code: int
    checks: list[UpgradeCheck] = field(default_factory=list)
    error: str = ""
    duration: float = 0.0

    @property
    def worst(self) -> str:
        """Failure, Warning or Success, or Error when the tool gave no usable answer."""
        if self.error or not self.checks:
            return "Error"
        names = {c.result for c in self.checks}
        return next((r for r in ("Failure", "Warning") if r in names), "Success")

    def rows(self) -> list[dict[str, Any]]:
        if self.error or not self.checks:
            return [
                {
                    "service": self.service,
                    "check": f"{self.service}-status upgrade check",
                    "result": "Error",
                    "details": self.error,
                    "duration": round(self.duration, 2),
                }
            ]
        return [
            {
                "service": self.service,
                "check": c.name,
                "result": c.result,
                "details": c.details,
                "duration": round(self.duration, 2),
            }
            for c in self.checks
        ]


COLUMNS = ("service", "check", "result", "details", "duration")

# -- parsing --------------------------------------------------------------------------------

_BORDER = re.compile(r"^\+-+\+$")
_FIELD = re.compile(r"^(Check|Result|Details):\s?(.*)$")


def parse_output(text: str) -> list[UpgradeCheck]:
    """The checks in a tool's stdout: its ``--json`` object or its table (empty if none)."""
    for line in text.splitlines():
        if line.startswith("{") and '"checks"' in line:
            try:
                data = json.loads(line)
            except ValueError:
                continue
            return [
                UpgradeCheck(
                    str(item.get("check", "?")),
                    RESULTS.get(int(item.get("result", 3)), f"code {item.get('result')}"),
                    " ".join(str(item.get("details") or "").split()),
                )
                for item in data.get("checks", [])
            ]
    return _parse_table(text)


def _parse_table(text: str) -> list[UpgradeCheck]:
    checks: list[UpgradeCheck] = []
    current: dict[str, str] = {}
    last = ""

    def flush() -> None:
        if "Check" in current:
            details = " ".join(current.get("Details", "").split())
            checks.append(
                UpgradeCheck(
                    current["Check"],
                    current.get("Result", "?"),
                    "" if details == "None" else details,
                )
            )
        current.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if _BORDER.match(line):
            flush()
            continue
        if not (line.startswith("|") and line.endswith("|")):
            continue
        cell = line[1:-1].strip()
        match = _FIELD.match(cell)
        if match:
            last = match.group(1)
            current[last] = match.group(2).strip()
        elif last and cell:
            # a long value wraps onto the following rows of the same cell
            # (prettytable breaks long words after a hyphen: join those without a space)
            joiner = "" if current[last].endswith("-") else " "
            current[last] = f"{current[last]}{joiner}{cell}"
    flush()
    return checks


# -- running --------------------------------------------------------------------------------


_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit): .+")


def _last_line(*texts: str) -> str:
    """The reason a tool gave: the last exception line of a traceback, else its last line
    (stdout first: oslo.upgradecheck prints a crashed check's traceback there)."""
    lines = [ln.strip() for text in texts for ln in text.splitlines() if ln.strip()]
    found = [ln for ln in lines if _EXCEPTION.match(ln)]
    if found:
        return found[-1][:300]
    return lines[-1][:300] if lines else ""


def run_status_check(spec: PrecheckSpec, timeout: float = 60.0) -> StatusReport:
    """Run one service's ``<service>-status upgrade check`` and parse what it says.

    ConfigError when the tool is not installed under the prefix; ServiceUnreachable when
    it does not finish in time. A tool that runs but gives no checks (a crash, a
    traceback, a config problem) is a report with ``error`` set.
    """
    if spec.service not in TOOLS:
        raise ConfigError(f"unknown service {spec.service!r} (known: {', '.join(TOOLS)})")
    if not spec.tool.exists():
        raise ConfigError(f"{spec.tool} does not exist (is {spec.service} installed there?)")
    for path in spec.config_files:
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file")
    cmd = spec.command()
    started = time.monotonic()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise ServiceUnreachable(
            f"{spec.service}-status upgrade check did not finish within {timeout:g}s"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{spec.tool}: cannot run: {exc}") from None
    report = StatusReport(
        spec.service,
        cmd,
        proc.returncode,
        parse_output(proc.stdout),
        "",
        time.monotonic() - started,
    )
    if not report.checks:
        reason = _last_line(proc.stdout, proc.stderr) or "no output"
        report.error = f"{spec.tool.name} exited {proc.returncode} with no results: {reason}"
    elif proc.returncode not in (0, 1, 2):
        report.error = f"{spec.tool.name} exited {proc.returncode}: {_last_line(proc.stderr)}"
    return report


def run_prechecks(
    specs: Sequence[PrecheckSpec], timeout: float = 60.0, workers: int = 2
) -> list[StatusReport]:
    """Run several services' tools (``workers`` at once); a tool that fails to run becomes
    a report with its error, so one service never hides the others."""

    def one(spec: PrecheckSpec) -> StatusReport:
        try:
            return run_status_check(spec, timeout)
        except (ConfigError, ServiceUnreachable) as exc:
            return StatusReport(spec.service, spec.command(), -1, error=str(exc))

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(one, specs))


def testcloud_specs(
    services: Iterable[str] | None = None, state_dir: Path | None = None
) -> list[PrecheckSpec]:
    """Specs for the testcloud's services: its venv and the config files its -manage
    commands use. ConfigError when no testcloud is set up."""
    from stacktender.testcloud.config import Settings, default_state_dir

    state = state_dir or default_state_dir()
    settings = Settings.load(state)
    if settings is None:
        raise ConfigError(f"no testcloud at {state}: pass --venv and --config SERVICE=PATH")
    out = []
    for service in services or TOOLS:
        if service not in TOOLS:
            raise ConfigError(f"unknown service {service!r} (known: {', '.join(TOOLS)})")
        config = settings.etc / _TESTCLOUD_CONFIG[service]
        out.append(PrecheckSpec(service, settings.venv, (config,)))
    return out


def version_skew(nova_db_url: str, timeout: float = 10.0) -> CheckResult:
    """The ``openstack-nova-versions`` check (service version skew in a nova cell database)."""
    from stacktender.checks.openstack import CHECKS
    from stacktender.checks.runner import resolve_instance, run_instance
    from stacktender.config import Config

    check = next(c for c in CHECKS if c.name == "openstack-nova-versions")
    instance = resolve_instance(check, Config(), url=nova_db_url, timeout=timeout)
    return run_instance(instance)
