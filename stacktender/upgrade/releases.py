"""Isolated, cached virtual environments holding one release of an OpenStack project.

OpenStack packages never enter stacktender's own environment: each release is installed
with uv into ``~/.cache/stacktender/releases/<package>-<version>`` (created once, reused
after), and helper scripts from ``stacktender/upgrade/runtime/`` run with that
environment's python. An *installed* release is any python that already has the package
(the testcloud's venv, a distribution's ``/usr/bin/python3``, a Kolla or OSA venv).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from stacktender.errors import ConfigError, StacktenderError

__all__ = [
    "PACKAGES",
    "Release",
    "ReleaseError",
    "check_release",
    "default_cache_dir",
    "ensure_release",
    "find_installed",
    "installed_release",
    "package_for",
    "pypi_releases",
    "pypi_versions",
    "resolve_version",
    "run_helper",
]

# service name as operators say it -> distribution name on PyPI
PACKAGES: dict[str, str] = {
    "nova": "nova",
    "keystone": "keystone",
    "glance": "glance",
    "cinder": "cinder",
    "neutron": "neutron",
    "placement": "openstack-placement",
    "heat": "openstack-heat",
    "barbican": "barbican",
    "octavia": "octavia",
    "designate": "designate",
    "manila": "manila",
    "ironic": "ironic",
    "swift": "swift",
    "aodh": "aodh",
    "magnum": "magnum",
}

RUNTIME_DIR = Path(__file__).parent / "runtime"
MARKER = "stacktender-release.json"
# Interpreter for new release venvs: the one the current OpenStack releases test against.
DEFAULT_PYTHON = "3.11"
PYPI = "https://pypi.org/pypi"
# Dependencies are resolved as PyPI stood this long after the release was uploaded: close
# to the series' upper-constraints (which PyPI does not serve), so library options and
# defaults are those the release shipped with, not today's.
DEPENDENCY_WINDOW = timedelta(days=14)
# Constraints tried, in order, when a fresh release venv fails its check: conflicts between
# libraries of one era that upper-constraints would have avoided. pysaml2 (keystone) caps
# pyOpenSSL below 24.3; a resolver that prefers the newest cryptography then falls back to
# pyOpenSSL 22, which does not cap cryptography and uses a binding cryptography 42+ lacks:
# `import OpenSSL`, and so eventlet, fails. pyOpenSSL 24.x caps cryptography itself.
REPAIRS: tuple[tuple[str, ...], ...] = (("pyOpenSSL>=24",),)
# Run in every fresh release venv, whatever the caller's own check: the failure REPAIRS
# mend must be found by the first caller (db-status and rehearse have no check of their
# own, and met a broken `import OpenSSL` when they built the venv).
RUNTIME_PROBE = "import importlib.util as u\nif u.find_spec('OpenSSL'):\n    import OpenSSL\n"
_VERSION_RE = re.compile(r"^\d+(\.\d+)*([a-z0-9.]*)$")


class ReleaseError(StacktenderError):
    """A release environment could not be created or its helper failed."""


@dataclass(frozen=True)
class Release:
    """One release of a package, importable by ``python``."""

    package: str
    version: str
    python: Path
    cached: bool  # True for a venv stacktender created (and may delete)


def default_cache_dir() -> Path:
    """Where release venvs live: ``$STACKTENDER_RELEASE_CACHE`` or the XDG cache dir."""
    env = os.environ.get("STACKTENDER_RELEASE_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stacktender" / "releases"


def package_for(service: str) -> str:
    """The PyPI distribution of a service (``placement`` -> ``openstack-placement``)."""
    try:
        return PACKAGES[service.lower()]
    except KeyError:
        raise ConfigError(
            f"unknown service {service!r} (known: {', '.join(sorted(PACKAGES))})"
        ) from None


def pypi_versions(package: str, index_url: str = PYPI, timeout: float = 20) -> list[str]:
    """Versions of package on PyPI (final releases and pre-releases), oldest first."""
    return sorted(pypi_releases(package, index_url, timeout), key=_version_key)


def pypi_releases(package: str, index_url: str = PYPI, timeout: float = 20) -> dict[str, datetime]:
    """Version -> time its last file was uploaded, for every release of package on PyPI."""
    from stacktender._httpx import import_httpx

    httpx = import_httpx()
    try:
        resp = httpx.get(f"{index_url}/{package}/json", timeout=timeout, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise ReleaseError(f"cannot ask PyPI about {package}: {exc}") from exc
    if resp.status_code == 404:
        raise ConfigError(f"PyPI has no package {package!r}")
    if resp.status_code != 200:
        raise ReleaseError(f"PyPI answered {resp.status_code} for {package}")
    out = {}
    for version, files in resp.json().get("releases", {}).items():
        times = [f["upload_time_iso_8601"] for f in files if f.get("upload_time_iso_8601")]
        if times:
            out[version] = max(datetime.fromisoformat(t.replace("Z", "+00:00")) for t in times)
    return out


def resolve_version(package: str, wanted: str) -> str:
    """A version as given, or for a series (``2025.2``, ``flamingo``) its latest release."""
    text = wanted.strip()
    if _VERSION_RE.match(text) and not re.fullmatch(r"20\d\d\.\d", text):
        return text
    from stacktender.upgrade.series import FIRST_MAJOR, series

    found = series(text)  # ConfigError for a name that is no series
    if package not in FIRST_MAJOR:
        raise ConfigError(f"no series table for {package}: give a version number")
    major = found.major(package)
    finals = [v for v in pypi_versions(package) if re.fullmatch(rf"{major}(\.\d+)+", v)]
    if not finals:
        raise ConfigError(f"PyPI has no release of {package} for {found} ({major}.x)")
    return finals[-1]


def _version_key(version: str) -> tuple[tuple[int, ...], str]:
    nums = re.match(r"^(\d+(?:\.\d+)*)(.*)$", version)
    if not nums:
        return ((), version)
    # "34.0.0" sorts after "34.0.0.0rc1": a final release gets the highest suffix
    return (tuple(int(p) for p in nums.group(1).split(".")), nums.group(2) or "~")


def _uv() -> str:
    beside = Path(sys.executable).parent / "uv"
    if beside.exists():
        return str(beside)
    found = shutil.which("uv")
    if found is None:
        raise ReleaseError("uv is needed to build release environments (pip install uv)")
    return found


def ensure_release(
    package: str,
    version: str,
    cache_dir: Path | None = None,
    python: str = DEFAULT_PYTHON,
    check_pypi: bool = True,
    timeout: float = 900,
    check: Callable[[Release], list[str]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Release:
    """The cached venv holding ``package==version``, created with uv on first use.

    ``check`` (run once per venv, also on one an earlier caller built without it) returns
    problems; when it does, the install is repeated with each of REPAIRS until one passes.
    """
    if not _VERSION_RE.match(version):
        raise ConfigError(f"{version!r} is not a version number (e.g. 33.0.0)")
    root = cache_dir or default_cache_dir()
    target = root / f"{package}-{version}"
    pybin = target / "bin" / "python"
    if (target / MARKER).exists() and pybin.exists():
        release = Release(package, version, pybin, cached=True)
        _check_cached(release, target / MARKER, check, timeout)
        return release
    exclude_newer: str | None = None
    if check_pypi:
        uploaded = check_release(package, version, root)
        if uploaded is not None:
            exclude_newer = (uploaded + DEPENDENCY_WINDOW).strftime("%Y-%m-%dT%H:%M:%SZ")
    root.mkdir(parents=True, exist_ok=True)
    if progress is not None:
        progress(f"installing {package} {version} into {target} (first use)")
    # Build beside the final path and rename into place, so a half-built venv (killed,
    # failed install) is never mistaken for a usable one and two builders do not collide.
    building = root / f".{package}-{version}.{os.getpid()}.building"
    shutil.rmtree(building, ignore_errors=True)
    uv = _uv()
    started = time.monotonic()
    try:
        _run([uv, "venv", "--quiet", "--python", python, str(building)], timeout)
        install = [uv, "pip", "install", "--quiet", "--python", str(building / "bin" / "python")]
        if exclude_newer is not None:
            try:
                _run([*install, "--exclude-newer", exclude_newer, f"{package}=={version}"], timeout)
            except ReleaseError:
                # a dependency of the time has no wheel or sdist that builds here: take today's
                exclude_newer = None
        if exclude_newer is None:
            _run([*install, f"{package}=={version}"], timeout)
        fresh = Release(package, version, building / "bin" / "python", cached=True)
        repaired = _repair(fresh, _with_runtime(check), exclude_newer, timeout)
        (building / MARKER).write_text(
            json.dumps(
                {
                    "package": package,
                    "version": version,
                    "dependencies_as_of": exclude_newer,
                    "repaired_with": repaired,
                    "checked": check is not None,
                    "probed": True,
                    "seconds": round(time.monotonic() - started, 1),
                }
            )
        )
        # uv writes absolute paths into scripts and pyvenv.cfg; renaming the directory keeps
        # `bin/python` working (it resolves its prefix from its own location).
        if target.exists() and not (target / MARKER).exists():
            # never a venv of ours (those appear whole, marker inside): a killed build of an
            # older layout or a hand-made directory; it is in the way
            shutil.rmtree(target)
        try:
            building.rename(target)
        except OSError:
            # another process finished the same release first: use theirs
            if not (target / MARKER).exists():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return Release(package, version, pybin, cached=True)


def runtime_problems(release: Release) -> list[str]:
    """What stops the release's python from running the services' code: RUNTIME_PROBE."""
    proc = subprocess.run(
        [str(release.python), "-I", "-c", RUNTIME_PROBE], capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    if proc.returncode == 0:
        return []
    lines = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
    return [f"{release.package} {release.version}: the runtime probe failed: {lines[-1]}"]


def _with_runtime(
    check: Callable[[Release], list[str]] | None,
) -> Callable[[Release], list[str]]:
    def checked(release: Release) -> list[str]:
        return runtime_problems(release) + (check(release) if check is not None else [])

    return checked


def _repair(
    release: Release, check: Callable[[Release], list[str]], as_of: str | None, timeout: float
) -> list[str]:
    """Run check; while it finds problems, reinstall with the next of REPAIRS. The last
    repair's result is what callers see: nothing more to try."""
    install = [_uv(), "pip", "install", "--quiet", "--python", str(release.python)]
    when = ["--exclude-newer", as_of] if as_of else []
    repaired: list[str] = []
    for extra in REPAIRS:
        if not check(release):
            break
        _run([*install, *when, f"{release.package}=={release.version}", *extra], timeout)
        repaired = list(extra)
    return repaired


def _check_cached(
    release: Release, marker: Path, check: Callable[[Release], list[str]] | None, timeout: float
) -> None:
    """Check (and repair) once a venv built without this caller's check (by another
    caller), or without the runtime probe (by an older stacktender)."""
    try:
        info = json.loads(marker.read_text())
    except ValueError:
        info = {}
    probe = not info.get("probed")
    own = check is not None and not info.get("checked")
    if not probe and not own:
        return
    wanted = check if own else None
    combined = _with_runtime(wanted) if probe else wanted
    assert combined is not None
    info["repaired_with"] = _repair(release, combined, info.get("dependencies_as_of"), timeout)
    info["probed"] = True
    info["checked"] = bool(info.get("checked")) or own
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps(info))
    tmp.replace(marker)


def check_release(package: str, version: str, cache_dir: Path | None = None) -> datetime | None:
    """ConfigError unless the release is cached or on PyPI; its upload time when asked."""
    if not _VERSION_RE.match(version):
        raise ConfigError(f"{version!r} is not a version number (e.g. 33.0.0)")
    if ((cache_dir or default_cache_dir()) / f"{package}-{version}" / MARKER).exists():
        return None
    known = pypi_releases(package)
    if version not in known:
        finals = [v for v in sorted(known, key=_version_key) if re.fullmatch(r"[\d.]+", v)]
        raise ConfigError(
            f"PyPI has no release {version} of {package} (latest: {', '.join(finals[-8:])})"
        )
    return known[version]


def _run(cmd: list[str], timeout: float) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ReleaseError(f"{' '.join(cmd[:3])} took longer than {timeout:.0f}s") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ReleaseError(f"{' '.join(cmd[:3])} failed: {' / '.join(tail)}")


def installed_release(package: str, python: str | Path) -> Release:
    """The release of package importable by an existing python (no venv is created)."""
    pybin = Path(python)
    if pybin.is_dir():
        pybin = pybin / "bin" / "python"
    if not pybin.exists():
        raise ConfigError(f"no python at {pybin}")
    version = _version_in(pybin, package)
    if version is None:
        raise ConfigError(f"{package} is not installed for {pybin}")
    return Release(package, version, pybin, cached=False)


def find_installed(package: str, candidates: list[Path]) -> Release:
    """The first candidate python that has package installed."""
    for candidate in candidates:
        pybin = candidate / "bin" / "python" if candidate.is_dir() else candidate
        if pybin.exists() and (version := _version_in(pybin, package)) is not None:
            return Release(package, version, pybin, cached=False)
    tried = ", ".join(str(c) for c in candidates) or "none"
    raise ConfigError(
        f"no installed {package} found (tried {tried}); name the installed release "
        "with --from VERSION or --installed-python PATH"
    )


def _version_in(python: Path, package: str) -> str | None:
    code = (
        "import importlib.metadata as m, sys\n"
        "try: print(m.version(sys.argv[1]))\n"
        "except m.PackageNotFoundError: pass\n"
    )
    try:
        proc = subprocess.run(
            [str(python), "-I", "-c", code, package], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = proc.stdout.strip()
    return version if proc.returncode == 0 and version else None


def run_helper(release: Release, script: str, *args: str, timeout: float = 300) -> str:
    """Run ``runtime/<script>`` with the release's python; its stdout."""
    path = RUNTIME_DIR / script
    if not path.exists():
        raise ReleaseError(f"no helper script {script}")
    # -I: neither the caller's PYTHONPATH nor the current directory leak into the release
    cmd = [str(release.python), "-I", "-W", "ignore", str(path), *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ReleaseError(f"{script} in {release.package} {release.version} timed out") from exc
    if proc.returncode != 0:
        tail = " / ".join(proc.stderr.strip().splitlines()[-3:])
        raise ReleaseError(f"{script} failed in {release.package} {release.version}: {tail}")
    return proc.stdout
