"""The testcloud's own virtual environment with one OpenStack release from PyPI.

OpenStack service packages never enter stacktender's environment: they go into
``<state>/venv``, installed with uv when it is available (seconds) or pip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import IO

from stacktender.testcloud.config import Settings
from stacktender.testcloud.errors import InstallFailed
from stacktender.testcloud.releases import RELEASES

__all__ = ["PINS_ENV", "install", "is_installed", "parse_pins", "requirements"]

MARKER = ".stacktender-requirements"
PINS_ENV = "STACKTENDER_TESTCLOUD_PINS"


def parse_pins(values: list[str] | tuple[str, ...] | str | None) -> dict[str, str]:
    """``["nova==34.0.0", "cinder==29.0.0"]`` or ``"nova==34.0.0,cinder"`` -> dict."""
    if isinstance(values, str):
        values = [v for v in values.replace(" ", ",").split(",") if v]
    pins: dict[str, str] = {}
    for value in values or ():
        name, _, version = value.partition("==")
        if not name.strip():
            raise InstallFailed(f"bad package pin {value!r}: expected NAME==VERSION")
        pins[name.strip()] = version.strip()
    return pins


def requirements(settings: Settings, overrides: dict[str, str] | None = None) -> list[str]:
    """What goes into the venv: the release's pins, DB driver, then any overrides."""
    try:
        release = RELEASES[settings.release]
    except KeyError:
        known = ", ".join(RELEASES)
        raise InstallFailed(f"unknown release {settings.release!r} (known: {known})") from None
    extra: dict[str, str] = {}
    if settings.db_url.startswith("postgres"):
        extra["psycopg2-binary"] = ""
    env_pins = parse_pins(os.environ.get(PINS_ENV))
    return release.requirements({**extra, **env_pins, **(overrides or {})})


def is_installed(settings: Settings, reqs: list[str]) -> bool:
    marker = settings.venv / MARKER
    return settings.python.exists() and marker.exists() and marker.read_text() == _text(reqs)


def install(settings: Settings, reqs: list[str]) -> None:
    """Create the venv if needed and install reqs into it; InstallFailed names the log."""
    log = settings.logs / "install.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    uv = _find_uv()
    with open(log, "a") as out:
        out.write(f"--- installing {' '.join(reqs)}\n")
        out.flush()
        if not settings.python.exists():
            if uv:
                cmd = [uv, "venv", "-q", "--python", sys.executable, str(settings.venv)]
            else:
                cmd = [sys.executable, "-m", "venv", str(settings.venv)]
            _run(cmd, out, log, "creating the testcloud venv")
        if uv:
            # compiled now, in parallel, rather than by every service's first import
            cmd = [uv, "pip", "install", "--compile-bytecode", "--python", str(settings.python)]
            cmd += reqs
        else:
            cmd = [str(settings.python), "-m", "pip", "install", "--disable-pip-version-check"]
            cmd += reqs
        _run(cmd, out, log, f"installing {_summary(settings, reqs)}")
    (settings.venv / MARKER).write_text(_text(reqs))


def _run(cmd: list[str], out: IO[str], log: Path, what: str) -> None:
    proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        reason = _last_error(log).removeprefix("cause: ")
        raise InstallFailed(f"{what} failed: {reason}; read {log}")


def _last_error(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    for line in reversed(lines):
        if "error" in line.lower() or "because" in line.lower() or "no solution" in line.lower():
            return line.lstrip("\u00d7").strip()[:300]
    return lines[-1][:300] if lines else "no output"


def _summary(settings: Settings, reqs: list[str]) -> str:
    """``OpenStack 2026.2`` plus the pins that differ from the release's."""
    release = RELEASES[settings.release]
    standard = set(release.requirements())
    changed = [r for r in reqs if r not in standard]
    return f"OpenStack {settings.release}" + (f" with {', '.join(changed)}" if changed else "")


def _text(reqs: list[str]) -> str:
    return "\n".join(sorted(reqs)) + "\n"


def _find_uv() -> str | None:
    beside = Path(sys.executable).parent / "uv"
    if beside.exists():
        return str(beside)
    return shutil.which("uv")
