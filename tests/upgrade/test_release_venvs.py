"""Release venvs: built with uv from real PyPI releases (a small one, oslo.config, so a cold
build takes seconds), reused when present, never half-built; helpers run in them."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

from stacktender.errors import ConfigError
from stacktender.upgrade import releases
from stacktender.upgrade.options import load_options
from stacktender.upgrade.releases import (
    MARKER,
    Release,
    ReleaseError,
    ensure_release,
    find_installed,
    installed_release,
    package_for,
    resolve_version,
    run_helper,
    runtime_problems,
)

SMALL = ("oslo.config", "9.6.0")


def test_package_for_services() -> None:
    assert package_for("Nova") == "nova"
    assert package_for("placement") == "openstack-placement"
    with pytest.raises(ConfigError, match=r"unknown service 'nvoa'.*known: .*keystone"):
        package_for("nvoa")


def test_version_strings_are_checked_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a version number"):
        ensure_release("nova", "latest; rm -rf /", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.integration
def test_cold_build_then_warm_reuse(tmp_path: Path) -> None:
    started = time.monotonic()
    release = ensure_release(*SMALL, cache_dir=tmp_path)
    cold = time.monotonic() - started
    assert release == Release(
        "oslo.config", "9.6.0", tmp_path / "oslo.config-9.6.0/bin/python", True
    )
    marker = json.loads((tmp_path / "oslo.config-9.6.0" / MARKER).read_text())
    # dependencies as PyPI stood two weeks after the release (2024-08), not today's
    assert marker["dependencies_as_of"].startswith("2024-")
    assert [p.name for p in tmp_path.iterdir()] == ["oslo.config-9.6.0"]  # no build leftovers

    started = time.monotonic()
    again = ensure_release(*SMALL, cache_dir=tmp_path)
    warm = time.monotonic() - started
    assert again == release and warm < 0.5 < cold

    options = load_options(release)
    assert options.version == "9.6.0" and options.namespaces == ["oslo.config"]
    assert options.get("DEFAULT", "config_file") is not None
    # the metadata is cached beside the venv and read from there next time
    (cache,) = (tmp_path / "oslo.config-9.6.0").glob("stacktender-options-oslo.config-*.json")
    data = json.loads(cache.read_text())
    data["version"] = "from-the-cache"
    cache.write_text(json.dumps(data))
    assert load_options(release).version == "from-the-cache"
    assert load_options(release, use_cache=False).version == "9.6.0"


@pytest.mark.integration
def test_a_half_built_venv_is_rebuilt_and_a_failed_check_repaired(tmp_path: Path) -> None:
    half = tmp_path / "oslo.config-9.6.0"
    (half / "bin").mkdir(parents=True)  # a build killed before its marker was written
    checks: list[Path] = []

    def check(release: Release) -> list[str]:
        checks.append(release.python)
        return ["import OpenSSL failed"] if len(checks) == 1 else []

    release = ensure_release(*SMALL, cache_dir=tmp_path, check=check)
    assert release.python.exists() and len(checks) == 1
    marker = json.loads((half / MARKER).read_text())
    assert marker["repaired_with"] == ["pyOpenSSL>=24"]
    assert list(half.glob("lib/python3*/site-packages/OpenSSL"))


@pytest.mark.integration
def test_unknown_release_and_package_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"PyPI has no release 99\.0\.0 of nova \(latest: .*34\.0\.0"
    ):
        ensure_release("nova", "99.0.0", cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="PyPI has no package 'no-such-openstack-thing'"):
        ensure_release("no-such-openstack-thing", "1.0.0", cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.integration
def test_series_names_map_to_the_latest_release_of_that_major() -> None:
    assert resolve_version("nova", "33.0.0") == "33.0.0"
    flamingo = resolve_version("nova", "2025.2")
    assert (
        re.fullmatch(r"32\.\d+\.\d+", flamingo) and resolve_version("nova", "flamingo") == flamingo
    )
    assert resolve_version("keystone", "2025.2").startswith("28.")
    with pytest.raises(ConfigError, match=r"unknown release series '2019\.1'"):
        resolve_version("nova", "2019.1")


def test_installed_release_needs_the_package(tmp_path: Path) -> None:
    # stacktender's own python has no nova, by design
    with pytest.raises(ConfigError, match="nova is not installed for"):
        installed_release("nova", sys.executable)
    with pytest.raises(ConfigError, match="no python at"):
        installed_release("nova", tmp_path / "nowhere" / "python")
    with pytest.raises(ConfigError, match=r"no installed nova found .*--from VERSION"):
        find_installed("nova", [Path(sys.executable), tmp_path])
    assert installed_release("click", sys.executable).version


def test_a_failing_helper_is_a_release_error() -> None:
    own = installed_release("click", sys.executable)
    with pytest.raises(
        ReleaseError, match=r"dump_opts\.py failed in click .*nova is not installed"
    ):
        run_helper(own, "dump_opts.py", "nova")
    with pytest.raises(ReleaseError, match="no helper script"):
        run_helper(own, "nope.py")


@pytest.mark.integration
def test_a_venv_built_without_a_check_is_checked_once_later(tmp_path: Path) -> None:
    release = ensure_release(*SMALL, cache_dir=tmp_path)  # as rehearse or db-status build it
    marker = tmp_path / "oslo.config-9.6.0" / MARKER
    assert json.loads(marker.read_text())["checked"] is False
    calls: list[Path] = []

    def check(release: Release) -> list[str]:
        calls.append(release.python)
        return ["broken"] if len(calls) == 1 else []

    assert ensure_release(*SMALL, cache_dir=tmp_path, check=check) == release
    info = json.loads(marker.read_text())
    assert (info["checked"], info["repaired_with"], len(calls)) == (True, ["pyOpenSSL>=24"], 1)
    ensure_release(*SMALL, cache_dir=tmp_path, check=check)
    assert len(calls) == 1


def test_a_fresh_venv_is_probed_and_repaired_without_a_check_of_its_callers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as the real probe meets an old pyOpenSSL under a new cryptography: here the module
    # is missing outright (oslo.config does not pull it in), which the repair installs
    monkeypatch.setattr(releases, "RUNTIME_PROBE", "import OpenSSL")
    release = ensure_release(*SMALL, cache_dir=tmp_path)  # no check: as db-status builds it
    marker = json.loads((tmp_path / "oslo.config-9.6.0" / MARKER).read_text())
    assert marker["repaired_with"] == ["pyOpenSSL>=24"] and marker["checked"] is False
    assert runtime_problems(release) == []


def test_the_runtime_probe_names_what_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(releases, "RUNTIME_PROBE", "import OpenSSL.no_such_module")
    here = Release("nova", "34.0.0", Path(sys.executable), cached=False)
    (problem,) = runtime_problems(here)
    assert problem.startswith("nova 34.0.0: the runtime probe failed: ModuleNotFoundError")


def test_a_venv_of_an_older_stacktender_is_probed_once_on_its_next_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = ensure_release(*SMALL, cache_dir=tmp_path)
    marker = tmp_path / "oslo.config-9.6.0" / MARKER
    info = json.loads(marker.read_text())
    del info["probed"]  # built before the probe existed, as a CI run had left keystone's
    marker.write_text(json.dumps(info))
    monkeypatch.setattr(releases, "RUNTIME_PROBE", "import OpenSSL")
    assert runtime_problems(release)  # broken as it stands
    assert ensure_release(*SMALL, cache_dir=tmp_path) == release  # no check of its own
    info = json.loads(marker.read_text())
    assert (info["probed"], info["checked"], info["repaired_with"]) == (
        True, False, ["pyOpenSSL>=24"],
    )  # fmt: skip
    assert runtime_problems(release) == []
