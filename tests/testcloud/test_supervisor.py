"""Process commands, fingerprints and failure reasons (no services needed)."""

from __future__ import annotations

from pathlib import Path

from testcloud_support import fake_venv

from stacktender.testcloud.config import Settings, render_configs
from stacktender.testcloud.supervisor import Supervisor, _host_range, last_error


def test_apis_run_under_gunicorn_on_loopback(tmp_path: Path) -> None:
    supervisor = Supervisor(Settings(state_dir=tmp_path, port_base=26000))
    argv = supervisor.argv(supervisor.settings.service("nova-api"))
    assert argv[0].endswith("venv/bin/gunicorn")
    assert argv[argv.index("--bind") + 1] == "127.0.0.1:26004"
    assert argv[-1] == "tc_nova_api:application"
    compute = supervisor.argv(supervisor.settings.service("nova-compute"))
    assert compute[1].endswith("runtime/nova_compute.py")


def test_fingerprint_changes_with_the_config(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    settings.ensure_passwords()
    fake_venv(settings)
    render_configs(settings)
    supervisor = Supervisor(settings)
    spec = settings.service("nova-compute")
    before = supervisor.fingerprint(spec)
    assert supervisor.fingerprint(spec) == before
    settings.debug = True
    render_configs(settings)
    assert supervisor.fingerprint(spec) != before
    assert not supervisor.is_current(spec)


def test_last_error_reads_only_the_latest_run(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text(
        "--- starting: old\nOSError: old failure\n--- starting: new\n"
        "INFO fine\nImportError: No module named 'x'\nDeprecationWarning: noise\n"
    )
    assert last_error(log) == "ImportError: No module named 'x'"
    log.write_text("--- starting: old\nOSError: old failure\n--- starting: new\nINFO fine\n")
    assert last_error(log) == ""
    assert last_error(tmp_path / "missing.log") == ""


def test_host_ranges() -> None:
    assert _host_range([]) == ""
    assert _host_range(["tc-compute-1", "tc-compute-2"]) == "tc-compute-1,tc-compute-2"
    hosts = [f"tc-compute-{i}" for i in range(11, 21)]
    assert _host_range(hosts) == "tc-compute-11..20"
