"""stacktender.testcloud.config: settings, config rendering, WSGI entry files (no services)."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
from testcloud_support import fake_venv

from stacktender.testcloud.config import (
    Settings,
    config_path,
    render_configs,
    render_ini,
    wsgi_entry,
)
from stacktender.testcloud.errors import TestCloudError


def test_settings_round_trip_and_passwords(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, compute_hosts=3, port_base=26000)
    settings.ensure_passwords()
    settings.save()
    loaded = Settings.load(tmp_path)
    assert loaded == settings
    assert (tmp_path / "testcloud.json").stat().st_mode & 0o777 == 0o600
    assert Settings.load(tmp_path / "nothing") is None


def test_database_urls_and_names(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, name="tc2")
    nova = ["tc2_nova_api", "tc2_nova_cell0", "tc2_nova_cell1"]
    assert settings.database_names()["nova"] == nova
    assert settings.database_url("tc2_nova_cell1") == (
        "mysql+pymysql://root@127.0.0.1:3306/tc2_nova_cell1?charset=utf8"
    )
    assert list(settings.servers()) == [settings.db_url]
    settings.db_url = "postgresql://postgres@127.0.0.1:5432"
    assert settings.database_url("tc2_glance") == (
        "postgresql+psycopg2://postgres@127.0.0.1:5432/tc2_glance"
    )
    # neutron's migrations are MySQL-only: its database stays on MariaDB
    assert settings.database_url("tc2_neutron").startswith("mysql+pymysql://root@127.0.0.1:3306/")
    assert settings.servers()[settings.mysql_url] == ["tc2_neutron"]
    assert settings.transport_url.endswith("@127.0.0.1:5672/tc2")


def test_ports_follow_the_port_base(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, port_base=31000)
    assert settings.keystone_url == "http://127.0.0.1:31000/v3"
    assert settings.url("nova-api") == "http://127.0.0.1:31004"
    with pytest.raises(TestCloudError, match="no testcloud service 'nova-network'"):
        settings.service("nova-network")


def test_render_ini_formats_every_value() -> None:
    text = render_ini({"DEFAULT": {"log_file": "{logs}/x.log"}}, {"logs": "/l", "service": "x"})
    parser = configparser.ConfigParser()
    parser.read_string(text)
    assert parser.get("DEFAULT", "log_file") == "/l/x.log"


def test_render_configs_writes_one_complete_file_per_process(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, compute_hosts=12)
    settings.ensure_passwords()
    fake_venv(settings)
    render_configs(settings)
    for spec in settings.services():
        path = config_path(settings, spec.name, spec.project)
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(path)
        assert parser.get("DEFAULT", "log_file") == str(settings.logs / f"{spec.name}.log")
        assert parser.get("oslo_messaging_notifications", "driver") == "messagingv2"
        assert "{" not in path.read_text(), f"unformatted template in {path}"
    nova = configparser.ConfigParser(interpolation=None)
    nova.read(settings.etc / "nova" / "nova-compute-2.conf")
    assert nova.get("DEFAULT", "host") == "tc-compute-11"
    assert nova.get("testcloud", "hosts") == "tc-compute-11,tc-compute-12"
    assert nova.get("notifications", "notification_format") == "both"
    glance = (settings.etc / "glance" / "glance-api.conf").read_text()
    assert "use_json = true" in glance
    agents = configparser.ConfigParser(interpolation=None)
    agents.read(settings.etc / "neutron" / "neutron-agents.conf")
    assert agents.get("testcloud", "hosts").split(",")[-1] == "tc-compute-12"
    assert (settings.etc / "nova" / "nova-manage.conf").exists()


def test_wsgi_entry_hides_gunicorns_argv_and_sets_the_config(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    spec = settings.service("nova-api")
    text = wsgi_entry(spec, settings.context(spec.name))
    assert "sys.argv = ['nova-api']" in text
    assert "'OS_NOVA_CONFIG_FILES': 'api-paste.ini;nova-api.conf'" in text
    assert "from nova.wsgi.osapi_compute import application" in text
    cinder = settings.service("cinder-api")
    text = wsgi_entry(cinder, settings.context(cinder.name))
    assert f"'--config-file', '{settings.etc}/cinder/cinder-api.conf'" in text
    compile(text, "entry", "exec")


def test_processes_start_from_runtime_copies_in_the_state_dir(tmp_path: Path) -> None:
    # a command line naming this checkout would restart the cloud's processes whenever
    # another checkout of stacktender (CI, a second clone) brings it up
    from stacktender.testcloud.config import RUNTIME_DIR
    from stacktender.testcloud.supervisor import Supervisor

    settings = Settings(state_dir=tmp_path)
    settings.ensure_passwords()
    fake_venv(settings)
    render_configs(settings)
    copies = sorted(p.name for p in settings.runtime.glob("*.py"))
    assert copies == sorted(p.name for p in RUNTIME_DIR.glob("*.py"))
    supervisor = Supervisor(settings)
    compute = next(s for s in settings.services() if s.name.startswith("nova-compute"))
    argv = supervisor.argv(compute)
    assert str(settings.runtime / "nova_compute.py") in argv
    assert not any(str(RUNTIME_DIR) in arg for arg in argv)
    before = supervisor.fingerprint(compute)
    (settings.runtime / "nova_compute.py").write_text("# changed helper\n")
    assert supervisor.fingerprint(compute) != before  # a changed helper restarts it
